//! The `scale` binary: everything is in [`scale::cli`].

fn main() -> std::process::ExitCode {
    scale::cli::main()
}

//! Links the dev-profile `scale` binary as a position-dependent executable on Linux. The
//! position-independent debug build carries about 300,000 relative relocations that the loader
//! applies, page by page, at every start: about 5 ms of page faults on 2 cores, which dominated a
//! short `scale sample` run (docs/benchmarks.md). Only linking changes (objects stay
//! position-independent, so nothing is rebuilt), and release builds, such as the container
//! image, keep PIE and with it address-space randomisation of the binary.
fn main() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" && var("PROFILE") == "debug" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

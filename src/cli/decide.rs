//! `scale decide` (docs/decide.md).

use crate::{Error, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Input JSON file, or - for stdin (docs/decide.md).
    #[arg(long)]
    input: String,
}

pub fn run(a: Args) -> Result<()> {
    let text = if a.input == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::io("-", e))?;
        s
    } else {
        std::fs::read_to_string(&a.input).map_err(|e| Error::io(&a.input, e))?
    };
    let source = if a.input == "-" { "stdin" } else { a.input.as_str() };
    for line in crate::reactive::replay::run(source, &text)? {
        println!("{line}");
    }
    Ok(())
}

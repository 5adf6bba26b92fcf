//! `scale rules check` (docs/rules.md).

use crate::Result;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Validate a rule file or directory and print the parsed rules; exit 1 on the first error.
    Check { path: PathBuf },
}

pub fn run(c: Command) -> Result<()> {
    let Command::Check { path } = c;
    let set = crate::reactive::rules::reload::load_set(&path)?;
    for r in &set.rules {
        println!("{r}");
    }
    println!("ok: {} rules in {} files", set.rules.len(), set.files.len());
    Ok(())
}

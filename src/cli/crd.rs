//! `scale crd` (docs/crd.md).

use crate::Result;

pub fn run() -> Result<()> {
    print!("{}", crate::serve::forecastscaler::crd::crd_yaml()?);
    Ok(())
}

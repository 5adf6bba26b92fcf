//! The `scale` command line.

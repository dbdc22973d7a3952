//! The parts of the project automation that other crates reuse.
//!
//! The `xtask` binary (`cargo xtask <command>`) is built on these modules, and so are the
//! device tests in `finn-tests`, which run the firmware under QEMU through [`qemu`].

pub mod qemu;
pub mod setup;

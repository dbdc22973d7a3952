//! Project automation as plain Rust (`cargo xtask <command>`).
//!
//! Each command lives in its own module; this file only parses the command line.

mod setup;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "finn project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every test, host and device alike (installs missing tools first).
    Test,
    /// Install the thumbv7em target and QEMU when they are missing.
    Setup,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Test => test::run(),
        Command::Setup => setup::ensure_all(),
    }
}

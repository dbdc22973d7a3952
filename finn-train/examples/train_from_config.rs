//! A project's own training command: `cargo run -p finn-train --example train_from_config -- CONFIG.toml`.
//! The same code is in the crate docs.

use finn_train::config::Job;
use finn_train::observer::Observer;
use finn_train::solve::{Report, Step};

/// Prints a line every 50 iterations.
struct Log;
impl Observer for Log {
    fn iteration(&mut self, step: &Step) {
        if step.iteration % 50 == 0 {
            eprintln!("iteration {}: loss {:.3e}", step.iteration, step.loss);
        }
    }
    fn finish(&mut self, label: &str, report: &Report) {
        eprintln!(
            "{label}: {} iterations, {}",
            report.iterations, report.termination
        );
    }
}

fn main() -> Result<(), finn_train::TrainError> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("configs/figure1-eps2.toml".into());
    let artefacts = Job::from_toml_file(&path)?.run(&mut Log)?;
    println!("{}", artefacts.summary);
    for file in &artefacts.files {
        println!("wrote {}", file.display());
    }
    // A constraint the certificate did not prove is an error (after the report is written).
    artefacts.ensure_proven()
}

//! `cargo xtask train CONFIG.toml`: trains what a config describes (any application) through
//! `finn_train::config::Job`, with a progress bar. Every config key: `docs/config.md`.

use anyhow::Result;
use finn_train::config::Job;
use finn_train::observer::Observer;
use finn_train::solve::{Report, Step};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::Path;

/// An indicatif bar per solve (hidden when stderr is not a terminal).
pub struct Bar {
    prefix: String,
    bars: Option<MultiProgress>,
    bar: ProgressBar,
}

impl Bar {
    /// Bars labelled `prefix`, drawn on their own, or in `bars` beside others.
    pub fn new(prefix: &str, bars: Option<MultiProgress>) -> Self {
        Bar {
            prefix: prefix.to_string(),
            bars,
            bar: ProgressBar::hidden(),
        }
    }
}

impl Observer for Bar {
    fn start(&mut self, label: &str, max_iters: u64) {
        let bar = ProgressBar::new(max_iters);
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        let prefix = if self.prefix.is_empty() {
            label.to_string()
        } else {
            format!("{} ({label})", self.prefix)
        };
        bar.set_prefix(prefix);
        self.bar = match &self.bars {
            Some(m) => m.add(bar),
            None => bar,
        };
    }

    fn iteration(&mut self, step: &Step) {
        self.bar.set_position(step.iteration + 1);
        self.bar.set_message(format!(
            "loss {:.4e}  |grad| {:.3e}",
            step.loss, step.grad_norm
        ));
    }

    fn finish(&mut self, _label: &str, report: &Report) {
        self.bar.finish_with_message(format!(
            "loss {:.4e} after {} iterations ({})",
            report.loss, report.iterations, report.termination
        ));
    }
}

/// `cargo xtask train CONFIG.toml`.
pub fn command(config: &Path) -> Result<()> {
    let job = Job::from_toml_file(config)?;
    let artefacts = job.run(&mut Bar::new("", None))?;
    println!("{}", artefacts.summary);
    for file in &artefacts.files {
        println!("wrote {}", file.display());
    }
    // Everything is written first: the report says where a constraint fails.
    artefacts.ensure_proven()?;
    Ok(())
}

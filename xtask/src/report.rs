//! Publishing a report that `finn_lab` measured: print it, and write it under the workspace
//! root.

use anyhow::Result;
use std::fmt::Write as _;

/// Prints `report` and writes it to `relative` (to the workspace root, e.g.
/// `results/device.md`).
pub fn publish(relative: &str, report: &str) -> Result<()> {
    print!("{report}");
    let path = finn_lab::write_result(relative, report)?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// An error and its causes on one line each, skipping a cause whose text the message before
/// it already contains (libraries often include their source in their own message).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    let mut last = out.clone();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !last.contains(&text) {
            let _ = write!(out, "\n  caused by: {text}");
        }
        last = text;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the scale is not > 0")
        }
    }
    impl std::error::Error for Inner {}

    #[derive(Debug)]
    struct Outer(Inner);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "model format: {}", self.0)
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let e = anyhow::Error::new(Outer(Inner));
        assert_eq!(error_chain(&e), "model format: the scale is not > 0");
        let e = e.context("reading results/x.json");
        assert_eq!(
            error_chain(&e),
            "reading results/x.json\n  caused by: model format: the scale is not > 0"
        );
    }
}

//! The workload the firmware runs and measures: `libm::erff` on a fixed grid of inputs.
//!
//! A workload has a [`NAME`], runs [`CALLS_PER_RUN`] calls per [`Workload::run`] (the measured
//! part, which must not print) and reports its results with [`Workload::report`]. Each result is
//! one line `erff <input bits> <output bits>`, both as `0x`-prefixed 8-digit hex, so the host can
//! compare the bit patterns with its own `libm::erff`.

use crate::host::Out;
use core::hint::black_box;

/// The name reported in the `workload` line.
pub const NAME: &str = "erff";

/// How many `erff` evaluations one [`Workload::run`] makes.
pub const CALLS_PER_RUN: usize = 64;

/// The grid's lower end; the inputs step evenly from here to [`HIGH`].
const LOW: f32 = -4.0;
/// The grid's upper end.
const HIGH: f32 = 4.0;

/// `erff` at [`CALLS_PER_RUN`] inputs evenly spaced over `[-4, 4]`.
pub struct Workload {
    inputs: [f32; CALLS_PER_RUN],
    outputs: [f32; CALLS_PER_RUN],
}

impl Workload {
    /// The fixed input grid, with no outputs yet.
    pub fn new() -> Self {
        let step = (HIGH - LOW) / (CALLS_PER_RUN - 1) as f32;
        let mut inputs = [0.0; CALLS_PER_RUN];
        for (i, x) in inputs.iter_mut().enumerate() {
            *x = LOW + step * i as f32;
        }
        Workload {
            inputs,
            outputs: [0.0; CALLS_PER_RUN],
        }
    }

    /// Evaluates `erff` at every input. `black_box` keeps the optimiser from reusing one run's
    /// results in the next, so every run does the full work.
    #[inline(never)]
    pub fn run(&mut self) {
        let inputs = black_box(&self.inputs);
        for (y, &x) in self.outputs.iter_mut().zip(inputs) {
            *y = libm::erff(x);
        }
        black_box(&mut self.outputs);
    }

    /// One `erff <input bits> <output bits>` line per input.
    pub fn report(&self, out: &mut Out) {
        for (x, y) in self.inputs.iter().zip(&self.outputs) {
            out.line(format_args!(
                "erff {:#010x} {:#010x}",
                x.to_bits(),
                y.to_bits()
            ));
        }
    }
}

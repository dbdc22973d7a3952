//! The workload of the `baseline` feature: the same interface, output shape and measurement
//! as the trajectory workload (`trajectory.rs`; every workload takes the module name
//! `workload`), without finn-core or finn-embedded. The difference in `.text` between the
//! normal build and this one is the code the player adds.

use crate::host::Out;
use core::convert::Infallible;
use core::fmt::Write;
use core::hint::black_box;

/// The name reported in the `workload` line.
pub const NAME: &str = "baseline";

/// How many stand-in samples one [`Workload::run`] makes.
pub const CALLS_PER_RUN: usize = 64;

/// No player: nothing to load.
pub struct Workload {
    words: [u32; 4],
}

impl Workload {
    /// Nothing to load; never fails.
    pub fn load() -> Result<Self, Infallible> {
        Ok(Workload {
            words: black_box([1, 2, 3, 4]),
        })
    }

    /// A stand-in loop of the same shape as the playback loop.
    #[inline(never)]
    pub fn run(&self) {
        for k in 0..CALLS_PER_RUN {
            black_box(black_box(k) as u32 ^ self.words[k % 4]);
        }
    }

    /// Lines of the same form as the playback's, from stand-in words.
    pub fn report(&self, out: &mut Out) {
        out.line(format_args!("blob_bytes 0"));
        for k in 0..CALLS_PER_RUN {
            out.emit(|line| {
                write!(line, "sample {k}")?;
                for v in &self.words {
                    write!(line, " {:#010x}", black_box(*v))?;
                }
                Ok(())
            });
        }
        if black_box(false) {
            out.line(format_args!("sample_error 0 0x00000000 {}", black_box("")));
        }
    }
}

//! The end-state check of a written trajectory blob: decoded and played back by finn-core's
//! `Trajectory` (the code a device runs) in f64 and in f32, and compared with the stored start
//! and end states.

use crate::TrainError;
use finn_core::format::{decode_trajectory, FormatError, TrajectoryView, MAX_VIA};
use finn_core::trajectory::Trajectory;
use finn_core::Real;

/// Widest layer the host check plays back; wider networks are not checked (`None`).
const CHECK_WIDTH: usize = 64;
/// Deepest network the host check plays back.
const CHECK_LAYERS: usize = 3;

/// The largest |x_i(t0) - x0_i| or |x_i(T) - xT_i| of a blob played back, per scalar type.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EndpointErrors {
    /// In f64.
    pub f64: f64,
    /// In f32 (what a Cortex-M4F computes).
    pub f32: f64,
}

/// Decodes a trajectory blob, plays its ends back in f64 and f32 and returns the end-state
/// errors (0 when exact, as the fixed-integral form promises).
///
/// Errors: `Data` when the blob does not decode or play, or its networks are wider than 64
/// units or deeper than 3 layers (the host check's capacity).
///
/// ```
/// let blob = finn_train::trajectory::blob::reference_blob().unwrap();
/// let e = finn_train::trajectory::endpoint_errors(&blob).unwrap();
/// assert_eq!((e.f64, e.f32), (0.0, 0.0));
/// ```
pub fn endpoint_errors(blob: &[u8]) -> Result<EndpointErrors, TrainError> {
    let view = decode_trajectory(blob).map_err(format_error)?;
    let errors = match view.coordinates() {
        1 => both::<1>(&view),
        2 => both::<2>(&view),
        3 => both::<3>(&view),
        4 => both::<4>(&view),
        5 => both::<5>(&view),
        6 => both::<6>(&view),
        d => Err(TrainError::Data(format!("{d} coordinates"))),
    }?;
    Ok(errors)
}

fn format_error(e: FormatError) -> TrainError {
    TrainError::Data(format!("trajectory blob: {e}"))
}

fn both<const D: usize>(view: &TrajectoryView<'_>) -> Result<EndpointErrors, TrainError> {
    Ok(EndpointErrors {
        f64: error_in::<f64, D>(view)?,
        f32: error_in::<f32, D>(view)?,
    })
}

fn error_in<T: Real, const D: usize>(view: &TrajectoryView<'_>) -> Result<f64, TrainError> {
    // On the heap: a 64-wide, 3-deep, 6-coordinate trajectory is about 600 KB in f64.
    let mut trajectory: Box<Trajectory<T, D, CHECK_WIDTH, CHECK_LAYERS, MAX_VIA>> =
        Box::new(Trajectory::unloaded());
    view.load_trajectory_into(&mut *trajectory)
        .map_err(format_error)?;
    let (t0, t1) = trajectory.interval();
    let (x0, x1) = trajectory.endpoints();
    let (x0, x1) = (*x0, *x1);
    let first = trajectory.sample(t0)?;
    let last = trajectory.sample(t1)?;
    let mut worst = 0.0f64;
    for i in 0..D {
        worst = worst
            .max((first.position[i] - x0[i]).abs().to_f64())
            .max((last.position[i] - x1[i]).abs().to_f64());
    }
    Ok(worst)
}

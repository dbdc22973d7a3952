//! The soft-Q model as a blob (payload 5 of [`finn_core::format`]): what the `softq` run
//! writes beside its JSON (`<output>.postcard`, f64) and what the firmware flashes
//! (`firmware/blobs/softq-pendulum.postcard`, f32, from the shipped `results/softq/pendulum.json`
//! by [`device_blob`]).

use super::model::Shape;
use super::run::{SoftQFile, JSON_FORMAT};
use crate::TrainError;
use finn_core::format::{decode_softq, encode_softq, softq_encoded_len, Scalar, SoftQHeader};
use std::path::Path;

fn data(e: impl std::fmt::Display) -> TrainError {
    TrainError::Data(format!("soft-Q blob: {e}"))
}

/// The blob of a model of `shape` with `params`, its parameters stored as `scalar`.
///
/// Errors: `Data` for what the format refuses (a shape it cannot hold, a parameter that
/// overflows `f32`).
///
/// ```
/// use finn_train::softq::{blob::{from_blob, to_blob}, model::{initial_parameters, Shape}};
/// use finn_core::format::Scalar;
/// let shape = Shape::pendulum(&[4], 2, 2.0, 10.0);
/// let params = initial_parameters(&shape, 1);
/// let bytes = to_blob(&shape, &params, Scalar::F64).unwrap();
/// assert_eq!(from_blob(&bytes).unwrap(), (shape, params));
/// ```
pub fn to_blob(shape: &Shape, params: &[f64], scalar: Scalar) -> Result<Vec<u8>, TrainError> {
    let header = SoftQHeader {
        state_features: shape.state_dim,
        state_widths: &shape.state_widths,
        action_widths: &shape.action_widths,
        action_lower: &shape.action_lower,
        action_upper: &shape.action_upper,
        beta: shape.beta,
        log_scale: shape.log_scale,
    };
    let mut out = vec![0u8; softq_encoded_len(&header, scalar).map_err(data)?];
    let len = encode_softq(&header, params, scalar, &mut out).map_err(data)?;
    out.truncate(len);
    Ok(out)
}

/// Reads a soft-Q blob back: its shape and its parameters (widened to `f64`), after every
/// check of [`decode_softq`].
///
/// Errors: `Data` naming the format's refusal.
pub fn from_blob(bytes: &[u8]) -> Result<(Shape, Vec<f64>), TrainError> {
    let view = decode_softq(bytes).map_err(data)?;
    let (lower, upper) = view.actions();
    let shape = Shape {
        state_dim: view.state_features(),
        state_widths: view.state_widths().to_vec(),
        action_widths: view.action_widths().to_vec(),
        action_lower: lower.to_vec(),
        action_upper: upper.to_vec(),
        beta: view.beta(),
        log_scale: view.log_scale(),
    };
    Ok((shape, view.parameters().collect()))
}

/// Reads a model JSON that the `softq` run wrote (`"format": "finn-softq"`).
///
/// Errors: `Io`, or `Data` for JSON that is not a soft-Q model file.
pub fn read_json(path: &Path) -> Result<SoftQFile, TrainError> {
    let text = std::fs::read_to_string(path)?;
    let file: SoftQFile = serde_json::from_str(&text)
        .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
    if file.format != JSON_FORMAT {
        return Err(TrainError::Data(format!(
            "{}: format {:?}, expected {JSON_FORMAT:?}",
            path.display(),
            file.format
        )));
    }
    Ok(file)
}

/// The firmware's blob: the model of the JSON at `json` with its parameters as `f32`
/// (`firmware/blobs/softq-pendulum.postcard` is this of `results/softq/pendulum.json`).
///
/// Errors: those of [`read_json`] and [`to_blob`].
pub fn device_blob(json: &Path) -> Result<Vec<u8>, TrainError> {
    let file = read_json(json)?;
    to_blob(&file.shape, &file.params, Scalar::F32)
}

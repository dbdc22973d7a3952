//! The JSON form of a trajectory (`<stem>.json`): everything its blob holds, in readable form
//! (the parameters as stored: f32 values for an f32 blob), and the certificate's verdicts.
//! [`to_blob`] turns it back into the identical blob, through every check of the blob writer.
//!
//! ```
//! use finn_train::trajectory::{blob::reference_blob, json};
//! let blob = reference_blob().unwrap();
//! let text = json::from_blob(&blob, None).unwrap();
//! assert!(text.contains("\"format\": \"finn-trajectory\""));
//! assert_eq!(json::to_blob(&text).unwrap(), blob);
//! ```

use super::blob::trajectory_blob;
use super::certify::{Certificate, Status};
use crate::model::Architecture;
use crate::TrainError;
use finn_core::format::{decode_trajectory, Scalar};
use finn_core::trajectory::OutsidePolicy;
use finn_core::{Activation, Kind};
use serde::{Deserialize, Serialize};

/// The value of `format`.
const FORMAT: &str = "finn-trajectory";

/// A trajectory file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryFile {
    /// Always `"finn-trajectory"`.
    pub format: String,
    /// The blob's parameter type: `"f32"` or `"f64"`.
    pub scalar: String,
    /// Every coordinate's activation.
    pub activation: Activation,
    /// Every coordinate's hidden widths.
    pub widths: Vec<usize>,
    /// [t0, T].
    pub interval: [f64; 2],
    /// x(t0).
    pub start: Vec<f64>,
    /// x(T).
    pub end: Vec<f64>,
    /// Via-points.
    pub via: Vec<ViaPoint>,
    /// Outside [t0, T]: `"hold"` or `"reject"`.
    pub outside: String,
    /// One parameter vector per coordinate (finn-core's flat layout), as stored.
    pub parameters: Vec<Vec<f64>>,
    /// The certificate of the constraints it was trained under (informative; not read back).
    #[serde(default)]
    pub certificate: Vec<VerdictRecord>,
}

/// A via-point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViaPoint {
    /// The time.
    pub time: f64,
    /// x(time).
    pub position: Vec<f64>,
}

/// One constraint's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictRecord {
    /// The constraint in words.
    pub constraint: String,
    /// `"proven"`, `"violated"` or `"not proven"`.
    pub status: String,
    /// Proved lower bound of the minimum slack.
    pub lower: f64,
    /// Smallest slack evaluated, and where.
    pub worst: f64,
    /// Time of `worst`.
    pub at: f64,
}

fn data(message: impl std::fmt::Display) -> TrainError {
    TrainError::Data(format!("trajectory JSON: {message}"))
}

/// The JSON text of a trajectory blob (pretty-printed), with the certificate when given.
///
/// Errors: `Data` when the blob does not decode.
pub fn from_blob(blob: &[u8], certificate: Option<&Certificate>) -> Result<String, TrainError> {
    let view = decode_trajectory(blob).map_err(data)?;
    let d = view.coordinates();
    let file = TrajectoryFile {
        format: FORMAT.into(),
        scalar: match view.scalar() {
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
        }
        .into(),
        activation: view.activation(),
        widths: view.widths().to_vec(),
        interval: [view.interval().0, view.interval().1],
        start: view.start().to_vec(),
        end: view.end().to_vec(),
        via: (0..view.via_times().len())
            .filter_map(|k| view.via_point(k))
            .map(|(time, p)| ViaPoint {
                time,
                position: p.to_vec(),
            })
            .collect(),
        outside: match view.policy() {
            OutsidePolicy::Hold => "hold",
            OutsidePolicy::Reject => "reject",
        }
        .into(),
        parameters: (0..d)
            .map(|i| {
                view.coordinate_parameters(i)
                    .map(|p| p.collect())
                    .unwrap_or_default()
            })
            .collect(),
        certificate: certificate
            .map(|c| {
                c.verdicts
                    .iter()
                    .map(|v| VerdictRecord {
                        constraint: v.constraint.clone(),
                        status: match v.status {
                            Status::Proven => "proven",
                            Status::Violated => "violated",
                            Status::Undecided => "not proven",
                        }
                        .into(),
                        lower: v.lower,
                        worst: v.worst,
                        at: v.at,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    serde_json::to_string_pretty(&file).map_err(data)
}

/// The blob a trajectory JSON text describes (byte for byte the blob it was written from).
///
/// Errors: `Data` naming the field when the text is not a trajectory file, or every check of
/// [`trajectory_blob`] (shapes, finiteness, interval, via-points, f32 range).
pub fn to_blob(text: &str) -> Result<Vec<u8>, TrainError> {
    let file: TrajectoryFile = serde_json::from_str(text).map_err(data)?;
    if file.format != FORMAT {
        return Err(data(format!("format is {:?}, not {FORMAT:?}", file.format)));
    }
    let scalar = match file.scalar.as_str() {
        "f32" => Scalar::F32,
        "f64" => Scalar::F64,
        other => return Err(data(format!("scalar {other:?}: \"f32\" or \"f64\""))),
    };
    let policy = match file.outside.as_str() {
        "hold" => OutsidePolicy::Hold,
        "reject" => OutsidePolicy::Reject,
        other => return Err(data(format!("outside {other:?}: \"hold\" or \"reject\""))),
    };
    let arch = Architecture {
        n: 1,
        kind: Kind::Signed,
        activation: file.activation,
        widths: file.widths,
    };
    let via: Vec<(f64, Vec<f64>)> = file.via.into_iter().map(|v| (v.time, v.position)).collect();
    trajectory_blob(
        &arch,
        &file.parameters,
        (file.interval[0], file.interval[1]),
        &file.start,
        &file.end,
        &via,
        policy,
        scalar,
    )
    .map_err(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trajectory::blob::reference_blob;

    #[test]
    fn bad_files_name_the_problem() {
        let blob = reference_blob().unwrap();
        let text = from_blob(&blob, None).unwrap();
        for (from, to, needle) in [
            ("\"f32\"", "\"f16\"", "scalar"),
            ("\"hold\"", "\"loop\"", "outside"),
            ("finn-trajectory", "finn-model", "format"),
            (
                "\"interval\": [\n    0.0",
                "\"interval\": [\n    9.0",
                "lower >= upper",
            ),
        ] {
            let bad = text.replacen(from, to, 1);
            assert_ne!(bad, text, "{from}");
            let err = to_blob(&bad).unwrap_err().to_string();
            assert!(err.to_lowercase().contains(needle), "{needle}: {err}");
        }
        assert!(to_blob("{").is_err());
        assert!(to_blob("{\"format\": \"finn-trajectory\"}").is_err());
    }
}

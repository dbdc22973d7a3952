//! Trajectory blobs on the host: the `Trajectory` payload of [`finn_core::format`], which
//! `finn-embedded`'s `TrajectoryPlayer` plays back on a device.
//!
//! [`trajectory_blob`] writes one from an architecture, one parameter vector per coordinate,
//! the interval, the end states, the via-points and the outside-interval policy;
//! [`problem_blob`] writes one for a trained [`TrajectoryProblem`]. [`reference_blob`] is the
//! fixed 3-D trajectory the firmware embeds by default (`firmware/blobs/default.postcard`).
//!
//! ```
//! use finn_core::format::{decode_trajectory, Scalar};
//! use finn_core::trajectory::OutsidePolicy;
//! use finn_core::{Activation, Kind};
//! use finn_train::model::Architecture;
//! use finn_train::trajectory::blob::trajectory_blob;
//! let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![2] };
//! let params = vec![vec![0.5, -1.0, 0.1, 0.2, 1.0, 0.3]; 2];
//! let blob = trajectory_blob(
//!     &arch, &params, (0.0, 1.0), &[0.0, 0.0], &[1.0, 2.0], &[(0.5, vec![0.3, 0.4])],
//!     OutsidePolicy::Hold, Scalar::F64,
//! ).unwrap();
//! let view = decode_trajectory(&blob).unwrap();
//! assert_eq!(view.coordinates(), 2);
//! assert_eq!(view.via_point(0), Some((0.5, &[0.3, 0.4][..])));
//! ```

use finn_core::format::{
    encode_trajectory, trajectory_encoded_len, Field, FormatError, Scalar, TrajectoryHeader,
};
use finn_core::trajectory::OutsidePolicy;
use finn_core::{Activation, Kind};

use super::{Endpoints, TrajectoryProblem};
use crate::model::Architecture;

/// Why a trajectory blob could not be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrajectoryFileError {
    /// The trajectory is not valid (the checks of `finn_core::format::validate_trajectory`).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The problem's parameters belong to the soft-penalty baseline, whose position is
    /// x0 + F(t) - F(t0): they do not describe a fixed-integral trajectory.
    #[error("the problem uses penalty endpoints; only an `Endpoints::Exact` solution is a trajectory blob")]
    PenaltyEndpoints,
}

/// The blob of a trajectory: D coordinate networks sharing `arch` (which must be signed with
/// n = 1), `params_per_coord[i]` being coordinate i's parameters in finn-core's flat layout.
///
/// `via` lists (time, position) pairs, times increasing strictly inside `interval`. With
/// `Scalar::F32` the parameters are rounded to `f32`; times, states and via-points stay `f64`.
///
/// Errors: `BadCoordinateNetwork` (kind or n), `ShapeMismatch` with `Field::Coordinates` (not
/// one parameter vector per coordinate), `Field::Parameters` (a vector of the wrong length) or
/// `Field::ViaPoints` (a via position of the wrong length); then every check of
/// `finn_core::format::encode_trajectory`.
#[allow(clippy::too_many_arguments)]
pub fn trajectory_blob(
    arch: &Architecture,
    params_per_coord: &[Vec<f64>],
    interval: (f64, f64),
    x0: &[f64],
    x1: &[f64],
    via: &[(f64, Vec<f64>)],
    policy: OutsidePolicy,
    scalar: Scalar,
) -> Result<Vec<u8>, FormatError> {
    if arch.kind != Kind::Signed || arch.n != 1 {
        return Err(FormatError::BadCoordinateNetwork {
            kind: arch.kind,
            n: arch.n,
        });
    }
    let d = x0.len();
    if params_per_coord.len() != d {
        return Err(FormatError::ShapeMismatch {
            field: Field::Coordinates,
            expected: d,
            found: params_per_coord.len(),
        });
    }
    let count = arch.parameter_count();
    let mut params = Vec::with_capacity(d * count);
    for p in params_per_coord {
        if p.len() != count {
            return Err(FormatError::ShapeMismatch {
                field: Field::Parameters,
                expected: count,
                found: p.len(),
            });
        }
        params.extend_from_slice(p);
    }
    let mut via_times = Vec::with_capacity(via.len());
    let mut via_positions = Vec::with_capacity(via.len() * d);
    for (t, position) in via {
        if position.len() != d {
            return Err(FormatError::ShapeMismatch {
                field: Field::ViaPoints,
                expected: d,
                found: position.len(),
            });
        }
        via_times.push(*t);
        via_positions.extend_from_slice(position);
    }
    let header = TrajectoryHeader {
        activation: arch.activation,
        widths: &arch.widths,
        t0: interval.0,
        t1: interval.1,
        x0,
        x1,
        via_times: &via_times,
        via_positions: &via_positions,
        policy,
    };
    let mut out = vec![0u8; trajectory_encoded_len(&header, scalar)?];
    let len = encode_trajectory(&header, &params, scalar, &mut out)?;
    out.truncate(len);
    Ok(out)
}

/// The blob of a solved [`TrajectoryProblem`] with exact endpoints: `params` are the problem's
/// D parameter vectors back to back (its `parameter_count()` values), as the solver returns
/// them.
///
/// Errors: `PenaltyEndpoints` for the soft-penalty baseline; `Format` as for
/// [`trajectory_blob`] (also when `params` has the wrong length).
pub fn problem_blob(
    problem: &TrajectoryProblem,
    params: &[f64],
    policy: OutsidePolicy,
    scalar: Scalar,
) -> Result<Vec<u8>, TrajectoryFileError> {
    if !matches!(problem.endpoints, Endpoints::Exact) {
        return Err(TrajectoryFileError::PenaltyEndpoints);
    }
    let count = problem.architecture.parameter_count().max(1);
    if params.len() != problem.parameter_count() {
        return Err(FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: problem.parameter_count(),
            found: params.len(),
        }
        .into());
    }
    let per_coord: Vec<Vec<f64>> = params.chunks(count).map(<[f64]>::to_vec).collect();
    Ok(trajectory_blob(
        &problem.architecture,
        &per_coord,
        problem.interval,
        &problem.start,
        &problem.end,
        &problem.via,
        policy,
        scalar,
    )?)
}

/// Deterministic parameters for `coords` coordinate networks of architecture `arch`, scaled
/// like a fan-in initialiser (weights uniform in +-2/sqrt(fan_in), biases in +-1, output
/// weights in +-1/sqrt(width)), from a xorshift generator seeded with `seed`. The values depend
/// only on the arguments, on every platform.
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::model::Architecture;
/// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![4, 4] };
/// let p = finn_train::trajectory::blob::fixed_parameters(&arch, 3, 1);
/// assert_eq!(p.len(), 3);
/// assert!(p.iter().all(|v| v.len() == arch.parameter_count()));
/// assert_eq!(p, finn_train::trajectory::blob::fixed_parameters(&arch, 3, 1));
/// ```
pub fn fixed_parameters(arch: &Architecture, coords: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    (0..coords)
        .map(|_| {
            let mut p = Vec::with_capacity(arch.parameter_count());
            let mut fan_in = arch.n;
            for &w in &arch.widths {
                let scale = 2.0 / (fan_in as f64).sqrt();
                p.extend((0..w * fan_in).map(|_| uniform() * scale));
                p.extend((0..w).map(|_| uniform()));
                fan_in = w;
            }
            let scale = 1.0 / (fan_in as f64).sqrt();
            p.extend((0..fan_in).map(|_| uniform() * scale));
            p
        })
        .collect()
}

/// The firmware's default trajectory (`firmware/blobs/default.postcard`): D = 3 coordinates,
/// each a tanh network with two hidden layers of 16 units ([`fixed_parameters`] with seed
/// 2024), on [0, 2] from (0, 0.5, -1) to (1, -0.25, 2) through (0.8, 0.1, 0) at t = 0.7,
/// policy `Hold`, parameters stored as `f32`. The configuration of the device cost goals.
///
/// ```
/// let blob = finn_train::trajectory::blob::reference_blob().unwrap();
/// let view = finn_core::format::decode_trajectory(&blob).unwrap();
/// assert_eq!((view.coordinates(), view.widths()), (3, &[16, 16][..]));
/// ```
pub fn reference_blob() -> Result<Vec<u8>, FormatError> {
    let arch = Architecture {
        n: 1,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        widths: vec![16, 16],
    };
    trajectory_blob(
        &arch,
        &fixed_parameters(&arch, 3, 2024),
        (0.0, 2.0),
        &[0.0, 0.5, -1.0],
        &[1.0, -0.25, 2.0],
        &[(0.7, vec![0.8, 0.1, 0.0])],
        OutsidePolicy::Hold,
        Scalar::F32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use finn_core::format::decode_trajectory;

    fn arch() -> Architecture {
        Architecture {
            n: 1,
            kind: Kind::Signed,
            activation: Activation::Tanh,
            widths: vec![3, 2],
        }
    }

    fn problem(endpoints: Endpoints) -> TrajectoryProblem {
        TrajectoryProblem {
            architecture: arch(),
            interval: (0.0, 1.0),
            start: vec![0.0, 1.0],
            end: vec![1.0, 0.0],
            via: vec![(0.5, vec![0.6, 0.6])],
            constraints: vec![],
            enforcement: crate::trajectory::Enforcement::Penalty { weight: 0.0 },
            energy_weight: 1.0,
            dynamics: None,
            endpoints,
            nodes: 8,
        }
    }

    #[test]
    fn problem_blob_round_trips() {
        let p = problem(Endpoints::Exact);
        let params: Vec<f64> = fixed_parameters(&arch(), 2, 5).concat();
        let blob = problem_blob(&p, &params, OutsidePolicy::Reject, Scalar::F64).unwrap();
        let view = decode_trajectory(&blob).unwrap();
        assert_eq!(view.parameters().collect::<Vec<_>>(), params);
        assert_eq!(view.start(), &[0.0, 1.0]);
        assert_eq!(view.via_point(0), Some((0.5, &[0.6, 0.6][..])));
        assert_eq!(view.policy(), OutsidePolicy::Reject);
        let traj = view.to_trajectory::<f64, 2, 3, 2, 1>().unwrap();
        assert_eq!(traj.sample(1.0).unwrap().position, [1.0, 0.0]);
    }

    #[test]
    fn problem_blob_refuses_the_baseline_and_wrong_lengths() {
        let params: Vec<f64> = fixed_parameters(&arch(), 2, 5).concat();
        assert_eq!(
            problem_blob(
                &problem(Endpoints::Penalty(10.0)),
                &params,
                OutsidePolicy::Hold,
                Scalar::F32
            ),
            Err(TrajectoryFileError::PenaltyEndpoints)
        );
        assert!(matches!(
            problem_blob(
                &problem(Endpoints::Exact),
                &params[1..],
                OutsidePolicy::Hold,
                Scalar::F32
            ),
            Err(TrajectoryFileError::Format(FormatError::ShapeMismatch {
                field: Field::Parameters,
                ..
            }))
        ));
    }

    #[test]
    fn trajectory_blob_checks_its_arguments() {
        let per = fixed_parameters(&arch(), 2, 1);
        let blob = |a: &Architecture, p: &[Vec<f64>], via: &[(f64, Vec<f64>)]| {
            trajectory_blob(
                a,
                p,
                (0.0, 1.0),
                &[0.0, 0.0],
                &[1.0, 1.0],
                via,
                OutsidePolicy::Hold,
                Scalar::F32,
            )
        };
        assert!(blob(&arch(), &per, &[]).is_ok());
        let positive = Architecture {
            kind: Kind::Positive,
            ..arch()
        };
        assert_eq!(
            blob(&positive, &per, &[]),
            Err(FormatError::BadCoordinateNetwork {
                kind: Kind::Positive,
                n: 1
            })
        );
        assert!(matches!(
            blob(&arch(), &per[..1], &[]),
            Err(FormatError::ShapeMismatch {
                field: Field::Coordinates,
                ..
            })
        ));
        assert!(matches!(
            blob(&arch(), &[per[0].clone(), per[1][1..].to_vec()], &[]),
            Err(FormatError::ShapeMismatch {
                field: Field::Parameters,
                ..
            })
        ));
        assert!(matches!(
            blob(&arch(), &per, &[(0.5, vec![1.0])]),
            Err(FormatError::ShapeMismatch {
                field: Field::ViaPoints,
                ..
            })
        ));
        assert_eq!(
            blob(&arch(), &per, &[(1.5, vec![1.0, 1.0])]),
            Err(FormatError::Core(finn_core::Error::InvalidViaPoints))
        );
    }

    #[test]
    fn reference_blob_is_the_documented_configuration() {
        let blob = reference_blob().unwrap();
        let view = decode_trajectory(&blob).unwrap();
        assert_eq!(view.coordinates(), 3);
        assert_eq!(view.widths(), &[16, 16]);
        assert_eq!(view.activation(), Activation::Tanh);
        assert_eq!(view.interval(), (0.0, 2.0));
        assert_eq!(view.via_times(), &[0.7]);
        assert_eq!(view.scalar(), Scalar::F32);
        assert_eq!(view.policy(), OutsidePolicy::Hold);
    }
}

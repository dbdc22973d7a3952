//! Paths on the host that the certificate and the report evaluate: a position x(t) on
//! [t0, T] with its first four time derivatives at any time, and a bound on the fifth over
//! the whole interval.
//!
//! [`NetworkPath`] is a FINN trajectory (finn-core's networks, the f64 evaluation of a blob's
//! stored parameters); [`Quintic`] is the minimum-jerk baseline.

use super::via;
use super::Endpoints;
use crate::TrainError;
use finn_core::format::{decode_trajectory, TrajectoryView};
use finn_core::{Activation, Antiderivative, Network};

/// Orders of a jet: the position and four derivatives.
pub const JET: usize = 5;

/// Widest layer a [`NetworkPath`] holds.
pub const PATH_WIDTH: usize = 64;
/// Deepest network a [`NetworkPath`] holds.
pub const PATH_LAYERS: usize = 3;

/// Relative allowance for the f64 evaluation error of a jet, against the magnitude bounds of
/// its terms: about 1000 times the errors measured in `results/precision.md`.
const ROUNDING: f64 = 1e-10;

/// A trajectory that can be certified.
pub trait Path {
    /// Number of coordinates D.
    fn dims(&self) -> usize;
    /// [t0, T].
    fn interval(&self) -> (f64, f64);
    /// x_i^(k)(t) for every coordinate i and k = 0..=4.
    fn jet(&self, t: f64) -> Result<Vec<[f64; JET]>, TrainError>;
    /// An upper bound of |x_i^(5)(t)| over [t0, T], per coordinate.
    fn fifth_bound(&self) -> &[f64];
    /// An upper bound of the f64 evaluation error of x_i^(k), per coordinate, k = 0..=3.
    fn rounding(&self) -> &[[f64; 4]];
}

/// A FINN trajectory on the host, s = (t - t0)/(T - t0):
/// x_i(t) = (1 - s) x0_i + s xT_i + F_i(t) - F_i(t0) - s dF_i plus the via-point correction
/// sum_m beta_im phi_m(s) (exact endpoints), or x0_i + F_i(t) - F_i(t0) plus the correction
/// (the endpoint-penalty baseline).
pub struct NetworkPath {
    networks: Vec<Box<Network<f64, 1, PATH_WIDTH, PATH_LAYERS>>>,
    interval: (f64, f64),
    start: Vec<f64>,
    end: Vec<f64>,
    exact: bool,
    beta: Vec<Vec<f64>>,
    base: Vec<f64>,
    delta: Vec<f64>,
    fifth: Vec<f64>,
    rounding: Vec<[f64; 4]>,
}

fn core(e: finn_core::Error) -> TrainError {
    TrainError::Data(format!("trajectory path: {e}"))
}

impl NetworkPath {
    /// The trajectory of D networks (one parameter vector each, finn-core's flat layout).
    ///
    /// Errors: `Data` when a network is wider than 64 units, deeper than 3 layers, or its
    /// bounds or values are not finite; `InvalidViaPoints` as a `Data` error.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        activation: Activation,
        widths: &[usize],
        params: &[Vec<f64>],
        interval: (f64, f64),
        start: &[f64],
        end: &[f64],
        via: &[(f64, Vec<f64>)],
        endpoints: Endpoints,
    ) -> Result<Self, TrainError> {
        let d = start.len();
        if params.len() != d || end.len() != d {
            return Err(TrainError::Data(format!(
                "trajectory path: {} parameter vectors, {} end values for {d} coordinates",
                params.len(),
                end.len()
            )));
        }
        if widths.len() > PATH_LAYERS || widths.iter().any(|&w| w > PATH_WIDTH) {
            return Err(TrainError::Data(format!(
                "trajectory path: widths {widths:?}; the host check holds up to {PATH_LAYERS} layers of {PATH_WIDTH}"
            )));
        }
        let (t0, t1) = interval;
        let h = t1 - t0;
        let exact = endpoints == Endpoints::Exact;
        let times: Vec<f64> = via.iter().map(|(t, _)| *t).collect();
        let a_inv = via::system_inverse(&times, interval).map_err(core)?;
        let mut path = NetworkPath {
            networks: Vec::with_capacity(d),
            interval,
            start: start.to_vec(),
            end: end.to_vec(),
            exact,
            beta: Vec::with_capacity(d),
            base: Vec::with_capacity(d),
            delta: Vec::with_capacity(d),
            fifth: Vec::with_capacity(d),
            rounding: Vec::with_capacity(d),
        };
        for (i, p) in params.iter().enumerate() {
            let net = Box::new(Network::signed(activation, widths, p).map_err(core)?);
            let f0 = net.antiderivative(&[t0]).map_err(core)?;
            let f1 = net.antiderivative(&[t1]).map_err(core)?;
            let delta = f1 - f0;
            // beta = A^-1 r, r_k the uncorrected trajectory's miss at via-point k.
            let mut miss = Vec::with_capacity(via.len());
            for (t, pos) in via {
                let s = (t - t0) / h;
                let ft = net.antiderivative(&[*t]).map_err(core)? - f0;
                let uncorrected = if exact {
                    (1.0 - s) * start[i] + s * end[i] + ft - s * delta
                } else {
                    start[i] + ft
                };
                miss.push(pos[i] - uncorrected);
            }
            let beta: Vec<f64> = a_inv
                .iter()
                .map(|row| row.iter().zip(&miss).map(|(a, r)| a * r).sum())
                .collect();
            let bound = |k: usize| net.derivative_bound_over(k, t0, t1).map_err(core);
            let correction = |k: usize| -> f64 {
                beta.iter()
                    .enumerate()
                    .map(|(m, b)| b.abs() * via::basis_bound(m, k))
                    .sum::<f64>()
                    / h.powi(k as i32)
            };
            let fifth = bound(5)? + correction(5);
            let ends = (start[i].abs() + end[i].abs() + delta.abs() + f0.abs()) / h.max(1.0);
            let mut rounding = [0.0; 4];
            for (k, r) in rounding.iter_mut().enumerate() {
                *r = ROUNDING * (1.0 + bound(k)? + correction(k) + ends);
            }
            if !fifth.is_finite() {
                return Err(TrainError::Data(format!(
                    "trajectory path: coordinate {i}'s fifth-derivative bound is not finite"
                )));
            }
            path.networks.push(net);
            path.beta.push(beta);
            path.base.push(f0);
            path.delta.push(delta);
            path.fifth.push(fifth);
            path.rounding.push(rounding);
        }
        Ok(path)
    }

    /// The trajectory a blob stores, its parameters widened to f64 as stored (an f32 blob's
    /// model is certified, not the f64 parameters it was rounded from).
    ///
    /// Errors: `Data` when the blob does not decode, or as [`NetworkPath::new`].
    pub fn from_blob(blob: &[u8]) -> Result<Self, TrainError> {
        let view = decode_trajectory(blob)
            .map_err(|e| TrainError::Data(format!("trajectory blob: {e}")))?;
        Self::from_view(&view)
    }

    /// As [`NetworkPath::from_blob`], from a decoded view.
    pub fn from_view(view: &TrajectoryView<'_>) -> Result<Self, TrainError> {
        let d = view.coordinates();
        let params: Vec<Vec<f64>> = (0..d)
            .map(|i| {
                view.coordinate_parameters(i)
                    .map(|p| p.collect())
                    .unwrap_or_default()
            })
            .collect();
        let via: Vec<(f64, Vec<f64>)> = (0..view.via_times().len())
            .filter_map(|k| view.via_point(k).map(|(t, p)| (t, p.to_vec())))
            .collect();
        Self::new(
            view.activation(),
            view.widths(),
            &params,
            view.interval(),
            view.start(),
            view.end(),
            &via,
            Endpoints::Exact,
        )
    }
}

impl Path for NetworkPath {
    fn dims(&self) -> usize {
        self.start.len()
    }
    fn interval(&self) -> (f64, f64) {
        self.interval
    }
    fn jet(&self, t: f64) -> Result<Vec<[f64; JET]>, TrainError> {
        let (t0, t1) = self.interval;
        let h = t1 - t0;
        let s = (t - t0) / h;
        let basis = via::basis(s, self.beta.first().map_or(0, Vec::len));
        let mut out = Vec::with_capacity(self.dims());
        for i in 0..self.dims() {
            let mut f = [0.0; JET];
            self.networks[i].time_jet(t, &mut f).map_err(core)?;
            let mut x = [0.0; JET];
            let mut hk = 1.0;
            for k in 0..JET {
                let corr: f64 = self.beta[i]
                    .iter()
                    .zip(&basis)
                    .map(|(b, phi)| b * phi[k])
                    .sum::<f64>()
                    / hk;
                x[k] = f[k] + corr;
                hk *= h;
            }
            let (x0, x1, delta) = (self.start[i], self.end[i], self.delta[i]);
            if self.exact {
                x[0] += (1.0 - s) * x0 + s * x1 - self.base[i] - s * delta;
                x[1] += (x1 - x0 - delta) / h;
                // The ends exactly, as finn-core's player returns them (the sum above rounds).
                if t == t0 {
                    x[0] = x0;
                } else if t == t1 {
                    x[0] = x1;
                }
            } else {
                x[0] += x0 - self.base[i];
            }
            out.push(x);
        }
        Ok(out)
    }
    fn fifth_bound(&self) -> &[f64] {
        &self.fifth
    }
    fn rounding(&self) -> &[[f64; 4]] {
        &self.rounding
    }
}

/// The minimum-jerk rest-to-rest path x0 + (xT - x0)(10 s^3 - 15 s^4 + 6 s^5): the quintic
/// baseline (it ignores obstacles, limits and via-points).
pub struct Quintic {
    interval: (f64, f64),
    start: Vec<f64>,
    end: Vec<f64>,
    fifth: Vec<f64>,
    rounding: Vec<[f64; 4]>,
}

impl Quintic {
    /// The quintic from `start` to `end` over `interval`.
    pub fn new(interval: (f64, f64), start: &[f64], end: &[f64]) -> Self {
        let h = interval.1 - interval.0;
        let span = |i: usize| (end[i] - start[i]).abs();
        Quintic {
            interval,
            start: start.to_vec(),
            end: end.to_vec(),
            fifth: (0..start.len())
                .map(|i| 720.0 * span(i) / h.powi(5))
                .collect(),
            rounding: (0..start.len())
                .map(|i| {
                    let mut r = [0.0; 4];
                    for (k, v) in r.iter_mut().enumerate() {
                        *v = ROUNDING * (start[i].abs() + 720.0 * span(i) / h.powi(k as i32));
                    }
                    r
                })
                .collect(),
        }
    }
}

impl Path for Quintic {
    fn dims(&self) -> usize {
        self.start.len()
    }
    fn interval(&self) -> (f64, f64) {
        self.interval
    }
    fn jet(&self, t: f64) -> Result<Vec<[f64; JET]>, TrainError> {
        let (t0, t1) = self.interval;
        let h = t1 - t0;
        let s = ((t - t0) / h).clamp(0.0, 1.0);
        let q = [
            s * s * s * (10.0 + s * (-15.0 + 6.0 * s)),
            s * s * (30.0 + s * (-60.0 + 30.0 * s)),
            s * (60.0 + s * (-180.0 + 120.0 * s)),
            60.0 + s * (-360.0 + 360.0 * s),
            -360.0 + 720.0 * s,
        ];
        Ok((0..self.dims())
            .map(|i| {
                let span = self.end[i] - self.start[i];
                let mut x = [0.0; JET];
                let mut hk = 1.0;
                for k in 0..JET {
                    x[k] = span * q[k] / hk;
                    hk *= h;
                }
                x[0] += self.start[i];
                x
            })
            .collect())
    }
    fn fifth_bound(&self) -> &[f64] {
        &self.fifth
    }
    fn rounding(&self) -> &[[f64; 4]] {
        &self.rounding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintic_meets_its_ends_at_rest_and_its_derivatives_are_consistent() {
        let q = Quintic::new((1.0, 3.0), &[0.0, 1.0], &[2.0, -1.0]);
        let a = q.jet(1.0).unwrap();
        let b = q.jet(3.0).unwrap();
        for i in 0..2 {
            assert_eq!(a[i][0], [0.0, 1.0][i]);
            assert!((b[i][0] - [2.0, -1.0][i]).abs() < 1e-15);
            for k in 1..3 {
                assert!(a[i][k].abs() < 1e-15 && b[i][k].abs() < 1e-12);
            }
        }
        let h = 1e-6;
        for &t in &[1.3, 2.0, 2.7] {
            let (up, down, mid) = (
                q.jet(t + h).unwrap(),
                q.jet(t - h).unwrap(),
                q.jet(t).unwrap(),
            );
            for i in 0..2 {
                for k in 1..JET {
                    let fd = (up[i][k - 1] - down[i][k - 1]) / (2.0 * h);
                    assert!((fd - mid[i][k]).abs() < 1e-5 * (1.0 + fd.abs()));
                }
            }
        }
    }

    #[test]
    fn network_path_meets_its_ends_and_via_points_and_bounds_its_fifth_derivative() {
        let widths = [5, 4];
        let count = finn_core::parameter_count(1, &widths);
        let params: Vec<Vec<f64>> = (0..2)
            .map(|c| {
                (0..count)
                    .map(|j| ((j * 7 + c * 3) as f64 * 0.61).sin())
                    .collect()
            })
            .collect();
        let via = [(0.8, vec![1.5, -0.5])];
        let path = NetworkPath::new(
            Activation::Tanh,
            &widths,
            &params,
            (0.0, 2.0),
            &[0.0, 1.0],
            &[2.0, 3.0],
            &via,
            Endpoints::Exact,
        )
        .unwrap();
        let ends = [path.jet(0.0).unwrap(), path.jet(2.0).unwrap()];
        let mid = path.jet(0.8).unwrap();
        for i in 0..2 {
            assert_eq!(ends[0][i][0], [0.0, 1.0][i]);
            assert_eq!(ends[1][i][0], [2.0, 3.0][i]);
            assert!((mid[i][0] - via[0].1[i]).abs() < 1e-13);
        }
        // The fifth derivative (finite differences of the fourth) stays under its bound, and
        // each order is the derivative of the one before.
        let h = 1e-5;
        for j in 0..200 {
            let t = 0.01 + j as f64 * 0.00995;
            let (up, down, here) = (
                path.jet(t + h).unwrap(),
                path.jet(t - h).unwrap(),
                path.jet(t).unwrap(),
            );
            for i in 0..2 {
                let fifth = (up[i][4] - down[i][4]) / (2.0 * h);
                assert!(fifth.abs() <= path.fifth_bound()[i]);
                for k in 1..JET {
                    let fd = (up[i][k - 1] - down[i][k - 1]) / (2.0 * h);
                    assert!((fd - here[i][k]).abs() < 1e-5 * (1.0 + fd.abs()), "k {k}");
                }
            }
        }
    }
}

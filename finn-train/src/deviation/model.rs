//! A trained bounded-deviation model on the host: phi(x) = psi(x) + s f(x) d(x) in the data's
//! coordinates, its JSON file, and the finn-core model it stands for.

use super::base::PolynomialBase;
use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use serde::{Deserialize, Serialize};

/// A bounded-deviation model as training writes it (`<stem>.deviation.json`).
///
/// The magnitude network's parameters are in the data's coordinates (folded), so f(x) is its
/// mixed partial there and `scale` f integrates over the domain to at most `eps`: `scale` is
/// min(1, eps / I) resolved from the corner sum I in double-double, possibly lowered further
/// by a certified pointwise ceiling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviationModel {
    /// The domain's lower corner.
    pub lower: Vec<f64>,
    /// The domain's upper corner.
    pub upper: Vec<f64>,
    /// The base psi.
    pub base: PolynomialBase,
    /// The deviation budget eps: integral of |phi - psi| over the domain <= eps.
    pub eps: f64,
    /// The magnitude network (positive, sigma).
    pub magnitude: Architecture,
    /// Its parameters (finn-core's flat layout).
    pub magnitude_params: Vec<f64>,
    /// The magnitude's scale s (<= 1).
    pub scale: f64,
    /// Each direction network (signed).
    pub direction: Architecture,
    /// One parameter vector per output.
    pub direction_params: Vec<Vec<f64>>,
    /// The direction's softness.
    pub softness: f64,
}

impl DeviationModel {
    /// Input dimension n.
    pub fn inputs(&self) -> usize {
        self.lower.len()
    }

    /// Output dimension m.
    pub fn outputs(&self) -> usize {
        self.base.outputs
    }

    /// Whether x is in the domain (the correction is 0 outside it).
    pub fn contains(&self, x: &[f64]) -> bool {
        x.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(v, (a, b))| *v >= *a && *v <= *b)
    }

    /// The magnitude s f(x) (0 outside the domain).
    pub fn magnitude_at(&self, x: &[f64]) -> Result<f64, TrainError> {
        if !self.contains(x) {
            return Ok(0.0);
        }
        let net = Net::new(&self.magnitude, &self.magnitude_params)?;
        Ok((self.scale * net.integrand_forward(x, &mut Trace::default())?).max(0.0))
    }

    /// The correction phi(x) - psi(x) = s f(x) d(x).
    pub fn correction(&self, x: &[f64]) -> Result<Vec<f64>, TrainError> {
        let f = self.magnitude_at(x)?;
        let mut tr = Trace::default();
        let mut nu = Vec::with_capacity(self.outputs());
        for p in &self.direction_params {
            nu.push(Net::new(&self.direction, p)?.antiderivative_forward(x, &mut tr)?);
        }
        let r = (nu.iter().map(|v| v * v).sum::<f64>() + self.softness * self.softness).sqrt();
        Ok(nu.iter().map(|v| f * v / r).collect())
    }

    /// phi(x).
    pub fn value(&self, x: &[f64]) -> Result<Vec<f64>, TrainError> {
        let c = self.correction(x)?;
        Ok(self
            .base
            .value(x)
            .iter()
            .zip(c)
            .map(|(a, b)| a + b)
            .collect())
    }

    /// The integral of the magnitude over the domain, s I with I in double-double: the exact
    /// bound on J(psi, phi), at most eps.
    pub fn deviation_bound(&self) -> Result<f64, TrainError> {
        let i = crate::model::wide_base_integral(
            &self.magnitude,
            &self.magnitude_params,
            &self.lower,
            &self.upper,
        )?;
        Ok(self.scale * finn_core::Real::to_f64(i))
    }

    /// J(psi, phi) = integral of |phi - psi| over the domain by composite Gauss-Legendre
    /// (20 nodes per panel, `panels` per axis; n = 1 or 2), an independent check of
    /// [`DeviationModel::deviation_bound`].
    pub fn total_deviation(&self, panels: usize) -> Result<f64, TrainError> {
        let norm = |x: &[f64]| -> Result<f64, TrainError> {
            Ok(self
                .correction(x)?
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt())
        };
        match self.inputs() {
            1 => {
                let mut s = 0.0;
                for (x, w) in
                    crate::quadrature::composite_nodes(self.lower[0], self.upper[0], panels)
                {
                    s += w * norm(&[x])?;
                }
                Ok(s)
            }
            2 => {
                let xs = crate::quadrature::composite_nodes(self.lower[0], self.upper[0], panels);
                let ys = crate::quadrature::composite_nodes(self.lower[1], self.upper[1], panels);
                let mut s = 0.0;
                for (x, wx) in &xs {
                    for (y, wy) in &ys {
                        s += wx * wy * norm(&[*x, *y])?;
                    }
                }
                Ok(s)
            }
            n => Err(TrainError::Data(format!(
                "quadrature of J is implemented for 1 or 2 inputs, not {n}"
            ))),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        // Serialising plain numbers and strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads the JSON text.
    pub fn from_json(text: &str) -> Result<Self, TrainError> {
        serde_json::from_str(text)
            .map_err(|e| TrainError::Data(format!("bad deviation model: {e}")))
    }
}

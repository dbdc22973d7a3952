//! A trained bounded-deviation model on the host: phi(x) = psi(x) + s f(x) d(x) in the data's
//! coordinates, its JSON file, and the finn-core model it stands for.

use super::base::PolynomialBase;
use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use finn_core::format::{
    deviation_encoded_len, encode_deviation, DeviationHeader, FormatError, ModelHeader, Payload,
    Scalar,
};
use finn_core::{Bound, Constraint, Kind, Method, Resolved};
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

    /// The postcard blob (payload 3 of `docs/model-format.md`), with the network parameters
    /// stored as `scalar` (the domain, eps, the scale, the base and the softness stay f64):
    /// what `finn_core::format::decode_deviation` and `finn_embedded::DeviationPlayer` load.
    ///
    /// An f32 blob stores the magnitude's parameters rounded to f32; its scale is lowered,
    /// if needed, to eps over the rounded network's integral (in double-double), so that the
    /// stored model's integral stays at most eps.
    ///
    /// Errors: `Data` naming the format error for a model the blob cannot hold (a direction
    /// that is not signed, a parameter beyond f32, an invalid shape).
    ///
    /// ```
    /// use finn_core::format::{decode_deviation, Scalar};
    /// use finn_core::{Activation, Kind};
    /// use finn_train::deviation::{base::PolynomialBase, DeviationModel};
    /// use finn_train::model::Architecture;
    /// let model = DeviationModel {
    ///     lower: vec![0.0],
    ///     upper: vec![1.0],
    ///     base: PolynomialBase::new(1, 1, 1, vec![1.0, 2.0]).unwrap(),
    ///     eps: 0.1,
    ///     magnitude: Architecture { n: 1, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![1] },
    ///     magnitude_params: vec![2.0, 0.5, 1.0],
    ///     scale: 0.05,
    ///     direction: Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![1] },
    ///     direction_params: vec![vec![1.0, -0.5, 2.0]],
    ///     softness: 0.05,
    /// };
    /// let blob = model.to_blob(Scalar::F64).unwrap();
    /// let core = decode_deviation(&blob).unwrap().to_deviation::<f64, 1, 1, 4, 1, 2>().unwrap();
    /// let x = [0.3];
    /// assert!((core.value(&x).unwrap()[0] - model.value(&x).unwrap()[0]).abs() < 1e-12);
    /// ```
    pub fn to_blob(&self, scalar: Scalar) -> Result<Vec<u8>, TrainError> {
        let bad = |e: FormatError| TrainError::Data(format!("deviation blob: {e}"));
        if self.direction.kind != Kind::Signed {
            return Err(bad(FormatError::Core(finn_core::Error::NotADeviation)));
        }
        let round = |v: &[f64]| -> Vec<f64> {
            match scalar {
                Scalar::F64 => v.to_vec(),
                Scalar::F32 => v.iter().map(|&x| x as f32 as f64).collect(),
            }
        };
        let magnitude = round(&self.magnitude_params);
        let constraint = Constraint::new(Bound::AtMost, Method::Scale, self.eps);
        let mut scale = self.scale;
        if scalar == Scalar::F32 && magnitude.iter().all(|v| v.is_finite()) {
            let i = crate::model::wide_base_integral(
                &self.magnitude,
                &magnitude,
                &self.lower,
                &self.upper,
            )?;
            let resolved = constraint.resolve_from(Kind::Positive, i)?;
            scale = scale.min(resolved.scale);
        }
        let direction: Vec<f64> = self.direction_params.concat();
        let header = DeviationHeader {
            magnitude: ModelHeader {
                payload: Payload::Deviation,
                kind: self.magnitude.kind,
                activation: self.magnitude.activation,
                n: self.magnitude.n,
                widths: &self.magnitude.widths,
                domain_lower: &self.lower,
                domain_upper: &self.upper,
                constraint: Some(constraint),
                constants: Resolved::scaled(scale),
            },
            outputs: self.outputs(),
            degree: self.base.degree,
            coefficients: &self.base.coefficients,
            softness: self.softness,
            direction_activation: self.direction.activation,
            direction_widths: &self.direction.widths,
        };
        let mut out = vec![0u8; deviation_encoded_len(&header, scalar).map_err(bad)?];
        let len =
            encode_deviation(&header, &magnitude, &direction, scalar, &mut out).map_err(bad)?;
        out.truncate(len);
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use finn_core::format::decode_deviation;
    use finn_core::Activation;

    /// A two-input, two-output model with a degree-2 base, scaled to its budget.
    fn model() -> DeviationModel {
        let magnitude = Architecture {
            n: 2,
            kind: Kind::Positive,
            activation: Activation::Sigma,
            widths: vec![3],
        };
        let magnitude_params: Vec<f64> = (0..12).map(|i| 0.3 + 0.17 * i as f64).collect();
        let (lower, upper) = (vec![-1.0, 0.0], vec![1.0, 2.0]);
        let i = crate::model::wide_base_integral(&magnitude, &magnitude_params, &lower, &upper)
            .unwrap();
        let eps = 0.05;
        let scale = (eps / finn_core::Real::to_f64(i)).min(1.0) * 0.999;
        let direction = Architecture {
            n: 2,
            kind: Kind::Signed,
            activation: Activation::Tanh,
            widths: vec![4],
        };
        let p = |k: f64| (0..16).map(|i| (i as f64 * 0.37 + k).sin()).collect();
        DeviationModel {
            lower,
            upper,
            base: PolynomialBase::new(
                2,
                2,
                2,
                vec![
                    1.0, 0.5, -0.25, 0.1, 0.2, -0.3, 0.0, 1.0, 2.0, -1.0, 0.5, 0.25,
                ],
            )
            .unwrap(),
            eps,
            magnitude,
            magnitude_params,
            scale,
            direction,
            direction_params: vec![p(0.0), p(1.0)],
            softness: 0.05,
        }
    }

    #[test]
    fn the_blob_is_the_host_model() {
        let host = model();
        let blob = host.to_blob(Scalar::F64).unwrap();
        let view = decode_deviation(&blob).unwrap();
        assert_eq!(view.eps(), host.eps);
        assert_eq!(view.magnitude().constants().scale, host.scale);
        let core = view.to_deviation::<f64, 2, 2, 4, 1, 6>().unwrap();
        for k in 0..=20 {
            let t = k as f64 / 20.0;
            for x in [[-1.0 + 2.0 * t, 2.0 * t * t], [0.3 - t, 1.9 * t], [1.5, t]] {
                let want = host.value(&x).unwrap();
                let got = core.value(&x).unwrap();
                for (a, b) in want.iter().zip(got) {
                    assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs()), "{x:?}: {a} {b}");
                }
                let f = host.magnitude_at(&x).unwrap();
                assert!((core.magnitude(&x).unwrap() - f).abs() <= 1e-12 * (1.0 + f));
            }
        }
        let j = core.deviation_bound().unwrap();
        assert!((j.value - host.deviation_bound().unwrap()).abs() <= 1e-12 + j.error);
        // In f32: the stored model loads in f32 and stays within eps.
        let blob32 = host.to_blob(Scalar::F32).unwrap();
        assert!(blob32.len() < blob.len());
        let core32 = decode_deviation(&blob32)
            .unwrap()
            .to_deviation::<f32, 2, 2, 4, 1, 6>()
            .unwrap();
        let x = [0.25f32, 0.5];
        let want = host.value(&[0.25, 0.5]).unwrap();
        let got = core32.value(&x).unwrap();
        assert!((f64::from(got[0]) - want[0]).abs() < 1e-4);
        // A direction that is not signed has no blob.
        let mut bad = host.clone();
        bad.direction.kind = Kind::Positive;
        assert!(bad.to_blob(Scalar::F64).is_err());
    }
}

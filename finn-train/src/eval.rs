//! Evaluating a trained model with sizes known at run time.
//!
//! finn-core's [`finn_core::Finn`] fixes the input dimension and the widths at compile time;
//! the host (the `cargo xtask eval` command, reports, plots) reads them from a model file.
//! [`Evaluator`] applies a model's resolved constraint constants exactly as `Finn` does:
//!
//! * F(x) = scale F'(x) + c prod_i (x_i - a_i),
//! * f(x) = scale f'(x) + c,
//! * the integral of f over a box [lo, hi] = scale (vertex sum of F' over the box, Eq. 4)
//!   + (gap + gap_low) vol(box) / vol(domain),
//!
//! with c = (gap + gap_low) / vol(domain), a the domain's lower corner, and F', f' the
//! unconstrained network's antiderivative and integrand. Every bad input is a
//! [`finn_core::Error`]: `DimensionMismatch`, `NonFiniteInput`, `EmptyInterval`, `Overflow`.

use crate::grad::{Net, Trace};
use crate::model::{Architecture, TrainedModel};
use finn_core::{Error, Kind, Resolved};
use std::cell::RefCell;

/// A trained network ready for repeated evaluation, with its constraint constants applied.
///
/// ```
/// use finn_core::{Activation, Kind, Resolved};
/// use finn_train::{eval::Evaluator, model::Architecture};
/// // F'(x) = tanh(x) on [0, 1], shifted so that the integral over [0, 1] is 2.
/// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![1] };
/// let params = [1.0, 0.0, 1.0];
/// let gap = 2.0 - 1.0f64.tanh();
/// let c = Resolved { scale: 1.0, gap, gap_low: 0.0 };
/// let e = Evaluator::from_parts(&arch, &params, &[0.0], &[1.0], c).unwrap();
/// assert!((e.integral().unwrap() - 2.0).abs() < 1e-15);
/// assert!((e.integrand(&[0.5]).unwrap() - (1.0 / 0.5f64.cosh().powi(2) + gap)).abs() < 1e-15);
/// ```
#[derive(Debug)]
pub struct Evaluator<'a> {
    net: Net<'a>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    constants: Resolved<f64>,
    volume: f64,
    trace: RefCell<Trace>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator for a trained model (its architecture, parameters, domain and constants).
    ///
    /// Errors as for [`Evaluator::from_parts`].
    pub fn new(model: &'a TrainedModel) -> Result<Self, Error> {
        Self::from_parts(
            &model.architecture,
            &model.params,
            &model.domain_lower,
            &model.domain_upper,
            model.constants,
        )
    }

    /// An evaluator from a network, its domain and resolved constants (the checks of
    /// finn-core's `Finn::with_constants`).
    ///
    /// Errors: `InvalidShape`, `DimensionMismatch` (parameters, domain corners),
    /// `NonFiniteParameter` (parameters or constants), `NonFiniteInput` (domain),
    /// `EmptyInterval` (domain lower >= upper), `DegenerateIntegral` (scale <= 0, or a zero or
    /// infinite domain volume), `ScaleNeedsPositiveNetwork` (scale != 1 on a signed network).
    pub fn from_parts(
        architecture: &'a Architecture,
        params: &'a [f64],
        lower: &[f64],
        upper: &[f64],
        constants: Resolved<f64>,
    ) -> Result<Self, Error> {
        let net = Net::new(architecture, params)?;
        check_box(architecture.n, lower, upper)?;
        let Resolved {
            scale,
            gap,
            gap_low,
        } = constants;
        if !scale.is_finite() || !gap.is_finite() || !gap_low.is_finite() {
            return Err(Error::NonFiniteParameter);
        }
        if scale <= 0.0 {
            return Err(Error::DegenerateIntegral);
        }
        if architecture.kind == Kind::Signed && scale != 1.0 {
            return Err(Error::ScaleNeedsPositiveNetwork);
        }
        let volume = box_volume(lower, upper);
        if !(volume > 0.0 && volume.is_finite()) {
            return Err(Error::DegenerateIntegral);
        }
        Ok(Evaluator {
            net,
            lower: lower.to_vec(),
            upper: upper.to_vec(),
            constants,
            volume,
            trace: RefCell::new(Trace::default()),
        })
    }

    /// The input dimension n.
    pub fn dim(&self) -> usize {
        self.net.architecture().n
    }

    /// The domain's lower corner a.
    pub fn domain_lower(&self) -> &[f64] {
        &self.lower
    }

    /// The domain's upper corner b.
    pub fn domain_upper(&self) -> &[f64] {
        &self.upper
    }

    /// The resolved constants.
    pub fn constants(&self) -> Resolved<f64> {
        self.constants
    }

    /// The shift c of f = scale f' + c (0 without a shift).
    pub fn shift(&self) -> f64 {
        (self.constants.gap + self.constants.gap_low) / self.volume
    }

    /// F'(x) of the unconstrained network, checked.
    fn base_antiderivative(&self, x: &[f64]) -> Result<f64, Error> {
        let mut tr = self.trace.borrow_mut();
        finite(self.net.antiderivative_forward(x, &mut tr)?)
    }

    /// F(x) = scale F'(x) + c prod_i (x_i - a_i).
    ///
    /// Errors: `DimensionMismatch`, `NonFiniteInput`, `Overflow`.
    pub fn antiderivative(&self, x: &[f64]) -> Result<f64, Error> {
        let base = self.base_antiderivative(x)?;
        let mut poly = self.shift();
        for (xi, ai) in x.iter().zip(&self.lower) {
            poly *= xi - ai;
        }
        finite(self.constants.scale * base + poly)
    }

    /// f(x) = scale f'(x) + c, the exact mixed partial d_1...d_n F.
    ///
    /// Errors: `DimensionMismatch`, `NonFiniteInput`, `Overflow`.
    pub fn integrand(&self, x: &[f64]) -> Result<f64, Error> {
        let base = {
            let mut tr = self.trace.borrow_mut();
            self.net.integrand_forward(x, &mut tr)?
        };
        finite(self.constants.scale * base + self.shift())
    }

    /// The exact integral of f over the box [lower, upper] (Eq. 4 plus the shift's closed
    /// form).
    ///
    /// Errors: `DimensionMismatch`, `NonFiniteInput`, `EmptyInterval` (lower >= upper on an
    /// axis), `Overflow`.
    pub fn integral_over(&self, lower: &[f64], upper: &[f64]) -> Result<f64, Error> {
        check_box(self.dim(), lower, upper)?;
        let base = finn_core::domain::vertex_sum(lower, upper, |v| self.base_antiderivative(v))?;
        let ratio = box_volume(lower, upper) / self.volume;
        let Resolved {
            scale,
            gap,
            gap_low,
        } = self.constants;
        finite(scale * base + gap * ratio + gap_low * ratio)
    }

    /// The exact integral of f over the whole domain (eps, for an equality constraint).
    pub fn integral(&self) -> Result<f64, Error> {
        self.integral_over(&self.lower, &self.upper)
    }
}

fn finite(v: f64) -> Result<f64, Error> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Overflow)
    }
}

/// prod_i (upper_i - lower_i).
fn box_volume(lower: &[f64], upper: &[f64]) -> f64 {
    lower.iter().zip(upper).fold(1.0, |v, (a, b)| v * (b - a))
}

/// Both corners have n entries, are finite, and lower < upper on every axis.
fn check_box(n: usize, lower: &[f64], upper: &[f64]) -> Result<(), Error> {
    for corner in [lower, upper] {
        if corner.len() != n {
            return Err(Error::DimensionMismatch {
                expected: n,
                found: corner.len(),
            });
        }
    }
    for (axis, (a, b)) in lower.iter().zip(upper).enumerate() {
        if !a.is_finite() || !b.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        if a >= b {
            return Err(Error::EmptyInterval { axis });
        }
    }
    Ok(())
}

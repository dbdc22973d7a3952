//! The regression loss as a sum of squares, for Levenberg-Marquardt
//! ([`crate::solve::LevenbergMarquardt`]): residuals r_i = (prediction_i - y_i) / sqrt(m), so
//! |r|^2 is the mean squared error, and their Jacobian.
//!
//! With a constraint, prediction_i = s base_i + c poly_i where the scale s and the shift c
//! depend on the parameters through the unconstrained integral I' (the vertex sum of F'). Row i
//! of the Jacobian is therefore s d(base_i) + (base_i ds/dI' + poly_i dc/dI') dI', with dI'
//! taken once per Jacobian by one backward sweep through the box's corners. Rows are built a
//! block of points at a time on rayon's threads.

use super::{Fit, Objective};
use crate::grad::{Net, Trace, BLOCK};
use crate::solve::LeastSquares;
use crate::TrainError;
use finn_core::Error;
use rayon::prelude::*;

impl Objective {
    /// The network, the constraint's resolution at these parameters and dI'/d(effective
    /// parameter) when the constants depend on I' (else zeros).
    fn linear_parts<'a>(
        &'a self,
        params: &'a [f64],
        with_derivative: bool,
    ) -> Result<(Net<'a>, super::Resolution, Vec<f64>), TrainError> {
        let net = Net::new(&self.architecture, params)?;
        let mut tr = Trace::default();
        let mut d_integral = vec![0.0; if with_derivative { params.len() } else { 0 }];
        let base = if self.constraint.is_some() {
            let seed = (with_derivative).then_some((1.0, d_integral.as_mut_slice()));
            self.base_integral(&net, &mut tr, seed)?
        } else {
            0.0
        };
        let resolution = self.resolve(base)?;
        Ok((net, resolution, d_integral))
    }

    fn poly(&self, x: &[f64]) -> f64 {
        match self.fit {
            Fit::Integrand => 1.0,
            Fit::Antiderivative => x
                .iter()
                .zip(&self.domain_lower)
                .map(|(xi, ai)| xi - ai)
                .product(),
        }
    }
}

impl LeastSquares for Objective {
    fn residual_count(&self) -> usize {
        self.data.targets.len()
    }

    fn ridge(&self) -> f64 {
        self.weight_decay
    }

    fn nonnegative(&self) -> Vec<bool> {
        match self.architecture.kind {
            // The model sees |w|: the solver may keep weights >= 0 without losing anything.
            finn_core::Kind::Positive => self.architecture.weight_mask(),
            finn_core::Kind::Signed => Vec::new(),
        }
    }

    fn residuals(&self, params: &[f64], r: &mut [f64]) -> Result<(), TrainError> {
        let (net, res, _) = self.linear_parts(params, false)?;
        let root = 1.0 / (self.residual_count() as f64).sqrt();
        let points = self.data.points.as_standard_layout();
        let flat = points
            .as_slice()
            .ok_or_else(|| TrainError::Data("points must be contiguous rows".into()))?;
        let n = self.architecture.n;
        match self.fit {
            // f or F at every point in one batched, threaded call.
            Fit::Integrand => net.integrand_batch(flat, r)?,
            Fit::Antiderivative => net.antiderivative_batch(flat, r)?,
        }
        for ((ri, y), x) in r
            .iter_mut()
            .zip(self.data.targets.iter())
            .zip(flat.chunks_exact(n))
        {
            let pred = res.constants.scale * *ri + res.shift * self.poly(x);
            *ri = (pred - y) * root;
        }
        if r.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(Error::Overflow.into())
        }
    }

    fn residuals_and_jacobian(
        &self,
        params: &[f64],
        r: &mut [f64],
        jacobian: &mut [f64],
    ) -> Result<(), TrainError> {
        let p = params.len();
        let (net, res, d_integral) = self.linear_parts(params, true)?;
        // d(raw)/d(effective) is +-1 per parameter (|w| for a positive network's weights).
        let mut signs = vec![0.0; p];
        net.raw_gradient(&vec![1.0; p], &mut signs);
        let root = 1.0 / (self.residual_count() as f64).sqrt();
        let points = self.data.points.as_standard_layout();
        let flat = points
            .as_slice()
            .ok_or_else(|| TrainError::Data("points must be contiguous rows".into()))?;
        let n = self.architecture.n;
        let scale = res.constants.scale;
        let targets = self.data.targets.as_slice_memory_order();
        let targets =
            targets.ok_or_else(|| TrainError::Data("targets must be contiguous".into()))?;
        jacobian
            .par_chunks_mut(BLOCK * p)
            .zip(r.par_chunks_mut(BLOCK))
            .zip(flat.par_chunks(BLOCK * n))
            .zip(targets.par_chunks(BLOCK))
            .try_for_each_init(Trace::default, |tr, (((rows, rs), xs), ys)| {
                for (((row, ri), x), y) in rows
                    .chunks_exact_mut(p)
                    .zip(rs.iter_mut())
                    .zip(xs.chunks_exact(n))
                    .zip(ys)
                {
                    row.fill(0.0);
                    let base = match self.fit {
                        Fit::Integrand => {
                            let f = net.integrand_forward(x, tr)?;
                            net.integrand_backward(x, tr, 1.0, row);
                            f
                        }
                        Fit::Antiderivative => {
                            let f = net.antiderivative_forward(x, tr)?;
                            net.antiderivative_backward(x, tr, 1.0, row);
                            f
                        }
                    };
                    let poly = self.poly(x);
                    let through_integral = base * res.dscale + poly * res.dshift;
                    for ((v, di), s) in row.iter_mut().zip(&d_integral).zip(&signs) {
                        *v = (scale * *v + through_integral * di) * s * root;
                    }
                    *ri = (scale * base + res.shift * poly - y) * root;
                }
                Ok::<(), Error>(())
            })?;
        if r.iter().chain(jacobian.iter()).all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(Error::Overflow.into())
        }
    }
}

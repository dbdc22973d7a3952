//! The base psi of a bounded-deviation model: a polynomial of given total degree fitted by
//! least squares (QR, `linfa-linalg`), or given as fixed coefficients. Its monomials are
//! finn-core's ([`finn_core::deviation::Polynomial`]), so the fitted coefficients mean the
//! same on the device.

use crate::TrainError;
use finn_core::deviation::monomial_count;
use linfa_linalg::qr::LeastSquaresQr;
use ndarray::Array2;

/// A polynomial base psi: R^n -> R^m in finn-core's monomial order, coefficients output by
/// output.
///
/// ```
/// use finn_train::deviation::base::PolynomialBase;
/// use ndarray::array;
/// // y = 1 + 2x exactly: least squares recovers it.
/// let x = array![[0.0], [1.0], [2.0]];
/// let y = array![[1.0], [3.0], [5.0]];
/// let b = PolynomialBase::fit(&x, &y, 1).unwrap();
/// assert!((b.coefficients[0] - 1.0).abs() < 1e-12 && (b.coefficients[1] - 2.0).abs() < 1e-12);
/// assert!((b.value(&[3.0])[0] - 7.0).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PolynomialBase {
    /// Input dimension n.
    pub inputs: usize,
    /// Output dimension m.
    pub outputs: usize,
    /// Total degree.
    pub degree: usize,
    /// m * monomial_count(n, degree) coefficients, output-major.
    pub coefficients: Vec<f64>,
}

impl PolynomialBase {
    /// A base with given coefficients.
    ///
    /// Errors: `Config` naming the expected count, or a non-finite coefficient.
    pub fn new(
        inputs: usize,
        outputs: usize,
        degree: usize,
        coefficients: Vec<f64>,
    ) -> Result<Self, TrainError> {
        let terms = monomial_count(inputs, degree);
        if coefficients.len() != outputs.saturating_mul(terms) {
            return Err(TrainError::Config(format!(
                "base.coefficients: a degree-{degree} polynomial from {inputs} inputs to \
                 {outputs} outputs has {} coefficients ({terms} per output, in the order of \
                 docs/deviation.md), not {}",
                outputs.saturating_mul(terms),
                coefficients.len()
            )));
        }
        if let Some(i) = coefficients.iter().position(|c| !c.is_finite()) {
            return Err(TrainError::Config(format!(
                "base.coefficients[{i}] is not finite"
            )));
        }
        Ok(PolynomialBase {
            inputs,
            outputs,
            degree,
            coefficients,
        })
    }

    /// Least squares: the coefficients minimising sum |psi(x_i) - y_i|^2.
    ///
    /// Errors: `Data` when there are fewer points than monomials or the design matrix is
    /// rank-deficient.
    pub fn fit(x: &Array2<f64>, y: &Array2<f64>, degree: usize) -> Result<Self, TrainError> {
        let (n, m) = (x.ncols(), y.ncols());
        let terms = monomial_count(n, degree);
        if x.nrows() < terms {
            return Err(TrainError::Data(format!(
                "a degree-{degree} base in {n} inputs has {terms} coefficients per output: \
                 need at least that many training points, have {}",
                x.nrows()
            )));
        }
        let design = features(x, degree);
        let solution = design
            .least_squares(y)
            .map_err(|e| TrainError::Data(format!("base least squares failed: {e}")))?;
        let mut coefficients = Vec::with_capacity(m * terms);
        for k in 0..m {
            coefficients.extend(solution.column(k).iter().copied());
        }
        if coefficients.iter().any(|c| !c.is_finite()) {
            return Err(TrainError::Data(
                "base least squares is rank-deficient (repeated or too few distinct points)".into(),
            ));
        }
        Self::new(n, m, degree, coefficients)
    }

    /// psi(x).
    pub fn value(&self, x: &[f64]) -> Vec<f64> {
        let m = monomials(x, self.degree);
        let terms = m.len();
        (0..self.outputs)
            .map(|k| {
                self.coefficients[k * terms..(k + 1) * terms]
                    .iter()
                    .zip(&m)
                    .map(|(c, v)| c * v)
                    .sum()
            })
            .collect()
    }

    /// psi at every row.
    pub fn values(&self, x: &Array2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), self.outputs));
        for (i, row) in x.rows().into_iter().enumerate() {
            let v = self.value(&row.to_vec());
            out.row_mut(i).assign(&ndarray::Array1::from(v));
        }
        out
    }
}

/// The monomials at x in finn-core's order (the same recursion, in f64 on the heap).
pub fn monomials(x: &[f64], degree: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![1.0];
    let mut start = vec![0usize; n];
    let mut end = 1;
    for _ in 0..degree {
        let mut next = vec![0usize; n];
        for i in 0..n {
            next[i] = out.len();
            for k in start[i]..end {
                out.push(x[i] * out[k]);
            }
        }
        start = next;
        end = out.len();
    }
    out
}

/// The design matrix: one row of monomials per point.
fn features(x: &Array2<f64>, degree: usize) -> Array2<f64> {
    let terms = monomial_count(x.ncols(), degree);
    let mut out = Array2::zeros((x.nrows(), terms));
    for (i, row) in x.rows().into_iter().enumerate() {
        for (j, v) in monomials(&row.to_vec(), degree).into_iter().enumerate() {
            out[[i, j]] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use finn_core::deviation::{Base, Polynomial};

    /// The host's monomials are finn-core's, in the same order.
    #[test]
    fn monomials_match_finn_core() {
        let x = [0.7, -1.3, 2.1];
        for degree in 0..=4 {
            let coefficients: Vec<f64> = (0..monomial_count(3, degree))
                .map(|i| (i as f64 * 0.37).sin())
                .collect();
            let core = Polynomial::<f64, 3, 1, 35>::new(degree, &coefficients).unwrap();
            let host = PolynomialBase::new(3, 1, degree, coefficients).unwrap();
            let (a, b) = (core.value(&x).unwrap()[0], host.value(&x)[0]);
            assert!((a - b).abs() <= 1e-13 * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    /// Least squares recovers a quadratic in two inputs from noiseless samples.
    #[test]
    fn least_squares_recovers_quadratic() {
        let truth =
            PolynomialBase::new(2, 2, 2, (0..12).map(|i| i as f64 - 5.5).collect()).unwrap();
        // Points on no conic (sin/cos of one angle would lie on an ellipse, which makes
        // the quadratic features rank-deficient).
        let x = Array2::from_shape_fn((30, 2), |(i, j)| {
            let t = i as f64;
            if j == 0 {
                (t * 0.61).sin() * 2.0
            } else {
                (t * t * 0.37).cos() * 2.0
            }
        });
        let y = truth.values(&x);
        let fitted = PolynomialBase::fit(&x, &y, 2).unwrap();
        for (a, b) in fitted.coefficients.iter().zip(&truth.coefficients) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        let few = x.slice(ndarray::s![..5, ..]).to_owned();
        assert!(PolynomialBase::fit(&few, &y.slice(ndarray::s![..5, ..]).to_owned(), 2).is_err());
    }
}

//! Boxes and exact integrals over them (paper Eq. 4).

use crate::activation::MAX_DIM;
use crate::{error::finite, Error, Real};

/// An axis-aligned box [lower, upper] in R^N with lower < upper on every axis.
///
/// ```
/// use finn_core::Domain;
/// let d = Domain::new([-3.0f64, -3.0], [3.0, 3.0]).unwrap();
/// assert_eq!(d.volume(), 36.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Domain<T: Real, const N: usize> {
    lower: [T; N],
    upper: [T; N],
}

impl<T: Real, const N: usize> Domain<T, N> {
    /// Errors: `NonFiniteInput` (a corner, or a volume that is not finite and positive in
    /// `T`, e.g. [-3e38, 3e38] in f32), `EmptyInterval { axis }` when lower >= upper.
    ///
    /// ```
    /// use finn_core::{Domain, Error};
    /// assert_eq!(Domain::new([-3e38f32], [3e38]).unwrap_err(), Error::NonFiniteInput);
    /// ```
    pub fn new(lower: [T; N], upper: [T; N]) -> Result<Self, Error> {
        check_box(&lower, &upper)?;
        let volume = box_volume(&lower, &upper);
        if !(volume.is_finite() && volume > T::ZERO) {
            return Err(Error::NonFiniteInput);
        }
        Ok(Domain { lower, upper })
    }

    /// The empty box at the origin (all zeros), the domain of an unloaded model
    /// ([`Finn::unloaded`](crate::Finn::unloaded)); not a domain [`Domain::new`] accepts.
    pub(crate) const fn unloaded() -> Self {
        Domain {
            lower: [T::ZERO; N],
            upper: [T::ZERO; N],
        }
    }

    /// A domain from slices, with `DimensionMismatch` when a length is not N.
    pub fn from_slices(lower: &[T], upper: &[T]) -> Result<Self, Error> {
        Self::new(crate::point::<T, N>(lower)?, crate::point::<T, N>(upper)?)
    }

    /// The lower corner a.
    pub fn lower(&self) -> &[T; N] {
        &self.lower
    }

    /// The upper corner b.
    pub fn upper(&self) -> &[T; N] {
        &self.upper
    }

    /// prod_i (b_i - a_i): finite and > 0 (checked when the domain is made).
    pub fn volume(&self) -> T {
        box_volume(&self.lower, &self.upper)
    }

    /// Whether `x` lies in the closed box.
    pub fn contains(&self, x: &[T; N]) -> bool {
        x.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(v, (a, b))| *v >= *a && *v <= *b)
    }
}

/// prod_i (upper_i - lower_i).
pub(crate) fn box_volume<T: Real>(lower: &[T], upper: &[T]) -> T {
    lower
        .iter()
        .zip(upper)
        .fold(T::ONE, |v, (a, b)| v * (*b - *a))
}

/// Checks that a box is finite with lower < upper on every axis.
pub(crate) fn check_box<T: Real>(lower: &[T], upper: &[T]) -> Result<(), Error> {
    if lower.len() != upper.len() {
        return Err(Error::DimensionMismatch {
            expected: lower.len(),
            found: upper.len(),
        });
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

/// The signed vertex sum of Eq. 4: sum over the 2^n corners v of the box of
/// (-1)^(number of lower coordinates of v) F(v), which is the exact integral of f over the box.
///
/// The terms alternate and cancel (F grows polynomially), so they are added with Neumaier's
/// compensated summation, which keeps the rounding of the sum itself to about one ulp of the
/// result plus one ulp of the largest term's own rounding.
///
/// Public so that host code with run-time sizes (finn-train) sums exactly the same way.
///
/// ```
/// // F(x, y) = x y: the integral of f = 1 over [0, 2] x [0, 3] is 6.
/// let i = finn_core::domain::vertex_sum(&[0.0, 0.0], &[2.0, 3.0], |v| Ok(v[0] * v[1])).unwrap();
/// assert_eq!(i, 6.0);
/// ```
pub fn vertex_sum<T: Real>(
    lower: &[T],
    upper: &[T],
    antiderivative: impl FnMut(&[T]) -> Result<T, Error>,
) -> Result<T, Error> {
    vertex_sum_and_magnitude(lower, upper, antiderivative).map(|(sum, _)| sum)
}

/// The vertex sum of [`vertex_sum`] and the sum of the magnitudes of its terms,
/// sum over corners of |F(v)|: the scale of the cancellation, from which rounding errors are
/// bounded (the sum's own error is a few ulps of this magnitude, not of the result).
///
/// ```
/// let (i, m) = finn_core::domain::vertex_sum_and_magnitude(&[0.0], &[2.0], |v| Ok(v[0] + 5.0)).unwrap();
/// assert_eq!((i, m), (2.0, 12.0));
/// ```
pub fn vertex_sum_and_magnitude<T: Real>(
    lower: &[T],
    upper: &[T],
    mut antiderivative: impl FnMut(&[T]) -> Result<T, Error>,
) -> Result<(T, T), Error> {
    check_box(lower, upper)?;
    let n = lower.len();
    if n == 0 || n > MAX_DIM {
        return Err(Error::DimensionMismatch {
            expected: MAX_DIM,
            found: n,
        });
    }
    let mut v = [T::ZERO; MAX_DIM];
    let (mut sum, mut comp, mut magnitude) = (T::ZERO, T::ZERO, T::ZERO);
    for mask in 0..(1usize << n) {
        for i in 0..n {
            v[i] = if mask >> i & 1 == 1 {
                upper[i]
            } else {
                lower[i]
            };
        }
        let y = antiderivative(&v[..n])?;
        magnitude += y.abs();
        let term = if (n - mask.count_ones() as usize) % 2 == 1 {
            -y
        } else {
            y
        };
        let t = sum + term;
        comp += if sum.abs() >= term.abs() {
            (sum - t) + term
        } else {
            (term - t) + sum
        };
        sum = t;
    }
    Ok((finite(sum + comp)?, finite(magnitude)?))
}

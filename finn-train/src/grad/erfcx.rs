//! The scaled complementary error function erfcx(a) = e^(a^2) erfc(a) on [0, 26],
//! branch-free, so that a loop over a block of points vectorises: sigma_n's tables
//! ([`super::tables`]) need erfc at every pre-activation, and libm's `erfc`, a branchy scalar
//! routine, was most of their time where no backward recurrence ran.
//!
//! With t = (a - L) / (a + L), which maps [0, 26] onto [-1, (26 - L) / (26 + L)], the function
//! h(a) = erfcx(a) (1 + 2a) / 2 is analytic in t and nearly constant (1/2 at a = 0, tending
//! to 1/sqrt(pi)): a Chebyshev series of [`TERMS`] terms in t (rescaled to [-1, 1]) reaches
//! the rounding level. Its coefficients are interpolated once, on first use, from
//! finn-core's double-double erfc and exp at Chebyshev nodes, summed in double-double (so no
//! constant is typed in); the series is summed by Clenshaw's recurrence. Accuracy against
//! double-double over 200,001 points of [0, 26] (test below): within 9 ulp relative (worst
//! near a = 26, where Clenshaw's rounding grows; libm's erfc is within about 1 ulp).

use finn_core::dd::DoubleDouble;
use finn_core::Real;
use std::sync::OnceLock;

/// Largest argument: e^(-a^2) stays a normal f64 (sigma_n's fast range).
pub const LIMIT: f64 = 26.0;
/// Chebyshev terms kept: the 22nd coefficient is 1e-16 of the first; more terms measured
/// worse (10.3 ulp with 24, 11.2 with 26), fewer do not reach the rounding level.
pub const TERMS: usize = 22;
/// The map's scale L: 3 to 4 needs the fewest terms (measured: 20 terms give 24 ulp at L = 4,
/// 69 at L = 2, 692 at L = 6).
const SCALE: f64 = 4.0;
/// Interpolation nodes, more than the terms, so the kept coefficients are the series'.
const NODES: usize = 128;
/// t's interval [-1, T_MAX] is rescaled to u in [-1, 1].
const T_MAX: f64 = (LIMIT - SCALE) / (LIMIT + SCALE);

/// The Chebyshev coefficients of h (module docs), computed on first use.
pub fn coefficients() -> &'static [f64; TERMS] {
    static C: OnceLock<[f64; TERMS]> = OnceLock::new();
    C.get_or_init(|| {
        let h: Vec<DoubleDouble> = (0..NODES)
            .map(|j| {
                let u = (core::f64::consts::PI * (j as f64 + 0.5) / NODES as f64).cos();
                let t = -1.0 + (u + 1.0) * (T_MAX + 1.0) / 2.0;
                let a = SCALE * (1.0 + t) / (1.0 - t);
                let x = DoubleDouble::from_f64(a);
                x.erfc() * (x * x).exp() * (DoubleDouble::ONE + x + x) / DoubleDouble::from_f64(2.0)
            })
            .collect();
        let mut c = [0.0; TERMS];
        for (k, ck) in c.iter_mut().enumerate() {
            let mut sum = DoubleDouble::ZERO;
            for (j, hj) in h.iter().enumerate() {
                // cos(k theta_j) with the multiple reduced exactly first: k theta_j in
                // floating point would carry k times theta_j's rounding into the cosine.
                let m = (k * (2 * j + 1)) % (4 * NODES);
                let angle = core::f64::consts::PI * m as f64 / (2 * NODES) as f64;
                sum += *hj * DoubleDouble::from_f64(angle.cos());
            }
            *ck = (sum * DoubleDouble::from_f64(2.0 / NODES as f64)).hi();
        }
        c[0] *= 0.5;
        c
    })
}

/// erfcx(a) for a in [0, [`LIMIT`]] (elsewhere a finite value, not erfcx), with `c` from
/// [`coefficients`]; no branch, so a loop over points vectorises.
///
/// ```
/// use finn_train::grad::erfcx::{coefficients, erfcx};
/// let c = coefficients();
/// assert!((erfcx(0.0, c) - 1.0).abs() <= 4.0 * f64::EPSILON);
/// let e = libm::erfc(3.0) * 9.0f64.exp();
/// assert!((erfcx(3.0, c) - e).abs() <= 1e-14 * e);
/// ```
#[inline(always)]
pub fn erfcx(a: f64, c: &[f64; TERMS]) -> f64 {
    let t = (a - SCALE) / (a + SCALE);
    let u = (t + t - (T_MAX - 1.0)) / (T_MAX + 1.0);
    let u2 = u + u;
    let (mut b1, mut b2) = (0.0, 0.0);
    for &ck in c[1..].iter().rev() {
        let b0 = u2 * b1 - b2 + ck;
        b2 = b1;
        b1 = b0;
    }
    let h = u * b1 - b2 + c[0];
    (h + h) / (1.0 + (a + a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfcx_is_within_nine_ulp_of_double_double_on_its_range() {
        let c = coefficients();
        let mut worst = (0.0, 0.0);
        for i in 0..=200_000 {
            let a = LIMIT * i as f64 / 200_000.0;
            let x = DoubleDouble::from_f64(a);
            let exact = x.erfc() * (x * x).exp();
            let e = exact.hi();
            let ulp = f64::from_bits(e.to_bits() + 1) - e;
            let err = (DoubleDouble::from_f64(erfcx(a, c)) - exact).hi().abs() / ulp;
            if err > worst.0 {
                worst = (err, a);
            }
        }
        eprintln!("erfcx worst {worst:?}");
        assert!(worst.0 <= 9.5, "{worst:?}");
    }

    #[test]
    fn the_series_ends_where_its_coefficients_reach_the_rounding_level() {
        let c = coefficients();
        assert!(c[TERMS - 1].abs() < 2e-15 * c[0], "{c:?}");
        assert!(c[TERMS - 3].abs() > 1e-15 * c[0], "{c:?}");
    }
}

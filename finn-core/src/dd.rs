//! Double-double arithmetic: a [`Real`] with about 32 significant decimal digits, for the host
//! computations whose f64 result is not accurate enough.
//!
//! A [`DoubleDouble`] is the unevaluated sum `hi + lo` of two f64 with |lo| <= ulp(hi) / 2, so
//! it carries 106 bits of significand with f64's exponent range. The network code is generic
//! over [`Real`], so the *same* code that evaluates F in f32 or f64 evaluates it in
//! double-double; [`Finn::new`](crate::Finn::new) does so to resolve the constraint constants
//! (the corner sum of F cancels: in f64 its relative error is about ulp times
//! sum |F(v)| / |integral|, which reaches 1e-13 on real models).
//!
//! The arithmetic is the classical error-free transformations (Knuth's TwoSum, Dekker's
//! product with Veltkamp's split), so it needs no fused multiply-add and is `no_std`. The
//! special functions are written for this type:
//!
//! * `exp`, `exp_m1`: reduction by k ln 2 and by 2^-10, a Taylor series of e^r - 1, then ten
//!   squarings in the form m -> m (m + 2) (no cancellation);
//! * `ln`: ln m + e ln 2 for x = m 2^e, ln m by two Newton steps from libm's f64 value;
//!   `sqrt`: one Newton step (each step doubles the correct digits);
//! * `erfc`: for 0 <= x < 2.5, 1 - erf x with erf x = (2 / sqrt pi) e^(-x^2)
//!   sum 2^k x^(2k+1) / (1 3 ... (2k+1)), a series of positive terms; for x >= 2.5 the Laplace
//!   continued fraction of e^(x^2) erfc x, evaluated backwards from a fixed depth; for x < 0,
//!   2 - erfc(-x);
//! * `tanh`: from `exp_m1`, as the network code does for f32 and f64.
//!
//! Measured against the 25-digit sigma_n reference table (`tests/sigma_reference.rs`): sigma_n
//! and its derivatives, n <= 8, agree to 4.6e-25 relative, the table's own rounding; the
//! special functions agree with 40-digit values to about 1e-29 or better (unit tests). Values
//! below about 1e-292 lose digits: their trailing part is subnormal. Products and quotients
//! near f64::MAX are NaN (Veltkamp's split of a number above about 1e300 overflows): compute
//! limits such as `T::MAX / 1024` in f64 first.
//!
//! The integrals resolved with it are checked against an independent big-integer evaluation
//! in finn-lab (`tests/exact_constants.rs`).
//!
//! Not for the device: a double-double operation costs tens of f64 operations.
//!
//! ```
//! use finn_core::{dd::DoubleDouble, Real};
//! let third = DoubleDouble::from_f64(1.0) / DoubleDouble::from_f64(3.0);
//! // 1/3 to about 32 digits: 3 * third - 1 is far below f64's epsilon.
//! let r = third * DoubleDouble::from_f64(3.0) - DoubleDouble::ONE;
//! assert!(r.abs().to_f64() < 1e-31);
//! assert_eq!(third.hi(), 1.0 / 3.0);
//! ```

use crate::Real;
use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A double-double number: the exact sum `hi + lo` of two f64, |lo| <= ulp(hi) / 2.
///
/// Non-finite values keep `lo = 0`, so `hi` alone says whether a value is finite.
///
/// ```
/// use finn_core::{dd::DoubleDouble, Real};
/// let x = DoubleDouble::from_f64(1.0) + DoubleDouble::from_f64(1e-20);
/// assert_eq!((x.hi(), x.lo()), (1.0, 1e-20));
/// assert_eq!((x - DoubleDouble::ONE).to_f64(), 1e-20);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DoubleDouble {
    hi: f64,
    lo: f64,
}

/// ln 2 to double-double precision.
const LN2: DoubleDouble = DoubleDouble {
    hi: core::f64::consts::LN_2,
    lo: 2.319_046_813_846_299_6e-17,
};
/// 2 / sqrt(pi) to double-double precision.
const TWO_OVER_SQRT_PI: DoubleDouble = DoubleDouble {
    hi: core::f64::consts::FRAC_2_SQRT_PI,
    lo: 1.533_545_961_316_588e-17,
};
/// 1 / sqrt(pi) to double-double precision.
const ONE_OVER_SQRT_PI: DoubleDouble = DoubleDouble {
    hi: core::f64::consts::FRAC_2_SQRT_PI * 0.5,
    lo: 7.667_729_806_582_94e-18,
};
/// Below this, erfc goes through the series of erf; from here on, the continued fraction.
const ERFC_SERIES_END: f64 = 2.5;
/// Depth of the continued fraction of erfc (enough for 1e-32 at x = 2.5, measured).
const ERFC_FRACTION_DEPTH: usize = 240;

/// a + b = s + e exactly (Knuth's TwoSum).
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// a + b = s + e exactly, for |a| >= |b| or a = 0 (Dekker's FastTwoSum).
#[inline]
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// Veltkamp's split: a = hi + lo with both halves 26 bits wide.
#[inline]
fn split(a: f64) -> (f64, f64) {
    const SPLITTER: f64 = 134_217_729.0; // 2^27 + 1
    const BIG: f64 = 6.696_928_794_914_171e299; // 2^996: beyond it, split a scaled copy
    if a.abs() > BIG {
        let s = a * 3.725_290_298_461_914e-9; // 2^-28
        let c = SPLITTER * s;
        let hi = c - (c - s);
        let lo = s - hi;
        (hi * 268_435_456.0, lo * 268_435_456.0)
    } else {
        let c = SPLITTER * a;
        let hi = c - (c - a);
        (hi, a - hi)
    }
}

/// a * b = p + e exactly (Dekker's product), when nothing overflows or underflows.
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
}

impl DoubleDouble {
    /// The leading part (the nearest f64).
    pub const fn hi(self) -> f64 {
        self.hi
    }

    /// The trailing part, |lo| <= ulp(hi) / 2.
    pub const fn lo(self) -> f64 {
        self.lo
    }

    /// The exact sum `hi + lo`, normalised (any two f64).
    ///
    /// ```
    /// use finn_core::dd::DoubleDouble;
    /// let x = DoubleDouble::new(1.0, 3.0);
    /// assert_eq!((x.hi(), x.lo()), (4.0, 0.0));
    /// ```
    pub fn new(hi: f64, lo: f64) -> Self {
        let (s, e) = two_sum(hi, lo);
        Self::normal(s, e)
    }

    /// (s, e) from an error-free transformation, with `lo = 0` when s is not finite (where
    /// the transformation's e would be NaN).
    #[inline]
    fn normal(s: f64, e: f64) -> Self {
        if s.is_finite() {
            DoubleDouble { hi: s, lo: e }
        } else {
            DoubleDouble { hi: s, lo: 0.0 }
        }
    }

    /// self * 2^k, exactly (barring underflow).
    fn scale2(self, k: i32) -> Self {
        Self::normal(libm::scalbn(self.hi, k), libm::scalbn(self.lo, k))
    }

    /// e^x - 1 for |x| <= 0.35 (relative accuracy): x / 2^10, a Taylor series, ten squarings
    /// of e^r in the form (e^(2r) - 1) = m (m + 2).
    fn exp_m1_small(self) -> Self {
        const HALVINGS: i32 = 10;
        let r = self.scale2(-HALVINGS);
        // |r| <= 3.5e-4: r^14 / 14! < 1e-58, far below r * 2^-106.
        let mut term = r;
        let mut m = r;
        for k in 2..=14 {
            term = term * r / Self::from_f64(k as f64);
            m += term;
        }
        let two = Self::from_f64(2.0);
        for _ in 0..HALVINGS {
            m = m * (m + two);
        }
        m
    }

    /// erf(x) for 0 <= x < 2.5 by its series of positive terms.
    fn erf_series(self) -> Self {
        let x2 = self * self;
        let two_x2 = x2 + x2;
        let mut term = self;
        let mut sum = self;
        // Terms grow while 2 x^2 > 2k + 3 (k < 5 at x = 2.5), then fall faster than 12.5/(2k+3):
        // by k = 120 they are below 1e-40 of the sum.
        for k in 0..120 {
            term = term * two_x2 / Self::from_f64((2 * k + 3) as f64);
            sum += term;
            if term.hi <= sum.hi * 1e-34 {
                break;
            }
        }
        TWO_OVER_SQRT_PI * (-x2).exp() * sum
    }

    /// erfc(x) for x >= 2.5 by the continued fraction
    /// erfc x = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))).
    fn erfc_fraction(self) -> Self {
        let mut tail = Self::ZERO;
        for k in (1..=ERFC_FRACTION_DEPTH).rev() {
            tail = Self::from_f64(k as f64 * 0.5) / (self + tail);
        }
        ONE_OVER_SQRT_PI * (-(self * self)).exp() / (self + tail)
    }
}

impl From<f64> for DoubleDouble {
    /// Exact: `hi = v`, `lo = 0`.
    fn from(v: f64) -> Self {
        DoubleDouble { hi: v, lo: 0.0 }
    }
}

impl fmt::Display for DoubleDouble {
    /// `hi`, followed by ` + lo` when `lo` is not 0, both in scientific notation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == 0.0 {
            write!(f, "{:e}", self.hi)
        } else {
            write!(f, "{:e} + {:e}", self.hi, self.lo)
        }
    }
}

impl PartialOrd for DoubleDouble {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.hi.partial_cmp(&other.hi)? {
            Ordering::Equal => self.lo.partial_cmp(&other.lo),
            o => Some(o),
        }
    }
}

impl Neg for DoubleDouble {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        DoubleDouble {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl Add for DoubleDouble {
    type Output = Self;
    /// The accurate sum (both parts' errors kept): relative error about 2^-104.
    #[inline]
    fn add(self, b: Self) -> Self {
        let (s1, s2) = two_sum(self.hi, b.hi);
        if !s1.is_finite() {
            return Self::normal(s1, 0.0);
        }
        let (t1, t2) = two_sum(self.lo, b.lo);
        let (s1, s2) = quick_two_sum(s1, s2 + t1);
        let (s1, s2) = quick_two_sum(s1, s2 + t2);
        Self::normal(s1, s2)
    }
}

impl Sub for DoubleDouble {
    type Output = Self;
    #[inline]
    fn sub(self, b: Self) -> Self {
        self + (-b)
    }
}

impl Mul for DoubleDouble {
    type Output = Self;
    #[inline]
    fn mul(self, b: Self) -> Self {
        let (p1, p2) = two_prod(self.hi, b.hi);
        if !p1.is_finite() {
            return Self::normal(p1, 0.0);
        }
        let (p1, p2) = quick_two_sum(p1, p2 + (self.hi * b.lo + self.lo * b.hi));
        Self::normal(p1, p2)
    }
}

impl Div for DoubleDouble {
    type Output = Self;
    /// Long division in three f64 quotient digits.
    #[inline]
    fn div(self, b: Self) -> Self {
        let q1 = self.hi / b.hi;
        if !q1.is_finite() || q1 == 0.0 {
            return Self::normal(q1, 0.0);
        }
        let r = self - b * Self::from_f64(q1);
        let q2 = r.hi / b.hi;
        let r = r - b * Self::from_f64(q2);
        let q3 = r.hi / b.hi;
        let (q1, q2) = quick_two_sum(q1, q2);
        Self::normal(q1, q2) + Self::from_f64(q3)
    }
}

macro_rules! assign_ops {
    ($($tr:ident $f:ident $op:tt),*) => {$(
        impl $tr for DoubleDouble {
            #[inline]
            fn $f(&mut self, b: Self) {
                *self = *self $op b;
            }
        }
    )*};
}
assign_ops!(AddAssign add_assign +, SubAssign sub_assign -, MulAssign mul_assign *, DivAssign div_assign /);

impl Real for DoubleDouble {
    const ZERO: Self = DoubleDouble { hi: 0.0, lo: 0.0 };
    const ONE: Self = DoubleDouble { hi: 1.0, lo: 0.0 };
    /// 2^-104: the spacing of the 106-bit significand near 1 (the unit roundoff is half of
    /// it, as for f32 and f64).
    const EPSILON: Self = DoubleDouble {
        hi: 4.930_380_657_631_324e-32,
        lo: 0.0,
    };
    /// f64's: below it the trailing part is lost first.
    const MIN_POSITIVE: Self = DoubleDouble {
        hi: f64::MIN_POSITIVE,
        lo: 0.0,
    };
    /// f64's largest finite number.
    const MAX: Self = DoubleDouble {
        hi: f64::MAX,
        lo: 0.0,
    };

    #[inline]
    fn from_f64(v: f64) -> Self {
        DoubleDouble { hi: v, lo: 0.0 }
    }

    #[inline]
    fn from_f64_sum(hi: f64, lo: f64) -> Self {
        Self::new(hi, lo)
    }

    /// The nearest f64 (`hi`).
    #[inline]
    fn to_f64(self) -> f64 {
        self.hi
    }

    #[inline]
    fn to_f64_sum(self) -> (f64, f64) {
        (self.hi, self.lo)
    }

    #[inline]
    fn abs(self) -> Self {
        if self.hi < 0.0 || (self.hi == 0.0 && self.lo < 0.0) {
            -self
        } else {
            self
        }
    }

    fn exp(self) -> Self {
        if self.hi.is_nan() {
            return self;
        }
        if self.hi > 709.78 {
            return Self::from_f64(f64::INFINITY);
        }
        if self.hi < -745.2 {
            return Self::ZERO;
        }
        // x = k ln 2 + r, |r| <= ln 2 / 2 (plus rounding).
        let k = libm::round(self.hi / LN2.hi);
        let r = self - LN2 * Self::from_f64(k);
        let e = r.exp_m1_small() + Self::ONE;
        // 2^k in two steps, so that k down to -1075 does not underflow the factor itself.
        let k = k as i32;
        let half = k / 2;
        e.scale2(half).scale2(k - half)
    }

    fn exp_m1(self) -> Self {
        if self.hi.is_nan() {
            return self;
        }
        if self.hi.abs() <= 0.35 {
            self.exp_m1_small()
        } else {
            self.exp() - Self::ONE
        }
    }

    fn erfc(self) -> Self {
        if self.hi.is_nan() {
            return self;
        }
        if self.hi < 0.0 {
            return Self::from_f64(2.0) - (-self).erfc();
        }
        if self.hi > 27.3 {
            return Self::ZERO; // below f64's smallest subnormal
        }
        if self.hi < ERFC_SERIES_END {
            Self::ONE - self.erf_series()
        } else {
            self.erfc_fraction()
        }
    }

    fn sqrt(self) -> Self {
        if self.hi <= 0.0 || !self.hi.is_finite() {
            // 0 stays 0, +inf stays inf, negatives and NaN give NaN.
            return Self::from_f64(libm::sqrt(self.hi));
        }
        let s = Self::from_f64(libm::sqrt(self.hi));
        s + (self - s * s) / (s + s)
    }

    fn ln(self) -> Self {
        if self.hi <= 0.0 || !self.hi.is_finite() {
            return Self::from_f64(libm::log(self.hi));
        }
        // x = m 2^e with m in [0.5, 1): ln x = ln m + e ln 2, so that e^-y below stays far
        // from f64's subnormals (where the trailing part loses its digits).
        let (m, e) = libm::frexp(self.hi);
        let m = Self::new(m, libm::scalbn(self.lo, -e));
        // Newton's steps on e^y = m: y + m e^-y - 1, each doubling the correct digits.
        let mut y = Self::from_f64(libm::log(m.hi));
        for _ in 0..2 {
            y = y + m * (-y).exp() - Self::ONE;
        }
        y + LN2 * Self::from_f64(e as f64)
    }

    fn tanh(self) -> Self {
        if self.hi.is_nan() {
            return self;
        }
        let a = self.abs();
        let m = (-(a + a)).exp_m1();
        let t = -m / (Self::from_f64(2.0) + m);
        if self.hi < 0.0 {
            -t
        } else {
            t
        }
    }

    #[inline]
    fn is_finite(self) -> bool {
        self.hi.is_finite() && self.lo.is_finite()
    }

    #[inline]
    fn is_nan(self) -> bool {
        self.hi.is_nan() || self.lo.is_nan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dd(v: f64) -> DoubleDouble {
        DoubleDouble::from_f64(v)
    }

    /// |a - b| / |b| with b given as two f64 (hi, lo).
    fn rel(a: DoubleDouble, b: DoubleDouble) -> f64 {
        ((a - b) / b).abs().to_f64()
    }

    #[test]
    fn arithmetic_is_error_free_to_106_bits() {
        // (1 + 2^-60)^2 = 1 + 2^-59 + 2^-120: the 2^-120 term is beyond 106 bits.
        let x = dd(1.0) + dd(libm::scalbn(1.0, -60));
        let y = x * x;
        assert_eq!(y.hi(), 1.0);
        assert_eq!(y.lo(), libm::scalbn(1.0, -59));
        // Division inverts multiplication to the last bit or so.
        let a = dd(core::f64::consts::PI) + dd(1e-18);
        let b = dd(7.0) / dd(3.0);
        assert!(rel(a * b / b, a) < 1e-31);
        // Subtraction keeps what f64 loses.
        let big = dd(1e16) + dd(1.0);
        assert_eq!((big - dd(1e16)).to_f64(), 1.0);
        // Huge operands of the product split without overflow: (2^1000 (1 + 2^-30))^... times
        // (1 + 2^-30) = 2^1000 (1 + 2^-29 + 2^-60), exactly.
        let t = 1.0 + libm::scalbn(1.0, -30);
        let h = dd(libm::scalbn(t, 1000)) * dd(t);
        assert_eq!(h.hi(), libm::scalbn(1.0 + libm::scalbn(1.0, -29), 1000));
        assert_eq!(h.lo(), libm::scalbn(1.0, 940));
    }

    #[test]
    fn exp_and_ln_against_known_digits() {
        // e = 2.718281828459045235360287471352662497757...
        let e = dd(1.0).exp();
        let e_ref = DoubleDouble::new(core::f64::consts::E, 1.445_646_891_729_250_2e-16);
        assert!(rel(e, e_ref) < 1e-31, "{e:?}");
        // exp(ln x) = x over a wide range, and expm1 keeps tiny arguments.
        for &x in &[1e-300, 1e-20, 0.3, 1.0, 7.5, 123.456, 1e300] {
            let v = dd(x) + dd(x * 1e-20);
            assert!(rel(v.ln().exp(), v) < 1e-28, "{x}");
        }
        let tiny = dd(1e-25).exp_m1();
        assert!(rel(tiny, dd(1e-25) + dd(5e-51)) < 1e-30);
        // exp(a) exp(-a) = 1.
        // (Below about 1e-292 the trailing part is subnormal and loses digits: e^-700 keeps 1e-20.)
        for &a in &[0.1, 0.35, 0.36, 2.0, 40.0, 600.0] {
            let p = dd(a).exp() * dd(-a).exp();
            assert!((p - dd(1.0)).abs().to_f64() < 1e-29, "{a}");
        }
        assert_eq!(dd(800.0).exp().to_f64(), f64::INFINITY);
        assert_eq!(dd(-800.0).exp().to_f64(), 0.0);
        assert!(dd(f64::NAN).exp().is_nan());
    }

    #[test]
    fn sqrt_and_tanh() {
        let two = dd(2.0);
        let s = two.sqrt();
        assert!(rel(s * s, two) < 1e-31);
        assert_eq!(dd(0.0).sqrt().to_f64(), 0.0);
        assert!(dd(-1.0).sqrt().is_nan());
        // tanh(x) = (e^2x - 1)/(e^2x + 1), and it is odd.
        for &x in &[1e-20, 0.01, 0.5, 3.0, 20.0] {
            let m = (dd(x) + dd(x)).exp_m1();
            let t = m / (m + dd(2.0));
            let got = dd(x).tanh();
            assert!(rel(got, t) < 1e-29, "{x}");
            assert_eq!(dd(-x).tanh(), -got);
        }
        assert_eq!(dd(1e3).tanh(), dd(1.0));
    }

    #[test]
    fn erfc_matches_both_formulas_where_they_meet_and_known_values() {
        // Near the switch both formulas are accurate: they agree.
        // (1 - erf loses up to 1/erfc(x) of its relative accuracy: 4e4 at x = 3.)
        for &x in &[2.0, 2.4, 2.6, 3.0] {
            let series = DoubleDouble::ONE - dd(x).erf_series();
            let fraction = dd(x).erfc_fraction();
            assert!(rel(series, fraction) < 1e-26, "{x}");
        }
        // erfc(1) = 0.15729920705028513065877936491739074070393...
        let e1 = DoubleDouble::new(0.157_299_207_050_285_13, -2.954_563_826_510_312e-18);
        assert!(rel(dd(1.0).erfc(), e1) < 1e-30);
        assert!(rel(dd(-1.0).erfc(), dd(2.0) - e1) < 1e-30);
        assert_eq!(dd(0.0).erfc(), dd(1.0));
        assert_eq!(dd(30.0).erfc(), dd(0.0));
        assert_eq!(dd(-30.0).erfc(), dd(2.0));
        assert!(dd(f64::NAN).erfc().is_nan());
    }
}

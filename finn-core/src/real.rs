//! The scalar abstraction: one trait covers `f32` and `f64`, backed by `libm`.
//!
//! Everything in this crate is generic over [`Real`], so the same code runs in `f64` on a
//! workstation and in `f32` on a Cortex-M4F, whose FPU only does single precision.

use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar (`f32` or `f64`) with the special functions FINN needs.
///
/// ```
/// use finn_core::Real;
/// fn half_erfc<T: Real>(x: T) -> T { x.erfc() * T::from_f64(0.5) }
/// assert!((half_erfc(0.0f64) - 0.5).abs() < 1e-15);
/// assert!((half_erfc(0.0f32) - 0.5).abs() < 1e-7);
/// ```
pub trait Real:
    Copy
    + PartialOrd
    + Debug
    + Display
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// Smallest positive normal number.
    const MIN_POSITIVE: Self;
    /// Largest finite number.
    const MAX: Self;
    /// The nearest value of this type to `v` (constants are written once, in f64).
    fn from_f64(v: f64) -> Self;
    /// The nearest value of this type to the exact sum `hi + lo` (|lo| <= ulp(hi) / 2): for a
    /// constant that a type wider than f64 needs to more than f64's digits
    /// ([`DoubleDouble`](crate::dd::DoubleDouble)). f32 and f64 take `hi`.
    ///
    /// ```
    /// use finn_core::{dd::DoubleDouble, Real};
    /// assert_eq!(f64::from_f64_sum(1.0, 1e-20), 1.0);
    /// assert_eq!(DoubleDouble::from_f64_sum(1.0, 1e-20).lo(), 1e-20);
    /// ```
    fn from_f64_sum(hi: f64, lo: f64) -> Self {
        Self::from_f64(hi + lo)
    }
    /// (tanh x, sech^2 x) from one exponential, each without cancellation: with
    /// e = exp(-2|x|) and m = e - 1, tanh|x| = -m / (1 + e) and sech^2 x = 4e / (1 + e)^2.
    /// Near 0 (e >= 1/2) m comes from `expm1` and e = 1 + m; beyond, e from `exp` and
    /// m = e - 1 (|m| >= 1/2, no cancellation), so sech^2 keeps its relative accuracy into
    /// the tails. `f32` overrides it with [`crate::tanh::tanh_sech2_f32`] (a few ulp over
    /// every input, and fast on a Cortex-M4F).
    ///
    /// ```
    /// use finn_core::Real;
    /// let (t, s) = 0.5f64.tanh_sech2();
    /// assert!((t - 0.5f64.tanh()).abs() < 1e-16 && (s - (1.0 - t * t)).abs() < 1e-15);
    /// assert_eq!(0.5f32.tanh_sech2(), finn_core::tanh::tanh_sech2_f32(0.5));
    /// ```
    #[inline(always)]
    fn tanh_sech2(self) -> (Self, Self) {
        let y = -(self.abs() + self.abs());
        // 1 + m cancelled for large |x| (sech^2(25) = 7.7e-22 came out 0 beyond |x| ~ 19).
        let (m, e) = if y > Self::from_f64(-core::f64::consts::LN_2) {
            let m = y.exp_m1();
            (m, Self::ONE + m)
        } else {
            let e = y.exp();
            (e - Self::ONE, e)
        };
        let two_m = Self::ONE + e;
        let t_abs = -m / two_m;
        // tanh(+-0) = +-0 (t_abs is -0 there, the sign of -m).
        let t = if self == Self::ZERO {
            self
        } else if self < Self::ZERO {
            -t_abs
        } else {
            t_abs
        };
        (t, Self::from_f64(4.0) * e / (two_m * two_m))
    }
    /// The sums of a block of four hidden units' time jets over all their inputs:
    /// `sums[r][0] = biases[r] + sum_j rows[r][j] * inputs[j][0]` and
    /// `sums[r][o] = 0 + sum_j rows[r][j] * inputs[j][o]` for o > 0, each in input order with
    /// each product rounded before its sum (the bits of `sum += w * x`). The default returns
    /// `None` and the caller computes them; `f32` on a Cortex-M4F computes them in assembly
    /// when K = 3 (a trajectory's hidden layers) and every row is as long as the inputs.
    ///
    /// ```
    /// use finn_core::Real;
    /// let rows = [[1.0f32; 6], [2.0; 6], [0.5; 6], [-1.0; 6]];
    /// let inputs = [[1.0f32, 2.0, 3.0]; 6];
    /// let biases = [1.0f32; 4];
    /// let sums = f32::block_sums(&biases, rows.each_ref().map(|r| &r[..]), &inputs)
    ///     .unwrap_or_else(|| {
    ///         let mut sums = biases.map(|b| [b, 0.0, 0.0]);
    ///         for (sum, row) in sums.iter_mut().zip(&rows) {
    ///             for (w, x) in row.iter().zip(&inputs) {
    ///                 for o in 0..3 {
    ///                     sum[o] += w * x[o];
    ///                 }
    ///             }
    ///         }
    ///         sums
    ///     });
    /// assert_eq!(sums[1], [13.0, 24.0, 36.0]);
    /// ```
    #[inline(always)]
    fn block_sums<const K: usize>(
        biases: &[Self],
        rows: [&[Self]; 4],
        inputs: &[[Self; K]],
    ) -> Option<[[Self; K]; 4]> {
        let _ = (biases, rows, inputs);
        None
    }
    /// The nearest f64 (exact for f32 and f64).
    fn to_f64(self) -> f64;
    /// The value as an unevaluated sum `hi + lo` of two f64s, `hi` the nearest f64: exact for
    /// f32, f64 (`lo` = 0) and [`DoubleDouble`](crate::dd::DoubleDouble). With
    /// [`Real::from_f64_sum`] it converts between types without dropping digits that both
    /// keep ([`convert`]).
    ///
    /// ```
    /// use finn_core::{dd::DoubleDouble, Real};
    /// assert_eq!(0.1f64.to_f64_sum(), (0.1, 0.0));
    /// let third = DoubleDouble::ONE / DoubleDouble::from_f64(3.0);
    /// let (hi, lo) = third.to_f64_sum();
    /// assert_eq!(hi, 1.0 / 3.0);
    /// assert!(lo != 0.0 && lo.abs() <= f64::EPSILON * hi);
    /// ```
    fn to_f64_sum(self) -> (f64, f64) {
        (self.to_f64(), 0.0)
    }
    /// Exact conversion of a small count (`n`, a factor `k` in a recurrence).
    fn from_usize(n: usize) -> Self {
        Self::from_f64(n as f64)
    }
    /// |self|.
    fn abs(self) -> Self;
    /// e^self.
    fn exp(self) -> Self;
    /// e^self - 1, accurate near 0.
    fn exp_m1(self) -> Self;
    /// Complementary error function, accurate in relative terms in its right tail.
    fn erfc(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// NaN.
    fn is_nan(self) -> bool;
    /// The smaller of two numbers (NaN-free inputs assumed).
    fn min(self, other: Self) -> Self {
        if other < self {
            other
        } else {
            self
        }
    }
    /// The larger of two numbers (NaN-free inputs assumed).
    fn max(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }
}

macro_rules! impl_real {
    ($t:ty, $exp:path, $expm1:path, $erfc:path, $sqrt:path, $ln:path, $tanh:path, $fabs:path $(, $tanh_sech2:path, $block_sums:path)?) => {
        impl Real for $t {
            $(
                #[inline(always)]
                fn tanh_sech2(self) -> (Self, Self) {
                    $tanh_sech2(self)
                }
                #[inline(always)]
                fn block_sums<const K: usize>(
                    biases: &[Self],
                    rows: [&[Self]; 4],
                    inputs: &[[Self; K]],
                ) -> Option<[[Self; K]; 4]> {
                    $block_sums(biases, rows, inputs)
                }
            )?
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = <$t>::EPSILON;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            const MAX: Self = <$t>::MAX;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $fabs(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                $expm1(self)
            }
            #[inline(always)]
            fn erfc(self) -> Self {
                $erfc(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}

impl_real!(
    f64,
    libm::exp,
    libm::expm1,
    libm::erfc,
    libm::sqrt,
    libm::log,
    libm::tanh,
    libm::fabs
);
impl_real!(
    f32,
    libm::expf,
    libm::expm1f,
    libm::erfcf,
    libm::sqrtf,
    libm::logf,
    libm::tanhf,
    libm::fabsf,
    crate::tanh::tanh_sech2_f32,
    crate::multiply_add::block_sums_f32
);

/// `v` in another real type, as near as the narrower of the two keeps it: f64 to double-double
/// is exact, double-double to double-double keeps both parts, double-double to f64 or f32
/// rounds once (ties aside). A round trip through f64 alone would cut double-double to f64's
/// 53 bits.
///
/// ```
/// use finn_core::{convert, dd::DoubleDouble, Real};
/// let third = DoubleDouble::ONE / DoubleDouble::from_f64(3.0);
/// let kept: DoubleDouble = convert(third);
/// assert_eq!(kept.to_f64_sum(), third.to_f64_sum());
/// assert_eq!(convert::<DoubleDouble, f64>(third), 1.0 / 3.0);
/// assert_eq!(convert::<DoubleDouble, f32>(third), 1.0f32 / 3.0);
/// assert_eq!(convert::<f32, DoubleDouble>(0.1f32).to_f64_sum(), (0.1f32 as f64, 0.0));
/// ```
pub fn convert<A: Real, B: Real>(v: A) -> B {
    let (hi, lo) = v.to_f64_sum();
    B::from_f64_sum(hi, lo)
}

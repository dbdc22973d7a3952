//! tanh and sech^2 together in `f32`, fast on a Cortex-M4F and accurate to a few ulp over
//! every `f32` input.
//!
//! Below |x| = [`SERIES_LIMIT`] (most pre-activations of a network) both come from cosh and
//! sinh: cosh x = 1 + u C(u) and sinh x = x + x u S(u) with u = x^2 and C, S polynomials of
//! degree 5 and 4 fitted for minimax relative error (`cargo xtask tanh-fit` derives the
//! coefficients below and prints them); then tanh x = sinh x / cosh x and
//! sech^2 x = 1 / (1 + sinh^2 x). cosh and sinh are entire, so their series converge fast:
//! eleven coefficients and two divisions, with no cancellation and no range reduction. On a
//! Cortex-M4 this path takes about 28 instructions against about 48 for the exponential's
//! (two divisions included either way: 14 cycles each there, one instruction each under
//! QEMU's count).
//!
//! Beyond it both come from one exponential: with a = |x| and e = exp(-2a),
//! tanh a = (1 - e) / (1 + e) = -m / (2 + m) where m = e - 1 = expm1(-2a), and
//! sech^2 x = 4e / (1 + e)^2. Using m for tanh and e for sech^2 avoids both cancellations
//! (1 - e near 0, 1 - tanh^2 near saturation), so each keeps its relative accuracy.
//!
//! The exponential is computed here, not by libm: -2a = k ln 2 + r with |r| <= ln 2 / 2
//! (Cody-Waite: ln 2 in two parts, the first with 16 significant bits so that k ln2_hi and the
//! subtraction are exact), expm1(r) = r + r^2/2 + r^3 P(r) with a cubic P fitted for minimax
//! relative error (`cargo xtask tanh-fit` again), and
//! e = 2^k (1 + expm1 r), m = 2^k expm1(r) + (2^k - 1). Beyond a = 9.1, tanh rounds to 1 in
//! `f32` and sech^2 = 4e to well under an ulp; beyond 53 it rounds to 0.
//!
//! Measured over all 2^32 inputs against an f64 reference (`cargo xtask tanh-accuracy`; a
//! strided sweep runs in the tests): see [`TANH_MAX_ULP`] and [`SECH2_MAX_ULP`].
//!
//! Only plain multiplications, additions and divisions: no fused multiply-add, whose
//! availability differs between hosts and the device, so the host's results equal the
//! device's bit for bit.

/// The largest error of [`tanh_sech2_f32`]'s tanh over all `f32` inputs, in units in the
/// last place of the correctly rounded result (measured exhaustively against an f64
/// reference by `cargo xtask tanh-accuracy`: 3.441 ulp over all 2^32 inputs, at
/// x = +-1.4790869 on the series path, where sinh x lies just above 2 and rounds coarsely;
/// rounded up. The exponential path alone: 1.99).
pub const TANH_MAX_ULP: f64 = 3.5;
/// The largest error of [`tanh_sech2_f32`]'s sech^2 over all `f32` inputs, in ulp of the
/// result (subnormal results: ulp = 2^-149); measured like [`TANH_MAX_ULP`]: 4.413 ulp over
/// all 2^32 inputs, at x = +-1.7301569 on the series path (4.217 at x = +-2.4199748 on the
/// exponential's), rounded up.
pub const SECH2_MAX_ULP: f64 = 4.5;

/// Below this |x| the pair comes from the polynomials of cosh and sinh, from there on from
/// the exponential. 85 % of the reference trajectory's pre-activations lie below it.
pub const SERIES_LIMIT: f32 = 2.0;
/// The number of coefficients of the polynomial C of cosh (in u = x^2).
pub const COSH_TERMS: usize = 6;
/// The number of coefficients of the polynomial S of sinh (in u = x^2).
pub const SINH_TERMS: usize = 5;
/// C(u) = COSH[0] + COSH[1] u + ..., with cosh x ~ 1 + u C(u) for |x| <= 1.001
/// [`SERIES_LIMIT`] (minimax relative error, fitted by `cargo xtask tanh-fit`: 1.1e-9 with
/// these f32 coefficients in exact arithmetic).
const COSH: [f32; COSH_TERMS] = [
    5e-1,
    4.166_666_8e-2,
    1.388_886_2e-3,
    2.480_367_4e-5,
    2.747_479e-7,
    2.245_703e-9,
];
/// S(u), with sinh x ~ x + x u S(u), fitted like [`COSH`] (1.7e-9).
const SINH: [f32; SINH_TERMS] = [
    1.666_666_7e-1,
    8.333_32e-3,
    1.984_287e-4,
    2.747_452_8e-6,
    2.697_038_1e-8,
];

/// log2(e), rounded to f32.
const LOG2E: f32 = core::f32::consts::LOG2_E;
/// 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an
/// integer (round to nearest).
const ROUND: f32 = 12_582_912.0;
/// ln 2 to 16 significant bits (the f32 ln 2 with its low 8 bits cleared): k * LN2_HI is
/// exact for |k| < 256.
const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // 0.693145751953125
/// ln 2 - LN2_HI, rounded to f32.
const LN2_LO: f32 = 1.428_606_8e-6;
/// P(r) = C3 + C4 r + C5 r^2 + C6 r^3, with expm1(r) ~ r + r^2/2 + r^3 P(r) on
/// |r| <= 1.01 ln 2 / 2 (minimax relative error, fitted by `cargo xtask tanh-fit`).
const C3: f32 = 1.666_654_3e-1;
/// See [`C3`].
const C4: f32 = 4.166_686e-2;
/// See [`C3`].
const C5: f32 = 8.366_686e-3;
/// See [`C3`].
const C6: f32 = 1.389_839_2e-3;
/// From here on tanh |x| rounds to 1 in f32 (1 - tanh 9.1 = 2.5e-8 < 2^-25).
const SATURATE: f32 = 9.1;
/// From here on sech^2 x rounds to 0 in f32 (4 exp(-106) = 3.7e-46 < 2^-150).
const VANISH: f32 = 53.0;

/// (tanh x, sech^2 x) in `f32`, each within a few ulp over the whole range (see the module
/// docs); NaN gives NaN for both, +-infinity gives (+-1, 0).
///
/// ```
/// use finn_core::tanh::tanh_sech2_f32;
/// let (t, s) = tanh_sech2_f32(0.5);
/// assert!((t - 0.5f64.tanh() as f32).abs() <= 2.0 * f32::EPSILON);
/// assert!((s - (1.0 - 0.5f64.tanh().powi(2)) as f32).abs() <= 2.0 * f32::EPSILON);
/// // Saturated: tanh rounds to -1, sech^2 = 4 exp(-40) keeps its relative accuracy.
/// let (t, s) = tanh_sech2_f32(-20.0);
/// assert_eq!(t, -1.0);
/// assert!((s as f64 / (4.0 * (-40.0f64).exp()) - 1.0).abs() < 4.0 * f32::EPSILON as f64);
/// assert_eq!(tanh_sech2_f32(f32::INFINITY), (1.0, 0.0));
/// ```
#[inline(always)]
pub fn tanh_sech2_f32(x: f32) -> (f32, f32) {
    let a = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let sign = x.to_bits() & 0x8000_0000;
    let with_sign = |v: f32| f32::from_bits(v.to_bits() | sign);
    if a < SERIES_LIMIT {
        // Odd and even in x as written, so no sign handling; +-0 and the subnormals give
        // (x, 1) exactly (u underflows to 0), and sech^2 <= 1.
        let u = x * x;
        let c = 1.0 + u * horner(&COSH, u);
        let s = x + (x * u) * horner(&SINH, u);
        // cosh^2 = 1 + sinh^2: rounded once near its size, not the square of a rounded cosh
        // (whose error it would double; 5.6 ulp against 4.4 measured).
        (s / c, 1.0 / (1.0 + s * s))
    } else if a < SATURATE {
        // k in -27..=-2 here, so 2^k is a normal number.
        let (k, q) = reduced_expm1(-2.0 * a);
        let s = f32::from_bits(((k + 127) as u32) << 23);
        let sq = s * q;
        let m = sq + (s - 1.0);
        let e = s + sq;
        let d = (1.0 + s) + sq;
        // sech^2 <= sech^2(2) + a few ulp here, far below 1: no clamp needed.
        (with_sign((0.0 - m) / d), (4.0 * e) / (d * d))
    } else if a < VANISH {
        // tanh is 1; sech^2 = 4e (1 - 2e + ...) = 4e to under 0.4 ulp. k + 2 goes down to
        // -151: scale in two steps so that only the last one rounds (into the subnormals).
        let (k, q) = reduced_expm1(-2.0 * a);
        let s = f32::from_bits(((k + 2 + 64 + 127) as u32) << 23);
        (
            with_sign(1.0),
            ((1.0 + q) * s) * f32::from_bits((127 - 64) << 23),
        )
    } else if a.is_nan() {
        (x, x)
    } else {
        (with_sign(1.0), 0.0)
    }
}

/// c[0] + c[1] u + ... by Horner's rule.
#[inline(always)]
fn horner<const K: usize>(c: &[f32; K], u: f32) -> f32 {
    let mut acc = c[K - 1];
    for &ci in c[..K - 1].iter().rev() {
        acc = ci + u * acc;
    }
    acc
}

/// y = k ln 2 + r with k an integer and |r| <= ln 2 / 2 (slightly more after rounding), for
/// -106 <= y <= 0; returns k and expm1(r).
#[inline(always)]
fn reduced_expm1(y: f32) -> (i32, f32) {
    let kf = (y * LOG2E + ROUND) - ROUND;
    // Exact: kf is an integer of magnitude at most 153.
    let k = kf as i32;
    // y - kf LN2_HI is exact (Cody-Waite); the low part's product rounds once, far below
    // an ulp of r unless r is tiny, where k = 0 and it vanishes.
    let r = (y - kf * LN2_HI) - kf * LN2_LO;
    let p = C3 + r * (C4 + r * (C5 + r * C6));
    (k, r + r * r * (0.5 + r * p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (ulp error of tanh, ulp error of sech^2) of `tanh_sech2_f32(x)` against f64.
    fn ulp_errors(x: f32) -> (f64, f64) {
        let (t, s) = tanh_sech2_f32(x);
        let (rt, rs) = reference(x as f64);
        (ulps(t, rt), ulps(s, rs))
    }

    /// tanh and sech^2 in f64: relative error near 1e-16, far below an f32 ulp.
    fn reference(x: f64) -> (f64, f64) {
        let a = x.abs();
        let e = libm::exp(-2.0 * a);
        let m = libm::expm1(-2.0 * a);
        let t = -m / (2.0 + m);
        (
            if x < 0.0 { -t } else { t },
            4.0 * e / ((1.0 + e) * (1.0 + e)),
        )
    }

    /// |v - exact| in units of the f32 ulp at `exact` (2^-149 in the subnormals).
    fn ulps(v: f32, exact: f64) -> f64 {
        let mag = exact.abs().max(f32::MIN_POSITIVE as f64);
        let ulp = libm::exp2(libm::floor(libm::log2(mag)) - 23.0);
        (v as f64 - exact).abs() / ulp
    }

    #[test]
    fn tanh_of_signed_zero_keeps_its_sign() {
        // Regression: tanh(+0) was -0 (the sign of -m with m = +0).
        assert_eq!(tanh_sech2_f32(0.0).0.to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh_sech2_f32(-0.0).0.to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_sech2_f32(0.0).1, 1.0);
        // f64 through libm's expm1 had the same defect.
        use crate::Real;
        assert_eq!(0.0f64.tanh_sech2().0.to_bits(), 0.0f64.to_bits());
        assert_eq!((-0.0f64).tanh_sech2().0.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn f64_sech2_keeps_its_relative_accuracy_in_the_tails() {
        // Regression: f64 computed sech^2 = 4 (1 + m) / (2 + m)^2 with m = expm1(-2|x|), so
        // 1 + m cancelled: 0 beyond |x| ~ 19 and a few digits before. Beyond |x| = 19,
        // sech^2 = 4e (1 - 2e + ...) with e < 1e-16: 4 exp(-2|x|) to well under an ulp.
        use crate::Real;
        for a in [19.5f64, 25.0, 100.0, 300.0, -25.0] {
            let exact = 4.0 * libm::exp(-2.0 * a.abs());
            let (t, s) = a.tanh_sech2();
            assert!(
                ((s - exact) / exact).abs() < 1e-14,
                "{a}: {s:e} against {exact:e}"
            );
            assert_eq!(t, a.signum());
        }
        // Before the tails: 1 / cosh^2, each factor within an ulp.
        for a in [1.0f64, 5.0, 10.0, 18.0] {
            let c = libm::cosh(a);
            let (_, s) = a.tanh_sech2();
            assert!((s * c * c - 1.0).abs() < 1e-15, "{a}");
        }
        // Both sides of the switch from expm1 to exp (|x| = ln 2 / 2), within a few ulp of
        // libm's tanh and of (1 - tanh)(1 + tanh), which has no cancellation there.
        let half_ln2 = core::f64::consts::LN_2 / 2.0;
        for a in [half_ln2, libm::nextafter(half_ln2, 1.0), 0.1, 0.3] {
            let (t, s) = a.tanh_sech2();
            let r = libm::tanh(a);
            assert!((t - r).abs() <= 5e-16 * r, "{a}");
            assert!((s - (1.0 - r) * (1.0 + r)).abs() <= 4e-16, "{a}");
        }
    }

    #[test]
    fn strided_sweep_stays_within_the_stated_ulp_bounds() {
        // Every 4099th bit pattern (a prime stride: every exponent and many mantissas),
        // plus [1, 2) at a finer stride, where the series' errors peak, and the first
        // binade of the exponential's path.
        let mut worst = (0.0f64, 0.0f64);
        let mut bits = 0u64;
        while bits <= u32::MAX as u64 {
            let x = f32::from_bits(bits as u32);
            if !x.is_nan() {
                let (et, es) = ulp_errors(x);
                worst = (worst.0.max(et), worst.1.max(es));
            }
            bits += 4099;
        }
        for b in (1.0f32.to_bits()..4.0f32.to_bits()).step_by(11) {
            let (et, es) = ulp_errors(f32::from_bits(b));
            worst = (worst.0.max(et), worst.1.max(es));
        }
        assert!(worst.0 <= TANH_MAX_ULP, "tanh {worst:?} ulp");
        assert!(worst.1 <= SECH2_MAX_ULP, "sech^2 {worst:?} ulp");
    }

    /// All 2^32 inputs (a few minutes in release: `cargo test -p finn-core --release --lib
    /// tanh -- --ignored`; `cargo xtask tanh-accuracy` prints where the worst errors are).
    #[test]
    #[ignore]
    fn full_sweep_stays_within_the_stated_ulp_bounds() {
        let mut worst = (0.0f64, 0.0f64);
        for bits in 0..=u32::MAX {
            let x = f32::from_bits(bits);
            if !x.is_nan() {
                let (et, es) = ulp_errors(x);
                worst = (worst.0.max(et), worst.1.max(es));
            }
        }
        assert!(
            worst.0 <= TANH_MAX_ULP && worst.1 <= SECH2_MAX_ULP,
            "{worst:?}"
        );
    }

    #[test]
    fn special_values_and_the_bounds_the_enclosures_rely_on() {
        assert_eq!(tanh_sech2_f32(0.0), (0.0, 1.0));
        let (t, s) = tanh_sech2_f32(-0.0);
        assert!(t == 0.0 && t.is_sign_negative() && s == 1.0);
        assert_eq!(tanh_sech2_f32(f32::NEG_INFINITY), (-1.0, 0.0));
        let (t, s) = tanh_sech2_f32(f32::NAN);
        assert!(t.is_nan() && s.is_nan());
        // Tiny inputs: tanh x = x exactly, subnormals included.
        for x in [1e-30f32, f32::MIN_POSITIVE, 1e-45, -3e-40] {
            assert_eq!(tanh_sech2_f32(x), (x, 1.0));
        }
        // |tanh| <= 1 and 0 <= sech^2 <= 1 everywhere (activation bounds of a time network).
        let mut bits = 0u32;
        loop {
            let (t, s) = tanh_sech2_f32(f32::from_bits(bits));
            assert!(t.abs() <= 1.0 && (0.0..=1.0).contains(&s), "{bits:#x}");
            match bits.checked_add(65_537) {
                Some(b) if b < 0x7f80_0000 => bits = b,
                _ => break,
            }
        }
        // Both sides of the branch points.
        for x in [
            SERIES_LIMIT,
            1.999_999_9,
            SATURATE,
            VANISH,
            9.099_999,
            52.999_996,
            0.346_573_6,
        ] {
            let (et, es) = ulp_errors(x);
            assert!(et <= TANH_MAX_ULP && es <= SECH2_MAX_ULP, "{x}: {et} {es}");
        }
    }
}

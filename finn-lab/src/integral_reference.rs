//! An independent high-precision integral of a stored model: F at every corner of the domain
//! in big-integer fixed point, the corner sum (Eq. 4) exact, then the model's constants
//! applied exactly. What "the stored model's integral is eps" is checked against, and the
//! yardstick of the constants section of `results/precision.md`.
//!
//! # Method
//!
//! Every number is an integer `v` standing for `v / 2^bits` ([`Reference::bits`] fractional
//! bits, 320 by default: about 96 decimal digits). Parameters, corners and constants are f64,
//! so they convert exactly (down to 2^-bits). Sums are exact; each product and quotient is
//! truncated once (an absolute error of 2^-bits, with guard bits where it is amplified).
//!
//! * sigma_n(x) = i^(n-1) erfc(-x) / 2, with i^k erfc(z) = A(z) + B(z) / sqrt(pi) summed from
//!   its power series ([`crate::sigma_reference`] explains the split; there z is a grid point
//!   a/4, here any fixed-point number). The series' terms reach about e^(z^2) before they
//!   cancel, so they are summed with z^2 log2(e) extra bits. Where |z| is so large that
//!   erfc(|z|) < 2^-(bits + 8), the exact identities i^k erfc(z) = 0 (z > 0) and
//!   i^k erfc(-y) = (-1)^k 2 A(y) (the odd part B drops out) are used instead: the series is
//!   only ever summed for |z| < about 16.
//! * tanh(z) = (E - 1) / (E + 1), E = e^(2|z|) by a Taylor series of e^(y / 2^s) squared s
//!   times (s + 32 guard bits); tanh(z) = +-1 where 1 - |tanh z| < 2^-(bits + 8).
//! * pi by Machin's formula and sqrt(pi) by an integer square root
//!   ([`crate::sigma_reference::fixed`]).
//!
//! Nothing here uses floating point (beyond reading the f64 inputs and deciding how many
//! terms to sum), libm, double-double, or any code of finn-core or finn-train: the network is
//! re-read from the documented flat parameter layout.

use crate::sigma_reference::fixed::{isqrt, pi_fixed};
use anyhow::{bail, Result};
use finn_core::{Activation, Kind};
use finn_train::model::{Architecture, TrainedModel};
use num_bigint::BigInt;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// Largest |z| for which the series of i^k erfc is summed (beyond it the identities hold to
/// far below 2^-bits for every `bits` <= 700).
const SERIES_LIMIT: f64 = 23.0;

/// The fixed-point context: `bits` fractional bits, and sqrt(pi) to as many bits as the
/// widest series needs.
pub struct Reference {
    bits: u64,
    /// Fractional bits of `sqrt_pi`.
    wide: u64,
    sqrt_pi: BigInt,
}

/// `v * 2^s` for either sign of `s`, truncating toward zero.
fn shift(v: &BigInt, s: i64) -> BigInt {
    if s >= 0 {
        v << s as u64
    } else {
        let m = v.magnitude() >> (-s) as u64;
        if v.is_negative() {
            -BigInt::from(m)
        } else {
            BigInt::from(m)
        }
    }
}

fn factorial(n: i64) -> BigInt {
    (2..=n.max(1)).fold(BigInt::one(), |acc, i| acc * i)
}

impl Default for Reference {
    fn default() -> Self {
        Self::new(320)
    }
}

impl Reference {
    /// A context with `bits` fractional bits (at most 700).
    ///
    /// ```
    /// use finn_lab::integral_reference::Reference;
    /// let r = Reference::new(200);
    /// assert_eq!(r.bits(), 200);
    /// ```
    pub fn new(bits: u64) -> Self {
        let bits = bits.min(700);
        // The widest series: z^2 log2(e) extra bits at |z| = SERIES_LIMIT, plus guards.
        let wide = bits + (SERIES_LIMIT * SERIES_LIMIT * std::f64::consts::LOG2_E) as u64 + 256;
        let pi = BigInt::from(pi_fixed(wide));
        let sqrt_pi = BigInt::from(isqrt(&(pi << wide).to_biguint().expect("pi is positive")));
        Reference {
            bits,
            wide,
            sqrt_pi,
        }
    }

    /// Fractional bits of the results.
    pub fn bits(&self) -> u64 {
        self.bits
    }

    /// An f64 in this fixed point (exact down to 2^-bits).
    pub fn fixed(&self, v: f64) -> BigInt {
        self.fixed_at(v, self.bits)
    }

    fn fixed_at(&self, v: f64, bits: u64) -> BigInt {
        if v == 0.0 || !v.is_finite() {
            return BigInt::zero();
        }
        let raw = v.abs().to_bits();
        let exp = ((raw >> 52) & 0x7ff) as i64;
        let (mant, e) = if exp == 0 {
            (raw & ((1 << 52) - 1), -1074)
        } else {
            ((raw & ((1 << 52) - 1)) | (1 << 52), exp - 1075)
        };
        let m = shift(&BigInt::from(mant), e + bits as i64);
        if v < 0.0 {
            -m
        } else {
            m
        }
    }

    /// The nearest f64 to a fixed-point value (to within an ulp).
    pub fn to_f64(&self, v: &BigInt) -> f64 {
        self.to_f64_at(v, self.bits)
    }

    /// (a b) at `bits` fractional bits.
    fn mul(a: &BigInt, b: &BigInt, bits: u64) -> BigInt {
        shift(&(a * b), -(bits as i64))
    }

    /// `v / 2^bits` to f64 (within an ulp): 64 leading bits, scaled in two steps.
    fn to_f64_at(&self, v: &BigInt, bits: u64) -> f64 {
        let lead = v.bits() as i64;
        let s = (lead - 64).max(0);
        let top = shift(v, -s).to_f64().unwrap_or(f64::NAN);
        let e = s - bits as i64;
        top * 2f64.powi((e / 2) as i32) * 2f64.powi((e - e / 2) as i32)
    }

    /// i^k erfc(z) for k >= -1, `z` and the result at `bits` fractional bits.
    pub fn ierfc(&self, k: i64, z: &BigInt, bits: u64) -> BigInt {
        let zf = self.to_f64_at(z, bits);
        // erfc(|z|) < e^(-z^2) < 2^-(bits + 8) past this: the identities are exact to that.
        let cutoff = (((bits + 8) as f64) * std::f64::consts::LN_2).sqrt() + 1.0;
        if zf > cutoff {
            return BigInt::zero();
        }
        if zf < -cutoff {
            // i^k erfc(-y) = (-1)^k 2 A(y), y = -z.
            let a = self.polynomial_part(k, &-z, bits);
            let two_a = a * 2;
            return if k % 2 == 0 { two_a } else { -two_a };
        }
        // Work with z^2 log2(e) extra bits: the series' terms grow to about e^(z^2).
        let extra = (zf * zf * std::f64::consts::LOG2_E) as u64 + 64;
        let w = bits + extra;
        let zw = shift(z, extra as i64);
        let a = self.polynomial_part(k, &zw, w);
        let b = self.odd_series(k, &zw, w);
        let sqrt_pi = shift(&self.sqrt_pi, w as i64 - self.wide as i64);
        let value = a + (b << w) / sqrt_pi;
        shift(&value, -(extra as i64))
    }

    /// A(z) = sum over m = k, k - 2, ..., >= 0 of (-z)^m / (2^(k-m) m! ((k-m)/2)!).
    fn polynomial_part(&self, k: i64, z: &BigInt, bits: u64) -> BigInt {
        let mut sum = BigInt::zero();
        let mut m = k.rem_euclid(2);
        let minus_z = -z;
        while m <= k {
            let q = (k - m) / 2;
            let mut power = BigInt::one() << bits;
            for _ in 0..m {
                power = Self::mul(&power, &minus_z, bits);
            }
            let den = (BigInt::one() << (k - m) as u64) * factorial(m) * factorial(q);
            sum += power / den;
            m += 2;
        }
        sum
    }

    /// B(z): the terms (-z)^m / (2^(k-m) m! Gamma(1 + (k-m)/2)) with k - m odd, times
    /// sqrt(pi), summed until they fall below the resolution and keep shrinking.
    fn odd_series(&self, k: i64, z: &BigInt, bits: u64) -> BigInt {
        let m0: i64 = if k.rem_euclid(2) == 1 { 0 } else { 1 };
        let p0 = (k - m0 + 1) / 2;
        let one = BigInt::one() << bits;
        let mut term: BigInt = if m0 == 0 {
            (one * 2 * factorial(p0)) / factorial(2 * p0)
        } else {
            (-z * 2 * factorial(p0)) / factorial(2 * p0)
        };
        let z2 = Self::mul(z, z, bits);
        let z2f = self.to_f64_at(&z2, bits);
        let mut sum = term.clone();
        let (mut m, mut p) = (m0, p0);
        loop {
            // T(m + 2) = T(m) 2 z^2 (2p - 1) / ((m + 1)(m + 2)).
            if term.is_zero()
                && p < 0
                && (m as f64 + 1.0) * (m as f64 + 2.0) > 2.0 * z2f * (2 * p - 1).abs() as f64
            {
                break;
            }
            term = Self::mul(&term, &z2, bits) * (2 * (2 * p - 1)) / ((m + 1) * (m + 2));
            sum += &term;
            m += 2;
            p -= 1;
        }
        sum
    }

    /// e^y for y >= 0, `y` and the result at `bits` fractional bits.
    fn exp(&self, y: &BigInt, bits: u64) -> BigInt {
        let yf = self.to_f64_at(y, bits).max(0.0);
        let s = if yf > 1.0 {
            yf.log2().ceil() as u64 + 8
        } else {
            8
        };
        let w = bits + s + 32;
        let r = shift(y, w as i64 - bits as i64 - s as i64);
        let one = BigInt::one() << w;
        let (mut sum, mut term) = (one.clone(), one);
        let mut k = 1u32;
        loop {
            term = Self::mul(&term, &r, w) / k;
            if term.is_zero() {
                break;
            }
            sum += &term;
            k += 1;
        }
        for _ in 0..s {
            sum = Self::mul(&sum, &sum, w);
        }
        shift(&sum, bits as i64 - w as i64)
    }

    /// The activation's value at `z`, for a network with `n` inputs.
    pub fn activation(&self, activation: Activation, n: usize, z: &BigInt) -> BigInt {
        let bits = self.bits;
        match activation {
            Activation::Sigma => {
                // sigma_n(x) = i^(n-1) erfc(-x) / 2.
                let v = self.ierfc(n as i64 - 1, &-z, bits);
                shift(&v, -1)
            }
            Activation::Tanh => {
                let zf = self.to_f64(z).abs();
                let one = BigInt::one() << bits;
                let t = if zf > ((bits + 8) as f64) * std::f64::consts::LN_2 / 2.0 + 1.0 {
                    one
                } else {
                    let w = bits + 64;
                    let e = self.exp(&shift(&z.abs(), 65), w); // e^(2|z|)
                    let unit = BigInt::one() << w;
                    let t = ((&e - &unit) << w) / (&e + &unit);
                    shift(&t, -64)
                };
                if z.is_negative() {
                    -t
                } else {
                    t
                }
            }
        }
    }

    /// F(x) of a network in finn-core's flat parameter layout (each hidden layer's weights
    /// row-major, then its biases; finally the output weights; a positive network's weights
    /// are the absolute values of the stored ones).
    pub fn antiderivative(&self, a: &Architecture, params: &[f64], x: &[f64]) -> Result<BigInt> {
        if params.len() != a.parameter_count() || x.len() != a.n {
            bail!("parameter or point size does not match the architecture");
        }
        let weight = |v: f64| match a.kind {
            Kind::Positive => self.fixed(v.abs()),
            Kind::Signed => self.fixed(v),
        };
        let mut input: Vec<BigInt> = x.iter().map(|&v| self.fixed(v)).collect();
        let mut at = 0;
        for &width in &a.widths {
            let fan_in = input.len();
            let weights = &params[at..at + width * fan_in];
            let biases = &params[at + width * fan_in..at + width * fan_in + width];
            at += width * fan_in + width;
            let mut out = Vec::with_capacity(width);
            for k in 0..width {
                let mut z = self.fixed(biases[k]);
                for (w, h) in weights[k * fan_in..(k + 1) * fan_in].iter().zip(&input) {
                    z += Self::mul(&weight(*w), h, self.bits);
                }
                out.push(self.activation(a.activation, a.n, &z));
            }
            input = out;
        }
        let mut y = BigInt::zero();
        for (w, h) in params[at..].iter().zip(&input) {
            y += Self::mul(&weight(*w), h, self.bits);
        }
        Ok(y)
    }

    /// The unconstrained integral of a network over [lower, upper]: the exact signed sum of F
    /// over the 2^n corners.
    pub fn base_integral(
        &self,
        a: &Architecture,
        params: &[f64],
        lower: &[f64],
        upper: &[f64],
    ) -> Result<BigInt> {
        let n = a.n;
        let mut sum = BigInt::zero();
        let mut v = vec![0.0; n];
        for mask in 0..(1usize << n) {
            for i in 0..n {
                v[i] = if mask >> i & 1 == 1 {
                    upper[i]
                } else {
                    lower[i]
                };
            }
            let f = self.antiderivative(a, params, &v)?;
            if (n - mask.count_ones() as usize) % 2 == 1 {
                sum -= f;
            } else {
                sum += f;
            }
        }
        Ok(sum)
    }

    /// The integral of the stored model over its domain: scale I' + gap + gap_low, with I'
    /// from [`Reference::base_integral`] and the constants as stored.
    pub fn integral(&self, model: &TrainedModel) -> Result<BigInt> {
        let base = self.base_integral(
            &model.architecture,
            &model.params,
            &model.domain_lower,
            &model.domain_upper,
        )?;
        let k = model.constants;
        Ok(Self::mul(&self.fixed(k.scale), &base, self.bits)
            + self.fixed(k.gap)
            + self.fixed(k.gap_low))
    }

    /// (integral - eps) / |eps| for the stored model (eps of its constraint; an error without
    /// one).
    ///
    /// ```
    /// use finn_core::{Activation, Bound, Constraint, Kind, Method, Resolved};
    /// use finn_lab::integral_reference::Reference;
    /// use finn_train::model::{Architecture, TrainedModel};
    /// // F = tanh(x) on [0, 1] shifted to integrate to 1: gap = 1 - tanh(1).
    /// let mut model = TrainedModel {
    ///     architecture: Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![1] },
    ///     domain_lower: vec![0.0],
    ///     domain_upper: vec![1.0],
    ///     constraint: Some(Constraint::new(Bound::Equal, Method::Shift, 1.0)),
    ///     constants: Resolved::scaled(1.0),
    ///     params: vec![1.0, 0.0, 1.0],
    /// };
    /// model.constants = model.resolve_constants().unwrap();
    /// let r = Reference::default();
    /// assert!(r.relative_error(&model).unwrap().abs() < 1e-30);
    /// ```
    pub fn relative_error(&self, model: &TrainedModel) -> Result<f64> {
        let Some(c) = model.constraint else {
            bail!("the model has no constraint");
        };
        let diff = self.integral(model)? - self.fixed(c.eps);
        Ok(self.to_f64(&diff) / c.eps.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigma_reference::fixed::Fixed;

    #[test]
    fn ierfc_matches_the_table_machinery_at_grid_points() {
        let bits = 400;
        let table = Fixed::new(bits);
        let r = Reference::new(bits);
        for a in [-60i64, -9, -4, 0, 3, 8, 40, 64] {
            let z = BigInt::from(a) << (bits - 2); // a / 4
            for k in -1..=7 {
                let got = r.ierfc(k, &z, bits);
                let want = table.ierfc(k as i32, a);
                let diff = (&got - &want).abs();
                // A few units of the last place; both are truncated sums.
                assert!(
                    diff < BigInt::from(1u64 << 20),
                    "k = {k}, z = {a}/4: {diff}"
                );
            }
        }
    }

    #[test]
    fn identities_beyond_the_series_agree_with_the_series() {
        // Just below the cutoff both ways are accurate: compare at z = -/+ 17 with the series
        // forced (through a narrower context whose cutoff lies beyond 17).
        let bits = 600; // cutoff sqrt(608 ln 2) + 1 = 21.5
        let r = Reference::new(bits);
        let narrow = 300; // cutoff 15.4
        for z in [-17.0f64, 17.0] {
            let zw = r.fixed_at(z, bits);
            let zn = r.fixed_at(z, narrow);
            for k in 0..=4 {
                let series = shift(&r.ierfc(k, &zw, bits), narrow as i64 - bits as i64);
                let identity = r.ierfc(k, &zn, narrow);
                let diff = (&series - &identity).abs();
                assert!(diff < BigInt::from(1u64 << 8), "k = {k}, z = {z}: {diff}");
            }
        }
    }

    #[test]
    fn tanh_and_exp() {
        let r = Reference::new(200);
        // e^1 and tanh(1/2) against their known digits (e = 2.718281828459045235360287...).
        let e = r.exp(&r.fixed(1.0), 200);
        assert!((r.to_f64(&e) - std::f64::consts::E).abs() < 1e-15);
        let known = BigInt::parse_bytes(b"2718281828459045235360287471352662497757", 10).unwrap();
        let scaled = (&e * BigInt::from(10u32).pow(39)) >> 200u32;
        assert!((scaled - known).abs() < BigInt::from(2));
        let t = r.activation(Activation::Tanh, 1, &r.fixed(0.5));
        assert!((r.to_f64(&t) - 0.5f64.tanh()).abs() < 1e-16);
        let t = r.activation(Activation::Tanh, 1, &r.fixed(-300.0));
        assert_eq!(t, -(BigInt::one() << 200u32));
    }
}

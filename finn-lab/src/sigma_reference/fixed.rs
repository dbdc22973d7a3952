//! Big-integer fixed-point arithmetic for the sigma reference table: the exact series of the
//! repeated integrals of erfc ([`Fixed::ierfc`]), `pi` and `sqrt(pi)` ([`pi_fixed`],
//! [`isqrt`]), and decimal output rounded half up ([`format_sci`]). The parent module
//! explains the method and why it is exact.

use num_bigint::{BigInt, BigUint};
use num_traits::{One, Signed, Zero};

/// Guard bits used while computing `pi` and `sqrt(pi)`.
const GUARD_BITS: u64 = 64;

/// Fixed-point context: numbers are integers `v` standing for `v / 2^frac_bits`.
pub struct Fixed {
    frac_bits: u64,
    sqrt_pi: BigInt,
}

impl Fixed {
    /// Sets up the fixed point with `frac_bits` fractional bits (computes `sqrt(pi)`).
    pub fn new(frac_bits: u64) -> Self {
        let wide = frac_bits + GUARD_BITS;
        // sqrt(pi * 2^wide * 2^wide) = sqrt(pi) * 2^wide.
        let pi_wide = pi_fixed(wide);
        let sqrt_pi_wide = isqrt(&(pi_wide << wide));
        Fixed {
            frac_bits,
            sqrt_pi: BigInt::from(sqrt_pi_wide >> GUARD_BITS),
        }
    }

    /// `i^k erfc(a/4)` in this fixed point, by the exact power series (see the module docs).
    pub fn ierfc(&self, k: i32, a: i64) -> BigInt {
        assert!(k >= -1, "i^k erfc is defined here for k >= -1 only");
        let f = self.frac_bits;

        // A(z): m = k, k-2, ..., >= 0; term (-z)^m / (2^(k-m) m! q!) with q = (k-m)/2,
        // and (-z)^m = (-a)^m / 4^m.
        let mut poly = BigInt::zero();
        let mut m = k.rem_euclid(2);
        while m <= k {
            let q = (k - m) / 2;
            let num = BigInt::from(-a).pow(m as u32) << f;
            let den = (BigInt::one() << (m + k) as u64) * factorial(m) * factorial(q);
            poly += num / den;
            m += 2;
        }

        // B(z): m = m0, m0+2, ... with k-m odd, p = (k-m+1)/2. The first term is
        // (-z)^m0 2^(m0-k) / (m0! G(p0)) with G(p) = Gamma(1/2+p)/sqrt(pi) = (2p)!/(4^p p!),
        // which simplifies to (-a)^m0 * 2^(1-2 m0) * p0! / (2 p0)!.
        let m0: i32 = if k.rem_euclid(2) == 1 { 0 } else { 1 };
        let p0 = (k - m0 + 1) / 2;
        debug_assert!(p0 >= 0);
        let mut term = if m0 == 0 {
            ((BigInt::from(2) * factorial(p0)) << f) / factorial(2 * p0)
        } else {
            ((BigInt::from(-a) * factorial(p0)) << f) / (BigInt::from(2) * factorial(2 * p0))
        };
        let mut series = term.clone();
        let a2 = a * a;
        let mut m = i64::from(m0);
        let mut p = i64::from(p0);
        loop {
            // T(m+2) = T(m) * a^2 (2p-1) / (8 (m+1)(m+2)).
            let ratio_num = a2 * (2 * p - 1);
            let ratio_den = 8 * (m + 1) as u64 * (m + 2) as u64;
            if term.is_zero() && p < 0 && ratio_num.unsigned_abs() < ratio_den {
                // Below the resolution, past the largest term, and only shrinking from here.
                break;
            }
            term *= ratio_num;
            term /= ratio_den;
            series += &term;
            m += 2;
            p -= 1;
        }

        poly + (series << f) / &self.sqrt_pi
    }
}

/// `n!` as a big integer.
fn factorial(n: i32) -> BigInt {
    (2..=n.max(1)).fold(BigInt::one(), |acc, i| acc * i)
}

/// `pi * 2^bits`, truncated, by Machin's formula `pi = 16 atan(1/5) - 4 atan(1/239)`.
pub fn pi_fixed(bits: u64) -> BigUint {
    let wide = bits + GUARD_BITS;
    let pi = atan_inv(5, wide) * 16u32 - atan_inv(239, wide) * 4u32;
    (pi >> GUARD_BITS).to_biguint().expect("pi is positive")
}

/// `atan(1/n) * 2^bits` by its Taylor series.
fn atan_inv(n: u32, bits: u64) -> BigInt {
    let mut power = BigInt::one() << bits;
    power /= n;
    let n2 = n * n;
    let mut sum = power.clone();
    let mut j: u32 = 1;
    while !power.is_zero() {
        power /= n2;
        let t = &power / (2 * j + 1);
        if j % 2 == 1 {
            sum -= t;
        } else {
            sum += t;
        }
        j += 1;
    }
    sum
}

/// Integer square root (floor) by Newton's method.
pub fn isqrt(n: &BigUint) -> BigUint {
    if n.is_zero() {
        return BigUint::zero();
    }
    // Start at or above sqrt(n); the iterates then decrease monotonically to the floor.
    let mut x = BigUint::one() << n.bits().div_ceil(2);
    loop {
        let y = (&x + n / &x) >> 1u32;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// Formats `v / 2^frac_bits` with `sig` significant digits, rounded half up, as
/// `d.ddd...e<exp>` (`e` with no `+`, as Rust prints and parses it).
pub fn format_sci(v: &BigInt, frac_bits: u64, sig: u32) -> String {
    assert!(sig >= 1);
    let sign = if v.is_negative() { "-" } else { "" };
    let mag = v.magnitude();
    if mag.is_zero() {
        return format!("0.{}e0", "0".repeat(sig as usize - 1));
    }
    let low = BigUint::from(10u32).pow(sig - 1);
    let high = &low * 10u32;
    // value lies in [2^(b-1), 2^b); start from the decimal exponent that suggests.
    let b = mag.bits() as i64 - frac_bits as i64;
    let mut exp = ((b - 1) as f64 * std::f64::consts::LOG10_2).floor() as i64;
    let digits = loop {
        let d = round_scaled(mag, frac_bits, i64::from(sig) - 1 - exp);
        if d >= high {
            exp += 1;
        } else if d < low {
            exp -= 1;
        } else {
            break d;
        }
    };
    let s = digits.to_string();
    format!("{sign}{}.{}e{exp}", &s[..1], &s[1..])
}

/// `round_half_up(mag * 10^shift / 2^frac_bits)`, for either sign of `shift`.
fn round_scaled(mag: &BigUint, frac_bits: u64, shift: i64) -> BigUint {
    let ten = BigUint::from(10u32);
    let (num, den) = if shift >= 0 {
        (mag * ten.pow(shift as u32), BigUint::one() << frac_bits)
    } else {
        (mag.clone(), ten.pow((-shift) as u32) << frac_bits)
    };
    (num * 2u32 + &den) / (den * 2u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fractional bits for the tests: enough for |z| <= 25 (largest term ~2^902) to keep more
    /// than 150 correct bits in the smallest value, and fast in a debug build.
    const TEST_BITS: u64 = 2048;

    /// `digits` (a plain decimal like `-0.1572...`) in fixed point with `frac_bits`.
    fn decimal(digits: &str, frac_bits: u64) -> BigInt {
        let (neg, digits) = match digits.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, digits),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let num: BigInt = format!("{int}{frac}").parse().unwrap();
        let v = (num << frac_bits) / BigInt::from(10u32).pow(frac.len() as u32);
        if neg {
            -v
        } else {
            v
        }
    }

    /// Asserts `|got - want| <= 10^-digits` in absolute terms.
    fn assert_close(got: &BigInt, want: &str, frac_bits: u64, digits: u32) {
        let diff = (got - decimal(want, frac_bits)).abs() * BigInt::from(10u32).pow(digits);
        assert!(
            diff <= BigInt::one() << frac_bits,
            "got {}, want {want}",
            format_sci(got, frac_bits, 40)
        );
    }

    #[test]
    fn pi_and_sqrt_pi() {
        let pi = BigInt::from(pi_fixed(400));
        assert_close(
            &pi,
            "3.14159265358979323846264338327950288419716939937510582097494",
            400,
            58,
        );
        let fixed = Fixed::new(400);
        assert_close(
            &fixed.sqrt_pi,
            "1.77245385090551602729816748334114518279754945612238712821380",
            400,
            58,
        );
    }

    #[test]
    fn isqrt_is_the_floor() {
        for n in [
            0u64,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 40,
            (1 << 40) + 1,
            u64::MAX,
        ] {
            let s = isqrt(&BigUint::from(n));
            let s1 = &s + 1u32;
            assert!(
                &s * &s <= BigUint::from(n) && &s1 * &s1 > BigUint::from(n),
                "{n}"
            );
        }
        let big = BigUint::from(12345u32).pow(300) + 7u32;
        let s = isqrt(&big);
        assert!(&s * &s <= big && (&s + 1u32) * (&s + 1u32) > big);
    }

    #[test]
    fn erfc_known_values() {
        let fixed = Fixed::new(TEST_BITS);
        // erfc(1) and erfc(-2), z = a/4.
        let e1 = fixed.ierfc(0, 4);
        assert_close(
            &e1,
            "0.157299207050285130658779364917390740703933002033697091540062",
            TEST_BITS,
            58,
        );
        assert_eq!(
            format_sci(&e1, TEST_BITS, 25),
            "1.572992070502851306587794e-1"
        );
        let em2 = fixed.ierfc(0, -8);
        assert_close(
            &em2,
            "1.99532226501895273416206925636725292861089179704006007673835",
            TEST_BITS,
            58,
        );
        assert_eq!(
            format_sci(&em2, TEST_BITS, 25),
            "1.995322265018952734162069e0"
        );
    }

    #[test]
    fn repeated_integrals_at_zero() {
        let fixed = Fixed::new(TEST_BITS);
        // i^1 erfc(0) = 1/sqrt(pi).
        let i1 = fixed.ierfc(1, 0);
        assert_close(
            &i1,
            "0.564189583547756286948079451560772585844050629328998856844086",
            TEST_BITS,
            58,
        );
        assert_eq!(
            format_sci(&i1, TEST_BITS, 25),
            "5.641895835477562869480795e-1"
        );
        // i^2 erfc(0) = 1/4 exactly (the odd part vanishes at z = 0).
        let i2 = fixed.ierfc(2, 0);
        assert_eq!(i2, BigInt::one() << (TEST_BITS - 2));
        assert_eq!(
            format_sci(&i2, TEST_BITS, 25),
            "2.500000000000000000000000e-1"
        );
        // i^0 erfc(0) = 1, i^-1 erfc(0) = 2/sqrt(pi) (to the last units of the fixed point).
        assert_eq!(fixed.ierfc(0, 0), BigInt::one() << TEST_BITS);
        let diff: BigInt = fixed.ierfc(-1, 0) - &i1 * 2u32;
        assert!(diff.abs() <= BigInt::from(2));
    }

    #[test]
    fn sigma_n_order_n_at_plus_minus_one() {
        // sigma_n^(n)(x) = i^-1 erfc(-x) / 2 = exp(-x^2) / sqrt(pi), for every n.
        let fixed = Fixed::new(TEST_BITS);
        for x_quarters in [4, -4] {
            let v = fixed.ierfc(-1, -x_quarters);
            assert_close(
                &v,
                "0.207553748710297351670134124720668682684453514969634759265374",
                TEST_BITS + 1,
                58,
            );
            assert_eq!(
                format_sci(&v, TEST_BITS + 1, 25),
                "2.075537487102973516701341e-1"
            );
        }
    }

    #[test]
    fn more_bits_agree() {
        // The result at z = 25 does not move when the resolution grows.
        let coarse = Fixed::new(TEST_BITS).ierfc(7, 100);
        let fine = Fixed::new(TEST_BITS + 512).ierfc(7, 100);
        assert_eq!(
            format_sci(&coarse, TEST_BITS, 40),
            format_sci(&fine, TEST_BITS + 512, 40)
        );
    }

    #[test]
    fn formatting() {
        let f = 16;
        let one = BigInt::one() << f;
        assert_eq!(format_sci(&one, f, 3), "1.00e0");
        assert_eq!(format_sci(&(BigInt::from(-1000) * &one), f, 3), "-1.00e3");
        assert_eq!(format_sci(&(&one / 4), f, 3), "2.50e-1");
        assert_eq!(format_sci(&BigInt::zero(), f, 3), "0.00e0");
        // 0.99999... rounds up across the decade.
        assert_eq!(format_sci(&(&one - 1), f, 3), "1.00e0");
        // Far below f64's range: 2^-2000 = 8.709809816217216...e-603.
        assert_eq!(format_sci(&BigInt::one(), 2000, 4), "8.710e-603");
    }
}

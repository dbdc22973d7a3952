//! sigma_n and its derivatives against an independent 25-digit reference
//! (tests/data/sigma_reference.csv, made by `cargo xtask sigma-reference` from the exact power
//! series of i^k erfc in big-integer arithmetic): relative error <= 1e-12 in f64 and <= 1e-5
//! in f32 for n = 1..8, orders 0..n+1, x in [-30, 30]. Where the exact value lies below a
//! type's normal range the result must be 0 or subnormal (underflow), never negative or NaN.

use finn_core::{dd::DoubleDouble, Activation, Real};

const TABLE: &str = include_str!("data/sigma_reference.csv");

struct Row {
    n: usize,
    order: usize,
    x: f64,
    value: f64,
}

fn rows() -> Vec<Row> {
    let rows: Vec<Row> = TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("n,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                n: f[0].parse().unwrap(),
                order: f[1].parse().unwrap(),
                x: f[2].parse().unwrap(),
                // Values below f64's range parse to 0 or a subnormal: that is the point.
                value: f[3].parse().unwrap(),
            }
        })
        .collect();
    assert_eq!(rows.len(), 12_532, "reference table is complete");
    rows
}

fn check<T: Real>(tol: f64) -> f64 {
    let min_normal = T::MIN_POSITIVE.to_f64();
    let mut worst: f64 = 0.0;
    let mut compared = 0;
    for r in rows() {
        let mut d = [T::ZERO; 10];
        Activation::Sigma
            .derivatives(r.n, T::from_f64(r.x), &mut d[..r.order + 1])
            .unwrap();
        let got = d[r.order].to_f64();
        assert!(
            !got.is_nan(),
            "NaN at n={} order={} x={}",
            r.n,
            r.order,
            r.x
        );
        if r.order <= r.n {
            assert!(
                got >= 0.0,
                "negative sigma_{}^({}) at {}",
                r.n,
                r.order,
                r.x
            );
        }
        if r.value.abs() >= min_normal && r.value.abs() <= T::MAX.to_f64() {
            let err = (got - r.value).abs() / r.value.abs();
            worst = worst.max(err);
            compared += 1;
            assert!(
                err <= tol,
                "sigma_{}^({})({}) = {got:e}, reference {:e}, rel. error {err:.1e}",
                r.n,
                r.order,
                r.x,
                r.value
            );
        } else if r.value.abs() < min_normal {
            // Underflow: 0 or subnormal, with the right sign.
            assert!(
                got.abs() < min_normal,
                "expected underflow at {} got {got:e}",
                r.x
            );
        }
    }
    assert!(
        compared > 10_000 / if tol > 1e-9 { 2 } else { 1 },
        "compared {compared}"
    );
    worst
}

#[test]
fn f64_within_1e_12() {
    let worst = check::<f64>(1e-12);
    eprintln!("f64 worst relative error against the reference: {worst:.1e}");
}

#[test]
fn f32_within_1e_5() {
    let worst = check::<f32>(1e-5);
    eprintln!("f32 worst relative error against the reference: {worst:.1e}");
}

#[test]
fn zero_only_by_underflow() {
    // Far in the left tail every order underflows to exactly 0, never NaN.
    let mut d = [0.0f64; 10];
    Activation::Sigma.derivatives(8, -1e6, &mut d).unwrap();
    assert!(d.iter().all(|v| *v == 0.0));
    // Large positive x: polynomial growth, finite and positive up to order n.
    Activation::Sigma.derivatives(8, 1e3, &mut d).unwrap();
    assert!(d[..=8].iter().all(|v| v.is_finite() && *v >= 0.0));
    // Infinity gives limits, not NaN.
    Activation::Sigma
        .derivatives(3, f64::INFINITY, &mut d[..5])
        .unwrap();
    assert!(d[..5].iter().all(|v| !v.is_nan()));
    assert!(Activation::Sigma
        .derivatives(3, f64::NAN, &mut d[..5])
        .is_err());
}

/// A decimal `d.ddd...e±k` with up to 38 digits, to double-double: the digits as an integer
/// (exact in two f64), times or divided by 10^|k| (relative error about |k| 2^-104).
fn parse_dd(s: &str) -> DoubleDouble {
    let (mantissa, exp) = s.split_once(['e', 'E']).unwrap_or((s, "0"));
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches(['-', '+']);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: u128 = format!("{int}{frac}").parse().unwrap();
    let exp: i32 = exp.parse::<i32>().unwrap() - frac.len() as i32;
    let hi = digits as f64;
    let rest = digits as i128 - hi as i128;
    let mut v = DoubleDouble::new(hi, rest as f64);
    let ten = DoubleDouble::from_f64(10.0);
    for _ in 0..exp.unsigned_abs() {
        v = if exp > 0 { v * ten } else { v / ten };
    }
    if negative {
        -v
    } else {
        v
    }
}

#[test]
fn double_double_within_1e_23() {
    // The table has 25 significant digits (rounding 5e-25); double-double sigma_n is checked
    // to 1e-23 wherever the value lies in [1e-290, 1e300] (below, its trailing part would be
    // subnormal).
    let mut worst: f64 = 0.0;
    let mut compared = 0;
    for line in TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("n,"))
    {
        let f: Vec<&str> = line.split(',').collect();
        let (n, order): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        let x: f64 = f[2].parse().unwrap();
        let approx: f64 = f[3].parse().unwrap();
        if !(1e-290..=1e300).contains(&approx.abs()) {
            continue;
        }
        let reference = parse_dd(f[3]);
        let mut d = [DoubleDouble::ZERO; 10];
        Activation::Sigma
            .derivatives(n, DoubleDouble::from_f64(x), &mut d[..order + 1])
            .unwrap();
        let err = ((d[order] - reference) / reference).abs().to_f64();
        worst = worst.max(err);
        compared += 1;
        assert!(
            err <= 1e-23,
            "sigma_{n}^({order})({x}) = {}, reference {}, rel. error {err:.1e}",
            d[order],
            f[3]
        );
    }
    assert!(compared > 10_000, "compared {compared}");
    eprintln!("double-double worst relative error against the reference: {worst:.1e}");
}

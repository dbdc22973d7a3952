//! Positive networks give f >= 0 and finite for random weights and biases (large ones too) at
//! random points (far outside any domain too), n = 1..6, depth 1..3, f32 and f64.

use finn_core::{parameter_count, Antiderivative, Error, Network, Real};
use proptest::prelude::*;

/// Parameters and a point, drawn with the given ranges (the width list is drawn too).
fn case(
    n: usize,
    weight: f64,
    point: f64,
    max_depth: usize,
) -> impl Strategy<Value = (Vec<usize>, Vec<f64>, Vec<f64>)> {
    prop::collection::vec(1usize..=4, 1..=max_depth).prop_flat_map(move |widths| {
        let count = parameter_count(n, &widths);
        (
            Just(widths),
            prop::collection::vec(-weight..weight, count),
            prop::collection::vec(-point..point, n),
        )
    })
}

fn integrand<T: Real, const N: usize>(widths: &[usize], p: &[f64], x: &[f64]) -> Result<T, Error>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let p: Vec<T> = p.iter().map(|&v| T::from_f64(v)).collect();
    let x: Vec<T> = x.iter().map(|&v| T::from_f64(v)).collect();
    Network::<T, N, 4, 3>::positive(widths, &p)?.integrand(&x)
}

macro_rules! positivity {
    ($name:ident, $n:literal, $t:ty, $weight:expr, $point:expr, $depth:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn $name((widths, p, x) in case($n, $weight, $point, $depth)) {
                let f = integrand::<$t, $n>(&widths, &p, &x);
                prop_assert!(matches!(f, Ok(v) if v >= 0.0 && v.is_finite()), "f = {f:?}");
            }
        }
    };
}

// F of a positive network grows like |x|^((n-1)^depth) (sigma_n grows like x^(n-1)), so the
// exact f leaves each type's range at some size of weights and points. Each line states the
// envelope it covers (|weights|, |biases| <= w; |x| <= p; depth <= d); beyond it,
// `extremes_*` checks the answer is still never NaN or negative, only a typed Overflow.
// Domains in this project are O(1) boxes, so p = 50 is 50x outside one. Depth 3 in f32 is
// fragile: O(1) parameters already give F ~ 1e65 at n = 6 (checked against nested duals), so
// intermediate derivatives overflow f32 although f itself may fit.
//                  name   n  type   w     p    d
positivity!(f64_n1_d3, 1, f64, 20.0, 50.0, 3);
positivity!(f64_n2_d3, 2, f64, 20.0, 50.0, 3);
positivity!(f64_n3_d2, 3, f64, 20.0, 50.0, 2);
positivity!(f64_n4_d2, 4, f64, 20.0, 50.0, 2);
positivity!(f64_n5_d2, 5, f64, 20.0, 50.0, 2);
positivity!(f64_n6_d2, 6, f64, 20.0, 50.0, 2);
positivity!(f64_n6_d3, 6, f64, 5.0, 5.0, 3);
positivity!(f32_n1_d3, 1, f32, 20.0, 50.0, 3);
positivity!(f32_n2_d2, 2, f32, 20.0, 50.0, 2);
positivity!(f32_n3_d1, 3, f32, 20.0, 50.0, 1);
positivity!(f32_n4_d1, 4, f32, 20.0, 50.0, 1);
positivity!(f32_n6_d1, 6, f32, 20.0, 50.0, 1);
positivity!(f32_n3_d2, 3, f32, 5.0, 5.0, 2);
positivity!(f32_n6_d2, 6, f32, 3.0, 3.0, 2);
positivity!(f32_n6_d3, 6, f32, 0.5, 1.0, 3);

macro_rules! extremes {
    ($name:ident, $n:literal, $t:ty) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            /// Beyond the representable range the answer is a typed error, never NaN or < 0.
            #[test]
            fn $name((widths, p, x) in case($n, 1e3, 1e6, 3)) {
                match integrand::<$t, $n>(&widths, &p, &x) {
                    Ok(v) => prop_assert!(v >= 0.0 && v.is_finite(), "f = {v}"),
                    Err(e) => prop_assert_eq!(e, Error::Overflow),
                }
            }
        }
    };
}
extremes!(extremes_f64_n2, 2, f64);
extremes!(extremes_f64_n6, 6, f64);
extremes!(extremes_f32_n3, 3, f32);
extremes!(extremes_f32_n6, 6, f32);

//! Constants resolved on the host from a double-double corner sum: the run-time-sized forward
//! pass agrees with finn-core's fixed-size one bit for bit, and `resolve_constants` (what
//! training and f32 blobs use) gives the constants `Finn::new` gives.

use finn_core::dd::DoubleDouble;
use finn_core::format::Scalar;
use finn_core::{
    parameter_count, Activation, Bound, Constraint, Domain, Finn, Kind, Method, Network, Real,
};
use finn_train::grad::Net;
use finn_train::model::{Architecture, TrainedModel};
use proptest::prelude::*;

fn model(positive: bool, n: usize, widths: Vec<usize>, params: Vec<f64>) -> TrainedModel {
    let (kind, activation, method) = if positive {
        (Kind::Positive, Activation::Sigma, Method::Scale)
    } else {
        (Kind::Signed, Activation::Tanh, Method::Shift)
    };
    TrainedModel {
        architecture: Architecture {
            n,
            kind,
            activation,
            widths,
        },
        domain_lower: vec![-1.5; n],
        domain_upper: vec![2.0; n],
        constraint: Some(Constraint::new(Bound::Equal, method, 0.75)),
        constants: finn_core::Resolved::scaled(1.0),
        params,
    }
}

fn check<const N: usize>(m: &TrainedModel) -> Result<(), TestCaseError>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let a = &m.architecture;
    let net = Network::<f64, N, 4, 2>::new(a.kind, a.activation, &a.widths, &m.params).unwrap();
    let host = Net::new(a, &m.params).unwrap();
    let x: Vec<DoubleDouble> = (0..N)
        .map(|i| DoubleDouble::from_f64(0.3 * i as f64 - 0.7))
        .collect();
    prop_assert_eq!(
        net.antiderivative_wide(&x).unwrap(),
        host.antiderivative_wide(&x).unwrap()
    );
    let domain = Domain::<f64, N>::from_slices(&m.domain_lower, &m.domain_upper).unwrap();
    let finn = Finn::new(net, domain, m.constraint).unwrap();
    let host_constants = m.resolve_constants().unwrap();
    prop_assert_eq!(finn.constants(), host_constants);
    // The stored model's true integral meets eps to 1e-15.
    let stored = TrainedModel {
        constants: host_constants,
        ..m.clone()
    };
    let exact = stored.exact_integral().unwrap();
    let rel = ((exact - DoubleDouble::from_f64(0.75)) / DoubleDouble::from_f64(0.75))
        .abs()
        .to_f64();
    prop_assert!(rel <= 1e-15, "relative error {rel:e}");
    // And it loads (the f64 integral check accepts it).
    stored.validate().unwrap();
    Ok(())
}

fn case() -> impl Strategy<Value = (bool, usize, Vec<usize>, Vec<f64>)> {
    (
        any::<bool>(),
        1usize..=3,
        prop::collection::vec(1usize..=4, 1..=2),
    )
        .prop_flat_map(|(positive, n, widths)| {
            let count = parameter_count(n, &widths);
            (
                Just(positive),
                Just(n),
                Just(widths),
                prop::collection::vec(-2.0..2.0f64, count),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn host_resolution_matches_core((positive, n, widths, params) in case()) {
        let m = model(positive, n, widths, params);
        match n {
            1 => check::<1>(&m)?,
            2 => check::<2>(&m)?,
            _ => check::<3>(&m)?,
        }
    }
}

#[test]
fn f32_blob_constants_follow_the_rounded_parameters() {
    // Parameters that change when rounded to f32: the blob's constants are those of the
    // rounded parameters, resolved in double-double.
    let params: Vec<f64> = (0..parameter_count(2, &[3, 2]))
        .map(|i| (i as f64 * 0.61 + 0.2).cos() * 1.7 + 1e-9)
        .collect();
    let m = model(true, 2, vec![3, 2], params);
    let m = TrainedModel {
        constants: m.resolve_constants().unwrap(),
        ..m
    };
    let blob = m.to_blob(Scalar::F32).unwrap();
    let read = TrainedModel::from_blob(&blob).unwrap();
    assert_ne!(read.params, m.params);
    assert_ne!(read.constants, m.constants);
    assert_eq!(read.constants, read.resolve_constants().unwrap());
    let exact = read.exact_integral().unwrap().to_f64();
    assert!((exact - 0.75).abs() <= 1e-15 * 0.75, "{exact:e}");
}

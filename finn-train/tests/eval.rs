//! The run-time-size evaluator against finn-core's fixed-size `Finn` built from the same
//! parameters: F, f and box integrals agree for several shapes, kinds and constraints, and bad
//! inputs are typed errors.

use finn_core::jet::{Dim, JetDim};
use finn_core::{
    Activation, Antiderivative, Bound, Constraint, Depth, Domain, Error, Finn, HiddenBlocks, Kind,
    Method, Network, Resolved,
};
use finn_train::eval::Evaluator;
use finn_train::model::Architecture;
use finn_train::solve::initial_parameters;

/// A small deterministic stream in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn architecture(n: usize, kind: Kind, widths: &[usize]) -> Architecture {
    Architecture {
        n,
        kind,
        activation: match kind {
            Kind::Positive => Activation::Sigma,
            Kind::Signed => Activation::Tanh,
        },
        widths: widths.to_vec(),
    }
}

fn close(a: f64, b: f64, what: &str) {
    let tol = 1e-12 * (1.0 + a.abs().max(b.abs()));
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b}");
}

/// Builds the same model both ways and compares them at random points and boxes.
fn compare<const N: usize, const W: usize, const L: usize>(
    kind: Kind,
    widths: &[usize],
    constraint: Option<Constraint<f64>>,
    seed: u64,
) where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f64, W>,
{
    let arch = architecture(N, kind, widths);
    let params = initial_parameters(&arch, seed);
    let net = match kind {
        Kind::Positive => Network::<f64, N, W, L>::positive(widths, &params).unwrap(),
        Kind::Signed => Network::<f64, N, W, L>::signed(Activation::Tanh, widths, &params).unwrap(),
    };
    let mut rng = Lcg(seed ^ 0x5151);
    let lower: [f64; N] = core::array::from_fn(|_| -1.0 - rng.next());
    let upper: [f64; N] = core::array::from_fn(|_| 0.5 + 2.0 * rng.next());
    let finn = Finn::new(net, Domain::new(lower, upper).unwrap(), constraint).unwrap();
    let eval = Evaluator::from_parts(&arch, &params, &lower, &upper, finn.constants()).unwrap();
    assert_eq!(eval.dim(), N);
    close(eval.shift(), finn.shift(), "shift");
    if let Some(c) = constraint {
        if c.bound == Bound::Equal {
            close(eval.integral().unwrap(), c.eps, "integral vs eps");
        }
    }
    close(
        eval.integral().unwrap(),
        finn.integral().unwrap(),
        "domain integral",
    );
    for _ in 0..20 {
        let x: Vec<f64> = (0..N).map(|_| rng.next() * 6.0 - 3.0).collect();
        close(
            eval.antiderivative(&x).unwrap(),
            finn.antiderivative(&x).unwrap(),
            "F",
        );
        close(
            eval.integrand(&x).unwrap(),
            finn.integrand(&x).unwrap(),
            "f",
        );
        let lo: Vec<f64> = (0..N).map(|_| rng.next() * 2.0 - 2.0).collect();
        let hi: Vec<f64> = lo.iter().map(|a| a + 0.1 + rng.next()).collect();
        close(
            eval.integral_over(&lo, &hi).unwrap(),
            finn.integral_over(&lo, &hi).unwrap(),
            "box integral",
        );
    }
}

fn constraints(kind: Kind) -> Vec<Option<Constraint<f64>>> {
    let mut v = vec![None];
    for bound in [Bound::Equal, Bound::AtMost, Bound::AtLeast] {
        // A positive network takes a shift only with AtLeast (never a negative shift).
        if kind == Kind::Signed || bound == Bound::AtLeast {
            v.push(Some(Constraint::new(bound, Method::Shift, 0.7)));
        }
        if kind == Kind::Positive {
            v.push(Some(Constraint::new(bound, Method::Scale, 2.0)));
        }
    }
    v
}

#[test]
fn matches_finn_for_several_shapes() {
    for kind in [Kind::Positive, Kind::Signed] {
        for (i, c) in constraints(kind).into_iter().enumerate() {
            let seed = 11 + i as u64;
            compare::<1, 4, 1>(kind, &[4], c, seed);
            compare::<2, 8, 2>(kind, &[8, 5], c, seed);
            compare::<2, 16, 1>(kind, &[16], c, seed);
            compare::<3, 6, 3>(kind, &[6, 4, 3], c, seed);
        }
    }
}

#[test]
fn typed_errors() {
    let arch = architecture(2, Kind::Positive, &[4]);
    let params = initial_parameters(&arch, 3);
    let ok = Resolved::scaled(1.0);
    let lo = [0.0, 0.0];
    let hi = [1.0, 1.0];
    let e = Evaluator::from_parts(&arch, &params, &lo, &hi, ok).unwrap();
    assert_eq!(
        e.integrand(&[0.0]).unwrap_err(),
        Error::DimensionMismatch {
            expected: 2,
            found: 1
        }
    );
    assert_eq!(
        e.antiderivative(&[0.0, f64::NAN]).unwrap_err(),
        Error::NonFiniteInput
    );
    assert_eq!(
        e.integral_over(&[0.0, 1.0], &[1.0, 1.0]).unwrap_err(),
        Error::EmptyInterval { axis: 1 }
    );
    assert_eq!(
        e.integral_over(&[0.0, 0.0, 0.0], &[1.0, 1.0]).unwrap_err(),
        Error::DimensionMismatch {
            expected: 2,
            found: 3
        }
    );
    assert_eq!(
        e.integral_over(&[f64::INFINITY, 0.0], &[1.0, 1.0])
            .unwrap_err(),
        Error::NonFiniteInput
    );
    // Bad domains and constants are refused when the evaluator is built.
    assert_eq!(
        Evaluator::from_parts(&arch, &params, &[1.0, 0.0], &[0.0, 1.0], ok).unwrap_err(),
        Error::EmptyInterval { axis: 0 }
    );
    assert_eq!(
        Evaluator::from_parts(&arch, &params, &lo, &hi, Resolved::scaled(f64::NAN)).unwrap_err(),
        Error::NonFiniteParameter
    );
    assert_eq!(
        Evaluator::from_parts(&arch, &params, &lo, &hi, Resolved::scaled(-1.0)).unwrap_err(),
        Error::DegenerateIntegral
    );
    let signed = architecture(2, Kind::Signed, &[4]);
    assert_eq!(
        Evaluator::from_parts(&signed, &params, &lo, &hi, Resolved::scaled(2.0)).unwrap_err(),
        Error::ScaleNeedsPositiveNetwork
    );
    assert_eq!(
        Evaluator::from_parts(&arch, &params[1..], &lo, &hi, ok).unwrap_err(),
        Error::DimensionMismatch {
            expected: params.len(),
            found: params.len() - 1
        }
    );
}

#[test]
fn evaluates_a_trained_model_and_its_files() {
    use finn_train::model::TrainedModel;
    let arch = architecture(2, Kind::Positive, &[5, 3]);
    let params = initial_parameters(&arch, 9);
    let (lower, upper) = ([-1.0, 0.0], [2.0, 0.5]);
    let constraint = Constraint::new(Bound::Equal, Method::Scale, 1.5);
    let net = Network::<f64, 2, 5, 2>::positive(&arch.widths, &params).unwrap();
    let finn = Finn::new(net, Domain::new(lower, upper).unwrap(), Some(constraint)).unwrap();
    let model = TrainedModel {
        architecture: arch.clone(),
        domain_lower: lower.to_vec(),
        domain_upper: upper.to_vec(),
        constraint: Some(constraint),
        constants: finn.constants(),
        params: params.clone(),
    };
    let back = TrainedModel::from_json(&model.to_json()).unwrap();
    for m in [&model, &back] {
        let e = Evaluator::new(m).unwrap();
        assert_eq!(e.domain_lower(), &lower);
        assert_eq!(e.domain_upper(), &upper);
        assert_eq!(e.constants(), finn.constants());
        close(e.integral().unwrap(), 1.5, "integral");
        let x = [0.3, 0.2];
        close(e.integrand(&x).unwrap(), finn.integrand(&x).unwrap(), "f");
        close(
            e.antiderivative(&x).unwrap(),
            finn.antiderivative(&x).unwrap(),
            "F",
        );
    }
}

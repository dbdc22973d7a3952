//! Every bad input gets a typed error: never a panic, a NaN or silent garbage.

use finn_core::{
    Activation, Antiderivative, Bound, Constraint, Domain, Error, Finn, Kind, Method, Network,
};

fn positive() -> Network<f64, 2, 4, 2> {
    let p: Vec<f64> = (0..finn_core::parameter_count(2, &[3, 2]))
        .map(|i| 0.3 + 0.1 * i as f64)
        .collect();
    Network::positive(&[3, 2], &p).unwrap()
}

fn unit_square() -> Domain<f64, 2> {
    Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap()
}

#[test]
fn wrong_dimension() {
    let net = positive();
    let e = Error::DimensionMismatch {
        expected: 2,
        found: 3,
    };
    assert_eq!(net.integrand(&[0.0, 0.0, 0.0]), Err(e));
    assert_eq!(net.antiderivative(&[0.0, 0.0, 0.0]), Err(e));
    assert_eq!(
        net.integrand(&[0.0]),
        Err(Error::DimensionMismatch {
            expected: 2,
            found: 1
        })
    );
    assert!(matches!(
        net.integral_over(&[0.0], &[1.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        Domain::<f64, 2>::from_slices(&[0.0], &[1.0, 1.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    // Parameter vectors of the wrong length.
    assert_eq!(
        Network::<f64, 2, 4, 2>::positive(&[3, 2], &[0.0; 5]).unwrap_err(),
        Error::DimensionMismatch {
            expected: 19,
            found: 5
        }
    );
}

#[test]
fn non_finite_input() {
    let net = positive();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(net.integrand(&[bad, 0.0]), Err(Error::NonFiniteInput));
        assert_eq!(net.antiderivative(&[0.0, bad]), Err(Error::NonFiniteInput));
        assert_eq!(
            net.integral_over(&[bad, 0.0], &[1.0, 1.0]),
            Err(Error::NonFiniteInput)
        );
        assert_eq!(
            Domain::new([0.0, bad], [1.0, 1.0]),
            Err(Error::NonFiniteInput)
        );
        let mut p = vec![0.5; 19];
        p[7] = bad;
        assert_eq!(
            Network::<f64, 2, 4, 2>::positive(&[3, 2], &p).unwrap_err(),
            Error::NonFiniteParameter
        );
        let c = Constraint::new(Bound::Equal, Method::Shift, bad);
        assert_eq!(
            Finn::new(positive(), unit_square(), Some(c)).unwrap_err(),
            Error::NonFiniteInput
        );
    }
}

#[test]
fn lower_not_below_upper() {
    let net = positive();
    assert_eq!(
        net.integral_over(&[0.0, 1.0], &[1.0, 1.0]),
        Err(Error::EmptyInterval { axis: 1 })
    );
    assert_eq!(
        net.integral_over(&[2.0, 0.0], &[1.0, 1.0]),
        Err(Error::EmptyInterval { axis: 0 })
    );
    assert_eq!(
        Domain::new([0.0], [0.0]),
        Err(Error::EmptyInterval { axis: 0 })
    );
}

#[test]
fn scale_needs_positive_eps() {
    for eps in [0.0, -1.0] {
        let c = Constraint::new(Bound::Equal, Method::Scale, eps);
        assert_eq!(
            Finn::new(positive(), unit_square(), Some(c)).unwrap_err(),
            Error::NonPositiveEpsilon
        );
    }
}

#[test]
fn scale_on_signed_network() {
    let p = vec![0.5; finn_core::parameter_count(2, &[3])];
    let net = Network::<f64, 2, 4, 2>::signed(Activation::Tanh, &[3], &p).unwrap();
    let c = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    assert_eq!(
        Finn::new(net.clone(), unit_square(), Some(c)).unwrap_err(),
        Error::ScaleNeedsPositiveNetwork
    );
    // Shift is the method for signed networks and works with eps of any sign, 0 included.
    for eps in [-2.0, 0.0, 3.0] {
        let c = Constraint::new(Bound::Equal, Method::Shift, eps);
        let m = Finn::new(net.clone(), unit_square(), Some(c)).unwrap();
        assert!((m.integral().unwrap() - eps).abs() < 1e-14);
    }
}

#[test]
fn degenerate_base_integral() {
    // All output weights 0: the unconstrained integral is exactly 0.
    let mut p = vec![0.5; finn_core::parameter_count(2, &[3])];
    let len = p.len();
    p[len - 3..].fill(0.0);
    let net = Network::<f64, 2, 4, 2>::positive(&[3], &p).unwrap();
    let c = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    assert_eq!(
        Finn::new(net, unit_square(), Some(c)).unwrap_err(),
        Error::DegenerateIntegral
    );
    // An integral that overflows is not finite.
    let p = vec![1e300; finn_core::parameter_count(2, &[3])];
    let net = Network::<f64, 2, 4, 2>::positive(&[3], &p).unwrap();
    assert_eq!(
        Finn::new(net, unit_square(), Some(c)).unwrap_err(),
        Error::DegenerateIntegral
    );
}

#[test]
fn shapes_outside_the_capacity() {
    let p = [0.0; 64];
    let too_wide = Network::<f64, 2, 4, 2>::positive(&[5], &p[..20]);
    assert_eq!(too_wide.unwrap_err(), Error::InvalidShape);
    let too_deep = Network::<f64, 2, 4, 2>::positive(&[1, 1, 1], &p[..10]);
    assert_eq!(too_deep.unwrap_err(), Error::InvalidShape);
    let empty = Network::<f64, 2, 4, 2>::positive(&[], &p[..0]);
    assert_eq!(empty.unwrap_err(), Error::InvalidShape);
    let zero_width = Network::<f64, 2, 4, 2>::positive(&[0], &p[..0]);
    assert_eq!(zero_width.unwrap_err(), Error::InvalidShape);
    // A positive network must use sigma_n: tanh's derivatives change sign.
    let tanh_positive =
        Network::<f64, 2, 4, 2>::new(Kind::Positive, Activation::Tanh, &[1], &p[..4]);
    assert_eq!(tanh_positive.unwrap_err(), Error::InvalidShape);
}

#[test]
fn overflow_is_an_error_not_infinity() {
    let p = vec![1e200; finn_core::parameter_count(2, &[3])];
    let net = Network::<f64, 2, 4, 2>::positive(&[3], &p).unwrap();
    assert_eq!(net.antiderivative(&[1e100, 1e100]), Err(Error::Overflow));
}

#[test]
fn errors_display() {
    let msg = format!("{}", Error::EmptyInterval { axis: 3 });
    assert!(msg.contains("axis 3"), "{msg}");
}

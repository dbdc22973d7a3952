//! A constrained FINN on a mapped domain: its integral over the domain, computed in x by
//! quadrature in the domain's own coordinates (polar for the disk and the annulus, a grid
//! over the triangle for the simplex, a wide grid for all of R), equals the constraint's eps;
//! outside the domain f = 0; a domain off the unit box is refused.

mod common;

use common::gauss_legendre;
use finn_core::{
    parameter_count, Bound, Constraint, Domain, Error, Finn, MappedFinn, Method, Network, Polar,
    RealSpace, Simplex,
};
use proptest::prelude::*;

/// Gauss-Legendre nodes and weights on [-1, 1].
fn rule(m: usize) -> (Vec<f64>, Vec<f64>) {
    gauss_legendre(m).into_iter().unzip()
}

fn params(n: usize, widths: &[usize], seed: f64) -> Vec<f64> {
    (0..parameter_count(n, widths))
        .map(|i| (i as f64 * 0.77 + seed).sin() * 1.3)
        .collect()
}

fn finn2(seed: f64, eps: f64) -> Finn<f64, 2, 6, 2> {
    let net = Network::<f64, 2, 6, 2>::positive(&[4, 3], &params(2, &[4, 3], seed)).unwrap();
    let unit = Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap();
    Finn::new(
        net,
        unit,
        Some(Constraint::new(Bound::Equal, Method::Scale, eps)),
    )
    .unwrap()
}

/// The integral of f over the annulus inner <= rho <= outer in polar coordinates
/// (dA = rho d rho d theta), Gauss-Legendre in rho and theta.
fn polar_integral(f: &MappedFinn<f64, Polar<f64>, 2, 6, 2>, inner: f64, outer: f64) -> f64 {
    let (nodes, weights) = rule(64);
    let mut total = 0.0;
    for (a, wa) in nodes.iter().zip(&weights) {
        let rho = inner + (outer - inner) * 0.5 * (a + 1.0);
        for (b, wb) in nodes.iter().zip(&weights) {
            // theta over (-pi, pi): the map's seam at theta = 0 is a quadrature node-free
            // interior line, split in two halves to keep the rule smooth on each.
            for half in [-1.0, 1.0] {
                let theta = half * std::f64::consts::PI * 0.5 * (b + 1.0);
                let x = [rho * theta.cos(), rho * theta.sin()];
                let v = f.integrand(&x).unwrap();
                total += wa * wb * v * rho * (outer - inner) * 0.5 * std::f64::consts::PI * 0.5;
            }
        }
    }
    total
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn disk_and_annulus_integrals_are_eps(seed in -3.0f64..3.0, eps in 0.1f64..5.0) {
        let disk = MappedFinn::new(finn2(seed, eps), Polar::disk([0.5, -1.0], 2.0).unwrap()).unwrap();
        // Centre the quadrature on the disk's centre.
        let shifted = |x: [f64; 2]| [x[0] + 0.5, x[1] - 1.0];
        let (nodes, weights) = rule(64);
        let mut total = 0.0;
        for (a, wa) in nodes.iter().zip(&weights) {
            let rho = 2.0 * 0.5 * (a + 1.0);
            for (b, wb) in nodes.iter().zip(&weights) {
                for half in [-1.0, 1.0] {
                    let theta = half * std::f64::consts::PI * 0.5 * (b + 1.0);
                    let x = shifted([rho * theta.cos(), rho * theta.sin()]);
                    total += wa * wb * disk.integrand(&x).unwrap() * rho * std::f64::consts::PI * 0.5;
                }
            }
        }
        prop_assert!((total - eps).abs() < 1e-6 * eps, "disk: {total} vs eps {eps}");
        prop_assert!((disk.integral().unwrap() - eps).abs() < 1e-12 * eps);
        prop_assert_eq!(disk.integrand(&[3.0, -1.0]).unwrap(), 0.0);

        let ring = MappedFinn::new(finn2(seed, eps), Polar::annulus([0.0, 0.0], 0.5, 1.5).unwrap()).unwrap();
        let total = polar_integral(&ring, 0.5, 1.5);
        prop_assert!((total - eps).abs() < 1e-6 * eps, "annulus: {total} vs eps {eps}");
        prop_assert_eq!(ring.integrand(&[0.2, 0.0]).unwrap(), 0.0);
    }

    #[test]
    fn simplex_integral_is_eps(seed in -3.0f64..3.0, eps in 0.1f64..5.0) {
        let f = MappedFinn::new(finn2(seed, eps), Simplex::<f64, 2>::new()).unwrap();
        // The triangle x, y >= 0, x + y <= 1 as {0 <= x <= 1, 0 <= y <= 1 - x}.
        let (nodes, weights) = rule(64);
        let mut total = 0.0;
        for (a, wa) in nodes.iter().zip(&weights) {
            let x = 0.5 * (a + 1.0);
            for (b, wb) in nodes.iter().zip(&weights) {
                let y = (1.0 - x) * 0.5 * (b + 1.0);
                total += wa * wb * f.integrand(&[x, y]).unwrap() * 0.25 * (1.0 - x);
            }
        }
        prop_assert!((total - eps).abs() < 1e-5 * eps, "simplex: {total} vs eps {eps}");
        prop_assert_eq!(f.integrand(&[0.7, 0.7]).unwrap(), 0.0);
    }

    #[test]
    fn all_of_r_integral_is_eps(seed in -3.0f64..3.0, eps in 0.1f64..5.0) {
        let net = Network::<f64, 1, 6, 2>::positive(&[5], &params(1, &[5], seed)).unwrap();
        let unit = Domain::new([0.0], [1.0]).unwrap();
        let finn = Finn::new(net, unit, Some(Constraint::new(Bound::Equal, Method::Scale, eps))).unwrap();
        let f = MappedFinn::new(finn, RealSpace::new([1.0], [0.5]).unwrap()).unwrap();
        // Panels over [-40, 40]: the logistic map's tails beyond hold below 1e-30 of the mass.
        let (nodes, weights) = rule(32);
        let mut total = 0.0;
        for panel in 0..400 {
            let (a, b) = (-40.0 + 0.2 * panel as f64, -40.0 + 0.2 * (panel + 1) as f64);
            for (t, w) in nodes.iter().zip(&weights) {
                let x = a + (b - a) * 0.5 * (t + 1.0);
                total += w * (b - a) * 0.5 * f.integrand(&[x]).unwrap();
            }
        }
        prop_assert!((total - eps).abs() < 1e-9 * eps, "R: {total} vs eps {eps}");
    }
}

#[test]
fn a_domain_off_the_unit_box_is_refused_and_nan_is_an_error() {
    let net = Network::<f64, 2, 6, 2>::positive(&[4, 3], &params(2, &[4, 3], 0.3)).unwrap();
    let wide = Domain::new([0.0, 0.0], [1.0, 1.5]).unwrap();
    let finn = Finn::new(net, wide, None).unwrap();
    let disk = Polar::disk([0.0, 0.0], 1.0).unwrap();
    assert_eq!(
        MappedFinn::new(finn, disk).unwrap_err(),
        Error::NotOnUnitBox
    );
    let f = MappedFinn::new(finn2(0.3, 1.0), disk).unwrap();
    assert_eq!(
        f.integrand(&[f64::NAN, 0.0]).unwrap_err(),
        Error::NonFiniteInput
    );
}

#[test]
fn images_of_u_boxes_add_up() {
    let f = MappedFinn::new(finn2(1.1, 2.0), Polar::disk([0.0, 0.0], 1.0).unwrap()).unwrap();
    // Four quarter turns of the disk.
    let quarters: f64 = (0..4)
        .map(|q| {
            let (a, b) = (q as f64 * 0.25, (q + 1) as f64 * 0.25);
            f.image_integral(&[0.0, a], &[1.0, b]).unwrap()
        })
        .sum();
    assert!((quarters - 2.0).abs() < 1e-12, "{quarters}");
}

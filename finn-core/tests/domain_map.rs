//! Domain maps: round trips r(r^-1(x)) and r^-1(r(u)), |det| against central finite
//! differences, mapped densities integrate to 1 in x, samples stay in the domain, the seam
//! jump, and a vanishing Jacobian reported as Overflow.

mod common;

use common::gauss_legendre;
use finn_core::{
    parameter_count, AffineBox, Ball, Bound, Constraint, Density, Domain, DomainMap, Error, Finn,
    MappedDensity, Method, Network, Polar, RealSpace, Simplex,
};
use proptest::prelude::*;

#[allow(clippy::needless_range_loop)]
/// |det dr/du| by central differences of `forward` (step h, u kept inside the box).
fn fd_jacobian<M: DomainMap<f64, N>, const N: usize>(m: &M, u: &[f64; N]) -> f64 {
    let h = 1e-6;
    let mut j = [[0.0; N]; N];
    for k in 0..N {
        let (mut a, mut b) = (*u, *u);
        a[k] -= h;
        b[k] += h;
        let (xa, xb) = (m.forward(&a), m.forward(&b));
        for i in 0..N {
            j[i][k] = (xb[i] - xa[i]) / (2.0 * h);
        }
    }
    // Determinant by Gaussian elimination with partial pivoting.
    let mut det = 1.0;
    for c in 0..N {
        let p = (c..N)
            .max_by(|&x, &y| j[x][c].abs().total_cmp(&j[y][c].abs()))
            .unwrap();
        if p != c {
            j.swap(p, c);
            det = -det;
        }
        det *= j[c][c];
        if j[c][c] == 0.0 {
            return 0.0;
        }
        for r in c + 1..N {
            let f = j[r][c] / j[c][c];
            for k in c..N {
                j[r][k] -= f * j[c][k];
            }
        }
    }
    det.abs()
}

fn check_map<M: DomainMap<f64, N>, const N: usize>(
    m: &M,
    u: &[f64; N],
) -> Result<(), TestCaseError> {
    let x = m.forward(u);
    prop_assert!(x.iter().all(|v| v.is_finite()));
    let back = m.inverse(&x);
    prop_assert!(back.is_some(), "forward({u:?}) = {x:?} not in the domain");
    let back = back.unwrap();
    for i in 0..N {
        prop_assert!(
            (back[i] - u[i]).abs() < 1e-9,
            "u {u:?} -> x {x:?} -> u {back:?}"
        );
    }
    let again = m.forward(&back);
    for i in 0..N {
        prop_assert!((again[i] - x[i]).abs() < 1e-12 * (1.0 + x[i].abs()));
    }
    let fd = fd_jacobian(m, u);
    let j = m.jacobian(u);
    prop_assert!(
        (fd - j).abs() <= 1e-6 * j,
        "|det| {j} vs finite differences {fd} at {u:?}"
    );
    prop_assert!((m.log_jacobian(u) - j.ln()).abs() < 1e-12 * (1.0 + j.ln().abs()));
    Ok(())
}

fn inner(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    lo..hi
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn disk_annulus_sector(u0 in inner(0.01, 0.99), u1 in inner(0.01, 0.99), r in 0.5..3.0f64, start in -7.0..7.0f64, span in 0.3..6.2f64) {
        check_map(&Polar::disk([0.3, -1.0], r).unwrap(), &[u0, u1])?;
        check_map(&Polar::annulus([0.3, -1.0], 0.4 * r, r).unwrap(), &[u0, u1])?;
        check_map(&Polar::sector([0.3, -1.0], r, start, span).unwrap(), &[u0, u1])?;
        check_map(&Polar::annular_sector([0.0, 0.0], 0.2 * r, r, start, span).unwrap(), &[u0, u1])?;
    }

    #[test]
    fn ball(u in prop::collection::vec(inner(0.01, 0.99), 3), r in 0.5..3.0f64) {
        check_map(&Ball::new([1.0, 0.0, -2.0], r).unwrap(), &[u[0], u[1], u[2]])?;
    }

    #[test]
    fn simplex(u in prop::collection::vec(inner(0.001, 0.999), 4)) {
        check_map(&Simplex::<f64, 1>::new(), &[u[0]])?;
        check_map(&Simplex::<f64, 2>::new(), &[u[0], u[1]])?;
        check_map(&Simplex::<f64, 4>::new(), &[u[0], u[1], u[2], u[3]])?;
        let x = Simplex::<f64, 4>::new().forward(&[u[0], u[1], u[2], u[3]]);
        prop_assert!(x.iter().all(|v| *v >= 0.0) && x.iter().sum::<f64>() <= 1.0 + 1e-15);
    }

    #[test]
    fn real_space_and_affine(u in prop::collection::vec(inner(0.01, 0.99), 2), s in 0.1..5.0f64) {
        check_map(&RealSpace::new([1.0, -2.0], [s, 2.0 * s]).unwrap(), &[u[0], u[1]])?;
        check_map(&AffineBox::new([-1.0, 2.0], [1.0, 2.0 + s]).unwrap(), &[u[0], u[1]])?;
    }

    /// Samples of a mapped density land in the domain, even for the uniforms 0 and 1.
    #[test]
    fn samples_stay_in_domain(u in prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64], 3)) {
        let disk = mapped2(Polar::disk([0.0, 0.0], 2.0).unwrap());
        let x = disk.sample(&[u[0], u[1]]).unwrap();
        prop_assert!(x[0].hypot(x[1]) <= 2.0 * (1.0 + 1e-15) && disk.map().inverse(&x).is_some());
        let ann = mapped2(Polar::annulus([1.0, 1.0], 1.0, 2.0).unwrap());
        let x = ann.sample(&[u[0], u[1]]).unwrap();
        prop_assert!(ann.map().inverse(&x).is_some(), "{x:?}");
        let sector = mapped2(Polar::sector([0.0, 0.0], 1.0, 1.0, 2.0).unwrap());
        let x = sector.sample(&[u[0], u[1]]).unwrap();
        prop_assert!(sector.map().inverse(&x).is_some(), "{x:?}");
        let simplex = mapped2(Simplex::new());
        let x = simplex.sample(&[u[0], u[1]]).unwrap();
        prop_assert!(x[0] >= 0.0 && x[1] >= 0.0 && x[0] + x[1] <= 1.0 + 1e-15);
        let plane = mapped2(RealSpace::new([0.0, 0.0], [1.0, 1.0]).unwrap());
        let x = plane.sample(&[u[0], u[1]]).unwrap();
        prop_assert!(x.iter().all(|v| v.is_finite()) && plane.pdf(&x).unwrap().is_finite());
        let ball = mapped3(Ball::new([0.0; 3], 1.0).unwrap());
        let x = ball.sample(&[u[0], u[1], u[2]]).unwrap();
        prop_assert!(ball.map().inverse(&x).is_some(), "{x:?}");
    }
}

fn unit_density<const N: usize>(seed: f64) -> Density<f64, N, 4, 1>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let params: Vec<f64> = (0..parameter_count(N, &[4]))
        .map(|i| 1.2 * ((i as f64) * seed + 0.3).sin())
        .collect();
    let net = Network::<f64, N, 4, 1>::positive(&[4], &params).unwrap();
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let d = Domain::new([0.0; N], [1.0; N]).unwrap();
    Density::new(Finn::new(net, d, Some(one)).unwrap()).unwrap()
}

fn mapped2<M: DomainMap<f64, 2>>(m: M) -> MappedDensity<f64, M, 2, 4, 1> {
    MappedDensity::new(unit_density::<2>(0.9), m).unwrap()
}

fn mapped3<M: DomainMap<f64, 3>>(m: M) -> MappedDensity<f64, M, 3, 4, 1> {
    MappedDensity::new(unit_density::<3>(0.7), m).unwrap()
}

fn integrate(a: f64, b: f64, panels: usize, mut f: impl FnMut(f64) -> f64) -> f64 {
    let gl = gauss_legendre(16);
    let h = (b - a) / panels as f64;
    let mut s = 0.0;
    for k in 0..panels {
        for &(t, w) in &gl {
            s += w * 0.5 * h * f(a + (k as f64 + 0.5 + 0.5 * t) * h);
        }
    }
    s
}

/// The x-densities integrate to 1 over their domains, by quadrature in x coordinates (polar
/// r dr dtheta for the disk and annulus, a plain box for the plane): checks the Jacobian
/// formula end to end.
#[test]
fn mapped_densities_integrate_to_one() {
    let tau = core::f64::consts::TAU;
    for (name, map, r0, r1) in [
        ("disk", Polar::disk([0.5, 0.5], 1.5).unwrap(), 0.0, 1.5),
        (
            "annulus",
            Polar::annulus([0.5, 0.5], 0.5, 1.5).unwrap(),
            0.5,
            1.5,
        ),
    ] {
        let p = mapped2(map);
        let total = integrate(r0, r1, 8, |r| {
            r * integrate(0.0, tau, 16, |t| {
                p.pdf(&[0.5 + r * t.cos(), 0.5 + r * t.sin()]).unwrap()
            })
        });
        assert!((total - 1.0).abs() < 1e-9, "{name}: {total}");
    }
    let p = mapped2(RealSpace::new([0.0, 1.0], [1.0, 0.5]).unwrap());
    let total = integrate(-40.0, 40.0, 64, |x| {
        integrate(-20.0, 22.0, 64, |y| p.pdf(&[x, y]).unwrap())
    });
    assert!((total - 1.0).abs() < 1e-9, "plane: {total}");
    let p = mapped2(Simplex::new());
    let total = integrate(0.0, 1.0, 8, |x| {
        integrate(0.0, 1.0 - x, 8, |y| p.pdf(&[x, y]).unwrap())
    });
    assert!((total - 1.0).abs() < 1e-9, "simplex: {total}");
    let p = mapped3(Ball::new([0.0; 3], 1.0).unwrap());
    // Spherical coordinates: r^2 sin(phi) dr dphi dtheta.
    let total = integrate(0.0, 1.0, 2, |r| {
        integrate(0.0, core::f64::consts::PI, 4, |ph| {
            r * r
                * ph.sin()
                * integrate(0.0, tau, 4, |t| {
                    p.pdf(&[r * ph.sin() * t.cos(), r * ph.sin() * t.sin(), r * ph.cos()])
                        .unwrap()
                })
        })
    });
    assert!((total - 1.0).abs() < 1e-8, "ball: {total}");
    // Images of u-boxes: the disk of radius R / sqrt(2) is the u-box [0, 1/2] x [0, 1].
    let p = mapped2(Polar::disk([0.0, 0.0], 1.0).unwrap());
    let exact = p.image_probability(&[0.0, 0.0], &[0.5, 1.0]).unwrap();
    let r = 0.5f64.sqrt();
    let q = integrate(0.0, r, 8, |s| {
        s * integrate(0.0, tau, 16, |t| {
            p.pdf(&[s * t.cos(), s * t.sin()]).unwrap()
        })
    });
    assert!((exact - q).abs() < 1e-9, "{exact} vs {q}");
}

/// log_pdf of the mapped density: ln(pdf) where pdf is normal, finite deep in the tails of
/// R^n where pdf underflows; -inf outside the domain.
#[test]
fn mapped_log_pdf() {
    let p = mapped2(RealSpace::new([0.0, 0.0], [1.0, 1.0]).unwrap());
    for x in [[0.1, 0.2], [-3.0, 5.0], [20.0, -20.0]] {
        let (l, v) = (p.log_pdf(&x).unwrap(), p.pdf(&x).unwrap());
        assert!((l - v.ln()).abs() < 1e-12 * (1.0 + l.abs()), "{l} vs {v}");
    }
    let l = p.log_pdf(&[-700.0, 1.0]).unwrap();
    assert!(l.is_finite() && l < -690.0, "{l}");
    let disk = mapped2(Polar::disk([0.0, 0.0], 1.0).unwrap());
    assert_eq!(disk.log_pdf(&[1.1, 0.0]).unwrap(), f64::NEG_INFINITY);
    assert_eq!(disk.pdf(&[f64::NAN, 0.0]), Err(Error::NonFiniteInput));
}

/// The seam jump equals the difference of the one-sided limits of the x-density.
#[test]
fn seam_jump_is_the_one_sided_difference() {
    let p = mapped2(Polar::disk([0.0, 0.0], 1.0).unwrap());
    for u0 in [0.1, 0.5, 0.9] {
        let r = f64::sqrt(u0);
        let jump = p.seam_jump(&[u0, 0.3]).unwrap();
        let below = p.pdf(&[r, -1e-10]).unwrap();
        let above = p.pdf(&[r, 1e-10]).unwrap();
        assert!(
            ((below - above).abs() - jump).abs() < 1e-8,
            "{jump} vs {below} - {above}"
        );
    }
    let (max, at) = p.max_seam_jump(100).unwrap();
    assert!(max > 0.0 && at[1] == 0.0);
    // A sector has no seam.
    let s = mapped2(Polar::sector([0.0, 0.0], 1.0, 0.0, 1.0).unwrap());
    assert_eq!(s.seam_jump(&[0.5, 0.0]).unwrap(), 0.0);
}

/// Plain polar coordinates r = u_1: |det| = 2 pi u_1 vanishes at the centre, where the
/// x-density is infinite: reported as Overflow, never NaN or infinity.
#[test]
fn vanishing_jacobian_is_an_error() {
    struct PlainPolar;
    impl DomainMap<f64, 2> for PlainPolar {
        fn forward(&self, u: &[f64; 2]) -> [f64; 2] {
            let t = core::f64::consts::TAU * u[1];
            [u[0] * t.cos(), u[0] * t.sin()]
        }
        fn inverse(&self, x: &[f64; 2]) -> Option<[f64; 2]> {
            let r = x[0].hypot(x[1]);
            (r <= 1.0).then(|| {
                [
                    r,
                    x[1].atan2(x[0]).rem_euclid(core::f64::consts::TAU) / core::f64::consts::TAU,
                ]
            })
        }
        fn jacobian(&self, u: &[f64; 2]) -> f64 {
            core::f64::consts::TAU * u[0]
        }
    }
    let p = mapped2(PlainPolar);
    assert_eq!(p.pdf(&[0.0, 0.0]), Err(Error::Overflow));
    assert_eq!(p.log_pdf(&[0.0, 0.0]), Err(Error::Overflow));
    let near = p.pdf(&[1e-3, 0.0]).unwrap();
    let far = p.pdf(&[0.5, 0.0]).unwrap();
    assert!(
        near > 50.0 * far,
        "f = f_u / r grows at the centre: {near} vs {far}"
    );
    // The area-preserving disk has no such growth.
    let q = mapped2(Polar::disk([0.0, 0.0], 1.0).unwrap());
    assert!(q.pdf(&[0.0, 0.0]).unwrap().is_finite());
}

#[test]
fn bad_maps_and_supports() {
    assert_eq!(
        Polar::disk([0.0, 0.0], -1.0).unwrap_err(),
        Error::EmptyInterval { axis: 0 }
    );
    assert_eq!(
        Polar::sector([0.0, 0.0], 1.0, 0.0, 7.0).unwrap_err(),
        Error::EmptyInterval { axis: 1 }
    );
    assert_eq!(
        Polar::disk([f64::NAN, 0.0], 1.0).unwrap_err(),
        Error::NonFiniteInput
    );
    assert_eq!(
        Ball::new([0.0; 3], 0.0).unwrap_err(),
        Error::EmptyInterval { axis: 0 }
    );
    assert_eq!(
        RealSpace::new([0.0], [0.0]).unwrap_err(),
        Error::EmptyInterval { axis: 0 }
    );
    // A density on [0, 2] cannot sit on a map of the unit box.
    let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap())
        .unwrap();
    assert_eq!(
        MappedDensity::new(p, AffineBox::new([0.0], [1.0]).unwrap()).unwrap_err(),
        Error::NotADensity
    );
}

/// f32 maps: round trips to f32 precision.
#[test]
fn f32_maps() {
    let d = Polar::disk([0.0f32, 0.0], 1.0).unwrap();
    let u = [0.3f32, 0.7];
    let back = d.inverse(&d.forward(&u)).unwrap();
    assert!((back[0] - u[0]).abs() < 1e-6 && (back[1] - u[1]).abs() < 1e-6);
    let b = Ball::new([0.0f32; 3], 2.0).unwrap();
    let u = [0.3f32, 0.2, 0.9];
    let back = b.inverse(&b.forward(&u)).unwrap();
    assert!(
        back.iter().zip(&u).all(|(a, b)| (a - b).abs() < 1e-5),
        "{back:?}"
    );
    let r = RealSpace::new([0.0f32], [1.0]).unwrap();
    assert!(r.forward(&[0.0])[0].is_finite() && r.forward(&[1.0])[0].is_finite());
    let s = Simplex::<f32, 3>::new();
    let x = s.forward(&[1.0, 1.0, 1.0]);
    assert!(s.inverse(&x).is_some());
}

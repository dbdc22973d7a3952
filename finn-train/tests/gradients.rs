//! Exact parameter gradients of f and F: against central finite differences and against
//! num-dual (nested duals whose outermost level carries a direction in parameter space), and
//! the training forward pass against finn-core's fixed-size network.

#[path = "../../finn-core/tests/common/mod.rs"]
mod common;
use common::*;
use finn_core::{Activation, Antiderivative, Kind, Network};
use finn_train::grad::{Net, Trace};
use finn_train::model::Architecture;

fn arch(n: usize, kind: Kind, activation: Activation, widths: &[usize]) -> Architecture {
    Architecture {
        n,
        kind,
        activation,
        widths: widths.to_vec(),
    }
}

/// Random parameters kept away from 0 so |w| is differentiable at them.
fn params(rng: &mut Lcg, a: &Architecture) -> Vec<f64> {
    (0..a.parameter_count())
        .map(|_| {
            let v = rng.uniform(0.1, 0.9);
            if rng.next_f64() < 0.5 {
                -v
            } else {
                v
            }
        })
        .collect()
}

fn kinds() -> [(Kind, Activation, RefKind); 3] {
    [
        (Kind::Positive, Activation::Sigma, RefKind::Positive),
        (Kind::Signed, Activation::Tanh, RefKind::SignedTanh),
        (Kind::Signed, Activation::Sigma, RefKind::SignedSigma),
    ]
}

const SHAPES: [&[usize]; 3] = [&[4], &[3, 3], &[3, 2, 2]];

fn integrand_gradient(a: &Architecture, p: &[f64], x: &[f64]) -> (f64, Vec<f64>) {
    let net = Net::new(a, p).unwrap();
    let mut g = vec![0.0; p.len()];
    let f = net
        .integrand_gradient(x, 1.0, &mut g, &mut Trace::default())
        .unwrap();
    (f, g)
}

fn antiderivative_gradient(a: &Architecture, p: &[f64], x: &[f64]) -> (f64, Vec<f64>) {
    let net = Net::new(a, p).unwrap();
    let mut tr = Trace::default();
    let y = net.antiderivative_forward(x, &mut tr).unwrap();
    let mut g_eff = vec![0.0; p.len()];
    net.antiderivative_backward(x, &mut tr, 1.0, &mut g_eff);
    let mut g = vec![0.0; p.len()];
    net.raw_gradient(&g_eff, &mut g);
    (y, g)
}

#[test]
fn forward_matches_finn_core() {
    let mut rng = Lcg(7);
    for n in 1..=3usize {
        for (kind, act, _) in kinds() {
            for widths in SHAPES {
                let a = arch(n, kind, act, widths);
                let p = params(&mut rng, &a);
                let x: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let (f, _) = integrand_gradient(&a, &p, &x);
                let (y, _) = antiderivative_gradient(&a, &p, &x);
                let (f_core, y_core) = match n {
                    1 => {
                        let net = Network::<f64, 1, 4, 3>::new(kind, act, widths, &p).unwrap();
                        (net.integrand(&x).unwrap(), net.antiderivative(&x).unwrap())
                    }
                    2 => {
                        let net = Network::<f64, 2, 4, 3>::new(kind, act, widths, &p).unwrap();
                        (net.integrand(&x).unwrap(), net.antiderivative(&x).unwrap())
                    }
                    _ => {
                        let net = Network::<f64, 3, 4, 3>::new(kind, act, widths, &p).unwrap();
                        (net.integrand(&x).unwrap(), net.antiderivative(&x).unwrap())
                    }
                };
                assert!(
                    (f - f_core).abs() <= 1e-13 * f_core.abs().max(1e-300),
                    "{f} {f_core}"
                );
                assert!((y - y_core).abs() <= 1e-13 * y_core.abs().max(1e-300));
            }
        }
    }
}

#[test]
fn gradients_match_central_differences() {
    let mut rng = Lcg(11);
    for n in 1..=3usize {
        for (kind, act, _) in kinds() {
            for widths in SHAPES {
                let a = arch(n, kind, act, widths);
                let p = params(&mut rng, &a);
                let x: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let (_, gf) = integrand_gradient(&a, &p, &x);
                let (_, gy) = antiderivative_gradient(&a, &p, &x);
                let h = 1e-6;
                for i in 0..p.len() {
                    let mut up = p.clone();
                    let mut dn = p.clone();
                    up[i] += h;
                    dn[i] -= h;
                    let fd = (integrand_gradient(&a, &up, &x).0
                        - integrand_gradient(&a, &dn, &x).0)
                        / (2.0 * h);
                    let scale = gf.iter().map(|v| v.abs()).fold(1e-8, f64::max);
                    assert!(
                        (gf[i] - fd).abs() <= 1e-6 * scale,
                        "n={n} {kind:?}/{act:?} {widths:?} df/dp[{i}]: exact {} vs fd {fd}",
                        gf[i]
                    );
                    let fy = (antiderivative_gradient(&a, &up, &x).0
                        - antiderivative_gradient(&a, &dn, &x).0)
                        / (2.0 * h);
                    let scale = gy.iter().map(|v| v.abs()).fold(1e-8, f64::max);
                    assert!((gy[i] - fy).abs() <= 1e-6 * scale, "dF/dp[{i}]");
                }
            }
        }
    }
}

/// v . grad f from nested duals: inputs at levels 0..n, the parameter direction at level n.
fn dual_directional<D: Nested>(
    kind: RefKind,
    widths: &[usize],
    p: &[f64],
    v: &[f64],
    x: &[f64],
) -> f64 {
    let n = x.len();
    let xs: Vec<D> = x
        .iter()
        .enumerate()
        .map(|(i, &xi)| D::variable(xi, i))
        .collect();
    let ps: Vec<D> = p
        .iter()
        .zip(v)
        .map(|(&pi, &vi)| D::variable(0.0, n) * D::constant(vi) + D::constant(pi))
        .collect();
    reference_f_with(kind, n, widths, &ps, &xs).top()
}

#[test]
fn gradients_match_nested_duals() {
    let mut rng = Lcg(13);
    for (kind, act, refkind) in kinds() {
        for widths in SHAPES {
            for n in 1..=4usize {
                let a = arch(n, kind, act, widths);
                let p = params(&mut rng, &a);
                let x: Vec<f64> = (0..n).map(|_| rng.uniform(-0.5, 0.5)).collect();
                let v: Vec<f64> = (0..p.len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let (_, g) = integrand_gradient(&a, &p, &x);
                let exact: f64 = g.iter().zip(&v).map(|(a, b)| a * b).sum();
                let dual = match n {
                    1 => dual_directional::<D2>(refkind, widths, &p, &v, &x),
                    2 => dual_directional::<D3>(refkind, widths, &p, &v, &x),
                    3 => dual_directional::<D4>(refkind, widths, &p, &v, &x),
                    _ => dual_directional::<D5>(refkind, widths, &p, &v, &x),
                };
                let scale: f64 = g.iter().zip(&v).map(|(a, b)| (a * b).abs()).sum();
                assert!(
                    (exact - dual).abs() <= 1e-10 * scale.max(1e-12),
                    "n={n} {kind:?}/{act:?} {widths:?}: exact {exact:e} vs duals {dual:e}"
                );
            }
        }
    }
}

/// Regression: at a weight of exactly 0 a positive network's loss has a kink (it sees |w|),
/// and the gradient used to be the right-hand derivative, so for a weight whose growth costs,
/// -g pointed to negative w, that is to a larger |w|: uphill. The entry is now the least-norm
/// subgradient: 0 where a larger |w| costs, the derivative where it gains.
#[test]
fn a_zero_weight_gets_the_least_norm_subgradient() {
    let a = arch(2, Kind::Positive, Activation::Sigma, &[3]);
    let mut rng = Lcg(11);
    let mut p = params(&mut rng, &a);
    let weights: Vec<usize> = (0..p.len()).filter(|&i| a.weight_mask()[i]).collect();
    let (zero, negative) = (weights[0], weights[1]);
    p[zero] = 0.0;
    p[negative] = -p[negative].abs().max(0.1);
    let net = Net::new(&a, &p).unwrap();
    for sign in [1.0, -1.0] {
        let g_eff = vec![sign; p.len()];
        let mut g = vec![0.0; p.len()];
        net.raw_gradient(&g_eff, &mut g);
        // Growing |w| costs (sign > 0): stay; it gains: move w up, to a larger |w|.
        assert_eq!(g[zero], if sign > 0.0 { 0.0 } else { sign });
        assert_eq!(g[negative], -sign);
        // The loss, f = sum g_eff |w| near p, decreases along -g from the kink.
        let step = 1e-3;
        let f = |q: &[f64]| -> f64 { weights.iter().map(|&i| sign * q[i].abs()).sum() };
        let moved: Vec<f64> = p.iter().zip(&g).map(|(v, d)| v - step * d).collect();
        assert!(f(&moved) < f(&p), "{} -> {}", f(&p), f(&moved));
    }
}

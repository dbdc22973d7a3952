//! Gauss-Legendre quadrature: the nodes of the trajectory costs, and independent numerical
//! checks of closed-form integrals (targets, Figure 1).

use std::f64::consts::PI;

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton on the Legendre recurrence).
pub fn gauss_legendre(order: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; order];
    let mut weights = vec![0.0; order];
    for i in 0..order {
        let mut x = (PI * (i as f64 + 0.75) / (order as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=order {
                let k = k as f64;
                let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            // p1 = P_order(x), p0 = P_(order-1)(x).
            dp = order as f64 * (x * p1 - p0) / (x * x - 1.0);
            let step = p1 / dp;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        nodes[i] = x;
        weights[i] = 2.0 / ((1.0 - x * x) * dp * dp);
    }
    (nodes, weights)
}

/// Nodes and weights of composite Gauss-Legendre quadrature on [a, b]: `panels` equal panels
/// of 20 nodes each.
pub fn composite_nodes(a: f64, b: f64, panels: usize) -> Vec<(f64, f64)> {
    let (nodes, weights) = gauss_legendre(20);
    let h = (b - a) / panels as f64;
    (0..panels)
        .flat_map(|p| {
            let c = a + (p as f64 + 0.5) * h;
            nodes
                .iter()
                .zip(&weights)
                .map(move |(t, w)| (c + 0.5 * h * t, 0.5 * h * w))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The integral of `f` over a 2-D box by composite Gauss-Legendre quadrature (`panels` panels
/// per axis, 20 nodes each): an independent check of closed-form integrals.
pub fn quadrature_2d(
    f: impl Fn(&[f64]) -> f64,
    lower: [f64; 2],
    upper: [f64; 2],
    panels: usize,
) -> f64 {
    let xs = composite_nodes(lower[0], upper[0], panels);
    let ys = composite_nodes(lower[1], upper[1], panels);
    let mut sum = 0.0;
    let mut comp = 0.0;
    for (x, wx) in &xs {
        for (y, wy) in &ys {
            // Kahan summation over the ~10^5 terms.
            let term = wx * wy * f(&[*x, *y]) - comp;
            let t = sum + term;
            comp = (t - sum) - term;
            sum = t;
        }
    }
    sum
}

/// Gauss-Legendre (node, weight) pairs on [-1, 1].
pub fn gauss_legendre_pairs(order: usize) -> Vec<(f64, f64)> {
    let (nodes, weights) = gauss_legendre(order);
    nodes.into_iter().zip(weights).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials() {
        let (x, w) = gauss_legendre(20);
        let s: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(38)).sum();
        assert!((s - 2.0 / 39.0).abs() < 1e-14, "{s}");
        assert!((w.iter().sum::<f64>() - 2.0).abs() < 1e-14);
    }
}

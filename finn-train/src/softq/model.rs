//! The soft-Q model on the host: run-time sizes, f64, and the exact gradient of Q(s, a) with
//! respect to every hypernetwork parameter.
//!
//! The layout and the maths are [`finn_core::softq`]'s: a tanh MLP over the state features,
//! a linear head emitting the raw parameters theta(s) of a positive FINN over the actions
//! and the log-scale c(s) = `log_scale` * (last head output), and
//! beta Q(s, a) = c(s) + ln f~(a; theta(s)). The gradient chains
//!
//! ```text
//! d(beta Q)/d theta_j = (d f~/d theta_j) / f~    (grad::Net on the emitted parameters)
//! d(beta Q)/d c_raw   = log_scale
//! ```
//!
//! back through the linear head and the tanh layers (plain reverse mode).

use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use finn_core::{Activation, Kind};
use serde::{Deserialize, Serialize};

/// The sizes and settings of a soft-Q model (everything but the parameters).
///
/// ```
/// use finn_train::softq::model::Shape;
/// let shape = Shape::pendulum(&[32, 32], 8, 2.0, 200.0);
/// assert_eq!(shape.head_outputs(), 3 * 8 + 1);
/// assert!(shape.parameter_count() > 32 * 32);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Number of state features S.
    pub state_dim: usize,
    /// Hypernetwork hidden widths (1 or 2 layers, tanh).
    pub state_widths: Vec<usize>,
    /// Action-network hidden widths (positive, sigma_m).
    pub action_widths: Vec<usize>,
    /// Lower corner of the action box A.
    pub action_lower: Vec<f64>,
    /// Upper corner of the action box A.
    pub action_upper: Vec<f64>,
    /// Inverse temperature beta.
    pub beta: f64,
    /// The unit of c(s): c = `log_scale` * (last head output).
    pub log_scale: f64,
}

impl Shape {
    /// Pendulum-v1's shape: 3 features, one action in [-2, 2], one hidden layer of `bumps`
    /// units in the action network.
    pub fn pendulum(state_widths: &[usize], bumps: usize, beta: f64, log_scale: f64) -> Shape {
        Shape {
            state_dim: 3,
            state_widths: state_widths.to_vec(),
            action_widths: vec![bumps],
            action_lower: vec![-2.0],
            action_upper: vec![2.0],
            beta,
            log_scale,
        }
    }

    /// The action network's architecture.
    pub fn action_architecture(&self) -> Architecture {
        Architecture {
            n: self.action_lower.len(),
            kind: Kind::Positive,
            activation: Activation::Sigma,
            widths: self.action_widths.clone(),
        }
    }

    /// Head outputs: the action network's parameters and c.
    pub fn head_outputs(&self) -> usize {
        self.action_architecture().parameter_count() + 1
    }

    /// Length of the flat parameter vector (finn-core's [`finn_core::softq`] layout).
    pub fn parameter_count(&self) -> usize {
        let mut count = 0;
        let mut fan_in = self.state_dim;
        for &w in &self.state_widths {
            count += w * fan_in + w;
            fan_in = w;
        }
        let out = self.head_outputs();
        count + out * fan_in + out
    }

    /// The volume |A|.
    pub fn action_volume(&self) -> f64 {
        self.action_lower
            .iter()
            .zip(&self.action_upper)
            .map(|(a, b)| b - a)
            .product()
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Config(format!("softq model: {m}")));
        if self.state_dim == 0 {
            return bad("state_dim must be > 0");
        }
        if self.state_widths.is_empty() || self.state_widths.len() > 2 {
            return bad("state_widths needs 1 or 2 hidden layers");
        }
        if self.state_widths.contains(&0) || self.action_widths.contains(&0) {
            return bad("widths must be > 0");
        }
        let m = self.action_lower.len();
        if m == 0 || m > 3 || self.action_upper.len() != m {
            return bad("the action box needs 1 to 3 axes, lower and upper of equal length");
        }
        if self
            .action_lower
            .iter()
            .zip(&self.action_upper)
            .any(|(a, b)| !(a.is_finite() && b.is_finite() && a < b))
        {
            return bad("action box: each lower must be below its upper, both finite");
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return bad("beta must be finite and > 0");
        }
        if !(self.log_scale.is_finite() && self.log_scale > 0.0) {
            return bad("log_scale must be finite and > 0");
        }
        Ok(())
    }
}

/// Scratch space of one forward/backward pass (reused across samples).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    layers: Vec<Vec<f64>>,
    head: Vec<f64>,
    head_bar: Vec<f64>,
    eff_bar: Vec<f64>,
    trace: Trace,
}

/// The hidden activations and head outputs at one state (kept in `scratch`).
fn hyper_forward(shape: &Shape, p: &[f64], s: &[f64], scratch: &mut Scratch) {
    scratch.layers.clear();
    let mut offset = 0;
    let mut input: Vec<f64> = s.to_vec();
    for &w in &shape.state_widths {
        let fan_in = input.len();
        let (weights, biases) = p[offset..offset + w * fan_in + w].split_at(w * fan_in);
        let out: Vec<f64> = (0..w)
            .map(|k| {
                let z = biases[k]
                    + weights[k * fan_in..(k + 1) * fan_in]
                        .iter()
                        .zip(&input)
                        .map(|(a, b)| a * b)
                        .sum::<f64>();
                z.tanh()
            })
            .collect();
        offset += w * fan_in + w;
        scratch.layers.push(out.clone());
        input = out;
    }
    let outputs = shape.head_outputs();
    let fan_in = input.len();
    let (weights, biases) =
        p[offset..offset + outputs * fan_in + outputs].split_at(outputs * fan_in);
    scratch.head.clear();
    for o in 0..outputs {
        let row = &weights[o * fan_in..(o + 1) * fan_in];
        scratch
            .head
            .push(biases[o] + row.iter().zip(&input).map(|(a, b)| a * b).sum::<f64>());
    }
}

/// Q(s, a) and, with `seed = Some((w, grad))`, `w * dQ/d(params)` added into `grad`.
///
/// Errors: `Core` for non-finite values or an f~ that underflows to 0 (`Overflow`).
///
/// ```
/// use finn_train::softq::model::{q_and_gradient, Scratch, Shape};
/// let shape = Shape::pendulum(&[4], 2, 1.0, 10.0);
/// let p: Vec<f64> = (0..shape.parameter_count()).map(|i| (i as f64 * 0.3).sin()).collect();
/// let mut g = vec![0.0; p.len()];
/// let q = q_and_gradient(&shape, &p, &[1.0, 0.0, 0.1], &[0.5], Some((1.0, &mut g)), &mut Scratch::default()).unwrap();
/// assert!(q.is_finite() && g.iter().any(|v| *v != 0.0));
/// ```
pub fn q_and_gradient(
    shape: &Shape,
    p: &[f64],
    s: &[f64],
    a: &[f64],
    seed: Option<(f64, &mut [f64])>,
    scratch: &mut Scratch,
) -> Result<f64, TrainError> {
    match seed {
        None => q_with(shape, p, s, a, None, 0.0, scratch),
        Some((w, g)) => q_with(shape, p, s, a, Some((&|_| w, g)), 0.0, scratch),
    }
}

/// Q(s, a) and `w(Q) * dQ/d(params)` added into the gradient, from one forward pass: for a
/// loss whose derivative in Q depends on Q, such as w(Q) = (Q - y) / batch for a squared error.
///
/// With `gauge > 0` it also adds the gradient of `gauge / 2 * (ln Z)^2`, Z the integral of
/// f~(s, .) over A. beta Q = c + ln f~ is unchanged when f~ is multiplied by k and c lowered
/// by ln k, so nothing in the regression pins the size of f~; left free it drifts (bumps
/// pushed out of A, f~ underflowing where the policy is sampled). The penalty fixes that
/// gauge softly (Z near 1, c near beta V) without changing the model.
///
/// ```
/// use finn_train::softq::model::{q_and_gradient, residual_gradient, Scratch, Shape};
/// let shape = Shape::pendulum(&[4], 2, 1.0, 10.0);
/// let p: Vec<f64> = (0..shape.parameter_count()).map(|i| (i as f64 * 0.3).sin()).collect();
/// let (s, a) = ([1.0, 0.0, 0.1], [0.5]);
/// let mut g1 = vec![0.0; p.len()];
/// let q = residual_gradient(&shape, &p, &s, &a, &|q| q - 1.0, 0.0, &mut g1, &mut Scratch::default()).unwrap();
/// let mut g2 = vec![0.0; p.len()];
/// q_and_gradient(&shape, &p, &s, &a, Some((q - 1.0, &mut g2)), &mut Scratch::default()).unwrap();
/// assert_eq!(g1, g2);
/// ```
// The model, the point, the loss's two weights and the outputs: grouping them would only
// rename them.
#[allow(clippy::too_many_arguments)]
pub fn residual_gradient(
    shape: &Shape,
    p: &[f64],
    s: &[f64],
    a: &[f64],
    weight: &dyn Fn(f64) -> f64,
    gauge: f64,
    grad: &mut [f64],
    scratch: &mut Scratch,
) -> Result<f64, TrainError> {
    q_with(shape, p, s, a, Some((weight, grad)), gauge, scratch)
}

/// The gradient seed as a function of Q.
type Seed<'a> = Option<(&'a dyn Fn(f64) -> f64, &'a mut [f64])>;

fn q_with(
    shape: &Shape,
    p: &[f64],
    s: &[f64],
    a: &[f64],
    seed: Seed<'_>,
    gauge: f64,
    scratch: &mut Scratch,
) -> Result<f64, TrainError> {
    hyper_forward(shape, p, s, scratch);
    let outputs = shape.head_outputs();
    let arch = shape.action_architecture();
    let raw = scratch.head[..outputs - 1].to_vec();
    let c = shape.log_scale * scratch.head[outputs - 1];
    let net = Net::new(&arch, &raw)?;
    let f = net.integrand_forward(a, &mut scratch.trace)?;
    if !(f > 0.0 && f.is_finite()) {
        return Err(finn_core::Error::Overflow.into());
    }
    let q = (c + f.ln()) / shape.beta;
    let Some((weight, grad)) = seed else {
        return Ok(q);
    };
    let w = weight(q);
    // d(Q)/d(head outputs).
    scratch.eff_bar.clear();
    scratch.eff_bar.resize(outputs - 1, 0.0);
    net.integrand_backward(
        a,
        &mut scratch.trace,
        w / (shape.beta * f),
        &mut scratch.eff_bar,
    );
    if gauge > 0.0 {
        let (lo, hi) = (&shape.action_lower, &shape.action_upper);
        let z = net.corner_sum(lo, hi, &mut scratch.trace, None)?;
        if z > 0.0 && z.is_finite() {
            let seed = Some((gauge * z.ln() / z, scratch.eff_bar.as_mut_slice()));
            net.corner_sum(lo, hi, &mut scratch.trace, seed)?;
        }
    }
    scratch.head_bar.clear();
    scratch.head_bar.resize(outputs, 0.0);
    net.raw_gradient(&scratch.eff_bar, &mut scratch.head_bar[..outputs - 1]);
    scratch.head_bar[outputs - 1] = w * shape.log_scale / shape.beta;
    backward(shape, p, s, scratch, grad);
    Ok(q)
}

/// Reverse mode through the head and the tanh layers, from `scratch.head_bar`.
fn backward(shape: &Shape, p: &[f64], s: &[f64], scratch: &Scratch, grad: &mut [f64]) {
    // Offsets of each layer.
    let mut offsets = Vec::new();
    let mut offset = 0;
    let mut fan_in = shape.state_dim;
    for &w in &shape.state_widths {
        offsets.push((offset, fan_in, w));
        offset += w * fan_in + w;
        fan_in = w;
    }
    let outputs = shape.head_outputs();
    let last = scratch.layers.last().map_or(s, |v| v.as_slice());
    let mut h_bar = vec![0.0; fan_in];
    for o in 0..outputs {
        let gb = scratch.head_bar[o];
        if gb == 0.0 {
            continue;
        }
        let row = offset + o * fan_in;
        for k in 0..fan_in {
            grad[row + k] += gb * last[k];
            h_bar[k] += gb * p[row + k];
        }
        grad[offset + outputs * fan_in + o] += gb;
    }
    for (l, &(off, fan_in, width)) in offsets.iter().enumerate().rev() {
        let h = &scratch.layers[l];
        let input: &[f64] = if l == 0 { s } else { &scratch.layers[l - 1] };
        let mut in_bar = vec![0.0; fan_in];
        for k in 0..width {
            let z_bar = h_bar[k] * (1.0 - h[k] * h[k]);
            let row = off + k * fan_in;
            for i in 0..fan_in {
                grad[row + i] += z_bar * input[i];
                in_bar[i] += z_bar * p[row + i];
            }
            grad[off + width * fan_in + k] += z_bar;
        }
        h_bar = in_bar;
    }
}

/// Initial parameters: Glorot-uniform hidden layers, a head of small weights whose biases
/// spread `bumps` Gaussian bumps of width about 1 evenly over each action axis (a nearly flat
/// f~, so the first policy explores the whole box), c's bias 0.
///
/// ```
/// use finn_train::softq::model::{initial_parameters, Shape};
/// let shape = Shape::pendulum(&[16], 4, 1.0, 10.0);
/// assert_eq!(initial_parameters(&shape, 1).len(), shape.parameter_count());
/// ```
pub fn initial_parameters(shape: &Shape, seed: u64) -> Vec<f64> {
    let mut rng = crate::random::SplitMix64::new(seed);
    let mut p = Vec::with_capacity(shape.parameter_count());
    let mut fan_in = shape.state_dim;
    for &w in &shape.state_widths {
        let r = (6.0 / (fan_in + w) as f64).sqrt();
        for _ in 0..w * fan_in {
            p.push(r * (2.0 * rng.unit() - 1.0));
        }
        p.extend(std::iter::repeat_n(0.0, w));
        fan_in = w;
    }
    let outputs = shape.head_outputs();
    let r = 0.1 / (fan_in as f64).sqrt();
    for _ in 0..outputs * fan_in {
        p.push(r * (2.0 * rng.unit() - 1.0));
    }
    // Head biases: the action network's raw parameters, then c.
    let m = shape.action_lower.len();
    let arch = shape.action_architecture();
    let mut bias = vec![0.0; outputs];
    let first = shape.action_widths[0];
    for j in 0..first {
        let t = (j as f64 + 0.5) / first as f64;
        let mut z0 = 0.0;
        for i in 0..m {
            let (a, b) = (shape.action_lower[i], shape.action_upper[i]);
            let w = 2.0 / (b - a);
            bias[j * m + i] = w;
            z0 -= w * (a + t * (b - a));
        }
        bias[first * m + j] = z0;
    }
    // Deeper layers (if any) and the output weights: 1 (raw), biases 0.
    let mut offset = first * m + first;
    let mut fan = first;
    for &w in &shape.action_widths[1..] {
        for v in &mut bias[offset..offset + w * fan] {
            *v = 1.0 / fan as f64;
        }
        offset += w * fan + w;
        fan = w;
    }
    for v in &mut bias[offset..arch.parameter_count()] {
        *v = 1.0;
    }
    p.extend(bias);
    p
}

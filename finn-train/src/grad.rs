//! Exact gradients of F and f = d_1...d_n F with respect to every parameter, by reverse mode
//! through the same computation finn-core performs (closed form for one hidden layer, jets and
//! Faa di Bruno for deeper ones). The backward sweep costs a small constant times the forward
//! one, so a loss and its gradient cost the same order.
//!
//! Parameters follow finn-core's flat layout. Gradients are first taken with respect to the
//! *effective* weights (|w| for positive networks) and then chained through the map
//! ([`Net::raw_gradient`]).

use crate::model::Architecture;
use finn_core::activation::MAX_DIM;
use finn_core::jet::{compose, compose_adjoint, weight_products};
use finn_core::{Error, Kind, Real};

/// Offsets of one hidden layer's parameters in the flat vector.
#[derive(Clone, Copy, Debug)]
struct Layer {
    width: usize,
    fan_in: usize,
    weights: usize,
    biases: usize,
}

/// A network ready for repeated evaluation: the architecture, its effective parameters and the
/// layer offsets.
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::{grad::{Net, Trace}, model::Architecture};
/// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![1] };
/// // F(x) = 2 tanh(3x + 0.5): f = 6 sech^2(3x + 0.5); df/d(output weight) = f / 2.
/// let params = [3.0, 0.5, 2.0];
/// let net = Net::new(&arch, &params).unwrap();
/// let mut trace = Trace::default();
/// let mut g = vec![0.0; 3];
/// let f = net.integrand_gradient(&[0.1], 1.0, &mut g, &mut trace).unwrap();
/// assert!((g[2] - f / 2.0).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct Net<'a> {
    arch: &'a Architecture,
    raw: &'a [f64],
    eff: Vec<f64>,
    layers: Vec<Layer>,
    output: usize,
}

/// Intermediate values of one forward pass, kept for the backward pass (reused across samples
/// to avoid allocating per sample).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Activation derivatives of order 0..=n+1 per unit, per layer.
    d: Vec<Vec<f64>>,
    /// First-layer weight products, per unit and subset.
    prodw: Vec<f64>,
    /// Output jets per layer (`[unit * 2^n + subset]`); plain values for F.
    jets: Vec<Vec<f64>>,
    /// Pre-activation jets per layer (layers >= 1).
    pre: Vec<Vec<f64>>,
    /// Adjoints of `jets`.
    jets_bar: Vec<Vec<f64>>,
}

macro_rules! by_dim {
    ($n:expr, $f:ident::<$t:ty>($($arg:expr),*)) => {
        match $n {
            1 => $f::<$t, 1>($($arg),*),
            2 => $f::<$t, 2>($($arg),*),
            3 => $f::<$t, 3>($($arg),*),
            4 => $f::<$t, 4>($($arg),*),
            5 => $f::<$t, 5>($($arg),*),
            6 => $f::<$t, 6>($($arg),*),
            7 => $f::<$t, 7>($($arg),*),
            _ => $f::<$t, 8>($($arg),*),
        }
    };
}

mod batch;
pub mod tables;
pub use batch::BLOCK;

fn resize(v: &mut Vec<Vec<f64>>, layers: usize) {
    v.resize_with(layers, Vec::new);
}

impl<'a> Net<'a> {
    /// Checks the shape and parameters and computes the effective weights.
    ///
    /// Errors: `InvalidShape`, `DimensionMismatch` (parameter count), `NonFiniteParameter`.
    pub fn new(arch: &'a Architecture, raw: &'a [f64]) -> Result<Self, Error> {
        if arch.n == 0
            || arch.n > MAX_DIM
            || arch.widths.is_empty()
            || arch.widths.contains(&0)
            || (arch.kind == Kind::Positive && arch.activation != finn_core::Activation::Sigma)
        {
            return Err(Error::InvalidShape);
        }
        let expected = arch.parameter_count();
        if raw.len() != expected {
            return Err(Error::DimensionMismatch {
                expected,
                found: raw.len(),
            });
        }
        if raw.iter().any(|p| !p.is_finite()) {
            return Err(Error::NonFiniteParameter);
        }
        let mut layers = Vec::with_capacity(arch.widths.len());
        let mut offset = 0;
        let mut fan_in = arch.n;
        for &width in &arch.widths {
            layers.push(Layer {
                width,
                fan_in,
                weights: offset,
                biases: offset + width * fan_in,
            });
            offset += width * fan_in + width;
            fan_in = width;
        }
        let mut eff = raw.to_vec();
        if arch.kind == Kind::Positive {
            // Biases stay free; every weight (hidden and output) goes through |.|.
            for l in &layers {
                for w in &mut eff[l.weights..l.biases] {
                    *w = w.abs();
                }
            }
            for w in &mut eff[offset..] {
                *w = w.abs();
            }
        }
        Ok(Net {
            arch,
            raw,
            eff,
            layers,
            output: offset,
        })
    }

    fn order(&self) -> usize {
        self.arch.n + 2
    }

    fn derivatives(&self, z: f64, out: &mut [f64]) -> Result<(), Error> {
        self.arch.activation.derivatives(self.arch.n, z, out)
    }

    /// F(x) evaluated in another precision `U` (the parameters widen exactly), with
    /// finn-core's activation code: `U` = [`finn_core::dd::DoubleDouble`] gives F to about 32
    /// digits, which is how the host resolves constraint constants
    /// ([`crate::model::wide_base_integral`]). The sums run in finn-core's order (bias first,
    /// then the weighted inputs), so for a network of fixed size the value equals
    /// [`finn_core::Network::antiderivative_wide`]'s.
    ///
    /// Errors: `DimensionMismatch`, `NonFiniteInput`, `Overflow`.
    ///
    /// ```
    /// use finn_core::{dd::DoubleDouble, Activation, Kind, Real};
    /// use finn_train::{grad::Net, model::Architecture};
    /// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![1] };
    /// let params = [1.0, 0.0, 1.0];
    /// let net = Net::new(&arch, &params).unwrap();
    /// let f = net.antiderivative_wide(&[DoubleDouble::from_f64(0.5)]).unwrap();
    /// // tanh(1/2) = 0.46211715726000974 + 2.1916603238260928e-17.
    /// assert!((f.lo() - 2.1916603238260928e-17).abs() < 1e-31);
    /// ```
    pub fn antiderivative_wide<U: Real>(&self, x: &[U]) -> Result<U, Error> {
        if x.len() != self.arch.n {
            return Err(Error::DimensionMismatch {
                expected: self.arch.n,
                found: x.len(),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        let wide = |v: f64| U::from_f64(v);
        let mut input: Vec<U> = x.to_vec();
        for layer in &self.layers {
            let mut out = Vec::with_capacity(layer.width);
            for k in 0..layer.width {
                let row = &self.eff[layer.weights + k * layer.fan_in..][..layer.fan_in];
                let mut z = wide(self.eff[layer.biases + k]);
                for (w, h) in row.iter().zip(&input) {
                    z += wide(*w) * *h;
                }
                out.push(self.arch.activation.value(self.arch.n, z)?);
            }
            input = out;
        }
        let mut y = U::ZERO;
        for (a, h) in self.eff[self.output..].iter().zip(&input) {
            y += wide(*a) * *h;
        }
        if y.is_finite() {
            Ok(y)
        } else {
            Err(Error::Overflow)
        }
    }

    /// F(x), recording what [`Net::antiderivative_backward`] needs.
    pub fn antiderivative_forward(&self, x: &[f64], tr: &mut Trace) -> Result<f64, Error> {
        self.check_point(x)?;
        let depth = self.layers.len();
        resize(&mut tr.d, depth);
        resize(&mut tr.jets, depth);
        let mut d2 = [0.0; 2];
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = tr.jets.split_at_mut(l);
            let input: &[f64] = if l == 0 { x } else { &before[l - 1] };
            let out = &mut after[0];
            out.clear();
            let d = &mut tr.d[l];
            d.clear();
            for k in 0..layer.width {
                let row = &self.eff[layer.weights + k * layer.fan_in..][..layer.fan_in];
                let z = self.eff[layer.biases + k] + dot(row, input);
                self.derivatives(z, &mut d2)?;
                out.push(d2[0]);
                d.push(d2[1]);
            }
        }
        let last = &tr.jets[depth - 1];
        Ok(dot(&self.eff[self.output..], last))
    }

    /// Adds `seed * dF/d(effective parameter)` into `g` after [`Net::antiderivative_forward`].
    pub fn antiderivative_backward(&self, x: &[f64], tr: &mut Trace, seed: f64, g: &mut [f64]) {
        let depth = self.layers.len();
        resize(&mut tr.jets_bar, depth);
        let last = &tr.jets[depth - 1];
        for (gi, h) in g[self.output..].iter_mut().zip(last) {
            *gi += seed * h;
        }
        let mut h_bar: Vec<f64> = self.eff[self.output..].iter().map(|a| seed * a).collect();
        for l in (0..depth).rev() {
            let layer = self.layers[l];
            let input: &[f64] = if l == 0 { x } else { &tr.jets[l - 1] };
            let mut in_bar = vec![0.0; layer.fan_in];
            for k in 0..layer.width {
                let z_bar = h_bar[k] * tr.d[l][k];
                g[layer.biases + k] += z_bar;
                let w = layer.weights + k * layer.fan_in;
                for i in 0..layer.fan_in {
                    g[w + i] += z_bar * input[i];
                    in_bar[i] += z_bar * self.eff[w + i];
                }
            }
            h_bar = in_bar;
        }
    }

    /// f(x) = d_1...d_n F(x), recording what [`Net::integrand_backward`] needs.
    pub fn integrand_forward(&self, x: &[f64], tr: &mut Trace) -> Result<f64, Error> {
        self.check_point(x)?;
        let n = self.arch.n;
        let jlen = 1usize << n;
        let full = jlen - 1;
        let ord = self.order();
        let depth = self.layers.len();
        resize(&mut tr.d, depth);
        resize(&mut tr.jets, depth);
        resize(&mut tr.pre, depth);
        let l0 = self.layers[0];
        // Layer 1: closed-form jets.
        tr.d[0].resize(l0.width * ord, 0.0);
        tr.prodw.resize(l0.width * jlen, 0.0);
        tr.jets[0].resize(l0.width * jlen, 0.0);
        for j in 0..l0.width {
            let row = &self.eff[l0.weights + j * n..][..n];
            let z = self.eff[l0.biases + j] + dot(row, x);
            let d = &mut tr.d[0][j * ord..][..ord];
            self.derivatives(z, d)?;
            let pw = &mut tr.prodw[j * jlen..][..jlen];
            weight_products(row, pw)?;
            if depth > 1 {
                for (s, (p, w)) in tr.jets[0][j * jlen..][..jlen]
                    .iter_mut()
                    .zip(pw.iter())
                    .enumerate()
                {
                    *p = d[s.count_ones() as usize] * w;
                }
            } else {
                tr.jets[0][j * jlen + full] = d[n] * pw[full];
            }
        }
        for l in 1..depth {
            let layer = self.layers[l];
            let last = l + 1 == depth;
            let (before, after) = tr.jets.split_at_mut(l);
            let prev = &before[l - 1];
            let out = &mut after[0];
            out.clear();
            out.resize(layer.width * jlen, 0.0);
            let pre = &mut tr.pre[l];
            pre.clear();
            pre.resize(layer.width * jlen, 0.0);
            let dl = &mut tr.d[l];
            dl.resize(layer.width * ord, 0.0);
            for k in 0..layer.width {
                let u = &mut pre[k * jlen..][..jlen];
                u[0] = self.eff[layer.biases + k];
                let row = &self.eff[layer.weights + k * layer.fan_in..][..layer.fan_in];
                for (w, pj) in row.iter().zip(prev.chunks_exact(jlen)) {
                    for (c, p) in u.iter_mut().zip(pj) {
                        *c += w * p;
                    }
                }
                let d = &mut dl[k * ord..][..ord];
                self.derivatives(u[0], d)?;
                let v = &mut out[k * jlen..][..jlen];
                by_dim!(n, compose::<f64>(&d[..n + 1], u, v, last))?;
            }
        }
        let last = &tr.jets[depth - 1];
        let f: f64 = self.eff[self.output..]
            .iter()
            .enumerate()
            .map(|(k, a)| a * last[k * jlen + full])
            .sum();
        if f.is_finite() {
            Ok(f)
        } else {
            Err(Error::Overflow)
        }
    }

    /// Adds `seed * df/d(effective parameter)` into `g` after [`Net::integrand_forward`] at the
    /// same `x`.
    pub fn integrand_backward(&self, x: &[f64], tr: &mut Trace, seed: f64, g: &mut [f64]) {
        let n = self.arch.n;
        let jlen = 1usize << n;
        let full = jlen - 1;
        let ord = self.order();
        let depth = self.layers.len();
        resize(&mut tr.jets_bar, depth);
        for (l, layer) in self.layers.iter().enumerate() {
            let jb = &mut tr.jets_bar[l];
            jb.clear();
            jb.resize(layer.width * jlen, 0.0);
        }
        let width_last = self.layers[depth - 1].width;
        for k in 0..width_last {
            g[self.output + k] += seed * tr.jets[depth - 1][k * jlen + full];
            tr.jets_bar[depth - 1][k * jlen + full] = seed * self.eff[self.output + k];
        }
        let mut u_bar = vec![0.0; jlen];
        let mut d_bar = [0.0; MAX_DIM + 1];
        for l in (1..depth).rev() {
            let layer = self.layers[l];
            let last = l + 1 == depth;
            let (bars_before, bars_after) = tr.jets_bar.split_at_mut(l);
            let prev_bar = &mut bars_before[l - 1];
            let v_bar_all = &bars_after[0];
            for k in 0..layer.width {
                let v_bar = &v_bar_all[k * jlen..][..jlen];
                if v_bar.iter().all(|v| *v == 0.0) {
                    continue;
                }
                let u = &tr.pre[l][k * jlen..][..jlen];
                let d = &tr.d[l][k * ord..][..ord];
                u_bar.iter_mut().for_each(|v| *v = 0.0);
                d_bar.iter_mut().for_each(|v| *v = 0.0);
                // Slice lengths follow from the architecture `Net::new` checked: cannot fail.
                let _ = by_dim!(
                    n,
                    compose_adjoint::<f64>(
                        &d[..n + 1],
                        u,
                        v_bar,
                        &mut u_bar,
                        &mut d_bar[..n + 1],
                        last
                    )
                );
                // The derivative values d[k] depend on u[0]: d(sigma^(k))/du0 = sigma^(k+1).
                u_bar[0] += (0..=n).map(|o| d_bar[o] * d[o + 1]).sum::<f64>();
                g[layer.biases + k] += u_bar[0];
                let w = layer.weights + k * layer.fan_in;
                let prev = &tr.jets[l - 1];
                for j in 0..layer.fan_in {
                    let pj = &prev[j * jlen..][..jlen];
                    g[w + j] += dot(&u_bar, pj);
                    let wkj = self.eff[w + j];
                    for (pb, ub) in prev_bar[j * jlen..][..jlen].iter_mut().zip(&u_bar) {
                        *pb += wkj * ub;
                    }
                }
            }
        }
        // Layer 1: p_j[S] = d_j[|S|] prodw_j[S], with z_j = b_j + w_j . x.
        let l0 = self.layers[0];
        let mut pw_bar = vec![0.0; jlen];
        for j in 0..l0.width {
            let jb = &tr.jets_bar[0][j * jlen..][..jlen];
            let pw = &tr.prodw[j * jlen..][..jlen];
            let d = &tr.d[0][j * ord..][..ord];
            let mut z_bar = 0.0;
            let mut any = false;
            for s in 0..jlen {
                let b = jb[s];
                if b != 0.0 {
                    any = true;
                }
                let k = s.count_ones() as usize;
                z_bar += b * pw[s] * d[k + 1];
                pw_bar[s] = b * d[k];
            }
            if !any {
                continue;
            }
            g[l0.biases + j] += z_bar;
            let w = l0.weights + j * n;
            for i in 0..n {
                let bit = 1usize << i;
                let mut acc = 0.0;
                for s in 0..jlen {
                    if s & bit != 0 {
                        acc += pw_bar[s] * pw[s ^ bit];
                    }
                }
                g[w + i] += z_bar * x[i] + acc;
            }
        }
    }

    /// The vertex sum of F over the box [lower, upper] (paper Eq. 4): the integral of f over
    /// it. With `seed = Some((s, g))`, adds s * d(sum)/d(effective parameters) into `g`.
    ///
    /// ```
    /// use finn_core::{Activation, Kind};
    /// use finn_train::{grad::{Net, Trace}, model::Architecture};
    /// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![1] };
    /// let net = Net::new(&arch, &[1.0, 0.0, 1.0]).unwrap();
    /// let i = net.corner_sum(&[0.0], &[1.0], &mut Trace::default(), None).unwrap();
    /// assert!((i - 1.0f64.tanh()).abs() < 1e-15);
    /// ```
    pub fn corner_sum(
        &self,
        lower: &[f64],
        upper: &[f64],
        tr: &mut Trace,
        mut seed: Option<(f64, &mut [f64])>,
    ) -> Result<f64, Error> {
        let n = lower.len();
        let mut v = vec![0.0; n];
        let mut sum = 0.0;
        for mask in 0..(1usize << n) {
            for (i, vi) in v.iter_mut().enumerate() {
                *vi = if mask >> i & 1 == 1 {
                    upper[i]
                } else {
                    lower[i]
                };
            }
            let sign = if (n - mask.count_ones() as usize) % 2 == 1 {
                -1.0
            } else {
                1.0
            };
            sum += sign * self.antiderivative_forward(&v, tr)?;
            if let Some((s, g)) = seed.as_mut() {
                self.antiderivative_backward(&v, tr, sign * *s, g);
            }
        }
        Ok(sum)
    }

    /// f(x) and `seed * df/dtheta` added into `grad` (raw parameters), in one call.
    pub fn integrand_gradient(
        &self,
        x: &[f64],
        seed: f64,
        grad: &mut [f64],
        tr: &mut Trace,
    ) -> Result<f64, Error> {
        let f = self.integrand_forward(x, tr)?;
        let mut g = vec![0.0; self.eff.len()];
        self.integrand_backward(x, tr, seed, &mut g);
        self.raw_gradient(&g, grad);
        Ok(f)
    }

    /// Chains a gradient over effective parameters through the positive map |w| and adds it
    /// into `out` (raw parameters). The subgradient of |w| at 0 is taken as +1, so a weight
    /// that reaches 0 can leave it again.
    pub fn raw_gradient(&self, g_eff: &[f64], out: &mut [f64]) {
        match self.arch.kind {
            Kind::Signed => {
                for (o, g) in out.iter_mut().zip(g_eff) {
                    *o += g;
                }
            }
            Kind::Positive => {
                let mut is_weight = vec![false; self.eff.len()];
                for l in &self.layers {
                    is_weight[l.weights..l.biases]
                        .iter_mut()
                        .for_each(|b| *b = true);
                }
                is_weight[self.output..].iter_mut().for_each(|b| *b = true);
                for ((o, g), (r, w)) in out
                    .iter_mut()
                    .zip(g_eff)
                    .zip(self.raw.iter().zip(is_weight))
                {
                    // At r = 0 the loss has a kink in r (it sees |r|): the least-norm
                    // subgradient is 0 where a larger |r| costs (g > 0), otherwise g, which
                    // moves r up. Taking g there made -g an ascent direction for every
                    // zero weight of a bump start.
                    *o += if !w || *r > 0.0 {
                        *g
                    } else if *r < 0.0 {
                        -g
                    } else {
                        g.min(0.0)
                    };
                }
            }
        }
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.eff.len()
    }

    /// Whether there are no parameters (never, for a valid architecture).
    pub fn is_empty(&self) -> bool {
        self.eff.is_empty()
    }

    /// The architecture.
    pub fn architecture(&self) -> &Architecture {
        self.arch
    }

    fn check_point(&self, x: &[f64]) -> Result<(), Error> {
        if x.len() != self.arch.n {
            return Err(Error::DimensionMismatch {
                expected: self.arch.n,
                found: x.len(),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        Ok(())
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

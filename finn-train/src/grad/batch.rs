//! f at many points at once.
//!
//! A single point pushes, through every layer after the first, one jet of 2^n coefficients
//! per unit: the pre-activation jets of layer l are W_l times the previous layer's jets. Over a
//! batch of B points those are one matrix product, W_l (w_l x w_(l-1)) times the previous
//! jets laid out as w_(l-1) x (B 2^n) (a row per unit, a column per point and subset), done by
//! `matrixmultiply`'s blocked, vectorised kernel instead of B small dot-product loops. Within
//! a unit's row the columns run subset-major (index S B + p), so the activation's Faa di
//! Bruno step ([`compose_points`], the same sums as finn-core's `compose`) does each of its
//! data-independent multiply-adds for all the block's points in one contiguous, vectorisable
//! loop instead of walking the subset combinatorics once per point. Points are cut into
//! blocks of [`BLOCK`] so the jets stay in cache; `rayon` spreads the blocks over the threads.

use super::tables::derivative_tables;
use super::Net;
use finn_core::jet::{weight_products, Dim, JetDim};
use finn_core::Error;
use rayon::prelude::*;

/// Points per block: 64 points x 2^4 subsets x 16 units of f64 is 128 KiB per layer of jets.
pub const BLOCK: usize = 64;

/// Scratch space of one block, reused across blocks.
#[derive(Default)]
struct Scratch {
    jets: Vec<f64>,
    pre: Vec<f64>,
    d: Vec<f64>,
    /// Derivative tables of one unit for the block's points, order-major (k B + p).
    dk: Vec<f64>,
    /// The Q tables of [`compose_points`].
    q: Vec<f64>,
    prodw: Vec<f64>,
    /// One unit's first-layer pre-activations for the block's points.
    z: Vec<f64>,
}

/// Lengthens `v` to at least `len` (never shrinks it, never rewrites what it holds): the
/// callers write every entry they later read.
fn grow(v: &mut Vec<f64>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

impl Net<'_> {
    /// The activation's derivative tables at a block's points, order-major.
    fn tables(&self, z: &[f64], out: &mut [f64]) -> Result<(), Error> {
        derivative_tables(self.arch.activation, self.arch.n, z, self.arch.n + 1, out)
    }

    /// f at every row of `points` (row-major, `out.len()` rows of n coordinates), computed a
    /// block of points at a time with matrix products (see the module documentation) and
    /// spread over rayon's threads. Equal to [`Net::integrand_forward`] at each row up to
    /// rounding (the sums run in another order).
    ///
    /// Errors: `DimensionMismatch` (`points.len() != out.len() * n`), `NonFiniteInput`,
    /// `Overflow`; the first failing block's error.
    ///
    /// ```
    /// use finn_core::{Activation, Kind};
    /// use finn_train::grad::{Net, Trace};
    /// use finn_train::model::Architecture;
    /// let arch = Architecture { n: 2, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![4, 3] };
    /// let params: Vec<f64> = (0..arch.parameter_count()).map(|i| 0.1 * (i % 7) as f64 - 0.2).collect();
    /// let net = Net::new(&arch, &params).unwrap();
    /// let points = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6];
    /// let mut f = [0.0; 3];
    /// net.integrand_batch(&points, &mut f).unwrap();
    /// let one = net.integrand_forward(&points[2..4], &mut Trace::default()).unwrap();
    /// assert!((f[1] - one).abs() <= 1e-13 * one.abs());
    /// ```
    pub fn integrand_batch(&self, points: &[f64], out: &mut [f64]) -> Result<(), Error> {
        let n = self.rows(points, out)?;
        points
            .par_chunks(BLOCK * n)
            .zip(out.par_chunks_mut(BLOCK))
            .try_for_each_init(Scratch::default, |s, (p, o)| self.integrand_block(p, o, s))
    }

    /// [`Net::integrand_batch`] on the calling thread only.
    ///
    /// Errors: as [`Net::integrand_batch`].
    ///
    /// ```
    /// use finn_core::{Activation, Kind};
    /// use finn_train::{grad::Net, model::Architecture};
    /// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![2, 2] };
    /// let params = vec![0.5; arch.parameter_count()];
    /// let net = Net::new(&arch, &params).unwrap();
    /// let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
    /// net.integrand_batch(&[0.1, 0.2], &mut a).unwrap();
    /// net.integrand_batch_serial(&[0.1, 0.2], &mut b).unwrap();
    /// assert_eq!(a, b);
    /// ```
    pub fn integrand_batch_serial(&self, points: &[f64], out: &mut [f64]) -> Result<(), Error> {
        let n = self.rows(points, out)?;
        let mut s = Scratch::default();
        for (p, o) in points.chunks(BLOCK * n).zip(out.chunks_mut(BLOCK)) {
            self.integrand_block(p, o, &mut s)?;
        }
        Ok(())
    }

    /// F at every row of `points` (row-major, `out.len()` rows of n coordinates), a block of
    /// points at a time: each layer's values are one matrix product over points and the
    /// activations one table pass ([`super::tables`]), spread over rayon's threads. Equal to
    /// [`Net::antiderivative_forward`] at each row up to rounding.
    ///
    /// Errors: as [`Net::integrand_batch`].
    ///
    /// ```
    /// use finn_core::{Activation, Kind};
    /// use finn_train::grad::{Net, Trace};
    /// use finn_train::model::Architecture;
    /// let arch = Architecture { n: 2, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![4, 3] };
    /// let params: Vec<f64> = (0..arch.parameter_count()).map(|i| 0.1 * (i % 7) as f64 - 0.2).collect();
    /// let net = Net::new(&arch, &params).unwrap();
    /// let points = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6];
    /// let mut big_f = [0.0; 3];
    /// net.antiderivative_batch(&points, &mut big_f).unwrap();
    /// let one = net.antiderivative_forward(&points[2..4], &mut Trace::default()).unwrap();
    /// assert!((big_f[1] - one).abs() <= 1e-14);
    /// ```
    pub fn antiderivative_batch(&self, points: &[f64], out: &mut [f64]) -> Result<(), Error> {
        let n = self.rows(points, out)?;
        points
            .par_chunks(BLOCK * n)
            .zip(out.par_chunks_mut(BLOCK))
            .try_for_each_init(Scratch::default, |s, (p, o)| {
                self.antiderivative_block(p, o, s)
            })
    }

    /// Checks that `points` holds `out.len()` rows of n coordinates; returns n.
    fn rows(&self, points: &[f64], out: &[f64]) -> Result<usize, Error> {
        let n = self.arch.n;
        if points.len() == out.len() * n {
            Ok(n)
        } else {
            Err(Error::DimensionMismatch {
                expected: out.len() * n,
                found: points.len(),
            })
        }
    }

    fn antiderivative_block(
        &self,
        points: &[f64],
        out: &mut [f64],
        s: &mut Scratch,
    ) -> Result<(), Error> {
        if points.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        let (n, b) = (self.arch.n, out.len());
        let l0 = self.layers[0];
        // `jets` holds one value per unit and point here (unit-major, j b + p).
        grow(&mut s.jets, l0.width * b);
        grow(&mut s.z, b);
        for j in 0..l0.width {
            let row = &self.eff[l0.weights + j * n..][..n];
            let bias = self.eff[l0.biases + j];
            let z = &mut s.z[..b];
            for (v, x) in z.iter_mut().zip(points.chunks_exact(n)) {
                *v = bias + super::dot(row, x);
            }
            derivative_tables(self.arch.activation, n, z, 1, &mut s.jets[j * b..][..b])?;
        }
        for layer in &self.layers[1..] {
            self.layer_product(layer, b, s);
            grow(&mut s.jets, layer.width * b);
            for k in 0..layer.width {
                let u = &mut s.pre[k * b..][..b];
                let bias = self.eff[layer.biases + k];
                for v in u.iter_mut() {
                    *v += bias;
                }
                derivative_tables(self.arch.activation, n, u, 1, &mut s.jets[k * b..][..b])?;
            }
        }
        let width = self.layers[self.layers.len() - 1].width;
        out.fill(0.0);
        for (k, a) in self.eff[self.output..][..width].iter().enumerate() {
            for (o, h) in out.iter_mut().zip(&s.jets[k * b..][..b]) {
                *o += a * h;
            }
        }
        out.iter_mut().try_for_each(|o| finite(*o).map(|v| *o = v))
    }

    /// `s.pre` (width x cols) = W_l (width x fan_in) * `s.jets` (fan_in x cols), row-major,
    /// by `matrixmultiply` (`pre` is sized here and not read before it is written).
    fn layer_product(&self, layer: &super::Layer, cols: usize, s: &mut Scratch) {
        grow(&mut s.pre, layer.width * cols);
        let w = &self.eff[layer.weights..][..layer.width * layer.fan_in];
        assert!(
            s.jets.len() >= layer.fan_in * cols,
            "jets sized for the layer's inputs"
        );
        // SAFETY: the strides describe three row-major buffers at least this large: W_l
        // (checked by the slice above), `jets` (asserted) and `pre` (just sized).
        unsafe {
            matrixmultiply::dgemm(
                layer.width,
                layer.fan_in,
                cols,
                1.0,
                w.as_ptr(),
                layer.fan_in as isize,
                1,
                s.jets.as_ptr(),
                cols as isize,
                1,
                0.0,
                s.pre.as_mut_ptr(),
                cols as isize,
                1,
            );
        }
    }

    fn integrand_block(
        &self,
        points: &[f64],
        out: &mut [f64],
        s: &mut Scratch,
    ) -> Result<(), Error> {
        match self.arch.n {
            1 => self.block_n::<1>(points, out, s),
            2 => self.block_n::<2>(points, out, s),
            3 => self.block_n::<3>(points, out, s),
            4 => self.block_n::<4>(points, out, s),
            5 => self.block_n::<5>(points, out, s),
            6 => self.block_n::<6>(points, out, s),
            7 => self.block_n::<7>(points, out, s),
            _ => self.block_n::<8>(points, out, s),
        }
    }

    /// One block of at most [`BLOCK`] points, n = `N`.
    fn block_n<const N: usize>(
        &self,
        points: &[f64],
        out: &mut [f64],
        s: &mut Scratch,
    ) -> Result<(), Error>
    where
        Dim<N>: JetDim,
    {
        if points.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        let b = out.len();
        let jlen = 1usize << N;
        let full = jlen - 1;
        let cols = b * jlen;
        let ord = N + 1;
        let depth = self.layers.len();
        let l0 = self.layers[0];
        s.d.resize(ord, 0.0);
        s.prodw.resize(l0.width * jlen, 0.0);
        for j in 0..l0.width {
            let row = &self.eff[l0.weights + j * N..][..N];
            weight_products(row, &mut s.prodw[j * jlen..][..jlen])?;
        }
        if depth == 1 {
            // One hidden layer: f = sum_j a_j sigma^(n)(z_j) prod_i w_ji, no jets needed.
            for (p, o) in out.iter_mut().enumerate() {
                let x = &points[p * N..][..N];
                let mut f = 0.0;
                for j in 0..l0.width {
                    let row = &self.eff[l0.weights + j * N..][..N];
                    let z = self.eff[l0.biases + j] + super::dot(row, x);
                    self.derivatives(z, &mut s.d)?;
                    f += self.eff[self.output + j] * s.d[N] * s.prodw[j * jlen + full];
                }
                *o = finite(f)?;
            }
            return Ok(());
        }
        // Layer 1 jets: unit j, subset S, point p -> sigma^(|S|)(z) prod_(i in S) w_ji.
        grow(&mut s.jets, l0.width * cols);
        grow(&mut s.z, b);
        grow(&mut s.dk, ord * b);
        for j in 0..l0.width {
            let row = &self.eff[l0.weights + j * N..][..N];
            let bias = self.eff[l0.biases + j];
            let z = &mut s.z[..b];
            for (p, v) in z.iter_mut().enumerate() {
                *v = bias + super::dot(row, &points[p * N..][..N]);
            }
            self.tables(z, &mut s.dk)?;
            let pw = &s.prodw[j * jlen..][..jlen];
            let unit = &mut s.jets[j * cols..][..cols];
            for (sub, w) in pw.iter().enumerate() {
                let dk = &s.dk[sub.count_ones() as usize * b..][..b];
                for (o, v) in unit[sub * b..][..b].iter_mut().zip(dk) {
                    *o = v * w;
                }
            }
        }
        for l in 1..depth {
            let layer = self.layers[l];
            let last = l + 1 == depth;
            // Every entry is written before it is read: no zeroing (dgemm with beta = 0 does
            // not read `pre`; compose writes every subset it is asked for).
            self.layer_product(&layer, cols, s);
            grow(&mut s.jets, layer.width * cols);
            for k in 0..layer.width {
                let bias = self.eff[layer.biases + k];
                let u = &mut s.pre[k * cols..][..cols];
                for v in &mut u[..b] {
                    *v += bias;
                }
                self.tables(&u[..b], &mut s.dk)?;
                compose_points::<N>(&s.dk, u, &mut s.jets[k * cols..][..cols], &mut s.q, b, last);
            }
        }
        let last = self.layers[depth - 1];
        for (p, o) in out.iter_mut().enumerate() {
            let f: f64 = (0..last.width)
                .map(|k| self.eff[self.output + k] * s.jets[k * cols + full * b + p])
                .sum();
            *o = finite(f)?;
        }
        Ok(())
    }
}

/// finn-core's `compose` (Faa di Bruno over set partitions, grouped by block count) for `b`
/// points at once: `d` holds the derivative tables order-major (`d[k b + p]`), `u` and `out`
/// the jets subset-major (`u[S b + p]`). Every multiply-add of the partition recursion is
/// the same for all points, so each becomes one loop over the points.
fn compose_points<const N: usize>(
    d: &[f64],
    u: &[f64],
    out: &mut [f64],
    q: &mut Vec<f64>,
    b: usize,
    full_only: bool,
) {
    let len = 1usize << N;
    let full = len - 1;
    // q[((k - 1) len + S) b + p] = Q_k(S) at point p. Rows of S are written only while S is
    // processed, the first write of each assigns (`written`), so q is never zeroed.
    grow(q, N * len * b);
    let at = |k: usize, s: usize| ((k - 1) * len + s) * b;
    out[..b].copy_from_slice(&d[..b]);
    for s in 1..len {
        if full_only && s & 1 == 1 && s != full {
            // Subsets holding variable 0 only ever appear as the full set itself.
            continue;
        }
        q[at(1, s)..][..b].copy_from_slice(&u[s * b..][..b]);
        let mut written = 1u32 << 1;
        let size = s.count_ones() as usize;
        if size >= 2 {
            let low = s & s.wrapping_neg();
            let rest_all = s ^ low;
            let mut c = rest_all;
            loop {
                c = c.wrapping_sub(1) & rest_all;
                let ub = &u[(c | low) * b..][..b];
                let rest = rest_all ^ c;
                let kmax = rest.count_ones() as usize + 1;
                for k in 2..=kmax {
                    // Q_k(S) += u_B Q_(k-1)(rest): distinct rows of q (S != rest).
                    let (src, dst) = (at(k - 1, rest), at(k, s));
                    let (lo, hi) = q.split_at_mut(dst);
                    let target = &mut hi[..b];
                    let from = &lo[src..][..b];
                    if written & (1 << k) == 0 {
                        for ((t, x), y) in target.iter_mut().zip(ub).zip(from) {
                            *t = x * y;
                        }
                        written |= 1 << k;
                    } else {
                        for ((t, x), y) in target.iter_mut().zip(ub).zip(from) {
                            *t += x * y;
                        }
                    }
                }
                if c == 0 {
                    break;
                }
            }
        }
        if !full_only || s == full {
            let o = &mut out[s * b..][..b];
            o.fill(0.0);
            for k in (1..=size).filter(|k| written & (1 << k) != 0) {
                let (dk, qk) = (&d[k * b..][..b], &q[at(k, s)..][..b]);
                for ((v, x), y) in o.iter_mut().zip(dk).zip(qk) {
                    *v += x * y;
                }
            }
        }
    }
}

fn finite(f: f64) -> Result<f64, Error> {
    if f.is_finite() {
        Ok(f)
    } else {
        Err(Error::Overflow)
    }
}

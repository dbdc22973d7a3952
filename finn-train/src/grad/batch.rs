//! f and F at many points at once.
//!
//! A single point pushes, through every layer after the first, one jet of 2^n coefficients
//! per unit: the pre-activation jets of layer l are W_l times the previous layer's jets. Over a
//! batch of B points those are one matrix product, W_l (w_l x w_(l-1)) times the previous
//! jets laid out as w_(l-1) x (B 2^n) (a row per unit, a column per point and subset), done by
//! `matrixmultiply`'s blocked, vectorised kernel instead of B small dot-product loops. The
//! layout keeps each (unit, point) jet contiguous, so the activation's Faa di Bruno step
//! (finn-core's `compose`) reads and writes it in place. Points are cut into blocks of
//! [`BLOCK`] so the jets stay in cache; `rayon` spreads the blocks over the threads.

use super::Net;
use finn_core::jet::{compose, weight_products, Dim, JetDim};
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
    prodw: Vec<f64>,
}

impl Net<'_> {
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
        let n = self.arch.n;
        if points.len() != out.len() * n {
            return Err(Error::DimensionMismatch {
                expected: out.len() * n,
                found: points.len(),
            });
        }
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
        let n = self.arch.n;
        if points.len() != out.len() * n {
            return Err(Error::DimensionMismatch {
                expected: out.len() * n,
                found: points.len(),
            });
        }
        let mut s = Scratch::default();
        for (p, o) in points.chunks(BLOCK * n).zip(out.chunks_mut(BLOCK)) {
            self.integrand_block(p, o, &mut s)?;
        }
        Ok(())
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
        // Layer 1 jets: unit j, point p, subset S -> sigma^(|S|)(z) prod_(i in S) w_ji.
        s.jets.clear();
        s.jets.resize(l0.width * cols, 0.0);
        for j in 0..l0.width {
            let row = &self.eff[l0.weights + j * N..][..N];
            let pw = &s.prodw[j * jlen..][..jlen];
            for p in 0..b {
                let z = self.eff[l0.biases + j] + super::dot(row, &points[p * N..][..N]);
                self.derivatives(z, &mut s.d)?;
                let jet = &mut s.jets[j * cols + p * jlen..][..jlen];
                for (sub, (c, w)) in jet.iter_mut().zip(pw).enumerate() {
                    *c = s.d[sub.count_ones() as usize] * w;
                }
            }
        }
        for l in 1..depth {
            let layer = self.layers[l];
            let last = l + 1 == depth;
            s.pre.clear();
            s.pre.resize(layer.width * cols, 0.0);
            // pre (width x cols) = W_l (width x fan_in) * jets (fan_in x cols).
            // SAFETY: the strides describe the three row-major buffers just sized:
            // W_l is width x fan_in in `eff`, `jets` fan_in x cols, `pre` width x cols.
            unsafe {
                matrixmultiply::dgemm(
                    layer.width,
                    layer.fan_in,
                    cols,
                    1.0,
                    self.eff[layer.weights..layer.weights + layer.width * layer.fan_in].as_ptr(),
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
            s.jets.clear();
            s.jets.resize(layer.width * cols, 0.0);
            for k in 0..layer.width {
                let bias = self.eff[layer.biases + k];
                for p in 0..b {
                    let at = k * cols + p * jlen;
                    let u = &mut s.pre[at..][..jlen];
                    u[0] += bias;
                    self.derivatives(u[0], &mut s.d)?;
                    compose::<f64, N>(&s.d, u, &mut s.jets[at..][..jlen], last)?;
                }
            }
        }
        let last = self.layers[depth - 1];
        for (p, o) in out.iter_mut().enumerate() {
            let f: f64 = (0..last.width)
                .map(|k| self.eff[self.output + k] * s.jets[k * cols + p * jlen + full])
                .sum();
            *o = finite(f)?;
        }
        Ok(())
    }
}

fn finite(f: f64) -> Result<f64, Error> {
    if f.is_finite() {
        Ok(f)
    } else {
        Err(Error::Overflow)
    }
}

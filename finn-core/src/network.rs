//! The network that parametrises the antiderivative F (paper Eq. 1), with sizes bounded at
//! compile time, and its exact integrand f = d_1...d_n F (Eq. 2).

use core::fmt::Debug;

use heapless::Vec;

use crate::activation::{Activation, MAX_DIM};
use crate::jet::{chain_rule, compose, weight_products, Dim, JetDim};
use crate::{error::finite, Antiderivative, Error, Real};

/// Which family of networks: it decides how weights are mapped and what f can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Kind {
    /// Non-negative weights (|w| of the given ones), sigma_n activation, non-negative linear
    /// output layer, free biases: f >= 0 everywhere (paper §3.3; math.md §2 for the proof).
    Positive,
    /// Free weights and any smooth activation: f has any sign.
    Signed,
}

/// Marker for a network's depth `L`, the most hidden layers it holds (see [`HiddenBlocks`]).
///
/// ```
/// use finn_core::network::{Depth, HiddenBlocks};
/// let blocks = <Depth<3> as HiddenBlocks<f32, 4>>::ZERO;
/// assert_eq!(blocks.as_ref().len(), 2);
/// ```
pub struct Depth<const L: usize>;

/// The storage for the weights between hidden layers of a network of depth `L` and width `W`:
/// `L - 1` blocks of `[unit][input]`, one into each hidden layer after the first (the first
/// layer's weights have the input dimension, and a field of their own). Implemented for
/// `Depth<1>` through `Depth<8>` ([`MAX_LAYERS`](crate::format::MAX_LAYERS)).
///
/// It exists because stable Rust cannot write an array of `L - 1` blocks for a generic `L`;
/// generic code over the depth carries the bound `Depth<L>: HiddenBlocks<T, W>`.
///
/// ```
/// use finn_core::network::{Depth, HiddenBlocks};
/// // A network of one hidden layer has no block between hidden layers: it takes no room.
/// assert_eq!(core::mem::size_of::<<Depth<1> as HiddenBlocks<f32, 16>>::Blocks>(), 0);
/// assert_eq!(core::mem::size_of::<<Depth<2> as HiddenBlocks<f32, 16>>::Blocks>(), 16 * 16 * 4);
/// ```
pub trait HiddenBlocks<T: Real, const W: usize> {
    /// `[[[T; W]; W]; L - 1]`.
    type Blocks: Copy + Debug + AsRef<[[[T; W]; W]]> + AsMut<[[[T; W]; W]]>;
    /// Every weight 0: a constant, so that [`Network::unloaded`] stays a `const fn`.
    const ZERO: Self::Blocks;
}

macro_rules! depths {
    ($($l:literal)*) => {$(
        impl<T: Real, const W: usize> HiddenBlocks<T, W> for Depth<$l> {
            type Blocks = [[[T; W]; W]; $l - 1];
            const ZERO: Self::Blocks = [[[T::ZERO; W]; W]; $l - 1];
        }
    )*};
}
depths!(1 2 3 4 5 6 7 8);

const _: () = assert!(
    crate::format::MAX_LAYERS == 8,
    "depths! must cover 1..=MAX_LAYERS"
);

/// A multilayer perceptron F: R^N -> R with up to `L` hidden layers of up to `W` units each.
///
/// `N` is the input dimension (1..=8) and `L` the most hidden layers (1..=8, the depths
/// [`HiddenBlocks`] covers). The actual depth and widths are chosen at construction
/// and must fit the capacity: the widths are a `heapless::Vec` of at most `L`. There is no
/// output bias: it would cancel in f and in every box integral.
///
/// Parameters are one flat slice, layer by layer: for each hidden layer its weights row-major
/// (`[unit][input]`) then its biases; finally the output weights. [`parameter_count`] gives the
/// length.
///
/// ```
/// use finn_core::{Antiderivative, Network};
/// // One hidden layer of 2 units over n = 2 inputs: 2*2 weights, 2 biases, 2 output weights.
/// let params = [0.5, 1.0, 2.0, 0.3, 0.1, -0.2, 1.0, 0.7];
/// let net = Network::<f64, 2, 4, 1>::positive(&[2], &params).unwrap();
/// let f = net.integrand(&[0.1, 0.2]).unwrap();
/// assert!(f > 0.0);
/// ```
#[derive(Clone, Debug)]
// In this order: the small fields every evaluation reads (widths, first-layer weights,
// biases, output weights) first, within the 1020-byte offset reach of a Cortex-M4's `vldr`
// from the network's address, the large weight blocks after them. Left to rustc (largest
// field first) they sat behind the blocks, which cost 123 instructions per trajectory sample
// on the device (13437 against 13314).
#[repr(C)]
pub struct Network<T: Real, const N: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    /// The hidden widths, first layer first: one per layer, so the depth is their length
    /// (empty when unloaded). An empty `heapless::Vec` is a zero length and uninitialised
    /// slots, so [`Network::unloaded`] is still all zeros (a static of it lives in `.bss`).
    pub(crate) widths: Vec<usize, L>,
    /// Effective first-layer weights, `[unit][input]`.
    pub(crate) first: [[T; N]; W],
    pub(crate) biases: [[T; W]; L],
    pub(crate) output: [T; W],
    /// Effective weights into hidden layers 1 to `L - 1`, `[unit][input]`: block `l - 1` is
    /// layer `l`'s (read through [`Network::weights_into`]). Layer 0 has none here: its
    /// weights are `first`.
    pub(crate) hidden: <Depth<L> as HiddenBlocks<T, W>>::Blocks,
    pub(crate) kind: Kind,
    pub(crate) activation: Activation,
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Network<T, N, W, L>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    /// The hidden widths for the evaluation loops: the vector's slice, cut to at most `L`
    /// entries, which it never exceeds. The cut costs one comparison and tells the compiler
    /// that a layer index is below `L`, so that it can unroll the loops over the layers
    /// (with `L = 2` the one hidden-to-hidden layer) as it did over a fixed array.
    #[inline(always)]
    pub(crate) fn layers(&self) -> &[usize] {
        let widths = self.widths.as_slice();
        widths.get(..L).unwrap_or(widths)
    }

    /// The effective weights into hidden layer `l`, for `1 <= l < L` (the evaluation loops'
    /// range), `[unit][input]`. The one place that knows that block `l - 1` holds them: the
    /// first layer's are in `first`, so the blocks start at layer 1.
    #[inline(always)]
    pub(crate) fn weights_into(&self, l: usize) -> &[[T; W]; W] {
        &self.hidden.as_ref()[l - 1]
    }

    /// As [`Network::weights_into`], to load them.
    #[inline(always)]
    fn weights_into_mut(&mut self, l: usize) -> &mut [[T; W]; W] {
        &mut self.hidden.as_mut()[l - 1]
    }

    /// The width of the first hidden layer (0 when unloaded).
    #[inline(always)]
    pub(crate) fn first_width(&self) -> usize {
        self.layers().first().copied().unwrap_or(0)
    }

    /// The width of the last hidden layer, the one the output weights read (0 when
    /// unloaded).
    #[inline(always)]
    pub(crate) fn last_width(&self) -> usize {
        self.layers().last().copied().unwrap_or(0)
    }
}

/// Number of parameters of a network with `n` inputs and the given hidden widths.
///
/// ```
/// assert_eq!(finn_core::parameter_count(2, &[16, 16]), 2 * 16 + 16 + 16 * 16 + 16 + 16);
/// ```
pub fn parameter_count(n: usize, widths: &[usize]) -> usize {
    // Saturating: absurd widths give usize::MAX (which no parameter slice matches), not a panic.
    let mut count: usize = 0;
    let mut fan_in = n;
    for &w in widths {
        count = count.saturating_add(w.saturating_mul(fan_in).saturating_add(w));
        fan_in = w;
    }
    count.saturating_add(fan_in)
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Network<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// A positive network (sigma_n, |weights|): f >= 0 for every input.
    pub fn positive(widths: &[usize], params: &[T]) -> Result<Self, Error> {
        Self::new(Kind::Positive, Activation::Sigma, widths, params)
    }

    /// A signed network with the given smooth activation.
    pub fn signed(activation: Activation, widths: &[usize], params: &[T]) -> Result<Self, Error> {
        Self::new(Kind::Signed, activation, widths, params)
    }

    /// Builds a network from its flat parameters (see the type's documentation).
    ///
    /// Errors: `InvalidShape` (no layer, a width of 0, more layers or units than the capacity,
    /// or a positive network without sigma_n), `DimensionMismatch` (parameter count),
    /// `NonFiniteParameter`.
    pub fn new(
        kind: Kind,
        activation: Activation,
        widths: &[usize],
        params: &[T],
    ) -> Result<Self, Error> {
        Self::from_parameters(kind, activation, widths, params.iter().copied())
    }

    /// As [`Network::new`], reading the parameters from an iterator, so that a loader can
    /// stream them out of a weights blob without a buffer.
    ///
    /// ```
    /// use finn_core::{Activation, Kind, Network};
    /// let p = [1.0f32, 0.0, 2.0];
    /// let net = Network::<f32, 1, 1, 1>::from_parameters(Kind::Signed, Activation::Tanh, &[1], p.into_iter());
    /// assert!(net.is_ok());
    /// ```
    pub fn from_parameters(
        kind: Kind,
        activation: Activation,
        widths: &[usize],
        params: impl IntoIterator<Item = T>,
    ) -> Result<Self, Error> {
        let mut net = Self::unloaded();
        net.load_parameters(kind, activation, widths, params)?;
        Ok(net)
    }

    /// A network with no units yet, for a static to load into with
    /// [`Network::load_parameters`]. Evaluating it gives 0 (it has no units).
    ///
    /// Every field is zero (no hidden layer: the widths are an empty `heapless::Vec`, a zero
    /// length and uninitialised slots; the first [`Kind`] and [`Activation`]), so a `static`
    /// initialised with it is placed in `.bss`: zeroed at start-up, with no initial value
    /// stored in flash.
    ///
    /// ```
    /// use finn_core::{Antiderivative, Network};
    /// static UNLOADED: Network<f32, 2, 8, 2> = Network::unloaded();
    /// assert!(UNLOADED.widths().is_empty());
    /// assert_eq!(UNLOADED.integrand(&[0.5, 0.5]), Ok(0.0));
    /// ```
    pub const fn unloaded() -> Self {
        Network {
            kind: Kind::Positive,
            activation: Activation::Sigma,
            widths: Vec::new(),
            first: [[T::ZERO; N]; W],
            hidden: <Depth<L> as HiddenBlocks<T, W>>::ZERO,
            biases: [[T::ZERO; W]; L],
            output: [T::ZERO; W],
        }
    }

    /// As [`Network::from_parameters`], overwriting `self` in place: firmware can load a
    /// network into a `static` without building a copy on its stack. On an error `self` is
    /// left unloaded.
    ///
    /// ```
    /// use finn_core::{Activation, Kind, Network};
    /// let mut net = Network::<f32, 1, 4, 2>::unloaded();
    /// net.load_parameters(Kind::Signed, Activation::Tanh, &[1], [1.0, 0.0, 2.0]).unwrap();
    /// assert_eq!(net.widths(), &[1]);
    /// assert!(net.load_parameters(Kind::Signed, Activation::Tanh, &[1], [1.0]).is_err());
    /// assert!(net.widths().is_empty()); // unloaded again
    /// // More layers than the capacity L = 2: a typed error, never a panic.
    /// let three = [1.0; 7]; // 2 + 2 + 2 weights and biases, 1 output weight
    /// assert_eq!(
    ///     net.load_parameters(Kind::Signed, Activation::Tanh, &[1, 1, 1], three),
    ///     Err(finn_core::Error::InvalidShape)
    /// );
    /// ```
    pub fn load_parameters(
        &mut self,
        kind: Kind,
        activation: Activation,
        widths: &[usize],
        params: impl IntoIterator<Item = T>,
    ) -> Result<(), Error> {
        let result = self.load_parameters_inner(kind, activation, widths, params);
        if result.is_err() {
            self.widths.clear();
        }
        result
    }

    fn load_parameters_inner(
        &mut self,
        kind: Kind,
        activation: Activation,
        widths: &[usize],
        params: impl IntoIterator<Item = T>,
    ) -> Result<(), Error> {
        if widths.is_empty()
            || widths.iter().any(|&w| w == 0 || w > W)
            || N == 0
            || N > MAX_DIM
            || (kind == Kind::Positive && activation != Activation::Sigma)
        {
            return Err(Error::InvalidShape);
        }
        let expected = parameter_count(N, widths);
        let map = |w: T| match kind {
            Kind::Positive => w.abs(),
            Kind::Signed => w,
        };
        let net = self;
        // More layers than L is the one capacity failure: InvalidShape, like a width above W.
        // (Built in a local and moved in: its length stays in a register.)
        let mut stored = Vec::new();
        for &w in widths {
            stored.push(w).map_err(|_| Error::InvalidShape)?;
        }
        net.widths = stored;
        net.kind = kind;
        net.activation = activation;
        let mut p = params.into_iter();
        let mut found = 0usize;
        let mut non_finite = false;
        let mut take = || match p.next() {
            Some(v) => {
                found += 1;
                non_finite |= !v.is_finite();
                v
            }
            None => T::ZERO,
        };
        for row in net.first.iter_mut().take(widths[0]) {
            for w in row.iter_mut() {
                *w = map(take());
            }
        }
        for b in net.biases[0].iter_mut().take(widths[0]) {
            *b = take();
        }
        for l in 1..widths.len() {
            for row in net.weights_into_mut(l).iter_mut().take(widths[l]) {
                for w in row.iter_mut().take(widths[l - 1]) {
                    *w = map(take());
                }
            }
            for b in net.biases[l].iter_mut().take(widths[l]) {
                *b = take();
            }
        }
        for a in net.output.iter_mut().take(widths[widths.len() - 1]) {
            *a = map(take());
        }
        // Count what is left, so a too-long input is reported with its length.
        let extra = p.count();
        if found != expected || extra > 0 {
            return Err(Error::DimensionMismatch {
                expected,
                found: found + extra,
            });
        }
        if non_finite {
            return Err(Error::NonFiniteParameter);
        }
        Ok(())
    }

    /// The network family.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The hidden-unit activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The hidden widths, first layer first (empty for an unloaded network).
    pub fn widths(&self) -> &[usize] {
        self.widths.as_slice()
    }

    /// Writes the effective parameters (after the positive map |w|) in the flat layout that
    /// [`Network::new`] reads; returns how many were written, or `DimensionMismatch`.
    pub fn write_parameters(&self, out: &mut [T]) -> Result<usize, Error> {
        let expected = parameter_count(N, self.widths());
        if out.len() < expected {
            return Err(Error::DimensionMismatch {
                expected,
                found: out.len(),
            });
        }
        let mut i = 0;
        let mut put = |v: T| {
            out[i] = v;
            i += 1;
        };
        let w = self.widths();
        for row in self.first.iter().take(self.first_width()) {
            row.iter().for_each(|&v| put(v));
        }
        self.biases[0]
            .iter()
            .take(self.first_width())
            .for_each(|&v| put(v));
        for l in 1..w.len() {
            for row in self.weights_into(l).iter().take(w[l]) {
                row.iter().take(w[l - 1]).for_each(|&v| put(v));
            }
            self.biases[l].iter().take(w[l]).for_each(|&v| put(v));
        }
        self.output
            .iter()
            .take(self.last_width())
            .for_each(|&v| put(v));
        Ok(expected)
    }

    /// Pre-activation of first-layer unit `j`.
    #[inline(always)]
    pub(crate) fn first_preactivation(&self, j: usize, x: &[T; N]) -> T {
        let mut z = self.biases[0][j];
        for (w, xi) in self.first[j].iter().zip(x) {
            z += *w * *xi;
        }
        z
    }

    /// F at a checked point.
    fn antiderivative_at(&self, x: &[T; N]) -> Result<T, Error> {
        finite(self.forward(x, |v| v))
    }

    /// F at `x` evaluated in another precision `U`, the parameters widened exactly: for the
    /// host computations that f64 cannot do accurately enough, with `U` =
    /// [`DoubleDouble`](crate::dd::DoubleDouble) (the constraint constants of
    /// [`Finn::new`](crate::Finn::new)). The same code as [`Antiderivative::antiderivative`],
    /// whose value it refines.
    ///
    /// Errors: `DimensionMismatch`, `NonFiniteInput`, `Overflow`.
    ///
    /// ```
    /// use finn_core::{dd::DoubleDouble, Activation, Antiderivative, Network, Real};
    /// let net = Network::<f64, 1, 2, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, 1.0]).unwrap();
    /// let x = [DoubleDouble::from_f64(0.5)];
    /// let wide = net.antiderivative_wide(&x).unwrap();
    /// // tanh(1/2) = 0.46211715726000974 + 2.1916603238260928e-17 (to 32 digits).
    /// assert_eq!(wide.hi(), 0.46211715726000974);
    /// assert!((wide.lo() - 2.1916603238260928e-17).abs() < 1e-31);
    /// ```
    pub fn antiderivative_wide<U: Real>(&self, x: &[U]) -> Result<U, Error> {
        let p = crate::point::<U, N>(x)?;
        finite(self.forward(&p, crate::convert::<T, U>))
    }

    /// F at a checked point in `U`, each parameter converted by `widen` (the identity for
    /// `U = T`, which compiles to the plain forward pass).
    #[inline(always)]
    fn forward<U: Real>(&self, x: &[U; N], widen: impl Fn(T) -> U) -> U {
        let widths = self.layers();
        let mut h = [U::ZERO; W];
        for (j, hj) in h.iter_mut().enumerate().take(self.first_width()) {
            let mut z = widen(self.biases[0][j]);
            for (w, xi) in self.first[j].iter().zip(x) {
                z += widen(*w) * *xi;
            }
            *hj = self.activation.value_unchecked(N, z);
        }
        for l in 1..widths.len() {
            let mut next = [U::ZERO; W];
            for (k, nk) in next.iter_mut().enumerate().take(widths[l]) {
                let mut z = widen(self.biases[l][k]);
                for (w, hj) in self.weights_into(l)[k].iter().zip(&h).take(widths[l - 1]) {
                    z += widen(*w) * *hj;
                }
                *nk = self.activation.value_unchecked(N, z);
            }
            h = next;
        }
        let mut y = U::ZERO;
        for (a, hj) in self.output.iter().zip(&h).take(self.last_width()) {
            y += widen(*a) * *hj;
        }
        y
    }

    /// f = d_1...d_N F at a checked point.
    fn integrand_at(&self, x: &[T; N]) -> Result<T, Error> {
        let widths = self.layers();
        let w0 = self.first_width();
        if widths.len() <= 1 {
            // One hidden layer: only the top coefficient of each unit's jet is needed,
            // sigma^(n)(z_j) prod_i w_ji: O(n H), no jets at all.
            let mut f = T::ZERO;
            let mut d = [T::ZERO; MAX_DIM + 1];
            for j in 0..w0 {
                let z = self.first_preactivation(j, x);
                let dn = match self.activation {
                    // sigma_n^(n) = exp(-z^2)/sqrt(pi): skip the lower orders entirely.
                    Activation::Sigma => gaussian(z),
                    Activation::Tanh => {
                        self.activation.derivatives(N, z, &mut d[..N + 1])?;
                        d[N]
                    }
                };
                let mut term = self.output[j] * dn;
                for w in &self.first[j] {
                    term *= *w;
                }
                f += term;
            }
            return finite(f);
        }
        // Deeper: jets of every first-layer unit in closed form, then linear maps and
        // Faa di Bruno through the remaining layers.
        let zero = <Dim<N> as JetDim>::zero::<T>();
        let mut prev = [zero; W];
        let mut d = [T::ZERO; MAX_DIM + 1];
        for (j, jet) in prev.iter_mut().enumerate().take(w0) {
            let z = self.first_preactivation(j, x);
            self.activation.derivatives(N, z, &mut d[..N + 1])?;
            let jet = jet.as_mut();
            weight_products(&self.first[j], jet)?;
            for (s, c) in jet.iter_mut().enumerate() {
                *c *= d[s.count_ones() as usize];
            }
        }
        let mut f = T::ZERO;
        let mut next = [zero; W];
        for l in 1..widths.len() {
            let last = l + 1 == widths.len();
            // Capped at W so that the compiler sees the loops' bounds (no checks inside).
            let (fan_in, units) = (widths[l - 1].min(W), widths[l].min(W));
            for k in 0..units {
                let mut u = zero;
                let uu = u.as_mut();
                uu[0] = self.biases[l][k];
                for (w, pj) in self.weights_into(l)[k].iter().zip(&prev).take(fan_in) {
                    for (c, p) in uu.iter_mut().zip(pj.as_ref()) {
                        *c += *w * *p;
                    }
                }
                self.activation.derivatives(N, uu[0], &mut d[..N + 1])?;
                if last {
                    let mut v = zero;
                    compose::<T, N>(&d, uu, v.as_mut(), true)?;
                    f += self.output[k] * v.as_ref()[(1 << N) - 1];
                } else {
                    compose::<T, N>(&d, uu, next[k].as_mut(), false)?;
                }
            }
            if !last {
                core::mem::swap(&mut prev, &mut next);
            }
        }
        finite(f)
    }
}

impl<T: Real, const W: usize, const L: usize> Network<T, 1, W, L>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Time derivatives of a one-input network: `out[k]` = F^(k)(t) for k = 0..out.len()
    /// (at most [`crate::jet::MAX_TIME_ORDER`] + 1 entries). So F, f = F', f', f'' give a trajectory's
    /// position, velocity, acceleration and jerk.
    ///
    /// Errors: `OrderTooHigh`, `NonFiniteInput`, `Overflow`.
    ///
    /// ```
    /// use finn_core::{Activation, Network};
    /// // F(t) = tanh(t): F'(0) = 1, F''(0) = 0, F'''(0) = -2.
    /// let net = Network::<f64, 1, 1, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, 1.0]).unwrap();
    /// let mut d = [0.0; 4];
    /// net.time_derivatives(0.0, &mut d).unwrap();
    /// assert_eq!(d, [0.0, 1.0, 0.0, -2.0]);
    /// ```
    pub fn time_derivatives(&self, t: T, out: &mut [T]) -> Result<(), Error> {
        if !t.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        // A fixed jet length per call site lets the compiler unroll the per-unit work, which
        // is most of a trajectory sample's cost on a Cortex-M.
        match out.len() {
            1 => self.time_jet::<1>(t, out.try_into().map_err(|_| Error::OrderTooHigh)?),
            2 => self.time_jet::<2>(t, out.try_into().map_err(|_| Error::OrderTooHigh)?),
            3 => self.time_jet::<3>(t, out.try_into().map_err(|_| Error::OrderTooHigh)?),
            4 => self.time_jet::<4>(t, out.try_into().map_err(|_| Error::OrderTooHigh)?),
            5 => self.time_jet::<5>(t, out.try_into().map_err(|_| Error::OrderTooHigh)?),
            _ => Err(Error::OrderTooHigh),
        }
    }

    /// As [`Network::time_derivatives`] with the number of orders K (1..=5) fixed at compile
    /// time: firmware that needs one K links one copy of the code.
    ///
    /// ```
    /// use finn_core::{Activation, Network};
    /// let net = Network::<f32, 1, 1, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, 1.0]).unwrap();
    /// let mut d = [0.0f32; 2];
    /// net.time_jet::<2>(0.0, &mut d).unwrap();
    /// assert_eq!(d, [0.0, 1.0]);
    /// ```
    pub fn time_jet<const K: usize>(&self, t: T, out: &mut [T; K]) -> Result<(), Error> {
        if K == 0 || K > crate::jet::MAX_TIME_ORDER + 1 {
            return Err(Error::OrderTooHigh);
        }
        if !t.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        let widths = self.layers();
        let depth = widths.len();
        let mut d = [T::ZERO; K];
        // First layer in closed form: (sigma(w t + b))^(j) = sigma^(j)(z) w^j. The activation
        // is matched once, not per unit (the loop was not unswitched: three instructions a
        // unit on a Cortex-M4).
        let first_width = self.first_width();
        // Entries past the first layer's width are never read, so any value will do: a
        // copy of t is W * K stores, where zeros become a `memset` call that cost a
        // Cortex-M4 about one instruction per byte.
        let mut h = [[t; K]; W];
        match self.activation {
            Activation::Tanh => {
                self.first_time_jets(t, &mut h, |z, d| Activation::Tanh.fill_derivatives(1, z, d))
            }
            Activation::Sigma => self.first_time_jets(t, &mut h, |z, d| {
                Activation::Sigma.fill_derivatives(1, z, d)
            }),
        }
        // The output sum, in unit order. The last hidden layer adds each unit's jet to it as
        // soon as it has it, so that layer is never stored (a second buffer and its zeroing
        // cost 3 % of a trajectory sample on a Cortex-M4).
        let mut acc = [T::ZERO; K];
        if depth == 1 {
            for (a, hj) in self.output.iter().zip(&h).take(first_width) {
                for o in 0..K {
                    acc[o] += *a * hj[o];
                }
            }
        }
        for l in 1..depth {
            if l + 1 == depth {
                self.hidden_time_jets(l, &h, &mut d, |k, v| {
                    let a = self.output[k];
                    for o in 0..K {
                        acc[o] += a * v[o];
                    }
                });
            } else {
                // Three or more hidden layers: the middle ones are stored.
                let mut next = [[T::ZERO; K]; W];
                self.hidden_time_jets(l, &h, &mut d, |k, v| next[k] = v);
                h = next;
            }
        }
        for (o, v) in out.iter_mut().zip(acc) {
            *o = finite(v)?;
        }
        Ok(())
    }

    /// The first layer's time jets at `t` into `h`, with `fill` the activation's derivatives.
    #[inline(always)]
    fn first_time_jets<const K: usize>(
        &self,
        t: T,
        h: &mut [[T; K]; W],
        fill: impl Fn(T, &mut [T; K]),
    ) {
        let mut d = [T::ZERO; K];
        for (j, hj) in h.iter_mut().enumerate().take(self.first_width()) {
            let w = self.first[j][0];
            let z = self.biases[0][j] + w * t;
            fill(z, &mut d);
            let mut wp = T::ONE;
            for o in 0..K {
                hj[o] = d[o] * wp;
                wp *= w;
            }
        }
    }

    /// The time jets of hidden layer `l` (1 <= l < depth) from the previous layer's `prev`,
    /// handed to `emit` unit by unit in order. `d` is scratch for the activation's
    /// derivatives.
    #[inline(always)]
    fn hidden_time_jets<const K: usize>(
        &self,
        l: usize,
        prev: &[[T; K]; W],
        d: &mut [T; K],
        mut emit: impl FnMut(usize, [T; K]),
    ) {
        let widths = self.layers();
        let (fan_in, units) = (widths[l - 1].min(W), widths[l].min(W));
        let (rows, bias) = (self.weights_into(l), &self.biases[l]);
        // UNITS rows at a time: each input's jet is loaded once for all of them, and the
        // loop's bookkeeping is shared (on a Cortex-M4 it cost as much as the multiply-adds).
        // Four rows: with eight, the 24 sums, two inputs' jets and the activation's
        // constants no longer fit the 32 FPU registers (the assembly uses 28 of them). Each
        // unit still sums its inputs in order, so the values are bit for bit those of one
        // row at a time.
        const UNITS: usize = 4;
        if W == 0 || fan_in == 0 {
            // No inputs (never for a loaded network): each unit is its bias. Returning here
            // tells the compiler that the loops below run at least once, which it uses:
            // without it a trajectory sample took 55 instructions more on a Cortex-M4 (558
            // before the sums moved to assembly).
            for k in 0..units {
                let mut u = [T::ZERO; K];
                u[0] = bias[k];
                self.activation.fill_derivatives(1, u[0], d);
                emit(k, chain_rule(d, &u));
            }
            return;
        }
        let mut kk = 0;
        while kk + UNITS <= units {
            // A Cortex-M4F computes the sums in assembly (`multiply_add`), to the same bits.
            // Elsewhere they start from the biases, not from the first input's terms: that
            // special case made LLVM peel the loop and shuffle registers.
            let rows4 = [&rows[kk][..], &rows[kk + 1], &rows[kk + 2], &rows[kk + 3]];
            let inputs = prev.get(..fan_in).unwrap_or(&[]);
            let u = T::block_sums(&bias[kk..], rows4, inputs).unwrap_or_else(|| {
                let mut u = [[T::ZERO; K]; UNITS];
                for (r, ur) in u.iter_mut().enumerate() {
                    ur[0] = bias[kk + r];
                }
                for (j, p) in prev.iter().enumerate().take(fan_in) {
                    for (r, ur) in u.iter_mut().enumerate() {
                        let w = rows[kk + r][j];
                        for o in 0..K {
                            ur[o] += w * p[o];
                        }
                    }
                }
                u
            });
            for (r, ur) in u.iter().enumerate() {
                self.activation.fill_derivatives(1, ur[0], d);
                emit(kk + r, chain_rule(d, ur));
            }
            kk += UNITS;
        }
        for kk in kk..units {
            let mut u = [T::ZERO; K];
            u[0] = bias[kk];
            for (w, p) in rows[kk].iter().zip(prev).take(fan_in) {
                for o in 0..K {
                    u[o] += *w * p[o];
                }
            }
            self.activation.fill_derivatives(1, u[0], d);
            emit(kk, chain_rule(d, &u));
        }
    }
}

/// sigma_n^(n)(z) = exp(-z^2)/sqrt(pi), for any n.
#[inline(always)]
fn gaussian<T: Real>(z: T) -> T {
    crate::activation::two_over_sqrt_pi::<T>() * T::from_f64(0.5) * crate::activation::gaussian(z)
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Antiderivative<T>
    for Network<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    fn dim(&self) -> usize {
        N
    }

    fn antiderivative(&self, x: &[T]) -> Result<T, Error> {
        self.antiderivative_at(&crate::point::<T, N>(x)?)
    }

    fn integrand(&self, x: &[T]) -> Result<T, Error> {
        self.integrand_at(&crate::point::<T, N>(x)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    /// The layout before the blocks became `L - 1`: one W x W block per layer, the first
    /// never used. Only its size is read.
    #[allow(dead_code)]
    struct AllBlocks<T: Real, const N: usize, const W: usize, const L: usize> {
        kind: Kind,
        activation: Activation,
        widths: Vec<usize, L>,
        first: [[T; N]; W],
        hidden: [[[T; W]; W]; L],
        biases: [[T; W]; L],
        output: [T; W],
    }

    /// The bytes one block of weights between hidden layers takes.
    fn block<T, const W: usize>() -> usize {
        size_of::<[[T; W]; W]>()
    }

    #[test]
    fn a_network_holds_one_block_fewer_than_its_layers() {
        // The reference device's shape (W = 16, L = 2, f32): one W x W block, 1 KiB, saved.
        let saved = size_of::<AllBlocks<f32, 3, 16, 2>>() - size_of::<Network<f32, 3, 16, 2>>();
        assert_eq!(saved, block::<f32, 16>());
        assert_eq!(saved, 16 * 16 * 4);
        let saved = size_of::<AllBlocks<f64, 2, 4, 3>>() - size_of::<Network<f64, 2, 4, 3>>();
        assert_eq!(saved, block::<f64, 4>());
        // One hidden layer: no block at all.
        assert_eq!(size_of::<<Depth<1> as HiddenBlocks<f32, 16>>::Blocks>(), 0);
        let saved = size_of::<AllBlocks<f32, 1, 16, 1>>() - size_of::<Network<f32, 1, 16, 1>>();
        assert_eq!(saved, block::<f32, 16>());
    }

    #[test]
    fn every_depth_has_one_block_per_layer_after_the_first() {
        fn blocks<const L: usize>() -> usize
        where
            Depth<L>: HiddenBlocks<f64, 3>,
        {
            let zero = <Depth<L> as HiddenBlocks<f64, 3>>::ZERO;
            assert!(zero.as_ref().iter().flatten().flatten().all(|&w| w == 0.0));
            assert_eq!(
                size_of::<<Depth<L> as HiddenBlocks<f64, 3>>::Blocks>(),
                zero.as_ref().len() * block::<f64, 3>()
            );
            zero.as_ref().len()
        }
        let counts = [
            blocks::<1>(),
            blocks::<2>(),
            blocks::<3>(),
            blocks::<4>(),
            blocks::<5>(),
            blocks::<6>(),
            blocks::<7>(),
            blocks::<8>(),
        ];
        assert_eq!(counts, [0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn every_layer_reads_back_the_weights_it_was_loaded_with() {
        // Three hidden layers: blocks 0 and 1 hold layers 1 and 2, and nothing is shifted.
        let widths = [2, 3, 2];
        let count = parameter_count(2, &widths);
        let params: [f64; 25] = core::array::from_fn(|i| i as f64 * 0.25 - 3.0);
        assert_eq!(count, params.len());
        let net = Network::<f64, 2, 4, 3>::signed(Activation::Tanh, &widths, &params).unwrap();
        let mut out = [0.0; 25];
        assert_eq!(net.write_parameters(&mut out), Ok(count));
        assert_eq!(out, params);
        // Layer 1's first weight follows the first layer's 2 x 2 weights and 2 biases.
        assert_eq!(net.weights_into(1)[0][0], params[6]);
        // Layer 2's follows layer 1's 3 x 2 weights and 3 biases.
        assert_eq!(net.weights_into(2)[0][0], params[6 + 6 + 3]);
    }
}

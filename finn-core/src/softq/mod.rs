//! Soft Q-functions over a box of actions (paper §4.4, with math.md §5's erratum): exact soft
//! values V(s) and exact sampling from the Boltzmann policy.
//!
//! A hypernetwork g(s), a signed MLP with tanh units, reads the state features and emits, through
//! a linear head, the raw parameters theta(s) of a positive network F~ over the actions
//! a in A (a box of dimension M) and one more number, the log-scale c(s):
//!
//! ```text
//! beta Q(s, a) = c(s) + ln f~(s, a)          f~ = d_1...d_M F~, positive
//! beta V(s)    = c(s) + ln (integral over A of f~(s, a) da)   (Eq. 4: a corner sum of F~)
//! pi(a | s)    = f~(s, a) / (integral over A of f~(s, .))      = exp(beta (Q - V))
//! ```
//!
//! so f = exp(beta Q) = e^c f~ is a positive FINN over A, monotone-structured in a only and free
//! in s. V is the definite integral over A (not F at a point), and pi is a [`Density`] over A
//! that is sampled exactly by inverting its conditional CDFs ([`Density::sample`]).
//!
//! # Why the log-scale head
//!
//! exp(beta Q) overflows f32 at beta Q = 88.7 and f64 at 709.8, and underflows at the other
//! end. Here the magnitude lives in c(s) = `log_scale` * (last head output), added in log
//! space, and f~ is only ever evaluated at the O(1) parameters the head emits. Q and V are
//! therefore finite and accurate to the rounding of c plus a few ulps of ln f~, whatever
//! beta Q is; `tests/softq.rs` checks |beta Q| up to 80 in f64 against quadrature and 30 in
//! f32 against f64. ln f~ of a one-hidden-layer action network is a log-sum-exp over its units
//! (finite where f~ underflows); a two-layer one uses ln f~.
//!
//! # Parameters
//!
//! One flat slice: for each hypernetwork hidden layer its weights row-major (`[unit][input]`)
//! then its biases; then the head weights row-major (`[output][hidden unit]`) and the head
//! biases. The head has `parameter_count(M, action_widths) + 1` outputs: the action network's
//! raw parameters in [`Network`]'s layout, then c's. [`SoftQ::parameter_count`] gives the
//! length. Capacities: `H` hidden units per hypernetwork layer (at most two layers), `P` head
//! outputs, `W` and `L` the action network's as in [`Network`].

use heapless::Vec;

pub mod pendulum;
mod policy;
pub use policy::StatePolicy;

use crate::constraint::{Bound, Method};
use crate::jet::{Dim, JetDim};
use crate::network::parameter_count;
use crate::network::{Depth, HiddenBlocks};
use crate::Real;
use crate::{
    error::finite, Antiderivative, Constraint, Density, Domain, Error, Finn, Network, Resolved,
};

/// What makes a soft-Q model's settings unusable ([`Error::NotASoftQ`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SoftQProblem {
    /// beta (the inverse temperature) must be finite and > 0.
    Beta,
    /// The log-scale unit must be finite and > 0.
    LogScale,
    /// The head capacity `P` is below the number of outputs the action network needs (+1).
    HeadTooSmall,
    /// The hypernetwork needs one or two hidden layers of 1..=H units.
    StateWidths,
    /// A model needs at least one state feature (a blob's S is 0).
    StateFeatures,
}

impl core::fmt::Display for SoftQProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SoftQProblem::Beta => "beta must be finite and > 0",
            SoftQProblem::LogScale => "the log-scale unit must be finite and > 0",
            SoftQProblem::HeadTooSmall => "the head capacity P is below the outputs needed",
            SoftQProblem::StateWidths => "the hypernetwork needs 1 or 2 hidden layers of 1..=H",
            SoftQProblem::StateFeatures => "a soft-Q model needs at least one state feature",
        })
    }
}

/// A soft Q-function with a hypernetwork over S state features and a positive FINN over an
/// M-dimensional action box (see the [module documentation](self)).
///
/// ```
/// use finn_core::{softq::SoftQ, Domain};
/// // 2 state features, one hidden layer of 3 units; actions in [-2, 2] with 2 bumps.
/// let n = SoftQ::<f64, 2, 3, 7, 1, 4, 1>::parameter_count(2, &[3], &[2]);
/// let params: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
/// let actions = Domain::new([-2.0], [2.0]).unwrap();
/// let q = SoftQ::<f64, 2, 3, 7, 1, 4, 1>::new(&[3], &[2], actions, 2.0, 10.0, &params).unwrap();
/// let s = [0.3, -0.7];
/// let v = q.v(&s).unwrap();
/// // V is a soft maximum: above the mean of Q over A, at most max Q + ln|A| / beta.
/// let qa = q.q(&s, &[0.5]).unwrap();
/// assert!(v.is_finite() && qa.is_finite());
/// let a = q.sample_action(&s, &[0.25]).unwrap();
/// assert!(a[0] >= -2.0 && a[0] <= 2.0);
/// ```
#[derive(Clone, Debug)]
pub struct SoftQ<
    T: Real,
    const S: usize,
    const H: usize,
    const P: usize,
    const M: usize,
    const W: usize,
    const L: usize,
> {
    state_widths: Vec<usize, 2>,
    action_widths: Vec<usize, L>,
    outputs: usize,
    first: [[T; S]; H],
    first_bias: [T; H],
    second: [[T; H]; H],
    second_bias: [T; H],
    head: [[T; H]; P],
    head_bias: [T; P],
    actions: Domain<T, M>,
    beta: T,
    log_scale: T,
}

/// The flat parameter count for `s` state features and `m` actions (saturating).
pub(crate) fn flat_count(
    s: usize,
    m: usize,
    state_widths: &[usize],
    action_widths: &[usize],
) -> usize {
    let outputs = parameter_count(m, action_widths).saturating_add(1);
    let mut count: usize = 0;
    let mut fan_in = s;
    for &w in state_widths {
        count = count.saturating_add(w.saturating_mul(fan_in).saturating_add(w));
        fan_in = w;
    }
    count.saturating_add(outputs.saturating_mul(fan_in).saturating_add(outputs))
}

fn problem(p: SoftQProblem) -> Error {
    Error::NotASoftQ(p)
}

impl<
        T: Real,
        const S: usize,
        const H: usize,
        const P: usize,
        const M: usize,
        const W: usize,
        const L: usize,
    > SoftQ<T, S, H, P, M, W, L>
where
    Dim<M>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// The length of the flat parameter slice for `s` state features, the hypernetwork's
    /// hidden widths and the action network's hidden widths (saturating, never panics).
    ///
    /// ```
    /// use finn_core::softq::SoftQ;
    /// // 3 -> 4 -> head of parameter_count(1, &[2]) + 1 = 7 outputs.
    /// assert_eq!(SoftQ::<f64, 3, 4, 7, 1, 2, 1>::parameter_count(3, &[4], &[2]), 3 * 4 + 4 + 4 * 7 + 7);
    /// ```
    pub fn parameter_count(s: usize, state_widths: &[usize], action_widths: &[usize]) -> usize {
        flat_count(s, M, state_widths, action_widths)
    }

    /// Builds the model from its flat parameters (module docs for the layout).
    ///
    /// `beta` is the inverse temperature, `log_scale` the unit of c(s) (c = `log_scale` times
    /// the last head output), `actions` the box A.
    ///
    /// Errors: `NotASoftQ(..)` naming the bad setting, `InvalidShape` (action widths that do
    /// not fit `W`/`L`, or `M` out of 1..=8), `DimensionMismatch` (parameter count),
    /// `NonFiniteParameter`.
    ///
    /// ```
    /// use finn_core::{softq::{SoftQ, SoftQProblem}, Domain, Error};
    /// let a = Domain::new([-1.0], [1.0]).unwrap();
    /// let bad = SoftQ::<f64, 1, 2, 4, 1, 2, 1>::new(&[2], &[1], a, -1.0, 1.0, &[0.0; 18]);
    /// assert_eq!(bad.unwrap_err(), Error::NotASoftQ(SoftQProblem::Beta));
    /// ```
    pub fn new(
        state_widths: &[usize],
        action_widths: &[usize],
        actions: Domain<T, M>,
        beta: T,
        log_scale: T,
        params: &[T],
    ) -> Result<Self, Error> {
        let mut model = Self::unloaded();
        model.load(
            state_widths,
            action_widths,
            actions,
            beta,
            log_scale,
            params.len(),
            params.iter().copied(),
        )?;
        Ok(model)
    }

    /// A model with no layers, for a `static` that [`SoftQ::load`] fills later (firmware):
    /// every byte is zero, so the static lives in `.bss`. Every evaluation of it is an error,
    /// never a panic.
    ///
    /// ```
    /// use finn_core::softq::SoftQ;
    /// static EMPTY: SoftQ<f32, 3, 8, 16, 1, 4, 1> = SoftQ::unloaded();
    /// assert!(EMPTY.v(&[1.0, 0.0, 0.0]).is_err());
    /// ```
    pub const fn unloaded() -> Self {
        SoftQ {
            state_widths: Vec::new(),
            action_widths: Vec::new(),
            outputs: 0,
            first: [[T::ZERO; S]; H],
            first_bias: [T::ZERO; H],
            second: [[T::ZERO; H]; H],
            second_bias: [T::ZERO; H],
            head: [[T::ZERO; H]; P],
            head_bias: [T::ZERO; P],
            actions: Domain::unloaded(),
            // Zero, like every other field, so that a `static` of it lives in `.bss`;
            // nothing reads them before a load (every evaluation fails on the empty widths).
            beta: T::ZERO,
            log_scale: T::ZERO,
        }
    }

    /// As [`SoftQ::new`], overwriting `self` in place from `count` parameters streamed by
    /// `params` (a blob's, converted as they are read), so firmware builds no copy on its
    /// stack. A stream shorter than `count` reads as zeros. On an error `self` is left
    /// unloaded.
    ///
    /// Errors: those of [`SoftQ::new`].
    ///
    /// ```
    /// use finn_core::{softq::SoftQ, Domain, Error};
    /// let a = Domain::new([-2.0], [2.0]).unwrap();
    /// let mut q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::unloaded();
    /// q.load(&[1], &[1], a, 1.0, 1.0, 10, [0.1; 10].into_iter()).unwrap();
    /// assert!(q.v(&[0.5]).unwrap().is_finite());
    /// let bad = q.load(&[1], &[1], a, 1.0, 1.0, 10, [f64::NAN; 10].into_iter());
    /// assert_eq!(bad.unwrap_err(), Error::NonFiniteParameter);
    /// assert!(q.v(&[0.5]).is_err());
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        &mut self,
        state_widths: &[usize],
        action_widths: &[usize],
        actions: Domain<T, M>,
        beta: T,
        log_scale: T,
        count: usize,
        params: impl Iterator<Item = T>,
    ) -> Result<(), Error> {
        self.unload();
        let result = self.fill(
            state_widths,
            action_widths,
            actions,
            (beta, log_scale),
            count,
            params,
        );
        if result.is_err() {
            self.unload();
        }
        result
    }

    /// Back to [`SoftQ::unloaded`]'s empty state in place (the weights are left as they
    /// are; nothing reads them without layers): every evaluation is then an error.
    ///
    /// ```
    /// use finn_core::{softq::SoftQ, Domain};
    /// let a = Domain::new([-2.0], [2.0]).unwrap();
    /// let mut q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], a, 1.0, 1.0, &[0.1; 10]).unwrap();
    /// q.unload();
    /// assert!(q.v(&[0.5]).is_err());
    /// ```
    pub fn unload(&mut self) {
        self.state_widths.clear();
        self.action_widths.clear();
        self.outputs = 0;
    }

    fn fill(
        &mut self,
        state_widths: &[usize],
        action_widths: &[usize],
        actions: Domain<T, M>,
        (beta, log_scale): (T, T),
        count: usize,
        params: impl Iterator<Item = T>,
    ) -> Result<(), Error> {
        if !(beta.is_finite() && beta > T::ZERO) {
            return Err(problem(SoftQProblem::Beta));
        }
        if !(log_scale.is_finite() && log_scale > T::ZERO) {
            return Err(problem(SoftQProblem::LogScale));
        }
        if state_widths.is_empty()
            || state_widths.len() > 2
            || state_widths.iter().any(|&w| w == 0 || w > H)
            || S == 0
        {
            return Err(problem(SoftQProblem::StateWidths));
        }
        if action_widths.is_empty()
            || action_widths.len() > L
            || action_widths.iter().any(|&w| w == 0 || w > W)
            || M == 0
            || M > crate::activation::MAX_DIM
        {
            return Err(Error::InvalidShape);
        }
        let outputs = parameter_count(M, action_widths).saturating_add(1);
        if outputs > P {
            return Err(problem(SoftQProblem::HeadTooSmall));
        }
        let expected = Self::parameter_count(S, state_widths, action_widths);
        if count != expected {
            return Err(Error::DimensionMismatch {
                expected,
                found: count,
            });
        }
        for &w in state_widths {
            self.state_widths
                .push(w)
                .map_err(|_| problem(SoftQProblem::StateWidths))?;
        }
        for &w in action_widths {
            self.action_widths
                .push(w)
                .map_err(|_| Error::InvalidShape)?;
        }
        self.outputs = outputs;
        self.actions = actions;
        self.beta = beta;
        self.log_scale = log_scale;
        let mut p = params;
        let mut finite = true;
        let mut take = || {
            let v = p.next().unwrap_or(T::ZERO);
            finite &= v.is_finite();
            v
        };
        let h1 = state_widths.first().copied().unwrap_or(0);
        for row in self.first.iter_mut().take(h1) {
            row.iter_mut().for_each(|w| *w = take());
        }
        self.first_bias
            .iter_mut()
            .take(h1)
            .for_each(|b| *b = take());
        let mut last = h1;
        if let Some(&h2) = state_widths.get(1) {
            for row in self.second.iter_mut().take(h2) {
                row.iter_mut().take(h1).for_each(|w| *w = take());
            }
            self.second_bias
                .iter_mut()
                .take(h2)
                .for_each(|b| *b = take());
            last = h2;
        }
        for row in self.head.iter_mut().take(outputs) {
            row.iter_mut().take(last).for_each(|w| *w = take());
        }
        self.head_bias
            .iter_mut()
            .take(outputs)
            .for_each(|b| *b = take());
        if !finite {
            return Err(Error::NonFiniteParameter);
        }
        Ok(())
    }

    /// The action box A.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # // Hypernetwork weights 0; head biases (w, b, o, c) = (0.001, 0, 1, 0): f~ nearly flat.
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// assert_eq!(q.actions().upper(), &[2.0]);
    /// ```
    pub fn actions(&self) -> &Domain<T, M> {
        &self.actions
    }

    /// The inverse temperature beta.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 3.0, 1.0, &[0.0; 10]).unwrap();
    /// assert_eq!(q.beta(), 3.0);
    /// ```
    pub fn beta(&self) -> T {
        self.beta
    }

    /// The head's outputs at state `s`: the action network's raw parameters, then c's raw
    /// value (before the log-scale unit). Returns the number of outputs written.
    fn head_outputs(&self, s: &[T], out: &mut [T; P]) -> Result<usize, Error> {
        let x = crate::point::<T, S>(s)?;
        let h1 = self.state_widths.first().copied().unwrap_or(0);
        let mut a = [T::ZERO; H];
        for ((o, row), b) in a.iter_mut().zip(&self.first).zip(&self.first_bias).take(h1) {
            let mut z = *b;
            for (w, xi) in row.iter().zip(&x) {
                z += *w * *xi;
            }
            *o = z.tanh();
        }
        let mut width = h1;
        if let Some(&h2) = self.state_widths.get(1) {
            let mut next = [T::ZERO; H];
            for ((o, row), b) in next
                .iter_mut()
                .zip(&self.second)
                .zip(&self.second_bias)
                .take(h2)
            {
                let mut z = *b;
                for (w, hj) in row.iter().zip(&a).take(h1) {
                    z += *w * *hj;
                }
                *o = z.tanh();
            }
            a = next;
            width = h2;
        }
        for ((o, row), b) in out
            .iter_mut()
            .zip(&self.head)
            .zip(&self.head_bias)
            .take(self.outputs)
        {
            let mut z = *b;
            for (w, hj) in row.iter().zip(&a).take(width) {
                z += *w * *hj;
            }
            *o = finite(z)?;
        }
        Ok(self.outputs)
    }

    /// The action network F~ at state `s` and the log-scale c(s).
    ///
    /// Errors: `DimensionMismatch` (state length), `NonFiniteInput`, `Overflow`.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain, Antiderivative};
    /// # // Hypernetwork weights 0; head biases (w, b, o, c) = (0.001, 0, 1, 0): f~ nearly flat.
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let (net, c) = q.action_network(&[0.1]).unwrap();
    /// assert_eq!(c, 0.0);
    /// assert!(net.integrand(&[0.0]).unwrap() > 0.0);
    /// ```
    pub fn action_network(&self, s: &[T]) -> Result<(Network<T, M, W, L>, T), Error> {
        let mut out = [T::ZERO; P];
        let n = self.head_outputs(s, &mut out)?;
        let raw = out.get(..n.saturating_sub(1)).ok_or(Error::InvalidShape)?;
        let c_raw = out
            .get(n.saturating_sub(1))
            .copied()
            .ok_or(Error::InvalidShape)?;
        let net = Network::positive(&self.action_widths, raw)?;
        Ok((net, finite(c_raw * self.log_scale)?))
    }

    /// Q, V and the policy at state `s` (one hypernetwork pass and one normalisation).
    ///
    /// Errors: `DimensionMismatch` (state length), `NonFiniteInput` (a NaN or infinite
    /// feature), `DegenerateIntegral` (f~ has no mass on A in this precision), `Overflow`.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain, Error};
    /// # // Hypernetwork weights 0; head biases (w, b, o, c) = (0.001, 0, 1, 0): f~ nearly flat.
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// assert_eq!(q.at(&[f64::NAN]).unwrap_err(), Error::NonFiniteInput);
    /// assert_eq!(q.at(&[0.0, 1.0]).unwrap_err(), Error::DimensionMismatch { expected: 1, found: 2 });
    /// ```
    pub fn at(&self, s: &[T]) -> Result<StatePolicy<T, M, W, L>, Error> {
        let (net, c) = self.action_network(s)?;
        // The normalising constant is the corner sum in T, the same mass as `v`'s, so that
        // at(s).v() == v(s) bit for bit. `Finn::new` would resolve it in double-double: a few
        // ulps closer, but software f64 on a device without a double FPU made it almost all
        // of an action's cost. `with_constants` still proves f and F finite over A.
        let mass = self.mass(&net)?;
        let scale = finite(T::ONE / mass)?;
        let one = Constraint::new(Bound::Equal, Method::Scale, T::ONE);
        let model = Finn::with_constants(net, self.actions, Some(one), Resolved::scaled(scale))?;
        let policy = Density::new(model)?;
        Ok(StatePolicy {
            policy,
            c,
            log_mass: finite(mass.ln())?,
            beta: self.beta,
        })
    }

    /// The integral of f~(s, .) over A by the corner sum (Eq. 4); `DegenerateIntegral` when
    /// it is not positive.
    fn mass(&self, net: &Network<T, M, W, L>) -> Result<T, Error> {
        let mass = net.integral_over(self.actions.lower(), self.actions.upper())?;
        if mass.is_nan() || mass <= T::ZERO {
            return Err(Error::DegenerateIntegral);
        }
        Ok(mass)
    }

    /// Q(s, a) = (c(s) + ln f~(s, a)) / beta for a in A.
    ///
    /// Errors: as [`SoftQ::at`]; `ActionOutsideBox { axis }` for an action outside A.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain, Error};
    /// # // Hypernetwork weights 0; head biases (w, b, o, c) = (0.001, 0, 1, 0): f~ nearly flat.
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// assert!(q.q(&[0.0], &[1.0]).unwrap().is_finite());
    /// assert_eq!(q.q(&[0.0], &[3.0]).unwrap_err(), Error::ActionOutsideBox { axis: 0 });
    /// ```
    pub fn q(&self, s: &[T], a: &[T]) -> Result<T, Error> {
        let a = self.check_action(a)?;
        let (net, c) = self.action_network(s)?;
        finite((c + log_integrand(&net, &a)?) / self.beta)
    }

    /// V(s) = (c(s) + ln of the integral of f~(s, .) over A) / beta, exact (Eq. 4).
    ///
    /// Errors: as [`SoftQ::at`].
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # // Hypernetwork weights 0; head biases (w, b, o, c) = (0.001, 0, 1, 0): f~ nearly flat.
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// // f~ is flat on A to 4e-6, so V = Q + ln|A| / beta to that accuracy.
    /// let gap = q.v(&[0.0]).unwrap() - q.q(&[0.0], &[1.0]).unwrap();
    /// assert!((gap - 4.0f64.ln()).abs() < 1e-5);
    /// ```
    pub fn v(&self, s: &[T]) -> Result<T, Error> {
        let (net, c) = self.action_network(s)?;
        let mass = self.mass(&net)?;
        finite((c + mass.ln()) / self.beta)
    }

    /// ln pi(a | s) = beta (Q(s, a) - V(s)); -inf outside A (c cancels: no overflow).
    ///
    /// Errors: as [`SoftQ::at`]; `NonFiniteInput` for a NaN action.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # // Hypernetwork weights 0; head biases (w, b, o, c) = (0.001, 0, 1, 0): f~ nearly flat.
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// assert!((q.log_policy_pdf(&[0.0], &[1.0]).unwrap() + 4.0f64.ln()).abs() < 1e-5);
    /// assert_eq!(q.log_policy_pdf(&[0.0], &[9.0]).unwrap(), f64::NEG_INFINITY);
    /// ```
    pub fn log_policy_pdf(&self, s: &[T], a: &[T]) -> Result<T, Error> {
        self.at(s)?.log_policy_pdf(a)
    }

    /// pi(a | s); 0 outside A.
    ///
    /// Errors: as [`SoftQ::log_policy_pdf`].
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # // Hypernetwork weights 0; head biases (w, b, o, c) = (0.001, 0, 1, 0): f~ nearly flat.
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// assert!((q.policy_pdf(&[0.0], &[1.0]).unwrap() - 0.25).abs() < 1e-5);
    /// ```
    pub fn policy_pdf(&self, s: &[T], a: &[T]) -> Result<T, Error> {
        self.at(s)?.policy_pdf(a)
    }

    /// An action drawn from pi(. | s) by inverting its CDF at `uniforms` (one per action
    /// axis, clamped to [0, 1]): deterministic, always inside A, never NaN
    /// ([`Density::sample`]).
    ///
    /// Errors: as [`SoftQ::at`]; `NonFiniteInput` for a NaN or infinite uniform.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # // Hypernetwork weights 0; head biases (w, b, o, c) = (0.001, 0, 1, 0): f~ nearly flat.
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// // A nearly uniform policy: the CDF inverse of u is close to -2 + 4 u.
    /// assert!((q.sample_action(&[0.0], &[0.75]).unwrap()[0] - 1.0).abs() < 1e-4);
    /// ```
    pub fn sample_action(&self, s: &[T], uniforms: &[T; M]) -> Result<[T; M], Error> {
        self.at(s)?.sample(uniforms)
    }

    fn check_action(&self, a: &[T]) -> Result<[T; M], Error> {
        let a = crate::point::<T, M>(a)?;
        check_in_box(&self.actions, &a)?;
        Ok(a)
    }
}

pub(super) fn check_in_box<T: Real, const M: usize>(
    actions: &Domain<T, M>,
    a: &[T; M],
) -> Result<(), Error> {
    for (axis, (v, (lo, hi))) in a
        .iter()
        .zip(actions.lower().iter().zip(actions.upper()))
        .enumerate()
    {
        if *v < *lo || *v > *hi {
            return Err(Error::ActionOutsideBox { axis });
        }
    }
    Ok(())
}

/// ln f~(a): a log-sum-exp for one hidden layer (finite where f~ underflows), else ln f~.
pub(super) fn log_integrand<T: Real, const M: usize, const W: usize, const L: usize>(
    net: &Network<T, M, W, L>,
    a: &[T; M],
) -> Result<T, Error>
where
    Dim<M>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    if let Some(l) = net.log_integrand_one_layer(a) {
        return if l.is_nan() {
            Err(Error::Overflow)
        } else {
            Ok(l)
        };
    }
    let f = net.integrand(a)?;
    Ok(if f > T::ZERO {
        f.ln()
    } else {
        -(T::ONE / T::ZERO)
    })
}

//! Certified pointwise bounds: proves `sup f <= delta` over a box, or computes the supremum
//! itself to a tolerance, by branch and bound on rigorous enclosures of f (no sampling
//! claims).
//!
//! The enclosures are finn-core's interval jets ([`finn_core::enclosure`]): an interval that
//! holds f(x) for every x in a box, whose width shrinks linearly with the box. The search
//! keeps the boxes in a priority queue by their upper bound:
//!
//! 1. pop the box with the largest upper bound U (so sup f <= max(U, the pruned boxes'
//!    bounds));
//! 2. split it in two at the middle of its widest axis (widths scaled by the starting
//!    box's), enclose each half (its upper bound capped by the parent's), and evaluate f at
//!    each half's centre: the largest value found, B, is a lower bound of the supremum. The
//!    enclosure is the cheap one first, and where that does not drop the half, the centred
//!    (mean-value) one, whose overestimate shrinks quadratically near a maximum: with it the
//!    shipped 2-D densities need about a thousand boxes instead of several hundred thousand
//!    (`results/supremum.md`);
//! 3. drop a half whose upper bound is <= delta (proving) or <= B (computing the supremum).
//!
//! It ends as
//!
//! - **proven** ([`Status::Proven`]) when every remaining upper bound is <= delta;
//! - **violated** ([`Status::Violated`]) as soon as f at some point exceeds delta, checked
//!   rigorously: the enclosure of f at that point alone lies above delta;
//! - **undecided** ([`Status::Undecided`]) when the supremum is known to within the tolerance
//!   (U - B <= tolerance * max(|delta|, |B|)) with delta inside that gap, or the budget of
//!   boxes runs out.
//!
//! [`supremum`] runs the same search until U - B <= tolerance * max(|B|, |U|).
//!
//! Rigour: the enclosures round outward at every operation; the activations' own values carry
//! a documented allowance (4 times the error measured against a 25-digit reference for
//! sigma_n, 64 ulps for tanh), so a proof is as rigorous as those measurements
//! ([`finn_core::enclosure`]). The bound is on the exact f of the stored parameters; a value
//! computed in floating point can differ from it by its rounding (about 1e-15 relative in
//! f64), far below any tolerance the search reaches.
//!
//! ```
//! use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
//! use finn_train::supremum::{prove_at_most, supremum, Enclose, Settings, Status};
//! let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
//! let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
//! let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
//! let (lo, hi) = p.domain();
//! let s = supremum(&p, &lo, &hi, &Settings::default()).unwrap();
//! assert!(s.converged && s.lower <= s.upper);
//! // "This density never exceeds 1.01 x its supremum": proven.
//! let c = prove_at_most(&p, &lo, &hi, 1.01 * s.upper, &Settings::default()).unwrap();
//! assert_eq!(c.status, Status::Proven);
//! // Just below the values it takes: violated, with a witness.
//! let c = prove_at_most(&p, &lo, &hi, 0.99 * s.lower, &Settings::default()).unwrap();
//! assert!(matches!(c.status, Status::Violated { value, .. } if value > 0.99 * s.lower));
//! ```

use crate::density::composite::{DensityModel, SupportMap};
use crate::model::TrainedModel;
use crate::TrainError;
use finn_core::format::{decode_any, Blob, FormatError, ModelView, Payload, Scalar};
use finn_core::jet::{Dim, JetDim};
use finn_core::{Antiderivative, Density, Depth, Error, Finn, HiddenBlocks, Interval};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

mod mixture;
pub use mixture::Mixture;

/// Anything with a point value f(x) and a rigorous enclosure of f over a box: what the
/// certificate needs. Implemented for finn-core's [`Finn`] and [`Density`] (f64), a trained
/// mixture of reflected densities ([`Mixture`]), and the magnitude |f| of any of them
/// ([`Magnitude`]), e.g. a bounded deviation |phi - psi|.
///
/// ```
/// use finn_core::{Activation, Domain, Finn, Network};
/// use finn_train::supremum::Enclose;
/// let net = Network::<f64, 1, 2, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, 1.0]).unwrap();
/// let model = Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), None).unwrap();
/// let e = model.enclosure(&[0.0], &[1.0]).unwrap();
/// assert!(e.contains(model.value(&[0.5]).unwrap()));
/// ```
pub trait Enclose {
    /// The input dimension n.
    fn dim(&self) -> usize;
    /// The box the function lives on (a model's domain, a density's support).
    fn domain(&self) -> (Vec<f64>, Vec<f64>);
    /// f at a point.
    fn value(&self, x: &[f64]) -> Result<f64, Error>;
    /// An interval that holds f(x) for every x in the box [lower, upper] (lower <= upper).
    fn enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error>;
    /// Enclosures of the gradient of f over the box, one per axis, where f is differentiable
    /// over all of it; `None` (the default) where not offered.
    fn gradient_enclosure(
        &self,
        _lower: &[f64],
        _upper: &[f64],
    ) -> Result<Option<Vec<Interval<f64>>>, Error> {
        Ok(None)
    }
    /// A tighter enclosure for small boxes, at a higher cost: by default the mean-value form
    /// f(m) + sum_i \[d_i f\](box) (x_i - m_i) at the centre m ([`centred_form`]), intersected
    /// with [`Enclose::enclosure`], where a gradient is offered. The search asks for it where
    /// the cheap one does not settle a box.
    fn centred_enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        centred_form(self, lower, upper)
    }
    /// The data's coordinates of a point of [`Enclose::domain`]: the point itself, except for
    /// a density over all of R^n, which is certified in its map's u-box ([`Mixture`]).
    fn to_data(&self, at: &[f64]) -> Vec<f64> {
        at.to_vec()
    }
}

/// [`Enclose::enclosure`] intersected with the mean-value form f(m) + sum_i G_i (x_i - m_i),
/// m the box's centre, f(m) enclosed on the point box, G the gradient enclosure (when the
/// function offers one), all in outward-rounded interval arithmetic.
///
/// Errors: as the function's enclosures; `Overflow` when the result is not finite.
///
/// ```
/// use finn_core::{Domain, Finn, Network};
/// use finn_train::supremum::{centred_form, Enclose};
/// // Three sigma_2 ridges whose lines do not meet: f has its maximum where no unit peaks.
/// let p = [0.8, 0.6, 1.1, 0.3, 0.5, 1.2, 0.1, -0.4, 0.7, 1.0, 0.5, 0.8];
/// let net = Network::<f64, 2, 4, 1>::positive(&[3], &p).unwrap();
/// let model = Finn::new(net, Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap(), None).unwrap();
/// let top = [0.5320741459727287, -0.8158351480960846]; // located by a local search
/// let f_max = model.value(&top).unwrap();
/// let (lo, hi) = ([top[0] - 1e-3, top[1] - 1e-3], [top[0] + 1e-3, top[1] + 1e-3]);
/// let c = centred_form(&model, &lo, &hi).unwrap();
/// assert!(c.hi >= f_max && c.hi - f_max < 0.1 * (model.enclosure(&lo, &hi).unwrap().hi - f_max));
/// ```
pub fn centred_form<M: Enclose + ?Sized>(
    f: &M,
    lower: &[f64],
    upper: &[f64],
) -> Result<Interval<f64>, Error> {
    let natural = f.enclosure(lower, upper)?;
    let Some(g) = f.gradient_enclosure(lower, upper)? else {
        return Ok(natural);
    };
    let m: Vec<f64> = lower
        .iter()
        .zip(upper)
        .map(|(a, b)| (a + 0.5 * (b - a)).clamp(*a, *b))
        .collect();
    let mut mean_value = f.enclosure(&m, &m)?;
    for i in 0..m.len() {
        let offset = Interval::point(lower[i]) - Interval::point(m[i]);
        let offset = Interval {
            lo: offset.lo,
            hi: (Interval::point(upper[i]) - Interval::point(m[i])).hi,
        };
        mean_value += g[i] * offset;
    }
    if !mean_value.is_finite() {
        return Err(Error::Overflow);
    }
    Ok(Interval {
        lo: natural.lo.max(mean_value.lo),
        hi: natural.hi.min(mean_value.hi),
    })
}

impl<const N: usize, const W: usize, const L: usize> Enclose for Finn<f64, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f64, W>,
{
    fn dim(&self) -> usize {
        N
    }
    fn domain(&self) -> (Vec<f64>, Vec<f64>) {
        let d = Finn::domain(self);
        (d.lower().to_vec(), d.upper().to_vec())
    }
    fn value(&self, x: &[f64]) -> Result<f64, Error> {
        self.integrand(x)
    }
    fn enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        self.integrand_enclosure(lower, upper)
    }
    fn gradient_enclosure(
        &self,
        lower: &[f64],
        upper: &[f64],
    ) -> Result<Option<Vec<Interval<f64>>>, Error> {
        Ok(Some(
            self.integrand_gradient_enclosure(lower, upper)?.to_vec(),
        ))
    }
    fn centred_enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        self.integrand_enclosure_centred(lower, upper)
    }
}

/// A slice as a point of dimension N.
fn array<const N: usize>(x: &[f64]) -> Result<[f64; N], Error> {
    x.try_into().map_err(|_| Error::DimensionMismatch {
        expected: N,
        found: x.len(),
    })
}

impl<const N: usize, const W: usize, const L: usize> Enclose for Density<f64, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f64, W>,
{
    fn dim(&self) -> usize {
        N
    }
    fn domain(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.support();
        (d.lower().to_vec(), d.upper().to_vec())
    }
    fn value(&self, x: &[f64]) -> Result<f64, Error> {
        self.pdf(&array::<N>(x)?)
    }
    fn enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        self.pdf_enclosure(&array::<N>(lower)?, &array::<N>(upper)?)
    }
    fn gradient_enclosure(
        &self,
        lower: &[f64],
        upper: &[f64],
    ) -> Result<Option<Vec<Interval<f64>>>, Error> {
        Ok(self
            .pdf_gradient_enclosure(&array::<N>(lower)?, &array::<N>(upper)?)?
            .map(|g| g.to_vec()))
    }
    fn centred_enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        self.pdf_enclosure_centred(&array::<N>(lower)?, &array::<N>(upper)?)
    }
}

impl<M: Enclose + ?Sized> Enclose for Box<M> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn domain(&self) -> (Vec<f64>, Vec<f64>) {
        (**self).domain()
    }
    fn value(&self, x: &[f64]) -> Result<f64, Error> {
        (**self).value(x)
    }
    fn enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        (**self).enclosure(lower, upper)
    }
    fn gradient_enclosure(
        &self,
        lower: &[f64],
        upper: &[f64],
    ) -> Result<Option<Vec<Interval<f64>>>, Error> {
        (**self).gradient_enclosure(lower, upper)
    }
    fn centred_enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        (**self).centred_enclosure(lower, upper)
    }
    fn to_data(&self, at: &[f64]) -> Vec<f64> {
        (**self).to_data(at)
    }
}

/// |f| of another function: `sup |f| <= delta` is a bounded deviation (|phi - psi| <= delta
/// everywhere, with f = psi - phi).
///
/// ```
/// use finn_core::{Activation, Domain, Finn, Network};
/// use finn_train::supremum::{prove_at_most, Magnitude, Settings, Status};
/// // f = sech^2(x) - ... a signed FINN; |f| <= 1.01 on [-1, 1].
/// let net = Network::<f64, 1, 2, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, -1.0]).unwrap();
/// let model = Finn::new(net, Domain::new([-1.0], [1.0]).unwrap(), None).unwrap();
/// let c = prove_at_most(&Magnitude(&model), &[-1.0], &[1.0], 1.01, &Settings::default()).unwrap();
/// assert_eq!(c.status, Status::Proven);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Magnitude<M>(pub M);

impl<M: Enclose> Enclose for Magnitude<M> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn domain(&self) -> (Vec<f64>, Vec<f64>) {
        self.0.domain()
    }
    fn value(&self, x: &[f64]) -> Result<f64, Error> {
        Ok(self.0.value(x)?.abs())
    }
    fn enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        Ok(self.0.enclosure(lower, upper)?.abs())
    }
    fn centred_enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        Ok(self.0.centred_enclosure(lower, upper)?.abs())
    }
}

impl<M: Enclose + ?Sized> Enclose for &M {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn domain(&self) -> (Vec<f64>, Vec<f64>) {
        (**self).domain()
    }
    fn value(&self, x: &[f64]) -> Result<f64, Error> {
        (**self).value(x)
    }
    fn enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        (**self).enclosure(lower, upper)
    }
    fn gradient_enclosure(
        &self,
        lower: &[f64],
        upper: &[f64],
    ) -> Result<Option<Vec<Interval<f64>>>, Error> {
        (**self).gradient_enclosure(lower, upper)
    }
    fn centred_enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        (**self).centred_enclosure(lower, upper)
    }
}

/// Limits of the search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Relative resolution: the search stops once the supremum is known to within
    /// `tolerance` times its magnitude (and, when proving, delta's).
    pub tolerance: f64,
    /// Boxes enclosed at most (each costs one enclosure and one point value).
    pub max_boxes: usize,
    /// Whether a box that the cheap enclosure does not settle gets the centred one
    /// ([`Enclose::centred_enclosure`]); `false` keeps to the cheap one (linear convergence:
    /// typically 100 to 500 times the boxes, for comparison).
    pub centred: bool,
}

impl Default for Settings {
    /// Tolerance 1e-6, 2,000,000 boxes, centred enclosures.
    fn default() -> Self {
        Settings {
            tolerance: 1e-6,
            max_boxes: 2_000_000,
            centred: true,
        }
    }
}

/// What [`prove_at_most`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// f(x) <= delta for every x in the box.
    Proven,
    /// f(at) = value > delta (the enclosure of f at `at` alone lies above delta).
    Violated {
        /// The witness.
        at: Vec<f64>,
        /// f there.
        value: f64,
    },
    /// Neither within the tolerance or the budget.
    Undecided,
}

/// The verdict on `sup f <= delta` over a box, and what the search knows about the supremum.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    /// The bound that was to be proven.
    pub delta: f64,
    /// The verdict.
    pub status: Status,
    /// The largest value of f found (a lower bound of the supremum), and where.
    pub lower: f64,
    /// Where `lower` was found.
    pub at: Vec<f64>,
    /// A proven upper bound of the supremum over the box (<= delta when proven).
    pub upper: f64,
    /// Boxes enclosed.
    pub boxes: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl Certificate {
    /// Whether `sup f <= delta` is proven.
    pub fn proven(&self) -> bool {
        self.status == Status::Proven
    }
}

/// The supremum of f over a box, to a tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Supremum {
    /// A value f takes (a lower bound of the supremum).
    pub lower: f64,
    /// Where.
    pub at: Vec<f64>,
    /// A proven upper bound of the supremum.
    pub upper: f64,
    /// Whether `upper - lower <= tolerance * max(|lower|, |upper|)` was reached within the
    /// budget (otherwise both bounds still hold, only further apart).
    pub converged: bool,
    /// Boxes enclosed.
    pub boxes: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// A box of the search: its ends, interleaved as [lower..., upper...], and its upper bound.
struct Cell {
    hi: f64,
    ends: Box<[f64]>,
}

impl PartialEq for Cell {
    fn eq(&self, other: &Self) -> bool {
        self.hi.total_cmp(&other.hi) == Ordering::Equal
    }
}
impl Eq for Cell {}
impl PartialOrd for Cell {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cell {
    // The heap pops the largest upper bound first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.hi.total_cmp(&other.hi)
    }
}

/// What the search is for.
#[derive(Clone, Copy)]
enum Goal {
    AtMost(f64),
    Supremum,
}

/// The search's end state.
struct Outcome {
    witness: Option<(Vec<f64>, f64)>,
    proven: bool,
    converged: bool,
    lower: f64,
    at: Vec<f64>,
    upper: f64,
    boxes: usize,
    seconds: f64,
}

/// Checks the box: n entries each, finite, lower <= upper.
fn check_box(n: usize, lower: &[f64], upper: &[f64]) -> Result<(), TrainError> {
    for corner in [lower, upper] {
        if corner.len() != n {
            return Err(Error::DimensionMismatch {
                expected: n,
                found: corner.len(),
            }
            .into());
        }
    }
    for (axis, (a, b)) in lower.iter().zip(upper).enumerate() {
        if !a.is_finite() || !b.is_finite() {
            return Err(Error::NonFiniteInput.into());
        }
        if a > b {
            return Err(Error::EmptyInterval { axis }.into());
        }
    }
    Ok(())
}

/// The search's point values: the largest, where, and a rigorous violation of delta.
struct Best {
    value: f64,
    at: Vec<f64>,
    witness: Option<(Vec<f64>, f64)>,
}

impl Best {
    /// Evaluates f at `x`; a value above delta is a violation only if the enclosure of f at
    /// `x` alone lies above delta too (so rounding cannot fake one).
    fn consider<M: Enclose + ?Sized>(
        &mut self,
        model: &M,
        goal: Goal,
        x: Vec<f64>,
    ) -> Result<(), TrainError> {
        let v = model.value(&x)?;
        if let Goal::AtMost(delta) = goal {
            if self.witness.is_none() && v > delta && model.enclosure(&x, &x)?.lo > delta {
                self.witness = Some((x.clone(), v));
            }
        }
        if v > self.value {
            self.value = v;
            self.at = x;
        }
        Ok(())
    }
}

/// Branch and bound (module docs).
fn search<M: Enclose + ?Sized>(
    model: &M,
    lower: &[f64],
    upper: &[f64],
    goal: Goal,
    settings: &Settings,
) -> Result<Outcome, TrainError> {
    let start = Instant::now();
    let n = model.dim();
    check_box(n, lower, upper)?;
    if let Goal::AtMost(delta) = goal {
        if delta.is_nan() {
            return Err(Error::NonFiniteInput.into());
        }
    }
    let scale: Vec<f64> = lower
        .iter()
        .zip(upper)
        .map(|(a, b)| if b > a { b - a } else { 1.0 })
        .collect();
    let mut best = Best {
        value: f64::NEG_INFINITY,
        at: lower.to_vec(),
        witness: None,
    };
    // The corners and the centre of the starting box.
    for k in 0..1usize << n.min(10) {
        let x: Vec<f64> = (0..n)
            .map(|i| if k >> i & 1 == 1 { upper[i] } else { lower[i] })
            .collect();
        best.consider(model, goal, x)?;
    }
    let centre = |ends: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let (a, b) = (ends[i], ends[n + i]);
                (a + 0.5 * (b - a)).clamp(a, b)
            })
            .collect()
    };
    let mut ends: Vec<f64> = lower.to_vec();
    ends.extend_from_slice(upper);
    best.consider(model, goal, centre(&ends))?;
    let root = model.enclosure(lower, upper)?;
    let mut boxes = 1usize;
    let mut heap = BinaryHeap::new();
    heap.push(Cell {
        hi: root.hi,
        ends: ends.into_boxed_slice(),
    });
    // The largest upper bound among the boxes dropped (proven below delta or below `best`),
    // and among boxes too small to split.
    let mut dropped = f64::NEG_INFINITY;
    let mut stuck: Vec<Cell> = Vec::new();
    let (mut proven, mut converged) = (false, false);
    loop {
        let top = heap.peek().map_or(f64::NEG_INFINITY, |c| c.hi);
        let stuck_hi = stuck.iter().fold(f64::NEG_INFINITY, |m, c| m.max(c.hi));
        let bound = top.max(dropped).max(stuck_hi);
        let gap = bound - best.value;
        match goal {
            Goal::AtMost(delta) => {
                if best.witness.is_some() {
                    break;
                }
                if bound <= delta {
                    proven = true;
                    break;
                }
                if gap <= settings.tolerance * delta.abs().max(best.value.abs()) {
                    converged = true;
                    break;
                }
            }
            Goal::Supremum => {
                if gap <= settings.tolerance * best.value.abs().max(bound.abs()) {
                    converged = true;
                    break;
                }
            }
        }
        if heap.is_empty() || boxes >= settings.max_boxes {
            break;
        }
        let Some(cell) = heap.pop() else { break };
        // Split the widest axis (relative to the starting box) at its middle.
        let axis = (0..n)
            .max_by(|&i, &j| {
                let wi = (cell.ends[n + i] - cell.ends[i]) / scale[i];
                let wj = (cell.ends[n + j] - cell.ends[j]) / scale[j];
                wi.total_cmp(&wj)
            })
            .unwrap_or(0);
        let (a, b) = (cell.ends[axis], cell.ends[n + axis]);
        let mid = a + 0.5 * (b - a);
        if !(a < mid && mid < b) {
            stuck.push(cell);
            continue;
        }
        for half in 0..2 {
            let mut ends = cell.ends.clone();
            if half == 0 {
                ends[n + axis] = mid;
            } else {
                ends[axis] = mid;
            }
            boxes += 1;
            best.consider(model, goal, centre(&ends))?;
            let threshold = match goal {
                Goal::AtMost(delta) => delta,
                Goal::Supremum => best.value,
            };
            // The cheap enclosure first, the centred one where that does not drop the half.
            let mut e = model.enclosure(&ends[..n], &ends[n..])?;
            if e.hi > threshold && settings.centred {
                e = model.centred_enclosure(&ends[..n], &ends[n..])?;
            }
            // The half lies in its parent: the parent's bound holds for it too.
            let hi = e.hi.min(cell.hi);
            if hi <= threshold {
                dropped = dropped.max(hi);
            } else {
                heap.push(Cell { hi, ends });
            }
        }
    }
    let top = heap.peek().map_or(f64::NEG_INFINITY, |c| c.hi);
    let stuck_hi = stuck.iter().fold(f64::NEG_INFINITY, |m, c| m.max(c.hi));
    // Every point of the box lies in a remaining, dropped or stuck box; the point values are
    // values of f, so the supremum is at least `best`.
    let upper_bound = top.max(dropped).max(stuck_hi).max(best.value);
    Ok(Outcome {
        witness: best.witness,
        proven,
        converged,
        lower: best.value,
        at: best.at,
        upper: upper_bound,
        boxes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Proves or refutes `f(x) <= delta` for every x in the box [lower, upper] (module docs).
///
/// Errors: `Core` when the box does not fit the model (`DimensionMismatch`,
/// `NonFiniteInput`, `EmptyInterval`) or an evaluation overflows.
pub fn prove_at_most<M: Enclose + ?Sized>(
    model: &M,
    lower: &[f64],
    upper: &[f64],
    delta: f64,
    settings: &Settings,
) -> Result<Certificate, TrainError> {
    let o = search(model, lower, upper, Goal::AtMost(delta), settings)?;
    let status = if let Some((at, value)) = o.witness {
        Status::Violated { at, value }
    } else if o.proven {
        Status::Proven
    } else {
        Status::Undecided
    };
    Ok(Certificate {
        delta,
        status,
        lower: o.lower,
        at: o.at,
        upper: o.upper,
        boxes: o.boxes,
        seconds: o.seconds,
    })
}

/// The supremum of f over the box [lower, upper]: a value f takes and a proven upper bound,
/// within `settings.tolerance` of each other (relative) unless the budget runs out first.
///
/// Errors as for [`prove_at_most`].
pub fn supremum<M: Enclose + ?Sized>(
    model: &M,
    lower: &[f64],
    upper: &[f64],
    settings: &Settings,
) -> Result<Supremum, TrainError> {
    let o = search(model, lower, upper, Goal::Supremum, settings)?;
    Ok(Supremum {
        lower: o.lower,
        at: o.at,
        upper: o.upper,
        converged: o.converged,
        boxes: o.boxes,
        seconds: o.seconds,
    })
}

/// Largest hidden width of a blob that [`load_blob`] handles.
pub const BLOB_WIDTH: usize = 64;
/// Most hidden layers of a blob that [`load_blob`] handles.
pub const BLOB_LAYERS: usize = 4;

/// A function read from a file, loaded in f64 for the certificate.
pub struct Loaded {
    /// f: a density's pdf (0 outside its support), a model's integrand, or a mixture's pdf.
    pub function: Box<dyn Enclose>,
    /// What it is, in words (payload, kind, n, widths).
    pub description: String,
    /// A bound of |f| over the whole domain from the magnitude jets
    /// (`Network::bounds_over`, times the scale, plus |shift|; for a mixture the weighted
    /// sum): what loading a blob proves. Not local, for comparison.
    pub magnitude_bound: f64,
}

/// Loads a model blob (payload 0) or a density blob (payload 2), any scalar type (f32
/// parameters widen exactly), with the checks of finn-core's loaders, into f64 with the
/// capacity n <= 8, widths <= [`BLOB_WIDTH`], depth <= [`BLOB_LAYERS`].
///
/// Errors: `Data` naming the problem (not a blob, a trajectory blob, a shape beyond the
/// capacity, a failed check).
pub fn load_blob(bytes: &[u8]) -> Result<Loaded, TrainError> {
    let bad = |e: FormatError| TrainError::Data(format!("blob: {e}"));
    let (view, density) = match decode_any(bytes).map_err(bad)? {
        Blob::Model(v) => (v, false),
        Blob::Density(v) => (v, true),
        // The whole mixture as flashed: the same model as its `.density.json`.
        Blob::DensityMixture(_) => return mixture_loaded(&DensityModel::from_blob(bytes)?),
        Blob::Trajectory(_) => return Err(not_certified(Payload::Trajectory)),
        Blob::Deviation(_) => return Err(not_certified(Payload::Deviation)),
        _ => return Err(TrainError::Data("blob: an unknown payload".into())),
    };
    fn build<const N: usize>(
        view: &ModelView<'_>,
        density: bool,
    ) -> Result<(Box<dyn Enclose>, f64), FormatError>
    where
        Dim<N>: JetDim,
    {
        let finn: Box<Finn<f64, N, BLOB_WIDTH, BLOB_LAYERS>> = Box::new(view.to_finn()?);
        let d = Finn::domain(&*finn);
        let (_, f) = finn.network().bounds_over(d.lower(), d.upper())?;
        let magnitude = finn.constants().scale * f + finn.shift().abs();
        if density {
            let p: Box<Density<f64, N, BLOB_WIDTH, BLOB_LAYERS>> = Box::new(view.to_density()?);
            Ok((p, magnitude))
        } else {
            Ok((finn, magnitude))
        }
    }
    let (function, magnitude_bound) = match view.n() {
        1 => build::<1>(&view, density),
        2 => build::<2>(&view, density),
        3 => build::<3>(&view, density),
        4 => build::<4>(&view, density),
        5 => build::<5>(&view, density),
        6 => build::<6>(&view, density),
        7 => build::<7>(&view, density),
        8 => build::<8>(&view, density),
        n => return Err(TrainError::Data(format!("blob: n = {n} is not in 1..=8"))),
    }
    .map_err(bad)?;
    let description = format!(
        "{} ({} network, n = {}, widths {:?})",
        if view.payload() == Payload::Density {
            "the pdf of a density blob"
        } else {
            "f of a model blob"
        },
        if view.kind() == finn_core::Kind::Positive {
            "positive"
        } else {
            "signed"
        },
        view.n(),
        view.widths()
    );
    Ok(Loaded {
        function,
        description,
        magnitude_bound,
    })
}

/// A trained model (a component of a mixture, a fit) loaded for the certificate, through its
/// f64 blob: as a density when it is one, as a model otherwise ([`load_blob`]).
///
/// Errors as for [`load_blob`], and `Data` when the model cannot be written as a blob.
pub fn load_model(model: &TrainedModel) -> Result<Loaded, TrainError> {
    let density = model.architecture.kind == finn_core::Kind::Positive
        && matches!(model.constraint, Some(c) if c.bound == finn_core::Bound::Equal
            && c.method == finn_core::Method::Scale && c.eps == 1.0);
    let blob = if density {
        model.to_density_blob(Scalar::F64)
    } else {
        model.to_blob(Scalar::F64)
    }
    .map_err(|e| TrainError::Data(format!("model: {e}")))?;
    load_blob(&blob)
}

/// Reads what `cargo xtask bound` certifies: a density mixture (`*.density.json`, a
/// [`DensityModel`] on a box support, [`Mixture`]) or a model or density blob (any other
/// file, [`load_blob`]).
///
/// Errors: `Io` when the file cannot be read, then as for [`Mixture::new`] or
/// [`load_blob`].
pub fn load_file(path: &std::path::Path) -> Result<Loaded, TrainError> {
    if path.to_string_lossy().ends_with(".json") {
        return mixture_loaded(&DensityModel::load_json(path)?);
    }
    load_blob(&std::fs::read(path)?)
}

/// A density mixture (from its JSON or its payload-4 blob) as a certifiable function.
fn mixture_loaded(d: &DensityModel) -> Result<Loaded, TrainError> {
    let m = Mixture::new(d)?;
    let c = &d.components[0].model.architecture;
    let on = match &d.map {
        SupportMap::RealSpace { .. } => {
            " on all of R^n, as p(x(u)) on the u-box of x = centre + scale ln(u / (1 - u))"
        }
        _ => "",
    };
    Ok(Loaded {
        description: format!(
            "the pdf of a mixture of {} reflected densities{on} (n = {}, widths {:?})",
            d.components.len(),
            c.n,
            c.widths
        ),
        magnitude_bound: m.magnitude_bound(),
        function: Box::new(m),
    })
}

/// The error for a blob whose payload has no pointwise bound to certify here.
fn not_certified(payload: Payload) -> TrainError {
    TrainError::Data(format!(
        "blob: a {payload} blob; the certificate reads model, density and density mixture blobs"
    ))
}

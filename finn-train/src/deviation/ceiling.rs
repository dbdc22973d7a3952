//! A pointwise ceiling on the correction, proven: |phi(x) - psi(x)| <= delta for every x in
//! the domain, not only at the points seen.
//!
//! The original implementation's `FinnMax` raises an offset until f stays under a maximum at
//! the points it has seen. Here the magnitude's supremum over the whole domain is bounded by
//! branch and bound on rigorous enclosures ([`crate::supremum`]); if that bound U exceeds
//! delta, the magnitude's scale is lowered by delta / U (which keeps its integral at most
//! eps, and so the budget), and `sup f <= delta` is then proven for the model that is saved.
//! Since |phi - psi| = f |d| <= f, the ceiling holds for the correction itself. Training
//! steers below the ceiling with a penalty at the training points
//! ([`super::loss::DeviationLoss::ceiling`]), so the rescaling costs little.

use super::DeviationModel;
use crate::supremum::{prove_at_most, supremum, Enclose, Settings, Status};
use crate::TrainError;
use finn_core::jet::{Dim, JetDim};
use finn_core::{Bound, Constraint, Domain, Finn, Kind, Method, Network, Resolved};

/// Widest hidden layer the certificate handles.
pub const WIDTH: usize = crate::supremum::BLOB_WIDTH;
/// Most hidden layers.
pub const LAYERS: usize = crate::supremum::BLOB_LAYERS;

/// The magnitude s f of a model as a finn-core [`Finn`] (the certificate's input).
///
/// Errors: `Core` when the parameters do not make a valid positive model with its budget.
pub fn magnitude(m: &DeviationModel) -> Result<Box<dyn Enclose>, TrainError> {
    fn build<const N: usize>(m: &DeviationModel) -> Result<Box<dyn Enclose>, TrainError>
    where
        Dim<N>: JetDim,
    {
        let net = Network::<f64, N, WIDTH, LAYERS>::new(
            Kind::Positive,
            finn_core::Activation::Sigma,
            &m.magnitude.widths,
            &m.magnitude_params,
        )?;
        let domain = Domain::<f64, N>::from_slices(&m.lower, &m.upper)?;
        let budget = Constraint::new(Bound::AtMost, Method::Scale, m.eps);
        let finn = Finn::with_constants(net, domain, Some(budget), Resolved::scaled(m.scale))?;
        Ok(Box::new(finn))
    }
    match m.inputs() {
        1 => build::<1>(m),
        2 => build::<2>(m),
        3 => build::<3>(m),
        4 => build::<4>(m),
        5 => build::<5>(m),
        6 => build::<6>(m),
        7 => build::<7>(m),
        8 => build::<8>(m),
        n => Err(TrainError::Data(format!(
            "a deviation model has 1..=8 inputs, not {n}"
        ))),
    }
}

/// What [`enforce`] proved.
#[derive(Clone, Debug, PartialEq)]
pub struct Ceiling {
    /// The ceiling delta.
    pub delta: f64,
    /// Whether sup |phi - psi| <= delta is proven for the saved model.
    pub proven: bool,
    /// A proven upper bound of the magnitude's supremum over the domain (after rescaling).
    pub upper: f64,
    /// The largest magnitude found, and where.
    pub found: (f64, Vec<f64>),
    /// The trained model's supremum bound before rescaling.
    pub trained_upper: f64,
    /// The scale before rescaling, when it was lowered.
    pub rescaled_from: Option<f64>,
    /// Boxes enclosed in all.
    pub boxes: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Bounds the magnitude's supremum over the domain; lowers the scale if that bound exceeds
/// `delta`; proves `sup f <= delta` for the model as left in `m`.
///
/// Errors: `Core` for a model that does not load; the search's errors.
pub fn enforce(
    m: &mut DeviationModel,
    delta: f64,
    settings: &Settings,
) -> Result<Ceiling, TrainError> {
    let (lo, hi) = (m.lower.clone(), m.upper.clone());
    let first = supremum(&*magnitude(m)?, &lo, &hi, settings)?;
    let mut boxes = first.boxes;
    let mut seconds = first.seconds;
    let rescaled_from = if first.upper > delta {
        let before = m.scale;
        // Just below delta / U: the rescaled supremum is then strictly below delta.
        m.scale *= delta / first.upper * (1.0 - 1e-9);
        Some(before)
    } else {
        None
    };
    let proof = prove_at_most(&*magnitude(m)?, &lo, &hi, delta, settings)?;
    boxes += proof.boxes;
    seconds += proof.seconds;
    Ok(Ceiling {
        delta,
        proven: proof.status == Status::Proven,
        upper: proof.upper,
        found: (proof.lower, proof.at),
        trained_upper: first.upper,
        rescaled_from,
        boxes,
        seconds,
    })
}

//! The soft-Q payload (payload 5): a hypernetwork over S state features and a positive
//! network over an M-dimensional action box, with beta and the log-scale unit
//! ([`SoftQ`](crate::softq::SoftQ)). [`SoftQHeader`] describes it, [`encode_softq`] writes
//! it, [`decode_softq`] checks a blob of it into a [`SoftQView`], and
//! [`SoftQView::load_softq_into`] fills a [`SoftQ`] in place.

use heapless::Vec;

use super::framing::{blob_len, unframe, write_blob};
use super::scalar::Parameters;
use super::wire::{parse_body, Body, F64s, Reader, Sink, Widths};
use super::{Field, FormatError, Payload, Scalar, MAX_LAYERS};
use crate::activation::MAX_DIM;
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks};
use crate::softq::{flat_count, SoftQ, SoftQProblem};
use crate::{Domain, Error, Real};

/// Most hypernetwork hidden layers ([`SoftQ`] has two).
const MAX_STATE_LAYERS: usize = 2;

/// A soft-Q model to encode: its shape, action box and settings (the parameters are passed
/// beside it, in the flat layout of [`SoftQ::new`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftQHeader<'a> {
    /// The number of state features S, 1..=255.
    pub state_features: usize,
    /// The hypernetwork's hidden widths: one or two, each >= 1.
    pub state_widths: &'a [usize],
    /// The action network's hidden widths: 1..=[`MAX_LAYERS`], each >= 1.
    pub action_widths: &'a [usize],
    /// The action box's lower corner (M values, M in 1..=[`MAX_DIM`]).
    pub action_lower: &'a [f64],
    /// The action box's upper corner (M values, each above the lower one).
    pub action_upper: &'a [f64],
    /// The inverse temperature beta, finite and > 0.
    pub beta: f64,
    /// The unit of the log-scale head c(s), finite and > 0.
    pub log_scale: f64,
}

/// The body after the payload tag, in wire order.
#[derive(Clone, Copy, Debug)]
pub(super) struct SoftQBody<'a> {
    state_features: u8,
    state_widths: Widths<'a>,
    actions: u8,
    action_widths: Widths<'a>,
    lower: F64s<'a>,
    upper: F64s<'a>,
    beta: f64,
    log_scale: f64,
    scalar: Scalar,
    params: &'a [u8],
}

impl<'a> SoftQBody<'a> {
    pub(super) fn read(r: &mut Reader<'a>) -> Result<Self, FormatError> {
        Ok(SoftQBody {
            state_features: r.byte()?,
            state_widths: r.widths()?,
            actions: r.byte()?,
            action_widths: r.widths()?,
            lower: r.f64s()?,
            upper: r.f64s()?,
            beta: r.f64()?,
            log_scale: r.f64()?,
            scalar: r.scalar()?,
            params: r.byte_string()?,
        })
    }
}

fn softq_error(p: SoftQProblem) -> FormatError {
    FormatError::Core(Error::NotASoftQ(p))
}

/// The checks common to writing and reading, in the order [`decode_softq`] documents;
/// returns the number of parameters.
fn check(
    s: usize,
    state_widths: &[usize],
    action_widths: &[usize],
    lower: &[f64],
    upper: &[f64],
    (beta, log_scale): (f64, f64),
) -> Result<usize, FormatError> {
    if s == 0 || s > usize::from(u8::MAX) {
        return Err(softq_error(SoftQProblem::StateFeatures));
    }
    if state_widths.is_empty()
        || state_widths.len() > MAX_STATE_LAYERS
        || state_widths.iter().any(|&w| w == 0 || w > super::MAX_WIDTH)
    {
        return Err(softq_error(SoftQProblem::StateWidths));
    }
    let m = lower.len();
    if m == 0 || m > MAX_DIM {
        return Err(FormatError::BadDimension { n: m });
    }
    if upper.len() != m {
        return Err(FormatError::ShapeMismatch {
            field: Field::DomainUpper,
            expected: m,
            found: upper.len(),
        });
    }
    let layers = action_widths.len();
    if layers == 0 || layers > MAX_LAYERS {
        return Err(FormatError::BadLayers { layers });
    }
    for (layer, &width) in action_widths.iter().enumerate() {
        if width == 0 || width > super::MAX_WIDTH {
            return Err(FormatError::BadWidth { layer, width });
        }
    }
    for (axis, (a, b)) in lower.iter().zip(upper).enumerate() {
        if !a.is_finite() {
            return Err(FormatError::NonFinite {
                field: Field::DomainLower,
            });
        }
        if !b.is_finite() {
            return Err(FormatError::NonFinite {
                field: Field::DomainUpper,
            });
        }
        if a >= b {
            return Err(FormatError::Core(Error::EmptyInterval { axis }));
        }
    }
    if !(beta.is_finite() && beta > 0.0) {
        return Err(softq_error(SoftQProblem::Beta));
    }
    if !(log_scale.is_finite() && log_scale > 0.0) {
        return Err(softq_error(SoftQProblem::LogScale));
    }
    let count = flat_count(s, m, state_widths, action_widths);
    if count == usize::MAX {
        return Err(FormatError::TooLarge);
    }
    Ok(count)
}

/// Checks a soft-Q model and its parameters as [`decode_softq`] checks a blob; returns the
/// number of parameters.
///
/// ```
/// use finn_core::format::{validate_softq, FormatError, SoftQHeader};
/// let h = SoftQHeader { state_features: 1, state_widths: &[1], action_widths: &[1],
///     action_lower: &[-2.0], action_upper: &[2.0], beta: 1.0, log_scale: 1.0 };
/// assert_eq!(validate_softq(&h, &[0.0; 10]), Ok(10));
/// assert!(matches!(validate_softq(&h, &[0.0; 9]), Err(FormatError::ShapeMismatch { .. })));
/// ```
pub fn validate_softq(header: &SoftQHeader<'_>, params: &[f64]) -> Result<usize, FormatError> {
    let count = check_header(header)?;
    if params.len() != count {
        return Err(FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: count,
            found: params.len(),
        });
    }
    if params.iter().any(|p| !p.is_finite()) {
        return Err(FormatError::NonFinite {
            field: Field::Parameters,
        });
    }
    Ok(count)
}

fn check_header(h: &SoftQHeader<'_>) -> Result<usize, FormatError> {
    check(
        h.state_features,
        h.state_widths,
        h.action_widths,
        h.action_lower,
        h.action_upper,
        (h.beta, h.log_scale),
    )
}

/// Writes the body of a checked header (`values` empty when only measuring).
fn write_body<S: Sink>(s: &mut S, h: &SoftQHeader<'_>, values: &[f64], count: usize, sc: Scalar) {
    s.varint(5);
    s.byte(u8::try_from(h.state_features).unwrap_or(u8::MAX));
    s.widths(h.state_widths);
    s.byte(u8::try_from(h.action_lower.len()).unwrap_or(u8::MAX));
    s.widths(h.action_widths);
    s.f64s(h.action_lower);
    s.f64s(h.action_upper);
    s.f64(h.beta);
    s.f64(h.log_scale);
    s.varint(match sc {
        Scalar::F32 => 0,
        Scalar::F64 => 1,
    });
    s.params(values, count, sc);
}

/// The exact length of the blob [`encode_softq`] writes.
///
/// Errors: those of [`validate_softq`] about the header.
pub fn softq_encoded_len(header: &SoftQHeader<'_>, scalar: Scalar) -> Result<usize, FormatError> {
    let count = check_header(header)?;
    let bytes = count
        .checked_mul(scalar.size())
        .ok_or(FormatError::TooLarge)?;
    blob_len(|s| write_body(s, header, &[], count, scalar), bytes)
}

/// Writes the blob of a soft-Q model into `out` and returns its length; never allocates.
/// With [`Scalar::F32`] the parameters are rounded to `f32` (the action box, beta and the
/// log-scale unit stay `f64`).
///
/// Errors: every check of [`validate_softq`]; `NonFinite` ([`Field::Parameters`]) if a
/// parameter overflows `f32`; `BufferTooSmall`.
///
/// ```
/// use finn_core::format::{decode_softq, encode_softq, Scalar, SoftQHeader};
/// use finn_core::softq::SoftQ;
/// let h = SoftQHeader { state_features: 1, state_widths: &[1], action_widths: &[1],
///     action_lower: &[-2.0], action_upper: &[2.0], beta: 2.0, log_scale: 1.0 };
/// let params: Vec<f64> = (0..10).map(|i| (i as f64 * 0.37).sin()).collect();
/// let mut buf = [0u8; 256];
/// let len = encode_softq(&h, &params, Scalar::F64, &mut buf).unwrap();
/// let q = decode_softq(&buf[..len]).unwrap().to_softq::<f64, 1, 1, 4, 1, 1, 1>().unwrap();
/// assert_eq!(q.beta(), 2.0);
/// assert!(q.v(&[0.3]).unwrap().is_finite());
/// ```
pub fn encode_softq(
    header: &SoftQHeader<'_>,
    params: &[f64],
    scalar: Scalar,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let count = validate_softq(header, params)?;
    if scalar == Scalar::F32 && params.iter().any(|&p| !(p as f32).is_finite()) {
        return Err(FormatError::NonFinite {
            field: Field::Parameters,
        });
    }
    let needed = softq_encoded_len(header, scalar)?;
    write_blob(needed, out, |s| {
        write_body(s, header, params, count, scalar)
    })
}

/// Checks a soft-Q blob (payload 5) completely and returns its view, borrowing the
/// parameters from the blob. Any other payload is `WrongPayload`. Never allocates, never
/// panics.
///
/// The checks, after the envelope and the body's encoding: S in 1..=255
/// (`Core(NotASoftQ(StateFeatures))`); one or two hypernetwork widths, each >= 1
/// (`Core(NotASoftQ(StateWidths))`); M in 1..=[`MAX_DIM`] (`BadDimension`); the action
/// network's layers and widths (`BadLayers`, `BadWidth`); the action box's corners: M values
/// each (`ShapeMismatch`, [`Field::DomainLower`], [`Field::DomainUpper`]), finite
/// (`NonFinite`), lower < upper (`Core(EmptyInterval)`); beta and the log-scale unit, finite
/// and > 0 (`Core(NotASoftQ(Beta))`, `Core(NotASoftQ(LogScale))`); the parameter bytes
/// (`ShapeMismatch`, [`Field::ParameterBytes`]); every parameter finite (`NonFinite`,
/// [`Field::Parameters`]).
///
/// ```
/// use finn_core::format::{decode_softq, FormatError};
/// assert_eq!(decode_softq(b"FINN").unwrap_err(), FormatError::Truncated { len: 4 });
/// ```
#[inline(never)]
pub fn decode_softq(bytes: &[u8]) -> Result<SoftQView<'_>, FormatError> {
    let found = match parse_body(unframe(bytes)?)? {
        Body::SoftQ(body) => return SoftQView::from_body(body),
        Body::Model(_) => Payload::Model,
        Body::Density(_) => Payload::Density,
        Body::Trajectory(_) => Payload::Trajectory,
        Body::Deviation(_) => Payload::Deviation,
        Body::DensityMixture(_) => Payload::DensityMixture,
    };
    Err(FormatError::WrongPayload {
        expected: Payload::SoftQ,
        found,
    })
}

/// A checked soft-Q blob: the shape, box and settings copied out, the parameters borrowed.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftQView<'a> {
    state_features: usize,
    state_widths: Vec<usize, MAX_STATE_LAYERS>,
    action_widths: Vec<usize, MAX_LAYERS>,
    lower: Vec<f64, MAX_DIM>,
    upper: Vec<f64, MAX_DIM>,
    beta: f64,
    log_scale: f64,
    scalar: Scalar,
    params: &'a [u8],
}

impl<'a> SoftQView<'a> {
    /// Runs the checks of [`decode_softq`] on a parsed body.
    pub(super) fn from_body(body: SoftQBody<'a>) -> Result<Self, FormatError> {
        let bad_state = softq_error(SoftQProblem::StateWidths);
        let mut state_widths = Vec::new();
        for w in body.state_widths.to_vec().ok_or(bad_state)? {
            state_widths.push(w).map_err(|_| bad_state)?;
        }
        let layers = body.action_widths.len();
        let action_widths = body
            .action_widths
            .to_vec()
            .ok_or(FormatError::BadLayers { layers })?;
        let m = usize::from(body.actions);
        let shape = |field, found| FormatError::ShapeMismatch {
            field,
            expected: m,
            found,
        };
        let mut lower = Vec::new();
        let mut upper = Vec::new();
        if m == 0 || m > MAX_DIM {
            return Err(FormatError::BadDimension { n: m });
        }
        if body.lower.len() != m || body.lower.push_to(&mut lower).is_err() {
            return Err(shape(Field::DomainLower, body.lower.len()));
        }
        if body.upper.len() != m || body.upper.push_to(&mut upper).is_err() {
            return Err(shape(Field::DomainUpper, body.upper.len()));
        }
        let count = check(
            usize::from(body.state_features),
            &state_widths,
            &action_widths,
            &lower,
            &upper,
            (body.beta, body.log_scale),
        )?;
        let bytes = count
            .checked_mul(body.scalar.size())
            .ok_or(FormatError::TooLarge)?;
        if body.params.len() != bytes {
            return Err(FormatError::ShapeMismatch {
                field: Field::ParameterBytes,
                expected: bytes,
                found: body.params.len(),
            });
        }
        if Parameters::new(body.params, body.scalar)
            .whole()
            .any(|p| !p.is_finite())
        {
            return Err(FormatError::NonFinite {
                field: Field::Parameters,
            });
        }
        Ok(SoftQView {
            state_features: usize::from(body.state_features),
            state_widths,
            action_widths,
            lower,
            upper,
            beta: body.beta,
            log_scale: body.log_scale,
            scalar: body.scalar,
            params: body.params,
        })
    }

    /// The number of state features S.
    pub fn state_features(&self) -> usize {
        self.state_features
    }

    /// The hypernetwork's hidden widths.
    pub fn state_widths(&self) -> &[usize] {
        &self.state_widths
    }

    /// The action network's hidden widths.
    pub fn action_widths(&self) -> &[usize] {
        &self.action_widths
    }

    /// The action box's corners (M values each).
    pub fn actions(&self) -> (&[f64], &[f64]) {
        (&self.lower, &self.upper)
    }

    /// The inverse temperature beta.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// The unit of the log-scale head.
    pub fn log_scale(&self) -> f64 {
        self.log_scale
    }

    /// How the parameters are stored.
    pub fn scalar(&self) -> Scalar {
        self.scalar
    }

    /// The parameters, widened to `f64`, in the flat layout of [`SoftQ::new`].
    pub fn parameters(&self) -> Parameters<'a> {
        Parameters::new(self.params, self.scalar)
    }

    /// The number of head outputs: the action network's parameters, and c.
    pub fn head_outputs(&self) -> usize {
        crate::parameter_count(self.lower.len(), &self.action_widths).saturating_add(1)
    }

    /// Builds the model in scalar type `T` with the capacities of [`SoftQ`].
    ///
    /// Errors as for [`SoftQView::load_softq_into`].
    pub fn to_softq<
        T: Real,
        const S: usize,
        const H: usize,
        const P: usize,
        const M: usize,
        const W: usize,
        const L: usize,
    >(
        &self,
    ) -> Result<SoftQ<T, S, H, P, M, W, L>, FormatError>
    where
        Dim<M>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        let mut q = SoftQ::unloaded();
        self.load_softq_into(&mut q)?;
        Ok(q)
    }

    /// Loads the model into `target` in place (for example a `static` from
    /// [`SoftQ::unloaded`]), converting the parameters as they stream from the blob. On an
    /// error the target is left unloaded.
    ///
    /// Errors: `CapacityMismatch` ([`Field::StateFeatures`] and [`Field::Dimension`] when S or
    /// M differ, [`Field::StateWidths`] for a hypernetwork layer above H, [`Field::Layers`]
    /// and [`Field::Width`] for an action network beyond L or W, [`Field::HeadOutputs`] for
    /// more head outputs than P); `Core` when a value does not fit `T`.
    ///
    /// ```
    /// use finn_core::format::{decode_softq, encode_softq, Field, FormatError, Scalar, SoftQHeader};
    /// use finn_core::softq::SoftQ;
    /// let h = SoftQHeader { state_features: 1, state_widths: &[1], action_widths: &[1],
    ///     action_lower: &[-2.0], action_upper: &[2.0], beta: 2.0, log_scale: 1.0 };
    /// let mut buf = [0u8; 256];
    /// let len = encode_softq(&h, &[0.5; 10], Scalar::F32, &mut buf).unwrap();
    /// let view = decode_softq(&buf[..len]).unwrap();
    /// let mut wrong = SoftQ::<f32, 2, 1, 4, 1, 1, 1>::unloaded();
    /// assert_eq!(
    ///     view.load_softq_into(&mut wrong).unwrap_err(),
    ///     FormatError::CapacityMismatch { field: Field::StateFeatures, capacity: 2, found: 1 }
    /// );
    /// let mut right = SoftQ::<f32, 1, 1, 4, 1, 1, 1>::unloaded();
    /// view.load_softq_into(&mut right).unwrap();
    /// assert!(right.v(&[0.1]).unwrap().is_finite());
    /// ```
    #[inline(never)]
    pub fn load_softq_into<
        T: Real,
        const S: usize,
        const H: usize,
        const P: usize,
        const M: usize,
        const W: usize,
        const L: usize,
    >(
        &self,
        target: &mut SoftQ<T, S, H, P, M, W, L>,
    ) -> Result<(), FormatError>
    where
        Dim<M>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        let capacity = |field, capacity, found| FormatError::CapacityMismatch {
            field,
            capacity,
            found,
        };
        // Unload first, so that a capacity error leaves the target unloaded too.
        target.unload();
        if S != self.state_features {
            return Err(capacity(Field::StateFeatures, S, self.state_features));
        }
        if M != self.lower.len() {
            return Err(capacity(Field::Dimension, M, self.lower.len()));
        }
        if let Some(&w) = self.state_widths.iter().find(|&&w| w > H) {
            return Err(capacity(Field::StateWidths, H, w));
        }
        if self.action_widths.len() > L {
            return Err(capacity(Field::Layers, L, self.action_widths.len()));
        }
        if let Some(&w) = self.action_widths.iter().find(|&&w| w > W) {
            return Err(capacity(Field::Width, W, w));
        }
        if self.head_outputs() > P {
            return Err(capacity(Field::HeadOutputs, P, self.head_outputs()));
        }
        let mut lower = [T::ZERO; M];
        let mut upper = [T::ZERO; M];
        for (o, v) in lower.iter_mut().zip(&self.lower) {
            *o = T::from_f64(*v);
        }
        for (o, v) in upper.iter_mut().zip(&self.upper) {
            *o = T::from_f64(*v);
        }
        let actions = Domain::new(lower, upper)?;
        let count = self.parameters().len();
        target.load(
            &self.state_widths,
            &self.action_widths,
            actions,
            T::from_f64(self.beta),
            T::from_f64(self.log_scale),
            count,
            self.parameters().map(T::from_f64),
        )?;
        Ok(())
    }
}

//! The deviation payload (payload 3): a bounded-deviation model phi = psi + f d
//! ([`crate::deviation`]). [`DeviationHeader`] describes it, [`encode_deviation`] writes it,
//! [`decode_deviation`] checks a blob of it into a [`DeviationView`], and
//! [`DeviationView::to_deviation`] builds the [`BoundedDeviation`] with a [`Polynomial`] base
//! and a [`NetworkDirection`].
//!
//! The body opens with the magnitude f as a model body (payload field 3 instead of 0): a
//! positive network whose integral over the domain is constrained to at most eps > 0 by scale
//! (`Bound::AtMost`, `Method::Scale`), with its resolved constants. Then the base (outputs m,
//! degree, coefficients), the direction's softness, its networks' kind (signed), activation
//! and widths, and the M direction networks' parameters, one byte string each.

use heapless::Vec;

use super::framing::{blob_len, unframe, write_blob};
use super::scalar::Parameters;
use super::shape::{check_widths, checked_parameter_count};
use super::wire::{parse_body, write_deviation_body, Body, ByteStrings, DeviationBody, F64s};
use super::{Field, FormatError, ModelHeader, ModelView, Payload, Scalar, MAX_LAYERS};
use crate::deviation::{monomial_count, BoundedDeviation, NetworkDirection, Polynomial};
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks};
use crate::{Activation, Error, Kind, Real};

/// Most outputs m a deviation blob may describe.
pub const MAX_OUTPUTS: usize = 8;
/// Highest total degree of a deviation blob's polynomial base.
pub const MAX_DEGREE: usize = 8;

/// A bounded-deviation model's description with sizes known at run time, everything but the
/// network parameters.
///
/// [`encode_deviation`] writes it with the parameters.
///
/// ```
/// use finn_core::format::{
///     decode_deviation, deviation_encoded_len, encode_deviation, DeviationHeader, ModelHeader,
///     Payload, Scalar,
/// };
/// use finn_core::{Activation, Bound, Constraint, Kind, Method, Resolved};
/// let header = DeviationHeader {
///     magnitude: ModelHeader {
///         payload: Payload::Deviation,
///         kind: Kind::Positive,
///         activation: Activation::Sigma,
///         n: 1,
///         widths: &[2],
///         domain_lower: &[0.0],
///         domain_upper: &[1.0],
///         constraint: Some(Constraint::new(Bound::AtMost, Method::Scale, 0.1)),
///         // Integral of the magnitude network below is about 1.96: scale it to 0.1.
///         constants: Resolved::scaled(0.05),
///     },
///     outputs: 1,
///     degree: 1,
///     coefficients: &[1.0, 2.0], // psi(x) = 1 + 2 x
///     softness: 0.05,
///     direction_activation: Activation::Tanh,
///     direction_widths: &[1],
/// };
/// let magnitude = [3.0, -1.0, 1.0, 0.5, 1.0, 1.0];
/// let direction = [4.0, -2.0, 1.0];
/// let mut buf = [0u8; 256];
/// let len = encode_deviation(&header, &magnitude, &direction, Scalar::F32, &mut buf).unwrap();
/// assert_eq!(deviation_encoded_len(&header, Scalar::F32), Ok(len));
/// let view = decode_deviation(&buf[..len]).unwrap();
/// assert_eq!((view.outputs(), view.degree()), (1, 1));
/// // Load it as f32 with 1 input, 1 output, 4 units, 2 layers and room for 3 monomials.
/// let model = view.to_deviation::<f32, 1, 1, 4, 2, 3>().unwrap();
/// let phi = model.value(&[0.25]).unwrap()[0];
/// assert!((phi - 1.5).abs() <= model.magnitude(&[0.25]).unwrap());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeviationHeader<'a> {
    /// The magnitude f: its payload must be [`Payload::Deviation`], its network positive, its
    /// constraint `AtMost` eps > 0 by `Scale`, with the constants resolved in `f64`.
    pub magnitude: ModelHeader<'a>,
    /// The output dimension m, 1..=[`MAX_OUTPUTS`].
    pub outputs: usize,
    /// The base's total degree, 0..=[`MAX_DEGREE`] (1: affine).
    pub degree: usize,
    /// The base's `m * monomial_count(n, degree)` coefficients, output-major, in the monomial
    /// order of [`Polynomial`].
    pub coefficients: &'a [f64],
    /// The direction's softness s > 0.
    pub softness: f64,
    /// The direction networks' activation (they are signed).
    pub direction_activation: Activation,
    /// The direction networks' hidden widths (all m networks share them).
    pub direction_widths: &'a [usize],
}

impl DeviationHeader<'_> {
    /// The parameter counts of this shape, the magnitude network's and each direction
    /// network's, with the shape checks of [`decode_deviation`].
    ///
    /// Errors: `WrongPayload` (a magnitude payload other than [`Payload::Deviation`]), the
    /// magnitude's shape errors ([`ModelHeader::parameter_count`]), `BadOutputs`, `BadDegree`,
    /// `ShapeMismatch` with [`Field::Coefficients`], the direction's `BadLayers`, `BadWidth`,
    /// `TooLarge`.
    pub fn parameter_counts(&self) -> Result<(usize, usize), FormatError> {
        if self.magnitude.payload != Payload::Deviation {
            return Err(FormatError::WrongPayload {
                expected: Payload::Deviation,
                found: self.magnitude.payload,
            });
        }
        let magnitude = self.magnitude.parameter_count()?;
        let n = self.magnitude.n;
        check_base(n, self.outputs, self.degree, self.coefficients.len())?;
        check_widths(self.direction_widths)?;
        let direction =
            checked_parameter_count(n, self.direction_widths).ok_or(FormatError::TooLarge)?;
        Ok((magnitude, direction))
    }

    /// The value checks: the magnitude's (finite, then positive with `AtMost` by scale), the
    /// coefficients, the softness (finite, then > 0) and the direction parameters.
    fn check_values(
        &self,
        magnitude: impl Iterator<Item = f64>,
        direction: impl Iterator<Item = f64>,
    ) -> Result<(), FormatError> {
        self.magnitude.check_values(magnitude)?;
        check_rest(self.coefficients.iter().copied(), self.softness, direction)
    }
}

/// The base's shape: m outputs, the degree, and its coefficient count.
fn check_base(
    n: usize,
    m: usize,
    degree: usize,
    coefficients: usize,
) -> Result<usize, FormatError> {
    if m == 0 || m > MAX_OUTPUTS {
        return Err(FormatError::BadOutputs { m });
    }
    if degree > MAX_DEGREE {
        return Err(FormatError::BadDegree { degree });
    }
    // n <= MAX_DIM and degree <= MAX_DEGREE: C(16, 8) monomials at most, times m.
    let expected = m.saturating_mul(monomial_count(n, degree));
    if coefficients != expected {
        return Err(FormatError::ShapeMismatch {
            field: Field::Coefficients,
            expected,
            found: coefficients,
        });
    }
    Ok(expected)
}

/// Finite coefficients, a finite softness > 0, finite direction parameters.
fn check_rest(
    coefficients: impl Iterator<Item = f64>,
    softness: f64,
    direction: impl Iterator<Item = f64>,
) -> Result<(), FormatError> {
    let mut coefficients = coefficients;
    if !coefficients.all(|v| v.is_finite()) {
        return Err(FormatError::NonFinite {
            field: Field::Coefficients,
        });
    }
    if !softness.is_finite() {
        return Err(FormatError::NonFinite {
            field: Field::Softness,
        });
    }
    let mut direction = direction;
    if !direction.all(|v| v.is_finite()) {
        return Err(FormatError::NonFinite {
            field: Field::DirectionParameters,
        });
    }
    if softness <= 0.0 {
        return Err(FormatError::Core(Error::NotADeviation));
    }
    Ok(())
}

/// Checks a deviation model as [`decode_deviation`] checks a blob. `direction` holds the m
/// direction networks' parameter vectors back to back. Returns the parameter counts (the
/// magnitude's, each direction network's).
///
/// Errors: those of [`DeviationHeader::parameter_counts`]; `ShapeMismatch` with
/// [`Field::Parameters`] or [`Field::DirectionParameters`] for a parameter vector of the
/// wrong length; `NonFinite`; `Core(NotADeviation)` (a magnitude that is not positive with
/// `AtMost` by scale, eps <= 0, softness <= 0); `Core` for inconsistent constants.
pub fn validate_deviation(
    header: &DeviationHeader<'_>,
    magnitude: &[f64],
    direction: &[f64],
) -> Result<(usize, usize), FormatError> {
    let (count, per) = header.parameter_counts()?;
    if magnitude.len() != count {
        return Err(FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: count,
            found: magnitude.len(),
        });
    }
    let total = per.saturating_mul(header.outputs);
    if direction.len() != total {
        return Err(FormatError::ShapeMismatch {
            field: Field::DirectionParameters,
            expected: total,
            found: direction.len(),
        });
    }
    header.check_values(magnitude.iter().copied(), direction.iter().copied())?;
    Ok((count, per))
}

/// The exact length of the blob [`encode_deviation`] writes for this header and scalar type.
///
/// Errors: the shape errors of [`DeviationHeader::parameter_counts`].
pub fn deviation_encoded_len(
    header: &DeviationHeader<'_>,
    scalar: Scalar,
) -> Result<usize, FormatError> {
    let (count, per) = header.parameter_counts()?;
    let floats = per
        .checked_mul(header.outputs)
        .and_then(|d| d.checked_add(count))
        .ok_or(FormatError::TooLarge)?;
    let param_bytes = floats
        .checked_mul(scalar.size())
        .ok_or(FormatError::TooLarge)?;
    blob_len(
        |s| write_deviation_body(s, header, &[], count, &[], per, scalar),
        param_bytes,
    )
}

/// Writes the blob of a deviation model into `out` and returns its length; never allocates.
///
/// `magnitude` is the magnitude network's parameters (raw, before |w|) and `direction` the m
/// direction networks' vectors back to back, each in the flat layout of
/// [`Network::new`](crate::Network::new). With [`Scalar::F32`] both are rounded to `f32`
/// (the base's coefficients, the softness, the domain and the constants stay `f64`).
///
/// Errors: every check of [`validate_deviation`]; `NonFinite` if a parameter overflows `f32`;
/// `BufferTooSmall` (see [`deviation_encoded_len`]).
pub fn encode_deviation(
    header: &DeviationHeader<'_>,
    magnitude: &[f64],
    direction: &[f64],
    scalar: Scalar,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let (count, per) = validate_deviation(header, magnitude, direction)?;
    if scalar == Scalar::F32 {
        let round = |v: &f64| f64::from(*v as f32);
        header.check_values(magnitude.iter().map(round), direction.iter().map(round))?;
    }
    let needed = deviation_encoded_len(header, scalar)?;
    write_blob(needed, out, |s| {
        write_deviation_body(s, header, magnitude, count, direction, per, scalar)
    })
}

/// Checks a deviation blob (payload 3) completely and returns a view of it that borrows the
/// coefficients and the parameters. Any other payload is `WrongPayload`. Never allocates,
/// never panics.
///
/// The checks, after the envelope and the body's encoding: the magnitude's as for a model
/// blob (shape, parameter bytes, finiteness, then `Core(NotADeviation)` unless positive with
/// `AtMost` eps > 0 by scale, then the constants); outputs (`BadOutputs`), degree
/// (`BadDegree`), the coefficient count (`ShapeMismatch`, [`Field::Coefficients`]); the
/// direction's kind (`Core(NotADeviation)` unless signed), layers and widths (`BadLayers`,
/// `BadWidth`), the number of its parameter byte strings (`ShapeMismatch`, [`Field::Outputs`])
/// and each one's length ([`Field::DirectionParameters`]); the finiteness of the
/// coefficients, the softness and the direction parameters (`NonFinite`); softness > 0
/// (`Core(NotADeviation)`).
///
/// ```
/// use finn_core::format::{decode_deviation, FormatError};
/// assert_eq!(decode_deviation(b"FINN").unwrap_err(), FormatError::Truncated { len: 4 });
/// ```
#[inline(never)]
pub fn decode_deviation(bytes: &[u8]) -> Result<DeviationView<'_>, FormatError> {
    let found = match parse_body(unframe(bytes)?)? {
        Body::Deviation(body) => return DeviationView::from_body(body),
        Body::Model(_) => Payload::Model,
        Body::Density(_) => Payload::Density,
        Body::Trajectory(_) => Payload::Trajectory,
        Body::DensityMixture(_) => Payload::DensityMixture,
        Body::SoftQ(_) => Payload::SoftQ,
    };
    Err(FormatError::WrongPayload {
        expected: Payload::Deviation,
        found,
    })
}

/// A checked deviation blob: the magnitude's [`ModelView`], the base and the direction's
/// shape copied out, the coefficients and all parameters borrowed from the blob.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviationView<'a> {
    magnitude: ModelView<'a>,
    outputs: usize,
    degree: usize,
    coefficients: F64s<'a>,
    softness: f64,
    direction_activation: Activation,
    direction_widths: Vec<usize, MAX_LAYERS>,
    direction_params: ByteStrings<'a>,
}

impl<'a> DeviationView<'a> {
    /// Runs the shape and value checks on a parsed body.
    pub(super) fn from_body(body: DeviationBody<'a>) -> Result<Self, FormatError> {
        let magnitude = ModelView::from_body(body.magnitude, Payload::Deviation)?;
        let n = magnitude.n();
        let outputs = usize::from(body.outputs);
        let degree = usize::from(body.degree);
        check_base(n, outputs, degree, body.coefficients.len())?;
        if body.direction_kind != Kind::Signed {
            return Err(FormatError::Core(Error::NotADeviation));
        }
        let layers = body.direction_widths.len();
        let direction_widths = match body.direction_widths.to_vec() {
            Some(widths) if layers > 0 => widths,
            _ => return Err(FormatError::BadLayers { layers }),
        };
        check_widths(&direction_widths)?;
        let per = checked_parameter_count(n, &direction_widths).ok_or(FormatError::TooLarge)?;
        let count = body.direction_params.count();
        if count != outputs {
            return Err(FormatError::ShapeMismatch {
                field: Field::Outputs,
                expected: outputs,
                found: count,
            });
        }
        let scalar = magnitude.scalar();
        let expected = per
            .checked_mul(scalar.size())
            .ok_or(FormatError::TooLarge)?;
        if let Some(bad) = body
            .direction_params
            .iter()
            .find(|bytes| bytes.len() != expected)
        {
            return Err(FormatError::ShapeMismatch {
                field: Field::DirectionParameters,
                expected,
                found: bad.len(),
            });
        }
        let view = DeviationView {
            magnitude,
            outputs,
            degree,
            coefficients: body.coefficients,
            softness: body.softness,
            direction_activation: body.direction_activation,
            direction_widths,
            direction_params: body.direction_params,
        };
        check_rest(
            view.coefficients.iter(),
            view.softness,
            (0..outputs).flat_map(|k| view.direction_parameters(k).into_iter().flatten()),
        )?;
        Ok(view)
    }

    /// The magnitude f: a positive model with its `AtMost` scale constraint (its
    /// [`ModelView::payload`] is [`Payload::Deviation`]).
    pub fn magnitude(&self) -> &ModelView<'a> {
        &self.magnitude
    }

    /// Input dimension n.
    pub fn n(&self) -> usize {
        self.magnitude.n()
    }

    /// Output dimension m.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The base's total degree.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// Monomials per output: `monomial_count(n, degree)`.
    pub fn terms(&self) -> usize {
        monomial_count(self.n(), self.degree)
    }

    /// The base's coefficients, output-major.
    pub fn coefficients(&self) -> impl Iterator<Item = f64> + 'a {
        self.coefficients.iter()
    }

    /// The deviation budget eps (the magnitude's constraint target).
    pub fn eps(&self) -> f64 {
        self.magnitude.constraint().map_or(0.0, |c| c.eps)
    }

    /// The direction's softness s.
    pub fn softness(&self) -> f64 {
        self.softness
    }

    /// The direction networks' activation.
    pub fn direction_activation(&self) -> Activation {
        self.direction_activation
    }

    /// The direction networks' hidden widths.
    pub fn direction_widths(&self) -> &[usize] {
        &self.direction_widths
    }

    /// Parameters per direction network.
    pub fn direction_parameter_count(&self) -> usize {
        // Checked at decoding: the count fits.
        checked_parameter_count(self.n(), &self.direction_widths).unwrap_or(0)
    }

    /// Direction network `k`'s parameters, widened to `f64`; `None` for k >= m.
    pub fn direction_parameters(&self, k: usize) -> Option<Parameters<'a>> {
        let scalar = self.magnitude.scalar();
        self.direction_params
            .iter()
            .nth(k)
            .map(|bytes| Parameters::new(bytes, scalar))
    }

    /// Builds the model in scalar type `T` with capacity `N` inputs, `M` outputs, `W` units
    /// and `L` layers (for the magnitude and each direction network) and `K` monomials per
    /// output, converting every value from the stored types.
    ///
    /// Errors: `CapacityMismatch` (N differs from n, M from m, more layers than L, a width
    /// above W, more monomials than K); `Core` when a value does not fit `T`, when the
    /// magnitude's integral does not meet eps in `T`, or when the base or the direction
    /// cannot be proved finite over the domain.
    pub fn to_deviation<
        T: Real,
        const N: usize,
        const M: usize,
        const W: usize,
        const L: usize,
        const K: usize,
    >(
        &self,
    ) -> Result<DeviationModel<T, N, M, W, L, K>, FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        let mut model = BoundedDeviation::unloaded();
        self.load_deviation_into(&mut model)?;
        Ok(model)
    }

    /// As [`DeviationView::to_deviation`], loading into an existing model in place (for
    /// example one in a `static`, from [`BoundedDeviation::unloaded`]). On an error the target
    /// is left unloaded (evaluating it is an error).
    ///
    /// Errors as for [`DeviationView::to_deviation`].
    #[inline(never)]
    pub fn load_deviation_into<
        T: Real,
        const N: usize,
        const M: usize,
        const W: usize,
        const L: usize,
        const K: usize,
    >(
        &self,
        target: &mut DeviationModel<T, N, M, W, L, K>,
    ) -> Result<(), FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        let result = self.load_parts(target);
        if result.is_err() {
            target.unload();
        }
        result
    }

    fn load_parts<
        T: Real,
        const N: usize,
        const M: usize,
        const W: usize,
        const L: usize,
        const K: usize,
    >(
        &self,
        target: &mut DeviationModel<T, N, M, W, L, K>,
    ) -> Result<(), FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        let (base, direction, magnitude) = target.parts_mut();
        if M != self.outputs {
            return Err(FormatError::CapacityMismatch {
                field: Field::Outputs,
                capacity: M,
                found: self.outputs,
            });
        }
        self.magnitude.load_finn_into(magnitude)?;
        let terms = self.terms();
        if terms > K {
            return Err(FormatError::CapacityMismatch {
                field: Field::Monomials,
                capacity: K,
                found: terms,
            });
        }
        base.load(self.degree, self.coefficients.iter().map(T::from_f64))?;
        let widths = self.direction_widths();
        if widths.len() > L {
            return Err(FormatError::CapacityMismatch {
                field: Field::Layers,
                capacity: L,
                found: widths.len(),
            });
        }
        if let Some(&width) = widths.iter().find(|&&w| w > W) {
            return Err(FormatError::CapacityMismatch {
                field: Field::Width,
                capacity: W,
                found: width,
            });
        }
        let (networks, softness) = direction.parts_mut();
        let scalar = self.magnitude.scalar();
        for (net, bytes) in networks.iter_mut().zip(self.direction_params.iter()) {
            net.load_parameters(
                Kind::Signed,
                self.direction_activation,
                widths,
                Parameters::new(bytes, scalar).map(T::from_f64),
            )?;
        }
        *softness = T::from_f64(self.softness);
        target.finish_load()?;
        Ok(())
    }
}

/// The model a deviation blob loads into: a [`BoundedDeviation`] with a [`Polynomial`] base of
/// `K` monomials and a [`NetworkDirection`] of `M` networks.
pub type DeviationModel<
    T,
    const N: usize,
    const M: usize,
    const W: usize,
    const L: usize,
    const K: usize,
> = BoundedDeviation<T, Polynomial<T, N, M, K>, NetworkDirection<T, N, M, W, L>, N, M, W, L>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{decode, decode_any, decode_trajectory, Blob};
    use crate::{Bound, Constraint, Domain, Finn, Method, Network, Resolved};

    const MAG: [f64; 8] = [1.0, 1.0, 0.5, 2.0, 0.0, 0.3, 1.0, 1.0];
    const DIR: [f64; 8] = [1.0, -1.0, 0.0, 1.0, 2.0, 0.5, 0.1, -1.0];

    /// A 2-input, 2-output model with a degree-2 base.
    fn scale() -> f64 {
        let net = Network::<f64, 2, 4, 1>::positive(&[2], &MAG).unwrap();
        let c = Constraint::new(Bound::AtMost, Method::Scale, 0.2);
        let m = Finn::new(net, Domain::new([0.0, -1.0], [1.0, 1.0]).unwrap(), Some(c)).unwrap();
        m.constants().scale
    }

    const COEFFS: [f64; 12] = [
        1.0, 0.5, -0.5, 0.25, 0.0, 1.0, //
        -1.0, 2.0, 0.0, 0.0, 0.125, -0.25,
    ];

    fn header(scale: f64) -> DeviationHeader<'static> {
        DeviationHeader {
            magnitude: ModelHeader {
                payload: Payload::Deviation,
                kind: Kind::Positive,
                activation: Activation::Sigma,
                n: 2,
                widths: &[2],
                domain_lower: &[0.0, -1.0],
                domain_upper: &[1.0, 1.0],
                constraint: Some(Constraint::new(Bound::AtMost, Method::Scale, 0.2)),
                constants: Resolved::scaled(scale),
            },
            outputs: 2,
            degree: 2,
            coefficients: &COEFFS,
            softness: 0.1,
            direction_activation: Activation::Tanh,
            direction_widths: &[1],
        }
    }

    fn blob(scalar: Scalar) -> ([u8; 512], usize) {
        let mut buf = [0u8; 512];
        let len = encode_deviation(&header(scale()), &MAG, &DIR, scalar, &mut buf).unwrap();
        (buf, len)
    }

    type Model64 = DeviationModel<f64, 2, 2, 4, 2, 6>;

    #[test]
    fn round_trip_equals_the_model_built_directly() {
        let (buf, len) = blob(Scalar::F64);
        let view = decode_deviation(&buf[..len]).unwrap();
        assert_eq!(view.n(), 2);
        assert_eq!(view.terms(), 6);
        assert_eq!(view.coefficients().count(), 12);
        assert_eq!(view.direction_widths(), &[1]);
        assert_eq!(view.direction_parameter_count(), 4);
        assert!(view
            .direction_parameters(1)
            .unwrap()
            .eq(DIR[4..].iter().copied()));
        assert!(view.direction_parameters(2).is_none());
        assert_eq!(view.eps(), 0.2);
        let loaded: Model64 = view.to_deviation().unwrap();
        let net = Network::<f64, 2, 4, 2>::positive(&[2], &MAG).unwrap();
        let c = Constraint::new(Bound::AtMost, Method::Scale, 0.2);
        let m = Finn::new(net, Domain::new([0.0, -1.0], [1.0, 1.0]).unwrap(), Some(c)).unwrap();
        let nu = |p: &[f64]| Network::<f64, 2, 4, 2>::signed(Activation::Tanh, &[1], p).unwrap();
        let dir = NetworkDirection::new([nu(&DIR[..4]), nu(&DIR[4..])], 0.1).unwrap();
        let base = Polynomial::<f64, 2, 2, 6>::new(2, &COEFFS).unwrap();
        let direct = BoundedDeviation::new(base, dir, m).unwrap();
        for x in [[0.1, 0.2], [0.9, -0.7], [0.5, 0.99], [2.0, 0.0]] {
            assert_eq!(loaded.value(&x).unwrap(), direct.value(&x).unwrap());
            assert_eq!(loaded.magnitude(&x).unwrap(), direct.magnitude(&x).unwrap());
        }
        assert_eq!(loaded.eps(), 0.2);
        let j = loaded.deviation_bound().unwrap();
        assert!(j.value <= 0.2 + j.error + 1e-15);
        // Any payload reads it; the other readers refuse it.
        assert!(matches!(decode_any(&buf[..len]), Ok(Blob::Deviation(_))));
        let wrong = FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Deviation,
        };
        assert_eq!(decode(&buf[..len]).unwrap_err(), wrong);
        assert!(decode_trajectory(&buf[..len]).is_err());
        // f32 blob loads in f32.
        let (buf, len) = blob(Scalar::F32);
        let view = decode_deviation(&buf[..len]).unwrap();
        let m32 = view.to_deviation::<f32, 2, 2, 4, 2, 6>().unwrap();
        let v = m32.value(&[0.1, 0.2]).unwrap();
        let w = direct.value(&[0.1, 0.2]).unwrap();
        assert!((f64::from(v[0]) - w[0]).abs() < 1e-5);
    }

    #[test]
    fn other_payloads_are_refused_and_unaffected() {
        let model = ModelHeader {
            payload: Payload::Model,
            ..header(1.0).magnitude
        };
        let mut buf = [0u8; 256];
        // A model header under the deviation tag is no model blob.
        let under = ModelHeader {
            payload: Payload::Deviation,
            ..model
        };
        assert!(crate::format::encode(&under, &MAG, Scalar::F32, &mut buf).is_err());
        let scaled = ModelHeader {
            constants: Resolved::scaled(scale()),
            ..model
        };
        let len = crate::format::encode(&scaled, &MAG, Scalar::F32, &mut buf).unwrap();
        assert!(decode(&buf[..len]).is_ok());
        assert_eq!(
            decode_deviation(&buf[..len]).unwrap_err(),
            FormatError::WrongPayload {
                expected: Payload::Deviation,
                found: Payload::Model
            }
        );
    }

    #[test]
    fn every_corruption_is_a_typed_error() {
        let (buf, len) = blob(Scalar::F32);
        for cut in 0..len {
            assert!(decode_deviation(&buf[..cut]).is_err());
        }
        for i in 0..len {
            for bit in 0..8 {
                let mut bad = buf;
                bad[i] ^= 1 << bit;
                let _ = decode_deviation(&bad[..len]);
                assert!(decode_deviation(&bad[..len]).is_err());
            }
        }
        // A fixed CRC over a damaged body: still a typed error or a valid blob, never a panic;
        // and anything that decodes loads or fails typed.
        for i in crate::format::PREFIX_LEN..len - crate::format::CRC_LEN {
            for v in [0u8, 1, 2, 3, 0x7f, 0x80, 0xff] {
                let mut bad = buf;
                bad[i] = v;
                let body = len - crate::format::CRC_LEN;
                let crc = crate::format::crc32(&bad[..body]);
                bad[body..len].copy_from_slice(&crc.to_le_bytes());
                if let Ok(view) = decode_deviation(&bad[..len]) {
                    let _ = view.to_deviation::<f32, 2, 2, 4, 2, 6>();
                }
            }
        }
    }

    #[test]
    fn wrong_counts_and_values_are_typed() {
        let s = scale();
        let mut buf = [0u8; 512];
        let h = header(s);
        let enc = |h: &DeviationHeader<'_>, m: &[f64], d: &[f64], buf: &mut [u8]| {
            encode_deviation(h, m, d, Scalar::F64, buf)
        };
        assert_eq!(
            enc(&DeviationHeader { outputs: 0, ..h }, &MAG, &DIR, &mut buf),
            Err(FormatError::BadOutputs { m: 0 })
        );
        assert_eq!(
            enc(&DeviationHeader { degree: 9, ..h }, &MAG, &DIR, &mut buf),
            Err(FormatError::BadDegree { degree: 9 })
        );
        assert_eq!(
            enc(&DeviationHeader { degree: 1, ..h }, &MAG, &DIR, &mut buf),
            Err(FormatError::ShapeMismatch {
                field: Field::Coefficients,
                expected: 6,
                found: 12
            })
        );
        assert_eq!(
            enc(&h, &MAG, &DIR[..7], &mut buf),
            Err(FormatError::ShapeMismatch {
                field: Field::DirectionParameters,
                expected: 8,
                found: 7
            })
        );
        assert_eq!(
            enc(&h, &MAG[..7], &DIR, &mut buf),
            Err(FormatError::ShapeMismatch {
                field: Field::Parameters,
                expected: 8,
                found: 7
            })
        );
        let mut nan = DIR;
        nan[3] = f64::NAN;
        assert_eq!(
            enc(&h, &MAG, &nan, &mut buf),
            Err(FormatError::NonFinite {
                field: Field::DirectionParameters
            })
        );
        assert_eq!(
            enc(
                &DeviationHeader { softness: 0.0, ..h },
                &MAG,
                &DIR,
                &mut buf
            ),
            Err(FormatError::Core(Error::NotADeviation))
        );
        assert_eq!(
            enc(
                &DeviationHeader {
                    softness: f64::INFINITY,
                    ..h
                },
                &MAG,
                &DIR,
                &mut buf
            ),
            Err(FormatError::NonFinite {
                field: Field::Softness
            })
        );
        let equal = ModelHeader {
            constraint: Some(Constraint::new(Bound::Equal, Method::Scale, 0.2)),
            ..h.magnitude
        };
        assert_eq!(
            enc(
                &DeviationHeader {
                    magnitude: equal,
                    ..h
                },
                &MAG,
                &DIR,
                &mut buf
            ),
            Err(FormatError::Core(Error::NotADeviation))
        );
        let model = ModelHeader {
            payload: Payload::Model,
            ..h.magnitude
        };
        assert!(matches!(
            enc(
                &DeviationHeader {
                    magnitude: model,
                    ..h
                },
                &MAG,
                &DIR,
                &mut buf
            ),
            Err(FormatError::WrongPayload { .. })
        ));
        assert!(matches!(
            enc(&h, &MAG, &DIR, &mut buf[..40]),
            Err(FormatError::BufferTooSmall { .. })
        ));
        // Capacities.
        let len = enc(&h, &MAG, &DIR, &mut buf).unwrap();
        let view = decode_deviation(&buf[..len]).unwrap();
        let cap = |field, capacity, found| FormatError::CapacityMismatch {
            field,
            capacity,
            found,
        };
        assert_eq!(
            view.to_deviation::<f64, 2, 1, 4, 2, 6>().unwrap_err(),
            cap(Field::Outputs, 1, 2)
        );
        assert_eq!(
            view.to_deviation::<f64, 2, 2, 4, 2, 5>().unwrap_err(),
            cap(Field::Monomials, 5, 6)
        );
        assert_eq!(
            view.to_deviation::<f64, 2, 2, 1, 2, 6>().unwrap_err(),
            cap(Field::Width, 1, 2)
        );
        assert_eq!(
            view.to_deviation::<f64, 1, 2, 4, 2, 6>().unwrap_err(),
            cap(Field::Dimension, 1, 2)
        );
        // A failed load leaves the target unloaded.
        let mut target = Model64::unloaded();
        view.load_deviation_into(&mut target).unwrap();
        assert!(target.value(&[0.5, 0.5]).is_ok());
        let mut magnitude = [0u8; 512];
        let big = DeviationHeader {
            magnitude: ModelHeader {
                constants: Resolved::scaled(1.0),
                ..h.magnitude
            },
            ..h
        };
        // Scale 1 with an integral above eps: the magnitude does not meet its constraint.
        let len2 = enc(&big, &MAG, &DIR, &mut magnitude).unwrap();
        let bad = decode_deviation(&magnitude[..len2]).unwrap();
        assert!(bad.load_deviation_into(&mut target).is_err());
        assert_eq!(target.value(&[0.5, 0.5]).unwrap_err(), Error::InvalidShape);
    }
}

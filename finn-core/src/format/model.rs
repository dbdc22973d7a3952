//! The model payload (payload 0): one network over a domain, with its integral constraint.
//! [`ModelHeader`] describes it, [`encode`] writes it, [`decode`] checks a blob of it into a
//! [`ModelView`], and [`ModelView::to_finn`] builds the [`Finn`].
//!
//! The density payload (2) has the same body under another tag, with one more rule: the
//! network is positive and its integral over the domain (the support) is fixed to exactly 1
//! by scale. [`decode_density`] reads only it, and [`ModelView::to_density`] builds the
//! [`Density`]; [`decode`] reads it too (a density is a model: its f, F and integrals).

use heapless::Vec;

use super::framing::{blob_len, unframe, write_blob};
use super::scalar::{read_float, Parameters};
use super::shape::{check_widths, checked_parameter_count};
use super::wire::{parse_body, write_model_body, Body, ModelBody};
use super::{Field, FormatError, Payload, Scalar, MAX_LAYERS};
use crate::activation::MAX_DIM;
use crate::domain::check_box;
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks};
use crate::{
    Activation, Bound, Constraint, Density, Domain, Error, Finn, Kind, Method, Real, Resolved,
};

/// Everything about a model except its parameters, with sizes known at run time.
///
/// [`encode`] writes it; [`ModelView::header`] gives it back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelHeader<'a> {
    /// What the blob contains: [`Payload::Model`], or [`Payload::Density`] for a model that
    /// is a probability density (a positive network, its integral over the domain fixed to 1
    /// by `Bound::Equal`, `Method::Scale`, eps = 1).
    pub payload: Payload,
    /// Positive or signed network.
    pub kind: Kind,
    /// Hidden-unit activation (a positive network needs [`Activation::Sigma`]).
    pub activation: Activation,
    /// Input dimension n, 1..=[`MAX_DIM`].
    pub n: usize,
    /// Hidden widths, first layer first: 1..=[`MAX_LAYERS`] of them, each in
    /// 1..=[`MAX_WIDTH`](super::MAX_WIDTH).
    pub widths: &'a [usize],
    /// Lower corner of the domain (n entries).
    pub domain_lower: &'a [f64],
    /// Upper corner of the domain (n entries, each above the lower one).
    pub domain_upper: &'a [f64],
    /// The integral constraint, if any.
    pub constraint: Option<Constraint<f64>>,
    /// The constants that impose it, resolved in `f64` (`Resolved::scaled(1.0)` without one).
    pub constants: Resolved<f64>,
}

impl ModelHeader<'_> {
    /// Number of parameters of this shape, with the shape checks of [`decode`].
    ///
    /// Errors: `WrongPayload` (a payload other than [`Payload::Model`] or
    /// [`Payload::Density`]), `BadDimension`, `BadLayers`, `BadWidth`, `ShapeMismatch` (domain
    /// lengths), `Core` (a positive network without sigma_n, an empty or non-finite domain),
    /// `TooLarge`.
    pub fn parameter_count(&self) -> Result<usize, FormatError> {
        if !matches!(
            self.payload,
            Payload::Model | Payload::Density | Payload::Deviation
        ) {
            return Err(FormatError::WrongPayload {
                expected: Payload::Model,
                found: self.payload,
            });
        }
        if self.n == 0 || self.n > MAX_DIM {
            return Err(FormatError::BadDimension { n: self.n });
        }
        check_widths(self.widths)?;
        for (field, corner) in [
            (Field::DomainLower, self.domain_lower),
            (Field::DomainUpper, self.domain_upper),
        ] {
            if corner.len() != self.n {
                return Err(FormatError::ShapeMismatch {
                    field,
                    expected: self.n,
                    found: corner.len(),
                });
            }
        }
        if self.kind == Kind::Positive && self.activation != Activation::Sigma {
            return Err(FormatError::Core(Error::InvalidShape));
        }
        check_box(self.domain_lower, self.domain_upper)?;
        checked_parameter_count(self.n, self.widths).ok_or(FormatError::TooLarge)
    }

    /// Checks eps, the constants and the parameters: all finite (`NonFinite`), then for a
    /// density that it is one (`Core(NotADensity)`), then the constraint against the network
    /// (`Core`).
    pub(super) fn check_values(
        &self,
        params: impl Iterator<Item = f64>,
    ) -> Result<(), FormatError> {
        if let Some(c) = &self.constraint {
            if !c.eps.is_finite() {
                return Err(FormatError::NonFinite {
                    field: Field::Epsilon,
                });
            }
        }
        let Resolved {
            scale,
            gap,
            gap_low,
        } = self.constants;
        if !(scale.is_finite() && gap.is_finite() && gap_low.is_finite()) {
            return Err(FormatError::NonFinite {
                field: Field::Constants,
            });
        }
        for p in params {
            if !p.is_finite() {
                return Err(FormatError::NonFinite {
                    field: Field::Parameters,
                });
            }
        }
        if self.payload == Payload::Density && !is_density(self.kind, self.constraint.as_ref()) {
            return Err(FormatError::Core(Error::NotADensity));
        }
        if self.payload == Payload::Deviation && !is_magnitude(self.kind, self.constraint.as_ref())
        {
            return Err(FormatError::Core(Error::NotADeviation));
        }
        crate::constraint::check_constants(self.kind, self.constraint.as_ref(), &self.constants)
            .map_err(FormatError::Core)?;
        Ok(())
    }
}

/// The density rule: a positive network whose integral is fixed to exactly 1 by scale.
fn is_density(kind: Kind, constraint: Option<&Constraint<f64>>) -> bool {
    kind == Kind::Positive
        && constraint
            .is_some_and(|c| c.bound == Bound::Equal && c.method == Method::Scale && c.eps == 1.0)
}

/// A model header under the deviation tag is only the first part of a deviation body:
/// [`encode_deviation`](super::encode_deviation) writes it, never [`encode`].
fn refuse_deviation(header: &ModelHeader<'_>) -> Result<(), FormatError> {
    if header.payload == Payload::Deviation {
        return Err(FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Deviation,
        });
    }
    Ok(())
}

/// The magnitude rule of a deviation blob: a positive network whose integral is constrained to
/// at most eps > 0 by scale.
fn is_magnitude(kind: Kind, constraint: Option<&Constraint<f64>>) -> bool {
    kind == Kind::Positive
        && constraint
            .is_some_and(|c| c.bound == Bound::AtMost && c.method == Method::Scale && c.eps > 0.0)
}

/// Checks a model as [`decode`] checks a blob: shape, parameter count, finiteness, and the
/// constraint against the network. Returns the parameter count.
///
/// ```
/// use finn_core::format::{validate, FormatError, ModelHeader, Payload};
/// use finn_core::{Activation, Kind, Resolved};
/// let header = ModelHeader {
///     payload: Payload::Model,
///     kind: Kind::Signed,
///     activation: Activation::Tanh,
///     n: 1,
///     widths: &[1],
///     domain_lower: &[0.0],
///     domain_upper: &[1.0],
///     constraint: None,
///     constants: Resolved::scaled(1.0),
/// };
/// assert_eq!(validate(&header, &[1.0, 0.0, 1.0]), Ok(3));
/// assert_eq!(
///     validate(&header, &[1.0, f64::NAN, 1.0]),
///     Err(FormatError::NonFinite { field: finn_core::format::Field::Parameters })
/// );
/// ```
pub fn validate(header: &ModelHeader<'_>, params: &[f64]) -> Result<usize, FormatError> {
    refuse_deviation(header)?;
    let count = header.parameter_count()?;
    if params.len() != count {
        return Err(FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: count,
            found: params.len(),
        });
    }
    header.check_values(params.iter().copied())?;
    Ok(count)
}

/// The exact length of the blob [`encode`] writes for this header and scalar type.
///
/// Errors: the shape errors of [`ModelHeader::parameter_count`].
///
/// ```
/// use finn_core::format::{encoded_len, ModelHeader, Payload, Scalar};
/// use finn_core::{Activation, Kind, Resolved};
/// let header = ModelHeader {
///     payload: Payload::Model,
///     kind: Kind::Signed,
///     activation: Activation::Tanh,
///     n: 1,
///     widths: &[1],
///     domain_lower: &[0.0],
///     domain_upper: &[1.0],
///     constraint: None,
///     constants: Resolved::scaled(1.0),
/// };
/// // Magic and version, 50 bytes of header fields, the parameters (their byte length 12 as a
/// // one-byte varint, then 3 f32), the CRC.
/// assert_eq!(encoded_len(&header, Scalar::F32), Ok(6 + 50 + 13 + 4));
/// ```
pub fn encoded_len(header: &ModelHeader<'_>, scalar: Scalar) -> Result<usize, FormatError> {
    refuse_deviation(header)?;
    let count = header.parameter_count()?;
    let param_bytes = count
        .checked_mul(scalar.size())
        .ok_or(FormatError::TooLarge)?;
    // Everything but the parameter bytes themselves (a few dozen bytes to measure).
    blob_len(
        |s| write_model_body(s, header, &[], count, scalar),
        param_bytes,
    )
}

/// Writes the blob of a model into `out` and returns its length; never allocates.
///
/// `params` are in the flat layout of [`Network::new`](crate::Network::new) (raw, before |w|
/// for a positive network). With [`Scalar::F32`] they are rounded to `f32`.
///
/// Errors: every check of [`validate`]; `NonFinite` if a parameter overflows `f32`;
/// `BufferTooSmall` (see [`encoded_len`]).
pub fn encode(
    header: &ModelHeader<'_>,
    params: &[f64],
    scalar: Scalar,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let count = validate(header, params)?;
    if scalar == Scalar::F32 {
        header.check_values(params.iter().map(|&v| f64::from(v as f32)))?;
    }
    let needed = encoded_len(header, scalar)?;
    write_blob(needed, out, |s| {
        write_model_body(s, header, params, count, scalar)
    })
}

/// Checks a model blob completely (see the module documentation for the order of the checks)
/// and returns a view of it that borrows the parameter bytes. A density blob (payload 2) is a
/// model too and reads here, its view's [`ModelView::payload`] saying so. A trajectory blob is
/// `WrongPayload` ([`decode_trajectory`](super::decode_trajectory) reads it). Never allocates,
/// never panics.
// Not inlined: its parsing temporaries then live in a frame that is gone before loading starts.
#[inline(never)]
pub fn decode(bytes: &[u8]) -> Result<ModelView<'_>, FormatError> {
    match parse_body(unframe(bytes)?)? {
        Body::Model(body) => ModelView::from_body(body, Payload::Model),
        Body::Density(body) => ModelView::from_body(body, Payload::Density),
        Body::Trajectory(_) => Err(FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Trajectory,
        }),
        Body::Deviation(_) => Err(FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Deviation,
        }),
        Body::DensityMixture(_) => Err(FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::DensityMixture,
        }),
        Body::SoftQ(_) => Err(FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::SoftQ,
        }),
    }
}

/// Checks a density blob (payload 2) completely, as [`decode`] does, and returns its view:
/// a positive network whose integral over its domain, the support, is fixed to 1
/// (`Bound::Equal`, `Method::Scale`, eps = 1). A model blob (payload 0) is `WrongPayload`,
/// even when its model happens to meet the density rule: a density says so in its payload.
/// Never allocates, never panics.
///
/// ```
/// use finn_core::format::{decode_density, encode, ModelHeader, Payload, Scalar};
/// use finn_core::{Activation, Bound, Constraint, Density, Domain, Finn, Kind, Method, Network};
/// let params = [1.0, -0.5, 0.2, 0.3, 1.0, 2.0];
/// let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
/// let net = Network::<f64, 1, 2, 1>::positive(&[2], &params).unwrap();
/// let host = Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap();
/// let mut header = ModelHeader {
///     payload: Payload::Density,
///     kind: Kind::Positive,
///     activation: Activation::Sigma,
///     n: 1,
///     widths: &[2],
///     domain_lower: &[0.0],
///     domain_upper: &[2.0],
///     constraint: Some(one),
///     constants: host.constants(),
/// };
/// let mut buf = [0u8; 256];
/// let len = encode(&header, &params, Scalar::F32, &mut buf).unwrap();
/// let view = decode_density(&buf[..len]).unwrap();
/// let p = view.to_density::<f32, 1, 4, 2>().unwrap();
/// assert!((p.cdf(&[2.0]).unwrap() - 1.0).abs() < 1e-6);
/// // The same model under the model payload is not a density blob.
/// header.payload = Payload::Model;
/// let len = encode(&header, &params, Scalar::F32, &mut buf).unwrap();
/// assert!(decode_density(&buf[..len]).is_err());
/// ```
#[inline(never)]
pub fn decode_density(bytes: &[u8]) -> Result<ModelView<'_>, FormatError> {
    match parse_body(unframe(bytes)?)? {
        Body::Density(body) => ModelView::from_body(body, Payload::Density),
        Body::Model(_) => Err(FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::Model,
        }),
        Body::Trajectory(_) => Err(FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::Trajectory,
        }),
        Body::Deviation(_) => Err(FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::Deviation,
        }),
        Body::DensityMixture(_) => Err(FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::DensityMixture,
        }),
        Body::SoftQ(_) => Err(FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::SoftQ,
        }),
    }
}

/// A checked blob: the architecture, domain, constraint and constants copied out (the widths
/// and the domain's corners into bounded `heapless::Vec`s of [`MAX_LAYERS`] and [`MAX_DIM`]),
/// the parameters borrowed from the blob.
///
/// ```
/// # use finn_core::format::{decode, encode, ModelHeader, Payload, Scalar};
/// # use finn_core::{Activation, Kind, Resolved};
/// # let header = ModelHeader { payload: Payload::Model, kind: Kind::Signed,
/// #     activation: Activation::Tanh, n: 1, widths: &[1], domain_lower: &[0.0],
/// #     domain_upper: &[1.0], constraint: None, constants: Resolved::scaled(1.0) };
/// # let mut buf = [0u8; 128];
/// # let len = encode(&header, &[2.0, 0.5, -1.0], Scalar::F32, &mut buf).unwrap();
/// let view = decode(&buf[..len]).unwrap();
/// assert_eq!(view.scalar(), Scalar::F32);
/// assert_eq!(view.parameter(2), Some(-1.0));
/// assert_eq!(view.header(), header);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ModelView<'a> {
    payload: Payload,
    kind: Kind,
    activation: Activation,
    widths: Vec<usize, MAX_LAYERS>,
    /// The domain's corners, n entries each: n is their length.
    domain_lower: Vec<f64, MAX_DIM>,
    domain_upper: Vec<f64, MAX_DIM>,
    constraint: Option<Constraint<f64>>,
    constants: Resolved<f64>,
    scalar: Scalar,
    params: &'a [u8],
}

impl<'a> ModelView<'a> {
    /// Runs the shape and value checks on a parsed body, copying its fields out of the blob
    /// (the parameters stay borrowed).
    pub(super) fn from_body(body: ModelBody<'a>, payload: Payload) -> Result<Self, FormatError> {
        let n = usize::from(body.n);
        if n == 0 || n > MAX_DIM {
            return Err(FormatError::BadDimension { n });
        }
        let layers = body.widths.len();
        let widths = match body.widths.to_vec() {
            Some(widths) if layers > 0 => widths,
            _ => return Err(FormatError::BadLayers { layers }),
        };
        let mut view = ModelView {
            payload,
            kind: body.kind,
            activation: body.activation,
            widths,
            domain_lower: Vec::new(),
            domain_upper: Vec::new(),
            constraint: body.constraint,
            constants: body.constants,
            scalar: body.scalar,
            params: body.params,
        };
        // Each corner has n <= MAX_DIM entries, so they fit (a failure would be the same shape
        // error).
        let shape = |field, found| FormatError::ShapeMismatch {
            field,
            expected: n,
            found,
        };
        let lower = &body.domain_lower;
        if lower.len() != n || lower.push_to(&mut view.domain_lower).is_err() {
            return Err(shape(Field::DomainLower, lower.len()));
        }
        let upper = &body.domain_upper;
        if upper.len() != n || upper.push_to(&mut view.domain_upper).is_err() {
            return Err(shape(Field::DomainUpper, upper.len()));
        }
        let count = view.header().parameter_count()?;
        let expected = count
            .checked_mul(view.scalar.size())
            .ok_or(FormatError::TooLarge)?;
        if view.params.len() != expected {
            return Err(FormatError::ShapeMismatch {
                field: Field::ParameterBytes,
                expected,
                found: view.params.len(),
            });
        }
        view.header().check_values(view.parameters().whole())?;
        Ok(view)
    }

    /// Everything but the parameters, borrowing from this view.
    pub fn header(&self) -> ModelHeader<'_> {
        ModelHeader {
            payload: self.payload,
            kind: self.kind,
            activation: self.activation,
            n: self.n(),
            widths: self.widths(),
            domain_lower: self.domain_lower(),
            domain_upper: self.domain_upper(),
            constraint: self.constraint,
            constants: self.constants,
        }
    }

    /// What the blob contains: [`Payload::Model`] or [`Payload::Density`].
    pub fn payload(&self) -> Payload {
        self.payload
    }

    /// Positive or signed network.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Hidden-unit activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Input dimension n.
    pub fn n(&self) -> usize {
        self.domain_lower.len()
    }

    /// Hidden widths, first layer first.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// Lower corner of the domain.
    pub fn domain_lower(&self) -> &[f64] {
        &self.domain_lower
    }

    /// Upper corner of the domain.
    pub fn domain_upper(&self) -> &[f64] {
        &self.domain_upper
    }

    /// The integral constraint, if any.
    pub fn constraint(&self) -> Option<Constraint<f64>> {
        self.constraint
    }

    /// The resolved constants, in `f64`.
    pub fn constants(&self) -> Resolved<f64> {
        self.constants
    }

    /// The scalar type the parameters are stored in.
    pub fn scalar(&self) -> Scalar {
        self.scalar
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        // Checked at decoding: the count fits.
        checked_parameter_count(self.n(), &self.widths).unwrap_or(0)
    }

    /// The stored parameter bytes, borrowed from the blob.
    pub fn parameter_bytes(&self) -> &'a [u8] {
        self.params
    }

    /// Parameter `i` (widened to `f64`, which is exact), or `None` past the end.
    pub fn parameter(&self, i: usize) -> Option<f64> {
        let size = self.scalar.size();
        let start = i.checked_mul(size)?;
        let chunk = self.params.get(start..start.checked_add(size)?)?;
        Some(read_float(chunk, self.scalar))
    }

    /// The parameters in order, widened to `f64`.
    pub fn parameters(&self) -> Parameters<'a> {
        Parameters::new(self.params, self.scalar)
    }

    /// Builds the model in scalar type `T` with capacity `N` inputs, `W` units and `L` layers,
    /// converting the parameters, domain and constants from the stored types. The parameters
    /// stream from the blob into the network: no buffer, whatever the model's size.
    ///
    /// Errors: `CapacityMismatch` (N differs from n, more layers than L, a width above W);
    /// `Core` when a value does not fit `T` (for example a parameter beyond `f32::MAX`, or
    /// domain corners that round to the same `f32`).
    pub fn to_finn<T: Real, const N: usize, const W: usize, const L: usize>(
        &self,
    ) -> Result<Finn<T, N, W, L>, FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        let mut model = Finn::unloaded();
        self.load_finn_into(&mut model)?;
        Ok(model)
    }

    /// As [`ModelView::to_finn`], loading into an existing model in place (for example one in
    /// a `static`, from [`Finn::unloaded`]), so that no copy of it is built on the stack. On
    /// an error the target is left unloaded (evaluating it is an error).
    ///
    /// Errors as for [`ModelView::to_finn`].
    ///
    /// ```
    /// # use finn_core::format::{decode, encode, ModelHeader, Payload, Scalar};
    /// # use finn_core::{Activation, Kind, Resolved};
    /// # let header = ModelHeader { payload: Payload::Model, kind: Kind::Signed,
    /// #     activation: Activation::Tanh, n: 1, widths: &[1], domain_lower: &[0.0],
    /// #     domain_upper: &[1.0], constraint: None, constants: Resolved::scaled(1.0) };
    /// # let mut buf = [0u8; 128];
    /// # let len = encode(&header, &[2.0, 0.5, -1.0], Scalar::F32, &mut buf).unwrap();
    /// use finn_core::{Antiderivative, Finn};
    /// // In firmware: static mut MODEL: Finn<f32, 1, 4, 2> = Finn::unloaded();
    /// let mut model = Finn::<f32, 1, 4, 2>::unloaded();
    /// let view = decode(&buf[..len]).unwrap();
    /// view.load_finn_into(&mut model).unwrap();
    /// assert!(model.integrand(&[0.5]).is_ok());
    /// // A blob of 1 input does not fit a model of 2: the target is left unloaded.
    /// let mut wide = Finn::<f32, 2, 4, 2>::unloaded();
    /// assert!(view.load_finn_into(&mut wide).is_err());
    /// assert!(wide.integrand(&[0.5, 0.5]).is_err());
    /// ```
    #[inline(never)]
    pub fn load_finn_into<T: Real, const N: usize, const W: usize, const L: usize>(
        &self,
        target: &mut Finn<T, N, W, L>,
    ) -> Result<(), FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        target.unload();
        if N != self.n() {
            return Err(FormatError::CapacityMismatch {
                field: Field::Dimension,
                capacity: N,
                found: self.n(),
            });
        }
        let widths = self.widths();
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
        target.network_mut().load_parameters(
            self.kind,
            self.activation,
            widths,
            self.parameters().map(T::from_f64),
        )?;
        let convert = |corner: &[f64]| {
            let mut c = [T::ZERO; N];
            for (o, v) in c.iter_mut().zip(corner) {
                *o = T::from_f64(*v);
            }
            c
        };
        let domain = Domain::new(convert(self.domain_lower()), convert(self.domain_upper()))?;
        let constraint = self.constraint.map(|c| Constraint {
            bound: c.bound,
            method: c.method,
            eps: T::from_f64(c.eps),
        });
        let constants = Resolved {
            scale: T::from_f64(self.constants.scale),
            gap: T::from_f64(self.constants.gap),
            gap_low: T::from_f64(self.constants.gap_low),
        };
        // Parameters stored in f32 are checked to f32's precision even in an f64 model.
        let stored = match self.scalar {
            Scalar::F32 => T::from_f64(f32::EPSILON as f64),
            Scalar::F64 => T::from_f64(f64::EPSILON),
        };
        Ok(target.reload(domain, constraint, constants, stored.max(T::EPSILON))?)
    }

    /// Builds the density of a density blob ([`decode_density`]) in scalar type `T` with
    /// capacity `N` inputs, `W` units and `L` layers, as [`ModelView::to_finn`] builds its
    /// model.
    ///
    /// Errors: `WrongPayload` (a view of a model blob, payload 0), then as for
    /// [`ModelView::to_finn`].
    ///
    /// ```
    /// # use finn_core::format::{decode, encode, ModelHeader, Payload, Scalar};
    /// # use finn_core::{Activation, Kind, Resolved};
    /// # let header = ModelHeader { payload: Payload::Model, kind: Kind::Signed,
    /// #     activation: Activation::Tanh, n: 1, widths: &[1], domain_lower: &[0.0],
    /// #     domain_upper: &[1.0], constraint: None, constants: Resolved::scaled(1.0) };
    /// # let mut buf = [0u8; 128];
    /// # let len = encode(&header, &[2.0, 0.5, -1.0], Scalar::F32, &mut buf).unwrap();
    /// use finn_core::format::FormatError;
    /// // A model blob is not a density blob.
    /// let view = decode(&buf[..len]).unwrap();
    /// assert_eq!(
    ///     view.to_density::<f32, 1, 4, 2>().unwrap_err(),
    ///     FormatError::WrongPayload { expected: Payload::Density, found: Payload::Model }
    /// );
    /// ```
    pub fn to_density<T: Real, const N: usize, const W: usize, const L: usize>(
        &self,
    ) -> Result<Density<T, N, W, L>, FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        let mut density = Density::unloaded();
        self.load_density_into(&mut density)?;
        Ok(density)
    }

    /// As [`ModelView::to_density`], loading into an existing density in place (for example
    /// one in a `static`, from [`Density::unloaded`]). On an error the target is left
    /// unloaded (evaluating it is an error).
    ///
    /// Errors as for [`ModelView::to_density`].
    #[inline(never)]
    pub fn load_density_into<T: Real, const N: usize, const W: usize, const L: usize>(
        &self,
        target: &mut Density<T, N, W, L>,
    ) -> Result<(), FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        target.finn_mut().unload();
        if self.payload != Payload::Density {
            return Err(FormatError::WrongPayload {
                expected: Payload::Density,
                found: self.payload,
            });
        }
        self.load_finn_into(target.finn_mut())?;
        if !Density::is_density(target.finn()) {
            // Unreachable for a checked view (the payload's rule, and the loader's checks of
            // the scale in `T`), kept so that what loads is always a density.
            target.finn_mut().unload();
            return Err(FormatError::Core(Error::NotADensity));
        }
        Ok(())
    }
}

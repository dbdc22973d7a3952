//! The density mixture payload (payload 4): a support map and up to [`MAX_COMPONENTS`]
//! weighted, reflected densities on one u-box ([`DensityMixture`]).
//! [`DensityMixtureHeader`] describes it, [`encode_density_mixture`] writes it,
//! [`decode_density_mixture`] checks a blob of it into a [`DensityMixtureView`], and
//! [`DensityMixtureView::load_density_mixture_into`] fills a [`DensityMixture`] in place.
//!
//! Each component is carried exactly as a density blob carries its model (the model body
//! under the density tag, payload 2), after its weight and reflection mask, so the checks of a
//! density blob apply to every component unchanged.

use super::framing::{blob_len, unframe, write_blob};
use super::model::validate;
use super::wire::{parse_body, write_mixture_body, Body, F64s, MixtureBody, MixtureComponents};
use super::{Field, FormatError, ModelHeader, ModelView, Payload, Scalar};
use crate::activation::MAX_DIM;
use crate::density_mixture::{weight_tolerance, DensityMixture, MixtureMap, MixtureProblem};
use crate::domain_map::{MapReal, RealSpace};
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks};
use crate::Error;

/// Most components a mixture blob may describe: far more than training produces (2 to 16),
/// and a bound on the work of checking a blob.
pub const MAX_COMPONENTS: usize = 256;

/// The support map of a mixture to encode.
///
/// ```
/// use finn_core::format::MixtureMapHeader;
/// let m = MixtureMapHeader::RealSpace { centre: &[0.0], scale: &[1.0] };
/// assert_ne!(m, MixtureMapHeader::Box);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MixtureMapHeader<'a> {
    /// The components' box is the support.
    Box,
    /// All of R^n by [`RealSpace`]: n centres and n scales > 0; the u-box must lie in
    /// [0, 1]^n.
    RealSpace {
        /// Per-axis centre.
        centre: &'a [f64],
        /// Per-axis scale.
        scale: &'a [f64],
    },
}

/// One component of a mixture to encode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixtureComponentHeader<'a> {
    /// Its weight: finite, >= 0; the weights sum to 1.
    pub weight: f64,
    /// Bit i set: axis i is reflected about the centre of the u-box (bits below n only).
    pub reflect: u8,
    /// Its model, with payload [`Payload::Density`].
    pub model: ModelHeader<'a>,
    /// Its parameters, in the flat layout of [`Network::new`](crate::Network::new).
    pub params: &'a [f64],
}

/// A density mixture to encode: its map and its components.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DensityMixtureHeader<'a> {
    /// Where the density lives.
    pub map: MixtureMapHeader<'a>,
    /// The components, 1..=[`MAX_COMPONENTS`].
    pub components: &'a [MixtureComponentHeader<'a>],
}

/// The mixture checks common to writing and reading, fed one component at a time.
struct Checker {
    n: usize,
    lower: heapless::Vec<f64, MAX_DIM>,
    upper: heapless::Vec<f64, MAX_DIM>,
    total: f64,
    seen: usize,
}

fn mixture_error(p: MixtureProblem) -> FormatError {
    FormatError::Core(Error::NotAMixture(p))
}

impl Checker {
    fn new(count: usize) -> Result<Self, FormatError> {
        if count == 0 || count > MAX_COMPONENTS {
            return Err(mixture_error(MixtureProblem::ComponentCount));
        }
        Ok(Checker {
            n: 0,
            lower: heapless::Vec::new(),
            upper: heapless::Vec::new(),
            total: 0.0,
            seen: 0,
        })
    }

    /// A component whose model passed the model checks.
    fn component(
        &mut self,
        weight: f64,
        reflect: u8,
        model: &ModelHeader<'_>,
    ) -> Result<(), FormatError> {
        if model.payload != Payload::Density {
            return Err(FormatError::WrongPayload {
                expected: Payload::Density,
                found: model.payload,
            });
        }
        if self.seen == 0 {
            self.n = model.n;
            // n <= MAX_DIM after the model checks, so the corners fit.
            self.lower.clear();
            self.upper.clear();
            let _ = self.lower.extend_from_slice(model.domain_lower);
            let _ = self.upper.extend_from_slice(model.domain_upper);
        } else if model.n != self.n {
            return Err(FormatError::ShapeMismatch {
                field: Field::Dimension,
                expected: self.n,
                found: model.n,
            });
        } else if model.domain_lower != self.lower.as_slice()
            || model.domain_upper != self.upper.as_slice()
        {
            return Err(mixture_error(MixtureProblem::DifferentBoxes));
        }
        if !weight.is_finite() {
            return Err(FormatError::NonFinite {
                field: Field::Weights,
            });
        }
        if weight < 0.0 {
            return Err(mixture_error(MixtureProblem::BadWeight));
        }
        let used = (u8::BITS - reflect.leading_zeros()) as usize;
        if used > model.n {
            return Err(FormatError::ShapeMismatch {
                field: Field::Reflection,
                expected: model.n,
                found: used,
            });
        }
        self.total += weight;
        self.seen += 1;
        Ok(())
    }

    /// The weights' sum and the map.
    fn finish(
        &self,
        real_space: bool,
        (centre_len, centre): (usize, impl Iterator<Item = f64>),
        (scale_len, scale): (usize, impl Iterator<Item = f64>),
    ) -> Result<(), FormatError> {
        // Written so that a NaN sum fails too.
        let within = (self.total - 1.0).abs() <= weight_tolerance::<f64>(self.seen);
        if !within {
            return Err(mixture_error(MixtureProblem::WeightSum));
        }
        let expected = if real_space { self.n } else { 0 };
        for (field, len) in [(Field::MapCentre, centre_len), (Field::MapScale, scale_len)] {
            if len != expected {
                return Err(FormatError::ShapeMismatch {
                    field,
                    expected,
                    found: len,
                });
            }
        }
        if !real_space {
            return Ok(());
        }
        for c in centre {
            if !c.is_finite() {
                return Err(FormatError::NonFinite {
                    field: Field::MapCentre,
                });
            }
        }
        for (axis, s) in scale.enumerate() {
            if !s.is_finite() {
                return Err(FormatError::NonFinite {
                    field: Field::MapScale,
                });
            }
            if s <= 0.0 {
                return Err(FormatError::Core(Error::EmptyInterval { axis }));
            }
        }
        if self.lower.iter().any(|a| *a < 0.0) || self.upper.iter().any(|b| *b > 1.0) {
            return Err(FormatError::Core(Error::NotADensity));
        }
        Ok(())
    }
}

/// The map's vectors of a header (empty for a box).
fn map_slices<'a>(map: &MixtureMapHeader<'a>) -> (bool, &'a [f64], &'a [f64]) {
    match *map {
        MixtureMapHeader::Box => (false, &[], &[]),
        MixtureMapHeader::RealSpace { centre, scale } => (true, centre, scale),
    }
}

/// Checks a mixture as [`decode_density_mixture`] checks a blob; returns the total number of
/// parameters.
///
/// ```
/// use finn_core::format::{validate_density_mixture, DensityMixtureHeader, FormatError, MixtureMapHeader};
/// let empty = DensityMixtureHeader { map: MixtureMapHeader::Box, components: &[] };
/// assert!(matches!(validate_density_mixture(&empty), Err(FormatError::Core(_))));
/// ```
pub fn validate_density_mixture(header: &DensityMixtureHeader<'_>) -> Result<usize, FormatError> {
    let mut checker = Checker::new(header.components.len())?;
    let mut total = 0usize;
    for c in header.components {
        total = total
            .checked_add(validate(&c.model, c.params)?)
            .ok_or(FormatError::TooLarge)?;
        checker.component(c.weight, c.reflect, &c.model)?;
    }
    let (real_space, centre, scale) = map_slices(&header.map);
    checker.finish(
        real_space,
        (centre.len(), centre.iter().copied()),
        (scale.len(), scale.iter().copied()),
    )?;
    Ok(total)
}

/// The exact length of the blob [`encode_density_mixture`] writes.
///
/// Errors: those of [`validate_density_mixture`] about the shapes.
pub fn density_mixture_encoded_len(
    header: &DensityMixtureHeader<'_>,
    scalar: Scalar,
) -> Result<usize, FormatError> {
    let total = validate_density_mixture(header)?;
    let param_bytes = total
        .checked_mul(scalar.size())
        .ok_or(FormatError::TooLarge)?;
    blob_len(
        |s| write_mixture_body(s, header, true, |k| count(header, k), scalar),
        param_bytes,
    )
}

/// The parameter count of component k of a checked header.
fn count(header: &DensityMixtureHeader<'_>, k: usize) -> usize {
    header
        .components
        .get(k)
        .and_then(|c| c.model.parameter_count().ok())
        .unwrap_or(0)
}

/// Writes the blob of a density mixture into `out` and returns its length; never
/// allocates. With [`Scalar::F32`] every component's parameters are rounded to `f32` (the
/// weights, the map, the domain and the constants stay `f64`).
///
/// Errors: every check of [`validate_density_mixture`]; `NonFinite` if a parameter
/// overflows `f32`; `BufferTooSmall` (see [`density_mixture_encoded_len`]).
///
/// ```
/// use finn_core::format::*;
/// use finn_core::{Activation, Bound, Constraint, Domain, Finn, Kind, Method, Network};
/// use finn_core::density_mixture::DensityMixture;
/// let params = [1.0, -0.5, 0.2, 0.3, 1.0, 2.0];
/// let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
/// let net = Network::<f64, 1, 2, 1>::positive(&[2], &params).unwrap();
/// let host = Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap();
/// let model = ModelHeader {
///     payload: Payload::Density, kind: Kind::Positive, activation: Activation::Sigma, n: 1,
///     widths: &[2], domain_lower: &[0.0], domain_upper: &[1.0], constraint: Some(one),
///     constants: host.constants(),
/// };
/// let parts = [
///     MixtureComponentHeader { weight: 0.25, reflect: 0, model, params: &params },
///     MixtureComponentHeader { weight: 0.75, reflect: 1, model, params: &params },
/// ];
/// let header = DensityMixtureHeader {
///     map: MixtureMapHeader::RealSpace { centre: &[0.0], scale: &[2.0] },
///     components: &parts,
/// };
/// let mut buf = [0u8; 512];
/// let len = encode_density_mixture(&header, Scalar::F32, &mut buf).unwrap();
/// let view = decode_density_mixture(&buf[..len]).unwrap();
/// assert_eq!((view.n(), view.len()), (1, 2));
/// let p = view.to_density_mixture::<f32, 1, 4, 2, 4>().unwrap();
/// let all = p.box_probability(&[f32::NEG_INFINITY], &[f32::INFINITY]).unwrap();
/// assert!((all - 1.0).abs() < 1e-5);
/// ```
pub fn encode_density_mixture(
    header: &DensityMixtureHeader<'_>,
    scalar: Scalar,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    validate_density_mixture(header)?;
    if scalar == Scalar::F32 {
        for c in header.components {
            c.model
                .check_values(c.params.iter().map(|&v| f64::from(v as f32)))?;
        }
    }
    let needed = density_mixture_encoded_len(header, scalar)?;
    write_blob(needed, out, |s| {
        write_mixture_body(s, header, false, |k| count(header, k), scalar)
    })
}

/// Checks a density mixture blob (payload 4) completely and returns its view, borrowing the
/// components from the blob. Any other payload is `WrongPayload`. Never allocates, never
/// panics.
///
/// The checks, after the envelope and the body's encoding: the number of components
/// (`Core(NotAMixture(ComponentCount))` for 0 or above [`MAX_COMPONENTS`]); then, component
/// by component, every check of a density blob's model (its tag must be the density payload:
/// `WrongPayload`), its dimension against the first's (`ShapeMismatch`, [`Field::Dimension`]),
/// its box against the first's (`Core(NotAMixture(DifferentBoxes))`), its weight (`NonFinite`,
/// [`Field::Weights`]; `Core(NotAMixture(BadWeight))` below 0), its reflection mask
/// (`ShapeMismatch`, [`Field::Reflection`], a bit at or above n); then the weights' sum
/// (`Core(NotAMixture(WeightSum))` beyond 1e-9 of 1); then the map: its vectors' lengths (n
/// for real space, 0 for a box: `ShapeMismatch`, [`Field::MapCentre`], [`Field::MapScale`]),
/// their finiteness (`NonFinite`), scales > 0 (`Core(EmptyInterval)`), and for real space a
/// u-box inside [0, 1]^n (`Core(NotADensity)`).
///
/// ```
/// use finn_core::format::{decode_density_mixture, FormatError};
/// assert_eq!(decode_density_mixture(b"FINN").unwrap_err(), FormatError::Truncated { len: 4 });
/// ```
#[inline(never)]
pub fn decode_density_mixture(bytes: &[u8]) -> Result<DensityMixtureView<'_>, FormatError> {
    let found = match parse_body(unframe(bytes)?)? {
        Body::DensityMixture(body) => return DensityMixtureView::from_body(body),
        Body::Model(_) => Payload::Model,
        Body::Density(_) => Payload::Density,
        Body::Trajectory(_) => Payload::Trajectory,
        Body::Deviation(_) => Payload::Deviation,
        Body::SoftQ(_) => Payload::SoftQ,
    };
    Err(FormatError::WrongPayload {
        expected: Payload::DensityMixture,
        found,
    })
}

/// A checked density mixture blob: the map and the components borrowed from the blob (each
/// component's [`ModelView`] is rebuilt, and checked again, when asked for).
#[derive(Clone, Debug, PartialEq)]
pub struct DensityMixtureView<'a> {
    n: usize,
    real_space: bool,
    centre: F64s<'a>,
    scale: F64s<'a>,
    components: MixtureComponents<'a>,
}

impl<'a> DensityMixtureView<'a> {
    /// Runs the checks of [`decode_density_mixture`] on a parsed body.
    pub(super) fn from_body(body: MixtureBody<'a>) -> Result<Self, FormatError> {
        let mut checker = Checker::new(body.components.count())?;
        for c in body.components.iter() {
            if c.payload != Payload::Density {
                return Err(FormatError::WrongPayload {
                    expected: Payload::Density,
                    found: c.payload,
                });
            }
            let view = ModelView::from_body(c.model, c.payload)?;
            checker.component(c.weight, c.reflect, &view.header())?;
        }
        checker.finish(
            body.real_space,
            (body.centre.len(), body.centre.iter()),
            (body.scale.len(), body.scale.iter()),
        )?;
        Ok(DensityMixtureView {
            n: checker.n,
            real_space: body.real_space,
            centre: body.centre,
            scale: body.scale,
            components: body.components,
        })
    }

    /// The input dimension n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The number of components.
    pub fn len(&self) -> usize {
        self.components.count()
    }

    /// Always false: a checked mixture has at least one component.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the map is real space (else the u-box is the support).
    pub fn is_real_space(&self) -> bool {
        self.real_space
    }

    /// The real-space map's centres (none for a box).
    pub fn centre(&self) -> impl Iterator<Item = f64> + 'a {
        self.centre.iter()
    }

    /// The real-space map's scales (none for a box).
    pub fn scale(&self) -> impl Iterator<Item = f64> + 'a {
        self.scale.iter()
    }

    /// Component `k`: its weight, reflection mask and model view; `None` past the end.
    pub fn component(&self, k: usize) -> Option<(f64, u8, ModelView<'a>)> {
        let c = self.components.iter().nth(k)?;
        let view = ModelView::from_body(c.model, c.payload).ok()?;
        Some((c.weight, c.reflect, view))
    }

    /// Builds the mixture in scalar type `T` with capacity `N` inputs, `W` units, `L` layers
    /// and `K` components.
    ///
    /// Errors as for [`DensityMixtureView::load_density_mixture_into`].
    pub fn to_density_mixture<
        T: MapReal,
        const N: usize,
        const W: usize,
        const L: usize,
        const K: usize,
    >(
        &self,
    ) -> Result<DensityMixture<T, N, W, L, K>, FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        let mut m = DensityMixture::unloaded();
        self.load_density_mixture_into(&mut m)?;
        Ok(m)
    }

    /// Loads the mixture into `target` in place (for example a `static` from
    /// [`DensityMixture::unloaded`]): each component's network streams from the blob into its
    /// slot, so no copy of a component is built on the stack. On an error the target is left
    /// unloaded.
    ///
    /// Errors: `CapacityMismatch` ([`Field::Dimension`] when N differs from n,
    /// [`Field::Components`] for more than K components, [`Field::Layers`] and
    /// [`Field::Width`] for a network beyond L or W); `Core` when a value does not fit `T`
    /// (the weights, once rounded, must still sum to 1 within
    /// [`weight_tolerance`](crate::density_mixture::weight_tolerance)).
    ///
    /// ```
    /// use finn_core::density_mixture::DensityMixture;
    /// use finn_core::format::{decode_density_mixture, Field, FormatError};
    /// # use finn_core::format::*;
    /// # use finn_core::{Activation, Bound, Constraint, Domain, Finn, Kind, Method, Network};
    /// # let params = [1.0, -0.5, 0.2, 0.3, 1.0, 2.0];
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let net = Network::<f64, 1, 2, 1>::positive(&[2], &params).unwrap();
    /// # let host = Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap();
    /// # let model = ModelHeader { payload: Payload::Density, kind: Kind::Positive,
    /// #     activation: Activation::Sigma, n: 1, widths: &[2], domain_lower: &[0.0],
    /// #     domain_upper: &[1.0], constraint: Some(one), constants: host.constants() };
    /// # let parts = [MixtureComponentHeader { weight: 0.5, reflect: 0, model, params: &params },
    /// #     MixtureComponentHeader { weight: 0.5, reflect: 1, model, params: &params }];
    /// # let header = DensityMixtureHeader { map: MixtureMapHeader::Box, components: &parts };
    /// # let mut buf = [0u8; 512];
    /// # let len = encode_density_mixture(&header, Scalar::F64, &mut buf).unwrap();
    /// let view = decode_density_mixture(&buf[..len]).unwrap();
    /// let mut one = DensityMixture::<f64, 1, 4, 1, 1>::unloaded();
    /// assert_eq!(
    ///     view.load_density_mixture_into(&mut one).unwrap_err(),
    ///     FormatError::CapacityMismatch { field: Field::Components, capacity: 1, found: 2 }
    /// );
    /// let mut two = DensityMixture::<f64, 1, 4, 1, 2>::unloaded();
    /// view.load_density_mixture_into(&mut two).unwrap();
    /// assert!((two.cdf(&[1.0]).unwrap() - 1.0).abs() < 1e-14);
    /// ```
    #[inline(never)]
    pub fn load_density_mixture_into<
        T: MapReal,
        const N: usize,
        const W: usize,
        const L: usize,
        const K: usize,
    >(
        &self,
        target: &mut DensityMixture<T, N, W, L, K>,
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

    fn load_parts<T: MapReal, const N: usize, const W: usize, const L: usize, const K: usize>(
        &self,
        target: &mut DensityMixture<T, N, W, L, K>,
    ) -> Result<(), FormatError>
    where
        Dim<N>: JetDim,
        Depth<L>: HiddenBlocks<T, W>,
    {
        target.unload();
        if N != self.n {
            return Err(FormatError::CapacityMismatch {
                field: Field::Dimension,
                capacity: N,
                found: self.n,
            });
        }
        if self.len() > K {
            return Err(FormatError::CapacityMismatch {
                field: Field::Components,
                capacity: K,
                found: self.len(),
            });
        }
        for c in self.components.iter() {
            let view = ModelView::from_body(c.model, c.payload)?;
            let slot = target
                .component_slot()
                .ok_or(FormatError::CapacityMismatch {
                    field: Field::Components,
                    capacity: K,
                    found: self.len(),
                })?;
            view.load_density_into(&mut slot.density)?;
            slot.weight = T::from_f64(c.weight);
            for (i, r) in slot.reflect.iter_mut().enumerate() {
                *r = (c.reflect >> i) & 1 == 1;
            }
        }
        let map = if self.real_space {
            let convert = |v: F64s<'a>| {
                let mut out = [T::ZERO; N];
                for (o, x) in out.iter_mut().zip(v.iter()) {
                    *o = T::from_f64(x);
                }
                out
            };
            MixtureMap::RealSpace(RealSpace::new(convert(self.centre), convert(self.scale))?)
        } else {
            MixtureMap::Box
        };
        target.finish(map)?;
        Ok(())
    }
}

//! The trajectory payload (payload 1): D one-input coordinate networks over an interval, with
//! their start and end states and via-points. [`TrajectoryHeader`] describes it,
//! [`encode_trajectory`] writes it, [`decode_trajectory`] checks a blob of it into a
//! [`TrajectoryView`], and [`TrajectoryView::to_trajectory`] or
//! [`TrajectoryView::load_trajectory_into`] builds the [`Trajectory`].

use heapless::Vec;

use super::framing::{blob_len, unframe, write_blob};
use super::scalar::Parameters;
use super::shape::{check_widths, checked_parameter_count};
use super::wire::{parse_body, write_trajectory_body, Body, TrajectoryBody};
use super::{Field, FormatError, Payload, Scalar, MAX_COORDS, MAX_LAYERS, MAX_VIA};
use crate::domain::check_box;
use crate::network::{Depth, HiddenBlocks};
use crate::trajectory::{OutsidePolicy, Trajectory, Via};
use crate::{Activation, Error, Kind, Network, Real};

/// Everything about a trajectory except its parameters, with sizes known at run time.
///
/// D, the number of coordinates, is `x0.len()`. Every coordinate is a signed one-input network
/// of the same `activation` and `widths` (finn-core's [`Trajectory`]); [`encode_trajectory`]
/// writes it, [`TrajectoryView::header`] gives it back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrajectoryHeader<'a> {
    /// Hidden-unit activation of every coordinate network.
    pub activation: Activation,
    /// Hidden widths of every coordinate network, first layer first.
    pub widths: &'a [usize],
    /// Start time t0.
    pub t0: f64,
    /// End time T (> t0).
    pub t1: f64,
    /// Start state x0 (D entries, 1..=[`MAX_COORDS`]).
    pub x0: &'a [f64],
    /// End state xT (D entries).
    pub x1: &'a [f64],
    /// Via-point times, increasing, strictly inside (t0, T); at most [`MAX_VIA`].
    pub via_times: &'a [f64],
    /// Via-point positions, row-major: point k's D coordinates are entries `k*D .. k*D + D`.
    pub via_positions: &'a [f64],
    /// What sampling does outside [t0, T].
    pub policy: OutsidePolicy,
}

impl TrajectoryHeader<'_> {
    /// The number of coordinates D (`x0.len()`).
    pub fn coordinates(&self) -> usize {
        self.x0.len()
    }

    /// Parameters of one coordinate network, with the shape checks of [`decode_trajectory`].
    ///
    /// Errors: `BadLayers`, `BadWidth`, `BadCoordinates`, `ShapeMismatch` (`End`, `ViaPoints`),
    /// `TooManyViaPoints`, `Core` (an empty or non-finite interval), `TooLarge`.
    pub fn coordinate_parameter_count(&self) -> Result<usize, FormatError> {
        check_widths(self.widths)?;
        let d = self.coordinates();
        if d == 0 || d > MAX_COORDS {
            return Err(FormatError::BadCoordinates { d });
        }
        if self.x1.len() != d {
            return Err(FormatError::ShapeMismatch {
                field: Field::End,
                expected: d,
                found: self.x1.len(),
            });
        }
        let count = self.via_times.len();
        if count > MAX_VIA {
            return Err(FormatError::TooManyViaPoints { count });
        }
        if self.via_positions.len() != count * d {
            return Err(FormatError::ShapeMismatch {
                field: Field::ViaPoints,
                expected: count * d,
                found: self.via_positions.len(),
            });
        }
        check_box(&[self.t0], &[self.t1])?;
        checked_parameter_count(1, self.widths).ok_or(FormatError::TooLarge)
    }

    /// Parameters of all D coordinate networks together (D times
    /// [`TrajectoryHeader::coordinate_parameter_count`]), with the same checks.
    pub fn parameter_count(&self) -> Result<usize, FormatError> {
        self.coordinate_parameter_count()?
            .checked_mul(self.coordinates())
            .ok_or(FormatError::TooLarge)
    }

    /// Checks the states, the via-points and the parameters: all finite (`NonFinite`), then
    /// the via-point times increasing strictly inside (t0, T) (`Core(InvalidViaPoints)`).
    fn check_values(&self, params: impl Iterator<Item = f64>) -> Result<(), FormatError> {
        for (field, values) in [
            (Field::Start, self.x0),
            (Field::End, self.x1),
            (Field::ViaPoints, self.via_times),
            (Field::ViaPoints, self.via_positions),
        ] {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(FormatError::NonFinite { field });
            }
        }
        for p in params {
            if !p.is_finite() {
                return Err(FormatError::NonFinite {
                    field: Field::Parameters,
                });
            }
        }
        let mut last = self.t0;
        for &t in self.via_times {
            if t <= last || t >= self.t1 {
                return Err(FormatError::Core(Error::InvalidViaPoints));
            }
            last = t;
        }
        Ok(())
    }
}

/// Checks a trajectory as [`decode_trajectory`] checks a blob: shape, parameter count,
/// finiteness, via-point order. `params` holds the D parameter vectors back to back, each in
/// finn-core's flat layout. Returns the total parameter count.
///
/// ```
/// use finn_core::format::{validate_trajectory, TrajectoryHeader};
/// use finn_core::trajectory::OutsidePolicy;
/// use finn_core::Activation;
/// let header = TrajectoryHeader {
///     activation: Activation::Tanh,
///     widths: &[1],
///     t0: 0.0,
///     t1: 1.0,
///     x0: &[0.0, 0.0],
///     x1: &[1.0, 2.0],
///     via_times: &[],
///     via_positions: &[],
///     policy: OutsidePolicy::Hold,
/// };
/// // Two coordinates of 3 parameters each.
/// assert_eq!(validate_trajectory(&header, &[1.0, 0.0, 1.0, 2.0, 0.5, -1.0]), Ok(6));
/// ```
pub fn validate_trajectory(
    header: &TrajectoryHeader<'_>,
    params: &[f64],
) -> Result<usize, FormatError> {
    let total = header.parameter_count()?;
    if params.len() != total {
        return Err(FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: total,
            found: params.len(),
        });
    }
    header.check_values(params.iter().copied())?;
    Ok(total)
}

/// The exact length of the blob [`encode_trajectory`] writes for this header and scalar type.
///
/// Errors: the shape errors of [`TrajectoryHeader::parameter_count`].
pub fn trajectory_encoded_len(
    header: &TrajectoryHeader<'_>,
    scalar: Scalar,
) -> Result<usize, FormatError> {
    let total = header.parameter_count()?;
    let param_bytes = total
        .checked_mul(scalar.size())
        .ok_or(FormatError::TooLarge)?;
    blob_len(
        |s| write_trajectory_body(s, header, &[], total, scalar),
        param_bytes,
    )
}

/// Writes the blob of a trajectory into `out` and returns its length; never allocates.
///
/// `params` holds the D coordinate networks' parameter vectors back to back, each in the flat
/// layout of [`Network::new`]. With [`Scalar::F32`] they are rounded to `f32`; the times, states
/// and via-points always stay `f64`.
///
/// Errors: every check of [`validate_trajectory`]; `NonFinite` if a parameter overflows `f32`;
/// `BufferTooSmall` (see [`trajectory_encoded_len`]).
///
/// ```
/// use finn_core::format::{decode_trajectory, encode_trajectory, Scalar, TrajectoryHeader};
/// use finn_core::trajectory::OutsidePolicy;
/// use finn_core::Activation;
/// let header = TrajectoryHeader {
///     activation: Activation::Tanh,
///     widths: &[2],
///     t0: 0.0,
///     t1: 2.0,
///     x0: &[0.0, 1.0],
///     x1: &[1.0, -1.0],
///     via_times: &[1.0],
///     via_positions: &[0.7, 0.2],
///     policy: OutsidePolicy::Reject,
/// };
/// // Two coordinates, 2 + 2 + 2 parameters each (first-layer weights, biases, output weights).
/// let params = [0.9, -1.2, 0.1, 0.3, 1.5, 0.4, 0.2, 0.8, -0.5, 0.0, -0.7, 1.1];
/// let mut buf = [0u8; 256];
/// let len = encode_trajectory(&header, &params, Scalar::F32, &mut buf).unwrap();
/// let view = decode_trajectory(&buf[..len]).unwrap();
/// let traj = view.to_trajectory::<f32, 2, 4, 2, 1>().unwrap();
/// assert_eq!(traj.sample(0.0).unwrap().position, [0.0, 1.0]);
/// assert_eq!(traj.sample(2.0).unwrap().position, [1.0, -1.0]);
/// let via = traj.sample(1.0).unwrap().position;
/// assert!((via[0] - 0.7).abs() < 1e-6 && (via[1] - 0.2).abs() < 1e-6);
/// ```
pub fn encode_trajectory(
    header: &TrajectoryHeader<'_>,
    params: &[f64],
    scalar: Scalar,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let total = validate_trajectory(header, params)?;
    if scalar == Scalar::F32 && params.iter().any(|&v| !(v as f32).is_finite()) {
        return Err(FormatError::NonFinite {
            field: Field::Parameters,
        });
    }
    let needed = trajectory_encoded_len(header, scalar)?;
    write_blob(needed, out, |s| {
        write_trajectory_body(s, header, params, total, scalar)
    })
}

/// Checks a trajectory blob completely (see the module documentation for the order of the
/// checks) and returns a view of it that borrows the parameter bytes. A model blob is
/// `WrongPayload`. Never allocates, never panics.
// Not inlined: its parsing temporaries then live in a frame that is gone before loading
// starts, instead of adding to the loader's frame (the device's stack high-water mark).
#[inline(never)]
pub fn decode_trajectory(bytes: &[u8]) -> Result<TrajectoryView<'_>, FormatError> {
    match parse_body(unframe(bytes)?)? {
        Body::Trajectory(body) => TrajectoryView::from_body(body),
        Body::Model(_) => Err(FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::Model,
        }),
        Body::Deviation(_) => Err(FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::Deviation,
        }),
        Body::DensityMixture(_) => Err(FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::DensityMixture,
        }),
        Body::Density(_) => Err(FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::Density,
        }),
        Body::SoftQ(_) => Err(FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::SoftQ,
        }),
    }
}

/// A checked trajectory blob: the architecture, interval, states and via-points copied out
/// (into bounded `heapless::Vec`s of [`MAX_LAYERS`], [`MAX_COORDS`] and [`MAX_VIA`]), the
/// parameters borrowed from the blob.
///
/// ```
/// # use finn_core::format::{decode_trajectory, encode_trajectory, Scalar, TrajectoryHeader};
/// # use finn_core::trajectory::OutsidePolicy;
/// # use finn_core::Activation;
/// # let header = TrajectoryHeader { activation: Activation::Tanh, widths: &[1], t0: 0.0,
/// #     t1: 1.0, x0: &[0.0], x1: &[1.0], via_times: &[], via_positions: &[],
/// #     policy: OutsidePolicy::Hold };
/// # let mut buf = [0u8; 128];
/// # let len = encode_trajectory(&header, &[2.0, 0.5, -1.0], Scalar::F64, &mut buf).unwrap();
/// let view = decode_trajectory(&buf[..len]).unwrap();
/// assert_eq!(view.coordinates(), 1);
/// assert_eq!(view.interval(), (0.0, 1.0));
/// assert_eq!(view.coordinate_parameters(0).unwrap().collect::<Vec<_>>(), [2.0, 0.5, -1.0]);
/// assert_eq!(view.header(), header);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TrajectoryView<'a> {
    activation: Activation,
    widths: Vec<usize, MAX_LAYERS>,
    t0: f64,
    t1: f64,
    /// The start state, D entries: D is its length.
    x0: Vec<f64, MAX_COORDS>,
    x1: Vec<f64, MAX_COORDS>,
    via_times: Vec<f64, MAX_VIA>,
    /// Row-major with stride D: D entries per via-point.
    via_positions: Vec<f64, { MAX_VIA * MAX_COORDS }>,
    policy: OutsidePolicy,
    scalar: Scalar,
    params: &'a [u8],
}

impl<'a> TrajectoryView<'a> {
    /// Runs the shape and value checks on a parsed body, copying its fields out of the blob
    /// (the parameters stay borrowed).
    pub(super) fn from_body(body: TrajectoryBody<'a>) -> Result<Self, FormatError> {
        let n = usize::from(body.n);
        if body.kind != Kind::Signed || n != 1 {
            return Err(FormatError::BadCoordinateNetwork { kind: body.kind, n });
        }
        let layers = body.widths.len();
        let widths = match body.widths.to_vec() {
            Some(widths) if layers > 0 => widths,
            _ => return Err(FormatError::BadLayers { layers }),
        };
        check_widths(&widths)?;
        let d = usize::from(body.coordinates);
        if d == 0 || d > MAX_COORDS {
            return Err(FormatError::BadCoordinates { d });
        }
        let mut view = TrajectoryView {
            activation: body.activation,
            widths,
            t0: body.t0,
            t1: body.t1,
            x0: Vec::new(),
            x1: Vec::new(),
            via_times: Vec::new(),
            via_positions: Vec::new(),
            policy: body.policy,
            scalar: body.scalar,
            params: body.params,
        };
        // Each state has D entries; D <= MAX_COORDS, so they fit (a failure would be the same
        // shape error).
        let shape = |field, found| FormatError::ShapeMismatch {
            field,
            expected: d,
            found,
        };
        if body.x0.len() != d || body.x0.push_to(&mut view.x0).is_err() {
            return Err(shape(Field::Start, body.x0.len()));
        }
        if body.x1.len() != d || body.x1.push_to(&mut view.x1).is_err() {
            return Err(shape(Field::End, body.x1.len()));
        }
        let via_count = body.via.count();
        if via_count > MAX_VIA {
            return Err(FormatError::TooManyViaPoints { count: via_count });
        }
        // At most MAX_VIA points of D coordinates each: they fit (a failure would be the same
        // error).
        for (time, position) in body.via.iter() {
            if position.len() != d {
                return Err(shape(Field::ViaPoints, position.len()));
            }
            if view.via_times.push(time).is_err()
                || position.push_to(&mut view.via_positions).is_err()
            {
                return Err(FormatError::TooManyViaPoints { count: via_count });
            }
        }
        let count = view.header().coordinate_parameter_count()?;
        let expected = count
            .checked_mul(view.coordinates())
            .and_then(|total| total.checked_mul(view.scalar.size()))
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
    pub fn header(&self) -> TrajectoryHeader<'_> {
        TrajectoryHeader {
            activation: self.activation,
            widths: self.widths(),
            t0: self.t0,
            t1: self.t1,
            x0: self.start(),
            x1: self.end(),
            via_times: self.via_times(),
            via_positions: self.via_positions(),
            policy: self.policy,
        }
    }

    /// Hidden-unit activation of the coordinate networks.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Hidden widths of the coordinate networks, first layer first.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// The number of coordinates D.
    pub fn coordinates(&self) -> usize {
        self.x0.len()
    }

    /// The interval (t0, T).
    pub fn interval(&self) -> (f64, f64) {
        (self.t0, self.t1)
    }

    /// The start state x0.
    pub fn start(&self) -> &[f64] {
        &self.x0
    }

    /// The end state xT.
    pub fn end(&self) -> &[f64] {
        &self.x1
    }

    /// The via-point times.
    pub fn via_times(&self) -> &[f64] {
        &self.via_times
    }

    /// The via-point positions, row-major (point k's coordinates at `k*D .. k*D + D`).
    pub fn via_positions(&self) -> &[f64] {
        &self.via_positions
    }

    /// Via-point `k`: its time and position, or `None` past the end.
    pub fn via_point(&self, k: usize) -> Option<(f64, &[f64])> {
        let d = self.coordinates();
        let time = *self.via_times.get(k)?;
        let start = k.checked_mul(d)?;
        let position = self.via_positions.get(start..start.checked_add(d)?)?;
        Some((time, position))
    }

    /// What sampling does outside [t0, T].
    pub fn policy(&self) -> OutsidePolicy {
        self.policy
    }

    /// The scalar type the parameters are stored in.
    pub fn scalar(&self) -> Scalar {
        self.scalar
    }

    /// Parameters of one coordinate network.
    pub fn coordinate_parameter_count(&self) -> usize {
        // Checked at decoding: the count fits.
        checked_parameter_count(1, &self.widths).unwrap_or(0)
    }

    /// Parameters of all coordinate networks together.
    pub fn parameter_count(&self) -> usize {
        self.coordinate_parameter_count()
            .saturating_mul(self.coordinates())
    }

    /// The stored parameter bytes of all coordinates, borrowed from the blob.
    pub fn parameter_bytes(&self) -> &'a [u8] {
        self.params
    }

    /// Every parameter in order (coordinate 0's vector first), widened to `f64`.
    pub fn parameters(&self) -> Parameters<'a> {
        Parameters::new(self.params, self.scalar)
    }

    /// The parameters of coordinate `i`'s network, widened to `f64`; `None` for i >= D.
    pub fn coordinate_parameters(&self, i: usize) -> Option<Parameters<'a>> {
        if i >= self.coordinates() {
            return None;
        }
        let size = self
            .coordinate_parameter_count()
            .checked_mul(self.scalar.size())?;
        let start = i.checked_mul(size)?;
        let bytes = self.params.get(start..start.checked_add(size)?)?;
        Some(Parameters::new(bytes, self.scalar))
    }

    /// Whether the blob fits a trajectory of capacity D, W, L, V.
    fn check_capacity<const D: usize, const W: usize, const L: usize, const V: usize>(
        &self,
    ) -> Result<(), FormatError> {
        if D != self.coordinates() {
            return Err(FormatError::CapacityMismatch {
                field: Field::Coordinates,
                capacity: D,
                found: self.coordinates(),
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
        if self.via_times.len() > V {
            return Err(FormatError::CapacityMismatch {
                field: Field::ViaPoints,
                capacity: V,
                found: self.via_times.len(),
            });
        }
        Ok(())
    }

    /// Streams coordinate `i`'s parameters into `net`, in place.
    fn load_network<T: Real, const W: usize, const L: usize>(
        &self,
        i: usize,
        net: &mut Network<T, 1, W, L>,
    ) -> Result<(), FormatError>
    where
        Depth<L>: HiddenBlocks<T, W>,
    {
        let params = self
            .coordinate_parameters(i)
            .ok_or(FormatError::CapacityMismatch {
                field: Field::Coordinates,
                capacity: self.coordinates(),
                found: i,
            })?;
        Ok(net.load_parameters(
            Kind::Signed,
            self.activation,
            self.widths(),
            params.map(T::from_f64),
        )?)
    }

    /// Builds the trajectory in scalar type `T` with exactly `D` coordinates and capacity `W`
    /// units, `L` layers and `V` via-points, converting every stored value to `T`. The
    /// parameters stream from the blob into the networks ([`Network::from_parameters`]);
    /// [`Trajectory::new`] then solves the via-point correction once, in `T`.
    ///
    /// Errors: `CapacityMismatch` (D differs from the blob's, more layers than L, a width above
    /// W, more via-points than V); `Core` when the trajectory does not build in `T` (a value
    /// beyond `f32::MAX`, an interval or via-point times that collapse when rounded to `f32`,
    /// a singular via-point system, a network that overflows at t0 or T).
    pub fn to_trajectory<T: Real, const D: usize, const W: usize, const L: usize, const V: usize>(
        &self,
    ) -> Result<Trajectory<T, D, W, L, V>, FormatError>
    where
        Depth<L>: HiddenBlocks<T, W>,
    {
        let mut trajectory = Trajectory::unloaded();
        self.load_trajectory_into(&mut trajectory)?;
        Ok(trajectory)
    }

    /// As [`TrajectoryView::to_trajectory`], loading into an existing trajectory in place (for
    /// example one in a `static`), so that no copy of it is built on the stack. On an error
    /// the target is left unloaded (sampling it is an error).
    ///
    /// Errors as for [`TrajectoryView::to_trajectory`].
    #[inline(never)]
    pub fn load_trajectory_into<
        T: Real,
        const D: usize,
        const W: usize,
        const L: usize,
        const V: usize,
    >(
        &self,
        target: &mut Trajectory<T, D, W, L, V>,
    ) -> Result<(), FormatError>
    where
        Depth<L>: HiddenBlocks<T, W>,
    {
        target.unload();
        self.check_capacity::<D, W, L, V>()?;
        for (i, net) in target.coordinates_mut().iter_mut().enumerate() {
            self.load_network(i, net)?;
        }
        let state = |values: &[f64]| {
            let mut x = [T::ZERO; D];
            for (o, v) in x.iter_mut().zip(values) {
                *o = T::from_f64(*v);
            }
            x
        };
        let mut via = Vec::<Via<T, D>, V>::new();
        for (k, &time) in self.via_times.iter().enumerate() {
            let position = self.via_point(k).map_or(&[][..], |(_, p)| p);
            let point = Via {
                time: T::from_f64(time),
                position: state(position),
            };
            // Checked against V above: a failure here is the same capacity error.
            via.push(point).map_err(|_| FormatError::CapacityMismatch {
                field: Field::ViaPoints,
                capacity: V,
                found: self.via_times.len(),
            })?;
        }
        Ok(target.reload(
            T::from_f64(self.t0),
            T::from_f64(self.t1),
            state(self.start()),
            state(self.end()),
            &via,
            self.policy,
        )?)
    }
}

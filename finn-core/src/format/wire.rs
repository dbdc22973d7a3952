//! The bodies on the wire: serde types whose postcard encoding is, field for field, the byte
//! layout of the module documentation, and their construction from a checked header.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::scalar::ParamsOut;
use super::{ModelHeader, Payload, Scalar, TrajectoryHeader, MAX_COORDS, MAX_LAYERS, MAX_VIA};
use crate::activation::MAX_DIM;
use crate::trajectory::OutsidePolicy;
use crate::{Activation, Constraint, Kind, Resolved};

/// A sequence of at most `C` items on the wire; decoding counts every item, keeps the first
/// `C`, and leaves the length check to the shape checks.
#[derive(Clone, Copy, Debug)]
pub(super) struct Seq<T, const C: usize> {
    pub(super) items: [T; C],
    pub(super) len: usize,
}

impl<T: Copy + Default, const C: usize> Default for Seq<T, C> {
    fn default() -> Self {
        Seq {
            items: [T::default(); C],
            len: 0,
        }
    }
}

impl<T: Copy + Default, const C: usize> Seq<T, C> {
    pub(super) fn from_slice(values: &[T]) -> Self {
        let mut s = Seq {
            items: [T::default(); C],
            len: 0,
        };
        for v in values {
            s.push(*v);
        }
        s
    }

    pub(super) fn push(&mut self, v: T) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = v;
        }
        self.len = self.len.saturating_add(1);
    }

    pub(super) fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&self.items)
    }
}

impl<T: Copy + Default + Serialize, const C: usize> Serialize for Seq<T, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self.as_slice();
        let mut seq = serializer.serialize_seq(Some(items.len()))?;
        for v in items {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

impl<'de, T: Copy + Default + Deserialize<'de>, const C: usize> Deserialize<'de> for Seq<T, C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor<T, const C: usize>(PhantomData<T>);
        impl<'de, T: Copy + Default + Deserialize<'de>, const C: usize> Visitor<'de> for SeqVisitor<T, C> {
            type Value = Seq<T, C>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Seq {
                    items: [T::default(); C],
                    len: 0,
                };
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(SeqVisitor::<T, C>(PhantomData))
    }
}

/// The body of a blob, fields in wire order; `P` is how the parameters travel.
#[derive(Serialize, Deserialize)]
pub(super) struct Body<P> {
    pub(super) payload: Payload,
    pub(super) kind: Kind,
    pub(super) activation: Activation,
    pub(super) n: u8,
    pub(super) widths: Seq<u16, MAX_LAYERS>,
    pub(super) domain_lower: Seq<f64, MAX_DIM>,
    pub(super) domain_upper: Seq<f64, MAX_DIM>,
    pub(super) constraint: Option<Constraint<f64>>,
    pub(super) constants: Resolved<f64>,
    pub(super) scalar: Scalar,
    pub(super) params: P,
}

/// The body of a checked header (n <= MAX_DIM, widths <= MAX_WIDTH).
pub(super) fn body<'a>(
    header: &ModelHeader<'_>,
    values: &'a [f64],
    count: usize,
    scalar: Scalar,
) -> Body<ParamsOut<'a>> {
    let mut widths = Seq::<u16, MAX_LAYERS>::from_slice(&[]);
    for &w in header.widths {
        widths.push(u16::try_from(w).unwrap_or(u16::MAX));
    }
    Body {
        payload: header.payload,
        kind: header.kind,
        activation: header.activation,
        n: u8::try_from(header.n).unwrap_or(u8::MAX),
        widths,
        domain_lower: Seq::from_slice(header.domain_lower),
        domain_upper: Seq::from_slice(header.domain_upper),
        constraint: header.constraint,
        constants: header.constants,
        scalar,
        params: ParamsOut {
            values,
            count,
            scalar,
        },
    }
}

/// The outside-interval policy on the wire.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(super) enum PolicyWire {
    Hold,
    Reject,
}

impl From<OutsidePolicy> for PolicyWire {
    fn from(p: OutsidePolicy) -> Self {
        match p {
            OutsidePolicy::Hold => PolicyWire::Hold,
            OutsidePolicy::Reject => PolicyWire::Reject,
        }
    }
}

impl From<PolicyWire> for OutsidePolicy {
    fn from(p: PolicyWire) -> Self {
        match p {
            PolicyWire::Hold => OutsidePolicy::Hold,
            PolicyWire::Reject => OutsidePolicy::Reject,
        }
    }
}

/// One via-point on the wire.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
pub(super) struct ViaWire {
    pub(super) time: f64,
    pub(super) position: Seq<f64, MAX_COORDS>,
}

/// The body of a trajectory blob, fields in wire order.
#[derive(Serialize, Deserialize)]
pub(super) struct TrajectoryBody<P> {
    pub(super) payload: Payload,
    pub(super) kind: Kind,
    pub(super) activation: Activation,
    pub(super) n: u8,
    pub(super) widths: Seq<u16, MAX_LAYERS>,
    pub(super) coordinates: u8,
    pub(super) t0: f64,
    pub(super) t1: f64,
    pub(super) x0: Seq<f64, MAX_COORDS>,
    pub(super) x1: Seq<f64, MAX_COORDS>,
    pub(super) via: Seq<ViaWire, MAX_VIA>,
    pub(super) policy: PolicyWire,
    pub(super) scalar: Scalar,
    pub(super) params: P,
}

/// The body of a checked trajectory header (`total` parameters in all).
pub(super) fn trajectory_body<'a>(
    header: &TrajectoryHeader<'_>,
    values: &'a [f64],
    total: usize,
    scalar: Scalar,
) -> TrajectoryBody<ParamsOut<'a>> {
    let d = header.coordinates();
    let mut widths = Seq::<u16, MAX_LAYERS>::default();
    for &w in header.widths {
        widths.push(u16::try_from(w).unwrap_or(u16::MAX));
    }
    let mut via = Seq::<ViaWire, MAX_VIA>::default();
    for (k, &time) in header.via_times.iter().enumerate() {
        let start = k.saturating_mul(d);
        let position = header
            .via_positions
            .get(start..start.saturating_add(d))
            .unwrap_or(&[]);
        via.push(ViaWire {
            time,
            position: Seq::from_slice(position),
        });
    }
    TrajectoryBody {
        payload: Payload::Trajectory,
        kind: Kind::Signed,
        activation: header.activation,
        n: 1,
        widths,
        coordinates: u8::try_from(d).unwrap_or(u8::MAX),
        t0: header.t0,
        t1: header.t1,
        x0: Seq::from_slice(header.x0),
        x1: Seq::from_slice(header.x1),
        via,
        policy: header.policy.into(),
        scalar,
        params: ParamsOut {
            values,
            count: total,
            scalar,
        },
    }
}

//! Mutations of a blob: structure-unaware (bytes flipped, set, inserted, removed, truncated)
//! and structure-aware (the body decoded into its raw fields, one field set to a hostile value,
//! encoded again), described by [`Edit`]s that `arbitrary` derives from random bytes, so a
//! failing case is reproducible from its bytes alone.

use arbitrary::Arbitrary;
use serde::{Deserialize, Serialize};

/// A hostile floating-point value, or a change of the value already there.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Special {
    /// 0.0.
    Zero,
    /// -0.0.
    NegZero,
    /// A power of ten from 1e-45 to 1e308, either sign.
    Power(i16, bool),
    /// The largest f32, and just past it.
    F32Max(bool),
    /// The smallest subnormal f64 and f32.
    Subnormal(bool),
    /// NaN, +inf or -inf.
    NonFinite(u8),
    /// The value times 2^k.
    Times(i8),
    /// The value negated.
    Negate,
    /// The value plus one ulp.
    NextUp,
}

impl Special {
    /// The new value of a field whose value was `old`.
    pub fn apply(self, old: f64) -> f64 {
        match self {
            Special::Zero => 0.0,
            Special::NegZero => -0.0,
            Special::Power(e, negative) => {
                let v = 10f64.powi(i32::from(e.rem_euclid(354)) - 45);
                if negative {
                    -v
                } else {
                    v
                }
            }
            Special::F32Max(past) => {
                if past {
                    f32::MAX as f64 * 1.000_001
                } else {
                    f32::MAX as f64
                }
            }
            Special::Subnormal(f32_one) => {
                if f32_one {
                    f32::from_bits(1) as f64
                } else {
                    f64::from_bits(1)
                }
            }
            Special::NonFinite(k) => [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][k as usize % 3],
            Special::Times(k) => old * 2f64.powi(i32::from(k)),
            Special::Negate => -old,
            Special::NextUp => f64::from_bits(old.to_bits().wrapping_add(1)),
        }
    }
}

/// A field of a model or trajectory body.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Field {
    /// The payload tag.
    Payload(u8),
    /// The network kind.
    Kind(u8),
    /// The activation.
    Activation(u8),
    /// n.
    Dimension(u8),
    /// One hidden width (index, new width).
    Width(u8, u16),
    /// Drop or add a hidden layer.
    Layers(bool),
    /// A float of the header: domain corners, eps, constants; t0, T, states, via-points.
    Float(u8, Special),
    /// The constraint's bound, method, or its presence.
    Constraint(u8, u8),
    /// The stored scalar type.
    Scalar(u8),
    /// One parameter (index, value).
    Parameter(u16, Special),
    /// Every parameter scaled by 2^k.
    AllParameters(i8),
    /// D (trajectories).
    Coordinates(u8),
    /// Drop or add a via-point (trajectories).
    Via(bool),
    /// The outside policy (trajectories).
    Policy(u8),
}

/// One mutation.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Edit {
    /// Flip one bit of one byte.
    FlipBit(u16, u8),
    /// Set one byte.
    SetByte(u16, u8),
    /// Insert one byte.
    Insert(u16, u8),
    /// Remove one byte.
    Remove(u16),
    /// Cut the blob.
    Truncate(u16),
    /// Change one field of the decoded body and encode it again.
    Field(Field),
}

/// A mutant: the edits, and whether the CRC is recomputed afterwards (so that the semantic
/// checks behind it are reached).
#[derive(Arbitrary, Clone, Debug)]
pub struct Mutation {
    /// One to a few edits.
    pub edits: Vec<Edit>,
    /// Recompute the CRC after the edits.
    pub fix_crc: bool,
}

/// The model body's fields in wire order (`docs/model-format.md`), enums as their indices.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct RawModel {
    payload: u32,
    kind: u32,
    activation: u32,
    n: u8,
    widths: Vec<u16>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    constraint: Option<(u32, u32, f64)>,
    constants: (f64, f64, f64),
    scalar: u32,
    params: Vec<u8>,
}

/// The trajectory body's fields in wire order.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct RawTrajectory {
    payload: u32,
    kind: u32,
    activation: u32,
    n: u8,
    widths: Vec<u16>,
    coordinates: u8,
    t0: f64,
    t1: f64,
    x0: Vec<f64>,
    x1: Vec<f64>,
    via: Vec<(f64, Vec<f64>)>,
    policy: u32,
    scalar: u32,
    params: Vec<u8>,
}

/// Magic and version before the body, CRC after it.
const PREFIX: usize = 6;
const CRC: usize = 4;

/// Recomputes the CRC trailer of a framed blob (no-op on one too short to have one).
pub fn fix_crc(bytes: &mut [u8]) {
    if bytes.len() >= PREFIX + CRC {
        let n = bytes.len() - CRC;
        let crc = finn_core::format::crc32(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Applies `mutation` to a copy of `blob`.
pub fn apply(blob: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut bytes = blob.to_vec();
    for edit in &mutation.edits {
        let len = bytes.len();
        let at = |i: u16| i as usize % len.max(1);
        match *edit {
            Edit::FlipBit(i, bit) if len > 0 => bytes[at(i)] ^= 1 << (bit % 8),
            Edit::SetByte(i, v) if len > 0 => bytes[at(i)] = v,
            Edit::Insert(i, v) => bytes.insert(i as usize % (len + 1), v),
            Edit::Remove(i) if len > 0 => {
                bytes.remove(at(i));
            }
            Edit::Truncate(i) => bytes.truncate(i as usize % (len + 1)),
            Edit::Field(field) => {
                if let Some(edited) = edit_field(&bytes, field) {
                    bytes = edited;
                }
            }
            _ => {}
        }
    }
    if mutation.fix_crc {
        fix_crc(&mut bytes);
    }
    bytes
}

/// Decodes the body's raw fields, changes one, encodes and frames it again; `None` when the
/// body does not decode as either payload.
fn edit_field(bytes: &[u8], field: Field) -> Option<Vec<u8>> {
    if bytes.len() < PREFIX + CRC {
        return None;
    }
    let body = &bytes[PREFIX..bytes.len() - CRC];
    let model = postcard::from_bytes::<RawModel>(body)
        .ok()
        .filter(|r| r.payload == 0 || r.payload == 2);
    let encoded = if let Some(mut raw) = model {
        edit_model(&mut raw, field);
        postcard::to_allocvec(&raw).ok()?
    } else {
        let mut raw = postcard::from_bytes::<RawTrajectory>(body).ok()?;
        edit_trajectory(&mut raw, field);
        postcard::to_allocvec(&raw).ok()?
    };
    let mut out = bytes[..PREFIX].to_vec();
    out.extend_from_slice(&encoded);
    out.extend_from_slice(&[0; CRC]);
    fix_crc(&mut out);
    Some(out)
}

/// Sets one parameter (stored as f32 or f64 little-endian) through `f`.
fn edit_parameter(params: &mut [u8], scalar: u32, index: u16, f: impl Fn(f64) -> f64) {
    let size = if scalar == 0 { 4 } else { 8 };
    let count = params.len() / size;
    if count == 0 {
        return;
    }
    let at = index as usize % count * size;
    let slot = &mut params[at..at + size];
    if size == 4 {
        let old = f32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]);
        slot.copy_from_slice(&(f(old as f64) as f32).to_le_bytes());
    } else {
        let mut b = [0u8; 8];
        b.copy_from_slice(slot);
        slot.copy_from_slice(&f(f64::from_le_bytes(b)).to_le_bytes());
    }
}

/// One parameter set to a hostile value, or all of them scaled by a power of two.
fn edit_parameters(params: &mut [u8], scalar: u32, field: Field) {
    match field {
        Field::Parameter(i, s) => edit_parameter(params, scalar, i, |v| s.apply(v)),
        Field::AllParameters(k) => {
            for i in 0..params.len() as u16 {
                edit_parameter(params, scalar, i, |v| v * 2f64.powi(i32::from(k)));
            }
        }
        _ => {}
    }
}

fn edit_widths(widths: &mut Vec<u16>, field: Field) {
    match field {
        Field::Width(i, w) if !widths.is_empty() => {
            let i = i as usize % widths.len();
            widths[i] = w;
        }
        Field::Layers(add) => {
            if add {
                widths.push(widths.last().copied().unwrap_or(1));
            } else {
                widths.pop();
            }
        }
        _ => {}
    }
}

fn edit_model(raw: &mut RawModel, field: Field) {
    match field {
        Field::Payload(v) => raw.payload = u32::from(v % 4),
        Field::Kind(v) => raw.kind = u32::from(v % 3),
        Field::Activation(v) => raw.activation = u32::from(v % 3),
        Field::Dimension(v) => raw.n = v % 10,
        Field::Width(..) | Field::Layers(_) => edit_widths(&mut raw.widths, field),
        Field::Float(which, s) => {
            let n = raw.lower.len();
            let slots = 2 * n + 4;
            let k = which as usize % slots.max(1);
            // Mutated bodies can have corners of different lengths: never index blindly.
            let slot = if k < n {
                raw.lower.get_mut(k)
            } else if k < 2 * n {
                raw.upper.get_mut(k - n)
            } else {
                None
            };
            if let Some(v) = slot {
                *v = s.apply(*v);
            } else if k >= 2 * n {
                match k - 2 * n {
                    0 => raw.constants.0 = s.apply(raw.constants.0),
                    1 => raw.constants.1 = s.apply(raw.constants.1),
                    2 => raw.constants.2 = s.apply(raw.constants.2),
                    _ => {
                        if let Some(c) = &mut raw.constraint {
                            c.2 = s.apply(c.2);
                        }
                    }
                }
            }
        }
        Field::Constraint(a, b) => {
            raw.constraint = match (a % 4, &raw.constraint) {
                (0, _) => None,
                (_, Some(c)) => Some((u32::from(a % 3), u32::from(b % 2), c.2)),
                (_, None) => Some((u32::from(a % 3), u32::from(b % 2), 1.0)),
            }
        }
        Field::Scalar(v) => raw.scalar = u32::from(v % 3),
        Field::Parameter(..) | Field::AllParameters(_) => {
            edit_parameters(&mut raw.params, raw.scalar, field)
        }
        Field::Coordinates(_) | Field::Via(_) | Field::Policy(_) => {}
    }
}

fn edit_trajectory(raw: &mut RawTrajectory, field: Field) {
    match field {
        Field::Payload(v) => raw.payload = u32::from(v % 4),
        Field::Kind(v) => raw.kind = u32::from(v % 3),
        Field::Activation(v) => raw.activation = u32::from(v % 3),
        Field::Dimension(v) => raw.n = v % 4,
        Field::Width(..) | Field::Layers(_) => edit_widths(&mut raw.widths, field),
        Field::Float(which, s) => {
            let d = raw.x0.len();
            let slots = 2 + 2 * d + raw.via.len();
            let k = which as usize % slots;
            let slot = match k {
                0 => Some(&mut raw.t0),
                1 => Some(&mut raw.t1),
                _ if k < 2 + d => raw.x0.get_mut(k - 2),
                _ if k < 2 + 2 * d => raw.x1.get_mut(k - 2 - d),
                _ => None,
            };
            if let Some(v) = slot {
                *v = s.apply(*v);
            } else if let Some(v) = raw.via.get_mut(k - 2 - 2 * d) {
                v.0 = s.apply(v.0);
                if let Some(p) = v.1.first_mut() {
                    *p = s.apply(*p);
                }
            }
        }
        Field::Scalar(v) => raw.scalar = u32::from(v % 3),
        Field::Parameter(..) | Field::AllParameters(_) => {
            edit_parameters(&mut raw.params, raw.scalar, field)
        }
        Field::Coordinates(v) => raw.coordinates = v % 8,
        Field::Via(add) => {
            if add {
                let mid = 0.5 * (raw.t0 + raw.t1);
                raw.via.push((mid, raw.x1.clone()));
            } else {
                raw.via.pop();
            }
        }
        Field::Policy(v) => raw.policy = u32::from(v % 3),
        Field::Constraint(..) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field edit that changes nothing gives back the same bytes: the raw mirrors read and
    /// write the wire format exactly.
    #[test]
    fn raw_mirrors_round_trip_the_shipped_formats() {
        let blob = finn_train::trajectory::blob::reference_blob().unwrap();
        let same = edit_field(&blob, Field::Constraint(1, 0)).unwrap();
        assert_eq!(same, blob);
        let mutated = edit_field(&blob, Field::Float(1, Special::Times(1))).unwrap();
        assert!(mutated != blob, "the edit changed nothing");
        assert!(finn_core::format::decode_any(&mutated).is_ok());
    }

    #[test]
    fn specials_cover_the_hostile_values() {
        assert!(Special::NonFinite(0).apply(1.0).is_nan());
        assert_eq!(Special::NegZero.apply(1.0).to_bits(), (-0.0f64).to_bits());
        assert!(Special::F32Max(true).apply(0.0) > f32::MAX as f64);
        assert_eq!(Special::Times(3).apply(1.5), 12.0);
    }
}

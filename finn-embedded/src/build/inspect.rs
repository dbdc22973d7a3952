//! [`inspect`]: what a blob holds and which player it needs, for people (`cargo xtask inspect`).

use core::fmt;
use finn_core::format::{
    crc32, decode_any, Blob, DensityMixtureView, DeviationView, FormatError, ModelView,
    TrajectoryView, CRC_LEN,
};
use finn_core::Bound;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::Capacity;

/// A checked blob described: its payload's fields, its size and CRC, and the player it needs.
/// `Display` prints one `key: value` line per field (what `cargo xtask inspect` shows).
///
/// ```
/// use finn_embedded::build::{inspect, Capacity};
/// # let blob: &[u8] = include_bytes!("../../tests/data/doc.postcard");
/// let info = inspect(blob).unwrap();
/// assert_eq!(info.capacity(), Capacity::Trajectory { d: 2, w: 2, l: 1, v: 1 });
/// let text = info.to_string();
/// assert!(text.contains("kind:        trajectory"));
/// assert!(text.contains("interval:    [0, 2]"));
/// assert!(text.contains("type line:   pub type Player = finn_embedded::TrajectoryPlayer<2, 2, 1, 1>;"));
/// ```
#[derive(Clone, Debug)]
pub struct Inspection<'a> {
    blob: Blob<'a>,
    len: usize,
    crc: u32,
    capacity: Capacity,
}

/// Decodes `bytes` completely and describes them; a blob that does not decode is its
/// [`FormatError`] (`FormatError::WrongPayload` never occurs: any payload is read).
///
/// ```
/// use finn_embedded::build::inspect;
/// use finn_embedded::FormatError;
/// assert_eq!(inspect(b"FINN").unwrap_err(), FormatError::Truncated { len: 4 });
/// ```
pub fn inspect(bytes: &[u8]) -> Result<Inspection<'_>, FormatError> {
    let blob = decode_any(bytes)?;
    // Every payload this crate decodes has a player; a newer one would fail to decode.
    let capacity = Capacity::of(&blob).ok_or(FormatError::Malformed)?;
    // Decoding checked the CRC, so the trailer is the CRC of the bytes before it.
    let crc = crc32(
        bytes
            .get(..bytes.len().saturating_sub(CRC_LEN))
            .unwrap_or(&[]),
    );
    Ok(Inspection {
        blob,
        len: bytes.len(),
        crc,
        capacity,
    })
}

impl<'a> Inspection<'a> {
    /// The decoded blob.
    pub fn blob(&self) -> &Blob<'a> {
        &self.blob
    }

    /// The player's exact capacity.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// The blob's CRC-32 (ISO-HDLC), as its trailer stores it.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The blob's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a blob that decodes has at least magic, version, body and CRC.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The line a firmware declares its player with (what `finn_embedded::build` generates
    /// for it): `pub type Player = finn_embedded::TrajectoryPlayer<3, 16, 2, 1>;`, say.
    pub fn type_line(&self) -> String {
        format!("pub type Player = {};", self.capacity.player_type())
    }
}

/// `[1, -0.25, 2]`: f64s at full (shortest round-trip) precision.
fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
    format!("[{}]", items.join(", "))
}

/// A `Debug` name in lower case: `Positive` -> `positive`.
fn lower(value: impl fmt::Debug) -> String {
    format!("{value:?}").to_lowercase()
}

/// One `key: value` line, keys padded to one column.
fn line(f: &mut fmt::Formatter<'_>, key: &str, value: impl fmt::Display) -> fmt::Result {
    writeln!(f, "{:<12} {value}", format!("{key}:"))
}

fn trajectory(f: &mut fmt::Formatter<'_>, view: &TrajectoryView<'_>) -> fmt::Result {
    line(f, "kind", "trajectory (payload 1)")?;
    line(f, "scalar", lower(view.scalar()))?;
    line(
        f,
        "coordinates",
        format!("{} (D), each a network of time", view.coordinates()),
    )?;
    line(
        f,
        "networks",
        format!(
            "signed, {}, hidden widths {:?} (depth {}), {} parameters each ({} in all)",
            lower(view.activation()),
            view.widths(),
            view.widths().len(),
            view.coordinate_parameter_count(),
            view.parameter_count()
        ),
    )?;
    let (t0, t1) = view.interval();
    line(f, "interval", list(&[t0, t1]))?;
    line(f, "start x0", list(view.start()))?;
    line(f, "end xT", list(view.end()))?;
    line(f, "via-points", view.via_times().len())?;
    for k in 0..view.via_times().len() {
        if let Some((t, x)) = view.via_point(k) {
            line(
                f,
                &format!("  via {k}"),
                format!("t = {t}, x = {}", list(x)),
            )?;
        }
    }
    line(f, "outside", lower(view.policy()))
}

fn model(f: &mut fmt::Formatter<'_>, view: &ModelView<'_>, density: bool) -> fmt::Result {
    line(
        f,
        "kind",
        if density {
            "density (payload 2): a probability density on its support, played by the density application"
        } else {
            "model (payload 0), played by the fit application"
        },
    )?;
    line(f, "scalar", lower(view.scalar()))?;
    line(
        f,
        "network",
        format!(
            "{}, {}, {} inputs, hidden widths {:?} (depth {}), {} parameters",
            lower(view.kind()),
            lower(view.activation()),
            view.n(),
            view.widths(),
            view.widths().len(),
            view.parameter_count()
        ),
    )?;
    line(
        f,
        if density { "support" } else { "domain" },
        format!(
            "{} to {}",
            list(view.domain_lower()),
            list(view.domain_upper())
        ),
    )?;
    let c = view.constants();
    let constraint = match view.constraint() {
        None => String::from("none"),
        Some(constraint) => format!(
            "integral over the domain {} {}, by {} (constants: scale {}, gap {}, gap_low {})",
            match constraint.bound {
                Bound::Equal => "=",
                Bound::AtMost => "<=",
                Bound::AtLeast => ">=",
            },
            constraint.eps,
            lower(constraint.method),
            c.scale,
            c.gap,
            c.gap_low
        ),
    };
    line(f, "constraint", constraint)
}

fn deviation(f: &mut fmt::Formatter<'_>, view: &DeviationView<'_>) -> fmt::Result {
    line(
        f,
        "kind",
        "deviation (payload 3): phi = psi + f d, a base corrected by at most eps in total, \
         played by the deviation application",
    )?;
    let m = view.magnitude();
    line(f, "scalar", lower(m.scalar()))?;
    line(
        f,
        "outputs",
        format!("{} (M), from {} inputs (N)", view.outputs(), view.n()),
    )?;
    let coefficients: Vec<f64> = view.coefficients().collect();
    line(
        f,
        "base",
        format!(
            "polynomial of degree {}, {} monomials per output, coefficients {}",
            view.degree(),
            view.terms(),
            list(&coefficients)
        ),
    )?;
    line(
        f,
        "domain",
        format!("{} to {}", list(m.domain_lower()), list(m.domain_upper())),
    )?;
    line(
        f,
        "magnitude",
        format!(
            "{}, {}, hidden widths {:?} (depth {}), {} parameters, scale {}",
            lower(m.kind()),
            lower(m.activation()),
            m.widths(),
            m.widths().len(),
            m.parameter_count(),
            m.constants().scale
        ),
    )?;
    line(
        f,
        "eps",
        format!(
            "{} (integral of |phi - psi| over the domain <= eps)",
            view.eps()
        ),
    )?;
    line(
        f,
        "direction",
        format!(
            "{} signed {} networks, hidden widths {:?} (depth {}), {} parameters each, \
             softness {}",
            view.outputs(),
            lower(view.direction_activation()),
            view.direction_widths(),
            view.direction_widths().len(),
            view.direction_parameter_count(),
            view.softness()
        ),
    )
}

fn mixture(f: &mut fmt::Formatter<'_>, view: &DensityMixtureView<'_>) -> fmt::Result {
    line(
        f,
        "kind",
        "density mixture (payload 4): weighted, reflected density networks on one u-box, \
         played by the density application",
    )?;
    line(f, "inputs", format!("{} (N)", view.n()))?;
    if view.is_real_space() {
        let c: Vec<f64> = view.centre().collect();
        let s: Vec<f64> = view.scale().collect();
        line(
            f,
            "support",
            format!("all of R^n, centre {c:?}, scale {s:?}"),
        )?;
    } else if let Some((_, _, m)) = view.component(0) {
        line(
            f,
            "support",
            format!("{:?} to {:?}", m.domain_lower(), m.domain_upper()),
        )?;
    }
    line(f, "components", format!("{} (K)", view.len()))?;
    for k in 0..view.len() {
        if let Some((w, mask, m)) = view.component(k) {
            line(
                f,
                &format!("  {k}"),
                format!(
                    "weight {w}, reflected axes mask {mask:#04b}, widths {:?}, {}",
                    m.widths(),
                    lower(m.scalar())
                ),
            )?;
        }
    }
    Ok(())
}

impl fmt::Display for Inspection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.blob {
            Blob::Trajectory(view) => trajectory(f, view)?,
            Blob::Model(view) => model(f, view, false)?,
            Blob::Density(view) => model(f, view, true)?,
            Blob::Deviation(view) => deviation(f, view)?,
            Blob::DensityMixture(view) => mixture(f, view)?,
            _ => line(f, "kind", "unknown payload")?,
        }
        line(
            f,
            "size",
            format!("{} bytes, CRC-32 {:#010x} (checked)", self.len, self.crc),
        )?;
        let capacity = match self.capacity {
            Capacity::Trajectory { d, w, l, v } => format!("D = {d}, W = {w}, L = {l}, V = {v}"),
            Capacity::Fit { n, w, l } | Capacity::Density { n, w, l } => {
                format!("N = {n}, W = {w}, L = {l}")
            }
            Capacity::DensityMixture { n, w, l, k } => {
                format!("N = {n}, W = {w}, L = {l}, K = {k}")
            }
            Capacity::Deviation { n, m, w, l, k } => {
                format!("N = {n}, M = {m}, W = {w}, L = {l}, K = {k}")
            }
            Capacity::SoftQ { s, h, p, m, w, l } => {
                format!("S = {s}, H = {h}, P = {p}, M = {m}, W = {w}, L = {l}")
            }
        };
        line(f, "capacity", capacity)?;
        line(f, "player", self.capacity.player_type())?;
        line(
            f,
            "player RAM",
            format!(
                "{} bytes on a 32-bit target (size_of the player)",
                self.capacity.player_bytes()
            ),
        )?;
        line(f, "type line", self.type_line())
    }
}

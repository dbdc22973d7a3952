//! The model blob (issue 3, item 4): round trips, the documented byte layout, one crafted blob
//! per error, and property tests that random and damaged blobs never panic the loader.

use finn_core::format::{
    crc32, decode, decode_density, encode, encoded_len, validate, Field, FormatError, ModelHeader,
    ModelView, Payload, Scalar, MAGIC, MAX_LAYERS, MIN_LEN, VERSION,
};
use finn_core::jet::{Dim, JetDim};
use finn_core::{
    parameter_count, Activation, Antiderivative, Bound, ConstantsProblem, Constraint, Depth,
    Domain, Error, Finn, HiddenBlocks, Kind, Method, Network, Real, Resolved,
};
use proptest::prelude::*;
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Models to encode.

const WIDTHS: [usize; 2] = [3, 2];
const LOWER: [f64; 2] = [0.0, -1.0];
const UPPER: [f64; 2] = [1.0, 2.0];

fn params_for(n: usize, widths: &[usize]) -> Vec<f64> {
    (0..parameter_count(n, widths))
        .map(|i| (i as f64 * 0.77 + 0.3).sin() * 1.3)
        .collect()
}

/// A positive network on [0,1] x [-1,2], two hidden layers, integral fixed to 1.5 by scaling,
/// with the constants resolved in f64 from the model itself.
fn positive() -> (ModelHeader<'static>, Vec<f64>) {
    let params = params_for(2, &WIDTHS);
    let constraint = Constraint::new(Bound::Equal, Method::Scale, 1.5);
    let net = Network::<f64, 2, 4, 2>::positive(&WIDTHS, &params).unwrap();
    let model = Finn::new(net, Domain::new(LOWER, UPPER).unwrap(), Some(constraint)).unwrap();
    let header = ModelHeader {
        payload: Payload::Model,
        kind: Kind::Positive,
        activation: Activation::Sigma,
        n: 2,
        widths: &WIDTHS,
        domain_lower: &LOWER,
        domain_upper: &UPPER,
        constraint: Some(constraint),
        constants: model.constants(),
    };
    (header, params)
}

/// A signed tanh network on [-2, 3], one layer, integral fixed to -0.25 by a shift.
fn signed() -> (ModelHeader<'static>, Vec<f64>) {
    let params = params_for(1, &[4]);
    let constraint = Constraint::new(Bound::Equal, Method::Shift, -0.25);
    let net = Network::<f64, 1, 4, 1>::signed(Activation::Tanh, &[4], &params).unwrap();
    let model = Finn::new(net, Domain::new([-2.0], [3.0]).unwrap(), Some(constraint)).unwrap();
    let header = ModelHeader {
        payload: Payload::Model,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        n: 1,
        widths: &[4],
        domain_lower: &[-2.0],
        domain_upper: &[3.0],
        constraint: Some(constraint),
        constants: model.constants(),
    };
    (header, params)
}

fn blob(header: &ModelHeader<'_>, params: &[f64], scalar: Scalar) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len(header, scalar).unwrap()];
    let len = encode(header, params, scalar, &mut out).unwrap();
    assert_eq!(len, out.len());
    out
}

/// The model built directly from the header and parameters, in `T`.
fn direct<T: Real, const N: usize, const W: usize, const L: usize>(
    header: &ModelHeader<'_>,
    params: &[f64],
) -> Finn<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    let p: Vec<T> = params.iter().map(|&v| T::from_f64(v)).collect();
    let net =
        Network::<T, N, W, L>::new(header.kind, header.activation, header.widths, &p).unwrap();
    let corner = |c: &[f64]| -> [T; N] { core::array::from_fn(|i| T::from_f64(c[i])) };
    let domain = Domain::new(corner(header.domain_lower), corner(header.domain_upper)).unwrap();
    let constraint = header
        .constraint
        .map(|c| Constraint::new(c.bound, c.method, T::from_f64(c.eps)));
    let k = header.constants;
    let constants = Resolved {
        scale: T::from_f64(k.scale),
        gap: T::from_f64(k.gap),
        gap_low: T::from_f64(k.gap_low),
    };
    // Parameters rounded to f32 meet eps to f32's precision, as the loader checks them.
    let rounded = params.iter().all(|&v| v as f32 as f64 == v);
    let unit = T::from_f64(if rounded { f32::EPSILON as f64 } else { 0.0 });
    Finn::with_constants_to(net, domain, constraint, constants, unit).unwrap()
}

/// Integrand, antiderivative and integrals agree bit for bit at a grid of points.
fn assert_same<T: Real, const N: usize, const W: usize, const L: usize>(
    a: &Finn<T, N, W, L>,
    b: &Finn<T, N, W, L>,
) where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    let lo = a.domain().lower();
    let hi = a.domain().upper();
    for k in 0..7 {
        let t = T::from_f64(k as f64 / 6.0);
        let x: [T; N] = core::array::from_fn(|i| lo[i] + (hi[i] - lo[i]) * t);
        assert_eq!(a.integrand(&x).unwrap(), b.integrand(&x).unwrap());
        assert_eq!(a.antiderivative(&x).unwrap(), b.antiderivative(&x).unwrap());
    }
    assert_eq!(a.integral().unwrap(), b.integral().unwrap());
    assert_eq!(a.constants(), b.constants());
    assert_eq!(a.constraint(), b.constraint());
    assert_eq!(a.network().widths(), b.network().widths());
}

// ---------------------------------------------------------------------------------------------
// Round trips.

#[test]
fn f64_blob_round_trips_exactly() {
    for (header, params) in [positive(), signed()] {
        let bytes = blob(&header, &params, Scalar::F64);
        let view = decode(&bytes).unwrap();
        assert_eq!(view.header(), header);
        assert_eq!(view.scalar(), Scalar::F64);
        assert_eq!(view.payload(), Payload::Model);
        assert_eq!(view.parameter_count(), params.len());
        assert_eq!(view.parameters().len(), params.len());
        assert_eq!(view.parameters().collect::<Vec<_>>(), params);
        assert_eq!(view.parameter(params.len()), None);
        assert_eq!(view.parameter_bytes().len(), 8 * params.len());
        // The parameter bytes are borrowed from the blob (zero copy).
        let range = bytes.as_ptr_range();
        assert!(range.contains(&view.parameter_bytes().as_ptr()));
    }
}

#[test]
fn f64_blob_loads_into_the_model_built_directly() {
    let (header, params) = positive();
    let bytes = blob(&header, &params, Scalar::F64);
    let view = decode(&bytes).unwrap();
    let loaded = view.to_finn::<f64, 2, 4, 2>().unwrap();
    assert_same(&loaded, &direct::<f64, 2, 4, 2>(&header, &params));
    assert!((loaded.integral().unwrap() - 1.5).abs() < 1e-12);
    // A larger capacity loads the same model.
    let wide = view.to_finn::<f64, 2, 16, 5>().unwrap();
    assert_same(&wide, &direct::<f64, 2, 16, 5>(&header, &params));

    let (header, params) = signed();
    let bytes = blob(&header, &params, Scalar::F64);
    let view = decode(&bytes).unwrap();
    let loaded = view.to_finn::<f64, 1, 4, 1>().unwrap();
    assert_same(&loaded, &direct::<f64, 1, 4, 1>(&header, &params));
    assert!((loaded.integral().unwrap() + 0.25).abs() < 1e-12);
}

#[test]
fn f64_blob_loads_into_an_f32_model() {
    for (header, params) in [positive(), signed()] {
        let bytes = blob(&header, &params, Scalar::F64);
        let view = decode(&bytes).unwrap();
        if header.n == 2 {
            let loaded = view.to_finn::<f32, 2, 4, 2>().unwrap();
            assert_same(&loaded, &direct::<f32, 2, 4, 2>(&header, &params));
            assert!((loaded.integral().unwrap() - 1.5).abs() < 1e-5);
        } else {
            let loaded = view.to_finn::<f32, 1, 4, 1>().unwrap();
            assert_same(&loaded, &direct::<f32, 1, 4, 1>(&header, &params));
            assert!((loaded.integral().unwrap() + 0.25).abs() < 1e-5);
        }
    }
}

#[test]
fn f32_blob_round_trips_the_rounded_parameters() {
    for (header, params) in [positive(), signed()] {
        let bytes = blob(&header, &params, Scalar::F32);
        let f64_len = blob(&header, &params, Scalar::F64).len();
        // 4 bytes less per parameter, and the byte-length varint may be one byte shorter.
        let saved = f64_len - bytes.len();
        assert!(saved == 4 * params.len() || saved == 4 * params.len() + 1);
        let view = decode(&bytes).unwrap();
        assert_eq!(view.scalar(), Scalar::F32);
        assert_eq!(view.header(), header, "domain, eps and constants stay f64");
        let rounded: Vec<f64> = params.iter().map(|&v| v as f32 as f64).collect();
        assert_eq!(view.parameters().collect::<Vec<_>>(), rounded);
        if header.n == 2 {
            let f32_model = view.to_finn::<f32, 2, 4, 2>().unwrap();
            assert_same(&f32_model, &direct::<f32, 2, 4, 2>(&header, &params));
            // ... and into an f64 model: the f32 values widened exactly.
            let f64_model = view.to_finn::<f64, 2, 8, 3>().unwrap();
            assert_same(&f64_model, &direct::<f64, 2, 8, 3>(&header, &rounded));
        } else {
            let f32_model = view.to_finn::<f32, 1, 4, 1>().unwrap();
            assert_same(&f32_model, &direct::<f32, 1, 4, 1>(&header, &params));
            let f64_model = view.to_finn::<f64, 1, 4, 1>().unwrap();
            assert_same(&f64_model, &direct::<f64, 1, 4, 1>(&header, &rounded));
        }
    }
}

#[test]
fn unconstrained_model_round_trips() {
    let (mut header, params) = signed();
    header.constraint = None;
    header.constants = Resolved::scaled(1.0);
    let bytes = blob(&header, &params, Scalar::F64);
    let view = decode(&bytes).unwrap();
    assert_eq!(view.constraint(), None);
    let loaded = view.to_finn::<f64, 1, 4, 1>().unwrap();
    assert_same(&loaded, &direct::<f64, 1, 4, 1>(&header, &params));
}

#[test]
fn encoded_len_is_exact_and_small_buffers_are_refused() {
    let (header, params) = positive();
    for scalar in [Scalar::F32, Scalar::F64] {
        let needed = encoded_len(&header, scalar).unwrap();
        let mut big = vec![0xAAu8; needed + 17];
        assert_eq!(encode(&header, &params, scalar, &mut big), Ok(needed));
        assert!(
            big[needed..].iter().all(|&b| b == 0xAA),
            "nothing written past the end"
        );
        for short in 0..needed {
            let mut out = vec![0u8; short];
            assert_eq!(
                encode(&header, &params, scalar, &mut out),
                Err(FormatError::BufferTooSmall {
                    needed,
                    capacity: short
                })
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The documented byte layout, written independently of the crate with postcard and serde.

/// The body as `docs/model-format.md` documents it, with enum indices as plain integers
/// (postcard writes both as varints) and free lengths, to craft any blob.
#[derive(Clone, Debug, Serialize)]
struct RawBody {
    payload: u32,
    kind: u32,
    activation: u32,
    n: u8,
    widths: Vec<u16>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    /// (bound, method, eps)
    constraint: Option<(u32, u32, f64)>,
    /// (scale, gap, gap_low)
    constants: (f64, f64, f64),
    scalar: u32,
    /// Postcard writes a `Vec<u8>` as its length varint and the bytes, as a byte string.
    params: Vec<u8>,
}

impl RawBody {
    fn of(header: &ModelHeader<'_>, params: &[f64], scalar: Scalar) -> Self {
        let enum_index = |k: Kind| if k == Kind::Positive { 0 } else { 1 };
        RawBody {
            payload: 0,
            kind: enum_index(header.kind),
            activation: if header.activation == Activation::Sigma {
                0
            } else {
                1
            },
            n: header.n as u8,
            widths: header.widths.iter().map(|&w| w as u16).collect(),
            lower: header.domain_lower.to_vec(),
            upper: header.domain_upper.to_vec(),
            constraint: header.constraint.map(|c| {
                let bound = match c.bound {
                    Bound::Equal => 0,
                    Bound::AtMost => 1,
                    Bound::AtLeast => 2,
                };
                let method = if c.method == Method::Scale { 0 } else { 1 };
                (bound, method, c.eps)
            }),
            constants: (
                header.constants.scale,
                header.constants.gap,
                header.constants.gap_low,
            ),
            scalar: if scalar == Scalar::F32 { 0 } else { 1 },
            params: params
                .iter()
                .flat_map(|&v| match scalar {
                    Scalar::F32 => (v as f32).to_le_bytes().to_vec(),
                    Scalar::F64 => v.to_le_bytes().to_vec(),
                })
                .collect(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        postcard::to_extend(self, Vec::new()).unwrap()
    }

    fn blob(&self) -> Vec<u8> {
        frame(&self.bytes())
    }
}

/// Magic, version, the body, and the CRC of all of it.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(body);
    with_crc(out)
}

/// Appends the CRC of `bytes`.
fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let crc = crc32(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Replaces the last four bytes by the CRC of the rest.
fn fix_crc(bytes: &[u8]) -> Vec<u8> {
    with_crc(bytes[..bytes.len() - 4].to_vec())
}

#[test]
fn blob_matches_the_documented_layout() {
    for (header, params) in [positive(), signed()] {
        for scalar in [Scalar::F32, Scalar::F64] {
            let raw = RawBody::of(&header, &params, scalar);
            assert_eq!(blob(&header, &params, scalar), raw.blob());
        }
    }
}

#[test]
fn golden_bytes_of_the_smallest_model() {
    // The worked example of docs/model-format.md.
    let header = ModelHeader {
        payload: Payload::Model,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        n: 1,
        widths: &[1],
        domain_lower: &[0.0],
        domain_upper: &[1.0],
        constraint: None,
        constants: Resolved::scaled(1.0),
    };
    let bytes = blob(&header, &[2.0, 0.5, -1.0], Scalar::F32);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let expected = concat!(
        "46494e4e", // magic "FINN"
        "0100",     // version 1
        "00",       // payload Model
        "01",       // kind Signed
        "01",       // activation Tanh
        "01",       // n = 1
        "0101",     // widths: 1 entry, 1
        "01",
        "0000000000000000", // lower: 1 entry, 0.0
        "01",
        "000000000000f03f", // upper: 1 entry, 1.0
        "00",               // no constraint
        "000000000000f03f", // scale 1.0
        "0000000000000000", // gap 0.0
        "0000000000000000", // gap_low 0.0
        "00",               // scalar F32
        "0c",               // 12 parameter bytes
        "00000040",         // 2.0f32
        "0000003f",         // 0.5f32
        "000080bf",         // -1.0f32
    );
    assert_eq!(&hex[..hex.len() - 8], expected);
    let crc = crc32(&bytes[..bytes.len() - 4]);
    assert_eq!(&hex[hex.len() - 8..], hex_of(&crc.to_le_bytes()));
    assert_eq!(&hex[hex.len() - 8..], "48bb8ac8"); // CRC 0xC88ABB48, little-endian
    assert_eq!(bytes.len(), 73);
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Every error, from a crafted blob.

fn valid_raw() -> RawBody {
    let (header, params) = positive();
    RawBody::of(&header, &params, Scalar::F64)
}

fn decode_raw(raw: &RawBody) -> Result<(), FormatError> {
    decode(&raw.blob()).map(|_| ())
}

#[test]
fn truncated_below_the_framing() {
    let bytes = valid_raw().blob();
    for len in 0..MIN_LEN {
        assert_eq!(
            decode(&bytes[..len]).unwrap_err(),
            FormatError::Truncated { len }
        );
    }
    // Cut anywhere later, the CRC no longer matches.
    for len in MIN_LEN..bytes.len() {
        assert!(matches!(
            decode(&bytes[..len]).unwrap_err(),
            FormatError::CrcMismatch { .. }
        ));
    }
}

#[test]
fn bad_magic() {
    let mut bytes = valid_raw().blob();
    bytes[0] = b'f';
    assert_eq!(decode(&bytes).unwrap_err(), FormatError::BadMagic);
    // Checked before the version and the CRC.
    let mut bytes = valid_raw().blob();
    bytes[3] = 0;
    bytes[4] = 9;
    assert_eq!(decode(&bytes).unwrap_err(), FormatError::BadMagic);
}

#[test]
fn unsupported_version() {
    for found in [0u16, 2, 0x0100, u16::MAX] {
        let mut bytes = valid_raw().blob();
        bytes[4..6].copy_from_slice(&found.to_le_bytes());
        assert_eq!(
            decode(&bytes).unwrap_err(),
            FormatError::UnsupportedVersion { found }
        );
        // Still reported when the CRC is made to match.
        assert_eq!(
            decode(&fix_crc(&bytes)).unwrap_err(),
            FormatError::UnsupportedVersion { found }
        );
    }
}

#[test]
fn crc_mismatch() {
    let bytes = valid_raw().blob();
    let computed = crc32(&bytes[..bytes.len() - 4]);
    for i in [6, 20, bytes.len() - 5, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        let err = decode(&bad).unwrap_err();
        assert!(matches!(err, FormatError::CrcMismatch { .. }), "{err:?}");
        if i >= bytes.len() - 4 {
            let stored = u32::from_le_bytes(bad[bad.len() - 4..].try_into().unwrap());
            assert_eq!(err, FormatError::CrcMismatch { stored, computed });
        }
    }
}

#[test]
fn malformed_body() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],                 // empty body
        vec![0, 0, 0],          // cut short
        vec![1, 0, 0, 1, 1, 1], // unknown payload
        vec![0, 2, 0, 1, 1, 1], // unknown kind
        vec![0, 0, 5, 1, 1, 1], // unknown activation
        vec![
            0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ], // bad varint
    ];
    for body in cases {
        assert_eq!(decode(&frame(&body)).unwrap_err(), FormatError::Malformed);
    }
    let mut raw = valid_raw();
    raw.scalar = 2;
    assert_eq!(decode_raw(&raw).unwrap_err(), FormatError::Malformed);
    let mut raw = valid_raw();
    raw.constraint = Some((3, 0, 1.0));
    assert_eq!(decode_raw(&raw).unwrap_err(), FormatError::Malformed);
    // A parameter byte string longer than what is left.
    let mut body = valid_raw().bytes();
    body.truncate(body.len() - 1);
    assert_eq!(decode(&frame(&body)).unwrap_err(), FormatError::Malformed);
    // A width that does not fit u16.
    let mut body = valid_raw().bytes();
    let at = 5; // payload, kind, activation, n, widths length: first width
    body.splice(at..at + 1, [0x80, 0x80, 0x04]);
    assert_eq!(decode(&frame(&body)).unwrap_err(), FormatError::Malformed);
}

#[test]
fn trailing_bytes() {
    let mut body = valid_raw().bytes();
    body.extend_from_slice(&[0, 1, 2]);
    assert_eq!(
        decode(&frame(&body)).unwrap_err(),
        FormatError::TrailingBytes { count: 3 }
    );
}

#[test]
fn bad_dimension() {
    for n in [0u8, 9, 255] {
        let mut raw = valid_raw();
        raw.n = n;
        assert_eq!(
            decode_raw(&raw).unwrap_err(),
            FormatError::BadDimension { n: n as usize }
        );
    }
}

#[test]
fn bad_layers() {
    let mut raw = valid_raw();
    raw.widths = vec![];
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::BadLayers { layers: 0 }
    );
    let mut raw = valid_raw();
    raw.widths = vec![1; MAX_LAYERS + 1];
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::BadLayers {
            layers: MAX_LAYERS + 1
        }
    );
}

#[test]
fn bad_width() {
    let mut raw = valid_raw();
    raw.widths = vec![3, 0];
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::BadWidth { layer: 1, width: 0 }
    );
}

#[test]
fn shape_mismatch() {
    let mut raw = valid_raw();
    raw.lower = vec![0.0];
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::DomainLower,
            expected: 2,
            found: 1
        }
    );
    let mut raw = valid_raw();
    raw.upper = vec![1.0; 9];
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::DomainUpper,
            expected: 2,
            found: 9
        }
    );
    let count = parameter_count(2, &WIDTHS);
    let mut raw = valid_raw();
    raw.params.truncate(raw.params.len() - 8);
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::ParameterBytes,
            expected: 8 * count,
            found: 8 * count - 8
        }
    );
    // f32 bytes under an f64 tag.
    let (header, params) = positive();
    let mut raw = RawBody::of(&header, &params, Scalar::F32);
    raw.scalar = 1;
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::ParameterBytes,
            expected: 8 * count,
            found: 4 * count
        }
    );
    // A shape change without new parameters.
    let mut raw = valid_raw();
    raw.widths = vec![3, 3];
    assert!(matches!(
        decode_raw(&raw).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::ParameterBytes,
            ..
        }
    ));
}

#[test]
fn core_errors_of_the_shape_and_domain() {
    let mut raw = valid_raw();
    raw.activation = 1; // a positive network needs sigma_n
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::Core(Error::InvalidShape)
    );
    let mut raw = valid_raw();
    raw.upper = vec![1.0, -1.0];
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::Core(Error::EmptyInterval { axis: 1 })
    );
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut raw = valid_raw();
        raw.lower = vec![bad, -1.0];
        assert_eq!(
            decode_raw(&raw).unwrap_err(),
            FormatError::Core(Error::NonFiniteInput)
        );
    }
}

#[test]
fn non_finite_values() {
    for bad in [f64::NAN, f64::INFINITY, -f64::INFINITY] {
        let mut raw = valid_raw();
        raw.constraint = Some((0, 0, bad));
        assert_eq!(
            decode_raw(&raw).unwrap_err(),
            FormatError::NonFinite {
                field: Field::Epsilon
            }
        );
        for k in 0..3 {
            let mut raw = valid_raw();
            match k {
                0 => raw.constants.0 = bad,
                1 => raw.constants.1 = bad,
                _ => raw.constants.2 = bad,
            }
            assert_eq!(
                decode_raw(&raw).unwrap_err(),
                FormatError::NonFinite {
                    field: Field::Constants
                }
            );
        }
        let mut raw = valid_raw();
        let last = raw.params.len() - 8;
        raw.params[last..].copy_from_slice(&bad.to_le_bytes());
        assert_eq!(
            decode_raw(&raw).unwrap_err(),
            FormatError::NonFinite {
                field: Field::Parameters
            }
        );
        let (header, params) = signed();
        let mut raw = RawBody::of(&header, &params, Scalar::F32);
        raw.params[..4].copy_from_slice(&(bad as f32).to_le_bytes());
        assert_eq!(
            decode_raw(&raw).unwrap_err(),
            FormatError::NonFinite {
                field: Field::Parameters
            }
        );
    }
}

#[test]
fn core_errors_of_the_constraint() {
    // Scale on a signed network.
    let (header, params) = signed();
    let mut raw = RawBody::of(&header, &params, Scalar::F64);
    raw.constraint = Some((0, 0, 1.0));
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::Core(Error::ScaleNeedsPositiveNetwork)
    );
    // A signed network with a scale other than 1 (its shift constraint does not scale).
    let mut raw = RawBody::of(&header, &params, Scalar::F64);
    raw.constants.0 = 2.0;
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::Core(Error::InconsistentConstants(ConstantsProblem::ScaleInShift))
    );
    // Scale with eps <= 0.
    let mut raw = valid_raw();
    raw.constraint = Some((0, 0, 0.0));
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        FormatError::Core(Error::NonPositiveEpsilon)
    );
    // scale <= 0.
    for scale in [0.0, -1.0] {
        let mut raw = valid_raw();
        raw.constants.0 = scale;
        assert_eq!(
            decode_raw(&raw).unwrap_err(),
            FormatError::Core(Error::InconsistentConstants(
                ConstantsProblem::NonPositiveScale
            ))
        );
    }
}

/// Regressions of the hostile campaign (issue 8, items 1 and 2): constants that the declared
/// constraint cannot produce, or that do not give its eps, do not load.
#[test]
fn constants_must_match_the_declared_constraint() {
    let inconsistent = |p| FormatError::Core(Error::InconsistentConstants(p));
    // A positive model with no constraint and constants (1, -10, 0) loaded and gave f < 0.
    let mut raw = valid_raw();
    raw.constraint = None;
    raw.constants = (1.0, -10.0, 0.0);
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        inconsistent(ConstantsProblem::NotIdentity)
    );
    // A scale constraint with a shift.
    let mut raw = valid_raw();
    raw.constants.1 = 0.5;
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        inconsistent(ConstantsProblem::ShiftInScale)
    );
    // A positive network with a shift that could be negative (Equal, AtMost).
    for bound in [0, 1] {
        let mut raw = valid_raw();
        raw.constraint = Some((bound, 1, 1.0));
        raw.constants = (1.0, -0.5, 0.0);
        assert_eq!(
            decode_raw(&raw).unwrap_err(),
            FormatError::Core(Error::ShiftBreaksPositivity)
        );
    }
    // gap_low carrying a shift of its own.
    let (header, params) = signed();
    let mut raw = RawBody::of(&header, &params, Scalar::F64);
    raw.constants.2 = 1e-3;
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        inconsistent(ConstantsProblem::GapNotNormalised)
    );
    // The wrong direction for a bound: AtMost with a scale above 1.
    let mut raw = valid_raw();
    raw.constraint = Some((1, 0, 1.5));
    raw.constants.0 = 1.5;
    assert_eq!(
        decode_raw(&raw).unwrap_err(),
        inconsistent(ConstantsProblem::WrongDirection)
    );
    // Doubling the scale of a valid model: decodes (the shape is right), but does not load,
    // in either precision, because its integral is 2 eps.
    let (header, params) = positive();
    let mut raw = RawBody::of(&header, &params, Scalar::F64);
    raw.constants.0 *= 2.0;
    let bytes = raw.blob();
    let view = decode(&bytes).unwrap();
    let mismatch = inconsistent(ConstantsProblem::IntegralMismatch);
    assert_eq!(view.to_finn::<f64, 2, 4, 2>().unwrap_err(), mismatch);
    assert_eq!(view.to_finn::<f32, 2, 4, 2>().unwrap_err(), mismatch);
    // The unchanged model loads, in f32 too.
    let good = blob(&header, &params, Scalar::F32);
    assert!(decode(&good).unwrap().to_finn::<f32, 2, 4, 2>().is_ok());
}

/// A positive network under a shift constraint: refused by `resolve` unless the bound is
/// AtLeast, whose shift is never negative, so f >= 0 everywhere.
#[test]
fn positive_networks_keep_f_non_negative_under_every_accepted_constraint() {
    let (header, params) = positive();
    let net = Network::<f64, 2, 4, 2>::positive(&WIDTHS, &params).unwrap();
    let domain = Domain::new(LOWER, UPPER).unwrap();
    let base = net.integral_over(&LOWER, &UPPER).unwrap();
    for bound in [Bound::Equal, Bound::AtMost] {
        let c = Constraint::new(bound, Method::Shift, 0.5 * base);
        assert_eq!(
            Finn::new(net.clone(), domain, Some(c)).unwrap_err(),
            Error::ShiftBreaksPositivity
        );
    }
    for eps in [0.5 * base, 2.0 * base] {
        let c = Constraint::new(Bound::AtLeast, Method::Shift, eps);
        let model = Finn::new(net.clone(), domain, Some(c)).unwrap();
        assert!(model.shift() >= 0.0);
        for i in 0..40 {
            let x = [-4.0 + 0.2 * i as f64, 3.0 - 0.15 * i as f64];
            assert!(model.integrand(&x).unwrap() >= 0.0);
        }
    }
    assert_eq!(header.kind, Kind::Positive);
}

#[test]
fn capacity_mismatch() {
    let (header, params) = positive();
    let bytes = blob(&header, &params, Scalar::F64);
    let view = decode(&bytes).unwrap();
    assert_eq!(
        view.to_finn::<f64, 3, 4, 2>().unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Dimension,
            capacity: 3,
            found: 2
        }
    );
    assert_eq!(
        view.to_finn::<f32, 2, 4, 1>().unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Layers,
            capacity: 1,
            found: 2
        }
    );
    assert_eq!(
        view.to_finn::<f64, 2, 2, 2>().unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Width,
            capacity: 2,
            found: 3
        }
    );
    // A model far larger than any stack buffer loads: parameters stream into the network.
    let widths = [64, 64];
    let big = params_for(1, &widths);
    assert!(big.len() > 4096);
    let header = ModelHeader {
        payload: Payload::Model,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        n: 1,
        widths: &widths,
        domain_lower: &[0.0],
        domain_upper: &[1.0],
        constraint: None,
        constants: Resolved::scaled(1.0),
    };
    let bytes = blob(&header, &big, Scalar::F32);
    let view = decode(&bytes).unwrap();
    let model = view.to_finn::<f32, 1, 64, 2>().unwrap();
    assert!(model.integrand(&[0.5]).unwrap().is_finite());
}

#[test]
fn values_that_do_not_fit_the_target_type() {
    // A finite f64 parameter beyond f32::MAX (no constraint: its constants stay valid).
    let (header, mut params) = signed();
    let header = ModelHeader {
        constraint: None,
        constants: Resolved::scaled(1.0),
        ..header
    };
    params[0] = 1e300;
    let view_bytes = blob(&header, &params, Scalar::F64);
    let view = decode(&view_bytes).unwrap();
    assert!(view.to_finn::<f64, 1, 4, 1>().is_ok());
    assert_eq!(
        view.to_finn::<f32, 1, 4, 1>().unwrap_err(),
        FormatError::Core(Error::NonFiniteParameter)
    );
    // ... and it cannot be written as f32 at all.
    let mut out = vec![0u8; 512];
    assert_eq!(
        encode(&header, &params, Scalar::F32, &mut out).unwrap_err(),
        FormatError::NonFinite {
            field: Field::Parameters
        }
    );
    // Domain corners that round to the same f32.
    let (mut header, params) = signed();
    header.constraint = None;
    header.constants = Resolved::scaled(1.0);
    header.domain_lower = &[1.0];
    header.domain_upper = &[1.0 + 1e-12];
    let bytes = blob(&header, &params, Scalar::F64);
    let view = decode(&bytes).unwrap();
    assert!(view.to_finn::<f64, 1, 4, 1>().is_ok());
    assert_eq!(
        view.to_finn::<f32, 1, 4, 1>().unwrap_err(),
        FormatError::Core(Error::EmptyInterval { axis: 0 })
    );
}

#[test]
fn encode_refuses_what_decode_would() {
    let (header, params) = positive();
    let mut out = vec![0u8; 1024];
    let mut enc = |h: &ModelHeader<'_>, p: &[f64]| encode(h, p, Scalar::F64, &mut out);
    assert_eq!(
        enc(&header, &params[1..]).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: params.len(),
            found: params.len() - 1
        }
    );
    let h = ModelHeader { n: 0, ..header };
    assert_eq!(
        enc(&h, &params).unwrap_err(),
        FormatError::BadDimension { n: 0 }
    );
    let h = ModelHeader { n: 9, ..header };
    assert_eq!(
        enc(&h, &params).unwrap_err(),
        FormatError::BadDimension { n: 9 }
    );
    let h = ModelHeader {
        widths: &[1; 9],
        ..header
    };
    assert_eq!(
        enc(&h, &params).unwrap_err(),
        FormatError::BadLayers { layers: 9 }
    );
    let h = ModelHeader {
        widths: &[2, 70_000],
        ..header
    };
    assert_eq!(
        enc(&h, &params).unwrap_err(),
        FormatError::BadWidth {
            layer: 1,
            width: 70_000
        }
    );
    let h = ModelHeader {
        domain_upper: &[1.0],
        ..header
    };
    assert_eq!(
        enc(&h, &params).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::DomainUpper,
            expected: 2,
            found: 1
        }
    );
    let h = ModelHeader {
        activation: Activation::Tanh,
        ..header
    };
    assert_eq!(
        enc(&h, &params).unwrap_err(),
        FormatError::Core(Error::InvalidShape)
    );
    let mut bad = params.clone();
    bad[3] = f64::NAN;
    assert_eq!(
        enc(&header, &bad).unwrap_err(),
        FormatError::NonFinite {
            field: Field::Parameters
        }
    );
    let h = ModelHeader {
        constants: Resolved::scaled(-1.0),
        ..header
    };
    assert_eq!(
        enc(&h, &params).unwrap_err(),
        FormatError::Core(Error::InconsistentConstants(
            ConstantsProblem::NonPositiveScale
        ))
    );
    assert_eq!(validate(&header, &params), Ok(params.len()));
}

#[test]
#[cfg(target_pointer_width = "64")]
fn widths_at_the_u16_limit_do_not_overflow() {
    // 8 layers of 65535 units: ~3.4e10 parameters. The count is checked arithmetic, the blob
    // length is computed without touching the parameters, and a blob claiming the shape
    // without the bytes is a shape mismatch.
    let widths = [u16::MAX as usize; MAX_LAYERS];
    let (header, _) = signed();
    let h = ModelHeader {
        widths: &widths,
        ..header
    };
    let len = encoded_len(&h, Scalar::F64).unwrap();
    assert!(len > 8 * 30_000_000_000usize);
    let mut raw = valid_raw();
    raw.widths = vec![u16::MAX; MAX_LAYERS];
    assert!(matches!(
        decode_raw(&raw).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::ParameterBytes,
            ..
        }
    ));
}

#[test]
fn every_error_displays() {
    let errors = [
        FormatError::Truncated { len: 3 },
        FormatError::BadMagic,
        FormatError::UnsupportedVersion { found: 7 },
        FormatError::CrcMismatch {
            stored: 1,
            computed: 2,
        },
        FormatError::Malformed,
        FormatError::TrailingBytes { count: 2 },
        FormatError::BadDimension { n: 9 },
        FormatError::BadLayers { layers: 0 },
        FormatError::BadWidth { layer: 1, width: 0 },
        FormatError::ShapeMismatch {
            field: Field::ParameterBytes,
            expected: 8,
            found: 4,
        },
        FormatError::TooLarge,
        FormatError::NonFinite {
            field: Field::Epsilon,
        },
        FormatError::CapacityMismatch {
            field: Field::Width,
            capacity: 4,
            found: 8,
        },
        FormatError::BufferTooSmall {
            needed: 80,
            capacity: 10,
        },
        FormatError::Core(Error::InvalidShape),
    ];
    for e in errors {
        assert!(!e.to_string().is_empty());
    }
    use std::error::Error as _;
    assert!(FormatError::Core(Error::InvalidShape).source().is_some());
    assert!(FormatError::BadMagic.source().is_none());
    assert_eq!(
        FormatError::from(Error::Overflow),
        FormatError::Core(Error::Overflow)
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests: nothing panics, whatever the bytes.

/// Loads an accepted blob in both scalar types at its own dimension and evaluates it.
fn exercise(view: &ModelView<'_>) {
    fn run<T: Real, const N: usize>(view: &ModelView<'_>)
    where
        Dim<N>: JetDim,
    {
        if let Ok(model) = view.to_finn::<T, N, 8, 4>() {
            let lo = model.domain().lower();
            let hi = model.domain().upper();
            let half = T::from_f64(0.5);
            let mid: [T; N] = core::array::from_fn(|i| lo[i] * half + hi[i] * half);
            let _ = model.integrand(&mid);
            let _ = model.antiderivative(&mid);
            let _ = model.integral();
            let _ = model.integral_over(lo, &mid);
        }
    }
    macro_rules! dispatch {
        ($($n:literal)*) => {
            match view.n() {
                $($n => {
                    run::<f64, $n>(view);
                    run::<f32, $n>(view);
                })*
                _ => {}
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8);
    // A wrong dimension is always refused.
    if view.n() != 1 {
        assert!(matches!(
            view.to_finn::<f64, 1, 8, 4>(),
            Err(FormatError::CapacityMismatch {
                field: Field::Dimension,
                ..
            })
        ));
    }
    let _ = view.parameters().count();
    let _ = view.parameter(usize::MAX);
}

fn check(bytes: &[u8]) {
    if let Ok(view) = decode(bytes) {
        exercise(&view);
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, value: u8 },
    Insert { at: usize, value: u8 },
    Delete { at: usize },
    Truncate { len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert { at, value }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match *m {
        Mutation::Flip { at, bit } if len > 0 => bytes[at % len] ^= 1 << bit,
        Mutation::Set { at, value } if len > 0 => bytes[at % len] = value,
        Mutation::Insert { at, value } => bytes.insert(at % (len + 1), value),
        Mutation::Delete { at } if len > 0 => {
            bytes.remove(at % len);
        }
        Mutation::Truncate { len: to } => bytes.truncate(to % (len + 1)),
        _ => {}
    }
}

fn valid_blobs() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (header, params) in [positive(), signed()] {
        for scalar in [Scalar::F32, Scalar::F64] {
            out.push(blob(&header, &params, scalar));
        }
    }
    out
}

/// A small deterministic generator for the values inside one crafted body.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() as f64 / (1u64 << 53) as f64)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn special(&mut self) -> f64 {
        [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0, 1e300][self.below(6) as usize]
    }
}

/// A valid body of a small model (n <= 4, up to 3 layers of up to 4 units).
fn valid_body(rng: &mut Lcg) -> RawBody {
    let n = 1 + rng.below(4) as usize;
    let widths: Vec<u16> = (0..1 + rng.below(3))
        .map(|_| 1 + rng.below(4) as u16)
        .collect();
    let kind = rng.below(2) as u32;
    let activation = if kind == 0 { 0 } else { rng.below(2) as u32 };
    let lower: Vec<f64> = (0..n).map(|_| rng.uniform(-4.0, 4.0)).collect();
    let upper: Vec<f64> = lower.iter().map(|a| a + rng.uniform(0.1, 3.0)).collect();
    // Constants of the shape the constraint produces (bound 0 Equal, 1 AtMost, 2 AtLeast;
    // method 0 Scale, 1 Shift); their values need not meet eps, which only `to_finn` checks.
    let constraint = match rng.below(3) {
        0 => None,
        _ if kind == 0 && rng.below(2) == 0 => Some((2, 1, rng.uniform(0.1, 2.0))),
        _ if kind == 0 => Some((rng.below(3) as u32, 0, rng.uniform(0.1, 2.0))),
        _ => Some((rng.below(3) as u32, 1, rng.uniform(-2.0, 2.0))),
    };
    let constants = match constraint {
        None => (1.0, 0.0, 0.0),
        Some((bound, 0, _)) => {
            let scale = match bound {
                1 => rng.uniform(0.1, 1.0),
                2 => rng.uniform(1.0, 3.0),
                _ => rng.uniform(0.1, 3.0),
            };
            (scale, 0.0, 0.0)
        }
        Some((bound, _, _)) => {
            let gap = match bound {
                1 => rng.uniform(-2.0, 0.0),
                2 => rng.uniform(0.0, 2.0),
                _ => rng.uniform(-2.0, 2.0),
            };
            (1.0, gap, gap * rng.uniform(-1e-16, 1e-16))
        }
    };
    let scalar = rng.below(2) as u32;
    let w: Vec<usize> = widths.iter().map(|&w| w as usize).collect();
    let params = (0..parameter_count(n, &w))
        .flat_map(|_| {
            let v = rng.uniform(-2.0, 2.0);
            if scalar == 0 {
                (v as f32).to_le_bytes().to_vec()
            } else {
                v.to_le_bytes().to_vec()
            }
        })
        .collect();
    RawBody {
        payload: 0,
        kind,
        activation,
        n: n as u8,
        widths,
        lower,
        upper,
        constraint,
        constants,
        scalar,
        params,
    }
}

/// Damages one field of a body in a way one of the checks must catch (or not: some changes
/// keep the body valid, like a different bound).
fn perturb(raw: &mut RawBody, what: u8, rng: &mut Lcg) {
    match what {
        0 => raw.payload = 1 + rng.below(3) as u32,
        1 => raw.kind = rng.below(5) as u32,
        2 => raw.activation = rng.below(4) as u32,
        3 => raw.n = rng.below(12) as u8,
        4 => match rng.below(4) {
            0 => {
                raw.widths.pop();
            }
            1 => raw.widths.push(rng.below(6) as u16),
            2 => raw.widths = vec![1; 1 + rng.below(12) as usize],
            _ => {
                let i = rng.below(raw.widths.len().max(1) as u64) as usize;
                if let Some(w) = raw.widths.get_mut(i) {
                    *w = if rng.below(2) == 0 {
                        0
                    } else {
                        rng.next() as u16
                    };
                }
            }
        },
        5 => match rng.below(4) {
            0 => {
                raw.lower.pop();
            }
            1 => raw.upper.push(1.0),
            2 => {
                let i = rng.below(raw.lower.len().max(1) as u64) as usize;
                if let Some(v) = raw.lower.get_mut(i) {
                    *v = rng.special();
                }
            }
            _ => std::mem::swap(&mut raw.lower, &mut raw.upper),
        },
        6 => {
            let c = raw.constraint.get_or_insert((0, 1, 1.0));
            match rng.below(3) {
                0 => c.0 = rng.below(4) as u32,
                1 => c.1 = rng.below(3) as u32,
                _ => c.2 = rng.special(),
            }
        }
        7 => match rng.below(3) {
            0 => raw.constants.0 = rng.special(),
            1 => raw.constants.1 = rng.special(),
            _ => raw.constants.2 = rng.special(),
        },
        8 => raw.scalar = rng.below(3) as u32,
        _ => match rng.below(3) {
            0 => {
                raw.params.pop();
            }
            1 => raw.params.extend_from_slice(&[0; 4]),
            _ => {
                let size = if raw.scalar == 0 { 4 } else { 8 };
                if raw.params.len() >= size {
                    let bad = rng.special();
                    let bytes = if size == 4 {
                        (bad as f32).to_le_bytes().to_vec()
                    } else {
                        bad.to_le_bytes().to_vec()
                    };
                    raw.params[..size].copy_from_slice(&bytes);
                }
            }
        },
    }
}

/// Mostly valid bodies with zero, one or two damaged fields.
fn raw_body() -> impl Strategy<Value = RawBody> {
    (any::<u64>(), prop::collection::vec(0u8..10, 0..3)).prop_map(|(seed, damage)| {
        let mut rng = Lcg(seed);
        let mut raw = valid_body(&mut rng);
        for what in damage {
            perturb(&mut raw, what, &mut rng);
        }
        raw
    })
}

#[test]
fn crafted_bodies_reach_every_check() {
    // The strategy must exercise the loader past the framing: count accepted blobs and the
    // kinds of errors.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = raw_body();
    let (mut ok, mut errors) = (0, std::collections::BTreeSet::new());
    for _ in 0..2000 {
        let raw = strategy.new_tree(&mut runner).unwrap().current();
        match decode(&raw.blob()) {
            Ok(view) => {
                ok += 1;
                exercise(&view);
            }
            Err(e) => {
                errors.insert(
                    format!("{e:?}")
                        .split([' ', '('])
                        .next()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    assert!(ok >= 300, "only {ok} of 2000 crafted bodies were accepted");
    for name in [
        "Malformed",
        "BadDimension",
        "BadLayers",
        "BadWidth",
        "ShapeMismatch",
        "NonFinite",
        "Core",
    ] {
        assert!(errors.contains(name), "{name} never reached: {errors:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn random_bodies_with_valid_framing_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512)
    ) {
        check(&frame(&body));
    }

    #[test]
    fn mutated_blobs_never_panic(
        which in 0usize..4,
        mutations in prop::collection::vec(mutation(), 1..6),
        recompute_crc in any::<bool>(),
    ) {
        let mut bytes = valid_blobs().swap_remove(which);
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        if recompute_crc && bytes.len() >= MIN_LEN {
            bytes = fix_crc(&bytes);
        }
        check(&bytes);
    }

    #[test]
    fn crafted_bodies_never_panic(raw in raw_body()) {
        let bytes = raw.blob();
        check(&bytes);
        // Whatever it accepts, it accepts consistently: re-encoding gives the same bytes.
        if let Ok(view) = decode(&bytes) {
            let params: Vec<f64> = view.parameters().collect();
            let again = blob(&view.header(), &params, view.scalar());
            prop_assert_eq!(again, bytes);
        }
    }
}

// =============================================================================================
// Trajectory blobs (issue 4, item 3): payload 1 of format version 1.

use finn_core::format::{
    decode_any, decode_trajectory, encode_trajectory, trajectory_encoded_len, validate_trajectory,
    Blob, TrajectoryHeader, TrajectoryView, MAX_COORDS, MAX_VIA,
};
use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};

const TW: [usize; 2] = [3, 2];
const TX0: [f64; 3] = [0.0, -1.0, 2.0];
const TX1: [f64; 3] = [1.0, 3.0, -0.5];
const VIA_T: [f64; 2] = [1.0, 1.75];
const VIA_X: [f64; 6] = [0.4, 1.0, 1.5, 0.9, 2.0, 0.0];

/// A 3-D trajectory on [0.5, 2.5] with two hidden layers and two via-points.
fn trajectory() -> (TrajectoryHeader<'static>, Vec<f64>) {
    let header = TrajectoryHeader {
        activation: Activation::Tanh,
        widths: &TW,
        t0: 0.5,
        t1: 2.5,
        x0: &TX0,
        x1: &TX1,
        via_times: &VIA_T,
        via_positions: &VIA_X,
        policy: OutsidePolicy::Hold,
    };
    (
        header,
        params_for(1, &TW)
            .repeat(3)
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1.0 + 0.1 * (i % 7) as f64))
            .collect(),
    )
}

fn traj_blob(header: &TrajectoryHeader<'_>, params: &[f64], scalar: Scalar) -> Vec<u8> {
    let mut out = vec![0u8; trajectory_encoded_len(header, scalar).unwrap()];
    let len = encode_trajectory(header, params, scalar, &mut out).unwrap();
    assert_eq!(len, out.len());
    out
}

/// The trajectory built directly with finn-core from the header and parameters, in `T`.
fn direct_trajectory<T: Real, const D: usize, const W: usize, const L: usize, const V: usize>(
    header: &TrajectoryHeader<'_>,
    params: &[f64],
) -> Trajectory<T, D, W, L, V>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    let count = parameter_count(1, header.widths);
    let coords: [Network<T, 1, W, L>; D] = core::array::from_fn(|i| {
        let p: Vec<T> = params[i * count..(i + 1) * count]
            .iter()
            .map(|&v| T::from_f64(v))
            .collect();
        Network::signed(header.activation, header.widths, &p).unwrap()
    });
    let state = |x: &[f64]| -> [T; D] { core::array::from_fn(|i| T::from_f64(x[i])) };
    let via: Vec<Via<T, D>> = header
        .via_times
        .iter()
        .enumerate()
        .map(|(k, &t)| Via {
            time: T::from_f64(t),
            position: state(&header.via_positions[k * D..]),
        })
        .collect();
    Trajectory::new(
        coords,
        T::from_f64(header.t0),
        T::from_f64(header.t1),
        state(header.x0),
        state(header.x1),
        &via,
        header.policy,
    )
    .unwrap()
}

/// Samples agree bit for bit on a grid inside and outside the interval.
fn assert_same_trajectory<T: Real, const D: usize, const W: usize, const L: usize, const V: usize>(
    a: &Trajectory<T, D, W, L, V>,
    b: &Trajectory<T, D, W, L, V>,
) where
    Depth<L>: HiddenBlocks<T, W>,
{
    let (t0, t1) = a.interval();
    assert_eq!(a.interval(), b.interval());
    assert_eq!(a.endpoints(), b.endpoints());
    for k in -2..=12 {
        let t = t0 + (t1 - t0) * T::from_f64(k as f64 / 10.0);
        assert_eq!(a.sample(t), b.sample(t), "at t = {t}");
    }
    assert_eq!(a.sample(t1), b.sample(t1));
}

#[test]
fn trajectory_blob_round_trips() {
    let (header, params) = trajectory();
    for scalar in [Scalar::F64, Scalar::F32] {
        let bytes = traj_blob(&header, &params, scalar);
        let view = decode_trajectory(&bytes).unwrap();
        assert_eq!(view.header(), header);
        assert_eq!(view.scalar(), scalar);
        assert_eq!(view.coordinates(), 3);
        assert_eq!(view.widths(), &TW);
        assert_eq!(view.interval(), (0.5, 2.5));
        assert_eq!(view.policy(), OutsidePolicy::Hold);
        assert_eq!(view.via_point(1), Some((1.75, &VIA_X[3..6])));
        assert_eq!(view.via_point(2), None);
        let count = parameter_count(1, &TW);
        assert_eq!(view.coordinate_parameter_count(), count);
        assert_eq!(view.parameter_count(), 3 * count);
        let stored: Vec<f64> = match scalar {
            Scalar::F64 => params.clone(),
            Scalar::F32 => params.iter().map(|&v| v as f32 as f64).collect(),
        };
        assert_eq!(view.parameters().collect::<Vec<_>>(), stored);
        for i in 0..3 {
            let p: Vec<f64> = view.coordinate_parameters(i).unwrap().collect();
            assert_eq!(p, stored[i * count..(i + 1) * count]);
        }
        assert!(view.coordinate_parameters(3).is_none());
        let range = bytes.as_ptr_range();
        assert!(
            range.contains(&view.parameter_bytes().as_ptr()),
            "zero copy"
        );
        assert_eq!(decode_any(&bytes).unwrap(), Blob::Trajectory(view.clone()));

        // Loads into the trajectory built directly, in both types and larger capacities.
        assert_same_trajectory(
            &view.to_trajectory::<f64, 3, 3, 2, 2>().unwrap(),
            &direct_trajectory::<f64, 3, 3, 2, 2>(&header, &stored),
        );
        assert_same_trajectory(
            &view.to_trajectory::<f32, 3, 16, 4, 8>().unwrap(),
            &direct_trajectory::<f32, 3, 16, 4, 8>(&header, &stored),
        );
    }
}

#[test]
fn f64_trajectory_plays_back_in_f32_with_exact_ends() {
    let (header, params) = trajectory();
    let view_bytes = traj_blob(&header, &params, Scalar::F64);
    let traj = decode_trajectory(&view_bytes)
        .unwrap()
        .to_trajectory::<f32, 3, 4, 2, 2>()
        .unwrap();
    let x0 = TX0.map(|v| v as f32);
    let x1 = TX1.map(|v| v as f32);
    assert_eq!(traj.sample(0.5).unwrap().position, x0);
    assert_eq!(traj.sample(2.5).unwrap().position, x1);
    // Hold outside the interval.
    assert_eq!(traj.sample(-3.0).unwrap().position, x0);
    assert_eq!(traj.sample(9.0).unwrap().velocity, [0.0; 3]);
    for (k, &t) in VIA_T.iter().enumerate() {
        let p = traj.sample(t as f32).unwrap().position;
        for i in 0..3 {
            assert!((p[i] as f64 - VIA_X[3 * k + i]).abs() < 1e-5, "{p:?}");
        }
    }
}

#[test]
fn trajectory_encoded_len_is_exact_and_small_buffers_are_refused() {
    let (header, params) = trajectory();
    for scalar in [Scalar::F32, Scalar::F64] {
        let needed = trajectory_encoded_len(&header, scalar).unwrap();
        let mut big = vec![0xAAu8; needed + 9];
        assert_eq!(
            encode_trajectory(&header, &params, scalar, &mut big),
            Ok(needed)
        );
        assert!(big[needed..].iter().all(|&b| b == 0xAA));
        for short in 0..needed {
            let mut out = vec![0u8; short];
            assert_eq!(
                encode_trajectory(&header, &params, scalar, &mut out),
                Err(FormatError::BufferTooSmall {
                    needed,
                    capacity: short
                })
            );
        }
    }
}

/// The trajectory body as `docs/model-format.md` documents it, built with serde and postcard
/// independently of the crate.
#[derive(Clone, Debug, Serialize)]
struct RawTraj {
    payload: u32,
    kind: u32,
    activation: u32,
    n: u8,
    widths: Vec<u16>,
    d: u8,
    t0: f64,
    t1: f64,
    x0: Vec<f64>,
    x1: Vec<f64>,
    via: Vec<(f64, Vec<f64>)>,
    policy: u32,
    scalar: u32,
    params: Vec<u8>,
}

fn float_bytes(values: &[f64], scalar: u32) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| {
            if scalar == 0 {
                (v as f32).to_le_bytes().to_vec()
            } else {
                v.to_le_bytes().to_vec()
            }
        })
        .collect()
}

impl RawTraj {
    fn of(header: &TrajectoryHeader<'_>, params: &[f64], scalar: Scalar) -> Self {
        let d = header.x0.len();
        let scalar = if scalar == Scalar::F32 { 0 } else { 1 };
        RawTraj {
            payload: 1,
            kind: 1,
            activation: if header.activation == Activation::Sigma {
                0
            } else {
                1
            },
            n: 1,
            widths: header.widths.iter().map(|&w| w as u16).collect(),
            d: d as u8,
            t0: header.t0,
            t1: header.t1,
            x0: header.x0.to_vec(),
            x1: header.x1.to_vec(),
            via: header
                .via_times
                .iter()
                .enumerate()
                .map(|(k, &t)| (t, header.via_positions[k * d..k * d + d].to_vec()))
                .collect(),
            policy: if header.policy == OutsidePolicy::Hold {
                0
            } else {
                1
            },
            scalar,
            params: float_bytes(params, scalar),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        postcard::to_extend(self, Vec::new()).unwrap()
    }

    fn blob(&self) -> Vec<u8> {
        frame(&self.bytes())
    }
}

fn valid_traj() -> RawTraj {
    let (header, params) = trajectory();
    RawTraj::of(&header, &params, Scalar::F64)
}

fn decode_traj(raw: &RawTraj) -> Result<(), FormatError> {
    decode_trajectory(&raw.blob()).map(|_| ())
}

#[test]
fn trajectory_blob_matches_the_documented_layout() {
    let (header, params) = trajectory();
    for scalar in [Scalar::F32, Scalar::F64] {
        assert_eq!(
            traj_blob(&header, &params, scalar),
            RawTraj::of(&header, &params, scalar).blob()
        );
    }
    let reject = TrajectoryHeader {
        policy: OutsidePolicy::Reject,
        via_times: &[],
        via_positions: &[],
        ..header
    };
    assert_eq!(
        traj_blob(&reject, &params, Scalar::F32),
        RawTraj::of(&reject, &params, Scalar::F32).blob()
    );
}

#[test]
fn golden_bytes_of_the_smallest_trajectory() {
    // The worked example of docs/model-format.md.
    let header = TrajectoryHeader {
        activation: Activation::Tanh,
        widths: &[1],
        t0: 0.0,
        t1: 1.0,
        x0: &[0.0],
        x1: &[1.0],
        via_times: &[],
        via_positions: &[],
        policy: OutsidePolicy::Hold,
    };
    let bytes = traj_blob(&header, &[2.0, 0.5, -1.0], Scalar::F32);
    let hex = hex_of(&bytes);
    let expected = concat!(
        "46494e4e",         // magic "FINN"
        "0100",             // version 1
        "01",               // payload Trajectory
        "01",               // kind Signed
        "01",               // activation Tanh
        "01",               // n = 1
        "0101",             // widths: 1 entry, 1
        "01",               // D = 1
        "0000000000000000", // t0 = 0.0
        "000000000000f03f", // T = 1.0
        "01",
        "0000000000000000", // x0: 1 entry, 0.0
        "01",
        "000000000000f03f", // xT: 1 entry, 1.0
        "00",               // no via-points
        "00",               // policy Hold
        "00",               // scalar F32
        "0c",               // 12 parameter bytes
        "00000040",         // 2.0f32
        "0000003f",         // 0.5f32
        "000080bf",         // -1.0f32
    );
    assert_eq!(&hex[..hex.len() - 8], expected);
    assert_eq!(
        &hex[hex.len() - 8..],
        hex_of(&crc32(&bytes[..bytes.len() - 4]).to_le_bytes())
    );
    assert_eq!(&hex[hex.len() - 8..], "9616313f");
    assert_eq!(bytes.len(), 67);
}

#[test]
fn payloads_are_kept_apart() {
    let (header, params) = trajectory();
    let traj = traj_blob(&header, &params, Scalar::F32);
    assert_eq!(
        decode(&traj).unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Trajectory
        }
    );
    let (mheader, mparams) = positive();
    let model = blob(&mheader, &mparams, Scalar::F32);
    assert_eq!(
        decode_trajectory(&model).unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::Model
        }
    );
    assert!(matches!(decode_any(&model).unwrap(), Blob::Model(_)));
    // A model header cannot claim the trajectory payload.
    let h = ModelHeader {
        payload: Payload::Trajectory,
        ..mheader
    };
    let mut out = vec![0u8; 1024];
    assert_eq!(
        encode(&h, &mparams, Scalar::F64, &mut out).unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Trajectory
        }
    );
    // A trajectory body cut short is Malformed even for the model reader: the body is parsed
    // by its payload before the payload is compared with the reader's.
    let mut body = valid_traj().bytes();
    body.truncate(body.len() - 1);
    assert_eq!(decode(&frame(&body)).unwrap_err(), FormatError::Malformed);
    assert_eq!(
        decode_trajectory(&frame(&body)).unwrap_err(),
        FormatError::Malformed
    );
}

#[test]
fn trajectory_framing_errors() {
    let bytes = valid_traj().blob();
    for len in 0..MIN_LEN {
        assert_eq!(
            decode_trajectory(&bytes[..len]).unwrap_err(),
            FormatError::Truncated { len }
        );
    }
    for len in MIN_LEN..bytes.len() {
        assert!(matches!(
            decode_trajectory(&bytes[..len]).unwrap_err(),
            FormatError::CrcMismatch { .. }
        ));
    }
    let mut bad = bytes.clone();
    bad[1] = b'X';
    assert_eq!(decode_trajectory(&bad).unwrap_err(), FormatError::BadMagic);
    let mut bad = bytes.clone();
    bad[4] = 2;
    assert_eq!(
        decode_trajectory(&fix_crc(&bad)).unwrap_err(),
        FormatError::UnsupportedVersion { found: 2 }
    );
    for i in [6, 40, bytes.len() - 6] {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(matches!(
            decode_trajectory(&bad).unwrap_err(),
            FormatError::CrcMismatch { .. }
        ));
    }
    let mut body = valid_traj().bytes();
    body.push(0);
    assert_eq!(
        decode_trajectory(&frame(&body)).unwrap_err(),
        FormatError::TrailingBytes { count: 1 }
    );
}

#[test]
fn trajectory_malformed_bodies() {
    let mut raw = valid_traj();
    raw.policy = 2;
    assert_eq!(decode_traj(&raw).unwrap_err(), FormatError::Malformed);
    let mut raw = valid_traj();
    raw.scalar = 2;
    assert_eq!(decode_traj(&raw).unwrap_err(), FormatError::Malformed);
    let mut raw = valid_traj();
    raw.kind = 2;
    assert_eq!(decode_traj(&raw).unwrap_err(), FormatError::Malformed);
    assert_eq!(
        decode_trajectory(&frame(&[1, 1, 1, 1])).unwrap_err(),
        FormatError::Malformed
    );
    assert_eq!(
        decode_trajectory(&frame(&[7])).unwrap_err(),
        FormatError::Malformed
    );
}

/// One crafted body per content error, in the documented order.
#[test]
fn trajectory_content_errors() {
    let check = |raw: &RawTraj, want: FormatError| {
        assert_eq!(decode_traj(raw).unwrap_err(), want, "{raw:?}");
    };
    let mut raw = valid_traj();
    raw.kind = 0;
    check(
        &raw,
        FormatError::BadCoordinateNetwork {
            kind: Kind::Positive,
            n: 1,
        },
    );
    let mut raw = valid_traj();
    raw.n = 2;
    check(
        &raw,
        FormatError::BadCoordinateNetwork {
            kind: Kind::Signed,
            n: 2,
        },
    );
    let mut raw = valid_traj();
    raw.widths = vec![];
    check(&raw, FormatError::BadLayers { layers: 0 });
    raw.widths = vec![1; MAX_LAYERS + 1];
    check(
        &raw,
        FormatError::BadLayers {
            layers: MAX_LAYERS + 1,
        },
    );
    raw.widths = vec![3, 0];
    check(&raw, FormatError::BadWidth { layer: 1, width: 0 });
    for d in [0u8, MAX_COORDS as u8 + 1, 255] {
        let mut raw = valid_traj();
        raw.d = d;
        check(&raw, FormatError::BadCoordinates { d: d as usize });
    }
    let mut raw = valid_traj();
    raw.d = 2;
    check(
        &raw,
        FormatError::ShapeMismatch {
            field: Field::Start,
            expected: 2,
            found: 3,
        },
    );
    let mut raw = valid_traj();
    raw.x1.push(0.0);
    check(
        &raw,
        FormatError::ShapeMismatch {
            field: Field::End,
            expected: 3,
            found: 4,
        },
    );
    let mut raw = valid_traj();
    raw.via = (0..=MAX_VIA)
        .map(|k| (0.6 + 0.1 * k as f64, vec![0.0; 3]))
        .collect();
    check(&raw, FormatError::TooManyViaPoints { count: MAX_VIA + 1 });
    let mut raw = valid_traj();
    raw.via[1].1.pop();
    check(
        &raw,
        FormatError::ShapeMismatch {
            field: Field::ViaPoints,
            expected: 3,
            found: 2,
        },
    );
    let mut raw = valid_traj();
    raw.t1 = raw.t0;
    check(&raw, FormatError::Core(Error::EmptyInterval { axis: 0 }));
    for bad in [f64::NAN, f64::INFINITY] {
        let mut raw = valid_traj();
        raw.t0 = bad;
        check(&raw, FormatError::Core(Error::NonFiniteInput));
    }
    let count = 3 * parameter_count(1, &TW);
    let mut raw = valid_traj();
    raw.params.truncate(8 * count - 8);
    check(
        &raw,
        FormatError::ShapeMismatch {
            field: Field::ParameterBytes,
            expected: 8 * count,
            found: 8 * count - 8,
        },
    );
    let mut raw = valid_traj();
    raw.scalar = 0; // f64 bytes under an f32 tag
    check(
        &raw,
        FormatError::ShapeMismatch {
            field: Field::ParameterBytes,
            expected: 4 * count,
            found: 8 * count,
        },
    );
    for bad in [f64::NAN, f64::NEG_INFINITY] {
        let mut raw = valid_traj();
        raw.x0[2] = bad;
        check(
            &raw,
            FormatError::NonFinite {
                field: Field::Start,
            },
        );
        let mut raw = valid_traj();
        raw.x1[0] = bad;
        check(&raw, FormatError::NonFinite { field: Field::End });
        let mut raw = valid_traj();
        raw.via[0].0 = bad;
        check(
            &raw,
            FormatError::NonFinite {
                field: Field::ViaPoints,
            },
        );
        let mut raw = valid_traj();
        raw.via[1].1[2] = bad;
        check(
            &raw,
            FormatError::NonFinite {
                field: Field::ViaPoints,
            },
        );
        let mut raw = valid_traj();
        let last = raw.params.len() - 8;
        raw.params[last..].copy_from_slice(&bad.to_le_bytes());
        check(
            &raw,
            FormatError::NonFinite {
                field: Field::Parameters,
            },
        );
    }
    // Via-point times: not increasing, at or outside the ends.
    for times in [
        [1.75, 1.0],
        [1.0, 1.0],
        [0.5, 1.0],
        [1.0, 2.5],
        [0.0, 1.0],
        [1.0, 3.0],
    ] {
        let mut raw = valid_traj();
        raw.via[0].0 = times[0];
        raw.via[1].0 = times[1];
        check(&raw, FormatError::Core(Error::InvalidViaPoints));
    }
}

#[test]
fn trajectory_capacity_and_target_type_errors() {
    let (header, params) = trajectory();
    let bytes = traj_blob(&header, &params, Scalar::F64);
    let view = decode_trajectory(&bytes).unwrap();
    assert_eq!(
        view.to_trajectory::<f64, 2, 4, 2, 2>().unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Coordinates,
            capacity: 2,
            found: 3
        }
    );
    assert_eq!(
        view.to_trajectory::<f32, 3, 4, 1, 2>().unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Layers,
            capacity: 1,
            found: 2
        }
    );
    assert_eq!(
        view.to_trajectory::<f32, 3, 2, 2, 2>().unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Width,
            capacity: 2,
            found: 3
        }
    );
    assert_eq!(
        view.to_trajectory::<f32, 3, 4, 2, 1>().unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::ViaPoints,
            capacity: 1,
            found: 2
        }
    );
    // A parameter beyond f32 in coordinate 2 (the last one, after the stand-in for the first).
    let mut big = params.clone();
    let last = big.len() - 1;
    big[last] = 1e300;
    let bytes = traj_blob(&header, &big, Scalar::F64);
    let view = decode_trajectory(&bytes).unwrap();
    assert!(view.to_trajectory::<f64, 3, 4, 2, 2>().is_ok());
    assert_eq!(
        view.to_trajectory::<f32, 3, 4, 2, 2>().unwrap_err(),
        FormatError::Core(Error::NonFiniteParameter)
    );
    let mut out = vec![0u8; 2048];
    assert_eq!(
        encode_trajectory(&header, &big, Scalar::F32, &mut out).unwrap_err(),
        FormatError::NonFinite {
            field: Field::Parameters
        }
    );
    // An interval, or via-point times, that collapse in f32.
    let h = TrajectoryHeader {
        t0: 1.0,
        t1: 1.0 + 1e-12,
        via_times: &[],
        via_positions: &[],
        ..header
    };
    let bytes = traj_blob(&h, &params, Scalar::F64);
    let view = decode_trajectory(&bytes).unwrap();
    assert!(view.to_trajectory::<f64, 3, 4, 2, 2>().is_ok());
    assert_eq!(
        view.to_trajectory::<f32, 3, 4, 2, 2>().unwrap_err(),
        FormatError::Core(Error::EmptyInterval { axis: 0 })
    );
    let h = TrajectoryHeader {
        via_times: &[1.0, 1.0 + 1e-12],
        ..header
    };
    let bytes = traj_blob(&h, &params, Scalar::F64);
    let view = decode_trajectory(&bytes).unwrap();
    assert_eq!(
        view.to_trajectory::<f32, 3, 4, 2, 2>().unwrap_err(),
        FormatError::Core(Error::InvalidViaPoints)
    );
    // A state beyond f32.
    let h = TrajectoryHeader {
        x1: &[1.0, 1e300, 0.0],
        ..header
    };
    let bytes = traj_blob(&h, &params, Scalar::F64);
    let view = decode_trajectory(&bytes).unwrap();
    assert_eq!(
        view.to_trajectory::<f32, 3, 4, 2, 2>().unwrap_err(),
        FormatError::Core(Error::NonFiniteInput)
    );
}

#[test]
fn encode_trajectory_refuses_what_decode_would() {
    let (header, params) = trajectory();
    let mut out = vec![0u8; 4096];
    let mut enc =
        |h: &TrajectoryHeader<'_>, p: &[f64]| encode_trajectory(h, p, Scalar::F64, &mut out);
    assert_eq!(
        enc(&header, &params[1..]).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: params.len(),
            found: params.len() - 1
        }
    );
    let cases: Vec<(TrajectoryHeader<'_>, FormatError)> = vec![
        (
            TrajectoryHeader {
                widths: &[],
                ..header
            },
            FormatError::BadLayers { layers: 0 },
        ),
        (
            TrajectoryHeader {
                widths: &[2, 70_000],
                ..header
            },
            FormatError::BadWidth {
                layer: 1,
                width: 70_000,
            },
        ),
        (
            TrajectoryHeader {
                x0: &[],
                x1: &[],
                via_positions: &[],
                via_times: &[],
                ..header
            },
            FormatError::BadCoordinates { d: 0 },
        ),
        (
            TrajectoryHeader {
                x0: &[0.0; 7],
                ..header
            },
            FormatError::BadCoordinates { d: 7 },
        ),
        (
            TrajectoryHeader {
                x1: &[0.0; 2],
                ..header
            },
            FormatError::ShapeMismatch {
                field: Field::End,
                expected: 3,
                found: 2,
            },
        ),
        (
            TrajectoryHeader {
                via_times: &[1.0; MAX_VIA + 1],
                ..header
            },
            FormatError::TooManyViaPoints { count: MAX_VIA + 1 },
        ),
        (
            TrajectoryHeader {
                via_positions: &VIA_X[..5],
                ..header
            },
            FormatError::ShapeMismatch {
                field: Field::ViaPoints,
                expected: 6,
                found: 5,
            },
        ),
        (
            TrajectoryHeader { t1: 0.5, ..header },
            FormatError::Core(Error::EmptyInterval { axis: 0 }),
        ),
        (
            TrajectoryHeader {
                x0: &[0.0, f64::NAN, 0.0],
                ..header
            },
            FormatError::NonFinite {
                field: Field::Start,
            },
        ),
        (
            TrajectoryHeader {
                via_times: &[1.75, 1.0],
                ..header
            },
            FormatError::Core(Error::InvalidViaPoints),
        ),
    ];
    for (h, want) in cases {
        assert_eq!(enc(&h, &params).unwrap_err(), want, "{h:?}");
        assert_eq!(validate_trajectory(&h, &params).unwrap_err(), want);
    }
    assert_eq!(validate_trajectory(&header, &params), Ok(params.len()));
}

#[test]
fn trajectory_errors_display() {
    let errors = [
        FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Trajectory,
        },
        FormatError::BadCoordinateNetwork {
            kind: Kind::Positive,
            n: 2,
        },
        FormatError::BadCoordinates { d: 9 },
        FormatError::TooManyViaPoints { count: 10 },
        FormatError::ShapeMismatch {
            field: Field::ViaPoints,
            expected: 3,
            found: 2,
        },
        FormatError::NonFinite {
            field: Field::Start,
        },
        FormatError::NonFinite { field: Field::End },
        FormatError::CapacityMismatch {
            field: Field::Coordinates,
            capacity: 3,
            found: 2,
        },
    ];
    for e in errors {
        let text = e.to_string();
        assert!(!text.is_empty());
    }
    assert_eq!(
        FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Trajectory
        }
        .to_string(),
        "the blob holds a trajectory, not a model"
    );
}

// ---------------------------------------------------------------------------------------------
// Trajectory property tests: nothing panics, whatever the bytes; ends stay exact.

/// Loads an accepted trajectory blob in both scalar types at its own D and samples it.
fn exercise_trajectory(view: &TrajectoryView<'_>) {
    fn run<T: Real, const D: usize>(view: &TrajectoryView<'_>) {
        if let Ok(traj) = view.to_trajectory::<T, D, 8, 4, 8>() {
            let (t0, t1) = traj.interval();
            let (x0, x1) = traj.endpoints();
            // Exact ends, whatever the parameters.
            if let Ok(s) = traj.sample(t0) {
                assert_eq!(&s.position, x0);
            }
            if let Ok(s) = traj.sample(t1) {
                assert_eq!(&s.position, x1);
            }
            let half = T::from_f64(0.5);
            let _ = traj.sample(t0 * half + t1 * half);
            let _ = traj.sample(t1 + T::ONE);
            let _ = traj.sample(t0 - T::ONE);
        }
    }
    macro_rules! dispatch {
        ($($d:literal)*) => {
            match view.coordinates() {
                $($d => {
                    run::<f64, $d>(view);
                    run::<f32, $d>(view);
                })*
                _ => {}
            }
        };
    }
    dispatch!(1 2 3 4 5 6);
    if view.coordinates() != 1 {
        assert!(matches!(
            view.to_trajectory::<f64, 1, 8, 4, 8>(),
            Err(FormatError::CapacityMismatch {
                field: Field::Coordinates,
                ..
            })
        ));
    }
    let _ = view.parameters().count();
    let _ = view.coordinate_parameters(usize::MAX);
    let _ = view.via_point(usize::MAX);
}

fn check_trajectory(bytes: &[u8]) {
    match decode_any(bytes) {
        Ok(Blob::Trajectory(view)) => exercise_trajectory(&view),
        Ok(Blob::Model(view)) => exercise(&view),
        Ok(_) | Err(_) => {}
    }
    if let Ok(view) = decode_trajectory(bytes) {
        exercise_trajectory(&view);
    }
    let _ = decode(bytes);
}

fn valid_traj_blobs() -> Vec<Vec<u8>> {
    let (header, params) = trajectory();
    let mut out = Vec::new();
    for scalar in [Scalar::F32, Scalar::F64] {
        out.push(traj_blob(&header, &params, scalar));
    }
    out
}

/// A valid body of a small trajectory (D <= 6, up to 3 layers of up to 4 units, up to 3
/// via-points).
fn valid_traj_body(rng: &mut Lcg) -> RawTraj {
    let d = 1 + rng.below(MAX_COORDS as u64) as usize;
    let widths: Vec<u16> = (0..1 + rng.below(3))
        .map(|_| 1 + rng.below(4) as u16)
        .collect();
    let t0 = rng.uniform(-5.0, 5.0);
    let t1 = t0 + rng.uniform(0.2, 4.0);
    let nvia = rng.below(4) as usize;
    let via = (0..nvia)
        .map(|k| {
            let t = t0 + (t1 - t0) * (k as f64 + 1.0) / (nvia as f64 + 1.0);
            (t, (0..d).map(|_| rng.uniform(-3.0, 3.0)).collect())
        })
        .collect();
    let scalar = rng.below(2) as u32;
    let w: Vec<usize> = widths.iter().map(|&w| w as usize).collect();
    let params: Vec<f64> = (0..d * parameter_count(1, &w))
        .map(|_| rng.uniform(-2.0, 2.0))
        .collect();
    RawTraj {
        payload: 1,
        kind: 1,
        activation: rng.below(2) as u32,
        n: 1,
        widths,
        d: d as u8,
        t0,
        t1,
        x0: (0..d).map(|_| rng.uniform(-3.0, 3.0)).collect(),
        x1: (0..d).map(|_| rng.uniform(-3.0, 3.0)).collect(),
        via,
        policy: rng.below(2) as u32,
        scalar,
        params: float_bytes(&params, scalar),
    }
}

/// Damages one field of a trajectory body (or not: some changes keep it valid).
fn perturb_traj(raw: &mut RawTraj, what: u8, rng: &mut Lcg) {
    match what {
        0 => raw.payload = rng.below(4) as u32,
        1 => raw.kind = rng.below(3) as u32,
        2 => raw.activation = rng.below(3) as u32,
        3 => raw.n = rng.below(4) as u8,
        4 => match rng.below(3) {
            0 => {
                raw.widths.pop();
            }
            1 => raw.widths.push(rng.below(3) as u16),
            _ => raw.widths = vec![1; 1 + rng.below(10) as usize],
        },
        5 => raw.d = rng.below(9) as u8,
        6 => match rng.below(3) {
            0 => raw.t0 = rng.special(),
            1 => raw.t1 = rng.special(),
            _ => std::mem::swap(&mut raw.t0, &mut raw.t1),
        },
        7 => match rng.below(3) {
            0 => {
                raw.x0.pop();
            }
            1 => raw.x1.push(0.0),
            _ => {
                if let Some(v) = raw.x0.first_mut() {
                    *v = rng.special();
                }
            }
        },
        8 => match rng.below(4) {
            0 => {
                raw.via.pop();
            }
            1 => raw
                .via
                .push((raw.t0 + rng.uniform(-1.0, 5.0), vec![0.0; raw.x0.len()])),
            2 => raw.via.reverse(),
            _ => {
                if let Some(v) = raw.via.first_mut() {
                    if rng.below(2) == 0 {
                        v.0 = rng.special();
                    } else {
                        v.1.push(1.0);
                    }
                }
            }
        },
        9 => raw.policy = rng.below(3) as u32,
        10 => raw.scalar = rng.below(3) as u32,
        _ => match rng.below(3) {
            0 => {
                raw.params.pop();
            }
            1 => raw.params.extend_from_slice(&[0; 4]),
            _ => {
                let size = if raw.scalar == 0 { 4 } else { 8 };
                if raw.params.len() >= size {
                    let bad = rng.special();
                    let bytes = float_bytes(&[bad], if size == 4 { 0 } else { 1 });
                    raw.params[..size].copy_from_slice(&bytes);
                }
            }
        },
    }
}

fn raw_traj() -> impl Strategy<Value = RawTraj> {
    (any::<u64>(), prop::collection::vec(0u8..12, 0..3)).prop_map(|(seed, damage)| {
        let mut rng = Lcg(seed);
        let mut raw = valid_traj_body(&mut rng);
        for what in damage {
            perturb_traj(&mut raw, what, &mut rng);
        }
        raw
    })
}

#[test]
fn crafted_trajectory_bodies_reach_every_check() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = raw_traj();
    let (mut ok, mut errors) = (0, std::collections::BTreeSet::new());
    for _ in 0..3000 {
        let raw = strategy.new_tree(&mut runner).unwrap().current();
        match decode_trajectory(&raw.blob()) {
            Ok(view) => {
                ok += 1;
                exercise_trajectory(&view);
            }
            Err(e) => {
                errors.insert(
                    format!("{e:?}")
                        .split([' ', '('])
                        .next()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    assert!(ok >= 500, "only {ok} of 3000 crafted bodies were accepted");
    for name in [
        "Malformed",
        "BadCoordinateNetwork",
        "BadLayers",
        "BadWidth",
        "BadCoordinates",
        "ShapeMismatch",
        "NonFinite",
        "Core",
    ] {
        assert!(errors.contains(name), "{name} never reached: {errors:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_trajectory_bodies_with_valid_framing_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..400)
    ) {
        // Payload tag 1 first, so the bytes reach the trajectory parser.
        let mut tagged = vec![1u8];
        tagged.extend_from_slice(&body);
        check_trajectory(&frame(&tagged));
    }

    #[test]
    fn mutated_trajectory_blobs_never_panic(
        which in 0usize..2,
        mutations in prop::collection::vec(mutation(), 1..6),
        recompute_crc in any::<bool>(),
    ) {
        let mut bytes = valid_traj_blobs().swap_remove(which);
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        if recompute_crc && bytes.len() >= MIN_LEN {
            bytes = fix_crc(&bytes);
        }
        check_trajectory(&bytes);
    }

    #[test]
    fn crafted_trajectory_bodies_never_panic(raw in raw_traj()) {
        let bytes = raw.blob();
        check_trajectory(&bytes);
        // Whatever it accepts, it accepts consistently: re-encoding gives the same bytes.
        if let Ok(view) = decode_trajectory(&bytes) {
            let params: Vec<f64> = view.parameters().collect();
            let again = traj_blob(&view.header(), &params, view.scalar());
            prop_assert_eq!(again, bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The density payload (2): the model body under another tag, and the density rule.

/// The smallest density: a positive sigma_1 network, n = 1, one hidden unit, on [0, 1], its
/// integral fixed to 1 by scale, parameters [2.0, 0.5, 1.0] stored as `F32`.
fn smallest_density() -> (ModelHeader<'static>, [f64; 3]) {
    let params = [2.0, 0.5, 1.0];
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let net = Network::<f64, 1, 1, 1>::positive(&[1], &params).unwrap();
    let host = Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap();
    let header = ModelHeader {
        payload: Payload::Density,
        kind: Kind::Positive,
        activation: Activation::Sigma,
        n: 1,
        widths: &[1],
        domain_lower: &[0.0],
        domain_upper: &[1.0],
        constraint: Some(one),
        constants: host.constants(),
    };
    (header, params)
}

#[test]
fn golden_bytes_of_the_smallest_density() {
    // The worked example of docs/model-format.md, "Density blobs".
    let (header, params) = smallest_density();
    let bytes = blob(&header, &params, Scalar::F32);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // The scale finn-core resolves for this network: 1 / (F'(1) - F'(0)).
    assert_eq!(header.constants.scale, 4.174553353145021);
    let expected = concat!(
        "46494e4e", // magic "FINN"
        "0100",     // version 1
        "02",       // payload Density
        "00",       // kind Positive
        "00",       // activation Sigma
        "01",       // n = 1
        "0101",     // widths: 1 entry, 1
        "01",
        "0000000000000000", // lower: 1 entry, 0.0
        "01",
        "000000000000f03f", // upper: 1 entry, 1.0
        "01",               // a constraint:
        "00",               //   Equal
        "00",               //   Scale
        "000000000000f03f", //   eps 1.0
        "f7a83c1dbeb21040", // scale 4.174553353145021
        "0000000000000000", // gap 0.0
        "0000000000000000", // gap_low 0.0
        "00",               // scalar F32
        "0c",               // 12 parameter bytes
        "00000040",         // 2.0f32
        "0000003f",         // 0.5f32
        "0000803f",         // 1.0f32
    );
    assert_eq!(&hex[..hex.len() - 8], expected);
    assert_eq!(&hex[hex.len() - 8..], "bd2a7dc6"); // CRC 0xC67D2ABD, little-endian
    assert_eq!(bytes.len(), 83);
    // The same model under the model tag differs in that byte only, and reads as a model but
    // not as a density.
    let model = ModelHeader {
        payload: Payload::Model,
        ..header
    };
    let model_bytes = blob(&model, &params, Scalar::F32);
    let differ: Vec<usize> = (0..bytes.len() - 4)
        .filter(|&i| bytes[i] != model_bytes[i])
        .collect();
    assert_eq!(differ, [6]);
    assert_eq!(decode(&model_bytes).unwrap().payload(), Payload::Model);
    assert_eq!(
        decode_density(&model_bytes).unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::Model
        }
    );
    // A density blob reads with every model reader, and says what it is.
    let view = decode_density(&bytes).unwrap();
    assert_eq!(view.payload(), Payload::Density);
    assert_eq!(decode(&bytes).unwrap(), view);
    assert_eq!(decode_any(&bytes).unwrap(), Blob::Density(view.clone()));
    assert_eq!(
        decode_trajectory(&bytes).unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::Density
        }
    );
    let p = view.to_density::<f32, 1, 4, 2>().unwrap();
    assert!((p.cdf(&[1.0]).unwrap() - 1.0).abs() < 1e-6);
    assert_eq!(
        decode(&model_bytes)
            .unwrap()
            .to_density::<f32, 1, 4, 2>()
            .unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::Model
        }
    );
}

/// Only a density may be written or read under the density tag: a positive network with the
/// constraint Equal, Scale, eps = 1.
#[test]
fn the_density_payload_holds_only_densities() {
    let (header, params) = smallest_density();
    let not = |h: &ModelHeader<'_>| {
        assert_eq!(
            validate(h, &params),
            Err(FormatError::Core(Error::NotADensity)),
            "{h:?}"
        );
        let mut out = [0u8; 256];
        assert_eq!(
            encode(h, &params, Scalar::F32, &mut out),
            Err(FormatError::Core(Error::NotADensity))
        );
    };
    // eps 2 (with constants for it: the rule is checked before the constants).
    let two = Constraint::new(Bound::Equal, Method::Scale, 2.0);
    not(&ModelHeader {
        constraint: Some(two),
        constants: Resolved::scaled(header.constants.scale * 2.0),
        ..header
    });
    not(&ModelHeader {
        constraint: None,
        constants: Resolved::scaled(1.0),
        ..header
    });
    not(&ModelHeader {
        constraint: Some(Constraint::new(Bound::AtMost, Method::Scale, 1.0)),
        ..header
    });
    not(&ModelHeader {
        kind: Kind::Signed,
        constraint: Some(Constraint::new(Bound::Equal, Method::Shift, 1.0)),
        constants: Resolved {
            scale: 1.0,
            gap: 0.5,
            gap_low: 0.0,
        },
        ..header
    });
    // The same rule on the wire: eps 2 written by hand, the CRC fixed.
    let mut bytes = blob(&header, &params, Scalar::F32);
    let eps_at = 6 + 1 + 1 + 1 + 1 + 2 + 9 + 9 + 3;
    assert_eq!(&bytes[eps_at..eps_at + 8], &1.0f64.to_le_bytes());
    bytes[eps_at..eps_at + 8].copy_from_slice(&2.0f64.to_le_bytes());
    let n = bytes.len() - 4;
    let crc = crc32(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    for e in [
        decode(&bytes).unwrap_err(),
        decode_density(&bytes).unwrap_err(),
        decode_any(&bytes).unwrap_err(),
    ] {
        assert_eq!(e, FormatError::Core(Error::NotADensity));
    }
    // A payload past the density is unknown.
    bytes[6] = 3;
    let crc = crc32(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(decode_any(&bytes).unwrap_err(), FormatError::Malformed);
}

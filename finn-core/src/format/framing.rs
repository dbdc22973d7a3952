//! The envelope around every body: magic, format version and the CRC-32 trailer (the first and
//! last rows of the byte layout in the module documentation), written and checked.

use serde::Serialize;

use super::{FormatError, CRC_LEN, MAGIC, MIN_LEN, PREFIX_LEN, VERSION};

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The CRC-32/ISO-HDLC checksum the blob's trailer holds (the CRC of zip, PNG and Ethernet).
///
/// ```
/// assert_eq!(finn_core::format::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// Writes magic, version, `body` and the CRC into `out[..needed]`; `needed` is the exact
/// length of the blob (from the matching `*encoded_len`).
pub(super) fn write_blob<B: Serialize>(
    body: &B,
    needed: usize,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let capacity = out.len();
    let too_small = FormatError::BufferTooSmall { needed, capacity };
    let body_end = needed.checked_sub(CRC_LEN).ok_or(too_small)?;
    let framed = out.get_mut(..body_end).ok_or(too_small)?;
    if framed.len() < PREFIX_LEN {
        return Err(too_small);
    }
    let (prefix, body_out) = framed.split_at_mut(PREFIX_LEN);
    let [m0, m1, m2, m3] = MAGIC;
    let [v0, v1] = VERSION.to_le_bytes();
    for (o, b) in prefix.iter_mut().zip([m0, m1, m2, m3, v0, v1]) {
        *o = b;
    }
    postcard::to_slice(body, body_out).map_err(|_| too_small)?;
    let crc = crc32(out.get(..body_end).ok_or(too_small)?);
    let trailer = out.get_mut(body_end..needed).ok_or(too_small)?;
    for (o, b) in trailer.iter_mut().zip(crc.to_le_bytes()) {
        *o = b;
    }
    Ok(needed)
}

/// The length of a blob whose body, without the parameter values, is `fields` (measured) and
/// whose parameters take `param_bytes` bytes.
pub(super) fn blob_len<B: Serialize>(fields: &B, param_bytes: usize) -> Result<usize, FormatError> {
    let fields = postcard::serialize_with_flavor(fields, postcard::ser_flavors::Size::default())
        .map_err(|_| FormatError::TooLarge)?;
    fields
        .checked_add(param_bytes)
        .and_then(|len| len.checked_add(MIN_LEN))
        .ok_or(FormatError::TooLarge)
}

/// Checks length, magic, version and CRC, and returns the body bytes.
pub(super) fn unframe(bytes: &[u8]) -> Result<&[u8], FormatError> {
    let len = bytes.len();
    let (framed, trailer) = match len.checked_sub(CRC_LEN) {
        Some(cut) if len >= MIN_LEN => bytes.split_at(cut),
        _ => return Err(FormatError::Truncated { len }),
    };
    let (m0, m1, m2, m3, v0, v1, body_bytes) = match framed {
        [m0, m1, m2, m3, v0, v1, body @ ..] => (*m0, *m1, *m2, *m3, *v0, *v1, body),
        _ => return Err(FormatError::Truncated { len }),
    };
    if [m0, m1, m2, m3] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = u16::from_le_bytes([v0, v1]);
    if version != VERSION {
        return Err(FormatError::UnsupportedVersion { found: version });
    }
    let stored = match trailer {
        [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => return Err(FormatError::Truncated { len }),
    };
    let computed = crc32(framed);
    if stored != computed {
        return Err(FormatError::CrcMismatch { stored, computed });
    }
    Ok(body_bytes)
}

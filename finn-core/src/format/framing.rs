//! The envelope around every body: magic, format version and the CRC-32 trailer (the first and
//! last rows of the byte layout in the module documentation), written and checked.

use super::wire::{Counter, SliceSink};
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

/// Writes magic, version, the body that `body` writes, and the CRC into `out[..needed]`;
/// `needed` is the exact length of the blob (from the matching `*encoded_len`). Nothing is
/// written when `out` is shorter than that.
pub(super) fn write_blob(
    needed: usize,
    out: &mut [u8],
    body: impl FnOnce(&mut SliceSink<'_>),
) -> Result<usize, FormatError> {
    let capacity = out.len();
    let too_small = FormatError::BufferTooSmall { needed, capacity };
    let blob = out.get_mut(..needed).ok_or(too_small)?;
    let body_end = needed.checked_sub(CRC_LEN).ok_or(too_small)?;
    let (framed, trailer) = blob.split_at_mut_checked(body_end).ok_or(too_small)?;
    let (prefix, body_out) = framed.split_at_mut_checked(PREFIX_LEN).ok_or(too_small)?;
    let [m0, m1, m2, m3] = MAGIC;
    let [v0, v1] = VERSION.to_le_bytes();
    prefix.copy_from_slice(&[m0, m1, m2, m3, v0, v1]);
    let mut sink = SliceSink::new(body_out);
    body(&mut sink);
    // `needed` was measured from the same fields, so the body fills its part exactly.
    if sink.overflow || sink.len != body_out_len(needed) {
        return Err(too_small);
    }
    trailer.copy_from_slice(&crc32(framed).to_le_bytes());
    Ok(needed)
}

/// The body's part of a blob of `needed` bytes.
fn body_out_len(needed: usize) -> usize {
    needed.saturating_sub(MIN_LEN)
}

/// The length of a blob whose body, without the parameter values, is what `fields` writes
/// (measured) and whose parameters take `param_bytes` bytes.
pub(super) fn blob_len(
    fields: impl FnOnce(&mut Counter),
    param_bytes: usize,
) -> Result<usize, FormatError> {
    let mut counter = Counter::default();
    fields(&mut counter);
    counter
        .len
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

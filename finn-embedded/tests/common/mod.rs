//! Blob mutations shared by the players' hostile-input tests.

/// Recomputes a framed blob's CRC trailer, so a mutation reaches the checks past the CRC.
pub fn fix_crc(bytes: &mut [u8]) {
    if bytes.len() >= 10 {
        let n = bytes.len() - 4;
        let crc = finn_core::format::crc32(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Applies edits (position, value, operation): 0 flips a bit, 1 overwrites a byte, 2 inserts
/// a byte, 3 truncates.
pub fn mutate(bytes: &mut Vec<u8>, edits: &[(usize, u8, u8)]) {
    for &(at, value, op) in edits {
        let len = bytes.len();
        match op {
            0 if len > 0 => bytes[at % len] ^= 1 << (value % 8),
            1 if len > 0 => bytes[at % len] = value,
            2 => bytes.insert(at % (len + 1), value),
            _ => bytes.truncate(at % (len + 1)),
        }
    }
}

//! Shape checks common to both payloads: the hidden layers, their widths, the parameter count.

use super::{FormatError, MAX_LAYERS, MAX_WIDTH};

/// [`crate::parameter_count`] without overflow: `None` when it does not fit in `usize`.
pub(super) fn checked_parameter_count(n: usize, widths: &[usize]) -> Option<usize> {
    let mut count = 0usize;
    let mut fan_in = n;
    for &w in widths {
        count = count.checked_add(w.checked_mul(fan_in)?.checked_add(w)?)?;
        fan_in = w;
    }
    count.checked_add(fan_in)
}

/// 1..=[`MAX_LAYERS`] widths, each in 1..=[`MAX_WIDTH`].
// Not inlined: one copy for the decoders and the header checks, rather than a copy unrolled
// into each.
#[inline(never)]
pub(super) fn check_widths(widths: &[usize]) -> Result<(), FormatError> {
    if widths.is_empty() || widths.len() > MAX_LAYERS {
        return Err(FormatError::BadLayers {
            layers: widths.len(),
        });
    }
    for (layer, &width) in widths.iter().enumerate() {
        if width == 0 || width > MAX_WIDTH {
            return Err(FormatError::BadWidth { layer, width });
        }
    }
    Ok(())
}

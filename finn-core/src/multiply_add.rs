//! The multiply-adds of a hidden layer's time jets, four rows at a time, in Cortex-M4F
//! assembly.
//!
//! A trajectory sample spends a third of its instructions in these sums. Compiled from Rust,
//! each weight and each input coefficient is its own `vldr` (81 instructions for 48
//! multiply-adds); here one `vldmia` brings four inputs' jets and one a row's four weights
//! (55 for the same 48). Each sum still adds its terms in input order with the product
//! rounded first (`vmla.f32` is not fused), so the result is bit for bit that of
//! `sum += w * x` in Rust, on the host as on the device; the QEMU tests check it.
//!
//! This is finn-core's only `unsafe` code: one `asm!` block that reads only the slices it is
//! given, writes only its own sums, and restores every FPU register it uses.

/// The sums of a block of four hidden units' time jets over all their inputs:
/// `sums[r][0] = biases[r] + sum_j rows[r][j] * inputs[j][0]` and
/// `sums[r][o] = 0 + sum_j rows[r][j] * inputs[j][o]` for o > 0, each added in input order;
/// `None` where nothing is accelerated (anything but a Cortex-M4F with K = 3, the
/// trajectories' position, velocity and acceleration) or a row is shorter than the inputs,
/// and the caller computes them.
#[inline(always)]
pub(crate) fn block_sums_f32<const K: usize>(
    biases: &[f32],
    rows: [&[f32]; 4],
    inputs: &[[f32; K]],
) -> Option<[[f32; K]; 4]> {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    if K == 3 {
        return cortex_m4f::block_sums(biases, rows, inputs);
    }
    let _ = (biases, rows, inputs);
    None
}

#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
mod cortex_m4f {
    use core::mem::{size_of, MaybeUninit};

    /// [`super::block_sums_f32`] for K = 3: four inputs at a time, then the last one to three
    /// one at a time.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(super) fn block_sums<const K: usize>(
        biases: &[f32],
        rows: [&[f32]; 4],
        inputs: &[[f32; K]],
    ) -> Option<[[f32; K]; 4]> {
        let n = inputs.len();
        let (groups, rest) = (n / 4, n % 4);
        if K != 3
            || size_of::<[[f32; K]; 4]>() != 48
            || biases.len() < 4
            || rows.iter().any(|row| row.len() < n)
        {
            return None;
        }
        let mut sums = MaybeUninit::<[[f32; K]; 4]>::uninit();
        // SAFETY: reads biases[0..4] (checked above). The first loop runs `groups` times;
        // each time it reads 12 floats from the inputs pointer (four inputs' jets of K = 3,
        // contiguous in `[[f32; 3]]`) and 4 from each row pointer, then advances them past
        // what it read; the second loop `rest` times, 3 floats and 1 from each row. In all
        // n = 4 groups + rest = inputs.len() <= each row's length, so every read is
        // inside the slices. It writes the 12 sums, all 48 bytes of `sums` (K = 3, checked above). The
        // FPU registers it uses are pushed first and popped last (this compiler cannot name
        // them as operands on this target; rust-lang/rust #159988 lifted that after 1.95),
        // so besides `sums` it changes only the pointer copies and the flags.
        unsafe {
            core::arch::asm!(
                "vpush {{s0-s27}}",
                // Each sum starts as Rust's does, at (bias, 0, 0): 0 + w x is +0 where w x
                // is -0, so starting at the first product would change the sign of a zero.
                "vldr s0, [{b}]",
                "vldr s3, [{b}, #4]",
                "vldr s6, [{b}, #8]",
                "vldr s9, [{b}, #12]",
                "vmov s1, {z}",
                "vmov s2, {z}",
                "vmov s4, {z}",
                "vmov s5, {z}",
                "vmov s7, {z}",
                "vmov s8, {z}",
                "vmov s10, {z}",
                "vmov s11, {z}",
                "cmp {n}, #0",
                "beq 3f",
                "2:",
                "vldmia {x}!, {{s12-s23}}",
                "vldmia {w0}!, {{s24-s27}}",
                "vmla.f32 s0, s24, s12",
                "vmla.f32 s1, s24, s13",
                "vmla.f32 s2, s24, s14",
                "vmla.f32 s0, s25, s15",
                "vmla.f32 s1, s25, s16",
                "vmla.f32 s2, s25, s17",
                "vmla.f32 s0, s26, s18",
                "vmla.f32 s1, s26, s19",
                "vmla.f32 s2, s26, s20",
                "vmla.f32 s0, s27, s21",
                "vmla.f32 s1, s27, s22",
                "vmla.f32 s2, s27, s23",
                "vldmia {w1}!, {{s24-s27}}",
                "vmla.f32 s3, s24, s12",
                "vmla.f32 s4, s24, s13",
                "vmla.f32 s5, s24, s14",
                "vmla.f32 s3, s25, s15",
                "vmla.f32 s4, s25, s16",
                "vmla.f32 s5, s25, s17",
                "vmla.f32 s3, s26, s18",
                "vmla.f32 s4, s26, s19",
                "vmla.f32 s5, s26, s20",
                "vmla.f32 s3, s27, s21",
                "vmla.f32 s4, s27, s22",
                "vmla.f32 s5, s27, s23",
                "vldmia {w2}!, {{s24-s27}}",
                "vmla.f32 s6, s24, s12",
                "vmla.f32 s7, s24, s13",
                "vmla.f32 s8, s24, s14",
                "vmla.f32 s6, s25, s15",
                "vmla.f32 s7, s25, s16",
                "vmla.f32 s8, s25, s17",
                "vmla.f32 s6, s26, s18",
                "vmla.f32 s7, s26, s19",
                "vmla.f32 s8, s26, s20",
                "vmla.f32 s6, s27, s21",
                "vmla.f32 s7, s27, s22",
                "vmla.f32 s8, s27, s23",
                "vldmia {w3}!, {{s24-s27}}",
                "vmla.f32 s9, s24, s12",
                "vmla.f32 s10, s24, s13",
                "vmla.f32 s11, s24, s14",
                "vmla.f32 s9, s25, s15",
                "vmla.f32 s10, s25, s16",
                "vmla.f32 s11, s25, s17",
                "vmla.f32 s9, s26, s18",
                "vmla.f32 s10, s26, s19",
                "vmla.f32 s11, s26, s20",
                "vmla.f32 s9, s27, s21",
                "vmla.f32 s10, s27, s22",
                "vmla.f32 s11, s27, s23",
                "subs {n}, {n}, #1",
                "bne 2b",
                // The last inputs one at a time.
                "3:",
                "cmp {m}, #0",
                "beq 5f",
                "4:",
                "vldmia {x}!, {{s12-s14}}",
                "vldmia {w0}!, {{s24}}",
                "vldmia {w1}!, {{s25}}",
                "vldmia {w2}!, {{s26}}",
                "vldmia {w3}!, {{s27}}",
                "vmla.f32 s0, s24, s12",
                "vmla.f32 s1, s24, s13",
                "vmla.f32 s2, s24, s14",
                "vmla.f32 s3, s25, s12",
                "vmla.f32 s4, s25, s13",
                "vmla.f32 s5, s25, s14",
                "vmla.f32 s6, s26, s12",
                "vmla.f32 s7, s26, s13",
                "vmla.f32 s8, s26, s14",
                "vmla.f32 s9, s27, s12",
                "vmla.f32 s10, s27, s13",
                "vmla.f32 s11, s27, s14",
                "subs {m}, {m}, #1",
                "bne 4b",
                "5:",
                "vstmia {sums}, {{s0-s11}}",
                "vpop {{s0-s27}}",
                sums = in(reg) sums.as_mut_ptr(),
                b = in(reg) biases.as_ptr(),
                z = in(reg) 0u32,
                x = inout(reg) inputs.as_ptr() => _,
                w0 = inout(reg) rows[0].as_ptr() => _,
                w1 = inout(reg) rows[1].as_ptr() => _,
                w2 = inout(reg) rows[2].as_ptr() => _,
                w3 = inout(reg) rows[3].as_ptr() => _,
                n = inout(reg) groups => _,
                m = inout(reg) rest => _,
            );
        }
        // SAFETY: the block above wrote all of `sums`.
        Some(unsafe { sums.assume_init() })
    }
}

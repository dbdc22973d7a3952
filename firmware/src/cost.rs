//! What the workload costs on the device: time from SysTick, stack from the painted stack.
//!
//! Under QEMU's `-icount shift=0` every guest instruction advances virtual time by 1 ns, and
//! SysTick runs on the 25 MHz core clock of `mps2-an386`, so one tick is 40 instructions and
//! tick counts are deterministic.

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::{syst::SystClkSource, SCB, SYST};
use cortex_m_rt::exception;

/// Guest instructions per SysTick tick under `-icount shift=0` on the 25 MHz core clock.
pub const INSTRUCTIONS_PER_TICK: u32 = 40;

/// SysTick's reload value: the counter's full 24-bit range.
const RELOAD: u32 = 0x00FF_FFFF;

/// Ticks between two SysTick exceptions.
const PERIOD: u64 = RELOAD as u64 + 1;

/// How many times the 24-bit counter has wrapped (counted by the SysTick exception).
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// A free-running tick counter: SysTick counting down on the core clock, widened to 64 bits by
/// counting its wraps.
pub struct Clock {
    _syst: SYST,
}

impl Clock {
    /// Starts SysTick from its full reload value, with an exception on every wrap.
    pub fn start(mut syst: SYST) -> Self {
        syst.disable_counter();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        // Clearing the counter can make the emulated SysTick report a wrap (a pending
        // exception) right away: wait for the first reload, then start the count from a
        // clean state, so the first reading is not one wrap ahead.
        while SYST::get_current() == 0 {}
        cortex_m::interrupt::free(|_| {
            SCB::clear_pendst();
            WRAPS.store(0, Ordering::Relaxed);
        });
        Clock { _syst: syst }
    }

    /// Ticks since [`Clock::start`].
    pub fn now(&self) -> u64 {
        now()
    }
}

/// Ticks since [`Clock::start`] (which `main` calls first), for a workload that times the
/// parts of its run itself. Only the SysTick registers are read, so no [`Clock`] is needed.
#[allow(dead_code)] // Used by the workloads that time their phases.
pub fn now() -> u64 {
    cortex_m::interrupt::free(|_| {
        let mut wraps = WRAPS.load(Ordering::Relaxed);
        let mut current = SYST::get_current();
        if SCB::is_pendst_pending() {
            // The counter wrapped but its exception has not run yet (interrupts are masked
            // here): count that wrap, and read the counter again, now surely after it.
            wraps += 1;
            current = SYST::get_current();
        }
        u64::from(wraps) * PERIOD + u64::from(RELOAD - current)
    })
}

/// The deepest the stack has been since reset, in bytes.
///
/// cortex-m-rt's `paint-stack` feature fills the whole stack region, from `_stack_end` up to
/// `_stack_start`, with [`cortex_m_rt::STACK_PAINT_VALUE`] before `main`. The stack grows down,
/// so the lowest word that no longer holds the paint marks the high-water mark.
pub fn stack_high_water_bytes() -> usize {
    extern "C" {
        static _stack_end: u32;
        static _stack_start: u32;
    }
    // SAFETY: only the symbols' addresses are taken; the linker script defines both, with
    // `_stack_end <= _stack_start`, both word-aligned, and every word between them is RAM.
    unsafe {
        let bottom = core::ptr::addr_of!(_stack_end);
        let top = core::ptr::addr_of!(_stack_start);
        let mut word = bottom;
        while word < top && word.read_volatile() == cortex_m_rt::STACK_PAINT_VALUE {
            word = word.add(1);
        }
        top as usize - word as usize
    }
}

/// Paints the stack again from its bottom up to a little below the current stack pointer, so
/// that a later [`stack_high_water_bytes`] measures the deepest point reached *after* this call
/// (still counted from the top of the stack, so the frames of the callers are included).
#[inline(never)]
pub fn repaint_stack() {
    /// Bytes left untouched just below the stack pointer (this function's own frame lies above
    /// it; the margin is slack).
    const MARGIN: usize = 64;
    extern "C" {
        static _stack_end: u32;
    }
    let sp = cortex_m::register::msp::read() as usize;
    // SAFETY: the words from `_stack_end` up to `sp - MARGIN` are stack RAM below every live
    // frame (the stack grows down and this function calls nothing while painting); an
    // exception taken meanwhile pushes its frame below `sp` and is finished before the loop
    // continues, so overwriting that dead frame afterwards is harmless.
    unsafe {
        let mut word = core::ptr::addr_of!(_stack_end) as usize;
        let limit = sp.saturating_sub(MARGIN) & !3;
        while word < limit {
            (word as *mut u32).write_volatile(cortex_m_rt::STACK_PAINT_VALUE);
            word += 4;
        }
    }
}

//! Plays a finn trajectory on a Cortex-M4F board at a fixed rate, from a blob embedded in
//! flash. Board-independent: it uses only the core's SysTick timer, so it runs on any
//! Cortex-M4F once `memory.x` and [`CORE_CLOCK_HZ`] are your chip's (see `README.md`).
//!
//! 1. At build time, `build.rs` checks the blob and writes the `Player` type sized exactly for
//!    it (module [`blob`]): a blob that does not fit is a build error, not a run-time one.
//! 2. At start-up, the player is loaded in place into a static in `.bss`: nothing the size of
//!    the player (4 KiB for the blob shipped here) is built on the stack, and nothing is
//!    allocated.
//! 3. Every SysTick period (1 / [`RATE_HZ`]), the trajectory is sampled at the next time and
//!    [`on_setpoint`] receives position, velocity and acceleration: plug your motor driver
//!    there. After the end time T the end state is held, at rest.

#![no_std]
#![no_main]

use core::panic::PanicInfo;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::entry;
use finn_embedded::{Kinematics, LoadError};

/// The blob and its player, written by `build.rs` (`finn_embedded::build`): `BLOB`, `Player`,
/// the capacity `D`, `W`, `L`, `V` and `PLAYER_BYTES`.
mod blob {
    include!(concat!(env!("OUT_DIR"), "/finn_player.rs"));
}

/// The core clock that SysTick counts, in Hz. ADAPT: your chip's core clock after your clock
/// set-up (16 MHz is the reset clock of many STM32s; nothing here changes the clock).
const CORE_CLOCK_HZ: u32 = 16_000_000;
/// Samples per second: the rate at which setpoints are sent.
const RATE_HZ: u32 = 100;
/// SysTick counts from this value down to 0, then wraps: one period is RELOAD + 1 core cycles.
const RELOAD: u32 = CORE_CLOCK_HZ / RATE_HZ - 1;
// SysTick's counter has 24 bits: a slower rate needs a prescaled clock.
const _: () = assert!(
    RELOAD >= 1 && RELOAD <= 0x00FF_FFFF,
    "RATE_HZ out of SysTick's range"
);
// The RAM that `cargo xtask inspect` reports for this blob is the player's size here.
const _: () = assert!(core::mem::size_of::<blob::Player>() == blob::PLAYER_BYTES);

/// A setpoint: position, velocity and acceleration of each of the `D` coordinates.
type Setpoint = Kinematics<f32, { blob::D }>;

#[entry]
fn main() -> ! {
    // cortex-m-rt turns a `static mut` declared first in the entry function into a
    // `&'static mut` (the entry runs once), without `unsafe`. The unloaded player is all
    // zeros, so it lives in `.bss`; `reload` checks the blob and writes the weights straight
    // into it.
    static mut PLAYER: blob::Player = blob::Player::unloaded();
    let player: &'static mut blob::Player = PLAYER;
    if let Err(e) = player.reload(blob::BLOB) {
        on_load_error(e);
    }
    let player: &'static blob::Player = player;

    let Some(core) = cortex_m::Peripherals::take() else {
        // Taken once, here; a second take is impossible in this firmware.
        halt();
    };
    let mut systick = core.SYST;
    start_systick(&mut systick);

    let (t0, t1) = player.interval();
    let mut k: u32 = 0;
    loop {
        // Time of sample k, computed afresh (no accumulated rounding); clamped to T, where
        // the player gives the end state exactly, bit for bit.
        let t = (t0 + k as f32 / RATE_HZ as f32).min(t1);
        match player.kinematics(t) {
            Ok(setpoint) => on_setpoint(t, &setpoint),
            // Not expected: every sample in [t0, T] was proved finite when the blob loaded.
            Err(_) => halt(),
        }
        k = k.saturating_add(1);
        // Wait for the end of this period.
        while !systick.has_wrapped() {}
    }
}

/// SysTick on the core clock, wrapping every 1 / [`RATE_HZ`] s; no interrupt (polled).
fn start_systick(systick: &mut SYST) {
    systick.set_clock_source(SystClkSource::Core);
    systick.set_reload(RELOAD);
    systick.clear_current();
    systick.enable_counter();
}

/// Called once per period with the trajectory's state at time `t` (seconds from the blob's
/// t0 on; each array has one entry per coordinate).
///
/// PLUG YOUR MOTOR DRIVER HERE: convert `setpoint.position` (and, for a feed-forward
/// controller, `setpoint.velocity` and `setpoint.acceleration`) into your actuator's units
/// and write them, for example as PWM duty cycles, step rates or CAN messages.
#[inline(never)]
fn on_setpoint(t: f32, setpoint: &Setpoint) {
    // Stands in for the driver: keeps the computation from being optimised away.
    core::hint::black_box((t, setpoint));
}

/// The blob did not load: `e` says why (a capacity error cannot happen here, since the player
/// was sized from this very blob). ADAPT: report it your way (a LED, a UART, defmt) and keep
/// the actuators off.
fn on_load_error(e: LoadError) -> ! {
    core::hint::black_box(e);
    halt()
}

/// Stops here for good. ADAPT: put the actuators in a safe state first.
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// finn-embedded never panics; this handler is for the rest of the firmware. ADAPT: make the
/// actuators safe, or use a crate such as `panic-halt` or `panic-probe`.
#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    halt()
}

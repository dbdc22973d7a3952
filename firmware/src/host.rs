//! Talking to the host through semihosting: line output and the exit status of QEMU.

use core::fmt::{self, Write};
use core::panic::PanicInfo;
use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};

/// The longest line [`Out::line`] writes; longer lines are a bug and fail the run. A sample
/// line of a 6-D trajectory (index, time and 24 words of 11 characters) fits.
const LINE_CAPACITY: usize = 320;

/// Line-oriented output to the host's standard output, one semihosting call per line.
pub struct Out {
    stream: hio::HostStream,
}

impl Out {
    /// Opens the host's standard output; fails the run when semihosting is unavailable.
    pub fn stdout() -> Self {
        match hio::hstdout() {
            Ok(stream) => Out { stream },
            Err(()) => exit_failure(),
        }
    }

    /// Writes `args` and a newline as one line.
    pub fn line(&mut self, args: fmt::Arguments) {
        self.emit(|line| line.write_fmt(args));
    }

    /// Writes one line composed by `compose` (several `write!`s), and a newline.
    pub fn emit(&mut self, compose: impl FnOnce(&mut LineBuffer) -> fmt::Result) {
        let mut line = LineBuffer {
            bytes: [0; LINE_CAPACITY],
            len: 0,
        };
        if compose(&mut line).is_err() || line.write_str("\n").is_err() {
            panic!("output line longer than {LINE_CAPACITY} bytes");
        }
        if self.stream.write_all(&line.bytes[..line.len]).is_err() {
            exit_failure();
        }
    }
}

/// A fixed-capacity line being formatted.
pub struct LineBuffer {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
}

impl Write for LineBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Ends the QEMU session with a success status.
pub fn exit_success() -> ! {
    loop {
        debug::exit(debug::EXIT_SUCCESS);
    }
}

/// Ends the QEMU session with a failure status.
pub fn exit_failure() -> ! {
    loop {
        debug::exit(debug::EXIT_FAILURE);
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    if let Ok(mut err) = hio::hstderr() {
        let _ = writeln!(err, "panic: {info}");
    }
    exit_failure()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    if let Ok(mut err) = hio::hstderr() {
        let _ = writeln!(err, "hard fault: {frame:?}");
    }
    exit_failure()
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if let Ok(mut err) = hio::hstderr() {
        let _ = writeln!(err, "unexpected exception or interrupt {irqn}");
    }
    exit_failure()
}

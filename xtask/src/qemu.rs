//! The emulated device: building the firmware, running it under QEMU, reading what it reports.
//!
//! This is the one runner for the device. `cargo xtask device` uses it through [`device`], and
//! the device tests in `finn-tests` call [`build_firmware_with`] and [`run`] directly.
//!
//! The firmware plays back a trajectory blob embedded at build time ([`FirmwareOptions::blob`],
//! by default `firmware/blobs/default.postcard`) and prints every sample's `f32` bit patterns
//! ([`Run::samples`]), or the typed load error ([`Run::load_error`]) when the blob does not load.
//!
//! The firmware (`firmware/`, a workspace of its own) is built in release for
//! [`DEVICE_TARGET`] and run on QEMU's `mps2-an386` machine with a Cortex-M4 and
//! `-icount shift=0`, so every guest instruction is 1 ns of virtual time and the tick counts the
//! firmware reports are deterministic. The firmware writes one record per line,
//! `<key> <field>...`, through semihosting, and ends QEMU through semihosting with a success
//! status (or a failure status on a panic or fault).

use crate::setup::{self, DEVICE_TARGET};
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// The QEMU machine: ARM's MPS2 board with the AN386 (Cortex-M4) FPGA image.
pub const MACHINE: &str = "mps2-an386";

/// The QEMU CPU model.
pub const CPU: &str = "cortex-m4";

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-arm";

/// How long [`run`] lets QEMU run by default before it kills it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Guest instructions per SysTick tick: `-icount shift=0` makes an instruction 1 ns, and SysTick
/// counts the 25 MHz core clock, 40 ns a tick.
pub const INSTRUCTIONS_PER_TICK: u64 = 40;

/// The firmware's package name, which is also its executable's name.
const FIRMWARE_PACKAGE: &str = "finn-firmware";

/// The command that installs what the device needs, named in errors when something is missing.
const SETUP_HINT: &str = "run `cargo xtask setup` to install it";

/// The root of the repository (the host workspace).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits one level below the workspace root")
        .to_path_buf()
}

/// The firmware crate's directory.
pub fn firmware_dir() -> PathBuf {
    workspace_root().join("firmware")
}

/// Where the firmware is built. It is always this directory, whatever `CARGO_TARGET_DIR` says,
/// so a build started from inside another cargo command never waits on that command's lock.
pub fn firmware_target_dir() -> PathBuf {
    firmware_dir().join("target")
}

/// The cargo that invoked us (so toolchain overrides carry through), or `cargo` on PATH.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Fails, naming `cargo xtask setup`, unless the device target's standard library is installed.
pub fn check_device_target() -> Result<()> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // Asked from the firmware's directory: that is where its build resolves the toolchain.
    let out = Command::new(rustc)
        .current_dir(firmware_dir())
        .args(["--print", "sysroot"])
        .output()
        .context("running `rustc --print sysroot`")?;
    ensure!(out.status.success(), "`rustc --print sysroot` failed");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let target_lib = sysroot.join("lib/rustlib").join(DEVICE_TARGET);
    if !target_lib.is_dir() {
        bail!(
            "the Rust target {DEVICE_TARGET} is not installed (no {}); {SETUP_HINT}",
            target_lib.display()
        );
    }
    Ok(())
}

/// Fails, naming `cargo xtask setup`, unless `qemu-system-arm` is on PATH.
pub fn check_qemu() -> Result<()> {
    if !setup::which(QEMU) {
        bail!("{QEMU} is not on PATH; {SETUP_HINT}");
    }
    Ok(())
}

/// The trajectory blob the firmware embeds by default.
pub fn default_blob_path() -> PathBuf {
    firmware_dir().join("blobs/default.postcard")
}

/// What to build into the firmware (see `firmware/build.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirmwareOptions {
    /// The blob to embed; `None` for [`default_blob_path`].
    pub blob: Option<PathBuf>,
    /// The player's capacity `[D, W, L, V]`; `None` to size it from the blob.
    pub capacity: Option<[usize; 4]>,
    /// Samples played (N); `None` for the firmware's default, 64.
    pub samples: Option<usize>,
    /// Build the `baseline` variant: the same firmware without the player.
    pub baseline: bool,
}

/// Serialises firmware builds in this process: every variant is built in the same target
/// directory, then copied out under its own name before the next build starts.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Builds the default firmware (the default blob) in release; returns the path of its ELF
/// file. See [`build_firmware_with`].
pub fn build_firmware() -> Result<PathBuf> {
    build_firmware_with(&FirmwareOptions::default(), "default")
}

/// Builds the firmware in release for the device with `options` and returns the path of a
/// copy of its ELF file named after `label` (`firmware/target/variants/<label>.elf`), so that
/// builds of other variants do not replace it.
///
/// Fails with a message naming `cargo xtask setup` when the target is missing, and with
/// cargo's output when the build fails.
pub fn build_firmware_with(options: &FirmwareOptions, label: &str) -> Result<PathBuf> {
    check_device_target()?;
    ensure!(
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "firmware label {label:?}: use letters, digits, '-' and '_'"
    );
    let target_dir = firmware_target_dir();
    let mut cmd = Command::new(cargo());
    cmd.current_dir(firmware_dir())
        .args([
            "build",
            "--release",
            "--target",
            DEVICE_TARGET,
            "--target-dir",
        ])
        .arg(&target_dir)
        // Flags meant for a host build (say `-C target-cpu=native`) must not reach this one;
        // the firmware's own flags come from its build script.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .stdin(Stdio::null());
    if options.baseline {
        cmd.args(["--features", "baseline"]);
    }
    // Every build variable is set or removed explicitly, so the caller's environment never
    // leaks into a build.
    let blob = match &options.blob {
        Some(path) => {
            std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?
        }
        None => default_blob_path(),
    };
    ensure!(blob.is_file(), "the blob {} does not exist", blob.display());
    cmd.env("FINN_BLOB", &blob);
    match options.capacity {
        Some([d, w, l, v]) => cmd.env("FINN_CAPACITY", format!("{d},{w},{l},{v}")),
        None => cmd.env_remove("FINN_CAPACITY"),
    };
    match options.samples {
        Some(n) => cmd.env("FINN_SAMPLES", n.to_string()),
        None => cmd.env_remove("FINN_SAMPLES"),
    };
    // A test that panicked while holding the lock leaves no half-done state behind: the lock
    // only orders builds.
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "building the firmware failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let elf = target_dir
        .join(DEVICE_TARGET)
        .join("release")
        .join(FIRMWARE_PACKAGE);
    ensure!(
        elf.is_file(),
        "the firmware build succeeded but {} is missing",
        elf.display()
    );
    let variants = target_dir.join("variants");
    std::fs::create_dir_all(&variants)
        .with_context(|| format!("creating {}", variants.display()))?;
    let copy = variants.join(format!("{label}.elf"));
    std::fs::copy(&elf, &copy)
        .with_context(|| format!("copying {} to {}", elf.display(), copy.display()))?;
    Ok(copy)
}

/// The QEMU arguments that run `elf` on the emulated device, after the program name.
pub fn qemu_args(elf: &Path) -> Vec<String> {
    [
        "-machine",
        MACHINE,
        "-cpu",
        CPU,
        "-nographic",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
    ]
    .iter()
    .map(ToString::to_string)
    .chain([elf.display().to_string()])
    .collect()
}

/// The full QEMU command line for `elf`, for reports and error messages.
pub fn qemu_command_line(elf: &Path) -> String {
    std::iter::once(QEMU.to_string())
        .chain(qemu_args(elf))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One finished QEMU session.
#[derive(Debug)]
pub struct Run {
    /// QEMU's exit status: success exactly when the firmware exited through semihosting with
    /// success.
    pub status: ExitStatus,
    /// Everything the firmware wrote to standard output.
    pub stdout: String,
    /// Everything written to standard error (firmware panic messages, QEMU's own errors).
    pub stderr: String,
    /// Wall-clock time of the session (host time: not a cost figure).
    pub wall_time: Duration,
}

/// One output line of the firmware: a key and its whitespace-separated fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The first word of the line.
    pub key: &'a str,
    /// The remaining words.
    pub fields: Vec<&'a str>,
}

impl Run {
    /// Every non-empty output line as a [`Record`], in order.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.stdout.lines().filter_map(|line| {
            let mut words = line.split_whitespace();
            let key = words.next()?;
            Some(Record {
                key,
                fields: words.collect(),
            })
        })
    }

    /// The records with the given key.
    pub fn records_with_key<'a>(&'a self, key: &'a str) -> impl Iterator<Item = Record<'a>> {
        self.records().filter(move |r| r.key == key)
    }

    /// The single field of the one record with this key, e.g. `ticks 1234`.
    pub fn field(&self, key: &str) -> Result<&str> {
        let mut found = self.records().filter(|r| r.key == key);
        let record = found
            .next()
            .with_context(|| format!("the firmware reported no `{key}` line"))?;
        ensure!(
            found.next().is_none(),
            "the firmware reported more than one `{key}` line"
        );
        match record.fields.as_slice() {
            [value] => Ok(value),
            _ => bail!("the `{key}` line has {} fields, not 1", record.fields.len()),
        }
    }

    /// The single decimal number of the one record with this key.
    pub fn number(&self, key: &str) -> Result<u64> {
        let value = self.field(key)?;
        value
            .parse()
            .with_context(|| format!("`{key} {value}`: not a decimal number"))
    }

    /// Fails, with QEMU's output, unless QEMU exited with success after the firmware's final
    /// `done` line.
    pub fn check_success(&self) -> Result<()> {
        let done = self.records().last().is_some_and(|r| r.key == "done");
        if !self.status.success() || !done {
            bail!(
                "the firmware did not finish cleanly (QEMU {}, final `done` line {}).\n\
                 stdout:\n{}\nstderr:\n{}",
                self.status,
                if done { "present" } else { "missing" },
                self.stdout,
                self.stderr
            );
        }
        Ok(())
    }

    /// The text of the firmware's `load error: <message>` line, if it printed one.
    pub fn load_error(&self) -> Option<&str> {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix("load error: "))
    }

    /// Fails, with QEMU's output, unless the firmware reported a load error and QEMU exited
    /// with a failure status through semihosting, with no panic or fault on the way. Returns
    /// the error's text.
    pub fn check_load_error(&self) -> Result<&str> {
        let faulted = ["panic", "hard fault", "unexpected exception"]
            .iter()
            .any(|word| self.stderr.contains(word));
        match self.load_error() {
            Some(message) if !self.status.success() && !faulted => Ok(message),
            _ => bail!(
                "expected a clean `load error` exit (QEMU {}).\nstdout:\n{}\nstderr:\n{}",
                self.status,
                self.stdout,
                self.stderr
            ),
        }
    }

    /// The player's capacity `[D, W, L, V]` from the `capacity` line.
    pub fn capacity(&self) -> Result<[usize; 4]> {
        let record = self
            .records_with_key("capacity")
            .next()
            .context("the firmware reported no `capacity` line")?;
        let numbers = record
            .fields
            .iter()
            .map(|f| f.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("malformed capacity line: {record:?}"))?;
        match numbers[..] {
            [d, w, l, v] => Ok([d, w, l, v]),
            _ => bail!("malformed capacity line: {record:?}"),
        }
    }

    /// The interval (t0, T) the firmware's player reported, as `f32` bit patterns.
    pub fn interval(&self) -> Result<(u32, u32)> {
        let record = self
            .records_with_key("interval")
            .next()
            .context("the firmware reported no `interval` line")?;
        match record.fields[..] {
            [t0, t1] => Ok((parse_hex_u32(t0)?, parse_hex_u32(t1)?)),
            _ => bail!("malformed interval line: {record:?}"),
        }
    }

    /// Every `sample` and `sample_error` line, in order, for a trajectory of `d` coordinates.
    pub fn samples(&self, d: usize) -> Result<Vec<DeviceSample>> {
        let mut out = Vec::new();
        for record in self.records() {
            let error = match record.key {
                "sample" => false,
                "sample_error" => true,
                _ => continue,
            };
            let (index, time, rest) = match &record.fields[..] {
                [index, time, rest @ ..] => (index, time, rest),
                _ => bail!("malformed {} line: {record:?}", record.key),
            };
            let index = index
                .parse()
                .with_context(|| format!("sample index in {record:?}"))?;
            let time = parse_hex_u32(time)?;
            let outcome = if error {
                Err(rest.join(" "))
            } else {
                ensure!(
                    rest.len() == 3 * d,
                    "a sample line of a {d}-D trajectory has {} words, not {}: {record:?}",
                    rest.len(),
                    3 * d
                );
                let words = rest
                    .iter()
                    .map(|w| parse_hex_u32(w))
                    .collect::<Result<Vec<_>>>()?;
                let part = |i: usize| words[i * d..(i + 1) * d].to_vec();
                Ok(SampleBits {
                    position: part(0),
                    velocity: part(1),
                    acceleration: part(2),
                })
            };
            out.push(DeviceSample {
                index,
                time,
                outcome,
            });
        }
        Ok(out)
    }

    /// The cost figures the firmware reported.
    pub fn cost(&self) -> Result<Cost> {
        let cost = Cost {
            workload: self.field("workload")?.to_string(),
            calls_per_run: self.number("calls_per_run")?,
            runs: self.number("runs")?,
            load_ticks: self.number("load_ticks")?,
            ticks: self.number("ticks")?,
            instructions: self.number("instructions")?,
            stack_load_bytes: self.number("stack_load_bytes")?,
            stack_bytes: self.number("stack_bytes")?,
        };
        ensure!(
            cost.instructions == cost.ticks * INSTRUCTIONS_PER_TICK,
            "instructions {} is not ticks {} * {INSTRUCTIONS_PER_TICK}",
            cost.instructions,
            cost.ticks
        );
        Ok(cost)
    }
}

/// One sample the firmware printed: its index k, its time, and either the `f32` bit patterns
/// of position, velocity and acceleration (D words each) or the error's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSample {
    /// k, in 0..N.
    pub index: usize,
    /// The bit pattern of t_k.
    pub time: u32,
    /// The sample, or the text of the error sampling returned.
    pub outcome: std::result::Result<SampleBits, String>,
}

/// The `f32` bit patterns of one sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleBits {
    /// x(t), D words.
    pub position: Vec<u32>,
    /// dx/dt.
    pub velocity: Vec<u32>,
    /// d2x/dt2.
    pub acceleration: Vec<u32>,
}

/// Parses a `0x`-prefixed hexadecimal 32-bit word, as the firmware prints bit patterns.
pub fn parse_hex_u32(text: &str) -> Result<u32> {
    let digits = text
        .strip_prefix("0x")
        .with_context(|| format!("`{text}` lacks the 0x prefix"))?;
    u32::from_str_radix(digits, 16).with_context(|| format!("`{text}` is not a hex u32"))
}

/// Runs `elf` on the emulated device until it exits, killing QEMU after `timeout`.
///
/// A non-zero exit is not an error here (see [`Run::check_success`]); failing to start QEMU,
/// and a timeout, are.
pub fn run(elf: &Path, timeout: Duration) -> Result<Run> {
    check_qemu()?;
    let started = Instant::now();
    let mut child = Command::new(QEMU)
        .args(qemu_args(elf))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", qemu_command_line(elf)))?;
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            break status;
        }
        if started.elapsed() > timeout {
            // Kill and reap QEMU; the pipes then close and the readers finish.
            let _ = child.kill();
            let _ = child.wait();
            let stdout = join(stdout);
            bail!(
                "QEMU did not finish within {timeout:?} and was killed: {}\nstdout so far:\n{stdout}",
                qemu_command_line(elf)
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    Ok(Run {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
        wall_time: started.elapsed(),
    })
}

/// Reads a pipe to its end on a thread of its own, so a full pipe never blocks QEMU.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn join(reader: thread::JoinHandle<String>) -> String {
    reader.join().unwrap_or_default()
}

/// What running the workload cost on the device, as the firmware reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cost {
    /// The workload's name.
    pub workload: String,
    /// Calls (evaluations) in one run of the workload.
    pub calls_per_run: u64,
    /// Runs inside the measured region.
    pub runs: u64,
    /// SysTick ticks for checking and loading the blob (not part of `ticks`).
    pub load_ticks: u64,
    /// SysTick ticks for all runs.
    pub ticks: u64,
    /// `ticks * 40`: guest instructions for all runs (to within one tick).
    pub instructions: u64,
    /// The stack high-water mark from reset through loading the blob, in bytes.
    pub stack_load_bytes: u64,
    /// The stack high-water mark of the measured runs (painted again after loading; counted
    /// from the top of the stack, so `main`'s frame is included), in bytes.
    pub stack_bytes: u64,
}

impl Cost {
    /// Calls measured in total.
    pub fn calls(&self) -> u64 {
        self.calls_per_run * self.runs
    }

    /// Ticks per call.
    pub fn ticks_per_call(&self) -> f64 {
        self.ticks as f64 / self.calls() as f64
    }

    /// Guest instructions per call.
    pub fn instructions_per_call(&self) -> f64 {
        self.instructions as f64 / self.calls() as f64
    }
}

/// The sizes of an ELF file's allocated sections, in bytes, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionSizes {
    /// Every section that occupies memory on the device (`SHF_ALLOC`), by name.
    pub sections: BTreeMap<String, u64>,
}

impl SectionSizes {
    /// The size of one section, 0 when the file has none of that name.
    pub fn get(&self, name: &str) -> u64 {
        self.sections.get(name).copied().unwrap_or(0)
    }

    /// Code memory the image occupies: vector table, code, constants, and `.data`'s initial
    /// values.
    pub fn flash(&self) -> u64 {
        [".vector_table", ".text", ".rodata", ".data"]
            .iter()
            .map(|s| self.get(s))
            .sum()
    }

    /// Statically allocated RAM: `.data`, `.bss` and `.uninit` (the stack comes on top).
    pub fn static_ram(&self) -> u64 {
        [".data", ".bss", ".uninit"]
            .iter()
            .map(|s| self.get(s))
            .sum()
    }
}

/// Reads the section headers of the ELF file at `elf`.
pub fn section_sizes(elf: &Path) -> Result<SectionSizes> {
    use object::{Object, ObjectSection, SectionFlags};
    const SHF_ALLOC: u64 = 0x2;
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", elf.display()))?;
    let mut sizes = SectionSizes::default();
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags } = section.flags() else {
            bail!("{} is not an ELF file", elf.display());
        };
        if sh_flags & SHF_ALLOC != 0 {
            let name = section.name().context("reading a section name")?;
            *sizes.sections.entry(name.to_string()).or_default() += section.size();
        }
    }
    Ok(sizes)
}

/// The crate a (mangled) symbol belongs to: the first crate named in it, so a trait impl
/// `<finn_core::X as core::fmt::Display>::fmt` counts for `finn_core`. Unmangled symbols
/// (runtime entry points, compiler-builtins' `__aeabi_*`, `memcpy`) are `None`.
///
/// Handles both of rustc's manglings: legacy (`_ZN9finn_core7network...E`, with
/// `$LT$finn_core..x..Y` inside impl paths), which locally built crates use, and v0
/// (`_RNv...Cs<hash>_4core...`), which the prebuilt standard library uses.
pub fn symbol_crate(symbol: &str) -> Option<String> {
    if let Some(body) = symbol.strip_prefix("_R") {
        return v0_crate(body);
    }
    let body = symbol
        .strip_prefix("_ZN")
        .or_else(|| symbol.strip_prefix("__ZN"))?;
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let len: usize = body.get(..digits)?.parse().ok()?;
    let first = body.get(digits..digits + len)?;
    if is_crate_like(first) {
        return Some(first.to_string());
    }
    // An impl path `_$LT$...$GT$`: the crate before the first `..` inside it.
    let path_end = first.find("..")?;
    let head = &first[..path_end];
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = &head[start..];
    is_crate_like(name).then(|| name.to_string())
}

/// The first crate root (`C`, an optional `s<hash>_` disambiguator, `<len><name>`) of a v0
/// symbol, skipping identifiers, disambiguators and back-references on the way.
fn v0_crate(body: &str) -> Option<String> {
    let bytes = body.as_bytes();
    let ident_at = |i: usize| -> Option<(&str, usize)> {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let len: usize = body.get(i..i + digits)?.parse().ok()?;
        // An identifier may be separated from its length by `_` when it starts with a digit
        // or `_`.
        let mut at = i + digits;
        if bytes.get(at) == Some(&b'_') {
            at += 1;
        }
        Some((body.get(at..at + len)?, at + len))
    };
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'C' => {
                let mut j = i + 1;
                if bytes.get(j) == Some(&b's') {
                    j += bytes[j..].iter().position(|&b| b == b'_')? + 1;
                }
                let (name, _) = ident_at(j)?;
                return is_crate_like(name).then(|| name.to_string());
            }
            b's' | b'B' => i += bytes[i..].iter().position(|&b| b == b'_')? + 1,
            b'0'..=b'9' => i = ident_at(i)?.1,
            _ => i += 1,
        }
    }
    None
}

/// Whether `ident` looks like a crate name (a Rust identifier starting with a letter, not a
/// legacy-mangling escape).
fn is_crate_like(ident: &str) -> bool {
    ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `.text` bytes of an ELF file's function symbols, by crate ([`symbol_crate`]); symbols that
/// name no crate count under `(unmangled)`, and the part of `.text` that no symbol covers
/// (alignment padding) under `(padding)`.
pub fn text_by_crate(elf: &Path) -> Result<BTreeMap<String, u64>> {
    use object::{Object, ObjectSection, ObjectSymbol, SymbolKind, SymbolSection};
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", elf.display()))?;
    let text = file
        .section_by_name(".text")
        .with_context(|| format!("{} has no .text", elf.display()))?;
    let mut sizes = BTreeMap::new();
    let mut covered = 0u64;
    let mut seen = std::collections::BTreeSet::new();
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Text
            || symbol.section() != SymbolSection::Section(text.index())
            || symbol.size() == 0
            // Aliases share an address: count each function once.
            || !seen.insert(symbol.address())
        {
            continue;
        }
        let name = symbol.name().unwrap_or("");
        let krate = symbol_crate(name).unwrap_or_else(|| "(unmangled)".into());
        *sizes.entry(krate).or_insert(0) += symbol.size();
        covered += symbol.size();
    }
    if text.size() > covered {
        sizes.insert("(padding)".into(), text.size() - covered);
    }
    Ok(sizes)
}

/// The crate of a source file, from its path: the workspace's own crates, a registry crate
/// (`.../<name>-<version>/...`), or a crate of the standard library (`/library/<name>/`).
fn source_crate(path: &str) -> String {
    for (marker, name) in [
        ("/finn-core/", "finn_core"),
        ("/finn-embedded/", "finn_embedded"),
        ("/firmware/", "finn_firmware"),
    ] {
        if path.contains(marker) {
            return name.into();
        }
    }
    let registry = path
        .split('/')
        .skip_while(|part| !part.starts_with("index.crates.io"))
        .nth(1);
    if let Some(dir) = registry {
        // `<name>-<version>`: the version starts after the last '-' followed by a digit.
        let cut = dir
            .match_indices('-')
            .filter(|(i, _)| dir[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
            .map(|(i, _)| i)
            .next_back()
            .unwrap_or(dir.len());
        return dir[..cut].replace('-', "_");
    }
    if let Some(rest) = path.split("/library/").nth(1) {
        if let Some(name) = rest.split('/').next() {
            return name.replace('-', "_");
        }
    }
    "(no line information)".into()
}

/// `.text` bytes by the crate whose source each instruction comes from, using the DWARF line
/// tables through `llvm-objdump` and `llvm-addr2line`: each instruction counts for the
/// innermost inlined frame outside `core`, so finn-core code that LTO inlined into a
/// firmware function still counts for finn-core, and `core`'s generic helpers count for the
/// crate that used them. `None` when the tools are not on PATH.
pub fn text_by_source_crate(elf: &Path) -> Result<Option<BTreeMap<String, u64>>> {
    use object::{Object, ObjectSection};
    if !setup::which("llvm-objdump") || !setup::which("llvm-addr2line") {
        return Ok(None);
    }
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", elf.display()))?;
    let text = file
        .section_by_name(".text")
        .with_context(|| format!("{} has no .text", elf.display()))?;
    let (lo, hi) = (text.address(), text.address() + text.size());
    let dis = Command::new("llvm-objdump")
        .args(["-d", "--no-show-raw-insn", "--section=.text"])
        .arg(elf)
        .output()
        .context("running llvm-objdump")?;
    ensure!(dis.status.success(), "llvm-objdump failed");
    let mut addrs: Vec<u64> = String::from_utf8_lossy(&dis.stdout)
        .lines()
        .filter_map(|line| {
            let (addr, _) = line.trim_start().split_once(':')?;
            u64::from_str_radix(addr, 16).ok()
        })
        .filter(|a| (lo..hi).contains(a))
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    let mut child = Command::new("llvm-addr2line")
        .args(["-a", "-i", "-e"])
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running llvm-addr2line")?;
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take().context("llvm-addr2line's stdin")?;
    let writer = thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let out = child.wait_with_output().context("reading llvm-addr2line")?;
    let _ = writer.join();
    ensure!(out.status.success(), "llvm-addr2line failed");
    let text_out = String::from_utf8_lossy(&out.stdout);
    let mut frames: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text_out.lines() {
        if let Some(hex) = line.strip_prefix("0x") {
            current = u64::from_str_radix(hex, 16).ok();
        } else if let Some(addr) = current {
            frames.entry(addr).or_default().push(source_crate(line));
        }
    }
    let mut sizes = BTreeMap::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let size = addrs.get(i + 1).copied().unwrap_or(hi) - addr;
        let krate = frames
            .get(&addr)
            .and_then(|f| f.iter().find(|c| *c != "core").or(f.first()))
            .cloned()
            .unwrap_or_else(|| "(no line information)".into());
        *sizes.entry(krate).or_insert(0) += size;
    }
    Ok(Some(sizes))
}

/// What the device run showed about the embedded trajectory.
struct Playback {
    /// D, the widths, the activation, the via-point count and the stored scalar.
    description: String,
    /// The blob's length in bytes.
    blob_bytes: usize,
    /// Whether the first and last samples equal x0 and xT in f32, bit for bit.
    ends_exact: bool,
    /// Samples the device printed.
    samples: usize,
    /// Whether the blob is `finn_train::trajectory::blob::reference_blob()`.
    is_reference: bool,
}

/// Checks the default run's samples against the blob's end states.
fn playback(run: &Run, blob: &[u8]) -> Result<Playback> {
    let view = finn_core::format::decode_trajectory(blob)
        .map_err(|e| anyhow::anyhow!("the default blob does not decode: {e}"))?;
    let d = view.coordinates();
    let samples = run.samples(d)?;
    let bits = |x: &[f64]| x.iter().map(|&v| (v as f32).to_bits()).collect::<Vec<_>>();
    let position = |s: Option<&DeviceSample>| -> Option<Vec<u32>> {
        s.and_then(|s| s.outcome.as_ref().ok())
            .map(|b| b.position.clone())
    };
    let ends_exact = position(samples.first()) == Some(bits(view.start()))
        && position(samples.last()) == Some(bits(view.end()));
    let reference = finn_train::trajectory::blob::reference_blob()
        .map_err(|e| anyhow::anyhow!("building the reference blob: {e}"))?;
    Ok(Playback {
        description: format!(
            "D = {d} coordinates, hidden widths {:?}, {:?}, {} via-point(s), parameters stored as {:?}",
            view.widths(),
            view.activation(),
            view.via_times().len(),
            view.scalar()
        ),
        blob_bytes: blob.len(),
        ends_exact,
        samples: samples.len(),
        is_reference: reference == blob,
    })
}

/// `cargo xtask device`: builds the firmware (and its baseline without the player), runs it
/// twice, checks that both runs cost the same and that the device meets the end states
/// exactly, prints the figures and writes them to `results/device.md`.
pub fn device() -> Result<()> {
    setup::ensure_all()?;
    eprintln!("xtask: building the firmware (release, {DEVICE_TARGET})");
    let elf = build_firmware()?;
    eprintln!("xtask: building the baseline firmware (no player)");
    let baseline = build_firmware_with(
        &FirmwareOptions {
            baseline: true,
            ..FirmwareOptions::default()
        },
        "baseline",
    )?;
    let sizes = section_sizes(&elf)?;
    let baseline_sizes = section_sizes(&baseline)?;
    let by_crate = text_by_crate(&elf)?;
    let by_source = text_by_source_crate(&elf)?;
    let mut costs = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = run(&elf, DEFAULT_TIMEOUT)?;
        run.check_success()?;
        costs.push(run.cost()?);
        runs.push(run);
    }
    ensure!(
        costs[0] == costs[1],
        "two runs of the same firmware reported different costs: {:?} and {:?}",
        costs[0],
        costs[1]
    );
    let blob = std::fs::read(default_blob_path())?;
    let playback = playback(&runs[0], &blob)?;
    ensure!(
        playback.ends_exact,
        "the device's first and last samples are not x0 and xT bit for bit"
    );
    let report = device_report(
        &elf,
        &sizes,
        &baseline_sizes,
        &by_crate,
        by_source.as_ref(),
        &costs[0],
        &playback,
    )?;
    print!("{report}");
    let path = workspace_root().join("results/device.md");
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// Instructions per sample: at most this is the goal ...
const GOAL_INSTRUCTIONS: f64 = 20_000.0;
/// ... and this the stretch goal.
const STRETCH_INSTRUCTIONS: f64 = 10_000.0;
/// `.text` of finn-core + finn-embedded, bytes.
const GOAL_TEXT: u64 = 16 * 1024;
/// Stack high-water mark, bytes.
const GOAL_STACK: u64 = 4 * 1024;

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

/// The Markdown report of `cargo xtask device`.
fn device_report(
    elf: &Path,
    sizes: &SectionSizes,
    baseline: &SectionSizes,
    by_crate: &BTreeMap<String, u64>,
    by_source: Option<&BTreeMap<String, u64>>,
    cost: &Cost,
    playback: &Playback,
) -> Result<String> {
    let root = workspace_root();
    let shown_elf = elf.strip_prefix(&root).unwrap_or(elf);
    let finn = |table: &BTreeMap<String, u64>| {
        ["finn_core", "finn_embedded"]
            .iter()
            .map(|c| table.get(*c).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let (finn_text, finn_how) = match by_source {
        Some(table) => (finn(table), "source lines"),
        None => (finn(by_crate), "symbols; understated, see below"),
    };
    let per_sample = cost.instructions_per_call();
    let text_delta = sizes.get(".text").saturating_sub(baseline.get(".text"));
    let mut md = String::new();
    writeln!(md, "# Device measurements\n")?;
    writeln!(
        md,
        "Produced by `cargo xtask device`, which builds `firmware/` in release for \
         `{DEVICE_TARGET}` (and once more with `--features baseline`, the same firmware \
         without the player), and runs it twice (both runs reported the same figures):\n"
    )?;
    writeln!(md, "```sh\n{}\n```\n", qemu_command_line(shown_elf))?;
    writeln!(md, "Emulator: {}.\n", qemu_version())?;
    writeln!(
        md,
        "Under `-icount shift=0` every guest instruction is 1 ns and SysTick ticks on the 25 MHz \
         core clock, so a tick is {INSTRUCTIONS_PER_TICK} instructions and the counts are \
         deterministic.\n"
    )?;
    writeln!(md, "## Workload: trajectory playback\n")?;
    writeln!(
        md,
        "The firmware embeds `firmware/blobs/default.postcard` ({} bytes{}): {}. \
         `finn_embedded::TrajectoryPlayer` checks it and converts it to `f32` once, then \
         evaluates position, velocity and acceleration (`kinematics`) at {} times evenly spaced over \
         [t0, T]. The device's first and last samples {} x0 and xT bit for bit (endpoint \
         error {}).\n",
        playback.blob_bytes,
        if playback.is_reference {
            ", `finn_train::trajectory::blob::reference_blob()`"
        } else {
            ""
        },
        playback.description,
        playback.samples,
        if playback.ends_exact {
            "equal"
        } else {
            "do **not** equal"
        },
        if playback.ends_exact { "0" } else { "non-zero" },
    )?;
    writeln!(md, "| figure | value | goal |\n| --- | --- | --- |")?;
    writeln!(
        md,
        "| instructions per sample | {per_sample:.0} | <= {GOAL_INSTRUCTIONS:.0} ({}), stretch <= {STRETCH_INSTRUCTIONS:.0} ({}) |",
        verdict(per_sample <= GOAL_INSTRUCTIONS),
        verdict(per_sample <= STRETCH_INSTRUCTIONS)
    )?;
    writeln!(
        md,
        "| `.text` of finn-core + finn-embedded ({finn_how}) | {finn_text} bytes ({:.1} KiB) | <= 16 KiB ({}) |",
        finn_text as f64 / 1024.0,
        verdict(finn_text <= GOAL_TEXT)
    )?;
    writeln!(
        md,
        "| stack high-water mark, playback | {} bytes | <= 4 KiB ({}) |",
        cost.stack_bytes,
        verdict(cost.stack_bytes <= GOAL_STACK)
    )?;
    writeln!(
        md,
        "| stack high-water mark, reset through loading | {} bytes | <= 4 KiB ({}) |",
        cost.stack_load_bytes,
        verdict(cost.stack_load_bytes <= GOAL_STACK)
    )?;
    writeln!(
        md,
        "| `.text` the player adds (normal build - baseline build) | {text_delta} bytes ({:.1} KiB) | |",
        text_delta as f64 / 1024.0
    )?;
    writeln!(md, "| total `.text` | {} bytes | |", sizes.get(".text"))?;
    writeln!(
        md,
        "| static RAM (`.data` + `.bss` + `.uninit`) | {} bytes | |",
        sizes.static_ram()
    )?;
    writeln!(
        md,
        "| loading the blob (check + f32 conversion + via-point solve) | {} instructions | |",
        cost.load_ticks * INSTRUCTIONS_PER_TICK
    )?;
    writeln!(
        md,
        "| samples measured | {} ({} runs of {}), {} ticks, {} instructions | |\n",
        cost.calls(),
        cost.runs,
        cost.calls_per_run,
        cost.ticks,
        cost.instructions
    )?;
    writeln!(
        md,
        "The playback stack is measured after painting the stack again below `main`'s frame \
         once the player is loaded; it is counted from the top of the stack. The player loads \
         in place into a const-initialised static (`TrajectoryPlayer::unloaded` + `reload`); \
         the deepest point of loading is in decoding the blob's body: a hardware watchpoint \
         on the deepest stack word (QEMU gdbstub) stops in postcard/serde's visitor chain \
         moving the body's fixed-size `f64` arrays (`Seq<f64, N>`) through `Result`s. \
         Decoding the body into borrowed slices, without serde's by-value arrays, is the fix.\n"
    )?;
    writeln!(md, "## `.text` by crate\n")?;
    writeln!(
        md,
        "Two attributions of the same `.text`. *Source*: each instruction counts for the crate \
         of its innermost inlined source frame outside `core` (DWARF line tables, through \
         `llvm-objdump` and `llvm-addr2line`), so finn-core code that LTO inlined into a \
         firmware function still counts for finn-core, and `core`'s generic helpers count for \
         the crate that used them. *Symbols*: each function counts for the first crate its \
         mangled name mentions, wherever its body came from; with LTO the firmware's \
         `Workload::load` and `main` hold most of the inlined loader and sampler. `libm`, \
         `postcard`, `serde` and `crc` are finn-core's own dependencies; `compiler_builtins` \
         holds the soft-float `f64` helpers the blob checks use.\n"
    )?;
    let mut names: Vec<&String> = by_crate
        .keys()
        .chain(by_source.into_iter().flat_map(|t| t.keys()))
        .collect();
    names.sort();
    names.dedup();
    let source_of = |name: &String| by_source.and_then(|t| t.get(name)).copied().unwrap_or(0);
    names.sort_by_key(|name| {
        std::cmp::Reverse((source_of(name), by_crate.get(*name).copied().unwrap_or(0)))
    });
    writeln!(
        md,
        "| crate | bytes (source) | bytes (symbols) |\n| --- | --- | --- |"
    )?;
    for name in names {
        let source = match by_source {
            Some(t) => t.get(name).copied().unwrap_or(0).to_string(),
            None => "(llvm tools not found)".into(),
        };
        writeln!(
            md,
            "| `{name}` | {source} | {} |",
            by_crate.get(name).copied().unwrap_or(0)
        )?;
    }
    writeln!(md)?;
    writeln!(md, "## Firmware image\n")?;
    writeln!(
        md,
        "| section | bytes | baseline (no player) |\n| --- | --- | --- |"
    )?;
    for name in [
        ".vector_table",
        ".text",
        ".rodata",
        ".data",
        ".bss",
        ".uninit",
    ] {
        writeln!(
            md,
            "| `{name}` | {} | {} |",
            sizes.get(name),
            baseline.get(name)
        )?;
    }
    writeln!(
        md,
        "| code memory (vector table + text + rodata + data) | {} | {} |",
        sizes.flash(),
        baseline.flash()
    )?;
    writeln!(
        md,
        "| static RAM (data + bss + uninit) | {} | {} |",
        sizes.static_ram(),
        baseline.static_ram()
    )?;
    Ok(md)
}

/// The first line of `qemu-system-arm --version`.
fn qemu_version() -> String {
    Command::new(QEMU)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("{QEMU} (version unknown)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_words() {
        assert_eq!(parse_hex_u32("0x3f800000").unwrap(), 0x3f80_0000);
        assert!(parse_hex_u32("3f800000").is_err());
        assert!(parse_hex_u32("0x1ffffffff").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn parses_records_and_numbers() {
        use std::os::unix::process::ExitStatusExt;
        let run = Run {
            status: ExitStatus::from_raw(0),
            stdout: "erff 0xc0800000 0xbf800000\n\nticks 12\ninstructions 480\ndone\n".into(),
            stderr: String::new(),
            wall_time: Duration::ZERO,
        };
        let keys: Vec<_> = run.records().map(|r| r.key).collect();
        assert_eq!(keys, ["erff", "ticks", "instructions", "done"]);
        let erff: Vec<_> = run.records_with_key("erff").collect();
        assert_eq!(erff[0].fields, ["0xc0800000", "0xbf800000"]);
        assert_eq!(run.number("ticks").unwrap(), 12);
        assert!(run.number("erff").is_err(), "two fields");
        assert!(run.number("stack_bytes").is_err(), "missing");
        run.check_success().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn parses_samples_and_load_errors() {
        use std::os::unix::process::ExitStatusExt;
        let run = Run {
            status: ExitStatus::from_raw(0),
            stdout: "capacity 2 16 2 1\ninterval 0x00000000 0x40000000\n\
                     sample 0 0x00000000 0x1 0x2 0x3 0x4 0x5 0x6\n\
                     sample_error 1 0x3f800000 result is not finite in this precision\n"
                .into(),
            stderr: String::new(),
            wall_time: Duration::ZERO,
        };
        assert_eq!(run.capacity().unwrap(), [2, 16, 2, 1]);
        assert_eq!(run.interval().unwrap(), (0, 0x4000_0000));
        let samples = run.samples(2).unwrap();
        assert_eq!(samples.len(), 2);
        let bits = samples[0].outcome.as_ref().unwrap();
        assert_eq!(bits.position, [1, 2]);
        assert_eq!(bits.acceleration, [5, 6]);
        assert_eq!(
            samples[1].outcome,
            Err("result is not finite in this precision".to_string())
        );
        assert!(run.samples(3).is_err(), "6 words are not a 3-D sample");
        assert_eq!(run.load_error(), None);
        assert!(run.check_load_error().is_err());
        let failed = Run {
            status: ExitStatus::from_raw(1 << 8),
            stdout: "load error: corrupt blob: CRC mismatch\n".into(),
            stderr: String::new(),
            wall_time: Duration::ZERO,
        };
        assert_eq!(
            failed.check_load_error().unwrap(),
            "corrupt blob: CRC mismatch"
        );
        let faulted = Run {
            stderr: "hard fault: ...".into(),
            ..failed
        };
        assert!(faulted.check_load_error().is_err());
    }

    #[test]
    fn symbols_are_attributed_to_their_crates() {
        let cases = [
            ("_ZN9finn_core7network7Network4new17h0123456789abcdefE", Some("finn_core")),
            (
                "_ZN62_$LT$finn_core..error..Error$u20$as$u20$core..fmt..Display$GT$3fmt17h30374b723b482237E",
                Some("finn_core"),
            ),
            (
                "_ZN42_$LT$$RF$T$u20$as$u20$core..fmt..Debug$GT$3fmt17h1d29590878a73313E",
                Some("core"),
            ),
            ("_RNvNtCs7ldSeZOOJos_4core3fmt5write", Some("core")),
            (
                "_RNvXs4_NtNtNtCs7ldSeZOOJos_4core3fmt3num3impsNtB9_7Display3fmt",
                Some("core"),
            ),
            (
                "_RNvNtCs7NhdfSRABLd_17compiler_builtins3mem6memcpy",
                Some("compiler_builtins"),
            ),
            ("__aeabi_d2f", None),
            ("main", None),
        ];
        for (symbol, krate) in cases {
            assert_eq!(symbol_crate(symbol).as_deref(), krate, "{symbol}");
        }
    }

    #[test]
    fn source_files_are_attributed_to_their_crates() {
        for (path, krate) in [
            ("/work/main/finn-core/src/network.rs:380:9", "finn_core"),
            ("/x/finn-embedded/src/lib.rs:1", "finn_embedded"),
            ("/x/firmware/src/main.rs:3", "finn_firmware"),
            (
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/libm-0.2.16/src/math/expf.rs:1",
                "libm",
            ),
            (
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cortex-m-rt-0.7.7/src/lib.rs:1",
                "cortex_m_rt",
            ),
            ("/rustc/59807616e1fa/library/core/src/ptr/mod.rs:2091", "core"),
            ("??:0", "(no line information)"),
        ] {
            assert_eq!(source_crate(path), krate, "{path}");
        }
    }

    #[test]
    fn section_sizes_sum_as_documented() {
        let mut sizes = SectionSizes::default();
        for (name, size) in [(".text", 100), (".rodata", 20), (".data", 4), (".bss", 8)] {
            sizes.sections.insert(name.into(), size);
        }
        assert_eq!(sizes.flash(), 124);
        assert_eq!(sizes.static_ram(), 12);
        assert_eq!(sizes.get(".uninit"), 0);
    }
}

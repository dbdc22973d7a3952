//! The emulated device: building the firmware, running it under QEMU, reading what it reports.
//!
//! This is the one runner for the device. `cargo xtask device` uses it through [`device`], and
//! the device tests in `finn-tests` call [`build_firmware`] and [`run`] directly.
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

/// Builds the firmware in release for the device and returns the path of its ELF file.
///
/// Fails with a message naming `cargo xtask setup` when the target is missing, and with
/// cargo's output when the build fails.
pub fn build_firmware() -> Result<PathBuf> {
    check_device_target()?;
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
    Ok(elf)
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

    /// The cost figures the firmware reported.
    pub fn cost(&self) -> Result<Cost> {
        let cost = Cost {
            workload: self.field("workload")?.to_string(),
            calls_per_run: self.number("calls_per_run")?,
            runs: self.number("runs")?,
            ticks: self.number("ticks")?,
            instructions: self.number("instructions")?,
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
    /// SysTick ticks for all runs.
    pub ticks: u64,
    /// `ticks * 40`: guest instructions for all runs (to within one tick).
    pub instructions: u64,
    /// The stack high-water mark since reset, in bytes.
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

/// `cargo xtask device`: builds the firmware, runs it twice, checks that both runs cost the
/// same, prints the figures and writes them to `results/device.md`.
pub fn device() -> Result<()> {
    setup::ensure_all()?;
    eprintln!("xtask: building the firmware (release, {DEVICE_TARGET})");
    let elf = build_firmware()?;
    let sizes = section_sizes(&elf)?;
    let mut costs = Vec::new();
    for _ in 0..2 {
        let run = run(&elf, DEFAULT_TIMEOUT)?;
        run.check_success()?;
        costs.push(run.cost()?);
    }
    ensure!(
        costs[0] == costs[1],
        "two runs of the same firmware reported different costs: {:?} and {:?}",
        costs[0],
        costs[1]
    );
    let report = device_report(&elf, &sizes, &costs[0])?;
    print!("{report}");
    let path = workspace_root().join("results/device.md");
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// The Markdown report of `cargo xtask device`.
fn device_report(elf: &Path, sizes: &SectionSizes, cost: &Cost) -> Result<String> {
    let root = workspace_root();
    let shown_elf = elf.strip_prefix(&root).unwrap_or(elf);
    let mut md = String::new();
    writeln!(md, "# Device measurements\n")?;
    writeln!(
        md,
        "Produced by `cargo xtask device`, which builds `firmware/` in release for \
         `{DEVICE_TARGET}` and runs it twice (both runs reported the same figures):\n"
    )?;
    writeln!(md, "```sh\n{}\n```\n", qemu_command_line(shown_elf))?;
    writeln!(md, "Emulator: {}.\n", qemu_version())?;
    writeln!(
        md,
        "Under `-icount shift=0` every guest instruction is 1 ns and SysTick ticks on the 25 MHz \
         core clock, so a tick is {INSTRUCTIONS_PER_TICK} instructions and the counts are \
         deterministic.\n"
    )?;
    writeln!(md, "## Cost of the workload `{}`\n", cost.workload)?;
    writeln!(md, "| figure | value |\n| --- | --- |")?;
    writeln!(
        md,
        "| calls measured | {} ({} runs of {}) |",
        cost.calls(),
        cost.runs,
        cost.calls_per_run
    )?;
    writeln!(md, "| SysTick ticks | {} |", cost.ticks)?;
    writeln!(md, "| instructions (ticks * 40) | {} |", cost.instructions)?;
    writeln!(md, "| ticks per call | {:.3} |", cost.ticks_per_call())?;
    writeln!(
        md,
        "| instructions per call | {:.1} |",
        cost.instructions_per_call()
    )?;
    writeln!(
        md,
        "| stack high-water mark since reset | {} bytes |\n",
        cost.stack_bytes
    )?;
    writeln!(md, "## Firmware image\n")?;
    writeln!(md, "| section | bytes |\n| --- | --- |")?;
    for name in [
        ".vector_table",
        ".text",
        ".rodata",
        ".data",
        ".bss",
        ".uninit",
    ] {
        writeln!(md, "| `{name}` | {} |", sizes.get(name))?;
    }
    writeln!(
        md,
        "| code memory (vector table + text + rodata + data) | {} |",
        sizes.flash()
    )?;
    writeln!(
        md,
        "| static RAM (data + bss + uninit) | {} |",
        sizes.static_ram()
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

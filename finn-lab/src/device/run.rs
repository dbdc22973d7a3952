//! Running the firmware under QEMU ([`run()`]) and reading what it printed ([`Run`]): its
//! records, the samples it played ([`DeviceSample`], [`SampleBits`]), a load error, and what
//! the workload cost ([`Cost`]).

use super::{CPU, INSTRUCTIONS_PER_TICK, MACHINE, QEMU, SETUP_HINT};
use crate::setup;
use anyhow::{bail, ensure, Context, Result};
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Fails, naming `cargo xtask setup`, unless `qemu-system-arm` is on PATH.
pub fn check_qemu() -> Result<()> {
    if !setup::which(QEMU) {
        bail!("{QEMU} is not on PATH; {SETUP_HINT}");
    }
    Ok(())
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

    /// Compares the device's load with the host's: when the host refused the blob
    /// (`host` is `Err`), the device must have refused it with the same message, returned as
    /// `Ok(Err(message))`; otherwise the device must have run the `workload` cleanly, and the
    /// host's player comes back as `Ok(Ok(player))`.
    pub fn check_loaded<P, E: std::fmt::Display>(
        &self,
        host: std::result::Result<P, E>,
        workload: &str,
    ) -> Result<std::result::Result<P, String>> {
        let player = match host {
            Ok(p) => p,
            Err(e) => {
                let message = self.check_load_error()?;
                ensure!(
                    message == e.to_string(),
                    "the device's load error {message:?} is not the host's {:?}",
                    e.to_string()
                );
                return Ok(Err(message.to_string()));
            }
        };
        self.check_success()?;
        let cost = self.cost()?;
        ensure!(
            cost.workload == workload,
            "the firmware ran the {} workload, not the {workload} one",
            cost.workload
        );
        Ok(Ok(player))
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
}

//! The soft-Q policy on the device: the records of the soft-Q workload (`firmware/src/softq.rs`,
//! built when the embedded blob is a soft-Q blob, payload 5) and [`check_softq_run`], which
//! reruns the pendulum closed loop on the host with `finn_embedded::SoftQPlayer` and finn-core's
//! f32 pendulum and compares every uniform, action and state the device printed, bit for bit.
//!
//! The episode: [`STEPS`] steps from (theta, theta_dot) = [`START`]; at step k the action is
//! `sample_action(features, [u_k])` with u_k = `halton_uniforms::<1>(k + 1)`.

use super::run::Run;
use anyhow::{bail, ensure, Context, Result};
use finn_core::softq::pendulum::Pendulum;
use finn_embedded::density::halton_uniforms;
use finn_embedded::SoftQPlayer;

/// Steps of the device's episode.
pub const STEPS: usize = 200;

/// The device's fixed start (theta, theta_dot): hanging down at rest.
pub const START: (f32, f32) = (3.0, 0.0);

/// The shipped pendulum policy's exact capacity (`firmware/blobs/softq-pendulum.postcard`).
type Pendulum64 = SoftQPlayer<3, 64, 25, 1, 8, 1>;
/// Any other pendulum policy (3 features, one action).
type Wide = SoftQPlayer<3, 64, 64, 1, 16, { finn_core::format::MAX_LAYERS }>;

/// One step of the episode: its uniform, its action and the state after it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpisodeStep {
    /// u_k.
    pub u: f32,
    /// a_k.
    pub action: f32,
    /// theta after the step.
    pub theta: f32,
    /// theta_dot after the step.
    pub theta_dot: f32,
}

/// What [`check_softq_run`] found: the run equals the host bit for bit.
#[derive(Clone, Debug, PartialEq)]
pub enum SoftQCheck {
    /// Both refused the blob with this message.
    LoadError(String),
    /// Both ran the episode; every step printed equals the host's.
    Episode {
        /// `[S, H, P, M, W, L]` of the device's player.
        capacity: [usize; 6],
        /// The steps (all [`STEPS`] of them).
        steps: Vec<EpisodeStep>,
    },
}

/// The episode on the host, as the device runs it; stops at the first error.
///
/// ```
/// let blob = std::fs::read(finn_lab::device::softq_blob_path()).unwrap();
/// let steps = finn_lab::device::softq::host_episode(&blob).unwrap();
/// assert_eq!(steps.len(), 200);
/// ```
pub fn host_episode(blob: &[u8]) -> Result<Vec<EpisodeStep>> {
    match Pendulum64::from_bytes(blob) {
        Ok(p) => episode(|s, u| p.sample_action(s, u)),
        Err(_) => {
            let p = Wide::from_bytes(blob).map_err(|e| anyhow::anyhow!("{e}"))?;
            episode(|s, u| p.sample_action(s, u))
        }
    }
}

fn episode(
    sample: impl Fn(&[f32], &[f32; 1]) -> Result<[f32; 1], finn_core::Error>,
) -> Result<Vec<EpisodeStep>> {
    let mut env = Pendulum {
        theta: START.0,
        theta_dot: START.1,
    };
    let mut out = Vec::with_capacity(STEPS);
    for k in 0..STEPS {
        let u = halton_uniforms::<1>(k as u32 + 1)[0];
        let a = sample(&env.features(), &[u]).with_context(|| format!("step {k}"))?[0];
        let _ = env.step(a);
        out.push(EpisodeStep {
            u,
            action: a,
            theta: env.theta,
            theta_dot: env.theta_dot,
        });
    }
    Ok(out)
}

/// A `0x`-prefixed f32 bit pattern.
fn word(text: &str) -> Result<f32> {
    let hex = text
        .strip_prefix("0x")
        .with_context(|| format!("{text:?} is not 0x-prefixed"))?;
    Ok(f32::from_bits(u32::from_str_radix(hex, 16)?))
}

/// Compares the soft-Q workload's run with the host's episode on `blob`, bit for bit.
///
/// Errors: the run failed other than by a load error the host shares, a record is missing or
/// malformed, or a value differs (naming the step and the field).
pub fn check_softq_run(run: &Run, blob: &[u8]) -> Result<SoftQCheck> {
    if let Some(message) = run.load_error() {
        let host = Wide::from_bytes(blob)
            .err()
            .with_context(|| format!("the device refused the blob ({message}), the host not"))?;
        ensure!(
            host.to_string() == message,
            "device load error {message:?}, host {host}"
        );
        return Ok(SoftQCheck::LoadError(message.to_string()));
    }
    run.check_success()?;
    ensure!(run.field("workload")? == "softq", "not the softq workload");
    let capacity: Vec<usize> = run
        .records_with_key("softq_capacity")
        .next()
        .context("no softq_capacity record")?
        .fields
        .iter()
        .map(|f| f.parse())
        .collect::<Result<_, _>>()?;
    let capacity: [usize; 6] = capacity
        .try_into()
        .map_err(|c| anyhow::anyhow!("softq_capacity {c:?}"))?;
    if let Some(e) = run.records_with_key("step_error").next() {
        bail!("the device's episode stopped: {:?}", e.fields);
    }
    let host = host_episode(blob)?;
    let mut steps = Vec::new();
    for (k, r) in run.records_with_key("step").enumerate() {
        let f = &r.fields;
        ensure!(f.len() == 5 && f[0] == k.to_string(), "step record {f:?}");
        let device = EpisodeStep {
            u: word(f[1])?,
            action: word(f[2])?,
            theta: word(f[3])?,
            theta_dot: word(f[4])?,
        };
        let h = host.get(k).context("more device steps than host steps")?;
        for (name, d, h) in [
            ("u", device.u, h.u),
            ("action", device.action, h.action),
            ("theta", device.theta, h.theta),
            ("theta_dot", device.theta_dot, h.theta_dot),
        ] {
            ensure!(
                d.to_bits() == h.to_bits(),
                "step {k}: device {name} {d:e} ({:#010x}), host {h:e} ({:#010x})",
                d.to_bits(),
                h.to_bits()
            );
        }
        steps.push(device);
    }
    ensure!(
        steps.len() == STEPS,
        "{} steps printed, {STEPS} expected",
        steps.len()
    );
    Ok(SoftQCheck::Episode { capacity, steps })
}

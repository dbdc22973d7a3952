//! Soft fitted Q-iteration on [`Pendulum`], with the soft value of the next state exact or
//! estimated by sampling.
//!
//! Each iteration regresses Q(s, a) on the fixed targets y = r + gamma V_target(s'), where
//! V_target comes from a frozen copy of the parameters that is refreshed every
//! `target_period` updates (one fitted-Q iteration per period). The data are a replay buffer
//! filled, episode by episode, by the current policy pi(a|s) = exp(beta (Q - V)) sampled
//! exactly ([`finn_core::softq::SoftQ::sample_action`]); the first `warmup_episodes` use
//! uniform actions.
//!
//! The regression is solved by Adam on minibatches, not by the L-BFGS of [`crate::solve`]: a
//! full-batch quasi-Newton solve over a buffer of 10^4 transitions per iteration costs a full
//! pass per line-search step, and the targets change every iteration anyway, so a few hundred
//! cheap stochastic steps per iteration reach a better Q in the same time (the usual choice
//! for fitted Q with neural networks).
//!
//! The estimators of V(s') ([`Estimator`]) differ only in that one number; the learner, the
//! seeds and the budget are the same.

use super::model::{initial_parameters, residual_gradient, Scratch, Shape};
use super::pendulum::{Pendulum, EPISODE_STEPS, MAX_TORQUE};
use crate::random::SplitMix64;
use crate::TrainError;
use finn_core::softq::SoftQ;
use finn_core::{Antiderivative, Domain};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The finn-core model the host evaluates and samples with: 3 features, up to two hidden
/// layers of 64, a head of up to 64 outputs, one action, up to 16 bumps (two layers at most).
pub type PendulumSoftQ = SoftQ<f64, 3, 64, 64, 1, 16, 2>;

/// How the target's V(s') is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Estimator {
    /// The exact V: (c + ln of the corner sum of F~ over A) / beta.
    Exact,
    /// Haarnoja's estimate from N uniform actions a_i:
    /// (logsumexp_i(beta Q(s, a_i)) - ln N + ln|A|) / beta.
    Uniform(usize),
}

impl Estimator {
    /// A short name for reports.
    ///
    /// ```
    /// use finn_train::softq::learn::Estimator;
    /// assert_eq!(Estimator::Uniform(16).name(), "16 uniform samples");
    /// ```
    pub fn name(&self) -> String {
        match self {
            Estimator::Exact => "exact".into(),
            Estimator::Uniform(1) => "1 uniform sample".into(),
            Estimator::Uniform(n) => format!("{n} uniform samples"),
        }
    }
}

/// The learner's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Seed of the parameters, the episodes' starts, the minibatches and the policy's
    /// uniforms.
    pub seed: u64,
    /// Training episodes (200 steps each), warm-up included.
    pub episodes: usize,
    /// Episodes with uniform random actions first.
    pub warmup_episodes: usize,
    /// Adam steps after each episode.
    pub updates_per_episode: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Adam's step size.
    pub learning_rate: f64,
    /// Discount gamma.
    pub gamma: f64,
    /// Updates between refreshes of the frozen target parameters.
    pub target_period: usize,
    /// Hypernetwork hidden widths.
    pub state_widths: Vec<usize>,
    /// Units (Gaussian bumps) of the action network's one hidden layer.
    pub bumps: usize,
    /// Inverse temperature beta.
    pub beta: f64,
    /// The unit of c(s) (Q magnitudes reach a few hundred: c = log_scale * head output).
    pub log_scale: f64,
    /// Weight of the gauge penalty (ln Z)^2 / 2 per sample
    /// ([`super::model::residual_gradient`]).
    pub gauge: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 1,
            episodes: 60,
            warmup_episodes: 5,
            updates_per_episode: 200,
            batch: 128,
            learning_rate: 1e-3,
            gamma: 0.98,
            target_period: 200,
            state_widths: vec![64, 64],
            bumps: 8,
            beta: 2.0,
            log_scale: 200.0,
            gauge: 1.0,
        }
    }
}

impl Settings {
    /// The model's shape.
    pub fn shape(&self) -> Shape {
        Shape::pendulum(&self.state_widths, self.bumps, self.beta, self.log_scale)
    }

    /// Checks the settings (sizes against [`PendulumSoftQ`]'s capacities).
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Config(format!("softq training: {m}")));
        self.shape().validate()?;
        if self.state_widths.iter().any(|&w| w > 64) || self.bumps > 16 {
            return bad("state widths at most 64, bumps at most 16");
        }
        if self.episodes == 0 || self.batch == 0 || self.target_period == 0 {
            return bad("episodes, batch and target_period must be > 0");
        }
        if !(self.gamma > 0.0 && self.gamma < 1.0) {
            return bad("gamma must be in (0, 1)");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate must be finite and > 0");
        }
        if !(self.gauge >= 0.0 && self.gauge.is_finite()) {
            return bad("gauge must be finite and >= 0");
        }
        Ok(())
    }
}

/// One step of experience, in the model's features.
#[derive(Clone, Copy, Debug)]
pub struct Transition {
    /// Features of s.
    pub s: [f64; 3],
    /// Torque a.
    pub a: f64,
    /// Reward r.
    pub r: f64,
    /// Features of s'.
    pub next: [f64; 3],
}

/// A trained model and its training record.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The estimator used for the targets.
    pub estimator: Estimator,
    /// The final parameters.
    pub params: Vec<f64>,
    /// Return of each training episode.
    pub episode_returns: Vec<f64>,
    /// Wall-clock training time (s).
    pub seconds: f64,
    /// Samples skipped because f~ underflowed at their action.
    pub skipped: usize,
    /// The replay buffer at the end (the visited states).
    pub buffer: Vec<Transition>,
}

/// The finn-core model for host parameters.
pub fn core_model(settings: &Settings, params: &[f64]) -> Result<PendulumSoftQ, TrainError> {
    let actions = Domain::new([-MAX_TORQUE], [MAX_TORQUE])?;
    Ok(PendulumSoftQ::new(
        &settings.state_widths,
        &[settings.bumps],
        actions,
        settings.beta,
        settings.log_scale,
        params,
    )?)
}

/// V(s) by `estimator`, drawing uniforms in [0, 1) from `uniform` when it samples.
///
/// ```
/// use finn_train::softq::learn::{core_model, estimate_v, Estimator, Settings};
/// use finn_train::softq::model::initial_parameters;
/// let settings = Settings { state_widths: vec![8], ..Settings::default() };
/// let q = core_model(&settings, &initial_parameters(&settings.shape(), 3)).unwrap();
/// let s = [1.0, 0.0, 0.0];
/// let exact = estimate_v(&q, &s, Estimator::Exact, &mut || 0.5).unwrap();
/// assert_eq!(exact, q.v(&s).unwrap());
/// // Jensen: a sampled log-mean-exp is below the exact V on average, not always.
/// let one = estimate_v(&q, &s, Estimator::Uniform(1), &mut || 0.5).unwrap();
/// assert!(one.is_finite());
/// ```
pub fn estimate_v(
    model: &PendulumSoftQ,
    s: &[f64; 3],
    estimator: Estimator,
    uniform: &mut dyn FnMut() -> f64,
) -> Result<f64, TrainError> {
    match estimator {
        Estimator::Exact => Ok(model.v(s)?),
        Estimator::Uniform(n) => {
            let (net, c) = model.action_network(s)?;
            let (lo, hi) = (-MAX_TORQUE, MAX_TORQUE);
            let logs: Vec<f64> = (0..n.max(1))
                .map(|_| {
                    let a = lo + (hi - lo) * uniform();
                    net.integrand(&[a]).map(f64::ln)
                })
                .collect::<Result<_, _>>()?;
            let max = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if !max.is_finite() {
                return Err(finn_core::Error::DegenerateIntegral.into());
            }
            let lse = max + logs.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
            let n = logs.len() as f64;
            Ok((c + lse - n.ln() + (hi - lo).ln()) / model.beta())
        }
    }
}

/// Adam's state.
struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
    rate: f64,
}

impl Adam {
    fn step(&mut self, p: &mut [f64], g: &[f64]) {
        self.t += 1;
        let (b1, b2) = (0.9f64, 0.999f64);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for i in 0..p.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g[i] * g[i];
            p[i] -= self.rate * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

/// Runs one episode from `start`; `policy` None means uniform actions. Returns the return.
fn episode(
    policy: Option<&PendulumSoftQ>,
    start: Pendulum,
    rng: &mut SplitMix64,
    mut record: impl FnMut(Transition),
) -> Result<f64, TrainError> {
    let mut env = start;
    let mut total = 0.0;
    for _ in 0..EPISODE_STEPS {
        let s = env.features();
        let u = rng.unit();
        let a = match policy {
            Some(q) => q.sample_action(&s, &[u])?[0],
            None => -MAX_TORQUE + 2.0 * MAX_TORQUE * u,
        };
        let r = env.step(a);
        total += r;
        record(Transition {
            s,
            a,
            r,
            next: env.features(),
        });
    }
    Ok(total)
}

/// Trains with `estimator` for the targets; `progress(episode, return)` after each episode.
pub fn train(
    settings: &Settings,
    estimator: Estimator,
    mut progress: impl FnMut(usize, f64),
) -> Result<Trained, TrainError> {
    settings.validate()?;
    let started = std::time::Instant::now();
    let shape = settings.shape();
    let mut params = initial_parameters(&shape, settings.seed);
    let mut target = core_model(settings, &params)?;
    let mut adam = Adam {
        m: vec![0.0; params.len()],
        v: vec![0.0; params.len()],
        t: 0,
        rate: settings.learning_rate,
    };
    // Separate streams: starts, actions, minibatches, estimator samples.
    let mut starts = SplitMix64::new(settings.seed.wrapping_mul(0x1000_0001) ^ 0xA5);
    let mut actions = SplitMix64::new(settings.seed ^ 0x5EED_AC71);
    let mut batches = SplitMix64::new(settings.seed ^ 0x0BA7_C4E5);
    let mut samples = SplitMix64::new(settings.seed ^ 0x005A_3F1E);
    let mut buffer: Vec<Transition> = Vec::new();
    let mut returns = Vec::new();
    let mut skipped = 0;
    let mut updates = 0usize;
    for ep in 0..settings.episodes {
        let policy = if ep < settings.warmup_episodes {
            None
        } else {
            Some(core_model(settings, &params)?)
        };
        let start = Pendulum::reset(starts.unit(), starts.unit());
        let ret = episode(policy.as_ref(), start, &mut actions, |t| buffer.push(t))?;
        returns.push(ret);
        progress(ep, ret);
        for _ in 0..settings.updates_per_episode {
            let batch: Vec<Transition> = (0..settings.batch)
                .map(|_| buffer[(batches.unit() * buffer.len() as f64) as usize % buffer.len()])
                .collect();
            let targets: Vec<f64> = batch
                .iter()
                .map(|t| {
                    estimate_v(&target, &t.next, estimator, &mut || samples.unit())
                        .map(|v| t.r + settings.gamma * v)
                })
                .collect::<Result<_, _>>()?;
            let (grad, skip) = batch_gradient(
                settings.gauge / settings.batch as f64,
                &shape,
                &params,
                &batch,
                &targets,
            );
            skipped += skip;
            adam.step(&mut params, &grad);
            updates += 1;
            if updates % settings.target_period == 0 {
                target = core_model(settings, &params)?;
            }
        }
    }
    Ok(Trained {
        estimator,
        params,
        episode_returns: returns,
        seconds: started.elapsed().as_secs_f64(),
        skipped,
        buffer,
    })
}

/// Gradient of the mean of (Q(s, a) - y)^2 / 2 over the batch, in fixed blocks summed in
/// order (the same result for any thread count), and the number of skipped samples.
fn batch_gradient(
    gauge: f64,
    shape: &Shape,
    params: &[f64],
    batch: &[Transition],
    targets: &[f64],
) -> (Vec<f64>, usize) {
    let n = params.len();
    let parts: Vec<(Vec<f64>, usize)> = batch
        .par_chunks(32)
        .zip(targets.par_chunks(32))
        .map(|(ts, ys)| {
            let mut g = vec![0.0; n];
            let mut scratch = Scratch::default();
            let mut skip = 0;
            for (t, y) in ts.iter().zip(ys) {
                let w = |q: f64| (q - y) / batch.len() as f64;
                if residual_gradient(shape, params, &t.s, &[t.a], &w, gauge, &mut g, &mut scratch)
                    .is_err()
                {
                    skip += 1;
                }
            }
            (g, skip)
        })
        .collect();
    let mut grad = vec![0.0; n];
    let mut skipped = 0;
    for (g, s) in parts {
        for (a, b) in grad.iter_mut().zip(g) {
            *a += b;
        }
        skipped += s;
    }
    (grad, skipped)
}

/// Returns of `episodes` evaluation episodes from seeded starts (a stream apart from
/// training's), actions sampled exactly from pi; `None` is the uniform random policy.
pub fn evaluate(
    model: Option<&PendulumSoftQ>,
    episodes: usize,
    seed: u64,
) -> Result<Vec<f64>, TrainError> {
    let mut starts = SplitMix64::new(seed ^ 0xE7A1_0000);
    let mut actions = SplitMix64::new(seed ^ 0xE7A1_AC70);
    (0..episodes)
        .map(|_| {
            let start = Pendulum::reset(starts.unit(), starts.unit());
            episode(model, start, &mut actions, |_| {})
        })
        .collect()
}

/// Bias and variance of a sampling estimator against the exact V.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EstimatorStats {
    /// Mean over states of (mean estimate - exact V), in Q's units.
    pub bias: f64,
    /// Mean over states of the estimate's variance across draws.
    pub variance: f64,
    /// sqrt(mean squared error) over states and draws.
    pub rmse: f64,
    /// States used.
    pub states: usize,
    /// Draws per state.
    pub draws: usize,
}

/// Measures `estimator` against the exact V on `states`, `draws` draws each.
pub fn estimator_stats(
    model: &PendulumSoftQ,
    states: &[[f64; 3]],
    estimator: Estimator,
    draws: usize,
    seed: u64,
) -> Result<EstimatorStats, TrainError> {
    let mut rng = SplitMix64::new(seed);
    let (mut bias, mut variance, mut mse) = (0.0, 0.0, 0.0);
    for s in states {
        let exact = model.v(s)?;
        let est: Vec<f64> = (0..draws)
            .map(|_| estimate_v(model, s, estimator, &mut || rng.unit()))
            .collect::<Result<_, _>>()?;
        let mean = est.iter().sum::<f64>() / draws as f64;
        bias += mean - exact;
        variance += est.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / draws as f64;
        mse += est.iter().map(|e| (e - exact).powi(2)).sum::<f64>() / draws as f64;
    }
    let k = states.len().max(1) as f64;
    Ok(EstimatorStats {
        bias: bias / k,
        variance: variance / k,
        rmse: (mse / k).sqrt(),
        states: states.len(),
        draws,
    })
}

/// Mean and (population) standard deviation.
///
/// ```
/// assert_eq!(finn_train::softq::learn::mean_std(&[1.0, 3.0]), (2.0, 1.0));
/// ```
pub fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

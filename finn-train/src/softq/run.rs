//! `application = "softq"`: the config, the run (three learners and a random policy), the
//! model file and the report.

use super::learn::{
    core_model, estimator_stats, evaluate, mean_std, train, Estimator, EstimatorStats, Settings,
    Trained,
};
use super::model::Shape;
use crate::config::{with_suffix, Artefacts, Job, Outcome};
use crate::observer::Observer;
use crate::solve::{Report, Step};
use crate::TrainError;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::PathBuf;

/// The value of the `format` field of the model JSON.
pub const JSON_FORMAT: &str = "finn-softq";

/// A `softq` config file (every key: `docs/config.md`, `docs/softq.md`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftQConfig {
    /// Always `"softq"` here.
    pub application: String,
    /// Output stem of the model (`<stem>.json`, and its f64 blob `<stem>.postcard`), relative
    /// to the config's directory.
    pub output: PathBuf,
    /// The report's path, relative to the config's directory.
    pub report: PathBuf,
    /// `[training]`: the learner, the same for every estimator.
    #[serde(default)]
    pub training: Settings,
    /// `[evaluation]`.
    #[serde(default)]
    pub evaluation: EvaluationConfig,
}

/// `[evaluation]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// Evaluation episodes per policy.
    pub episodes: usize,
    /// Seed of the evaluation starts and the policies' uniforms (apart from training's).
    pub seed: u64,
    /// Visited states (from the exact learner's replay buffer) the estimators are measured on.
    pub states: usize,
    /// Draws of each sampling estimator per state.
    pub draws: usize,
    /// The goal: the exact learner's mean return must exceed this.
    pub goal: f64,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            episodes: 100,
            seed: 2024,
            states: 500,
            draws: 200,
            goal: -300.0,
        }
    }
}

impl SoftQConfig {
    /// Checks the values.
    pub fn check(&self) -> Result<(), TrainError> {
        self.training.validate()?;
        if self.evaluation.episodes == 0 || self.evaluation.draws < 2 {
            return Err(TrainError::Config(
                "evaluation: episodes must be > 0 and draws >= 2".into(),
            ));
        }
        Ok(())
    }
}

/// The model file: everything needed to rebuild the finn-core model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftQFile {
    /// Always [`JSON_FORMAT`].
    pub format: String,
    /// Sizes, action box, beta, log-scale unit.
    pub shape: Shape,
    /// The flat parameters ([`finn_core::softq`]'s layout).
    pub params: Vec<f64>,
    /// The learner's settings that produced it.
    pub settings: Settings,
}

/// One policy's evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct Variant {
    /// "exact", "16 uniform samples", "1 uniform sample", "random".
    pub name: String,
    /// Training time (s), 0 for the random policy.
    pub seconds: f64,
    /// Mean evaluation return.
    pub mean: f64,
    /// Standard deviation of the evaluation returns.
    pub std: f64,
    /// Mean return of the last 10 training episodes.
    pub last_training: f64,
    /// The evaluation returns, episode by episode (the same starts for every variant).
    pub returns: Vec<f64>,
    /// Mean and standard error of the exact learner's return minus this one's, episode by
    /// episode (paired: each start's own difficulty cancels); `None` for the exact learner.
    pub exact_minus_this: Option<(f64, f64)>,
}

/// What a `softq` run measured.
#[derive(Clone, Debug, Serialize)]
pub struct SoftQOutcome {
    /// Exact, 16 samples, 1 sample, random.
    pub variants: Vec<Variant>,
    /// The 16-sample estimator against exact V on visited states (exact learner's model).
    pub sixteen: EstimatorStats,
    /// The 1-sample estimator, likewise.
    pub one: EstimatorStats,
}

/// Mean and standard error of a_k - b_k over paired episodes.
///
/// ```
/// let (d, se) = finn_train::softq::run::paired_difference(&[3.0, 5.0, 7.0], &[1.0, 4.0, 4.0]);
/// assert_eq!(d, 2.0);
/// assert!((se - (1.0f64 / 3.0).sqrt()).abs() < 1e-12); // differences 2, 1, 3
/// ```
pub fn paired_difference(a: &[f64], b: &[f64]) -> (f64, f64) {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len() as f64;
    if d.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// Trains the three learners, evaluates them and a random policy, measures the estimators,
/// writes the model JSON (the exact learner's) and the report.
pub fn run(
    job: &Job,
    c: &SoftQConfig,
    observer: &mut dyn Observer,
) -> Result<Artefacts, TrainError> {
    let stem = job.prepare_stem()?;
    let e = &c.evaluation;
    let mut variants = Vec::new();
    let mut exact: Option<Trained> = None;
    for estimator in [
        Estimator::Exact,
        Estimator::Uniform(16),
        Estimator::Uniform(1),
    ] {
        let label = format!("softq {} (loss = -return)", estimator.name());
        observer.start(&label, c.training.episodes as u64);
        let trained = train(&c.training, estimator, |ep, ret| {
            observer.iteration(&Step {
                iteration: ep as u64,
                loss: -ret,
                grad_norm: 0.0,
            })
        })?;
        let returns = evaluate(
            Some(&core_model(&c.training, &trained.params)?),
            e.episodes,
            e.seed,
        )?;
        let (mean, std) = mean_std(&returns);
        observer.finish(
            &label,
            &Report {
                params: Vec::new(),
                loss: -mean,
                iterations: c.training.episodes as u64,
                termination: format!("evaluation return {mean:.1} +- {std:.1}"),
                history: Vec::new(),
                seconds: trained.seconds,
            },
        );
        let tail = &trained.episode_returns[trained.episode_returns.len().saturating_sub(10)..];
        variants.push(Variant {
            name: estimator.name(),
            seconds: trained.seconds,
            mean,
            std,
            last_training: mean_std(tail).0,
            returns,
            exact_minus_this: None,
        });
        if estimator == Estimator::Exact {
            exact = Some(trained);
        }
    }
    let returns = evaluate(None, e.episodes, e.seed)?;
    let (mean, std) = mean_std(&returns);
    variants.push(Variant {
        name: "random".into(),
        seconds: 0.0,
        mean,
        std,
        last_training: f64::NAN,
        returns,
        exact_minus_this: None,
    });
    let exact_returns = variants[0].returns.clone();
    for v in variants.iter_mut().skip(1) {
        v.exact_minus_this = Some(paired_difference(&exact_returns, &v.returns));
    }
    let exact = exact.ok_or_else(|| TrainError::Solver("no exact run".into()))?;
    let model = core_model(&c.training, &exact.params)?;
    let step = (exact.buffer.len() / e.states.max(1)).max(1);
    let states: Vec<[f64; 3]> = exact
        .buffer
        .iter()
        .step_by(step)
        .take(e.states)
        .map(|t| t.next)
        .collect();
    let sixteen = estimator_stats(&model, &states, Estimator::Uniform(16), e.draws, e.seed)?;
    let one = estimator_stats(&model, &states, Estimator::Uniform(1), e.draws, e.seed + 1)?;
    let outcome = SoftQOutcome {
        variants,
        sixteen,
        one,
    };
    let file = SoftQFile {
        format: JSON_FORMAT.into(),
        shape: c.training.shape(),
        params: exact.params.clone(),
        settings: c.training.clone(),
    };
    let json = with_suffix(&stem, ".json");
    let text = serde_json::to_string_pretty(&file).map_err(|e| TrainError::Data(e.to_string()))?;
    std::fs::write(&json, text)?;
    let blob = with_suffix(&stem, ".postcard");
    std::fs::write(
        &blob,
        super::blob::to_blob(&file.shape, &file.params, finn_core::format::Scalar::F64)?,
    )?;
    let report = job.resolve(&c.report);
    if let Some(dir) = report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&report, report_text(job, c, &outcome))?;
    let report = report.canonicalize().unwrap_or(report);
    let ex = &outcome.variants[0];
    let mut unproven = Vec::new();
    if ex.mean.is_nan() || ex.mean <= e.goal {
        unproven.push(format!(
            "the exact learner's mean return {:.1} is not above the goal {}",
            ex.mean, e.goal
        ));
    }
    let summary = outcome
        .variants
        .iter()
        .map(|v| format!("{}: {:.1} +- {:.1}", v.name, v.mean, v.std))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Artefacts {
        stem,
        files: vec![json, blob, report],
        summary: format!(
            "softq pendulum returns over {} episodes: {summary}",
            e.episodes
        ),
        outcome: Outcome::SoftQ(Box::new(outcome)),
        unproven,
    })
}

/// The Markdown report.
fn report_text(job: &Job, c: &SoftQConfig, o: &SoftQOutcome) -> String {
    let t = &c.training;
    let e = &c.evaluation;
    let mut s = String::new();
    let _ = writeln!(s, "# Soft-Q on Pendulum-v1: exact V against sampled V\n");
    let _ = writeln!(s, "Produced by `{}` (config below).\n", job.command());
    let _ = writeln!(
        s,
        "Soft fitted Q-iteration, {} episodes of 200 steps ({} warm-up with uniform actions), \
         {} Adam steps of batch {} after each, target refreshed every {} steps, gamma {}, \
         beta {}, hypernetwork {:?} (tanh), {} Gaussian bumps over the action, seed {}. \
         The three learners differ only in how V(s') is obtained in the targets.\n",
        t.episodes,
        t.warmup_episodes,
        t.updates_per_episode,
        t.batch,
        t.target_period,
        t.gamma,
        t.beta,
        t.state_widths,
        t.bumps,
        t.seed
    );
    let _ = writeln!(
        s,
        "## Returns over {} evaluation episodes (seeded starts, actions sampled exactly from pi)\n",
        e.episodes
    );
    let _ = writeln!(s, "| V(s') in the targets | training (s) | last 10 training episodes | evaluation return, mean ± std | exact minus this, paired (s.e.) |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
    for v in &o.variants {
        let train = if v.seconds > 0.0 {
            format!("{:.1}", v.seconds)
        } else {
            "-".into()
        };
        let last = if v.last_training.is_finite() {
            format!("{:.1}", v.last_training)
        } else {
            "-".into()
        };
        let paired = match v.exact_minus_this {
            Some((d, se)) => format!("{d:+.1} ({se:.1})"),
            None => "-".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {train} | {last} | {:.1} ± {:.1} | {paired} |",
            v.name, v.mean, v.std
        );
    }
    let _ = writeln!(
        s,
        "\nThe last column pairs the episodes: every variant starts its episode k from the same \
         state with the same action uniforms, so the difference of returns episode by episode \
         removes each start's own difficulty. A difference within about two standard errors \
         is a tie."
    );
    let _ = writeln!(
        s,
        "\n## The sampled estimators against the exact V\n\n\
         On {} states visited by the exact learner (its replay buffer), with its final model, \
         {} draws per state, in units of Q. Estimate: (logsumexp_i(beta Q(s, a_i)) - ln N + \
         ln 4) / beta, a_i uniform on [-2, 2].\n",
        o.sixteen.states, o.sixteen.draws
    );
    let _ = writeln!(s, "| estimator | bias | variance | RMSE |");
    let _ = writeln!(s, "| --- | --- | --- | --- |");
    for (name, st) in [
        ("16 uniform samples", &o.sixteen),
        ("1 uniform sample", &o.one),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {:.4} | {:.4} | {:.4} |",
            st.bias, st.variance, st.rmse
        );
    }
    let _ = writeln!(s, "| exact (corner sum) | 0 | 0 | 0 |");
    let _ = writeln!(s, "\n## Config\n\n```toml\n{}```", job.text);
    s
}

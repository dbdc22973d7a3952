//! The `softq` application (paper §4.4): a soft Q-function whose exp(beta Q) is a positive
//! FINN over the action box, learned by soft fitted Q-iteration on Gym's Pendulum-v1 with the
//! exact soft value V(s') in the targets, and compared with the sampled estimates of V that
//! soft Q-learning uses.
//!
//! * [`model`]: the model on the host (run-time sizes) and the exact gradient of Q.
//! * [`pendulum`]: the environment.
//! * [`learn`]: replay buffer, targets, Adam, evaluation, estimator statistics.
//! * [`figure5`]: the paper's Figure 5 (`cargo xtask figure5`).
//! * [`blob`]: the model as a blob (payload 5) for the device.
//! * [`mod@run`]: the config (`application = "softq"`), the model file and the report.
//!
//! The model itself, for f32 and f64 and without allocation, is [`finn_core::softq`].

pub mod blob;
pub mod figure5;
pub mod learn;
pub mod model;
pub mod pendulum;
pub mod run;

pub use run::{run, SoftQConfig, SoftQOutcome};

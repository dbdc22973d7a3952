//! A failed line search does not lose the solve: `solve::fit_problem` restarts from the best
//! parameters so far, or returns them with the failure in the termination.
//!
//! The objective is a badly scaled quadratic whose gradient carries a small deterministic
//! error, as a real loss's gradient carries rounding: near the minimum the error dominates, a
//! quasi-Newton direction stops being a descent direction and argmin's More-Thuente line
//! search fails. Before the restarts, that failure was returned as an error and the progress
//! was lost.

use argmin::core::{CostFunction, Error, Gradient};
use finn_train::solve::{self, Method, Settings};

/// sum_i c_i (x_i - 1)^2 with c_i from 1 to 10^4; the gradient has an error of relative size
/// `noise` of its scale, a deterministic function of x's bits.
struct NoisyQuadratic {
    scales: Vec<f64>,
    noise: f64,
}

impl NoisyQuadratic {
    fn new(n: usize, noise: f64) -> Self {
        let scales = (0..n)
            .map(|i| 10f64.powf(4.0 * i as f64 / (n - 1) as f64))
            .collect();
        NoisyQuadratic { scales, noise }
    }
}

impl CostFunction for NoisyQuadratic {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        Ok(x.iter()
            .zip(&self.scales)
            .map(|(x, c)| c * (x - 1.0) * (x - 1.0))
            .sum())
    }
}

impl Gradient for NoisyQuadratic {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, x: &Vec<f64>) -> Result<Vec<f64>, Error> {
        let mut h = 0x9E37_79B9_7F4A_7C15u64;
        Ok(x.iter()
            .zip(&self.scales)
            .map(|(x, c)| {
                h = (h ^ x.to_bits()).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                h ^= h >> 31;
                let u = (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                2.0 * c * (x - 1.0) + self.noise * c * u
            })
            .collect())
    }
}

fn settings(method: Method) -> Settings {
    Settings {
        method,
        max_iters: 2000,
        tol_grad: 0.0,
        tol_cost: 0.0,
    }
}

#[test]
fn a_failed_line_search_keeps_the_best_parameters() {
    for method in [Method::Lbfgs { memory: 10 }, Method::Bfgs] {
        let problem = NoisyQuadratic::new(20, 1e-6);
        let start = problem.cost(&vec![0.0; 20]).unwrap();
        let report = solve::fit_problem(problem, vec![0.0; 20], &settings(method), |_| {})
            .unwrap_or_else(|e| panic!("{method:?}: {e}"));
        eprintln!(
            "{method:?}: {} iterations, loss {:e}: {}",
            report.iterations, report.loss, report.termination
        );
        // L-BFGS's line search did fail (the tolerances are 0, so nothing else stops it
        // early); BFGS, whose update skips pairs with y^T s <= 0, keeps descent directions
        // and runs to the cap.
        if let Method::Lbfgs { .. } = method {
            assert!(
                report.termination.contains("restarts"),
                "{method:?}: {}",
                report.termination
            );
        }
        // And the result is the progress made, not the start.
        assert!(
            report.loss < 1e-8 * start,
            "{method:?}: {} of {start}",
            report.loss
        );
        let again = NoisyQuadratic::new(20, 1e-6).cost(&report.params).unwrap();
        assert_eq!(again, report.loss);
        // The history continues across restarts: iterations strictly increase.
        assert!(report
            .history
            .windows(2)
            .all(|w| w[1].iteration > w[0].iteration));
        assert!(report.history.windows(2).all(|w| w[1].loss <= w[0].loss));
    }
}

#[test]
fn a_failure_before_any_iteration_is_an_error() {
    /// Its gradient points uphill everywhere: the first line search fails.
    struct Uphill;
    impl CostFunction for Uphill {
        type Param = Vec<f64>;
        type Output = f64;
        fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
            Ok(x.iter().map(|v| v * v).sum())
        }
    }
    impl Gradient for Uphill {
        type Param = Vec<f64>;
        type Gradient = Vec<f64>;
        fn gradient(&self, x: &Vec<f64>) -> Result<Vec<f64>, Error> {
            Ok(x.iter().map(|v| -2.0 * v).collect())
        }
    }
    let err = solve::fit_problem(
        Uphill,
        vec![1.0; 3],
        &settings(Method::Lbfgs { memory: 10 }),
        |_| {},
    );
    assert!(err.is_err(), "{:?}", err.map(|r| r.termination));
}

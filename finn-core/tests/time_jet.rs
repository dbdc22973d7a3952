//! `Network::time_jet` (the trajectories' time derivatives) against the general integrand path
//! and central differences, for every hidden width from 1 to 17 and depths 1 to 3: the hidden
//! layers are evaluated eight units at a time with a one-at-a-time remainder, the last one
//! straight into the output sum, and a unit that either path dropped or doubled would show
//! here.

use finn_core::{parameter_count, Activation, Antiderivative, Network};

fn net(widths: &[usize], activation: Activation) -> Network<f64, 1, 17, 3> {
    let params: Vec<f64> = (0..parameter_count(1, widths))
        .map(|i| 0.9 * (i as f64 * 0.731 + 0.2).sin())
        .collect();
    Network::signed(activation, widths, &params).unwrap()
}

#[test]
fn time_jet_matches_the_integrand_and_its_differences_for_every_width() {
    for activation in [Activation::Tanh, Activation::Sigma] {
        for depth in [1, 2, 3] {
            for w in 1..=17 {
                let widths: Vec<usize> = (0..depth)
                    .map(|l| if l == 0 && depth > 1 { 5 } else { w })
                    .collect();
                let net = net(&widths, activation);
                for t in [-1.3, -0.2, 0.0, 0.45, 1.7] {
                    let mut jet = [0.0; 4];
                    net.time_jet::<4>(t, &mut jet).unwrap();
                    let f = |t: f64| net.integrand(&[t]).unwrap();
                    let scale = 1.0 + jet[1].abs();
                    let case = format!("{activation:?} widths {widths:?} t {t}");
                    assert!(
                        (jet[0] - net.antiderivative(&[t]).unwrap()).abs()
                            < 1e-13 * (1.0 + jet[0].abs()),
                        "F: {case}"
                    );
                    assert!((jet[1] - f(t)).abs() < 1e-13 * scale, "F': {case}");
                    let h = 1e-4;
                    let d2 = (f(t + h) - f(t - h)) / (2.0 * h);
                    let d3 = (f(t + h) - 2.0 * f(t) + f(t - h)) / (h * h);
                    assert!(
                        (jet[2] - d2).abs() < 1e-6 * (1.0 + jet[2].abs()),
                        "F'': {case}: {} vs {d2}",
                        jet[2]
                    );
                    assert!(
                        (jet[3] - d3).abs() < 1e-4 * (1.0 + jet[3].abs()),
                        "F''': {case}: {} vs {d3}",
                        jet[3]
                    );
                }
            }
        }
    }
}

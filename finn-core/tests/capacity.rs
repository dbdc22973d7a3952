//! The bounded collections (`heapless::Vec`) behind a network's widths, a trajectory's
//! via-point coefficients and a blob view's run-time-sized fields: whatever does not fit
//! the capacity is a typed error, never a panic; what fits comes back unchanged; reloading
//! with fewer layers or via-points leaves nothing of the previous load behind.

use finn_core::format::{
    decode, decode_trajectory, encode, encode_trajectory, FormatError, ModelHeader, Payload,
    Scalar, TrajectoryHeader, MAX_COORDS, MAX_LAYERS, MAX_VIA,
};
use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};
use finn_core::{parameter_count, Activation, Antiderivative, Error, Kind, Network, Resolved};
use proptest::prelude::*;

const W: usize = 4;
const L: usize = 3;
type Net = Network<f64, 2, W, L>;

/// Widths that may break the capacity: 0 to L + 2 layers of 0 to W + 1 units.
fn any_widths() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..=W + 1, 0..=L + 2)
}

fn fits(widths: &[usize]) -> bool {
    !widths.is_empty() && widths.len() <= L && widths.iter().all(|&w| (1..=W).contains(&w))
}

fn values(count: usize, seed: u64) -> Vec<f64> {
    (0..count)
        .map(|i| ((i as f64 + 1.0) * 0.37 + seed as f64 * 0.11).sin())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Loading never panics: widths beyond the capacity are `InvalidShape` and leave the
    /// network unloaded; widths within it load, and the parameters round-trip.
    #[test]
    fn network_widths_fit_or_fail(widths in any_widths(), seed in 0u64..1000) {
        let params = values(parameter_count(2, &widths).min(10_000), seed);
        let mut net = Net::unloaded();
        let result = net.load_parameters(
            Kind::Signed,
            Activation::Tanh,
            &widths,
            params.iter().copied(),
        );
        if fits(&widths) {
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(net.widths(), &widths[..]);
            let mut out = vec![0.0; params.len()];
            prop_assert_eq!(net.write_parameters(&mut out), Ok(params.len()));
            prop_assert_eq!(out, params);
        } else {
            prop_assert_eq!(result, Err(Error::InvalidShape));
            prop_assert!(net.widths().is_empty());
            prop_assert_eq!(net.integrand(&[0.1, 0.2]), Ok(0.0));
        }
    }

    /// A network reloaded in place with other widths is the network built with those widths
    /// from scratch: nothing of the previous, possibly deeper, load remains.
    #[test]
    fn network_reload_forgets_the_previous_widths(
        first in prop::collection::vec(1usize..=W, 1..=L),
        second in prop::collection::vec(1usize..=W, 1..=L),
        seed in 0u64..1000,
    ) {
        let mut net = Net::unloaded();
        let p1 = values(parameter_count(2, &first), seed);
        net.load_parameters(Kind::Signed, Activation::Tanh, &first, p1).unwrap();
        let p2 = values(parameter_count(2, &second), seed + 1);
        net.load_parameters(Kind::Signed, Activation::Tanh, &second, p2.iter().copied())
            .unwrap();
        let fresh = Net::signed(Activation::Tanh, &second, &p2).unwrap();
        prop_assert_eq!(net.widths(), fresh.widths());
        for x in [[0.1, 0.2], [-0.7, 0.4], [1.3, -1.1]] {
            prop_assert_eq!(net.antiderivative(&x), fresh.antiderivative(&x));
            prop_assert_eq!(net.integrand(&x), fresh.integrand(&x));
        }
    }

    /// A trajectory reloaded in place with fewer via-points samples exactly as one built
    /// with those via-points (the coefficient vector is cut, not left with stale rows), and
    /// more via-points than V is `InvalidViaPoints`.
    #[test]
    fn trajectory_via_points_fit_or_fail(
        first in prop::collection::vec(0.05f64..0.95, 0..=3),
        second in prop::collection::vec(0.05f64..0.95, 0..=2),
        seed in 0u64..1000,
    ) {
        let via = |times: &[f64]| {
            let mut times = times.to_vec();
            times.sort_by(f64::total_cmp);
            times.dedup_by(|a, b| (*a - *b).abs() < 0.05);
            times
                .iter()
                .map(|&t| Via { time: t, position: [t.sin() + 1.0, t * t - 0.5] })
                .collect::<Vec<_>>()
        };
        let widths = [3];
        let nets = || {
            [0, 1].map(|i| {
                let p = values(parameter_count(1, &widths), seed + i);
                Network::<f64, 1, 3, 1>::signed(Activation::Tanh, &widths, &p).unwrap()
            })
        };
        let (v1, v2) = (via(&first), via(&second));
        let build = |v: &[Via<f64, 2>]| {
            Trajectory::<f64, 2, 3, 1, 2>::new(
                nets(), 0.0, 1.0, [0.0, 1.0], [2.0, -1.0], v, OutsidePolicy::Hold,
            )
        };
        let mut traj = Trajectory::<f64, 2, 3, 1, 2>::unloaded();
        *traj.coordinates_mut() = nets();
        let loaded = traj.reload(0.0, 1.0, [0.0, 1.0], [2.0, -1.0], &v1, OutsidePolicy::Hold);
        if v1.len() > 2 {
            prop_assert_eq!(loaded, Err(Error::InvalidViaPoints));
            prop_assert!(traj.sample(0.5).is_err());
        } else if loaded.is_err() {
            // A singular via-point system is refused the same way by `new`.
            prop_assert_eq!(loaded, build(&v1).map(|_| ()));
        }
        let reloaded = traj.reload(0.0, 1.0, [0.0, 1.0], [2.0, -1.0], &v2, OutsidePolicy::Hold);
        match build(&v2) {
            Ok(fresh) => {
                prop_assert_eq!(reloaded, Ok(()));
                for t in [0.0, 0.1, 0.37, 0.5, 0.93, 1.0] {
                    prop_assert_eq!(traj.sample(t), fresh.sample(t));
                }
            }
            Err(e) => prop_assert_eq!(reloaded, Err(e)),
        }
    }

    /// A trajectory blob of any shape within the format's limits comes back unchanged from
    /// its view: widths, states and via-points.
    #[test]
    fn trajectory_view_round_trip(
        widths in prop::collection::vec(1usize..=3, 1..=MAX_LAYERS),
        d in 1usize..=MAX_COORDS,
        nvia in 0usize..=MAX_VIA,
        seed in 0u64..1000,
    ) {
        let x0 = values(d, seed);
        let x1 = values(d, seed + 1);
        let via_times: Vec<f64> = (1..=nvia).map(|k| k as f64 / (nvia + 1) as f64).collect();
        let via_positions = values(nvia * d, seed + 2);
        let header = TrajectoryHeader {
            activation: Activation::Tanh,
            widths: &widths,
            t0: 0.0,
            t1: 1.0,
            x0: &x0,
            x1: &x1,
            via_times: &via_times,
            via_positions: &via_positions,
            policy: OutsidePolicy::Reject,
        };
        let params = values(d * parameter_count(1, &widths), seed + 3);
        let mut buf = vec![0u8; 64 * 1024];
        let len = encode_trajectory(&header, &params, Scalar::F64, &mut buf).unwrap();
        let view = decode_trajectory(&buf[..len]).unwrap();
        prop_assert_eq!(view.header(), header);
        prop_assert_eq!(view.coordinates(), d);
        prop_assert_eq!(view.parameter_count(), params.len());
        for k in 0..nvia {
            prop_assert_eq!(
                view.via_point(k),
                Some((via_times[k], &via_positions[k * d..k * d + d]))
            );
        }
        prop_assert_eq!(view.via_point(nvia), None);
        prop_assert!(view.parameters().eq(params.iter().copied()));
    }

    /// A model blob of any shape within the format's limits comes back unchanged from its
    /// view, and a view of more layers than a model's capacity is refused with a typed error.
    #[test]
    fn model_view_round_trip(
        widths in prop::collection::vec(1usize..=3, 1..=MAX_LAYERS),
        seed in 0u64..1000,
    ) {
        let (lower, upper) = ([0.0, -1.0], [1.0, 2.0]);
        let header = ModelHeader {
            payload: Payload::Model,
            kind: Kind::Signed,
            activation: Activation::Tanh,
            n: 2,
            widths: &widths,
            domain_lower: &lower,
            domain_upper: &upper,
            constraint: None,
            constants: Resolved::scaled(1.0),
        };
        let params = values(parameter_count(2, &widths), seed);
        let mut buf = vec![0u8; 64 * 1024];
        let len = encode(&header, &params, Scalar::F64, &mut buf).unwrap();
        let view = decode(&buf[..len]).unwrap();
        prop_assert_eq!(view.header(), header);
        prop_assert_eq!(view.n(), 2);
        prop_assert_eq!(view.parameter_count(), params.len());
        prop_assert!(view.parameters().eq(params.iter().copied()));
        let loaded = view.to_finn::<f64, 2, 3, 2>();
        if widths.len() > 2 {
            prop_assert_eq!(
                loaded.err(),
                Some(FormatError::CapacityMismatch {
                    field: finn_core::format::Field::Layers,
                    capacity: 2,
                    found: widths.len(),
                })
            );
        } else {
            prop_assert!(loaded.is_ok());
        }
    }
}

/// Statics of the unloaded types are const-initialised (and all zeros or uninitialised
/// bytes, which the device build places in `.bss`); they evaluate to nothing or refuse.
#[test]
fn unloaded_statics() {
    static NET: Network<f32, 2, 8, 2> = Network::unloaded();
    static TRAJ: Trajectory<f32, 2, 8, 2, 1> = Trajectory::unloaded();
    assert!(NET.widths().is_empty());
    assert_eq!(NET.integrand(&[0.5, 0.5]), Ok(0.0));
    assert_eq!(NET.antiderivative(&[0.5, 0.5]), Ok(0.0));
    assert_eq!(TRAJ.sample(0.5).unwrap_err(), Error::InvalidShape);
    assert!(TRAJ.coordinates().iter().all(|c| c.widths().is_empty()));
}

//! The build-script helper (feature `build`): the RAM it reports is `size_of` of the player,
//! the capacity it takes from a blob loads that blob, and a bad blob is an error naming it.
#![cfg(feature = "build")]

use finn_core::{Depth, HiddenBlocks};
use finn_embedded::build::{inspect, BuildError, Capacity, Embedded, MODULE_FILE};
use finn_embedded::{FitPlayer, FormatError, TrajectoryPlayer};
use std::mem::size_of;

const HOST_POINTER: usize = size_of::<usize>();

/// `player_bytes_for` is `size_of` on this host, for trajectory players of many shapes.
#[test]
fn trajectory_player_bytes_match_size_of() {
    fn check<const D: usize, const W: usize, const L: usize, const V: usize>()
    where
        Depth<L>: HiddenBlocks<f32, W>,
    {
        let c = Capacity::Trajectory {
            d: D,
            w: W,
            l: L,
            v: V,
        };
        assert_eq!(
            c.player_bytes_for(HOST_POINTER),
            size_of::<TrajectoryPlayer<D, W, L, V>>(),
            "{c}"
        );
    }
    check::<1, 1, 1, 0>();
    check::<2, 2, 1, 1>();
    check::<3, 16, 2, 1>();
    check::<3, 5, 3, 2>();
    check::<6, 7, 8, 8>();
    check::<4, 32, 1, 0>();
}

/// `player_bytes_for` is `size_of` on this host, for fit players of many shapes.
#[test]
fn fit_player_bytes_match_size_of() {
    fn check<const N: usize, const W: usize, const L: usize>()
    where
        finn_core::jet::Dim<N>: finn_core::jet::JetDim,
        Depth<L>: HiddenBlocks<f32, W>,
    {
        let c = Capacity::Fit { n: N, w: W, l: L };
        assert_eq!(
            c.player_bytes_for(HOST_POINTER),
            size_of::<FitPlayer<N, W, L>>(),
            "{c}"
        );
    }
    check::<1, 1, 1>();
    check::<2, 16, 2>();
    check::<2, 8, 2>();
    check::<3, 5, 3>();
    check::<6, 9, 1>();
}

/// `player_bytes_for` is `size_of` on this host, for deviation players of many shapes; the
/// capacity of the deviation blob is its own.
#[test]
fn deviation_player_bytes_match_size_of() {
    fn check<const N: usize, const M: usize, const W: usize, const L: usize, const K: usize>()
    where
        finn_core::jet::Dim<N>: finn_core::jet::JetDim,
        Depth<L>: HiddenBlocks<f32, W>,
    {
        let c = Capacity::Deviation {
            n: N,
            m: M,
            w: W,
            l: L,
            k: K,
        };
        assert_eq!(
            c.player_bytes_for(HOST_POINTER),
            size_of::<finn_embedded::DeviationPlayer<N, M, W, L, K>>(),
            "{c}"
        );
    }
    check::<1, 1, 1, 1, 1>();
    check::<1, 1, 8, 1, 2>();
    check::<2, 2, 16, 2, 6>();
    check::<3, 1, 5, 3, 4>();
    check::<2, 3, 7, 1, 3>();
    let dir = env!("CARGO_MANIFEST_DIR");
    let blob = Embedded::read(format!("{dir}/tests/data/deviation.postcard")).unwrap();
    assert_eq!(
        blob.capacity(),
        Capacity::Deviation {
            n: 1,
            m: 1,
            w: 4,
            l: 1,
            k: 2
        }
    );
    assert_eq!(blob.capacity().kind(), "deviation");
    assert!(blob
        .module_source("/x")
        .contains("pub type Player = ::finn_embedded::DeviationPlayer<N, M, W, L, K>;"));
}

/// The capacity taken from a blob loads it; one smaller in any dimension does not.
#[test]
fn the_blobs_capacity_is_exact() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let blob = Embedded::read(format!("{dir}/tests/data/doc.postcard")).unwrap();
    assert_eq!(
        blob.capacity(),
        Capacity::Trajectory {
            d: 2,
            w: 2,
            l: 1,
            v: 1
        }
    );
    assert!(TrajectoryPlayer::<2, 2, 1, 1>::from_bytes(blob.bytes()).is_ok());
    assert!(TrajectoryPlayer::<2, 1, 1, 1>::from_bytes(blob.bytes()).is_err());
    assert!(TrajectoryPlayer::<2, 2, 1, 0>::from_bytes(blob.bytes()).is_err());
    let fit = Embedded::read(format!("{dir}/tests/data/fit.postcard")).unwrap();
    assert_eq!(fit.capacity(), Capacity::Fit { n: 2, w: 4, l: 1 });
    assert!(FitPlayer::<2, 4, 1>::from_bytes(fit.bytes()).is_ok());
    assert!(FitPlayer::<2, 3, 1>::from_bytes(fit.bytes()).is_err());
    assert!(FitPlayer::<1, 4, 1>::from_bytes(fit.bytes()).is_err());
}

/// A missing file and a corrupt blob are errors that name the file; nothing is written.
#[test]
fn bad_blobs_are_errors_naming_the_file() {
    let err = Embedded::read("/nonexistent/x.postcard").unwrap_err();
    assert!(matches!(err, BuildError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/x.postcard"), "{err}");

    let mut bytes = include_bytes!("data/fit.postcard").to_vec();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    let err = Embedded::check("cut/fit.postcard", bytes.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Invalid {
                error: FormatError::CrcMismatch { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("cut/fit.postcard"), "{err}");
    assert!(inspect(&bytes).is_err());
}

/// The written module declares the capacity and embeds the checked copy of the blob.
#[test]
fn the_module_embeds_the_checked_copy() {
    let dir = std::env::temp_dir().join(format!("finn-build-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fit.postcard");
    let blob = Embedded::read(source).unwrap();
    let module = std::fs::read_to_string(blob.write(&dir).unwrap()).unwrap();
    let copy = std::fs::read(dir.join("finn_blob.postcard")).unwrap();
    assert_eq!(copy, std::fs::read(source).unwrap());
    for expected in [
        "pub const KIND: &str = \"fit\";",
        "pub const N: usize = 2;",
        "pub const W: usize = 4;",
        "pub const L: usize = 1;",
        "pub type Player = ::finn_embedded::FitPlayer<N, W, L>;",
        &format!(
            "pub const PLAYER_BYTES: usize = {};",
            Capacity::Fit { n: 2, w: 4, l: 1 }.player_bytes()
        ),
    ] {
        assert!(
            module.contains(expected),
            "{expected} missing from\n{module}"
        );
    }
    assert!(dir.join(MODULE_FILE).is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A density blob (payload 2) gets the density player: its capacity, type, RAM (`size_of` of
/// the player), module and inspection.
#[test]
fn density_blobs_get_the_density_player() {
    use finn_embedded::DensityPlayer;
    let dir = env!("CARGO_MANIFEST_DIR");
    let blob = Embedded::read(format!("{dir}/tests/data/density.postcard")).unwrap();
    let c = Capacity::Density { n: 2, w: 4, l: 1 };
    assert_eq!(blob.capacity(), c);
    assert!(DensityPlayer::<2, 4, 1>::from_bytes(blob.bytes()).is_ok());
    assert!(DensityPlayer::<2, 3, 1>::from_bytes(blob.bytes()).is_err());
    assert_eq!(
        c.player_bytes_for(HOST_POINTER),
        size_of::<DensityPlayer<2, 4, 1>>()
    );
    assert_eq!(
        Capacity::Density { n: 3, w: 16, l: 2 }.player_bytes_for(HOST_POINTER),
        size_of::<DensityPlayer<3, 16, 2>>()
    );
    let module = blob.module_source("/out/b");
    assert!(
        module.contains("pub const KIND: &str = \"density\";"),
        "{module}"
    );
    assert!(
        module.contains("pub type Player = ::finn_embedded::DensityPlayer<N, W, L>;"),
        "{module}"
    );
    let info = inspect(blob.bytes()).unwrap();
    let text = info.to_string();
    assert!(text.contains("kind:        density (payload 2)"), "{text}");
    assert!(text.contains("support:     [-1, 0] to [1, 2]"), "{text}");
    assert!(
        text.contains("integral over the domain = 1, by scale"),
        "{text}"
    );
    assert_eq!(
        info.type_line(),
        "pub type Player = finn_embedded::DensityPlayer<2, 4, 1>;"
    );
    assert!(text.contains(&format!(
        "player RAM:  {} bytes on a 32-bit target",
        c.player_bytes()
    )));
}

/// A density mixture blob gets the density mixture player of exactly its capacity (N, the
/// widest and deepest component, K components); its RAM is what the player takes.
#[test]
fn density_mixture_blobs_get_the_mixture_player() {
    use finn_embedded::DensityMixturePlayer;
    let dir = env!("CARGO_MANIFEST_DIR");
    for name in ["density_mixture", "density_mixture_real"] {
        let blob = Embedded::read(format!("{dir}/tests/data/{name}.postcard")).unwrap();
        let c = Capacity::DensityMixture {
            n: 2,
            w: 4,
            l: 1,
            k: 2,
        };
        assert_eq!(blob.capacity(), c);
        assert!(DensityMixturePlayer::<2, 4, 1, 2>::from_bytes(blob.bytes()).is_ok());
        assert!(DensityMixturePlayer::<2, 4, 1, 1>::from_bytes(blob.bytes()).is_err());
        assert_eq!(
            c.player_bytes_for(HOST_POINTER),
            size_of::<DensityMixturePlayer<2, 4, 1, 2>>()
        );
        let module = blob.module_source("/out/b");
        assert!(
            module.contains("pub const KIND: &str = \"density_mixture\";"),
            "{module}"
        );
        assert!(
            module.contains("pub type Player = ::finn_embedded::DensityMixturePlayer<N, W, L, K>;"),
            "{module}"
        );
        let text = inspect(blob.bytes()).unwrap().to_string();
        assert!(text.contains("density mixture (payload 4)"), "{text}");
        assert!(text.contains("components:  2 (K)"), "{text}");
    }
    for (n, w, l, k) in [(3, 16, 2, 4), (1, 5, 3, 3), (2, 16, 2, 16)] {
        let c = Capacity::DensityMixture { n, w, l, k };
        let host = c.player_bytes_for(HOST_POINTER);
        let size = match (n, w, l, k) {
            (3, 16, 2, 4) => size_of::<DensityMixturePlayer<3, 16, 2, 4>>(),
            (1, 5, 3, 3) => size_of::<DensityMixturePlayer<1, 5, 3, 3>>(),
            _ => size_of::<DensityMixturePlayer<2, 16, 2, 16>>(),
        };
        assert_eq!(host, size, "{c:?}");
    }
}

/// `player_bytes_for` is `size_of` on this host, for soft-Q players of several shapes; the
/// capacity of the example soft-Q blob is its own.
#[test]
fn softq_player_bytes_match_size_of() {
    fn check<
        const S: usize,
        const H: usize,
        const P: usize,
        const M: usize,
        const W: usize,
        const L: usize,
    >()
    where
        finn_core::jet::Dim<M>: finn_core::jet::JetDim,
    {
        let c = Capacity::SoftQ {
            s: S,
            h: H,
            p: P,
            m: M,
            w: W,
            l: L,
        };
        assert_eq!(
            c.player_bytes_for(HOST_POINTER),
            size_of::<finn_embedded::SoftQPlayer<S, H, P, M, W, L>>(),
            "{c}"
        );
    }
    check::<3, 4, 7, 1, 2, 1>();
    check::<3, 64, 25, 1, 8, 1>();
    check::<2, 5, 9, 2, 3, 2>();
    check::<1, 1, 3, 1, 1, 3>();
    let blob = include_bytes!("data/softq.postcard");
    let view = finn_core::format::decode_any(blob).unwrap();
    assert_eq!(
        Capacity::of(&view),
        Some(Capacity::SoftQ {
            s: 3,
            h: 4,
            p: 7,
            m: 1,
            w: 2,
            l: 1
        })
    );
}

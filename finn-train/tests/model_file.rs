//! Model files (issue 3, item 4): JSON <-> blob <-> TrainedModel round trips, and the JSON
//! form refusing what a blob would refuse.

use finn_core::format::{decode, Field, FormatError, Scalar};
use finn_core::{
    Activation, Antiderivative, Bound, ConstantsProblem, Constraint, Domain, Error, Finn, Kind,
    Method, Network, Resolved,
};
use finn_train::eval::Evaluator;
use finn_train::model::{Architecture, ModelError, TrainedModel, JSON_FORMAT};

/// A positive network on [0,1] x [-1,2] whose integral is fixed to 1.5 by scaling, with the
/// constants resolved in f64.
fn positive() -> TrainedModel {
    let architecture = Architecture {
        n: 2,
        kind: Kind::Positive,
        activation: Activation::Sigma,
        widths: vec![3, 2],
    };
    let params: Vec<f64> = (0..architecture.parameter_count())
        .map(|i| (i as f64 * 0.61 + 0.2).cos() * 1.7)
        .collect();
    let constraint = Constraint::new(Bound::Equal, Method::Scale, 1.5);
    let net = Network::<f64, 2, 4, 2>::positive(&architecture.widths, &params).unwrap();
    let domain = Domain::new([0.0, -1.0], [1.0, 2.0]).unwrap();
    let finn = Finn::new(net, domain, Some(constraint)).unwrap();
    TrainedModel {
        architecture,
        domain_lower: vec![0.0, -1.0],
        domain_upper: vec![1.0, 2.0],
        constraint: Some(constraint),
        constants: finn.constants(),
        params,
    }
}

/// A signed tanh network shifted to integrate to at most 0.1 on [-2, 3].
fn signed() -> TrainedModel {
    let architecture = Architecture {
        n: 1,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        widths: vec![5],
    };
    let params: Vec<f64> = (0..architecture.parameter_count())
        .map(|i| (i as f64 * 1.3).sin() / 3.0)
        .collect();
    let constraint = Constraint::new(Bound::AtMost, Method::Shift, 0.1);
    let net = Network::<f64, 1, 5, 1>::signed(Activation::Tanh, &[5], &params).unwrap();
    let finn = Finn::new(net, Domain::new([-2.0], [3.0]).unwrap(), Some(constraint)).unwrap();
    TrainedModel {
        architecture,
        domain_lower: vec![-2.0],
        domain_upper: vec![3.0],
        constraint: Some(constraint),
        constants: finn.constants(),
        params,
    }
}

#[test]
fn json_round_trips_exactly() {
    for model in [positive(), signed()] {
        let json = model.to_json();
        assert_eq!(TrainedModel::from_json(&json).unwrap(), model);
    }
}

#[test]
fn f64_blob_round_trips_exactly() {
    for model in [positive(), signed()] {
        let blob = model.to_blob(Scalar::F64).unwrap();
        assert_eq!(TrainedModel::from_blob(&blob).unwrap(), model);
    }
}

#[test]
fn json_to_blob_to_json_is_the_same_text() {
    for model in [positive(), signed()] {
        let json = model.to_json();
        let blob = TrainedModel::from_json(&json)
            .unwrap()
            .to_blob(Scalar::F64)
            .unwrap();
        assert_eq!(TrainedModel::from_blob(&blob).unwrap().to_json(), json);
    }
}

#[test]
fn f32_blob_keeps_f64_header_and_rounds_the_parameters() {
    let model = positive();
    let blob = model.to_blob(Scalar::F32).unwrap();
    assert!(blob.len() < model.to_blob(Scalar::F64).unwrap().len());
    let back = TrainedModel::from_blob(&blob).unwrap();
    assert_eq!(back.architecture, model.architecture);
    assert_eq!(back.domain_lower, model.domain_lower);
    assert_eq!(back.constraint, model.constraint);
    let rounded: Vec<f64> = model.params.iter().map(|&v| v as f32 as f64).collect();
    assert_eq!(back.params, rounded);
    // The constants were resolved again for the rounded parameters: the stored model's
    // integral is eps to f64 precision (with the f64 constants it was off by ~1e-8).
    let eps = model.constraint.unwrap().eps;
    let integral = Evaluator::new(&back).unwrap().integral().unwrap();
    assert!((integral - eps).abs() <= 1e-14 * eps, "{integral} vs {eps}");
    let stale = TrainedModel {
        constants: model.constants,
        ..back.clone()
    };
    let stale_integral = Evaluator::new(&stale).unwrap().integral().unwrap();
    assert!(
        (stale_integral - eps).abs() > 1e-12 * eps,
        "{stale_integral}"
    );
    // ... and its JSON reads back to the same rounded model.
    assert_eq!(TrainedModel::from_json(&back.to_json()).unwrap(), back);
}

#[test]
fn blob_loads_into_finn_core_as_the_same_model() {
    let model = positive();
    let blob = model.to_blob(Scalar::F64).unwrap();
    let loaded = decode(&blob).unwrap().to_finn::<f64, 2, 4, 2>().unwrap();
    let net = Network::<f64, 2, 4, 2>::positive(&model.architecture.widths, &model.params).unwrap();
    let direct = Finn::with_constants(
        net,
        Domain::new([0.0, -1.0], [1.0, 2.0]).unwrap(),
        model.constraint,
        model.constants,
    )
    .unwrap();
    for x in [[0.0, -1.0], [0.3, 0.4], [1.0, 2.0]] {
        assert_eq!(loaded.integrand(&x).unwrap(), direct.integrand(&x).unwrap());
    }
    assert!((loaded.integral().unwrap() - 1.5).abs() < 1e-12);
}

#[test]
fn json_form_has_the_documented_fields() {
    let value: serde_json::Value = serde_json::from_str(&positive().to_json()).unwrap();
    assert_eq!(value["format"], JSON_FORMAT);
    assert_eq!(value["version"], 1);
    assert_eq!(value["architecture"]["n"], 2);
    assert_eq!(value["architecture"]["kind"], "Positive");
    assert_eq!(value["architecture"]["activation"], "Sigma");
    assert_eq!(value["architecture"]["widths"], serde_json::json!([3, 2]));
    assert_eq!(value["domain_lower"], serde_json::json!([0.0, -1.0]));
    assert_eq!(value["domain_upper"], serde_json::json!([1.0, 2.0]));
    assert_eq!(value["constraint"]["bound"], "Equal");
    assert_eq!(value["constraint"]["method"], "Scale");
    assert_eq!(value["constraint"]["eps"], 1.5);
    assert!(value["constants"]["scale"].is_f64());
    assert_eq!(value["constants"]["gap"], 0.0);
    assert_eq!(value["constants"]["gap_low"], 0.0);
    assert_eq!(
        value["params"].as_array().unwrap().len(),
        2 * 3 + 3 + 3 * 2 + 2 + 2
    );
    assert_eq!(value.as_object().unwrap().len(), 8);
    // Without a constraint the field is null, and may be left out when reading.
    let mut model = signed();
    model.constraint = None;
    model.constants = Resolved::scaled(1.0);
    let mut value: serde_json::Value = serde_json::from_str(&model.to_json()).unwrap();
    assert!(value["constraint"].is_null());
    value.as_object_mut().unwrap().remove("constraint");
    assert_eq!(TrainedModel::from_json(&value.to_string()).unwrap(), model);
}

/// The JSON of `positive()` after an edit of its parsed value.
fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut value: serde_json::Value = serde_json::from_str(&positive().to_json()).unwrap();
    edit(&mut value);
    value.to_string()
}

#[test]
fn json_with_a_wrong_parameter_count_is_rejected() {
    let count = positive().params.len();
    for (len, what) in [
        (count - 1, "one missing"),
        (count + 1, "one extra"),
        (0, "none"),
    ] {
        let text = edited(|v| {
            let params = v["params"].as_array_mut().unwrap();
            params.resize(len, serde_json::json!(0.25));
        });
        match TrainedModel::from_json(&text) {
            Err(ModelError::Format(FormatError::ShapeMismatch {
                field: Field::Parameters,
                expected,
                found,
            })) => {
                assert_eq!((expected, found), (count, len), "{what}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    // The same count with another shape.
    let text = edited(|v| v["architecture"]["widths"] = serde_json::json!([3, 3]));
    assert!(matches!(
        TrainedModel::from_json(&text),
        Err(ModelError::Format(FormatError::ShapeMismatch { .. }))
    ));
}

#[test]
fn json_with_nan_or_infinity_is_rejected() {
    let json = positive().to_json();
    let first = json.find("\"params\": [").unwrap() + "\"params\": [".len();
    let end = first + json[first..].find(',').unwrap();
    // JSON has no NaN or infinity: spelled out, they do not parse; null is not a number; an
    // overflowing literal is refused by the parser.
    for bad in [
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "null",
        "1e400",
        "\"1.0\"",
    ] {
        let text = format!("{}{}{}", &json[..first], bad, &json[end..]);
        assert!(
            matches!(TrainedModel::from_json(&text), Err(ModelError::Json(_))),
            "{bad}"
        );
    }
    for (object, field) in [("constraint", "eps"), ("constants", "scale")] {
        let text = edited(|v| v[object][field] = serde_json::Value::Null);
        assert!(matches!(
            TrainedModel::from_json(&text),
            Err(ModelError::Json(_))
        ));
    }
    // A model holding NaN cannot be written as a blob either.
    let mut model = positive();
    model.params[2] = f64::NAN;
    assert!(matches!(
        model.to_blob(Scalar::F64),
        Err(ModelError::Format(FormatError::NonFinite {
            field: Field::Parameters
        }))
    ));
    // ... nor a parameter beyond f32 as an f32 blob.
    let mut model = positive();
    model.params[2] = 1e300;
    assert!(model.to_blob(Scalar::F64).is_ok());
    assert!(matches!(
        model.to_blob(Scalar::F32),
        Err(ModelError::Format(FormatError::NonFinite { .. }))
    ));
}

#[test]
fn json_gets_every_blob_check() {
    type Expect = fn(&ModelError) -> bool;
    let cases: Vec<(String, Expect)> = vec![
        (edited(|v| v["format"] = "something-else".into()), |e| {
            matches!(e, ModelError::NotAModel { .. })
        }),
        (edited(|v| v["version"] = 2.into()), |e| {
            matches!(
                e,
                ModelError::Format(FormatError::UnsupportedVersion { found: 2 })
            )
        }),
        (edited(|v| v["architecture"]["n"] = 9.into()), |e| {
            matches!(e, ModelError::Format(FormatError::BadDimension { n: 9 }))
        }),
        (
            edited(|v| v["architecture"]["widths"] = serde_json::json!([])),
            |e| matches!(e, ModelError::Format(FormatError::BadLayers { layers: 0 })),
        ),
        (
            edited(|v| v["architecture"]["widths"] = serde_json::json!([3, 0])),
            |e| {
                matches!(
                    e,
                    ModelError::Format(FormatError::BadWidth { layer: 1, .. })
                )
            },
        ),
        (
            // Widths too large to count parameters for without overflow are refused first.
            edited(|v| v["architecture"]["widths"] = serde_json::json!([u64::MAX, u64::MAX])),
            |e| {
                matches!(
                    e,
                    ModelError::Format(FormatError::BadWidth { layer: 0, .. })
                )
            },
        ),
        (
            edited(|v| v["architecture"]["activation"] = "Tanh".into()),
            |e| {
                matches!(
                    e,
                    ModelError::Format(FormatError::Core(Error::InvalidShape))
                )
            },
        ),
        (
            edited(|v| v["architecture"]["kind"] = "Signed".into()),
            |e| {
                matches!(
                    e,
                    ModelError::Format(FormatError::Core(Error::ScaleNeedsPositiveNetwork))
                )
            },
        ),
        (
            edited(|v| v["domain_upper"] = serde_json::json!([1.0, -3.0])),
            |e| {
                matches!(
                    e,
                    ModelError::Format(FormatError::Core(Error::EmptyInterval { axis: 1 }))
                )
            },
        ),
        (
            edited(|v| v["domain_lower"] = serde_json::json!([0.0])),
            |e| {
                matches!(
                    e,
                    ModelError::Format(FormatError::ShapeMismatch {
                        field: Field::DomainLower,
                        ..
                    })
                )
            },
        ),
        (edited(|v| v["constraint"]["eps"] = (-1.0).into()), |e| {
            matches!(
                e,
                ModelError::Format(FormatError::Core(Error::NonPositiveEpsilon))
            )
        }),
        (edited(|v| v["constants"]["scale"] = 0.0.into()), |e| {
            matches!(
                e,
                ModelError::Format(FormatError::Core(Error::InconsistentConstants(
                    ConstantsProblem::NonPositiveScale
                )))
            )
        }),
        // A doubled scale: the right shape, but the integral is 2 eps (issue 8, item 2).
        (
            edited(|v| {
                let s = v["constants"]["scale"].as_f64().unwrap();
                v["constants"]["scale"] = (2.0 * s).into();
            }),
            |e| {
                matches!(
                    e,
                    ModelError::Format(FormatError::Core(Error::InconsistentConstants(
                        ConstantsProblem::IntegralMismatch
                    )))
                )
            },
        ),
        (
            edited(|v| v["constraint"]["bound"] = "Sometimes".into()),
            |e| matches!(e, ModelError::Json(_)),
        ),
        (edited(|v| v["extra"] = 1.into()), |e| {
            matches!(e, ModelError::Json(_))
        }),
        (
            edited(|v| {
                v.as_object_mut().unwrap().remove("params");
            }),
            |e| matches!(e, ModelError::Json(_)),
        ),
        ("{ not json".to_string(), |e| {
            matches!(e, ModelError::Json(_))
        }),
    ];
    for (text, expected) in cases {
        let err = TrainedModel::from_json(&text).unwrap_err();
        assert!(expected(&err), "{err:?} for {text}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn corrupt_blobs_are_typed_errors() {
    let blob = positive().to_blob(Scalar::F64).unwrap();
    assert!(matches!(
        TrainedModel::from_blob(&blob[..5]),
        Err(ModelError::Format(FormatError::Truncated { len: 5 }))
    ));
    assert!(matches!(
        TrainedModel::from_blob(&blob[..blob.len() - 1]),
        Err(ModelError::Format(FormatError::CrcMismatch { .. }))
    ));
    let mut bad = blob.clone();
    bad[0] = b'X';
    assert!(matches!(
        TrainedModel::from_blob(&bad),
        Err(ModelError::Format(FormatError::BadMagic))
    ));
}

#[test]
fn save_writes_both_files_and_load_reads_them() {
    let dir = std::env::temp_dir().join(format!("finn-model-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = signed();
    // A dot in the stem is kept, not taken for an extension.
    let (blob_path, json_path) = model.save(dir.join("shifted.v1")).unwrap();
    assert_eq!(blob_path, dir.join("shifted.v1.postcard"));
    assert_eq!(json_path, dir.join("shifted.v1.json"));
    assert_eq!(TrainedModel::load(&blob_path).unwrap(), model);
    assert_eq!(TrainedModel::load(&json_path).unwrap(), model);
    assert_eq!(
        std::fs::read(&blob_path).unwrap(),
        model.to_blob(Scalar::F64).unwrap()
    );
    let (small, _) = model.save_as(dir.join("small"), Scalar::F32).unwrap();
    assert!(
        std::fs::metadata(&small).unwrap().len() < std::fs::metadata(&blob_path).unwrap().len()
    );
    assert!(matches!(
        TrainedModel::load(dir.join("missing.json")),
        Err(ModelError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest::proptest! {
    /// Any finite f64 (subnormals, extremes, negative zero) survives JSON and the f64 blob
    /// bit for bit.
    #[test]
    fn any_finite_parameters_round_trip(
        values in proptest::collection::vec(
            proptest::num::f64::NORMAL
                | proptest::num::f64::SUBNORMAL
                | proptest::num::f64::ZERO,
            13,
        )
    ) {
        let mut model = signed();
        model.constraint = None;
        model.constants = Resolved::scaled(1.0);
        model.params[..13].copy_from_slice(&values);
        let from_json = TrainedModel::from_json(&model.to_json()).unwrap();
        let from_blob = TrainedModel::from_blob(&model.to_blob(Scalar::F64).unwrap()).unwrap();
        for m in [from_json, from_blob] {
            let bits: Vec<u64> = m.params.iter().map(|v| v.to_bits()).collect();
            let expected: Vec<u64> = model.params.iter().map(|v| v.to_bits()).collect();
            proptest::prop_assert_eq!(bits, expected);
        }
    }
}

#[test]
fn documented_example_reads_and_encodes_to_the_documented_bytes() {
    // The JSON and the 73 bytes of docs/model-format.md.
    let json = r#"{
      "format": "finn-model",
      "version": 1,
      "architecture": { "n": 1, "kind": "Signed", "activation": "Tanh", "widths": [1] },
      "domain_lower": [0.0],
      "domain_upper": [1.0],
      "constraint": null,
      "constants": { "scale": 1.0, "gap": 0.0, "gap_low": 0.0 },
      "params": [2.0, 0.5, -1.0]
    }"#;
    let model = TrainedModel::from_json(json).unwrap();
    let hex: String = model
        .to_blob(Scalar::F32)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        concat!(
            "46494e4e", // magic
            "0100",     // version 1
            "00010101", // Model, Signed, Tanh, n = 1
            "0101",     // widths [1]
            "01",
            "0000000000000000", // lower [0.0]
            "01",
            "000000000000f03f",                 // upper [1.0]
            "00",                               // no constraint
            "000000000000f03f",                 // scale 1.0
            "00000000000000000000000000000000", // gap, gap_low
            "00",                               // F32
            "0c",                               // 12 bytes
            "00000040",
            "0000003f",
            "000080bf", // 2.0, 0.5, -1.0
            "48bb8ac8", // CRC
        )
    );
}

//! The training-time model: sizes known at run time, and its two file forms.
//!
//! [`TrainedModel`] is what training produces: an [`Architecture`], a domain, an optional
//! integral constraint with its constants, and the flat parameter vector. The constants are
//! resolved from the corner sum of F evaluated in double-double ([`wide_base_integral`],
//! [`TrainedModel::resolve_constants`]), so that the true integral of the stored model (its
//! f64 parameters and constants, evaluated exactly) is eps to about 1e-16 relative, not only
//! to the accuracy of an f64 corner sum. It is written as
//!
//! * a `postcard` blob ([`TrainedModel::to_blob`]) that `finn-core` and `finn-embedded` load
//!   without allocation, in the byte layout of [`finn_core::format`], and
//! * a JSON document ([`TrainedModel::to_json`]) for people and scripts.
//!
//! Both carry the same model and are checked the same way when read. `docs/model-format.md`
//! documents both forms.
//!
//! ```
//! use finn_core::{Activation, Kind, Resolved};
//! use finn_core::format::Scalar;
//! use finn_train::model::{Architecture, TrainedModel};
//! let model = TrainedModel {
//!     architecture: Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![2] },
//!     domain_lower: vec![0.0],
//!     domain_upper: vec![1.0],
//!     constraint: None,
//!     constants: Resolved::scaled(1.0),
//!     params: vec![1.0, -1.0, 0.5, 0.0, 2.0, 1.0],
//! };
//! let blob = model.to_blob(Scalar::F64).unwrap();
//! assert_eq!(TrainedModel::from_blob(&blob).unwrap(), model);
//! assert_eq!(TrainedModel::from_json(&model.to_json()).unwrap(), model);
//! // The firmware side: no allocation, fixed capacity.
//! let view = finn_core::format::decode(&blob).unwrap();
//! let finn = view.to_finn::<f32, 1, 8, 2>().unwrap();
//! # let _ = finn;
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::eval::Evaluator;
use finn_core::constraint::integral_meets;
use finn_core::dd::DoubleDouble;
use finn_core::domain::{vertex_sum, vertex_sum_and_magnitude};
use finn_core::format::{self, FormatError, ModelHeader, Payload, Scalar};
use finn_core::{Activation, ConstantsProblem, Constraint, Error, Kind, Real, Resolved};
use serde::{Deserialize, Serialize};

/// The shape of a network, chosen at run time (finn-core's types fix it at compile time).
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::model::Architecture;
/// let a = Architecture { n: 2, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![16, 16] };
/// assert_eq!(a.parameter_count(), finn_core::parameter_count(2, &[16, 16]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    /// Input dimension n.
    pub n: usize,
    /// Positive or signed.
    pub kind: Kind,
    /// Hidden-unit activation.
    pub activation: Activation,
    /// Hidden widths, first layer first.
    pub widths: Vec<usize>,
}

impl Architecture {
    /// Length of the flat parameter vector (finn-core's layout).
    pub fn parameter_count(&self) -> usize {
        finn_core::parameter_count(self.n, &self.widths)
    }

    /// Which entries of the flat parameter vector are weights (hidden and output), as opposed
    /// to biases: a positive network uses exactly these through |.|.
    ///
    /// ```
    /// use finn_core::{Activation, Kind};
    /// let a = finn_train::model::Architecture { n: 1, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![2] };
    /// // w_1, w_2, b_1, b_2, a_1, a_2.
    /// assert_eq!(a.weight_mask(), [true, true, false, false, true, true]);
    /// ```
    pub fn weight_mask(&self) -> Vec<bool> {
        let mut mask = Vec::with_capacity(self.parameter_count());
        let mut fan_in = self.n;
        for &w in &self.widths {
            mask.extend(std::iter::repeat_n(true, w * fan_in));
            mask.extend(std::iter::repeat_n(false, w));
            fan_in = w;
        }
        mask.extend(std::iter::repeat_n(true, fan_in));
        mask
    }
}

/// The value of the `format` field of the JSON form.
pub const JSON_FORMAT: &str = "finn-model";

/// A trained model with sizes known at run time: what training produces and what the model
/// files hold.
///
/// `params` is finn-core's flat layout (see [`finn_core::Network`]): for each hidden layer its
/// weights row-major (`[unit][input]`) then its biases, finally the output weights. A positive
/// network stores its raw parameters; the effective weights are their absolute values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    /// Kind, activation, input dimension and hidden widths.
    pub architecture: Architecture,
    /// Lower corner of the domain (n entries).
    pub domain_lower: Vec<f64>,
    /// Upper corner of the domain (n entries, each above the lower one).
    pub domain_upper: Vec<f64>,
    /// The integral constraint over the domain, if any.
    pub constraint: Option<Constraint<f64>>,
    /// The constants that impose it (`Resolved::scaled(1.0)` without one), from
    /// [`TrainedModel::resolve_constants`].
    pub constants: Resolved<f64>,
    /// The flat parameter vector.
    pub params: Vec<f64>,
}

/// Why a model file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model is invalid, or the blob is corrupt, truncated, of another version or of a
    /// wrong shape.
    #[error("model format: {0}")]
    Format(#[from] FormatError),
    /// The JSON text does not parse into the documented form (syntax, a missing or unknown
    /// field, a wrong type, NaN or infinity, which JSON cannot spell).
    #[error("model JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON's `format` field is not [`JSON_FORMAT`].
    #[error("not a finn model JSON document (format {found:?}, expected {JSON_FORMAT:?})")]
    NotAModel {
        /// The `format` field found.
        found: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The JSON form on its way out: the model's fields after `format` and `version`.
#[derive(Serialize)]
struct JsonOut<'a> {
    format: &'a str,
    version: u16,
    architecture: &'a Architecture,
    domain_lower: &'a [f64],
    domain_upper: &'a [f64],
    constraint: &'a Option<Constraint<f64>>,
    constants: &'a Resolved<f64>,
    params: &'a [f64],
}

/// The JSON form on its way in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonIn {
    format: String,
    version: u16,
    architecture: Architecture,
    domain_lower: Vec<f64>,
    domain_upper: Vec<f64>,
    #[serde(default)]
    constraint: Option<Constraint<f64>>,
    constants: Resolved<f64>,
    params: Vec<f64>,
}

impl TrainedModel {
    /// Everything but the parameters, in the form [`finn_core::format`] encodes.
    pub fn header(&self) -> ModelHeader<'_> {
        ModelHeader {
            payload: Payload::Model,
            kind: self.architecture.kind,
            activation: self.architecture.activation,
            n: self.architecture.n,
            widths: &self.architecture.widths,
            domain_lower: &self.domain_lower,
            domain_upper: &self.domain_upper,
            constraint: self.constraint,
            constants: self.constants,
        }
    }

    /// The checks a blob gets when it is read ([`finn_core::format::validate`]): shape,
    /// parameter count, finite values, and the constraint against the network.
    ///
    /// Then, as the device's loader does ([`finn_core::Finn::with_constants`]): the
    /// constrained integral, recomputed from the parameters in f64, must meet the declared
    /// constraint within the documented tolerance (`finn_core::constraint`), or the model is
    /// refused with `InconsistentConstants(IntegralMismatch)`.
    pub fn validate(&self) -> Result<(), ModelError> {
        format::validate(&self.header(), &self.params)?;
        self.check_integral(f64::EPSILON)
    }

    /// The constants that impose the model's constraint on its parameters, resolved from the
    /// double-double corner sum of F ([`wide_base_integral`],
    /// [`finn_core::Constraint::resolve_from`]): the true integral of the model with these
    /// constants is eps to the rounding of the constants to f64 (1.1e-16 relative for a scale;
    /// a shift's `gap + gap_low` carries about 106 bits). `Resolved::scaled(1.0)` without a
    /// constraint. Training calls it for the model it writes; it also re-resolves the
    /// constants of an existing model file.
    ///
    /// Errors: as [`wide_base_integral`] (as `Format(Core(..))`), and the constraint's
    /// (`DegenerateIntegral`, ...).
    pub fn resolve_constants(&self) -> Result<Resolved<f64>, ModelError> {
        self.resolve_constants_for(&self.params)
    }

    /// [`TrainedModel::resolve_constants`] for other parameters of the same architecture.
    pub(crate) fn resolve_constants_for(
        &self,
        params: &[f64],
    ) -> Result<Resolved<f64>, ModelError> {
        let core = |e| ModelError::Format(FormatError::Core(e));
        let Some(c) = self.constraint else {
            return Ok(Resolved::scaled(1.0));
        };
        let base = wide_base_integral(
            &self.architecture,
            params,
            &self.domain_lower,
            &self.domain_upper,
        )
        .map_err(core)?;
        c.resolve_from(self.architecture.kind, base).map_err(core)
    }

    /// The integral of the stored model over its domain, to about 32 digits: its parameters
    /// and constants taken as exact, the corner sum of F in double-double, plus
    /// scale and shift applied in double-double. What "the integral is eps" means.
    ///
    /// Errors: as [`wide_base_integral`].
    pub fn exact_integral(&self) -> Result<DoubleDouble, ModelError> {
        let core = |e| ModelError::Format(FormatError::Core(e));
        let base = wide_base_integral(
            &self.architecture,
            &self.params,
            &self.domain_lower,
            &self.domain_upper,
        )
        .map_err(core)?;
        let k = self.constants;
        let dd = DoubleDouble::from_f64;
        Ok(dd(k.scale) * base + dd(k.gap) + dd(k.gap_low))
    }

    /// The unconstrained integral I' of `params` over the domain and the magnitude of its
    /// vertex sum, in f64.
    fn base_integral(&self, params: &[f64]) -> Result<(f64, f64), ModelError> {
        let core = |e| ModelError::Format(FormatError::Core(e));
        let eval = Evaluator::from_parts(
            &self.architecture,
            params,
            &self.domain_lower,
            &self.domain_upper,
            Resolved::scaled(1.0),
        )
        .map_err(core)?;
        vertex_sum_and_magnitude(&self.domain_lower, &self.domain_upper, |v| {
            eval.antiderivative(v)
        })
        .map_err(core)
    }

    /// The integral check of [`TrainedModel::validate`], at unit roundoff `unit` (f32's for
    /// parameters read from an f32 blob).
    fn check_integral(&self, unit: f64) -> Result<(), ModelError> {
        let Some(c) = self.constraint else {
            return Ok(());
        };
        let (base, magnitude) = self.base_integral(&self.params)?;
        let k = self.constants;
        let integral = k.scale * base + k.gap + k.gap_low;
        let n = self.architecture.n;
        if !integral.is_finite()
            || !integral_meets(&c, integral, n, k.scale * magnitude, k.gap, unit)
        {
            return Err(FormatError::Core(Error::InconsistentConstants(
                ConstantsProblem::IntegralMismatch,
            ))
            .into());
        }
        Ok(())
    }

    /// The postcard blob, with the parameters stored as `scalar` (f32 halves the size; the
    /// domain and constants stay f64).
    ///
    /// Errors: `Format` for an invalid model, or a parameter that overflows f32.
    ///
    /// An f32 blob stores the parameters rounded to f32, and constants resolved again (in
    /// double-double, [`TrainedModel::resolve_constants`]) for those rounded parameters, so
    /// the stored model's true integral is eps to the rounding of its f64 constants.
    pub fn to_blob(&self, scalar: Scalar) -> Result<Vec<u8>, ModelError> {
        self.blob_with_payload(Payload::Model, scalar)
    }

    /// The model as a **density blob** (payload 2 of `docs/model-format.md`): the same body as
    /// [`TrainedModel::to_blob`] under the density tag, which `finn_embedded::DensityPlayer`
    /// and `finn_core::format::decode_density` read. The model must be a density: a positive
    /// network with the constraint `Equal`, `Scale`, eps = 1 over its domain (the support).
    /// [`TrainedModel::from_blob`] reads the blob back (as a model: the tag is not kept).
    ///
    /// Errors: `Format(Core(NotADensity))` for a model that is not a density; otherwise as
    /// [`TrainedModel::to_blob`].
    ///
    /// ```
    /// use finn_core::format::{decode_density, Scalar};
    /// use finn_core::{Activation, Bound, Constraint, Kind, Method, Resolved};
    /// use finn_train::model::{Architecture, TrainedModel};
    /// let mut model = TrainedModel {
    ///     architecture: Architecture { n: 1, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![2] },
    ///     domain_lower: vec![0.0],
    ///     domain_upper: vec![2.0],
    ///     constraint: Some(Constraint::new(Bound::Equal, Method::Scale, 1.0)),
    ///     constants: Resolved::scaled(1.0),
    ///     params: vec![1.0, -0.5, 0.2, 0.3, 1.0, 2.0],
    /// };
    /// model.constants = model.resolve_constants().unwrap();
    /// let blob = model.to_density_blob(Scalar::F32).unwrap();
    /// let p = decode_density(&blob).unwrap().to_density::<f32, 1, 4, 1>().unwrap();
    /// assert!((p.cdf(&[2.0]).unwrap() - 1.0).abs() < 1e-6);
    /// // eps = 2 is not a density.
    /// model.constraint = Some(Constraint::new(Bound::Equal, Method::Scale, 2.0));
    /// model.constants = model.resolve_constants().unwrap();
    /// assert!(model.to_density_blob(Scalar::F32).is_err());
    /// ```
    pub fn to_density_blob(&self, scalar: Scalar) -> Result<Vec<u8>, ModelError> {
        self.blob_with_payload(Payload::Density, scalar)
    }

    /// [`TrainedModel::to_blob`] under the payload tag `payload` (model or density).
    fn blob_with_payload(&self, payload: Payload, scalar: Scalar) -> Result<Vec<u8>, ModelError> {
        let mut header = self.header();
        header.payload = payload;
        let params: Vec<f64> = match scalar {
            Scalar::F64 => self.params.clone(),
            Scalar::F32 => self.params.iter().map(|&v| v as f32 as f64).collect(),
        };
        if scalar == Scalar::F32 {
            // Rounding the parameters moved I'; the constants follow it. A parameter beyond
            // f32 is refused by `encode` below, so only finite rounded values get here.
            if params.iter().all(|v| v.is_finite()) && self.constraint.is_some() {
                header.constants = self.resolve_constants_for(&params)?;
            }
        }
        let mut out = vec![0u8; format::encoded_len(&header, scalar)?];
        let len = format::encode(&header, &params, scalar, &mut out)?;
        out.truncate(len);
        Ok(out)
    }

    /// Reads and checks a blob (any scalar type; f32 parameters widen exactly): a model blob,
    /// or a density blob ([`TrainedModel::to_density_blob`]), which is a model too.
    ///
    /// Errors: every check of `finn_core::format::decode`, then the integral check of
    /// [`TrainedModel::validate`] (to f32's precision for an f32 blob).
    pub fn from_blob(bytes: &[u8]) -> Result<Self, ModelError> {
        Self::from_view(&format::decode(bytes)?)
    }

    /// The model of a checked view, with the integral check of [`TrainedModel::from_blob`]
    /// (shared with the components of a density mixture blob).
    pub(crate) fn from_view(view: &format::ModelView<'_>) -> Result<Self, ModelError> {
        let unit = match view.scalar() {
            Scalar::F32 => f32::EPSILON as f64,
            Scalar::F64 => f64::EPSILON,
        };
        let model = TrainedModel {
            architecture: Architecture {
                n: view.n(),
                kind: view.kind(),
                activation: view.activation(),
                widths: view.widths().to_vec(),
            },
            domain_lower: view.domain_lower().to_vec(),
            domain_upper: view.domain_upper().to_vec(),
            constraint: view.constraint(),
            constants: view.constants(),
            params: view.parameters().collect(),
        };
        model.check_integral(unit)?;
        Ok(model)
    }

    /// The JSON form, pretty-printed (`docs/model-format.md`). Numbers are printed so that
    /// they read back to the same f64.
    pub fn to_json(&self) -> String {
        let out = JsonOut {
            format: JSON_FORMAT,
            version: format::VERSION,
            architecture: &self.architecture,
            domain_lower: &self.domain_lower,
            domain_upper: &self.domain_upper,
            constraint: &self.constraint,
            constants: &self.constants,
            params: &self.params,
        };
        // Serialising plain data into a String cannot fail; non-finite numbers (which a
        // validated model does not have) would come out as `null`.
        serde_json::to_string_pretty(&out).unwrap_or_default()
    }

    /// Parses and checks the JSON form: the same checks as [`TrainedModel::from_blob`].
    ///
    /// Errors: `Json` (syntax, missing or unknown fields, types), `NotAModel` (the `format`
    /// field), `Format` (`UnsupportedVersion` for another `version`, then every model check).
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let json: JsonIn = serde_json::from_str(text)?;
        if json.format != JSON_FORMAT {
            return Err(ModelError::NotAModel { found: json.format });
        }
        if json.version != format::VERSION {
            return Err(FormatError::UnsupportedVersion {
                found: json.version,
            }
            .into());
        }
        let model = TrainedModel {
            architecture: json.architecture,
            domain_lower: json.domain_lower,
            domain_upper: json.domain_upper,
            constraint: json.constraint,
            constants: json.constants,
            params: json.params,
        };
        model.validate()?;
        Ok(model)
    }

    /// Writes `<stem>.postcard` (f64 parameters, lossless) and `<stem>.json`; returns their
    /// paths. See [`TrainedModel::save_as`] for an f32 blob.
    pub fn save(&self, stem: impl AsRef<Path>) -> Result<(PathBuf, PathBuf), ModelError> {
        self.save_as(stem, Scalar::F64)
    }

    /// Writes `<stem>.postcard` with the parameters as `scalar`, and `<stem>.json`.
    pub fn save_as(
        &self,
        stem: impl AsRef<Path>,
        scalar: Scalar,
    ) -> Result<(PathBuf, PathBuf), ModelError> {
        let blob = self.to_blob(scalar)?;
        self.save_with(stem.as_ref(), &blob)
    }

    /// As [`TrainedModel::save_as`], with the blob as a density (payload 2,
    /// [`TrainedModel::to_density_blob`]): what the density application writes, so that
    /// `finn_embedded`'s `DensityPlayer` loads it.
    ///
    /// Errors: `NotADensity` (as a `Format` error) unless the model is positive with the
    /// constraint Equal / Scale / eps = 1; then as [`TrainedModel::save_as`].
    pub fn save_density_as(
        &self,
        stem: impl AsRef<Path>,
        scalar: Scalar,
    ) -> Result<(PathBuf, PathBuf), ModelError> {
        let blob = self.to_density_blob(scalar)?;
        self.save_with(stem.as_ref(), &blob)
    }

    fn save_with(&self, stem: &Path, blob: &[u8]) -> Result<(PathBuf, PathBuf), ModelError> {
        let blob_path = with_suffix(stem, ".postcard");
        let json_path = with_suffix(stem, ".json");
        write(&blob_path, blob)?;
        write(&json_path, self.to_json().as_bytes())?;
        Ok((blob_path, json_path))
    }

    /// Reads a model file: JSON when the name ends in `.json`, a blob otherwise.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            let text = String::from_utf8(bytes).map_err(|e| ModelError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?;
            Self::from_json(&text)
        } else {
            Self::from_blob(&bytes)
        }
    }
}

/// The unconstrained integral I' of a network over the box [lower, upper]: the corner sum of
/// F (Eq. 4) with every F evaluated, and the sum taken, in double-double
/// ([`crate::grad::Net::antiderivative_wide`]). The corner sum cancels (on the Figure 1 models
/// the sum of |F| over the corners has been up to 1254 times |I'|), so in f64 it carries up to about
/// 1e-13 relative error; in double-double about 1e-29.
///
/// Errors: `InvalidShape`, `DimensionMismatch`, `NonFiniteParameter`, `NonFiniteInput`,
/// `EmptyInterval`, `Overflow`.
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::model::{wide_base_integral, Architecture};
/// // F = tanh(x): the integral over [0, 1] is tanh(1) = 0.7615941559557649 + 3.7090214482164924e-17.
/// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![1] };
/// let i = wide_base_integral(&arch, &[1.0, 0.0, 1.0], &[0.0], &[1.0]).unwrap();
/// assert_eq!(i.hi(), 0.7615941559557649);
/// assert!((i.lo() - 3.7090214482164924e-17).abs() < 1e-31);
/// ```
pub fn wide_base_integral(
    architecture: &Architecture,
    params: &[f64],
    lower: &[f64],
    upper: &[f64],
) -> Result<DoubleDouble, Error> {
    let net = crate::grad::Net::new(architecture, params)?;
    let wide =
        |v: &[f64]| -> Vec<DoubleDouble> { v.iter().map(|&x| DoubleDouble::from_f64(x)).collect() };
    vertex_sum(&wide(lower), &wide(upper), |v| net.antiderivative_wide(v))
}

/// `stem` with `suffix` appended (not replacing an extension: `a.v1` gives `a.v1.json`).
fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(stem.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    std::fs::write(path, bytes).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

//! The training-time model: sizes known at run time.

use finn_core::{Activation, Kind};

/// The shape of a network, chosen at run time (finn-core's types fix it at compile time).
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::model::Architecture;
/// let a = Architecture { n: 2, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![16, 16] };
/// assert_eq!(a.parameter_count(), finn_core::parameter_count(2, &[16, 16]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

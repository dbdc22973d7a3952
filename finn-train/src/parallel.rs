//! Data-parallel sums over the rows of a point set, reproducible whatever the thread count.
//!
//! A loss over m points is a sum of per-point terms. The rows are cut into fixed blocks of
//! [`BLOCK`] rows; each block is reduced by one task (on rayon's pool) into a partial result,
//! and the partials are combined in block order on the calling thread. The blocks and the
//! order of every floating-point addition are the same for 1 or 64 threads, so training is
//! bit-for-bit reproducible on any machine.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Rows per task: a block of a 2-D density's loss costs about a millisecond, well above
/// rayon's scheduling cost, and a few hundred points still make several tasks per core.
pub const BLOCK: usize = 64;

/// `reduce(block)` for each block of [`BLOCK`] rows of `points`, in parallel, returned in row
/// order.
///
/// ```
/// use ndarray::Array2;
/// let points = Array2::from_shape_fn((200, 2), |(i, j)| (i * 2 + j) as f64);
/// let partial = finn_train::parallel::map_blocks(&points, |b| b.sum());
/// assert_eq!(partial.len(), 4); // 64 + 64 + 64 + 8 rows
/// assert_eq!(partial.iter().sum::<f64>(), points.sum());
/// ```
pub fn map_blocks<T, R>(points: &Array2<f64>, reduce: R) -> Vec<T>
where
    T: Send,
    R: Fn(ArrayView2<'_, f64>) -> T + Sync,
{
    let blocks: Vec<ArrayView2<'_, f64>> = points.axis_chunks_iter(Axis(0), BLOCK).collect();
    blocks.into_par_iter().map(&reduce).collect()
}

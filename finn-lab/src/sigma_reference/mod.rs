//! `cargo xtask sigma-reference`: an independent, high-precision reference table of the
//! activation `sigma_n` and its derivatives, written to
//! `finn-core/tests/data/sigma_reference.csv`.
//!
//! # What is tabulated
//!
//! `sigma_n(x)` is the `(n-1)`-fold integral from `-inf` of `(erf(x) + 1) / 2 = erfc(-x) / 2`.
//! With the repeated integrals of erfc, `i^k erfc(z)` (Abramowitz & Stegun 7.2), where
//! `i^-1 erfc(z) = (2 / sqrt(pi)) exp(-z^2)` and `i^0 erfc = erfc`:
//!
//! * `sigma_n^(j)(x) = i^(n-1-j) erfc(-x) / 2` for `0 <= j <= n`
//!   (so `j = n` gives `exp(-x^2) / sqrt(pi)`),
//! * `sigma_n^(n+1)(x) = -2 x exp(-x^2) / sqrt(pi) = -x * i^-1 erfc(-x)`.
//!
//! The table covers `n = 1..=8`, every order `0..=n+1`, and `x = k/4` for `k = -120..=120`.
//!
//! # Method
//!
//! Every `i^k erfc(z)` (`k >= -1`) is summed from the power series (A&S 7.2.10 style)
//!
//! ```text
//! i^k erfc(z) = sum_{m>=0} (-z)^m / ( 2^(k-m) * m! * Gamma(1 + (k-m)/2) ),
//! ```
//!
//! where `1/Gamma` vanishes at the non-positive integers. The terms split by the parity of
//! `d = k - m`:
//!
//! * `d` even: `Gamma(1 + d/2)` is a factorial, and the terms with `d < 0` vanish. This part,
//!   `A(z)`, is a polynomial with rational coefficients.
//! * `d` odd: `Gamma(1 + d/2) = Gamma(1/2 + p)` with `p = (d+1)/2`, which is a rational multiple
//!   of `sqrt(pi)`: `(2p)! sqrt(pi) / (4^p p!)` for `p >= 0` and `(-4)^r r! sqrt(pi) / (2r)!`
//!   for `p = -r < 0`. This part is an entire series `B(z) / sqrt(pi)` with rational terms;
//!   consecutive terms of one parity have the exact ratio
//!   `T(m+2) / T(m) = 2 z^2 (2p - 1) / ((m+1)(m+2))`.
//!
//! So `i^k erfc(z) = A(z) + B(z) / sqrt(pi)`. Because the grid points are `z = a/4` with integer
//! `a`, every term ratio is a ratio of small integers, and the whole sum is carried out in
//! big-integer fixed point with [`FRAC_BITS`] fractional bits (resolution `2^-6000`). The
//! series alternates and cancels catastrophically: at `|z| = 30` the largest term is about
//! `e^(z^2) ~ 2^1300` while the result may be as small as `~1e-405 ~ 2^-1345`. Each term is
//! rounded once (less than one unit in the last place), and such a rounding error is amplified
//! by at most the growth of the terms after it, so the accumulated absolute error stays below
//! about `2^-4600`: over a thousand correct significant decimal digits for the smallest value
//! in the table. Summation runs until the terms have fallen below the resolution and keep
//! shrinking. `pi` is computed in the same fixed point by Machin's formula
//! `pi = 16 atan(1/5) - 4 atan(1/239)`, and `sqrt(pi)` by an integer square root (Newton's
//! method), both with 64 guard bits. Each value is then rounded (half up) to 25 significant
//! decimal digits and printed in scientific notation, however far outside the range of `f64`
//! it lies.
//!
//! # Why it is independent
//!
//! Nothing here uses floating point, libm (`erf`, `erfc`, `exp`), the forward/backward
//! recurrences `2k i^k = -2z i^(k-1) + i^(k-2)` that an implementation of `sigma_n` would
//! use, nor any code from `finn-core`: every `(k, x)` pair is its own exact series, built only
//! from integer arithmetic. The recurrence is only *checked* against the results (in the unit
//! tests and for every grid point at generation time), never used to produce them.

pub mod fixed;

use anyhow::{bail, Result};
use fixed::{format_sci, Fixed};
use num_bigint::BigInt;
use num_traits::Signed;
use std::fmt::Write as _;

/// Fractional bits of the fixed-point arithmetic used for the table.
pub const FRAC_BITS: u64 = 6000;
/// Significant decimal digits printed per value.
const SIG_DIGITS: u32 = 25;
/// Largest `n` in the table.
const MAX_N: i32 = 8;
/// The grid is `x = k / 4` for `k` in `-GRID_K..=GRID_K`.
const GRID_K: i64 = 120;
/// The recurrence check at generation time: relative tolerance `10^-RECURRENCE_DIGITS`.
const RECURRENCE_DIGITS: u32 = 100;

/// Where the table goes, relative to the workspace root.
pub const OUTPUT: &str = "finn-core/tests/data/sigma_reference.csv";

/// Rows of the table (not counting the comment lines and the header): every `n`, every
/// order `0..=n+1`, every grid point.
pub fn row_count() -> usize {
    (2 * GRID_K as usize + 1) * (1..=MAX_N).map(|n| n as usize + 2).sum::<usize>()
}

/// `k/4` as a plain decimal (`-29.75`, `-30`, `0.5`).
fn grid_x(k: i64) -> String {
    // Exact in binary, and Display prints the shortest exact decimal.
    format!("{}", k as f64 / 4.0)
}

/// Checks `2k I_k = -2z I_(k-1) + I_(k-2)` with `z = a/4` to `10^-digits` relative, where
/// `values[i]` is `i^(i-1) erfc(a/4)`. Returns the first `k` where it fails.
fn recurrence_fails(values: &[BigInt], a: i64, digits: u32) -> Option<i32> {
    let tol = BigInt::from(10u32).pow(digits);
    (1..values.len() as i32 - 1).find(|&k| {
        let i = (k + 1) as usize;
        // Times 4: 8k I_k = -2a I_(k-1) + 4 I_(k-2).
        let lhs = &values[i] * (8 * k);
        let rhs = &values[i - 1] * (-2 * a) + &values[i - 2] * 4;
        let diff: BigInt = &lhs - rhs;
        diff.abs() * &tol > lhs.abs()
    })
}

/// Generates the table: returns the CSV text for [`OUTPUT`] (comment lines, a header and
/// [`row_count`] rows). Takes a while: every value is an exact series in 6000-bit fixed
/// point; the grid points are shared out over the available cores.
pub fn table() -> Result<String> {
    let fixed = Fixed::new(FRAC_BITS);

    // values[(k_index)][order] with order k+1 = 0..=MAX_N: i^k erfc(-x) for k = -1..MAX_N-1.
    let grid: Vec<i64> = (-GRID_K..=GRID_K).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(grid.len());
    let mut table: Vec<Vec<BigInt>> = vec![Vec::new(); grid.len()];
    std::thread::scope(|scope| {
        let chunks: Vec<_> = (0..threads)
            .map(|t| {
                let fixed = &fixed;
                let grid = &grid;
                scope.spawn(move || {
                    // Interleave so the threads get equal shares of the slow large-|x| points.
                    (t..grid.len())
                        .step_by(threads)
                        .map(|i| {
                            let a = -grid[i]; // z = -x = a/4 with x = k/4.
                            let col: Vec<BigInt> = (-1..MAX_N).map(|k| fixed.ierfc(k, a)).collect();
                            (i, col)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for chunk in chunks {
            for (i, col) in chunk.join().expect("worker thread panicked") {
                table[i] = col;
            }
        }
    });

    for (i, &k) in grid.iter().enumerate() {
        if let Some(order) = recurrence_fails(&table[i], -k, RECURRENCE_DIGITS) {
            bail!("recurrence check failed at x = {}, k = {order}", grid_x(k));
        }
    }

    let mut out = String::new();
    write!(
        out,
        "\
# Reference values of the activation sigma_n and its derivatives. Do not edit by hand:
# produced by `cargo xtask sigma-reference` (finn-lab/src/sigma_reference/).
# sigma_n^(j)(x) = i^(n-1-j) erfc(-x) / 2 for 0 <= j <= n; sigma_n^(n+1)(x) = -2 x exp(-x^2) / sqrt(pi).
# Method: exact power series i^k erfc(z) = sum_m (-z)^m / (2^(k-m) m! Gamma(1 + (k-m)/2)) (A&S 7.2),
# summed in big-integer fixed point with {FRAC_BITS} fractional bits; pi by Machin's formula and
# sqrt(pi) by integer Newton square root in the same fixed point. No floating point, libm or
# recurrence is used to compute the values (the recurrence is only checked, to 1e-{RECURRENCE_DIGITS}).
# Values are rounded half up to {SIG_DIGITS} significant digits; some lie far outside f64's range.
# Grid: n = 1..={MAX_N}, order = 0..=n+1, x = k/4 for k = -{GRID_K}..={GRID_K}.
n,order,x,value
"
    )?;
    for n in 1..=MAX_N {
        for order in 0..=n + 1 {
            for (i, &k) in grid.iter().enumerate() {
                let value = if order <= n {
                    // i^(n-1-order) erfc(-x) / 2: one more fractional bit halves it exactly.
                    let index = (n - order) as usize;
                    format_sci(&table[i][index], FRAC_BITS + 1, SIG_DIGITS)
                } else {
                    // -x * i^-1 erfc(-x) = -(k/4) * i^-1 erfc(-x): exact with two more bits.
                    format_sci(&(&table[i][0] * -k), FRAC_BITS + 2, SIG_DIGITS)
                };
                writeln!(out, "{n},{order},{},{value}", grid_x(k))?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fractional bits for the tests: enough for |z| <= 25 (largest term ~2^902) to keep more
    /// than 150 correct bits in the smallest value, and fast in a debug build.
    const TEST_BITS: u64 = 2048;

    #[test]
    fn recurrence_holds_including_large_z() {
        let fixed = Fixed::new(TEST_BITS);
        // z = a/4: 25, -25, 1, -1, 0.25, -9.25, 0.
        for a in [100, -100, 4, -4, 1, -37, 0] {
            let values: Vec<BigInt> = (-1..MAX_N).map(|k| fixed.ierfc(k, a)).collect();
            assert_eq!(recurrence_fails(&values, a, 30), None, "z = {a}/4");
            // The values themselves are far from zero, so the check is not vacuous.
            assert!(values.iter().all(|v| v.bits() > 60), "z = {a}/4");
        }
    }

    #[test]
    fn grid_points() {
        assert_eq!(grid_x(-119), "-29.75");
        assert_eq!(grid_x(-120), "-30");
        assert_eq!(grid_x(2), "0.5");
        assert_eq!(grid_x(0), "0");
        assert_eq!(row_count(), 241 * 52);
    }
}

//! The via-point correction on the host: sum_m beta_m phi_m(s) with
//! phi_m(s) = s(1 - s)(2s - 1)^m, which vanishes at both ends (finn-core's
//! `trajectory` module evaluates the same basis on the device).
//!
//! With r = 2s - 1, s(1 - s) = (1 - r^2)/4, so phi_m = (r^m - r^(m+2))/4 and, since
//! d/ds = 2 d/dr, its k-th derivative in s is 2^k/4 (P(m, k) r^(m-k) - P(m+2, k) r^(m+2-k))
//! with P(p, k) = p!/(p - k)!: every order in closed form, and |r| <= 1 on [0, 1] bounds
//! each one.

use finn_core::Error;

/// Orders of the basis the host uses: value and four derivatives in s.
pub(super) const ORDERS: usize = 5;

/// p!/(p - k)! (0 when k > p).
fn falling(p: usize, k: usize) -> f64 {
    if k > p {
        return 0.0;
    }
    ((p - k + 1)..=p).map(|v| v as f64).product()
}

/// phi_m^(k)(s) for m < count, k < ORDERS.
pub(super) fn basis(s: f64, count: usize) -> Vec<[f64; ORDERS]> {
    let r = 2.0 * s - 1.0;
    let pow = |e: usize| r.powi(e as i32);
    (0..count)
        .map(|m| {
            let mut out = [0.0; ORDERS];
            for (k, o) in out.iter_mut().enumerate() {
                let scale = f64::from(1u32 << k) / 4.0;
                let term = |p: usize| {
                    if k <= p {
                        falling(p, k) * pow(p - k)
                    } else {
                        0.0
                    }
                };
                *o = scale * (term(m) - term(m + 2));
            }
            out
        })
        .collect()
}

/// sup over s in [0, 1] of |phi_m^(k)(s)|, bounded with |r| <= 1.
pub(super) fn basis_bound(m: usize, k: usize) -> f64 {
    f64::from(1u32 << k) / 4.0 * (falling(m, k) + falling(m + 2, k))
}

/// Inverse of a small dense matrix (Gauss-Jordan, partial pivoting).
fn invert(a: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, Error> {
    let k = a.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.extend((0..k).map(|j| if i == j { 1.0 } else { 0.0 }));
            r
        })
        .collect();
    for c in 0..k {
        let piv = (c..k)
            .max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))
            .unwrap_or(c);
        if m[piv][c].abs() < 1e-14 {
            return Err(Error::InvalidViaPoints);
        }
        m.swap(c, piv);
        let d = m[c][c];
        m[c].iter_mut().for_each(|v| *v /= d);
        for r in 0..k {
            if r != c {
                let f = m[r][c];
                let row_c = m[c].clone();
                m[r].iter_mut().zip(&row_c).for_each(|(v, cv)| *v -= f * cv);
            }
        }
    }
    Ok(m.into_iter().map(|r| r[k..].to_vec()).collect())
}

/// The inverse of the via-point system A[k][m] = phi_m(s_k) for the via times (empty
/// without via-points). The coefficients of a coordinate are beta = A^-1 r, r_k being the
/// miss of the uncorrected trajectory at via-point k.
///
/// Errors: `InvalidViaPoints` when the system is singular.
pub(super) fn system_inverse(times: &[f64], interval: (f64, f64)) -> Result<Vec<Vec<f64>>, Error> {
    let (t0, t1) = interval;
    let k = times.len();
    if k == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<Vec<f64>> = times
        .iter()
        .map(|t| {
            basis((t - t0) / (t1 - t0), k)
                .iter()
                .map(|b| b[0])
                .collect()
        })
        .collect();
    invert(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_matches_its_product_form_and_finite_differences() {
        for m in 0..4 {
            for &s in &[0.0, 0.13, 0.5, 0.77, 1.0] {
                let b = basis(s, m + 1)[m];
                let direct = s * (1.0 - s) * (2.0 * s - 1.0f64).powi(m as i32);
                assert!((b[0] - direct).abs() < 1e-15, "m {m} s {s}");
                // Each order is the derivative of the one before (central differences).
                let h = 1e-5;
                for k in 1..ORDERS {
                    let up = basis(s + h, m + 1)[m][k - 1];
                    let down = basis(s - h, m + 1)[m][k - 1];
                    let fd = (up - down) / (2.0 * h);
                    assert!((fd - b[k]).abs() < 1e-6 * (1.0 + b[k].abs()), "m {m} k {k}");
                }
            }
            assert_eq!(basis(0.0, m + 1)[m][0], 0.0);
            assert_eq!(basis(1.0, m + 1)[m][0], 0.0);
        }
    }

    #[test]
    fn basis_bound_holds_on_a_grid() {
        for m in 0..5 {
            for k in 0..ORDERS {
                let bound = basis_bound(m, k);
                for i in 0..=1000 {
                    let v = basis(i as f64 / 1000.0, m + 1)[m][k];
                    assert!(v.abs() <= bound + 1e-12, "m {m} k {k}: {v} > {bound}");
                }
            }
        }
    }

    #[test]
    fn singular_via_system_is_a_typed_error() {
        // Two via-points at the same time make A singular.
        assert_eq!(
            system_inverse(&[0.5, 0.5], (0.0, 1.0)),
            Err(Error::InvalidViaPoints)
        );
    }
}

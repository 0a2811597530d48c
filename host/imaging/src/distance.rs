//! Exact Euclidean distance transform (Felzenszwalb–Huttenlocher), O(pixels).
//!
//! The column phase is the 1-D distance to the nearest site in each column, swept row by row so
//! memory is read in order; the row phase is the lower envelope of parabolas `f(q) + (x - q)^2`
//! over that column distance squared, which gives the exact squared Euclidean distance.

/// Column distances: for every pixel, how many rows away the nearest site in its column is
/// (`u32::MAX` when the column has none).
pub(super) struct ColumnDistances {
    width: usize,
    height: usize,
    g: Vec<u32>,
}

const FAR: u32 = u32::MAX;

/// First phase: `is_site(i)` says whether pixel `i` (row-major) is a site.
pub(super) fn column_distances(
    width: usize,
    height: usize,
    is_site: impl Fn(usize) -> bool,
) -> ColumnDistances {
    let n = width * height;
    let mut g = vec![FAR; n];
    if n == 0 {
        return ColumnDistances { width, height, g };
    }
    for (x, gx) in g[..width].iter_mut().enumerate() {
        if is_site(x) {
            *gx = 0;
        }
    }
    // Downwards: distance to the nearest site above (or at) each pixel.
    for y in 1..height {
        let (head, rest) = g.split_at_mut(y * width);
        let above = &head[(y - 1) * width..];
        let base = y * width;
        for (x, (gx, &up)) in rest[..width].iter_mut().zip(above).enumerate() {
            *gx = if is_site(base + x) {
                0
            } else {
                up.saturating_add(1)
            };
        }
    }
    // Upwards: or below, whichever is nearer.
    for y in (0..height - 1).rev() {
        let (head, rest) = g.split_at_mut((y + 1) * width);
        for (gx, &down) in head[y * width..].iter_mut().zip(&rest[..width]) {
            *gx = (*gx).min(down.saturating_add(1));
        }
    }
    ColumnDistances { width, height, g }
}

impl ColumnDistances {
    /// Second phase: calls `on_row(y, d2)` with the squared distance of every pixel of row `y`
    /// to the nearest site. Distances below `cap` (squared) are exact; larger ones are reported
    /// as something at least `cap` (possibly infinite), and a row with no pixel within the cap
    /// of a site is skipped, which makes small grows on sparse masks cheap.
    pub(super) fn for_each_row(&self, cap: f64, mut on_row: impl FnMut(usize, &[f64])) {
        let w = self.width;
        let mut f = vec![0.0f64; w];
        let mut d = vec![0.0f64; w];
        let mut v = vec![0usize; w];
        let mut z = vec![0.0f64; w + 1];
        for y in 0..self.height {
            let row = &self.g[y * w..(y + 1) * w];
            let mut any = false;
            for (fx, &gx) in f.iter_mut().zip(row) {
                let g = gx as f64;
                // A parabola starting at or above the cap can only give distances past it.
                *fx = if gx == FAR || g * g >= cap {
                    f64::INFINITY
                } else {
                    any = true;
                    g * g
                };
            }
            if any {
                lower_envelope(&f, &mut d, &mut v, &mut z);
                on_row(y, &d);
            }
        }
    }
}

/// 1-D squared distance transform of sampled function `f` (infinite where there is no site):
/// `d[x] = min_q (x - q)^2 + f[q]`. All values are integers below 2^53, so f64 is exact.
fn lower_envelope(f: &[f64], d: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    // k: index of the rightmost parabola in the envelope; None until the first finite site.
    let mut k: Option<usize> = None;
    for q in 0..n {
        let fq = f[q];
        if !fq.is_finite() {
            continue;
        }
        let qf = q as f64;
        let Some(mut kk) = k else {
            v[0] = q;
            z[0] = f64::NEG_INFINITY;
            z[1] = f64::INFINITY;
            k = Some(0);
            continue;
        };
        loop {
            let p = v[kk];
            let pf = p as f64;
            // Where the parabolas from p and q intersect.
            let s = ((fq + qf * qf) - (f[p] + pf * pf)) / (2.0 * (qf - pf));
            if kk > 0 && s <= z[kk] {
                kk -= 1;
            } else {
                kk += 1;
                v[kk] = q;
                z[kk] = s;
                z[kk + 1] = f64::INFINITY;
                break;
            }
        }
        k = Some(kk);
    }
    if k.is_none() {
        d.fill(f64::INFINITY);
        return;
    }
    let mut kk = 0;
    for (x, dx) in d.iter_mut().enumerate() {
        let xf = x as f64;
        while z[kk + 1] < xf {
            kk += 1;
        }
        let p = v[kk];
        let dp = xf - p as f64;
        *dx = dp * dp + f[p];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the tests need no extra crate.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    fn edt(w: usize, h: usize, sites: &[bool]) -> Vec<f64> {
        let mut out = vec![f64::INFINITY; w * h];
        column_distances(w, h, |i| sites[i]).for_each_row(f64::INFINITY, |y, d| {
            out[y * w..(y + 1) * w].copy_from_slice(d);
        });
        out
    }

    fn brute(w: usize, h: usize, sites: &[bool]) -> Vec<f64> {
        let mut out = vec![f64::INFINITY; w * h];
        for y in 0..h {
            for x in 0..w {
                for sy in 0..h {
                    for sx in 0..w {
                        if sites[sy * w + sx] {
                            let (dx, dy) = (x as f64 - sx as f64, y as f64 - sy as f64);
                            out[y * w + x] = out[y * w + x].min(dx * dx + dy * dy);
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_brute_force_on_random_sites() {
        let mut seed = 7;
        for (w, h, density) in [
            (17, 13, 5),
            (31, 7, 50),
            (1, 20, 10),
            (25, 1, 10),
            (40, 40, 300),
        ] {
            let sites: Vec<bool> = (0..w * h)
                .map(|_| lcg(&mut seed) % 1000 < density)
                .collect();
            assert_eq!(
                edt(w, h, &sites),
                brute(w, h, &sites),
                "{w}x{h} density {density}"
            );
        }
    }

    #[test]
    fn capped_distances_are_exact_below_the_cap() {
        let mut seed = 11;
        let (w, h) = (37, 29);
        let sites: Vec<bool> = (0..w * h).map(|_| lcg(&mut seed) % 1000 < 8).collect();
        let exact = brute(w, h, &sites);
        for cap in [1.0, 2.0, 9.5, 30.0] {
            let mut out = vec![f64::INFINITY; w * h];
            column_distances(w, h, |i| sites[i]).for_each_row(cap, |y, d| {
                out[y * w..(y + 1) * w].copy_from_slice(d);
            });
            for (got, want) in out.iter().zip(&exact) {
                if *want < cap {
                    assert_eq!(got, want);
                } else {
                    assert!(*got >= cap, "cap {cap}: {got} for {want}");
                }
            }
        }
    }

    #[test]
    fn no_sites_is_infinitely_far_and_one_site_is_exact() {
        assert!(edt(5, 4, &[false; 20]).iter().all(|d| d.is_infinite()));
        let mut sites = vec![false; 30 * 20];
        sites[7 * 30 + 21] = true;
        let d = edt(30, 20, &sites);
        assert_eq!(d[7 * 30 + 21], 0.0);
        assert_eq!(d[0], (21.0f64 * 21.0) + 49.0);
        assert_eq!(d[19 * 30 + 29], 64.0 + 144.0);
    }
}

//! Colorization by optimisation (Levin, Lischinski & Weiss 2004): luminance is kept exactly,
//! chrominance (U, V) spreads from the user's scribbles to neighbours of similar luminance.
//!
//! For every pixel `r` without a scribble, `U(r) = Σₛ wᵣₛ U(s)` over its 8 neighbours, with
//! weights that fall off with the luminance difference relative to the local variance (Levin's
//! own rule: `σᵣ² = max(0.6·var₃ₓ₃, −min (Yₛ−Yᵣ)² / ln 0.01, 2·10⁻⁶)`). Scribbled pixels keep the
//! scribble's chroma. Here the affinity is symmetrised, `kᵣₛ = ½(e^{−d²/σᵣ²} + e^{−d²/σₛ²})`, so the
//! system becomes the weighted graph Laplacian — symmetric positive definite — while
//! `U(r) = Σ (kᵣₛ/Σₜkᵣₜ) U(s)` still holds exactly at every free pixel, i.e. Levin's equations with
//! row-normalised weights. A tiny diagonal shift (`ε = 10⁻⁶`) keeps regions that no scribble
//! reaches solvable (they drift to grey). The system is solved by multigrid-preconditioned CG,
//! U and V in parallel.

use crate::color::{rgb_to_yuv, yuv_to_rgb_keep_luma};
use crate::control::{auto_threads, Cancelled, Control};
use crate::multigrid::{pcg, Multigrid, SolveStats, Stencil};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// A scribble pixel counts when its alpha exceeds this (any non-zero 8-bit alpha).
pub const SCRIBBLE_THRESHOLD: f32 = 1.0 / 512.0;
const SHIFT: f32 = 1e-6;
/// The solves stop at this relative residual. Against solves to 10⁻⁸, 10⁻⁴ leaves every 8-bit
/// channel within one level (0.07–0.6 % of pixels off by one: girl-1, car-1 at 1 and 4 MP,
/// coffee, and rocket, chelsea and astronaut, which had no part in choosing it, at 1 MP;
/// `examples/colorize_scaling --check`) with about 40 % fewer iterations than 10⁻⁵.
pub const TOLERANCE: f64 = 1e-4;
const MAX_ITERATIONS: usize = 300;

/// How the solve went, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorizeStats {
    pub scribbled: usize,
    pub u: SolveStats,
    pub v: SolveStats,
    pub levels: usize,
}

/// Levin's per-pixel scale `σᵣ²` from the 3×3 window around each pixel.
fn local_scales(y: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w * h];
    for py in 0..h {
        for px in 0..w {
            let c = y[py * w + px];
            let (mut sum, mut sum2, mut n) = (0.0f32, 0.0f32, 0.0f32);
            let mut min_d2 = f32::INFINITY;
            for qy in py.saturating_sub(1)..(py + 2).min(h) {
                for qx in px.saturating_sub(1)..(px + 2).min(w) {
                    let v = y[qy * w + qx];
                    sum += v;
                    sum2 += v * v;
                    n += 1.0;
                    if (qx, qy) != (px, py) {
                        min_d2 = min_d2.min((v - c) * (v - c));
                    }
                }
            }
            let mean = sum / n;
            let var = (sum2 / n - mean * mean).max(0.0);
            let mut s = 0.6 * var;
            if min_d2.is_finite() {
                s = s.max(-min_d2 / 0.01f32.ln());
            }
            out[py * w + px] = s.max(2e-6);
        }
    }
    out
}

/// Colorizes `rgba` (4 floats per pixel, its luminance is used) from `scribbles` (RGBA of the
/// same size; alpha > [`SCRIBBLE_THRESHOLD`] marks painted pixels). Returns RGBA with the
/// input's alpha and luma.
pub fn colorize(
    rgba: &[f32],
    scribbles: &[f32],
    w: usize,
    h: usize,
    threads: usize,
    ctl: &mut dyn Control,
) -> Result<(Vec<f32>, ColorizeStats), Cancelled> {
    colorize_to(rgba, scribbles, w, h, threads, TOLERANCE, ctl)
}

/// [`colorize`], solving to the relative residual `tolerance`.
pub fn colorize_to(
    rgba: &[f32],
    scribbles: &[f32],
    w: usize,
    h: usize,
    threads: usize,
    tolerance: f64,
    ctl: &mut dyn Control,
) -> Result<(Vec<f32>, ColorizeStats), Cancelled> {
    let n = w * h;
    let luma: Vec<f32> = (0..n)
        .map(|i| rgb_to_yuv([rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2]])[0])
        .collect();
    let mut fixed = vec![false; n];
    let mut chroma = vec![[0.0f32; 2]; n];
    for i in 0..n {
        if scribbles[i * 4 + 3] > SCRIBBLE_THRESHOLD {
            fixed[i] = true;
            let yuv = rgb_to_yuv([scribbles[i * 4], scribbles[i * 4 + 1], scribbles[i * 4 + 2]]);
            chroma[i] = [yuv[1], yuv[2]];
        }
    }
    let scribbled = fixed.iter().filter(|&&f| f).count();
    ctl.progress(0.02, "building the affinity system");
    ctl.check()?;

    let sig = local_scales(&luma, w, h);
    let mut a = Stencil::zeros(w, h);
    let mut bu = vec![0.0f32; a.len()];
    let mut bv = vec![0.0f32; a.len()];
    for y in 0..h {
        if y % 64 == 0 {
            ctl.check()?;
        }
        for x in 0..w {
            let r = y * w + x;
            let pr = a.at(x, y);
            // East, south, south-east, south-west: each pair once.
            let forward: [(isize, isize); 4] = [(1, 0), (0, 1), (1, 1), (-1, 1)];
            for (k, (dx, dy)) in forward.into_iter().enumerate() {
                let (sx, sy) = (x as isize + dx, y as isize + dy);
                if sx < 0 || sx >= w as isize || sy >= h as isize {
                    continue;
                }
                let s = sy as usize * w + sx as usize;
                let ps = a.at(sx as usize, sy as usize);
                let d = luma[r] - luma[s];
                let d2 = d * d;
                let wt = 0.5 * ((-d2 / sig[r]).exp() + (-d2 / sig[s]).exp());
                if wt == 0.0 {
                    continue;
                }
                match (fixed[r], fixed[s]) {
                    (false, false) => {
                        a.diag[pr] += wt;
                        a.diag[ps] += wt;
                        let coupling = match k {
                            0 => &mut a.e,
                            1 => &mut a.s,
                            2 => &mut a.se,
                            _ => &mut a.sw,
                        };
                        coupling[pr] = -wt;
                    }
                    (false, true) => {
                        a.diag[pr] += wt;
                        bu[pr] += wt * chroma[s][0];
                        bv[pr] += wt * chroma[s][1];
                    }
                    (true, false) => {
                        a.diag[ps] += wt;
                        bu[ps] += wt * chroma[r][0];
                        bv[ps] += wt * chroma[r][1];
                    }
                    (true, true) => {}
                }
            }
        }
    }
    for y in 0..h {
        for x in 0..w {
            let (r, p) = (y * w + x, a.at(x, y));
            if fixed[r] {
                a.diag[p] = 1.0;
                bu[p] = chroma[r][0];
                bv[p] = chroma[r][1];
            } else {
                a.diag[p] += SHIFT;
            }
        }
    }
    let mut xu = vec![0.0f32; a.len()];
    let mut xv = vec![0.0f32; a.len()];
    // Start from the scribbles' mean chroma: closer than grey for most pictures.
    if scribbled > 0 {
        let (su, sv) = chroma
            .iter()
            .zip(&fixed)
            .filter(|(_, f)| **f)
            .fold((0.0f64, 0.0f64), |(a, b), (c, _)| {
                (a + c[0] as f64, b + c[1] as f64)
            });
        let (mu, mv) = (
            (su / scribbled as f64) as f32,
            (sv / scribbled as f64) as f32,
        );
        for y in 0..h {
            for x in 0..w {
                let p = a.at(x, y);
                xu[p] = mu;
                xv[p] = mv;
            }
        }
    }
    ctl.check()?;
    let mg = Multigrid::new(a);
    ctl.progress(0.15, "solving for chroma");
    ctl.check()?;

    let stop = AtomicBool::new(false);
    let (su, sv) = {
        // Only this thread may talk to the caller; the other solve polls the flag it sets.
        let cell = RefCell::new(&mut *ctl);
        let main_stop = || {
            let cancelled = cell.borrow_mut().cancelled();
            if cancelled {
                stop.store(true, Ordering::Relaxed);
            }
            cancelled
        };
        let other_stop = || stop.load(Ordering::Relaxed);
        if auto_threads(threads) > 1 {
            std::thread::scope(|scope| {
                let handle =
                    scope.spawn(|| pcg(&mg, &bv, &mut xv, tolerance, MAX_ITERATIONS, &other_stop));
                let su = pcg(&mg, &bu, &mut xu, tolerance, MAX_ITERATIONS, &main_stop);
                // A cancellation seen by this solve has set `stop`, which ends the other too.
                match handle.join() {
                    Ok(sv) => (su, sv),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
        } else {
            let su = pcg(&mg, &bu, &mut xu, tolerance, MAX_ITERATIONS, &main_stop);
            let sv = pcg(&mg, &bv, &mut xv, tolerance, MAX_ITERATIONS, &main_stop);
            (su, sv)
        }
    };
    if stop.load(Ordering::Relaxed) || ctl.cancelled() {
        return Err(Cancelled);
    }

    let stride = w + 2;
    let mut out = Vec::with_capacity(n * 4);
    for y in 0..h {
        for x in 0..w {
            let (r, p) = (y * w + x, (y + 1) * stride + x + 1);
            let (u, v) = if fixed[r] {
                (chroma[r][0], chroma[r][1])
            } else {
                (xu[p], xv[p])
            };
            let rgb = yuv_to_rgb_keep_luma([luma[r], u, v]);
            out.extend_from_slice(&[rgb[0], rgb[1], rgb[2], rgba[r * 4 + 3]]);
        }
    }
    ctl.progress(1.0, "done");
    Ok((
        out,
        ColorizeStats {
            scribbled,
            u: su,
            v: sv,
            levels: mg.levels(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::color::{rgb_to_yuv, srgb_to_lab};
    use crate::control::{Rng, Unattended};
    use crate::testutil::load_photo;

    struct Scores {
        ours_uv: f64,
        flat_uv: f64,
        ours_de: f64,
        flat_de: f64,
    }

    /// Greys a photo, colorizes it from scribbles sampled from the original, and scores the
    /// chroma against the original and against a flat fill with the scribbles' mean chroma.
    fn score(name: &str, scribble_at: &dyn Fn(usize, usize) -> bool) -> Scores {
        let (w, h, rgba) = load_photo(name);
        let n = w * h;
        let mut gray = rgba.clone();
        let mut scribbles = vec![0.0f32; n * 4];
        for i in 0..n {
            let y = rgb_to_yuv([rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2]])[0];
            gray[i * 4..i * 4 + 3].fill(y);
            if scribble_at(i % w, i / w) {
                scribbles[i * 4..i * 4 + 3].copy_from_slice(&rgba[i * 4..i * 4 + 3]);
                scribbles[i * 4 + 3] = 1.0;
            }
        }
        let (out, stats) = colorize(&gray, &scribbles, w, h, 2, &mut Unattended).unwrap();
        let frac = stats.scribbled as f64 / n as f64;
        assert!((0.005..0.03).contains(&frac), "scribbled fraction {frac}");
        assert!(stats.u.relative_residual <= TOLERANCE && stats.v.relative_residual <= TOLERANCE);

        // Flat fill: the scribbles' mean chroma everywhere, same luma.
        let (mut mu, mut mv, mut k) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            if scribbles[i * 4 + 3] > 0.0 {
                let c = rgb_to_yuv([scribbles[i * 4], scribbles[i * 4 + 1], scribbles[i * 4 + 2]]);
                mu += c[1] as f64;
                mv += c[2] as f64;
                k += 1.0;
            }
        }
        let (mu, mv) = ((mu / k) as f32, (mv / k) as f32);
        let mut s = Scores {
            ours_uv: 0.0,
            flat_uv: 0.0,
            ours_de: 0.0,
            flat_de: 0.0,
        };
        for i in 0..n {
            let orig = [rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2]];
            let ours = [out[i * 4], out[i * 4 + 1], out[i * 4 + 2]];
            let yo = rgb_to_yuv(orig);
            let flat = yuv_to_rgb_keep_luma([yo[0], mu, mv]);
            let (yu, yf) = (rgb_to_yuv(ours), rgb_to_yuv(flat));
            // Luminance is kept (exactly, up to float rounding and 8-bit quantisation).
            assert!(
                (yu[0] - yo[0]).abs() < 1e-4,
                "luma changed at {i}: {} vs {}",
                yu[0],
                yo[0]
            );
            let q: Vec<f32> = ours.iter().map(|&v| (v * 255.0).round() / 255.0).collect();
            let yq = rgb_to_yuv([q[0], q[1], q[2]])[0];
            assert!((yq - yo[0]).abs() <= 0.5 / 255.0 + 1e-5);
            s.ours_uv += ((yu[1] - yo[1]).abs() + (yu[2] - yo[2]).abs()) as f64;
            s.flat_uv += ((yf[1] - yo[1]).abs() + (yf[2] - yo[2]).abs()) as f64;
            let (lo, lu, lf) = (srgb_to_lab(orig), srgb_to_lab(ours), srgb_to_lab(flat));
            let de = |a: [f32; 3], b: [f32; 3]| {
                (((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)) as f64)
                    .sqrt()
            };
            s.ours_de += de(lo, lu);
            s.flat_de += de(lo, lf);
        }
        s.ours_uv /= n as f64;
        s.flat_uv /= n as f64;
        s.ours_de /= n as f64;
        s.flat_de /= n as f64;
        println!(
            "{name}: {:.2}% scribbled, PCG {}+{} iterations on {} levels; mean |dU|+|dV| ours {:.4} vs flat {:.4}; mean dE76 ours {:.2} vs flat {:.2}",
            100.0 * frac,
            stats.u.iterations,
            stats.v.iterations,
            stats.levels,
            s.ours_uv,
            s.flat_uv,
            s.ours_de,
            s.flat_de
        );
        s
    }

    #[test]
    fn grid_dots_recolour_chelsea() {
        // One dot every 8 px in both directions: 1.6% of the pixels.
        let s = score("chelsea.png", &|x, y| x % 8 == 3 && y % 8 == 5);
        assert!(
            s.ours_uv <= 0.5 * s.flat_uv,
            "{} vs {}",
            s.ours_uv,
            s.flat_uv
        );
        assert!(
            s.ours_de <= 0.5 * s.flat_de,
            "{} vs {}",
            s.ours_de,
            s.flat_de
        );
    }

    #[test]
    fn short_strokes_recolour_coffee() {
        // Short horizontal strokes (6 px) at random places, about 1.5% of the pixels.
        let (w, h, _) = load_photo("coffee.png");
        let mut rng = Rng::new(11);
        let mut mask = vec![false; w * h];
        for _ in 0..(w * h) / 400 {
            let (x, y) = (rng.below(w - 6), rng.below(h));
            for k in 0..6 {
                mask[y * w + x + k] = true;
            }
        }
        let s = score("coffee.png", &|x, y| mask[y * w + x]);
        assert!(
            s.ours_uv <= 0.5 * s.flat_uv,
            "{} vs {}",
            s.ours_uv,
            s.flat_uv
        );
        assert!(
            s.ours_de <= 0.5 * s.flat_de,
            "{} vs {}",
            s.ours_de,
            s.flat_de
        );
    }

    #[test]
    fn scribbles_fill_their_own_regions_and_stop_at_edges() {
        // Left half dark, right half bright; a red dot on the left, a blue dot on the right.
        let (w, h) = (40, 30);
        let mut img = vec![0.0f32; w * h * 4];
        let mut scr = vec![0.0f32; w * h * 4];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let v = if x < 20 { 0.3 } else { 0.7 };
                img[i * 4..i * 4 + 4].copy_from_slice(&[v, v, v, 1.0]);
            }
        }
        let (red, blue) = ([0.5, 0.2, 0.2], [0.5, 0.6, 0.9]);
        for (x, c) in [(5, red), (35, blue)] {
            let i = 15 * w + x;
            scr[i * 4..i * 4 + 3].copy_from_slice(&c);
            scr[i * 4 + 3] = 1.0;
        }
        let (out, _) = colorize(&img, &scr, w, h, 1, &mut Unattended).unwrap();
        let uv = |x: usize, y: usize| {
            let i = (y * w + x) * 4;
            let c = rgb_to_yuv([out[i], out[i + 1], out[i + 2]]);
            [c[1], c[2]]
        };
        let (tr, tb) = (rgb_to_yuv(red), rgb_to_yuv(blue));
        // Both sides right up to the edge (x = 19 | 20) take their own scribble's chroma.
        for (x, y) in [(0, 0), (19, 29), (19, 2), (10, 15)] {
            let c = uv(x, y);
            assert!(
                (c[0] - tr[1]).abs() < 0.01 && (c[1] - tr[2]).abs() < 0.01,
                "({x},{y}): {c:?}"
            );
        }
        for (x, y) in [(39, 0), (20, 29), (20, 2), (30, 15)] {
            let c = uv(x, y);
            assert!(
                (c[0] - tb[1]).abs() < 0.01 && (c[1] - tb[2]).abs() < 0.01,
                "({x},{y}): {c:?}"
            );
        }
    }

    #[test]
    fn a_megapixel_photo_is_solved_in_seconds() {
        // coffee.png stretched to 1224×816 (1.0 MP), dots every 8 px.
        let (w0, h0, photo) = load_photo("coffee.png");
        let (w, h) = (1224, 816);
        let rgba = easel_pixels::resize_packed(
            &photo,
            (w0, h0),
            4,
            (w, h),
            easel_pixels::Filter::Bilinear,
        );
        let mut scr = vec![0.0f32; w * h * 4];
        for y in (3..h).step_by(8) {
            for x in (5..w).step_by(8) {
                let i = y * w + x;
                scr[i * 4..i * 4 + 3].copy_from_slice(&rgba[i * 4..i * 4 + 3]);
                scr[i * 4 + 3] = 1.0;
            }
        }
        let start = std::time::Instant::now();
        let (_, stats) = colorize(&rgba, &scr, w, h, 2, &mut Unattended).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!("{w}x{h}: {secs:.2} s, {stats:?}");
        assert!(stats.u.relative_residual <= TOLERANCE && stats.v.relative_residual <= TOLERANCE);
        assert!(
            stats.u.iterations < 60 && stats.v.iterations < 60,
            "{stats:?}"
        );
        // The time bound is for optimised builds (tests run at opt-level 1 in debug).
        if !cfg!(debug_assertions) {
            assert!(secs < 5.0, "{secs:.2} s");
        }
    }

    #[test]
    fn cancellation_stops_the_solve() {
        struct CancelNow;
        impl Control for CancelNow {
            fn progress(&mut self, _: f32, _: &str) {}
            fn cancelled(&mut self) -> bool {
                true
            }
        }
        let img = vec![0.5f32; 64 * 64 * 4];
        let scr = vec![0.0f32; 64 * 64 * 4];
        assert_eq!(
            colorize(&img, &scr, 64, 64, 2, &mut CancelNow).err(),
            Some(Cancelled)
        );
    }
}

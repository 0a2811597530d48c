//! Object removal: multi-scale exemplar-based inpainting with PatchMatch (Wexler et al. 2007,
//! Newson et al. 2014), a diffusion fill used as its initialisation and fallback, and the
//! pre/post-processing of the learned (MI-GAN) alternative.
//!
//! The scheme, per [`inpaint_rgb`]:
//! 1. Build a pyramid by halving until the hole is about a patch wide (or the image gets too
//!    small to hold source patches). Hole content never enters the coarse levels.
//! 2. At the coarsest level fill the hole by diffusion (onion peel, then Laplace relaxation)
//!    and by [`structure::priority_fill`] (Criminisi-order exemplar fill: edges reaching the rim
//!    are continued first), start from the mean of the two, and give every target patch a
//!    random source. At every level the patch distance also sees a smoothed-luminance guide
//!    ([`set_guide`]) taken from the level's start, so sources come from regions of the same
//!    brightness as the structure there (not from the other side of a strong boundary).
//! 3. At each level iterate: PatchMatch search (propagation + random search; only source
//!    patches fully outside the hole), then rebuild the hole by voting — each overlapping
//!    patch weighted by its similarity (Newson) and by Wexler's confidence `γ^-depth`, which
//!    favours patches anchored near the known rim — until the hole stops changing or the
//!    iteration budget is spent.
//! 4. Upsample the nearest-neighbour field to the next finer level, vote once with it to get
//!    that level's first estimate, and go on at step 3. Below the coarsest level the random
//!    search stays within a window around each match (the global layout is settled there).
//!
//! The structure mix and guide weight were chosen on the dev photos of
//! `benches/inpaint_eval.py` (photos from packages, with a held-out split; see
//! `benches/inpaint_eval.md`). The other defaults were chosen on `benches/inpaint_quality.py`
//! (PSNR inside holes cut in the fixture photos; see `benches/inpaint_quality.md`): the confidence weighting (+1.2 dB over plain
//! similarity voting), stopping the pyramid at a hole about 3 patch radii deep and the
//! diffusion start each helped; more iterations at the fine levels did not (< 0.1 dB) and
//! cost time.

pub mod migan;
pub mod patchmatch;
pub mod structure;

use crate::control::{auto_threads, Cancelled, Control, Rng};
use patchmatch::{Field, Level, CH};

/// A pixel is hole when its mask coverage exceeds this, i.e. any non-zero 8-bit coverage.
/// Every pixel the host will blend the result into is synthesised, and no pixel the user
/// partly selected (the object's fringe) is ever copied as a source.
pub const HOLE_THRESHOLD: f32 = 1.0 / 512.0;

/// Tuning for [`inpaint_rgb`]; `Default` is what the operation uses.
#[derive(Debug, Clone)]
pub struct InpaintOptions {
    /// Patch width in pixels; even widths are rounded up to the next odd one.
    pub patch_size: usize,
    pub seed: u64,
    /// Worker threads; 0 = the machine's parallelism (at most 8). Results do not depend on it.
    pub threads: usize,
    /// Search-and-vote iterations at the coarsest level, at intermediate levels, at the finest.
    pub coarsest_iterations: usize,
    pub middle_iterations: usize,
    pub finest_iterations: usize,
    /// PatchMatch passes per iteration.
    pub passes: usize,
    /// The pyramid stops once the hole is at most this many patch radii from known pixels.
    pub coarsest_hole_radii: f32,
    /// Base γ of the voting confidence `γ^-depth` (1 = plain similarity-weighted voting).
    pub confidence_base: f32,
    /// Largest random-search window (pixels) below the coarsest level, whose field already
    /// holds the global layout; 0 = the whole image at every level.
    pub fine_search_radius: usize,
    /// Start the coarsest level with [`structure::priority_fill`] (edges continued first)
    /// instead of the diffusion fill alone.
    pub structure_init: bool,
    /// How much of the coarsest start is the structure fill, the rest the diffusion fill
    /// (1 = structure fill only): the exemplar order places edges, the diffusion keeps a noisy
    /// greedy copy from deciding flat regions' brightness.
    pub structure_mix: f32,
    /// Weight of the smoothed-luminance guide in the patch distance ([`set_guide`]); 0 = none.
    pub guide_weight: f32,
}

impl Default for InpaintOptions {
    fn default() -> Self {
        InpaintOptions {
            patch_size: 7,
            seed: 0,
            threads: 0,
            coarsest_iterations: 20,
            middle_iterations: 6,
            finest_iterations: 2,
            passes: 2,
            coarsest_hole_radii: 3.0,
            confidence_base: 3.0,
            fine_search_radius: 64,
            structure_init: true,
            structure_mix: 0.5,
            guide_weight: 0.5,
        }
    }
}

/// The chessboard distance from each pixel to the nearest known pixel (0 outside the hole);
/// `usize::MAX / 2` everywhere when nothing is known.
pub fn hole_distance(hole: &[bool], w: usize, h: usize) -> Vec<usize> {
    let inf = usize::MAX / 2;
    let mut d: Vec<usize> = hole.iter().map(|&b| if b { inf } else { 0 }).collect();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if d[i] == 0 {
                continue;
            }
            let mut m = d[i];
            if x > 0 {
                m = m.min(d[i - 1] + 1);
            }
            if y > 0 {
                m = m.min(d[i - w] + 1);
                if x > 0 {
                    m = m.min(d[i - w - 1] + 1);
                }
                if x + 1 < w {
                    m = m.min(d[i - w + 1] + 1);
                }
            }
            d[i] = m;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            if d[i] == 0 {
                continue;
            }
            let mut m = d[i];
            if x + 1 < w {
                m = m.min(d[i + 1] + 1);
            }
            if y + 1 < h {
                m = m.min(d[i + w] + 1);
                if x + 1 < w {
                    m = m.min(d[i + w + 1] + 1);
                }
                if x > 0 {
                    m = m.min(d[i + w - 1] + 1);
                }
            }
            d[i] = m;
        }
    }
    d
}

/// Onion-peel fill: layer by layer from the hole's rim inwards, each pixel takes the mean of
/// its already-known 8-neighbours. `ch` floats per pixel, the first 3 filled. A hole with no
/// known pixel at all becomes mid grey.
pub fn onion_fill(img: &mut [f32], ch: usize, hole: &[bool], w: usize, h: usize) {
    let mut known: Vec<bool> = hole.iter().map(|&b| !b).collect();
    if !known.iter().any(|&k| k) {
        for i in 0..w * h {
            img[i * ch..i * ch + 3].fill(0.5);
        }
        return;
    }
    let neighbours = |i: usize| {
        let (x, y) = ((i % w) as isize, (i / w) as isize);
        (-1isize..=1)
            .flat_map(move |dy| (-1isize..=1).map(move |dx| (x + dx, y + dy)))
            .filter(move |&(nx, ny)| {
                (nx, ny) != (x, y) && nx >= 0 && ny >= 0 && nx < w as isize && ny < h as isize
            })
            .map(move |(nx, ny)| ny as usize * w + nx as usize)
    };
    let mut queued = vec![false; w * h];
    let mut layer: Vec<usize> = Vec::new();
    for i in 0..w * h {
        if !known[i] && neighbours(i).any(|n| known[n]) {
            layer.push(i);
            queued[i] = true;
        }
    }
    while !layer.is_empty() {
        let values: Vec<[f32; 3]> = layer
            .iter()
            .map(|&i| {
                let (mut acc, mut n) = ([0.0f32; 3], 0.0f32);
                for j in neighbours(i).filter(|&j| known[j]) {
                    for k in 0..3 {
                        acc[k] += img[j * ch + k];
                    }
                    n += 1.0;
                }
                acc.map(|a| a / n.max(1.0))
            })
            .collect();
        for (&i, v) in layer.iter().zip(&values) {
            img[i * ch..i * ch + 3].copy_from_slice(v);
            known[i] = true;
        }
        let mut next = Vec::new();
        for &i in &layer {
            for j in neighbours(i) {
                if !known[j] && !queued[j] {
                    queued[j] = true;
                    next.push(j);
                }
            }
        }
        layer = next;
    }
}

/// A simple diffusion fill: onion peel, then `iterations` Gauss–Seidel sweeps of Laplace's
/// equation over the hole (known pixels fixed). The baseline that PatchMatch must beat and the
/// fallback when no source patch exists.
pub fn diffusion_fill(
    img: &mut [f32],
    ch: usize,
    hole: &[bool],
    w: usize,
    h: usize,
    iterations: usize,
) {
    onion_fill(img, ch, hole, w, h);
    for _ in 0..iterations {
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if !hole[i] {
                    continue;
                }
                let mut acc = [0.0f32; 3];
                let mut n = 0.0f32;
                for (nx, ny) in [
                    (x.wrapping_sub(1), y),
                    (x + 1, y),
                    (x, y.wrapping_sub(1)),
                    (x, y + 1),
                ] {
                    if nx < w && ny < h {
                        let j = ny * w + nx;
                        for k in 0..3 {
                            acc[k] += img[j * ch + k];
                        }
                        n += 1.0;
                    }
                }
                for k in 0..3 {
                    img[i * ch + k] = acc[k] / n;
                }
            }
        }
    }
}

/// Fills the hole of an RGB image (3 floats per pixel) and returns the result; pixels outside
/// the hole are returned unchanged.
pub fn inpaint_rgb(
    rgb: &[f32],
    w: usize,
    h: usize,
    hole: &[bool],
    opts: &InpaintOptions,
    ctl: &mut dyn Control,
) -> Result<Vec<f32>, Cancelled> {
    let threads = auto_threads(opts.threads);
    let mut r = opts.patch_size.max(3) / 2;
    // A patch must fit with room for sources; shrink it on tiny images.
    while r > 1 && (w <= 4 * r || h <= 4 * r) {
        r -= 1;
    }
    let mut finest = Level {
        w,
        h,
        img: vec![0.0; w * h * CH],
        hole: hole.to_vec(),
    };
    for i in 0..w * h {
        finest.img[i * CH..i * CH + 3].copy_from_slice(&rgb[i * 3..i * 3 + 3]);
    }
    let first = Field::new(&finest, r);
    if first.sources.is_empty() || first.n_targets == 0 {
        // No complete source patch (the hole covers nearly everything): diffuse instead.
        diffusion_fill(&mut finest.img, CH, hole, w, h, 100);
        return Ok(to_rgb(&finest));
    }

    // Pyramid: halve while the hole is wider than wanted and the next level still has room
    // for enough source patches.
    let mut levels = vec![finest];
    let mut fields = vec![first];
    loop {
        let cur = &levels[levels.len() - 1];
        let radius = fields[fields.len() - 1]
            .depth
            .iter()
            .copied()
            .filter(|&d| d < u32::MAX / 4)
            .max()
            .unwrap_or(0);
        if (radius as f32) <= opts.coarsest_hole_radii * r as f32 {
            break;
        }
        let next = cur.downsample();
        if next.w <= 4 * r || next.h <= 4 * r {
            break;
        }
        let field = Field::new(&next, r);
        if field.sources.len() < 4 * (2 * r + 1) * (2 * r + 1) || field.n_targets == 0 {
            break;
        }
        levels.push(next);
        fields.push(field);
    }
    let n_levels = levels.len();
    let iterations = |l: usize| {
        if l + 1 == n_levels {
            opts.coarsest_iterations.max(1)
        } else if l == 0 {
            opts.finest_iterations.max(1)
        } else {
            opts.middle_iterations.max(1)
        }
    };
    let total_work: f64 = (0..n_levels)
        .map(|l| (fields[l].n_targets * iterations(l)) as f64)
        .sum();
    let mut done_work = 0.0f64;

    // Coarsest level: onion peel, random field.
    {
        let l = n_levels - 1;
        let (cw, chh) = (levels[l].w, levels[l].h);
        let hole_l = levels[l].hole.clone();
        diffusion_fill(&mut levels[l].img, CH, &hole_l, cw, chh, 100);
        if opts.structure_init {
            let depth = fields[l]
                .depth
                .iter()
                .copied()
                .filter(|&d| d < u32::MAX / 4)
                .max()
                .unwrap_or(0) as usize;
            // Sources near the front: a few hole depths (or patch widths) away.
            let window = (8 * r).max(4 * depth);
            let diffused = levels[l].img.clone();
            structure::priority_fill(&mut levels[l], &fields[l], window);
            let mix = opts.structure_mix.clamp(0.0, 1.0);
            for (v, d) in levels[l].img.iter_mut().zip(&diffused) {
                *v = mix * *v + (1.0 - mix) * d;
            }
        }
        fields[l].randomize(&mut Rng::stream(&[opts.seed, l as u64, 0xF1E1D]));
        set_guide(&mut levels[l], opts.guide_weight);
    }

    for l in (0..n_levels).rev() {
        ctl.check()?;
        if l + 1 < n_levels {
            let (finer, coarser) = fields.split_at_mut(l + 1);
            let (wc, hc) = (levels[l + 1].w, levels[l + 1].h);
            let (wf, hf) = (levels[l].w, levels[l].h);
            finer[l].upsample_from(
                &coarser[0],
                wc,
                hc,
                wf,
                hf,
                &mut Rng::stream(&[opts.seed, l as u64, 0x0F5A]),
            );
            let weights = patchmatch::vote_weights(&finer[l], true);
            patchmatch::vote(
                &mut levels[l],
                &finer[l],
                &weights,
                opts.confidence_base,
                threads,
            );
            set_guide(&mut levels[l], opts.guide_weight);
        }
        let level = &mut levels[l];
        let field = &mut fields[l];
        let iters = iterations(l);
        for it in 0..iters {
            ctl.check()?;
            patchmatch::recompute_distances(level, field, threads);
            for pass in 0..opts.passes.max(1) {
                let stream = [opts.seed, l as u64, it as u64, pass as u64];
                let radius = if l + 1 == n_levels || opts.fine_search_radius == 0 {
                    usize::MAX
                } else {
                    opts.fine_search_radius
                };
                let reverse = (it * opts.passes + pass) % 2 == 1;
                patchmatch::search_pass(level, field, reverse, radius, &stream, threads);
                ctl.check()?;
            }
            let weights = patchmatch::vote_weights(field, false);
            let change = patchmatch::vote(level, field, &weights, opts.confidence_base, threads);
            done_work += field.n_targets as f64;
            ctl.progress(
                (done_work / total_work) as f32,
                &format!(
                    "level {} of {}, iteration {} of {}",
                    n_levels - l,
                    n_levels,
                    it + 1,
                    iters
                ),
            );
            // Converged: the hole moves less than about a tenth of an 8-bit step.
            if change < 1e-7 {
                done_work += (field.n_targets * (iters - it - 1)) as f64;
                break;
            }
        }
    }
    ctl.progress(1.0, "done");
    Ok(to_rgb(&levels[0]))
}

/// Puts `weight` × the level's luminance, smoothed by a Gaussian (σ 1.5 px), into the fourth
/// lane of every pixel, which the patch distance reads and the vote never writes: a guide that
/// holds the hole's current low-frequency layout (its estimate when this is called) fixed for
/// the level's iterations, so that sources come from regions of the same brightness, the same
/// side of a boundary, as the structure says.
pub fn set_guide(level: &mut Level, weight: f32) {
    let (w, h) = (level.w, level.h);
    if weight <= 0.0 {
        for px in level.img.chunks_exact_mut(CH) {
            px[3] = 0.0;
        }
        return;
    }
    let k: Vec<f32> = (-4i32..=4)
        .map(|d| (-(d * d) as f32 / (2.0 * 1.5 * 1.5)).exp())
        .collect();
    let lum: Vec<f32> = level
        .img
        .chunks_exact(CH)
        .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
        .collect();
    let blur = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (mut acc, mut ws) = (0.0f32, 0.0f32);
                for (j, kv) in k.iter().enumerate() {
                    let d = j as isize - 4;
                    let (sx, sy) = if horizontal {
                        (x as isize + d, y as isize)
                    } else {
                        (x as isize, y as isize + d)
                    };
                    if sx < 0 || sy < 0 || sx >= w as isize || sy >= h as isize {
                        continue;
                    }
                    acc += kv * src[sy as usize * w + sx as usize];
                    ws += kv;
                }
                out[y * w + x] = acc / ws;
            }
        }
        out
    };
    let smooth = blur(&blur(&lum, true), false);
    for (px, v) in level.img.chunks_exact_mut(CH).zip(smooth) {
        px[3] = weight * v;
    }
}

fn to_rgb(level: &Level) -> Vec<f32> {
    let mut out = Vec::with_capacity(level.w * level.h * 3);
    for px in level.img.chunks_exact(CH) {
        out.extend_from_slice(&px[..3]);
    }
    out
}

/// The inclusive-exclusive bounding box `(x0, y0, x1, y1)` of the hole, if any.
pub fn hole_bounds(hole: &[bool], w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if hole[y * w + x] {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (x1 > x0).then_some((x0, y0, x1, y1))
}

/// Fills the hole of an RGBA image (4 floats per pixel), keeping alpha and every pixel outside
/// the hole. Works on the hole's bounding box plus a margin as wide as the box's larger side
/// (at least 64 px), so a small hole in a large image costs what its neighbourhood costs.
/// Fully transparent pixels have no meaningful colour, so they are never used as sources
/// (they are synthesised along with the hole, then left as they were).
pub fn inpaint_rgba(
    rgba: &[f32],
    w: usize,
    h: usize,
    hole: &[bool],
    opts: &InpaintOptions,
    ctl: &mut dyn Control,
) -> Result<Vec<f32>, Cancelled> {
    let mut out = rgba.to_vec();
    let Some((bx0, by0, bx1, by1)) = hole_bounds(hole, w, h) else {
        return Ok(out);
    };
    let margin = (bx1 - bx0).max(by1 - by0).max(64);
    let (x0, y0) = (bx0.saturating_sub(margin), by0.saturating_sub(margin));
    let (x1, y1) = ((bx1 + margin).min(w), (by1 + margin).min(h));
    let (cw, chh) = (x1 - x0, y1 - y0);
    let mut rgb = Vec::with_capacity(cw * chh * 3);
    let mut crop_hole = Vec::with_capacity(cw * chh);
    for y in y0..y1 {
        for x in x0..x1 {
            let i = y * w + x;
            rgb.extend_from_slice(&rgba[i * 4..i * 4 + 3]);
            crop_hole.push(hole[i] || rgba[i * 4 + 3] <= 0.0);
        }
    }
    let filled = inpaint_rgb(&rgb, cw, chh, &crop_hole, opts, ctl)?;
    for y in y0..y1 {
        for x in x0..x1 {
            let i = y * w + x;
            if hole[i] {
                let j = (y - y0) * cw + (x - x0);
                out[i * 4..i * 4 + 3].copy_from_slice(&filled[j * 3..j * 3 + 3]);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Unattended;
    use crate::testutil::{load_photo, psnr};

    fn rgb_of(rgba: &[f32]) -> Vec<f32> {
        rgba.chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    }

    fn rgba_of(rgb: &[f32]) -> Vec<f32> {
        rgb.chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 1.0])
            .collect()
    }

    #[test]
    fn hole_distance_is_the_chessboard_distance() {
        let (w, h) = (9, 7);
        let hole: Vec<bool> = (0..w * h)
            .map(|i| (2..7).contains(&(i % w)) && (1..6).contains(&(i / w)))
            .collect();
        let d = hole_distance(&hole, w, h);
        assert_eq!(d[3 * w + 4], 3); // centre of the 5×5 block
        assert_eq!(d[w + 2], 1);
        assert_eq!(d[2 * w + 3], 2);
        assert_eq!(d[0], 0);
        assert!(hole_distance(&[true; 4], 2, 2)
            .iter()
            .all(|&v| v >= usize::MAX / 2));
    }

    #[test]
    fn diffusion_fills_smooth_content_closely() {
        // A linear ramp is harmonic: diffusion must reproduce it inside the hole.
        let (w, h) = (50, 40);
        let mut img: Vec<f32> = (0..w * h)
            .flat_map(|i| {
                let v = (i % w) as f32 / w as f32;
                [v, 1.0 - v, 0.5]
            })
            .collect();
        let truth = img.clone();
        let hole: Vec<bool> = (0..w * h)
            .map(|i| (15..35).contains(&(i % w)) && (10..30).contains(&(i / w)))
            .collect();
        for i in 0..w * h {
            if hole[i] {
                img[i * 3..i * 3 + 3].fill(9.0);
            }
        }
        diffusion_fill(&mut img, 3, &hole, w, h, 2000);
        let err = img
            .iter()
            .zip(&truth)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 5e-3, "max error {err}");
    }

    /// Cuts a hole, fills it both ways, returns (PatchMatch PSNR, diffusion PSNR).
    fn compare_on(photo: &str, hole_at: &dyn Fn(usize, usize) -> bool) -> (f64, f64) {
        let (w, h, truth) = load_photo(photo);
        let hole: Vec<bool> = (0..w * h).map(|i| hole_at(i % w, i / w)).collect();
        let mut damaged = truth.clone();
        for i in 0..w * h {
            if hole[i] {
                damaged[i * 4..i * 4 + 3].copy_from_slice(&[1.0, 0.0, 1.0]);
            }
        }
        let opts = InpaintOptions {
            seed: 1,
            ..InpaintOptions::default()
        };
        let ours = inpaint_rgba(&damaged, w, h, &hole, &opts, &mut Unattended).unwrap();
        let mut diffused = rgb_of(&damaged);
        diffusion_fill(&mut diffused, 3, &hole, w, h, 500);
        let p_ours = psnr(&ours, &truth, &hole);
        let p_diff = psnr(&rgba_of(&diffused), &truth, &hole);
        println!("{photo}: PSNR in hole, PatchMatch {p_ours:.2} dB, diffusion {p_diff:.2} dB");
        (p_ours, p_diff)
    }

    #[test]
    fn patchmatch_beats_diffusion_on_a_periodic_texture() {
        // brick.png is a regular brick wall: exemplars can continue the mortar lines.
        let (ours, diff) = compare_on("brick.png", &|x, y| {
            (200..264).contains(&x) && (220..284).contains(&y)
        });
        assert!(ours > diff + 2.5, "square hole: {ours:.2} vs {diff:.2}");
        let (ours, diff) = compare_on("brick.png", &|x, y| {
            let (dx, dy) = (x as f32 - 330.0, y as f32 - 150.0);
            dx * dx + dy * dy < 36.0 * 36.0
        });
        assert!(ours > diff + 2.5, "disc hole: {ours:.2} vs {diff:.2}");
    }

    #[test]
    fn only_the_hole_changes_and_cancellation_is_prompt() {
        let (w, h, img) = load_photo("coffee.png");
        let hole: Vec<bool> = (0..w * h)
            .map(|i| (300..340).contains(&(i % w)) && (100..150).contains(&(i / w)))
            .collect();
        let opts = InpaintOptions::default();
        let out = inpaint_rgba(&img, w, h, &hole, &opts, &mut Unattended).unwrap();
        for i in 0..w * h {
            if !hole[i] {
                assert_eq!(out[i * 4..i * 4 + 4], img[i * 4..i * 4 + 4]);
            } else {
                assert_eq!(out[i * 4 + 3], img[i * 4 + 3]);
                assert!(out[i * 4..i * 4 + 3]
                    .iter()
                    .all(|v| (0.0..=1.0).contains(v)));
            }
        }

        /// Cancels at the n-th check and counts the checks made after that.
        struct CancelAt {
            n: usize,
            checks: usize,
        }
        impl Control for CancelAt {
            fn progress(&mut self, _: f32, _: &str) {}
            fn cancelled(&mut self) -> bool {
                self.checks += 1;
                self.checks > self.n
            }
        }
        for n in [0, 1, 5, 20] {
            let mut ctl = CancelAt { n, checks: 0 };
            let r = inpaint_rgba(&img, w, h, &hole, &opts, &mut ctl);
            assert_eq!(r.err(), Some(Cancelled));
            assert_eq!(ctl.checks, n + 1, "work went on after cancellation");
        }
    }

    #[test]
    fn transparent_pixels_are_not_sources() {
        // Visible: flat grey. Left third: transparent, with leftover red colour values. The
        // hole touches the transparent part; no red may come into it.
        let (w, h) = (150, 120);
        let mut img = Vec::with_capacity(w * h * 4);
        for i in 0..w * h {
            if i % w < 50 {
                img.extend_from_slice(&[1.0, 0.0, 0.0, 0.0]);
            } else {
                img.extend_from_slice(&[0.5, 0.5, 0.5, 1.0]);
            }
        }
        let hole: Vec<bool> = (0..w * h)
            .map(|i| (50..80).contains(&(i % w)) && (40..80).contains(&(i / w)))
            .collect();
        let out = inpaint_rgba(
            &img,
            w,
            h,
            &hole,
            &InpaintOptions::default(),
            &mut Unattended,
        )
        .unwrap();
        for i in 0..w * h {
            if hole[i] {
                let p = &out[i * 4..i * 4 + 3];
                assert!(
                    p.iter().all(|v| (v - 0.5).abs() < 0.01),
                    "{:?} at ({}, {})",
                    p,
                    i % w,
                    i / w
                );
            } else {
                assert_eq!(out[i * 4..i * 4 + 4], img[i * 4..i * 4 + 4]);
            }
        }
    }

    #[test]
    fn degenerate_holes_still_give_an_image() {
        // Hole covering everything but a thin border: no complete source patch exists.
        let (w, h) = (20, 20);
        let rgb: Vec<f32> = (0..w * h)
            .flat_map(|i| [(i % w) as f32 / 20.0, 0.5, 0.5])
            .collect();
        let hole: Vec<bool> = (0..w * h)
            .map(|i| (1..19).contains(&(i % w)) && (1..19).contains(&(i / w)))
            .collect();
        let out = inpaint_rgb(
            &rgb,
            w,
            h,
            &hole,
            &InpaintOptions::default(),
            &mut Unattended,
        )
        .unwrap();
        assert!(out.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        // Everything is hole: mid grey.
        let all = vec![true; w * h];
        let out = inpaint_rgb(
            &rgb,
            w,
            h,
            &all,
            &InpaintOptions::default(),
            &mut Unattended,
        )
        .unwrap();
        assert!(out.iter().all(|&v| v == 0.5));
        // A one-pixel hole in a tiny image.
        let mut one = vec![false; 6 * 6];
        one[14] = true;
        let rgb6 = vec![0.25f32; 6 * 6 * 3];
        let out = inpaint_rgb(
            &rgb6,
            6,
            6,
            &one,
            &InpaintOptions::default(),
            &mut Unattended,
        )
        .unwrap();
        assert!((out[14 * 3] - 0.25).abs() < 1e-6);
    }
}

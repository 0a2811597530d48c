//! One pyramid level of exemplar-based inpainting: the nearest-neighbour field (NNF) from
//! target patches (those touching the hole) to source patches (those fully outside it), its
//! PatchMatch search (Barnes et al. 2009: propagation + random search), and the voting
//! reconstruction of Wexler et al. 2007 with Newson et al. 2014's similarity weights.
//!
//! Images are stored as 4 f32 per pixel (RGB and a zero pad) so that patch distances run on
//! 4-wide lanes. Patches are `(2r+1)²` squares centred on a pixel; both target and source
//! patches lie fully inside the image, so NNF entries are plain pixel indices and offsets
//! within a patch are index arithmetic.

use crate::control::{run_parallel, split_rows, Rng};

/// Floats per pixel in level images.
pub const CH: usize = 4;

/// Bands that rows are split into for threads. Fixed (not the thread count) so that a seed
/// gives the same result on every machine.
const BANDS: usize = 8;

/// An image at one scale with its hole.
#[derive(Debug, Clone)]
pub struct Level {
    pub w: usize,
    pub h: usize,
    /// `CH` floats per pixel; known pixels are exact, hole pixels hold the current estimate.
    pub img: Vec<f32>,
    pub hole: Vec<bool>,
}

impl Level {
    /// Half the size: known pixels are a normalised [1 3 3 1]² average of the known fine pixels
    /// only (the hole's content never leaks into the sources), and a coarse pixel is hole when
    /// any of the 2×2 fine pixels under it is, so every fine hole pixel has a hole parent.
    pub fn downsample(&self) -> Level {
        const K: [f32; 4] = [1.0, 3.0, 3.0, 1.0];
        let (w, h) = (self.w, self.h);
        let (wc, hc) = (w.div_ceil(2), h.div_ceil(2));
        let mut img = vec![0.0f32; wc * hc * CH];
        let mut hole = vec![false; wc * hc];
        for y in 0..hc {
            for x in 0..wc {
                let mut acc = [0.0f32; CH];
                let mut wsum = 0.0f32;
                let mut any_hole = false;
                for (j, ky) in K.iter().enumerate() {
                    let fy = (2 * y + j) as isize - 1;
                    if fy < 0 || fy >= h as isize {
                        continue;
                    }
                    for (i, kx) in K.iter().enumerate() {
                        let fx = (2 * x + i) as isize - 1;
                        if fx < 0 || fx >= w as isize {
                            continue;
                        }
                        let f = fy as usize * w + fx as usize;
                        if self.hole[f] {
                            if (1..3).contains(&i) && (1..3).contains(&j) {
                                any_hole = true;
                            }
                            continue;
                        }
                        let wt = kx * ky;
                        wsum += wt;
                        for (a, v) in acc.iter_mut().zip(&self.img[f * CH..f * CH + CH]) {
                            *a += wt * v;
                        }
                    }
                }
                let o = y * wc + x;
                hole[o] = any_hole;
                if wsum > 0.0 {
                    for c in 0..CH {
                        img[o * CH + c] = acc[c] / wsum;
                    }
                }
            }
        }
        Level {
            w: wc,
            h: hc,
            img,
            hole,
        }
    }
}

/// Which patch centres are targets and which are sources, for a level and patch radius.
#[derive(Debug, Clone)]
pub struct Field {
    pub r: usize,
    /// The patch centred here lies in the image and touches the hole.
    pub target: Vec<bool>,
    /// The patch centred here lies in the image and has no hole pixel.
    pub valid: Vec<bool>,
    /// Indices of all valid source centres.
    pub sources: Vec<u32>,
    /// Number of targets in each row (for balancing bands).
    pub row_targets: Vec<usize>,
    pub n_targets: usize,
    /// Chessboard distance of each pixel into the hole (0 outside), for confidence weights.
    pub depth: Vec<u32>,
    /// Source centre for each target (meaningless elsewhere).
    pub nnf: Vec<u32>,
    /// Sum of squared differences between the target patch and its source patch.
    pub dist: Vec<f32>,
}

impl Field {
    pub fn new(level: &Level, r: usize) -> Field {
        let (w, h) = (level.w, level.h);
        // Integral image of hole counts, (w+1)×(h+1).
        let mut ii = vec![0u32; (w + 1) * (h + 1)];
        for y in 0..h {
            let mut row = 0u32;
            for x in 0..w {
                row += level.hole[y * w + x] as u32;
                ii[(y + 1) * (w + 1) + x + 1] = ii[y * (w + 1) + x + 1] + row;
            }
        }
        let mut target = vec![false; w * h];
        let mut valid = vec![false; w * h];
        let mut sources = Vec::new();
        let mut row_targets = vec![0usize; h];
        let mut n_targets = 0;
        if w > 2 * r && h > 2 * r {
            for (y, row_count) in row_targets.iter_mut().enumerate().take(h - r).skip(r) {
                for x in r..w - r {
                    let (x0, y0, x1, y1) = (x - r, y - r, x + r + 1, y + r + 1);
                    let n = ii[y1 * (w + 1) + x1] + ii[y0 * (w + 1) + x0]
                        - ii[y0 * (w + 1) + x1]
                        - ii[y1 * (w + 1) + x0];
                    let i = y * w + x;
                    if n == 0 {
                        valid[i] = true;
                        sources.push(i as u32);
                    } else {
                        target[i] = true;
                        *row_count += 1;
                        n_targets += 1;
                    }
                }
            }
        }
        Field {
            r,
            target,
            valid,
            sources,
            row_targets,
            n_targets,
            depth: super::hole_distance(&level.hole, w, h)
                .into_iter()
                .map(|d| d.min(u32::MAX as usize / 2) as u32)
                .collect(),
            nnf: vec![0; w * h],
            dist: vec![f32::INFINITY; w * h],
        }
    }

    /// Every target gets a uniformly random source.
    pub fn randomize(&mut self, rng: &mut Rng) {
        if self.sources.is_empty() {
            return;
        }
        for i in 0..self.target.len() {
            if self.target[i] {
                self.nnf[i] = self.sources[rng.below(self.sources.len())];
            }
        }
    }

    /// Initialises this (fine) field from the field one level coarser: each target takes its
    /// parent's match, doubled, at the same offset within the 2×2 block; matches that are not
    /// valid here (rare, at borders) are drawn at random.
    pub fn upsample_from(
        &mut self,
        coarse: &Field,
        wc: usize,
        hc: usize,
        w: usize,
        h: usize,
        rng: &mut Rng,
    ) {
        let (r, rc) = (self.r as isize, coarse.r as isize);
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if !self.target[i] {
                    continue;
                }
                let cx = ((x / 2) as isize).clamp(rc, wc as isize - 1 - rc);
                let cy = ((y / 2) as isize).clamp(rc, hc as isize - 1 - rc);
                let mut chosen = None;
                if cx >= 0 && cy >= 0 {
                    let ci = cy as usize * wc + cx as usize;
                    if ci < coarse.target.len() && coarse.target[ci] {
                        let s = coarse.nnf[ci] as usize;
                        let (sx, sy) = ((s % wc) as isize, (s / wc) as isize);
                        let fx = (2 * sx + x as isize - 2 * cx).clamp(r, w as isize - 1 - r);
                        let fy = (2 * sy + y as isize - 2 * cy).clamp(r, h as isize - 1 - r);
                        let f = fy as usize * w + fx as usize;
                        if self.valid[f] {
                            chosen = Some(f as u32);
                        }
                    }
                }
                self.nnf[i] = match chosen {
                    Some(f) => f,
                    None if !self.sources.is_empty() => self.sources[rng.below(self.sources.len())],
                    None => 0,
                };
            }
        }
    }

    /// Row bands holding about equal numbers of targets; `shifted` moves the cuts by half a
    /// band so that propagation crosses last pass's cuts.
    pub fn bands(&self, shifted: bool) -> Vec<(usize, usize)> {
        let h = self.row_targets.len();
        let total = self.n_targets.max(1) as f64;
        let cuts: Vec<f64> = if shifted {
            (0..BANDS)
                .map(|b| (b as f64 + 0.5) * total / BANDS as f64)
                .collect()
        } else {
            (1..BANDS)
                .map(|b| b as f64 * total / BANDS as f64)
                .collect()
        };
        let mut bands = Vec::with_capacity(BANDS + 1);
        let (mut y0, mut acc, mut next) = (0usize, 0usize, 0usize);
        for (y, &n) in self.row_targets.iter().enumerate() {
            acc += n;
            while next < cuts.len() && acc as f64 >= cuts[next] {
                next += 1;
                if y + 1 > y0 && y + 1 < h {
                    bands.push((y0, y + 1));
                    y0 = y + 1;
                }
            }
        }
        bands.push((y0, h));
        bands
    }
}

/// Sum of squared differences between the patches centred at `c` and `s`, stopping early
/// (returning something ≥ `bound`) once it reaches `bound`.
#[inline]
pub fn patch_dist(img: &[f32], w: usize, r: usize, c: usize, s: usize, bound: f32) -> f32 {
    let p = 2 * r + 1;
    let len = p * CH;
    let stride = w * CH;
    let c0 = (c - r * w - r) * CH;
    let s0 = (s - r * w - r) * CH;
    let mut sum = 0.0f32;
    for dy in 0..p {
        let a = &img[c0 + dy * stride..c0 + dy * stride + len];
        let b = &img[s0 + dy * stride..s0 + dy * stride + len];
        let mut acc = [0.0f32; CH];
        for (pa, pb) in a.chunks_exact(CH).zip(b.chunks_exact(CH)) {
            for k in 0..CH {
                let d = pa[k] - pb[k];
                acc[k] += d * d;
            }
        }
        sum += acc[0] + acc[1] + acc[2] + acc[3];
        if sum >= bound {
            return sum;
        }
    }
    sum
}

/// Read-only state shared by the threads of one search or vote.
struct Shared<'a> {
    level: &'a Level,
    field_target: &'a [bool],
    valid: &'a [bool],
    r: usize,
    /// The NNF as it was before this pass, for neighbours in other bands.
    before: &'a [u32],
    /// Scan backwards (bottom-right to top-left).
    reverse: bool,
    /// Largest random-search window.
    max_radius: usize,
}

/// Recomputes every target's distance for the current image (after a vote changed it).
pub fn recompute_distances(level: &Level, field: &mut Field, threads: usize) {
    let w = level.w;
    let r = field.r;
    let bands = field.bands(false);
    let target = &field.target;
    let nnf = &field.nnf;
    let parts = split_rows(&mut field.dist, w, &bands);
    let jobs: Vec<((usize, usize), &mut [f32])> = bands.iter().copied().zip(parts).collect();
    run_parallel(jobs, threads, &|((y0, y1), dist): (
        (usize, usize),
        &mut [f32],
    )| {
        for i in y0 * w..y1 * w {
            if target[i] {
                dist[i - y0 * w] = patch_dist(&level.img, w, r, i, nnf[i] as usize, f32::INFINITY);
            }
        }
    });
}

/// One PatchMatch pass over every target: scan order alternates with `reverse`; each band of
/// rows runs on its own thread with its own random stream.
pub fn search_pass(
    level: &Level,
    field: &mut Field,
    reverse: bool,
    max_radius: usize,
    rngs: &[u64],
    threads: usize,
) {
    let w = level.w;
    let bands = field.bands(reverse);
    let before = field.nnf.clone();
    let shared = Shared {
        level,
        field_target: &field.target,
        valid: &field.valid,
        r: field.r,
        before: &before,
        reverse,
        max_radius,
    };
    let nnf_parts = split_rows(&mut field.nnf, w, &bands);
    let dist_parts = split_rows(&mut field.dist, w, &bands);
    type Job<'b> = (usize, (usize, usize), &'b mut [u32], &'b mut [f32]);
    let jobs: Vec<Job<'_>> = bands
        .iter()
        .copied()
        .zip(nnf_parts.into_iter().zip(dist_parts))
        .enumerate()
        .map(|(b, (band, (n, d)))| (b, band, n, d))
        .collect();
    run_parallel(jobs, threads, &|(b, (y0, y1), nnf, dist): Job<'_>| {
        let seed = rngs.iter().copied().chain([b as u64]).collect::<Vec<_>>();
        let mut rng = Rng::stream(&seed);
        search_band(&shared, (y0, y1), nnf, dist, &mut rng);
    });
}

fn search_band(
    sh: &Shared<'_>,
    (y0, y1): (usize, usize),
    nnf: &mut [u32],
    dist: &mut [f32],
    rng: &mut Rng,
) {
    let (w, h, r) = (sh.level.w, sh.level.h, sh.r);
    let img = &sh.level.img;
    let base = y0 * w;
    let reverse = sh.reverse;
    let max_radius = sh.max_radius.clamp(1, w.max(h));
    let step: isize = if reverse { -1 } else { 1 };
    let rows: Box<dyn Iterator<Item = usize>> = if reverse {
        Box::new((y0..y1).rev())
    } else {
        Box::new(y0..y1)
    };
    let (xlo, xhi) = (r as isize, (w - r) as isize);
    let (ylo, yhi) = (r as isize, (h - r) as isize);
    for y in rows {
        for k in 0..w {
            let x = if reverse { w - 1 - k } else { k };
            let c = y * w + x;
            if !sh.field_target[c] {
                continue;
            }
            let mut best = nnf[c - base] as usize;
            let mut bd = dist[c - base];
            // Propagation: the neighbour already visited in this scan, shifted by one.
            for (dx, dy) in [(step, 0isize), (0isize, step)] {
                let nx = x as isize - dx;
                let ny = y as isize - dy;
                if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                    continue;
                }
                let n = ny as usize * w + nx as usize;
                if !sh.field_target[n] {
                    continue;
                }
                let sn = if n >= base && n < y1 * w {
                    nnf[n - base]
                } else {
                    sh.before[n]
                } as isize;
                let cand = sn + dx + dy * w as isize;
                if cand < 0 || cand as usize >= sh.valid.len() {
                    continue;
                }
                let cand = cand as usize;
                if cand == best || !sh.valid[cand] {
                    continue;
                }
                let d = patch_dist(img, w, r, c, cand, bd);
                if d < bd {
                    bd = d;
                    best = cand;
                }
            }
            // Random search around the match, in windows halving from the whole image.
            let (bx, by) = ((best % w) as isize, (best / w) as isize);
            let mut radius = max_radius;
            while radius >= 1 {
                let sx = (bx + rng.offset(radius)).clamp(xlo, xhi - 1);
                let sy = (by + rng.offset(radius)).clamp(ylo, yhi - 1);
                let cand = sy as usize * w + sx as usize;
                if cand != best && sh.valid[cand] {
                    let d = patch_dist(img, w, r, c, cand, bd);
                    if d < bd {
                        bd = d;
                        best = cand;
                    }
                }
                radius /= 2;
            }
            nnf[c - base] = best as u32;
            dist[c - base] = bd;
        }
    }
}

/// Voting weights: Newson et al.'s `exp(-d / 2σ²)`, σ² the 75th percentile of the distances;
/// uniform when `uniform` (first vote at a level, whose distances are not known yet).
pub fn vote_weights(field: &Field, uniform: bool) -> Vec<f32> {
    let mut weights = vec![0.0f32; field.target.len()];
    if uniform {
        for (wt, &t) in weights.iter_mut().zip(&field.target) {
            if t {
                *wt = 1.0;
            }
        }
        return weights;
    }
    let mut ds: Vec<f32> = field
        .target
        .iter()
        .zip(&field.dist)
        .filter(|(t, _)| **t)
        .map(|(_, d)| *d)
        .collect();
    if ds.is_empty() {
        return weights;
    }
    let k = (ds.len() * 3 / 4).min(ds.len() - 1);
    let (_, p75, _) = ds.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    let two_sigma2 = 2.0 * p75.max(1e-12);
    for ((wt, &t), &d) in weights.iter_mut().zip(&field.target).zip(&field.dist) {
        if t {
            // Floor so a hole pixel covered only by poor patches still gets a value.
            *wt = (-d / two_sigma2).exp().max(1e-12);
        }
    }
    weights
}

/// Rebuilds every hole pixel as the weighted mean of what the overlapping target patches'
/// sources put there. Reads only source patches, which lie outside the hole, so the result
/// does not depend on the hole's previous estimate. Returns the mean squared change per
/// hole pixel and channel.
///
/// Each patch's weight is its similarity weight times Wexler et al.'s confidence
/// `γ^-depth(centre)`: patches anchored nearer the known region count more, so structure grows
/// inwards from the hole's rim. Only the ratio between patches overlapping one pixel matters,
/// and their depths differ from the pixel's by at most `r`, so the factor is taken relative to
/// the pixel's own depth (no underflow however deep the hole).
pub fn vote(level: &mut Level, field: &Field, weights: &[f32], gamma: f32, threads: usize) -> f64 {
    let (w, h, r) = (level.w, level.h, field.r);
    let conf: Vec<f32> = (0..=2 * r)
        .map(|k| gamma.powi(r as i32 - k as i32))
        .collect();
    let bands = field.bands(false);
    let mut out = level.img.clone();
    let lvl: &Level = level;
    let parts = split_rows(&mut out, w * CH, &bands);
    let mut changes = vec![0.0f64; bands.len()];
    let change_parts: Vec<&mut f64> = changes.iter_mut().collect();
    type Job<'b> = ((usize, usize), &'b mut [f32], &'b mut f64);
    let jobs: Vec<Job<'_>> = bands
        .iter()
        .copied()
        .zip(parts.into_iter().zip(change_parts))
        .map(|(band, (o, c))| (band, o, c))
        .collect();
    run_parallel(jobs, threads, &|((y0, y1), out, change): Job<'_>| {
        let img = &lvl.img;
        let mut sq = 0.0f64;
        for y in y0..y1 {
            for x in 0..w {
                let q = y * w + x;
                if !lvl.hole[q] {
                    continue;
                }
                let mut acc = [0.0f32; 3];
                let mut wsum = 0.0f32;
                let dq = field.depth[q] as usize;
                let cy0 = y.saturating_sub(r).max(r);
                let cy1 = (y + r).min(h.saturating_sub(r + 1));
                let cx0 = x.saturating_sub(r).max(r);
                let cx1 = (x + r).min(w.saturating_sub(r + 1));
                for cy in cy0..=cy1 {
                    for cx in cx0..=cx1 {
                        let c = cy * w + cx;
                        if !field.target[c] {
                            continue;
                        }
                        let k = (field.depth[c] as usize + r).saturating_sub(dq).min(2 * r);
                        let wt = weights[c] * conf[k];
                        // Source pixel = source centre + (q - c), all inside the source patch.
                        let s = field.nnf[c] as usize + y * w + x - c;
                        let p = &img[s * CH..s * CH + 3];
                        acc[0] += wt * p[0];
                        acc[1] += wt * p[1];
                        acc[2] += wt * p[2];
                        wsum += wt;
                    }
                }
                if wsum > 0.0 {
                    let o = (q - y0 * w) * CH;
                    for k in 0..3 {
                        let v = acc[k] / wsum;
                        let d = (v - out[o + k]) as f64;
                        sq += d * d;
                        out[o + k] = v;
                    }
                }
            }
        }
        *change = sq;
    });
    level.img = out;
    let holes = level.hole.iter().filter(|&&b| b).count().max(1);
    changes.iter().sum::<f64>() / (holes * 3) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth-but-structured test image with a square hole.
    fn test_level(w: usize, h: usize, hole: (usize, usize, usize, usize)) -> Level {
        let mut img = vec![0.0f32; w * h * CH];
        let mut mask = vec![false; w * h];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let (fx, fy) = (x as f32, y as f32);
                img[i * CH] = 0.5 + 0.4 * (fx * 0.7).sin();
                img[i * CH + 1] = 0.5 + 0.4 * (fy * 0.45).cos();
                img[i * CH + 2] = ((x / 5 + y / 3) % 2) as f32;
                mask[i] = x >= hole.0 && x < hole.1 && y >= hole.2 && y < hole.3;
            }
        }
        Level {
            w,
            h,
            img,
            hole: mask,
        }
    }

    #[test]
    fn downsampling_keeps_hole_parents_and_keeps_hole_colour_out() {
        let mut l = test_level(41, 30, (10, 17, 5, 12));
        // Paint the hole a colour found nowhere else; no known coarse pixel may pick it up.
        for i in 0..l.hole.len() {
            if l.hole[i] {
                l.img[i * CH..i * CH + 3].copy_from_slice(&[9.0, 9.0, 9.0]);
            }
        }
        let c = l.downsample();
        assert_eq!((c.w, c.h), (21, 15));
        for y in 0..l.h {
            for x in 0..l.w {
                if l.hole[y * l.w + x] {
                    assert!(
                        c.hole[(y / 2) * c.w + x / 2],
                        "parent of ({x},{y}) is not hole"
                    );
                }
            }
        }
        for i in 0..c.hole.len() {
            if !c.hole[i] {
                assert!(c.img[i * CH..i * CH + 3].iter().all(|&v| v <= 1.0 + 1e-6));
            }
        }
    }

    #[test]
    fn field_classifies_patches_and_bands_cover_all_rows() {
        let l = test_level(40, 31, (12, 20, 10, 14));
        let f = Field::new(&l, 3);
        for y in 0..l.h {
            for x in 0..l.w {
                let i = y * l.w + x;
                let inside = x >= 3 && x + 3 < l.w && y >= 3 && y + 3 < l.h;
                let touches = (x + 3 >= 12 && x < 20 + 3) && (y + 3 >= 10 && y < 14 + 3);
                assert_eq!(f.valid[i], inside && !touches, "({x},{y})");
                assert_eq!(f.target[i], inside && touches, "({x},{y})");
            }
        }
        for shifted in [false, true] {
            let bands = f.bands(shifted);
            assert_eq!(bands[0].0, 0);
            assert_eq!(bands.last().map(|b| b.1), Some(l.h));
            assert!(bands
                .windows(2)
                .all(|b| b[0].1 == b[1].0 && b[0].0 < b[0].1));
        }
    }

    /// Exhaustive nearest neighbour, for checking PatchMatch.
    fn brute_force(l: &Level, f: &Field, c: usize) -> f32 {
        f.sources
            .iter()
            .map(|&s| patch_dist(&l.img, l.w, f.r, c, s as usize, f32::INFINITY))
            .fold(f32::INFINITY, f32::min)
    }

    #[test]
    fn patchmatch_keeps_valid_matches_and_approaches_exact_search() {
        let l = test_level(64, 48, (20, 34, 15, 27));
        let mut f = Field::new(&l, 3);
        f.randomize(&mut Rng::new(7));
        recompute_distances(&l, &mut f, 2);
        let mean = |f: &Field| {
            let (s, n) = f
                .target
                .iter()
                .zip(&f.dist)
                .filter(|(t, _)| **t)
                .fold((0.0f64, 0usize), |(s, n), (_, d)| (s + *d as f64, n + 1));
            s / n as f64
        };
        let mut last = mean(&f);
        for pass in 0..12 {
            search_pass(&l, &mut f, pass % 2 == 1, usize::MAX, &[1, pass as u64], 2);
            let now = mean(&f);
            assert!(now <= last + 1e-9, "pass {pass}: {now} > {last}");
            last = now;
        }
        let mut exact = 0.0f64;
        let mut n = 0;
        for i in 0..f.target.len() {
            if !f.target[i] {
                continue;
            }
            let s = f.nnf[i] as usize;
            assert!(f.valid[s], "target {i} matched an invalid source {s}");
            let d = patch_dist(&l.img, l.w, f.r, i, s, f32::INFINITY);
            assert!(
                (d - f.dist[i]).abs() <= 1e-3 * d.max(1.0),
                "stale distance at {i}"
            );
            exact += brute_force(&l, &f, i) as f64;
            n += 1;
        }
        let exact = exact / n as f64;
        // On this small, hard image (few good matches) a dozen passes reach exhaustive search.
        assert!(
            last <= exact * 1.02 + 1e-6,
            "patchmatch {last} vs exact {exact}"
        );
    }

    #[test]
    fn search_and_vote_do_not_depend_on_the_thread_count() {
        let run = |threads| {
            let mut l = test_level(60, 50, (20, 35, 18, 30));
            let mut f = Field::new(&l, 2);
            f.randomize(&mut Rng::new(3));
            recompute_distances(&l, &mut f, threads);
            for pass in 0..3 {
                search_pass(&l, &mut f, pass % 2 == 1, usize::MAX, &[9, pass], threads);
            }
            let wts = vote_weights(&f, false);
            vote(&mut l, &f, &wts, 3.0, threads);
            (f.nnf, l.img)
        };
        let (n1, i1) = run(1);
        let (n4, i4) = run(4);
        assert_eq!(n1, n4);
        assert_eq!(i1, i4);
    }

    #[test]
    fn voting_leaves_known_pixels_and_copies_exact_matches() {
        // Vertical stripes: every column is constant, so shifting a source patch vertically
        // reproduces the truth; point each target at the same column, far below or above.
        let (w, h) = (30, 40);
        let mut l = test_level(w, h, (8, 20, 16, 24));
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let v = (x % 4) as f32 / 3.0;
                l.img[i * CH..i * CH + 3].copy_from_slice(&[v, 1.0 - v, 0.5]);
            }
        }
        let truth = l.img.clone();
        for i in 0..l.hole.len() {
            if l.hole[i] {
                l.img[i * CH..i * CH + 3].copy_from_slice(&[0.0, 0.0, 0.0]);
            }
        }
        let mut f = Field::new(&l, 2);
        for i in 0..f.target.len() {
            if f.target[i] {
                let (x, y) = (i % w, i / w);
                let sy = if y < 20 { 4 } else { 33 };
                assert!(f.valid[sy * w + x]);
                f.nnf[i] = (sy * w + x) as u32;
            }
        }
        let wts = vote_weights(&f, true);
        let known_before: Vec<f32> = (0..w * h)
            .filter(|&i| !l.hole[i])
            .flat_map(|i| l.img[i * CH..i * CH + 3].to_vec())
            .collect();
        vote(&mut l, &f, &wts, 3.0, 2);
        let known_after: Vec<f32> = (0..w * h)
            .filter(|&i| !l.hole[i])
            .flat_map(|i| l.img[i * CH..i * CH + 3].to_vec())
            .collect();
        assert_eq!(known_before, known_after);
        for i in 0..w * h {
            if l.hole[i] {
                for k in 0..3 {
                    assert!((l.img[i * CH + k] - truth[i * CH + k]).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn upsampled_fields_only_hold_valid_sources() {
        let fine = test_level(80, 60, (30, 50, 20, 40));
        let coarse = fine.downsample();
        let mut fc = Field::new(&coarse, 3);
        fc.randomize(&mut Rng::new(1));
        recompute_distances(&coarse, &mut fc, 1);
        search_pass(&coarse, &mut fc, false, usize::MAX, &[0], 1);
        let mut ff = Field::new(&fine, 3);
        ff.upsample_from(&fc, coarse.w, coarse.h, fine.w, fine.h, &mut Rng::new(2));
        let mut inherited = 0;
        for i in 0..ff.target.len() {
            if ff.target[i] {
                assert!(ff.valid[ff.nnf[i] as usize]);
                let (x, y) = (i % fine.w, i / fine.w);
                let ci = (y / 2) * coarse.w + x / 2;
                if fc.target[ci] {
                    let s = fc.nnf[ci] as usize;
                    let (sx, sy) = (s % coarse.w, s / coarse.w);
                    let t = ff.nnf[i] as usize;
                    if (t % fine.w, t / fine.w) == (2 * sx + x % 2, 2 * sy + y % 2) {
                        inherited += 1;
                    }
                }
            }
        }
        // Nearly all targets inherit their parent's match.
        assert!(
            inherited * 10 >= ff.n_targets * 8,
            "{inherited} of {}",
            ff.n_targets
        );
    }
}

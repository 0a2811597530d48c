//! Foreground colour estimation at soft edges, so a cutout carries no halo of the old background:
//! the blur-fusion estimator of M. Forte and F. Pitié, "Approximate Fast Foreground Colour
//! Estimation", ICIP 2021 (reference code: github.com/Photoroom/fast-foreground-estimation).
//!
//! At a pixel with coverage α the image is I = αF + (1−α)B. Local means of F (weighted by α)
//! and of B (weighted by 1−α) come from box blurs; the estimate is the blurred F corrected by
//! what is left of I once both are accounted for:
//! F = F̄ + α (I − α F̄ − (1−α) B̄). A first pass with a wide window sees enough of both
//! sides; a second, narrow pass fed with the first pass's F and B̄ sharpens the result.

/// Box windows of the two passes, in pixels, as in the reference code (`cv2.blur` with
/// `ksize = (90, 90)`, then 6): a window that wide is a blur of radius `window / 2`.
pub const WIDE_WINDOW: usize = 90;
pub const NARROW_WINDOW: usize = 6;

/// Keeps the normalising divisions finite where a window sees only F or only B.
const EPS: f32 = 1e-5;

/// Estimates the foreground colour of packed RGB `image` (0..1) under coverage `alpha`.
///
/// Returns packed RGB. Opaque pixels (α ≥ 1) keep their colour exactly; elsewhere the estimate
/// is clipped to 0..1 like the reference. Cost is O(pixels), independent of the window sizes.
///
/// Only the soft band needs an estimate: the two passes run over the bounding box of the pixels
/// with 0 < α < 1, grown by both windows' radii, so every soft pixel sees exactly the windows it
/// would see in the whole image. Outside that box (α = 0 or 1 only) the image's colour is kept.
pub fn estimate_foreground(image: &[f32], alpha: &[f32], width: usize, height: usize) -> Vec<f32> {
    estimate_foreground_on(image, alpha, width, height, easel_sdk::thread_budget())
}

/// [`estimate_foreground`] on up to `threads` threads (the same result on any number).
fn estimate_foreground_on(
    image: &[f32],
    alpha: &[f32],
    width: usize,
    height: usize,
    threads: usize,
) -> Vec<f32> {
    debug_assert_eq!(image.len(), width * height * 3);
    debug_assert_eq!(alpha.len(), width * height);
    let Some((x0, y0, x1, y1)) = soft_bounds(alpha, width, height) else {
        return image.to_vec();
    };
    let margin = WIDE_WINDOW / 2 + NARROW_WINDOW / 2;
    let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (x1, y1) = ((x1 + margin + 1).min(width), (y1 + margin + 1).min(height));
    let (bw, bh) = (x1 - x0, y1 - y0);
    if (bw, bh) == (width, height) {
        // The soft band spans the image: work on it in place of a copy (a copy of a 24 MP
        // photo's planes is 400 MB more at the peak).
        return two_passes(image, alpha, bw, bh, threads);
    }
    let mut img = Vec::with_capacity(bw * bh * 3);
    let mut a = Vec::with_capacity(bw * bh);
    for y in y0..y1 {
        img.extend_from_slice(&image[(y * width + x0) * 3..(y * width + x1) * 3]);
        a.extend_from_slice(&alpha[y * width + x0..y * width + x1]);
    }
    let f2 = two_passes(&img, &a, bw, bh, threads);
    drop((img, a));
    let mut out = image.to_vec();
    for (y, row) in f2.chunks_exact(bw * 3).enumerate() {
        let at = ((y0 + y) * width + x0) * 3;
        out[at..at + bw * 3].copy_from_slice(row);
    }
    out
}

/// The wide pass, then the narrow one fed with its F and B̄; each plane is freed as soon as
/// the next step no longer reads it, so at most the blur sums and two planes are alive.
/// Every step is split over `threads`; each pixel's arithmetic is the same on any number.
fn two_passes(
    image: &[f32],
    alpha: &[f32],
    width: usize,
    height: usize,
    threads: usize,
) -> Vec<f32> {
    let mut sums = fusion_sums(image, image, alpha, threads);
    easel_pixels::box_mean_in_place_threads(
        &mut sums,
        (width, height),
        FUSION_CHANNELS,
        WIDE_WINDOW / 2,
        threads,
    );
    let (f1, b1) = fusion_estimate(&sums, image, alpha, true, threads);
    drop(sums);
    let mut sums = fusion_sums(&f1, &b1, alpha, threads);
    drop((f1, b1));
    easel_pixels::box_mean_in_place_threads(
        &mut sums,
        (width, height),
        FUSION_CHANNELS,
        NARROW_WINDOW / 2,
        threads,
    );
    fusion_estimate(&sums, image, alpha, false, threads).0
}

/// α·F (3), (1−α)·B (3), α: blurred together in one sweep.
const FUSION_CHANNELS: usize = 7;

/// Pixels per thread's share below which one thread does it all.
const MIN_PIXELS_PER_THREAD: usize = 1 << 14;

/// Pixels per share when `n` pixels are split over at most `threads`.
fn share(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.clamp(1, n.div_ceil(MIN_PIXELS_PER_THREAD).max(1)))
        .max(1)
}

/// The interleaved planes one blur-fusion step blurs, from the current F and B.
fn fusion_sums(f: &[f32], b: &[f32], alpha: &[f32], threads: usize) -> Vec<f32> {
    const C: usize = FUSION_CHANNELS;
    let mut sums = vec![0.0f32; alpha.len() * C];
    let per = share(alpha.len(), threads);
    let fill = |start: usize, out: &mut [f32]| {
        for (k, s) in out.chunks_exact_mut(C).enumerate() {
            let i = start + k;
            let a = alpha[i].clamp(0.0, 1.0);
            for c in 0..3 {
                s[c] = f[i * 3 + c] * a;
                s[3 + c] = b[i * 3 + c] * (1.0 - a);
            }
            s[6] = a;
        }
    };
    std::thread::scope(|scope| {
        for (j, out) in sums.chunks_mut(per * C).enumerate() {
            if out.len() == alpha.len() * C {
                fill(0, out); // one share: no thread
            } else {
                scope.spawn(move || fill(j * per, out));
            }
        }
    });
    sums
}

/// One blur-fusion step's result from its blurred sums: the new F and, when `want_b`, the
/// blurred background B̄ (both packed RGB; B̄ empty otherwise).
fn fusion_estimate(
    sums: &[f32],
    image: &[f32],
    alpha: &[f32],
    want_b: bool,
    threads: usize,
) -> (Vec<f32>, Vec<f32>) {
    const C: usize = FUSION_CHANNELS;
    let n = alpha.len();
    let mut f_out = vec![0.0f32; n * 3];
    let mut b_out = vec![0.0f32; if want_b { n * 3 } else { 0 }];
    let per = share(n, threads);
    let fill = |start: usize, f_part: &mut [f32], mut b_part: Option<&mut [f32]>| {
        for k in 0..f_part.len() / 3 {
            let i = start + k;
            let s = &sums[i * C..(i + 1) * C];
            let a = alpha[i].clamp(0.0, 1.0);
            let blurred_a = s[6];
            for c in 0..3 {
                let fb = s[c] / (blurred_a + EPS);
                let bb = s[3 + c] / ((1.0 - blurred_a) + EPS);
                let px = image[i * 3 + c];
                f_part[k * 3 + c] = if a >= 1.0 {
                    px
                } else {
                    (fb + a * (px - a * fb - (1.0 - a) * bb)).clamp(0.0, 1.0)
                };
                if let Some(b) = b_part.as_deref_mut() {
                    b[k * 3 + c] = bb;
                }
            }
        }
    };
    let mut b_parts = b_out.chunks_mut(per * 3);
    std::thread::scope(|scope| {
        for (j, f_part) in f_out.chunks_mut(per * 3).enumerate() {
            let b_part = if want_b { b_parts.next() } else { None };
            if f_part.len() == n * 3 {
                fill(0, f_part, b_part); // one share: no thread
            } else {
                scope.spawn(move || fill(j * per, f_part, b_part));
            }
        }
    });
    (f_out, b_out)
}

/// The inclusive bounding box (x0, y0, x1, y1) of the pixels with 0 < α < 1, if any.
fn soft_bounds(alpha: &[f32], width: usize, height: usize) -> Option<(usize, usize, usize, usize)> {
    let mut bounds: Option<(usize, usize, usize, usize)> = None;
    for (y, row) in alpha.chunks_exact(width).take(height).enumerate() {
        let soft = |&v: &f32| v > 0.0 && v < 1.0;
        let Some(first) = row.iter().position(soft) else {
            continue;
        };
        let last = row.iter().rposition(soft).unwrap_or(first);
        bounds = Some(match bounds {
            None => (first, y, last, y),
            Some((x0, y0, x1, _)) => (x0.min(first), y0, x1.max(last), y),
        });
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic composite: F a colour gradient, B another colour, α falling linearly from 1
    /// at x = 80 to 0 over `ramp` pixels.
    fn composite(w: usize, h: usize, ramp: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut f = Vec::with_capacity(w * h * 3);
        let mut img = Vec::with_capacity(w * h * 3);
        let mut alpha = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let fx = [
                    0.9 - 0.3 * x as f32 / w as f32,
                    0.2 + 0.5 * y as f32 / h as f32,
                    0.6,
                ];
                let b = [0.1, 0.8, 0.15];
                let a = (1.0 - (x as f32 - 80.0) / ramp).clamp(0.0, 1.0);
                for c in 0..3 {
                    f.push(fx[c]);
                    img.push(a * fx[c] + (1.0 - a) * b[c]);
                }
                alpha.push(a);
            }
        }
        (f, img, alpha)
    }

    #[test]
    fn threads_give_the_single_threaded_estimate_bit_for_bit() {
        // Large enough for several shares of every step; a narrow and a wide soft band.
        for (w, h, ramp) in [(400, 300, 60.0), (200, 400, 300.0)] {
            let (_, img, alpha) = composite(w, h, ramp);
            let one = estimate_foreground_on(&img, &alpha, w, h, 1);
            for threads in [2, 3] {
                let many = estimate_foreground_on(&img, &alpha, w, h, threads);
                assert!(
                    one.iter()
                        .zip(&many)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{w}x{h} on {threads} threads"
                );
            }
        }
    }

    /// Mean colour error (summed over RGB) of the estimate and of the composite itself, over
    /// the visibly soft pixels.
    fn errors(ramp: f32) -> (f64, f64) {
        let (w, h) = (200, 120);
        let (f, img, alpha) = composite(w, h, ramp);
        let est = estimate_foreground(&img, &alpha, w, h);
        let (mut err_est, mut err_img, mut n) = (0.0f64, 0.0f64, 0);
        for i in 0..w * h {
            if alpha[i] > 0.05 && alpha[i] < 1.0 {
                for c in 0..3 {
                    err_est += (est[i * 3 + c] - f[i * 3 + c]).abs() as f64;
                    err_img += (img[i * 3 + c] - f[i * 3 + c]).abs() as f64;
                }
                n += 1;
            }
        }
        assert!(n as f32 > 0.8 * ramp * h as f32, "{n} soft pixels");
        (err_est / n as f64, err_img / n as f64)
    }

    #[test]
    fn estimated_foreground_is_much_closer_to_the_truth_than_the_composite() {
        // A 10-pixel soft edge, like hair or a defocused outline at photo resolution.
        let (est, img) = errors(10.0);
        assert!(img > 0.5, "the composite should be far from F: {img:.4}");
        assert!(
            est < 0.1 * img,
            "estimate error {est:.4} vs composite {img:.4}"
        );
    }

    #[test]
    fn wide_soft_edges_still_improve() {
        // 40 pixels of ramp: the local means are less exact, but the halo still mostly goes.
        let (est, img) = errors(40.0);
        assert!(
            est < 0.35 * img,
            "estimate error {est:.4} vs composite {img:.4}"
        );
    }

    #[test]
    fn opaque_pixels_keep_their_colour_and_results_stay_in_range() {
        let (w, h) = (200, 120);
        let (_, img, alpha) = composite(w, h, 10.0);
        let est = estimate_foreground(&img, &alpha, w, h);
        for i in 0..w * h {
            for c in 0..3 {
                let v = est[i * 3 + c];
                assert!((0.0..=1.0).contains(&v));
                if alpha[i] >= 1.0 {
                    assert_eq!(v, img[i * 3 + c]);
                }
            }
        }
    }
}

//! Separable resampling with a triangle (bilinear) filter, widened when shrinking so that model
//! inputs do not alias and masks scaled back to the image stay smooth at the edges.

/// One output sample's taps along an axis: the first source index and the normalised weights.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

/// Bilinear taps for `dst` samples taken over `src` samples, pixel centres at `i + 0.5`.
///
/// Upscaling gives plain bilinear interpolation (edges clamped); downscaling stretches the
/// triangle to the scale factor, like Pillow's `BILINEAR`, so every source pixel contributes.
fn axis_taps(src: usize, dst: usize) -> Vec<Taps> {
    let scale = src as f64 / dst as f64;
    let support = scale.max(1.0);
    (0..dst)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = (center - support).floor().max(0.0) as usize;
            let hi = ((center + support).ceil() as usize).min(src);
            let raw: Vec<f64> = (lo..hi)
                .map(|j| (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0))
                .collect();
            // The nearest source pixel is at most half a pixel away, so the sum is positive.
            let sum: f64 = raw.iter().sum();
            Taps {
                start: lo,
                weights: raw.iter().map(|w| (w / sum) as f32).collect(),
            }
        })
        .collect()
}

/// Resizes a packed, interleaved image of `channels` f32 samples per pixel.
pub fn resize_bilinear(
    src: &[f32],
    width: usize,
    height: usize,
    channels: usize,
    dst_width: usize,
    dst_height: usize,
) -> Vec<f32> {
    debug_assert_eq!(src.len(), width * height * channels);
    if width == dst_width && height == dst_height {
        return src.to_vec();
    }
    if width == 0 || height == 0 || dst_width == 0 || dst_height == 0 {
        return vec![0.0; dst_width * dst_height * channels];
    }
    let c = channels;

    // Horizontal pass: height rows of dst_width pixels.
    let xtaps = axis_taps(width, dst_width);
    let mut tmp = vec![0.0f32; height * dst_width * c];
    for y in 0..height {
        let row = &src[y * width * c..(y + 1) * width * c];
        let out = &mut tmp[y * dst_width * c..(y + 1) * dst_width * c];
        for (x, taps) in xtaps.iter().enumerate() {
            let o = &mut out[x * c..(x + 1) * c];
            for (k, &w) in taps.weights.iter().enumerate() {
                let s = &row[(taps.start + k) * c..(taps.start + k + 1) * c];
                for ch in 0..c {
                    o[ch] += w * s[ch];
                }
            }
        }
    }

    // Vertical pass, whole rows at a time so memory is read in order.
    let ytaps = axis_taps(height, dst_height);
    let row_len = dst_width * c;
    let mut dst = vec![0.0f32; dst_height * row_len];
    for (y, taps) in ytaps.iter().enumerate() {
        let out = &mut dst[y * row_len..(y + 1) * row_len];
        for (k, &w) in taps.weights.iter().enumerate() {
            let r = taps.start + k;
            let s = &tmp[r * row_len..(r + 1) * row_len];
            for (o, v) in out.iter_mut().zip(s) {
                *o += w * v;
            }
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity() {
        let src: Vec<f32> = (0..5 * 3 * 2).map(|i| i as f32).collect();
        assert_eq!(resize_bilinear(&src, 5, 3, 2, 5, 3), src);
    }

    #[test]
    fn upscaling_two_pixels_interpolates_between_centres() {
        let out = resize_bilinear(&[0.0, 1.0], 2, 1, 1, 4, 1);
        let want = [0.0, 0.25, 0.75, 1.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn constant_images_stay_constant_both_ways() {
        let src = vec![0.3f32; 37 * 23 * 3];
        for (dw, dh) in [(100, 80), (10, 7), (37, 50), (1, 1)] {
            let out = resize_bilinear(&src, 37, 23, 3, dw, dh);
            assert_eq!(out.len(), dw * dh * 3);
            assert!(out.iter().all(|v| (v - 0.3).abs() < 1e-5), "{dw}x{dh}");
        }
    }

    #[test]
    fn linear_ramps_are_reproduced_away_from_the_border() {
        // Bilinear interpolation is exact for functions linear in x and y.
        let (w, h) = (16, 12);
        let f = |x: f64, y: f64| (0.05 * x + 0.02 * y) as f32;
        let src: Vec<f32> = (0..h)
            .flat_map(|y| (0..w).map(move |x| f(x as f64 + 0.5, y as f64 + 0.5)))
            .collect();
        let (dw, dh) = (40, 30);
        let out = resize_bilinear(&src, w, h, 1, dw, dh);
        let (sx, sy) = (w as f64 / dw as f64, h as f64 / dh as f64);
        for y in 2..dh - 2 {
            for x in 2..dw - 2 {
                let want = f((x as f64 + 0.5) * sx, (y as f64 + 0.5) * sy);
                let got = out[y * dw + x];
                assert!((got - want).abs() < 1e-5, "({x},{y}): {got} vs {want}");
            }
        }
    }

    #[test]
    fn downscaling_averages_instead_of_aliasing() {
        // A one-pixel checkerboard shrunk by two must come out mid-grey, not black or white.
        let (w, h) = (32, 32);
        let src: Vec<f32> = (0..h)
            .flat_map(|y| (0..w).map(move |x| ((x + y) % 2) as f32))
            .collect();
        let out = resize_bilinear(&src, w, h, 1, 16, 16);
        for y in 1..15 {
            for x in 1..15 {
                let v = out[y * 16 + x];
                assert!((v - 0.5).abs() < 1e-5, "({x},{y}) = {v}");
            }
        }
    }

    #[test]
    fn channels_do_not_mix() {
        let src: Vec<f32> = (0..6 * 4).flat_map(|_| [1.0, 0.0, 0.5]).collect();
        let out = resize_bilinear(&src, 6, 4, 3, 9, 11);
        for p in out.chunks_exact(3) {
            assert!((p[0] - 1.0).abs() < 1e-6 && p[1].abs() < 1e-6 && (p[2] - 0.5).abs() < 1e-6);
        }
    }
}

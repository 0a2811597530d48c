//! Separable resampling with a triangle (bilinear) filter, widened when shrinking so that model
//! inputs do not alias and masks scaled back to the image stay smooth at the edges; and Pillow's
//! 8-bit Lanczos resampling, bit for bit, for models whose reference pipeline uses it.

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

/// Pillow's Lanczos kernel (`lanczos_filter` in libImaging/Resample.c), support 3.
fn lanczos(x: f64) -> f64 {
    let sinc = |x: f64| {
        if x == 0.0 {
            1.0
        } else {
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
    };
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Bits of Pillow's fixed-point 8-bit coefficients (`PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's coefficients for one axis (`precompute_coeffs` and `normalize_coeffs_8bpc`): the
/// first source index and the fixed-point weights of every output sample.
fn lanczos_taps(src: usize, dst: usize) -> Vec<(usize, Vec<i64>)> {
    let scale = src as f64 / dst as f64;
    let filterscale = scale.max(1.0);
    let support = 3.0 * filterscale;
    (0..dst)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            // C's (int) cast truncates towards zero; both are clamped to the image.
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).clamp(0, src as i64) as usize;
            let raw: Vec<f64> = (lo..hi)
                .map(|j| lanczos((j as f64 - center + 0.5) / filterscale))
                .collect();
            let sum: f64 = raw.iter().sum();
            let one = (1i64 << PRECISION_BITS) as f64;
            let fixed = raw
                .iter()
                .map(|&w| {
                    let w = if sum != 0.0 { w / sum } else { w };
                    if w < 0.0 {
                        (-0.5 + w * one) as i64
                    } else {
                        (0.5 + w * one) as i64
                    }
                })
                .collect();
            (lo, fixed)
        })
        .collect()
}

/// One pass of Pillow's 8-bit resampling along rows (`horizontal`) or columns.
fn lanczos_pass(
    src: &[u8],
    (w, h, c): (usize, usize, usize),
    taps: &[(usize, Vec<i64>)],
    horizontal: bool,
) -> Vec<u8> {
    let (ow, oh) = if horizontal {
        (taps.len(), h)
    } else {
        (w, taps.len())
    };
    let mut out = vec![0u8; ow * oh * c];
    for y in 0..oh {
        for x in 0..ow {
            let (start, k) = if horizontal { &taps[x] } else { &taps[y] };
            for ch in 0..c {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (t, &kv) in k.iter().enumerate() {
                    let (sx, sy) = if horizontal {
                        (start + t, y)
                    } else {
                        (x, start + t)
                    };
                    acc += src[(sy * w + sx) * c + ch] as i64 * kv;
                }
                out[(y * ow + x) * c + ch] = (acc >> PRECISION_BITS).clamp(0, 255) as u8;
            }
        }
    }
    out
}

/// Resizes like Pillow's `Image.resize(size, Image.LANCZOS)` on an 8-bit image: values in 0..1
/// are rounded to 8 bits, resampled rows first then columns with Pillow's fixed-point
/// coefficients and 8-bit rounding between and after the passes, and returned in 0..1 (exact
/// multiples of 1/255). rembg prepares U²-Net's input and resizes its mask back this way.
pub fn resize_lanczos_u8(
    src: &[f32],
    width: usize,
    height: usize,
    channels: usize,
    dst_width: usize,
    dst_height: usize,
) -> Vec<f32> {
    debug_assert_eq!(src.len(), width * height * channels);
    if width == 0 || height == 0 || dst_width == 0 || dst_height == 0 {
        return vec![0.0; dst_width * dst_height * channels];
    }
    let mut img: Vec<u8> = src
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let (mut w, mut h) = (width, height);
    if dst_width != width {
        img = lanczos_pass(&img, (w, h, channels), &lanczos_taps(w, dst_width), true);
        w = dst_width;
    }
    if dst_height != height {
        img = lanczos_pass(&img, (w, h, channels), &lanczos_taps(h, dst_height), false);
        h = dst_height;
    }
    debug_assert_eq!(img.len(), w * h * channels);
    img.iter().map(|&v| v as f32 / 255.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanczos_matches_pillow_on_a_small_ramp() {
        // Pillow 13: Image.fromarray(a).resize((3, 2), Image.LANCZOS) for the 5×4 grey image
        // a[y][x] = 10x + 50y, and back up to 7×5.
        let src: Vec<f32> = (0..4)
            .flat_map(|y| (0..5).map(move |x| (10 * x + 50 * y) as f32 / 255.0))
            .collect();
        let down = resize_lanczos_u8(&src, 5, 4, 1, 3, 2);
        let down8: Vec<u8> = down.iter().map(|v| (v * 255.0).round() as u8).collect();
        assert_eq!(down8, PILLOW_DOWN);
        let up = resize_lanczos_u8(&down, 3, 2, 1, 7, 5);
        let up8: Vec<u8> = up.iter().map(|v| (v * 255.0).round() as u8).collect();
        assert_eq!(up8, PILLOW_UP);
    }

    const PILLOW_DOWN: [u8; 6] = [30, 47, 64, 126, 143, 160];
    const PILLOW_UP: [u8; 35] = [
        9, 12, 18, 28, 38, 44, 47, 36, 39, 45, 55, 65, 71, 74, 76, 79, 85, 95, 105, 111, 114, 116,
        119, 125, 135, 145, 151, 154, 143, 146, 152, 162, 172, 178, 181,
    ];

    #[test]
    fn lanczos_keeps_constants_and_same_size_rounds_only() {
        let src = vec![0.4f32; 9 * 7 * 3];
        let out = resize_lanczos_u8(&src, 9, 7, 3, 4, 13);
        let want = (0.4f32 * 255.0).round() / 255.0;
        assert!(out.iter().all(|&v| (v - want).abs() < 1e-6));
        let same = resize_lanczos_u8(&[0.5, 0.25], 2, 1, 1, 2, 1);
        assert_eq!(same, vec![128.0 / 255.0, 64.0 / 255.0]);
    }

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

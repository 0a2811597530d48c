//! The video matting steps that run on the module's worker thread, never on OBS's threads:
//! temporal smoothing of the model's low-resolution mask, and the coefficients of a fast guided
//! filter (He & Sun) that the composite shader applies at full resolution
//! (`alpha = a · luma + b`), so the mask follows the frame's own edges instead of the model's
//! blocky grid; and, for operations that change the picture (fix low light, match look), the
//! gain map that carries the operation's low-resolution result to the full-resolution frame.

/// Luma in 0..1 of RGBA8 pixels.
pub fn luma(rgba: &[u8]) -> Vec<f32> {
    rgba.chunks_exact(4)
        .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
        .collect()
}

/// Motion-adaptive exponential smoothing: where the mask barely changes (a still subject, model
/// noise) it moves by `1 - strength` of the difference; where it changes a lot (motion) it
/// follows at once. `strength` 0 keeps the new mask as it is.
pub fn smooth_temporal(prev: &[f32], new: &mut [f32], strength: f32) {
    if prev.len() != new.len() {
        return;
    }
    let base = (1.0 - strength).clamp(0.0, 1.0);
    for (n, &p) in new.iter_mut().zip(prev) {
        let d = (*n - p).abs();
        let k = (base + 3.0 * d).min(1.0);
        *n = p + k * (*n - p);
    }
}

/// Mean over a (2r+1)² window, clamped at the borders (running sums: O(1) per pixel).
pub fn box_mean(src: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut tmp = vec![0.0f32; w * h];
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        let mut prefix = vec![0.0f32; w + 1];
        for x in 0..w {
            prefix[x + 1] = prefix[x] + row[x];
        }
        for x in 0..w {
            let lo = x.saturating_sub(r);
            let hi = (x + r + 1).min(w);
            tmp[y * w + x] = (prefix[hi] - prefix[lo]) / (hi - lo) as f32;
        }
    }
    let mut prefix = vec![0.0f32; h + 1];
    for x in 0..w {
        for y in 0..h {
            prefix[y + 1] = prefix[y] + tmp[y * w + x];
        }
        for y in 0..h {
            let lo = y.saturating_sub(r);
            let hi = (y + r + 1).min(h);
            out[y * w + x] = (prefix[hi] - prefix[lo]) / (hi - lo) as f32;
        }
    }
    out
}

/// Guided-filter coefficients of mask `p` under guide `i` (both `w`×`h`), already averaged:
/// interleaved `[a, b]` pairs such that `a · I + b` is the filtered mask at any resolution of
/// the guide.
pub fn guided_coefficients(
    i: &[f32],
    p: &[f32],
    w: usize,
    h: usize,
    r: usize,
    eps: f32,
) -> Vec<f32> {
    let n = w * h;
    let ip: Vec<f32> = i.iter().zip(p).map(|(a, b)| a * b).collect();
    let ii: Vec<f32> = i.iter().map(|a| a * a).collect();
    let mean_i = box_mean(i, w, h, r);
    let mean_p = box_mean(p, w, h, r);
    let mean_ip = box_mean(&ip, w, h, r);
    let mean_ii = box_mean(&ii, w, h, r);
    let mut a = vec![0.0f32; n];
    let mut b = vec![0.0f32; n];
    for k in 0..n {
        let var = mean_ii[k] - mean_i[k] * mean_i[k];
        let cov = mean_ip[k] - mean_i[k] * mean_p[k];
        a[k] = cov / (var.max(0.0) + eps);
        b[k] = mean_p[k] - a[k] * mean_i[k];
    }
    let ma = box_mean(&a, w, h, r);
    let mb = box_mean(&b, w, h, r);
    ma.iter().zip(&mb).flat_map(|(&a, &b)| [a, b]).collect()
}

/// Coefficients that reproduce `p` exactly (no edge refinement): a = 0, b = p.
pub fn plain_coefficients(p: &[f32]) -> Vec<f32> {
    p.iter().flat_map(|&b| [0.0, b]).collect()
}

/// Applies coefficients to a guide (what the shader does), for tests and the synchronous path.
#[cfg(test)]
pub fn apply(coef: &[f32], i: &[f32]) -> Vec<f32> {
    coef.chunks_exact(2)
        .zip(i)
        .map(|(c, &y)| (c[0] * y + c[1]).clamp(0.0, 1.0))
        .collect()
}

/// The mask in a daemon `remove-background` result with `output = mask` (gray in R, G, B).
pub fn mask_of_rgba_f32(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(16)
        .map(|p| f32::from_ne_bytes([p[0], p[1], p[2], p[3]]).clamp(0.0, 1.0))
        .collect()
}

/// The offset of the gain map: `out = (x + GAIN_OFFSET) · g − GAIN_OFFSET`.
pub const GAIN_OFFSET: f32 = 0.1;

/// The f32 values of native-endian bytes (an `Rgba32F` image's data).
pub fn floats(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Per-pixel, per-channel gains that take the low-resolution input `sent` (RGBA8) to the
/// operation's `result` (RGBA f32, 0..1): the shader computes `(x + GAIN_OFFSET) · g −
/// GAIN_OFFSET` for each full-resolution pixel `x`, which gives the result exactly where the
/// frame equals its low-resolution copy and keeps the frame's own detail elsewhere (the offset
/// keeps near-black pixels from getting unbounded gains). RGBA f32, alpha 1.
pub fn gain_map(sent: &[u8], result: &[f32]) -> Vec<f32> {
    sent.chunks_exact(4)
        .zip(result.chunks_exact(4))
        .flat_map(|(x, r)| {
            let g = |k: usize| {
                let v = if r[k].is_nan() {
                    0.0
                } else {
                    r[k].clamp(0.0, 1.0)
                };
                ((v + GAIN_OFFSET) / (x[k] as f32 / 255.0 + GAIN_OFFSET)).clamp(0.0, 11.0)
            };
            [g(0), g(1), g(2), 1.0]
        })
        .collect()
}

/// Applies a gain map to RGBA8 pixels of the same size (what the shader does), for tests.
#[cfg(test)]
pub fn apply_gain(gain: &[f32], rgba: &[u8]) -> Vec<f32> {
    gain.chunks_exact(4)
        .zip(rgba.chunks_exact(4))
        .flat_map(|(g, x)| {
            let f = |k: usize| {
                ((x[k] as f32 / 255.0 + GAIN_OFFSET) * g[k] - GAIN_OFFSET).clamp(0.0, 1.0)
            };
            [f(0), f(1), f(2)]
        })
        .collect()
}

/// Sorted-copy percentile (`q` in 0..1) of samples; `None` when empty.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let idx = ((v.len() - 1) as f64 * q).round() as usize;
    v.get(idx).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_mean_of_constant_is_constant_and_averages_a_step() {
        let v = vec![0.5f32; 12];
        assert!(box_mean(&v, 4, 3, 1).iter().all(|x| (x - 0.5).abs() < 1e-6));
        let step = [0.0, 0.0, 1.0, 1.0];
        let m = box_mean(&step, 4, 1, 1);
        assert!((m[1] - 1.0 / 3.0).abs() < 1e-6 && (m[2] - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn guided_filter_snaps_a_blurry_mask_to_the_guides_edge() {
        // Guide: dark left half, bright right half. Mask: a soft ramp across the middle.
        let (w, h) = (16, 4);
        let i: Vec<f32> = (0..w * h)
            .map(|k| if k % w < 8 { 0.1 } else { 0.9 })
            .collect();
        let p: Vec<f32> = (0..w * h)
            .map(|k| (k % w) as f32 / (w - 1) as f32)
            .collect();
        let q = apply(&guided_coefficients(&i, &p, w, h, 2, 1e-4), &i);
        // Across the guide's edge (x = 7 → 8) the filtered mask jumps much more than the ramp's
        // 1/15 per pixel.
        let jump = q[8] - q[7];
        assert!(jump > 0.15, "jump {jump}");
        let ramp_jump = p[8] - p[7];
        assert!(jump > 2.5 * ramp_jump, "jump {jump} vs {ramp_jump}");
    }

    #[test]
    fn temporal_smoothing_damps_noise_but_follows_motion() {
        let prev = vec![0.5f32, 0.0];
        let mut new = vec![0.55f32, 1.0];
        smooth_temporal(&prev, &mut new, 0.8);
        assert!(
            (new[0] - 0.5).abs() < 0.05 && new[0] > 0.5,
            "noise damped: {}",
            new[0]
        );
        assert!((new[1] - 1.0).abs() < 1e-6, "motion followed: {}", new[1]);
        let mut same = vec![0.3f32];
        smooth_temporal(&[0.3], &mut same, 0.8);
        assert_eq!(same, [0.3]);
    }

    #[test]
    fn gain_map_reproduces_the_result_and_keeps_detail() {
        let sent = [10u8, 20, 30, 255, 0, 0, 0, 255, 255, 255, 255, 255];
        let result = [
            0.3f32,
            0.5,
            0.1,
            1.0,
            0.2,
            0.2,
            0.2,
            1.0,
            0.9,
            1.2,
            f32::NAN,
            1.0,
        ];
        let g = gain_map(&sent, &result);
        let out = apply_gain(&g, &sent);
        let want = [0.3, 0.5, 0.1, 0.2, 0.2, 0.2, 0.9, 1.0, 0.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-5, "{out:?}");
        }
        // A pixel brighter than its low-resolution copy stays brighter after the gain.
        let brighter = apply_gain(&g[..4], &[20, 30, 40, 255]);
        assert!(brighter[0] > 0.3 && brighter[1] > 0.5 && brighter[2] > 0.1);
        assert_eq!(floats(&1.5f32.to_ne_bytes()), [1.5]);
    }

    #[test]
    fn mask_and_percentiles() {
        let mut bytes = Vec::new();
        for v in [0.25f32, 0.25, 0.25, 1.0, 2.0, 2.0, 2.0, 1.0] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(mask_of_rgba_f32(&bytes), [0.25, 1.0]);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(apply(&plain_coefficients(&[0.4]), &[0.9]), [0.4]);
    }
}

//! Separable resampling of interleaved f32 images: a triangle (bilinear) filter whose support
//! widens when shrinking, so downscaling averages instead of aliasing (like PIL's BILINEAR).

/// Per output sample: the first input index and the normalised weights from there on.
struct Taps {
    start: Vec<usize>,
    weights: Vec<Vec<f32>>,
}

fn taps(src: usize, dst: usize) -> Taps {
    let scale = src as f32 / dst as f32;
    let support = scale.max(1.0);
    let mut start = Vec::with_capacity(dst);
    let mut weights = Vec::with_capacity(dst);
    for o in 0..dst {
        // Pixel centres: output o covers input coordinate (o + 0.5) * scale.
        let centre = (o as f32 + 0.5) * scale;
        let lo = ((centre - support).floor().max(0.0)) as usize;
        let hi = ((centre + support).ceil() as usize).min(src);
        let mut w: Vec<f32> = (lo..hi)
            .map(|i| {
                let d = ((i as f32 + 0.5) - centre).abs() / support;
                (1.0 - d).max(0.0)
            })
            .collect();
        let sum: f32 = w.iter().sum();
        if sum > 0.0 {
            w.iter_mut().for_each(|v| *v /= sum);
        } else {
            // Cannot happen for src > 0 (the nearest sample always has weight), but stay total.
            let nearest = (centre as usize).min(src - 1);
            start.push(nearest);
            weights.push(vec![1.0]);
            continue;
        }
        start.push(lo);
        weights.push(w);
    }
    Taps { start, weights }
}

/// Resizes an interleaved image of `channels` samples per pixel from `sw`×`sh` to `dw`×`dh`.
/// Sizes must be non-zero.
pub fn resize(
    src: &[f32],
    sw: usize,
    sh: usize,
    channels: usize,
    dw: usize,
    dh: usize,
) -> Vec<f32> {
    debug_assert_eq!(src.len(), sw * sh * channels);
    if sw == dw && sh == dh {
        return src.to_vec();
    }
    // Horizontal pass into sh × dw, then vertical into dh × dw.
    let tx = taps(sw, dw);
    let mut mid = vec![0.0f32; sh * dw * channels];
    for y in 0..sh {
        let row = &src[y * sw * channels..(y + 1) * sw * channels];
        let out = &mut mid[y * dw * channels..(y + 1) * dw * channels];
        for x in 0..dw {
            let s = tx.start[x];
            for (k, &wt) in tx.weights[x].iter().enumerate() {
                let p = &row[(s + k) * channels..(s + k + 1) * channels];
                for c in 0..channels {
                    out[x * channels + c] += wt * p[c];
                }
            }
        }
    }
    let ty = taps(sh, dh);
    let stride = dw * channels;
    let mut out = vec![0.0f32; dh * stride];
    for y in 0..dh {
        let s = ty.start[y];
        let dst = &mut out[y * stride..(y + 1) * stride];
        for (k, &wt) in ty.weights[y].iter().enumerate() {
            let row = &mid[(s + k) * stride..(s + k + 1) * stride];
            for (d, &v) in dst.iter_mut().zip(row) {
                *d += wt * v;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_and_ramps_survive_resizing() {
        let (sw, sh) = (37, 23);
        let flat = vec![0.25f32; sw * sh * 2];
        for (dw, dh) in [(512, 512), (10, 7), (37, 23), (74, 11)] {
            let out = resize(&flat, sw, sh, 2, dw, dh);
            assert_eq!(out.len(), dw * dh * 2);
            assert!(out.iter().all(|v| (v - 0.25).abs() < 1e-5));
        }
        // A horizontal ramp stays monotone and keeps its mean when halved.
        let ramp: Vec<f32> = (0..64 * 4).map(|i| (i % 64) as f32 / 63.0).collect();
        let half = resize(&ramp, 64, 4, 1, 32, 2);
        assert!(half[..32].windows(2).all(|w| w[1] > w[0]));
        let mean: f32 = half.iter().sum::<f32>() / half.len() as f32;
        assert!((mean - 0.5).abs() < 1e-3, "{mean}");
    }
}

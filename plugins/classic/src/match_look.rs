//! Colour transfer (Reinhard et al. 2001): each channel of a perceptual colour space (CIELAB or
//! Oklab) is shifted and scaled so that the target's mean and standard deviation become the
//! references'.
//!
//! Statistics are alpha-weighted (alpha 0 pixels do not count). Several references are pooled
//! as an equal-weight mixture — each reference counts the same however large it is: the pooled
//! mean is the mean of the means and the pooled variance the mixture's
//! `mean(σᵢ² + μᵢ²) − μ²`.

use crate::color::{lab_to_srgb, oklab_to_srgb, srgb_to_lab, srgb_to_oklab};

/// The space the statistics are matched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Lab,
    Oklab,
}

impl Space {
    pub fn parse(name: &str) -> Option<Space> {
        match name {
            "lab" => Some(Space::Lab),
            "oklab" => Some(Space::Oklab),
            _ => None,
        }
    }
    pub fn from_rgb(self, rgb: [f32; 3]) -> [f32; 3] {
        match self {
            Space::Lab => srgb_to_lab(rgb),
            Space::Oklab => srgb_to_oklab(rgb),
        }
    }
    pub fn to_rgb(self, c: [f32; 3]) -> [f32; 3] {
        match self {
            Space::Lab => lab_to_srgb(c),
            Space::Oklab => oklab_to_srgb(c),
        }
    }
}

/// Per-channel mean and standard deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

/// Alpha-weighted statistics of an RGBA image (4 floats per pixel); `None` when every pixel is
/// transparent.
pub fn stats(rgba: &[f32], space: Space) -> Option<Stats> {
    let (mut s, mut s2, mut wsum) = ([0.0f64; 3], [0.0f64; 3], 0.0f64);
    for px in rgba.chunks_exact(4) {
        let a = px[3].clamp(0.0, 1.0) as f64;
        if a <= 0.0 {
            continue;
        }
        let c = space.from_rgb([px[0], px[1], px[2]]);
        for k in 0..3 {
            s[k] += a * c[k] as f64;
            s2[k] += a * (c[k] as f64) * (c[k] as f64);
        }
        wsum += a;
    }
    if wsum <= 0.0 {
        return None;
    }
    let mean = s.map(|v| v / wsum);
    let std = [0, 1, 2].map(|k| (s2[k] / wsum - mean[k] * mean[k]).max(0.0).sqrt());
    Some(Stats { mean, std })
}

/// Pools several references' statistics as an equal-weight mixture.
pub fn pool(all: &[Stats]) -> Option<Stats> {
    if all.is_empty() {
        return None;
    }
    let n = all.len() as f64;
    let mean = [0, 1, 2].map(|k| all.iter().map(|s| s.mean[k]).sum::<f64>() / n);
    let std = [0, 1, 2].map(|k| {
        let second = all
            .iter()
            .map(|s| s.std[k] * s.std[k] + s.mean[k] * s.mean[k])
            .sum::<f64>()
            / n;
        (second - mean[k] * mean[k]).max(0.0).sqrt()
    });
    Some(Stats { mean, std })
}

/// Moves `target`'s statistics to `reference`'s, blended with the original by `strength`
/// (0 returns the input unchanged); alpha is kept and colours are clamped to 0..1. A channel
/// that is flat in the target (σ below 10⁻⁶ of the channel's range) is only shifted.
pub fn transfer(
    rgba: &[f32],
    target: &Stats,
    reference: &Stats,
    space: Space,
    strength: f32,
) -> Vec<f32> {
    if strength <= 0.0 {
        return rgba.to_vec();
    }
    let flat = match space {
        Space::Lab => 1e-4,
        Space::Oklab => 1e-6,
    };
    let scale = [0, 1, 2].map(|k| {
        if target.std[k] > flat {
            (reference.std[k] / target.std[k]) as f32
        } else {
            1.0
        }
    });
    let mut out = Vec::with_capacity(rgba.len());
    for px in rgba.chunks_exact(4) {
        let c = space.from_rgb([px[0], px[1], px[2]]);
        let moved = [0, 1, 2].map(|k| {
            let t = (c[k] - target.mean[k] as f32) * scale[k] + reference.mean[k] as f32;
            c[k] + strength * (t - c[k])
        });
        let rgb = space.to_rgb(moved);
        out.extend_from_slice(&[
            rgb[0].clamp(0.0, 1.0),
            rgb[1].clamp(0.0, 1.0),
            rgb[2].clamp(0.0, 1.0),
            px[3],
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::load_photo;

    #[test]
    fn transferred_photo_takes_the_references_statistics() {
        let (_, _, target) = load_photo("coffee.png");
        let (_, _, reference) = load_photo("chelsea.png");
        for space in [Space::Lab, Space::Oklab] {
            let ts = stats(&target, space).unwrap();
            let rs = stats(&reference, space).unwrap();
            let out = transfer(&target, &ts, &rs, space, 1.0);
            let os = stats(&out, space).unwrap();
            // Tolerances: a few % of each channel's spread (clamping to the sRGB gamut
            // moves a little mass), and tight compared with how far apart the photos are.
            let range = match space {
                Space::Lab => 100.0,
                Space::Oklab => 1.0,
            };
            for k in 0..3 {
                let dm = (os.mean[k] - rs.mean[k]).abs();
                let ds = (os.std[k] - rs.std[k]).abs();
                println!(
                    "{space:?} ch{k}: target {:.3}±{:.3}, reference {:.3}±{:.3}, result {:.3}±{:.3}",
                    ts.mean[k], ts.std[k], rs.mean[k], rs.std[k], os.mean[k], os.std[k]
                );
                assert!(
                    dm <= 0.01 * range,
                    "{space:?} channel {k}: mean off by {dm}"
                );
                assert!(
                    ds <= 0.06 * rs.std[k] + 0.002 * range,
                    "{space:?} channel {k}: std off by {ds}"
                );
            }
            // The photos differ enough for this to mean something.
            assert!(ts.std[0] > 1.5 * rs.std[0] && ts.mean[1] > 1.5 * rs.mean[1]);
        }
    }

    #[test]
    fn strength_zero_is_identity_and_half_is_between() {
        let (_, _, target) = load_photo("coffee.png");
        let (_, _, reference) = load_photo("astronaut.png");
        let ts = stats(&target, Space::Lab).unwrap();
        let rs = stats(&reference, Space::Lab).unwrap();
        assert_eq!(transfer(&target, &ts, &rs, Space::Lab, 0.0), target);
        let half = stats(&transfer(&target, &ts, &rs, Space::Lab, 0.5), Space::Lab).unwrap();
        for k in 0..3 {
            let mid = 0.5 * (ts.mean[k] + rs.mean[k]);
            assert!(
                (half.mean[k] - mid).abs() < 1.5,
                "channel {k}: {} vs {mid}",
                half.mean[k]
            );
        }
    }

    #[test]
    fn transparent_pixels_do_not_count_and_alpha_is_kept() {
        let (w, h, mut reference) = load_photo("chelsea.png");
        let base = stats(&reference, Space::Lab).unwrap();
        // Garbage in fully transparent pixels changes nothing.
        for i in 0..w * h / 3 {
            reference[i * 4..i * 4 + 4].copy_from_slice(&[1.0, 0.0, 1.0, 0.0]);
        }
        let mut kept = load_photo("chelsea.png").2;
        for i in 0..w * h / 3 {
            kept[i * 4 + 3] = 0.0;
        }
        assert_eq!(stats(&reference, Space::Lab), stats(&kept, Space::Lab));
        assert_ne!(stats(&reference, Space::Lab), Some(base));
        let mut target = load_photo("coffee.png").2;
        for (i, px) in target.chunks_exact_mut(4).enumerate() {
            px[3] = (i % 7) as f32 / 6.0;
        }
        let ts = stats(&target, Space::Lab).unwrap();
        let out = transfer(&target, &ts, &base, Space::Lab, 1.0);
        assert!(out
            .chunks_exact(4)
            .zip(target.chunks_exact(4))
            .all(|(a, b)| a[3] == b[3]));
        let all_clear = vec![0.3f32, 0.3, 0.3, 0.0];
        assert_eq!(stats(&all_clear, Space::Lab), None);
    }

    #[test]
    fn pooling_two_equal_sized_references_equals_their_union() {
        let (_, _, a) = load_photo("coffee.png");
        let (_, _, b) = load_photo("rocket.jpg");
        // Use equal pixel counts so that the union is the equal-weight mixture.
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let union: Vec<f32> = a.iter().chain(b).copied().collect();
        let pooled = pool(&[
            stats(a, Space::Oklab).unwrap(),
            stats(b, Space::Oklab).unwrap(),
        ])
        .unwrap();
        let direct = stats(&union, Space::Oklab).unwrap();
        for k in 0..3 {
            assert!((pooled.mean[k] - direct.mean[k]).abs() < 1e-6);
            assert!((pooled.std[k] - direct.std[k]).abs() < 1e-6);
        }
    }
}

//! Colour-space conversions: sRGB transfer curve, CIELAB (D65), Oklab and BT.601 YUV.
//!
//! Every function works on one pixel of straight (not premultiplied) sRGB-encoded values in
//! 0..1, the plugin's working format. Conversions are exact inverses of each other up to f32
//! rounding; values outside 0..1 pass through (the transfer curve is extended as an odd
//! function) so that out-of-gamut intermediates survive a round trip.

/// sRGB-encoded value to linear light.
pub fn srgb_to_linear(v: f32) -> f32 {
    let a = v.abs();
    let l = if a <= 0.04045 {
        a / 12.92
    } else {
        ((a + 0.055) / 1.055).powf(2.4)
    };
    l.copysign(v)
}

/// Linear light to sRGB encoding.
pub fn linear_to_srgb(v: f32) -> f32 {
    let a = v.abs();
    let e = if a <= 0.003_130_8 {
        a * 12.92
    } else {
        1.055 * a.powf(1.0 / 2.4) - 0.055
    };
    e.copysign(v)
}

// D65 white of the sRGB primaries, from the matrix below (rows sum to it), so white maps to
// a = b = 0 exactly rather than to the rounded textbook white.
const XYZ_FROM_RGB: [[f32; 3]; 3] = [
    [0.412_390_8, 0.357_584_3, 0.180_480_8],
    [0.212_639, 0.715_168_7, 0.072_192_3],
    [0.019_330_8, 0.119_194_8, 0.950_532_2],
];
const RGB_FROM_XYZ: [[f32; 3]; 3] = [
    [3.240_97, -1.537_383_2, -0.498_610_76],
    [-0.969_243_6, 1.875_967_5, 0.041_555_06],
    [0.055_630_08, -0.203_976_96, 1.056_971_5],
];
const WHITE: [f32; 3] = [0.950_455_9, 1.0, 1.089_057_8];

fn mul3(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

const LAB_EPS: f32 = 216.0 / 24389.0;
const LAB_KAPPA: f32 = 24389.0 / 27.0;

fn lab_f(t: f32) -> f32 {
    if t > LAB_EPS {
        t.cbrt()
    } else {
        (LAB_KAPPA * t + 16.0) / 116.0
    }
}

fn lab_f_inv(f: f32) -> f32 {
    let t = f * f * f;
    if t > LAB_EPS {
        t
    } else {
        (116.0 * f - 16.0) / LAB_KAPPA
    }
}

/// sRGB (0..1) to CIELAB under D65: L in 0..100, a and b roughly -128..127.
pub fn srgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    let lin = rgb.map(srgb_to_linear);
    let xyz = mul3(&XYZ_FROM_RGB, lin);
    let f = [
        lab_f(xyz[0] / WHITE[0]),
        lab_f(xyz[1] / WHITE[1]),
        lab_f(xyz[2] / WHITE[2]),
    ];
    [
        116.0 * f[1] - 16.0,
        500.0 * (f[0] - f[1]),
        200.0 * (f[1] - f[2]),
    ]
}

/// CIELAB (D65) to sRGB (0..1, not clamped).
pub fn lab_to_srgb(lab: [f32; 3]) -> [f32; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let fx = fy + lab[1] / 500.0;
    let fz = fy - lab[2] / 200.0;
    let xyz = [
        lab_f_inv(fx) * WHITE[0],
        lab_f_inv(fy) * WHITE[1],
        lab_f_inv(fz) * WHITE[2],
    ];
    mul3(&RGB_FROM_XYZ, xyz).map(linear_to_srgb)
}

/// sRGB (0..1) to Oklab (Björn Ottosson, 2020): L in 0..1.
pub fn srgb_to_oklab(rgb: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = rgb.map(srgb_to_linear);
    let l = 0.412_221_47 * r + 0.536_332_55 * g + 0.051_445_995 * b;
    let m = 0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b;
    let s = 0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b;
    let (l, m, s) = (l.cbrt(), m.cbrt(), s.cbrt());
    [
        0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s,
        1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s,
        0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s,
    ]
}

/// Oklab to sRGB (0..1, not clamped).
pub fn oklab_to_srgb(lab: [f32; 3]) -> [f32; 3] {
    let [ll, a, b] = lab;
    let l = ll + 0.396_337_78 * a + 0.215_803_76 * b;
    let m = ll - 0.105_561_346 * a - 0.063_854_17 * b;
    let s = ll - 0.089_484_18 * a - 1.291_485_5 * b;
    let (l, m, s) = (l * l * l, m * m * m, s * s * s);
    [
        4.076_741_7 * l - 3.307_711_6 * m + 0.230_969_94 * s,
        -1.268_438 * l + 2.609_757_4 * m - 0.341_319_38 * s,
        -0.004_196_086_3 * l - 0.703_418_6 * m + 1.707_614_7 * s,
    ]
    .map(linear_to_srgb)
}

/// BT.601 luma weights, applied to the sRGB-encoded values as in Levin et al.'s YUV.
pub const LUMA: [f32; 3] = [0.299, 0.587, 0.114];
const U_SCALE: f32 = 0.492_111;
const V_SCALE: f32 = 0.877_283;

/// sRGB (0..1) to YUV (BT.601 analogue form): Y in 0..1, U about ±0.436, V about ±0.615.
pub fn rgb_to_yuv(rgb: [f32; 3]) -> [f32; 3] {
    let y = LUMA[0] * rgb[0] + LUMA[1] * rgb[1] + LUMA[2] * rgb[2];
    [y, U_SCALE * (rgb[2] - y), V_SCALE * (rgb[0] - y)]
}

/// The RGB offset from grey that a chroma `(u, v)` adds; its luma is exactly zero.
fn chroma_offset(u: f32, v: f32) -> [f32; 3] {
    let db = u / U_SCALE;
    let dr = v / V_SCALE;
    let dg = -(LUMA[0] * dr + LUMA[2] * db) / LUMA[1];
    [dr, dg, db]
}

/// YUV to sRGB (not clamped): the exact inverse of [`rgb_to_yuv`].
pub fn yuv_to_rgb(yuv: [f32; 3]) -> [f32; 3] {
    let d = chroma_offset(yuv[1], yuv[2]);
    [yuv[0] + d[0], yuv[0] + d[1], yuv[0] + d[2]]
}

/// YUV to sRGB inside 0..1 with the luma kept: when the colour is out of gamut its chroma is
/// scaled towards grey (which is in gamut for any Y in 0..1) instead of clipping channels,
/// which would change Y.
pub fn yuv_to_rgb_keep_luma(yuv: [f32; 3]) -> [f32; 3] {
    let y = yuv[0].clamp(0.0, 1.0);
    let d = chroma_offset(yuv[1], yuv[2]);
    let mut t = 1.0f32;
    for &dc in &d {
        if dc > 0.0 {
            t = t.min((1.0 - y) / dc);
        } else if dc < 0.0 {
            t = t.min(y / -dc);
        }
    }
    let t = t.max(0.0);
    [
        (y + t * d[0]).clamp(0.0, 1.0),
        (y + t * d[1]).clamp(0.0, 1.0),
        (y + t * d[2]).clamp(0.0, 1.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Vec<[f32; 3]> {
        let steps = [0.0, 0.02, 0.1, 0.25, 0.5, 0.73, 0.9, 1.0];
        let mut out = Vec::new();
        for &r in &steps {
            for &g in &steps {
                for &b in &steps {
                    out.push([r, g, b]);
                }
            }
        }
        out
    }

    fn close(a: [f32; 3], b: [f32; 3], tol: f32) -> bool {
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn lab_matches_reference_values_and_round_trips() {
        // Reference values from the CIE formulas with the sRGB D65 white (colormine / Lindbloom).
        assert!(close(srgb_to_lab([1.0, 1.0, 1.0]), [100.0, 0.0, 0.0], 1e-3));
        assert!(close(srgb_to_lab([0.0, 0.0, 0.0]), [0.0, 0.0, 0.0], 1e-4));
        assert!(close(
            srgb_to_lab([1.0, 0.0, 0.0]),
            [53.24, 80.09, 67.20],
            0.02
        ));
        assert!(close(
            srgb_to_lab([0.0, 0.0, 1.0]),
            [32.30, 79.19, -107.86],
            0.02
        ));
        for c in grid() {
            let back = lab_to_srgb(srgb_to_lab(c));
            assert!(close(c, back, 2e-5), "{c:?} -> {back:?}");
        }
    }

    #[test]
    fn oklab_matches_reference_values_and_round_trips() {
        // Values from Ottosson's published table.
        assert!(close(srgb_to_oklab([1.0, 1.0, 1.0]), [1.0, 0.0, 0.0], 1e-4));
        assert!(close(
            srgb_to_oklab([1.0, 0.0, 0.0]),
            [0.627_955, 0.224_863, 0.125_846],
            1e-4
        ));
        assert!(close(
            srgb_to_oklab([0.0, 0.0, 1.0]),
            [0.452_014, -0.032_457, -0.311_528],
            1e-4
        ));
        for c in grid() {
            let back = oklab_to_srgb(srgb_to_oklab(c));
            assert!(close(c, back, 2e-5), "{c:?} -> {back:?}");
        }
    }

    #[test]
    fn yuv_round_trips_and_gamut_mapping_keeps_luma() {
        for c in grid() {
            let yuv = rgb_to_yuv(c);
            assert!(close(c, yuv_to_rgb(yuv), 1e-6));
        }
        // Very saturated chroma on dark, mid and bright greys: RGB lands in gamut, Y is kept.
        for y in [0.05, 0.5, 0.95] {
            for (u, v) in [(0.6, 0.6), (-0.6, 0.3), (0.2, -0.9)] {
                let rgb = yuv_to_rgb_keep_luma([y, u, v]);
                assert!(rgb.iter().all(|&c| (0.0..=1.0).contains(&c)), "{rgb:?}");
                assert!((rgb_to_yuv(rgb)[0] - y).abs() < 1e-5);
                // The hue survives: chroma only shrinks.
                let back = rgb_to_yuv(rgb);
                assert!(back[1] * u >= 0.0 && back[2] * v >= 0.0);
            }
        }
    }
}

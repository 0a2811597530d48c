//! Masks: reading coverage from views, the user's modifiers (invert, grow/shrink, feather),
//! bounds, crops, resizing, and compositing a result back through the mask.

use super::blur::gaussian_like;
use super::convert::{coverage, Sample};
use super::distance::column_distances;
use super::{ImagingError, Mask, MaskModifiers, OwnedImage, Rect};
use crate::{ImageView, PixelFormat};
use easel_pixels::{interpolate, Filter, Plane};

/// Coverage at or above this is "inside" for grow/shrink (where GIMP draws its marching ants).
const INSIDE: f32 = 0.5;

/// Coverage from a mask view: `Gray8` / `Gray32F` as is, RGBA views by their **alpha** channel
/// (colour is ignored; the same rule as [`super::convert`] to a gray format). Values are clamped to
/// 0..1 and NaN becomes 0.
pub fn mask_from_view(view: &ImageView<'_>) -> Mask {
    let mut data = coverage(view);
    for v in &mut data {
        *v = sanitize(*v);
    }
    Mask {
        width: view.width(),
        height: view.height(),
        data,
    }
}

#[inline]
fn sanitize(v: f32) -> f32 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(0.0, 1.0)
    }
}

/// Applies the user's modifiers in a fixed order: invert, then grow/shrink, then feather.
///
/// - Grow by `r` is a dilation with a disc of radius `r` measured between pixel centres, from an
///   exact Euclidean distance transform of the inside set (coverage >= 0.5). The new edge is
///   anti-aliased over one pixel: a pixel at distance `d` from the set gets
///   `clamp(r + 0.5 - d, 0, 1)`, so a single pixel grows into a disc of area ≈ πr². Coverage only
///   rises (the result is the max with the original).
/// - Shrink by `r` (negative grow) is the mirror image: a pixel at distance `d` from the nearest
///   outside pixel (coverage < 0.5) keeps at most `clamp(d - r + 0.5, 0, 1)`. Outside the image
///   counts as selected, so a selection touching the border is not eaten from the border.
/// - Feather blurs with a Gaussian-like kernel of sigma = feather / 2 (three extended-box passes
///   per axis; the visible falloff reaches about ±feather), edges replicated.
///
/// Values are clamped to 0..1 first (NaN becomes 0). Box-filter feathering has finite support
/// (about ±(1.5 × feather + 3) px), so [`mask_bounds`] of a feathered mask stays tight.
/// A mask whose `data` does not match its size ([`Mask::check`]) is left as it is.
pub fn apply_modifiers(mask: &mut Mask, m: &MaskModifiers) {
    let (w, h) = (mask.width as usize, mask.height as usize);
    if w == 0 || h == 0 || mask.data.len() != w * h || m.is_identity() {
        return;
    }
    for v in &mut mask.data {
        *v = sanitize(*v);
    }
    if m.invert {
        for v in &mut mask.data {
            *v = 1.0 - *v;
        }
    }
    if m.grow > 0 {
        grow(mask, m.grow.unsigned_abs() as f64);
    } else if m.grow < 0 {
        shrink(mask, m.grow.unsigned_abs() as f64);
    }
    if m.feather > 0.0 {
        gaussian_like(&mut mask.data, w, h, m.feather / 2.0);
        for v in &mut mask.data {
            *v = sanitize(*v);
        }
    }
}

/// Squared-distance bounds of the one-pixel ramp around radius `r`.
fn ramp(r: f64) -> (f64, f64) {
    let lo = (r - 0.5).max(0.0);
    (lo * lo, (r + 0.5) * (r + 0.5))
}

fn grow(mask: &mut Mask, r: f64) {
    let w = mask.width as usize;
    let dist = column_distances(w, mask.height as usize, |i| mask.data[i] >= INSIDE);
    let (lo, hi) = ramp(r);
    let data = &mut mask.data;
    dist.for_each_row(hi, |y, d2| {
        for (v, &d2) in data[y * w..(y + 1) * w].iter_mut().zip(d2) {
            let c = if d2 <= lo {
                1.0
            } else if d2 >= hi {
                continue;
            } else {
                (r + 0.5 - d2.sqrt()) as f32
            };
            if c > *v {
                *v = c;
            }
        }
    });
}

fn shrink(mask: &mut Mask, r: f64) {
    let w = mask.width as usize;
    let dist = column_distances(w, mask.height as usize, |i| mask.data[i] < INSIDE);
    let (lo, hi) = ramp(r);
    let data = &mut mask.data;
    dist.for_each_row(hi, |y, d2| {
        for (v, &d2) in data[y * w..(y + 1) * w].iter_mut().zip(d2) {
            let c = if d2 <= lo {
                0.0
            } else if d2 >= hi {
                continue;
            } else {
                (d2.sqrt() - r + 0.5) as f32
            };
            if c < *v {
                *v = c;
            }
        }
    });
}

/// The bounding box of pixels with coverage > `threshold`, or `None` when there are none.
pub fn mask_bounds(mask: &Mask, threshold: f32) -> Option<Rect> {
    let w = mask.width as usize;
    if w == 0 {
        return None;
    }
    let (mut x0, mut x1) = (usize::MAX, 0usize);
    let (mut y0, mut y1) = (None, 0usize);
    for (y, row) in mask.data.chunks_exact(w).enumerate() {
        let Some(first) = row.iter().position(|&v| v > threshold) else {
            continue;
        };
        let last = row.iter().rposition(|&v| v > threshold).unwrap_or(first);
        x0 = x0.min(first);
        x1 = x1.max(last);
        y0.get_or_insert(y);
        y1 = y;
    }
    let y0 = y0?;
    Some(Rect {
        x: x0 as u32,
        y: y0 as u32,
        width: (x1 - x0 + 1) as u32,
        height: (y1 - y0 + 1) as u32,
    })
}

/// `rect` grown by `margin` on every side, clamped to a `width` x `height` image.
pub fn expand(rect: Rect, margin: u32, width: u32, height: u32) -> Rect {
    let (x0, x1) = expand_span(rect.x, rect.width, margin, width);
    let (y0, y1) = expand_span(rect.y, rect.height, margin, height);
    Rect {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    }
}

fn expand_span(start: u32, len: u32, margin: u32, limit: u32) -> (u32, u32) {
    let lo = start.min(limit).saturating_sub(margin);
    let hi = (start as u64 + len as u64 + margin as u64).min(limit as u64) as u32;
    (lo, hi.max(lo))
}

/// `r` intersected with a `width` x `height` image, as (x0, y0, x1, y1).
fn clip(r: Rect, width: u32, height: u32) -> (usize, usize, usize, usize) {
    let x0 = r.x.min(width);
    let y0 = r.y.min(height);
    let x1 = (r.x as u64 + r.width as u64).min(width as u64) as u32;
    let y1 = (r.y as u64 + r.height as u64).min(height as u64) as u32;
    (x0 as usize, y0 as usize, x1 as usize, y1 as usize)
}

/// The part of `image` inside `r` (`r` is first intersected with the image).
pub fn crop(image: &OwnedImage, r: Rect) -> OwnedImage {
    let (x0, y0, x1, y1) = clip(r, image.width, image.height);
    let bpp = image.format.bytes_per_pixel();
    let src_row = image.width as usize * bpp;
    let row_len = (x1 - x0) * bpp;
    let mut data = Vec::with_capacity(row_len * (y1 - y0));
    for y in y0..y1 {
        let start = y * src_row + x0 * bpp;
        data.extend_from_slice(&image.data[start..start + row_len]);
    }
    OwnedImage {
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
        format: image.format,
        data,
    }
}

/// The part of `mask` inside `r` (`r` is first intersected with the mask).
pub fn crop_mask(mask: &Mask, r: Rect) -> Mask {
    let (x0, y0, x1, y1) = clip(r, mask.width, mask.height);
    let w = mask.width as usize;
    let mut data = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        data.extend_from_slice(&mask.data[y * w + x0..y * w + x1]);
    }
    Mask {
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
        data,
    }
}

/// Puts `result` into `original` through `mask`: `out = result * m + original * (1 - m)`.
///
/// Per channel, alpha included, rounded for integer formats; coverage is clamped to 0..1.
/// Where the two pixels' alphas differ the colour is blended premultiplied
/// (`rgb = lerp(rgb_o * a_o, rgb_r * a_r, m) / a_out`) so that the colour hidden under a
/// transparent pixel does not bleed into the edge as a dark fringe; with equal alphas (opaque
/// images, the usual case) this is exactly the per-channel formula.
pub fn composite_through_mask(
    original: &OwnedImage,
    result: &OwnedImage,
    mask: &Mask,
) -> Result<OwnedImage, ImagingError> {
    original.check()?;
    result.check()?;
    mask.check()?;
    let size_mismatch = |what, w, h| ImagingError::SizeMismatch {
        what,
        expected_width: original.width,
        expected_height: original.height,
        actual_width: w,
        actual_height: h,
    };
    if (result.width, result.height) != (original.width, original.height) {
        return Err(size_mismatch("result", result.width, result.height));
    }
    if (mask.width, mask.height) != (original.width, original.height) {
        return Err(size_mismatch("mask", mask.width, mask.height));
    }
    if result.format != original.format {
        return Err(ImagingError::FormatMismatch {
            what: "result",
            expected: original.format,
            actual: result.format,
        });
    }
    let mut out = OwnedImage::new(original.width, original.height, original.format);
    let (o, r, m, d) = (&original.data, &result.data, &mask.data, &mut out.data);
    match original.format {
        PixelFormat::Rgba8 => blend::<u8, 4>(o, r, m, d),
        PixelFormat::Rgba16 => blend::<u16, 4>(o, r, m, d),
        PixelFormat::Rgba16F => blend::<half::f16, 4>(o, r, m, d),
        PixelFormat::Rgba32F => blend::<f32, 4>(o, r, m, d),
        PixelFormat::Gray8 => blend::<u8, 1>(o, r, m, d),
        PixelFormat::Gray32F => blend::<f32, 1>(o, r, m, d),
    }
    Ok(out)
}

fn blend<S: Sample, const C: usize>(orig: &[u8], res: &[u8], mask: &[f32], out: &mut [u8]) {
    let px = C * S::SIZE;
    let pixels = orig
        .chunks_exact(px)
        .zip(res.chunks_exact(px))
        .zip(out.chunks_exact_mut(px).zip(mask));
    for ((op, rp), (dp, &m)) in pixels {
        let m = sanitize(m);
        if m <= 0.0 {
            dp.copy_from_slice(op);
            continue;
        }
        if m >= 1.0 {
            dp.copy_from_slice(rp);
            continue;
        }
        let o: [f32; C] = std::array::from_fn(|c| S::read(&op[c * S::SIZE..]).to_f32());
        let r: [f32; C] = std::array::from_fn(|c| S::read(&rp[c * S::SIZE..]).to_f32());
        let lerp = |c: usize| o[c] + (r[c] - o[c]) * m;
        let alpha = C - 1;
        let a = lerp(alpha);
        let premultiply = C == 4 && o[alpha] != r[alpha] && a > 0.0;
        for c in 0..C {
            let v = if premultiply && c < alpha {
                let (po, pr) = (o[c] * o[alpha], r[c] * r[alpha]);
                (po + (pr - po) * m) / a
            } else {
                lerp(c)
            };
            S::from_f32(v).write(&mut dp[c * S::SIZE..]);
        }
    }
}

/// Resamples a mask to `width` x `height` by bilinear interpolation, pixel centres aligned (the
/// same size gives the same mask): [`easel_pixels::interpolate`] with [`Filter::Bilinear`]. Meant
/// for modest scale factors; it does not area-average when shrinking.
pub fn resize_mask_bilinear(mask: &Mask, width: u32, height: u32) -> Mask {
    let (sw, sh) = (mask.width as usize, mask.height as usize);
    let Ok(plane) = Plane::packed(&mask.data, (sw, sh), 1) else {
        return Mask::filled(width, height, 0.0);
    };
    let data = interpolate(plane, (width as usize, height as usize), Filter::Bilinear);
    Mask {
        width,
        height,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageLayout;

    fn mask(w: u32, h: u32, inside: impl Fn(u32, u32) -> bool) -> Mask {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.push(if inside(x, y) { 1.0 } else { 0.0 });
            }
        }
        Mask {
            width: w,
            height: h,
            data,
        }
    }

    fn at(m: &Mask, x: u32, y: u32) -> f32 {
        m.data[(y * m.width + x) as usize]
    }

    fn grown(mut m: Mask, grow: i32) -> Mask {
        apply_modifiers(
            &mut m,
            &MaskModifiers {
                grow,
                ..Default::default()
            },
        );
        m
    }

    #[test]
    fn growing_a_pixel_makes_an_antialiased_disc_of_radius_r() {
        for r in [1i32, 3, 10, 25] {
            let n = 2 * r as u32 + 9;
            let c = n / 2;
            let m = grown(mask(n, n, |x, y| x == c && y == c), r);
            let area: f64 = m.data.iter().map(|&v| v as f64).sum();
            let disc = std::f64::consts::PI * (r * r) as f64;
            assert!(
                (area - disc).abs() < 0.02 * disc + 0.5,
                "r {r}: {area} vs {disc}"
            );
            for y in 0..n {
                for x in 0..n {
                    let d = ((x as f64 - c as f64).powi(2) + (y as f64 - c as f64).powi(2)).sqrt();
                    let want = (r as f64 + 0.5 - d).clamp(0.0, 1.0);
                    assert!(
                        (at(&m, x, y) as f64 - want).abs() < 1e-5,
                        "r {r} at distance {d}: {} vs {want}",
                        at(&m, x, y)
                    );
                }
            }
            // Exact on the axes: distance r is the half-covered edge, r+1 is out.
            assert_eq!(at(&m, c + r as u32, c), 0.5);
            assert_eq!(at(&m, c + r as u32 - 1, c), 1.0);
            assert_eq!(at(&m, c, c + r as u32 + 1), 0.0);
        }
    }

    #[test]
    fn growing_is_the_max_with_the_original_and_a_no_op_without_inside_pixels() {
        let mut faint = Mask::filled(8, 8, 0.3);
        faint.data[9] = 0.45;
        assert_eq!(grown(faint.clone(), 3), faint);
        let mut soft = faint.clone();
        soft.data[20] = 0.6;
        let g = grown(soft.clone(), 2);
        assert!(g.data.iter().zip(&soft.data).all(|(a, b)| a >= b));
        assert_eq!(
            g.data[20], 1.0,
            "an inside pixel ends deep inside the grown region"
        );
        assert_eq!(at(&g, 4 + 1, 2), 1.0);
    }

    #[test]
    fn shrinking_removes_thin_lines_and_keeps_thick_cores() {
        // A 4-px and a 5-px horizontal line, a 2-px vertical line, and a 20x20 block.
        let m = mask(60, 40, |x, y| {
            ((2..6).contains(&y) || (9..14).contains(&y)) && x < 30
                || (40..42).contains(&x)
                || (35..55).contains(&x) && (15..35).contains(&y)
        });
        let s = grown(m.clone(), -3);
        for x in 0..30 {
            for y in 0..9 {
                assert_eq!(at(&s, x, y), 0.0, "4-px line pixel {x},{y} survived");
            }
            // The 5-px line's centre row is exactly 3 px from outside: the half-covered edge.
            for y in 9..14 {
                let want = if y == 11 && x <= 27 { 0.5 } else { 0.0 };
                assert_eq!(at(&s, x, y), want, "5-px line pixel {x},{y}");
            }
        }
        assert_eq!(at(&s, 40, 5), 0.0);
        assert_eq!(at(&s, 45, 25), 1.0, "block centre");
        // Block edge at x=35: distance to outside 1, 2 → gone; 3 → half; 4 → kept.
        assert_eq!(at(&s, 35, 25), 0.0);
        assert_eq!(at(&s, 36, 25), 0.0);
        assert_eq!(at(&s, 37, 25), 0.5);
        assert_eq!(at(&s, 38, 25), 1.0);
        assert!(s.data.iter().zip(&m.data).all(|(a, b)| a <= b));
    }

    #[test]
    fn shrinking_does_not_eat_from_the_image_border() {
        let full = Mask::filled(10, 6, 1.0);
        assert_eq!(grown(full.clone(), -3), full);
        let left = mask(10, 6, |x, _| x < 6);
        let s = grown(left, -2);
        assert_eq!(at(&s, 0, 0), 1.0);
        assert_eq!(at(&s, 3, 3), 1.0);
        assert_eq!(at(&s, 4, 3), 0.5);
        assert_eq!(at(&s, 5, 3), 0.0);
    }

    #[test]
    fn invert_complements_and_comes_before_grow() {
        let mut m = Mask {
            width: 3,
            height: 1,
            data: vec![0.0, 0.25, f32::NAN],
        };
        apply_modifiers(
            &mut m,
            &MaskModifiers {
                invert: true,
                ..Default::default()
            },
        );
        assert_eq!(m.data, [1.0, 0.75, 1.0]);

        // Inverting a centred dot then growing shrinks the hole around it.
        let mut dot = mask(21, 21, |x, y| {
            (x as i32 - 10).pow(2) + (y as i32 - 10).pow(2) <= 25
        });
        apply_modifiers(
            &mut dot,
            &MaskModifiers {
                invert: true,
                grow: 3,
                feather: 0.0,
            },
        );
        assert_eq!(
            at(&dot, 10, 10),
            0.0,
            "the hole's centre is more than 5 px from its edge"
        );
        assert_eq!(at(&dot, 10, 15), 1.0, "the old edge is now covered");
        assert_eq!(at(&dot, 0, 0), 1.0);
    }

    #[test]
    fn feather_keeps_the_mass_and_the_symmetry() {
        let square = mask(101, 101, |x, y| {
            (40..61).contains(&x) && (40..61).contains(&y)
        });
        for feather in [1.0f32, 4.0, 10.0] {
            let mut f = square.clone();
            apply_modifiers(
                &mut f,
                &MaskModifiers {
                    feather,
                    ..Default::default()
                },
            );
            let before: f64 = square.data.iter().map(|&v| v as f64).sum();
            let after: f64 = f.data.iter().map(|&v| v as f64).sum();
            assert!(
                (after - before).abs() < 1e-3 * before,
                "{feather}: {after} vs {before}"
            );
            for y in 0..101 {
                for x in 0..101 {
                    let v = at(&f, x, y);
                    for (mx, my) in [(100 - x, y), (x, 100 - y), (y, x)] {
                        assert!((v - at(&f, mx, my)).abs() < 1e-5, "{feather}: asymmetric");
                    }
                }
            }
            // The edge softens, symmetrically about the old edge where the square is wide
            // enough for the other edges not to reach it.
            let (inside, outside) = (at(&f, 40, 50), at(&f, 39, 50));
            assert!(
                inside < 0.999 && outside > 0.001,
                "{feather}: {inside} {outside}"
            );
            if feather <= 4.0 {
                assert!(
                    (inside + outside - 1.0).abs() < 1e-3,
                    "{feather}: {inside} {outside}"
                );
                assert!(at(&f, 50, 50) > 0.999);
            }
        }
    }

    #[test]
    fn mask_from_rgba_takes_alpha_and_gray_as_is() {
        let rgba = [9u8, 9, 9, 0, 200, 100, 0, 255, 0, 0, 0, 51];
        let layout = ImageLayout::packed(3, 1, PixelFormat::Rgba8);
        let m = mask_from_view(&ImageView::new(layout, &rgba).unwrap());
        assert_eq!(m.data, [0.0, 1.0, 0.2]);
        let mut g = Vec::new();
        for v in [0.25f32, 2.0, -1.0, f32::NAN] {
            g.extend_from_slice(&v.to_ne_bytes());
        }
        let layout = ImageLayout::packed(2, 2, PixelFormat::Gray32F);
        let m = mask_from_view(&ImageView::new(layout, &g).unwrap());
        assert_eq!((m.width, m.height), (2, 2));
        assert_eq!(m.data, [0.25, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn bounds_expand_and_crop_at_the_image_edges() {
        assert_eq!(mask_bounds(&Mask::filled(5, 5, 0.0), 0.0), None);
        let mut m = Mask::filled(10, 8, 0.0);
        m.data[0] = 0.7; // top-left corner
        m.data[3 * 10 + 9] = 0.2; // right edge
        assert_eq!(
            mask_bounds(&m, 0.0),
            Some(Rect {
                x: 0,
                y: 0,
                width: 10,
                height: 4
            })
        );
        assert_eq!(
            mask_bounds(&m, 0.5),
            Some(Rect {
                x: 0,
                y: 0,
                width: 1,
                height: 1
            })
        );
        let full = Mask::filled(10, 8, 1.0);
        let all = Rect {
            x: 0,
            y: 0,
            width: 10,
            height: 8,
        };
        assert_eq!(mask_bounds(&full, 0.5), Some(all));
        assert_eq!(expand(all, 5, 10, 8), all);

        let corner = Rect {
            x: 8,
            y: 6,
            width: 2,
            height: 2,
        };
        assert_eq!(
            expand(corner, 3, 10, 8),
            Rect {
                x: 5,
                y: 3,
                width: 5,
                height: 5
            }
        );
        assert_eq!(
            expand(
                Rect {
                    x: 1,
                    y: 0,
                    width: 1,
                    height: 1
                },
                u32::MAX,
                10,
                8
            ),
            all
        );

        let img = OwnedImage {
            width: 4,
            height: 3,
            format: PixelFormat::Gray8,
            data: (0..12).collect(),
        };
        let c = crop(
            &img,
            Rect {
                x: 2,
                y: 1,
                width: 5,
                height: 5,
            },
        );
        assert_eq!((c.width, c.height), (2, 2));
        assert_eq!(c.data, [6, 7, 10, 11]);
        let outside = crop(
            &img,
            Rect {
                x: 9,
                y: 0,
                width: 2,
                height: 2,
            },
        );
        assert_eq!(
            (outside.width, outside.height, outside.data.len()),
            (0, 2, 0)
        );

        let rgba = OwnedImage::new(3, 3, PixelFormat::Rgba16);
        let c = crop(
            &rgba,
            Rect {
                x: 0,
                y: 2,
                width: 3,
                height: 1,
            },
        );
        assert_eq!((c.width, c.height, c.data.len()), (3, 1, 24));

        let mm = Mask {
            width: 4,
            height: 3,
            data: (0..12).map(|v| v as f32).collect(),
        };
        let cm = crop_mask(
            &mm,
            Rect {
                x: 3,
                y: 0,
                width: 1,
                height: 3,
            },
        );
        assert_eq!((cm.width, cm.height), (1, 3));
        assert_eq!(cm.data, [3.0, 7.0, 11.0]);
    }

    #[test]
    fn composite_mixes_per_channel_and_rounds() {
        let original = OwnedImage {
            width: 3,
            height: 1,
            format: PixelFormat::Rgba8,
            data: vec![0, 100, 200, 255, 10, 10, 10, 255, 7, 7, 7, 255],
        };
        let result = OwnedImage {
            data: vec![255, 0, 100, 255, 250, 250, 250, 255, 9, 9, 9, 255],
            ..original.clone()
        };
        let m = Mask {
            width: 3,
            height: 1,
            data: vec![0.5, 0.0, 1.5],
        };
        let out = composite_through_mask(&original, &result, &m).unwrap();
        // 0.5 * 255 = 127.5 → 128; 100 → 50; 150; outside → original; above 1 → result.
        assert_eq!(out.data, [128, 50, 150, 255, 10, 10, 10, 255, 9, 9, 9, 255]);

        let mut f = Vec::new();
        for v in [0.0f32, 1.0, 2.0, 1.0] {
            f.extend_from_slice(&v.to_ne_bytes());
        }
        let fo = OwnedImage {
            width: 1,
            height: 1,
            format: PixelFormat::Rgba32F,
            data: f,
        };
        // Opaque black result: plain per-channel mix, float not clamped.
        let fr = OwnedImage {
            data: [0.0f32, 0.0, 0.0, 1.0]
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect(),
            ..fo.clone()
        };
        let quarter = Mask::filled(1, 1, 0.25);
        let out = composite_through_mask(&fo, &fr, &quarter).unwrap();
        let vals: Vec<f32> = out
            .data
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(vals, [0.0, 0.75, 1.5, 1.0]);
    }

    #[test]
    fn composite_does_not_bleed_colour_from_transparent_pixels() {
        // Opaque red photo, fully transparent black result (e.g. a cut-out's background).
        let original = OwnedImage {
            width: 1,
            height: 1,
            format: PixelFormat::Rgba16,
            data: [65535u16, 0, 0, 65535]
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect(),
        };
        let result = OwnedImage::new(1, 1, PixelFormat::Rgba16);
        let out = composite_through_mask(&original, &result, &Mask::filled(1, 1, 0.5)).unwrap();
        let px: Vec<u16> = out
            .data
            .chunks_exact(2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(px, [65535, 0, 0, 32768], "still red, half transparent");
    }

    #[test]
    fn composite_refuses_mismatched_inputs() {
        let a = OwnedImage::new(4, 4, PixelFormat::Rgba8);
        let b = OwnedImage::new(4, 3, PixelFormat::Rgba8);
        let m = Mask::filled(4, 4, 1.0);
        let err = composite_through_mask(&a, &b, &m).unwrap_err();
        assert!(
            matches!(err, ImagingError::SizeMismatch { what: "result", .. }),
            "{err}"
        );
        let c = OwnedImage::new(4, 4, PixelFormat::Rgba16);
        assert!(matches!(
            composite_through_mask(&a, &c, &m),
            Err(ImagingError::FormatMismatch { .. })
        ));
        let small = Mask::filled(2, 2, 1.0);
        let err = composite_through_mask(&a, &a, &small).unwrap_err();
        assert!(matches!(
            err,
            ImagingError::SizeMismatch { what: "mask", .. }
        ));
        assert_eq!(err.code(), easel_protocol::Code::InvalidInput);
    }

    #[test]
    fn bilinear_resize_is_identity_at_the_same_size_and_interpolates() {
        let m = Mask {
            width: 3,
            height: 2,
            data: vec![0.0, 0.5, 1.0, 1.0, 0.5, 0.0],
        };
        assert_eq!(resize_mask_bilinear(&m, 3, 2), m);
        let row = Mask {
            width: 2,
            height: 1,
            data: vec![0.0, 1.0],
        };
        let up = resize_mask_bilinear(&row, 4, 1);
        assert_eq!(up.data, [0.0, 0.25, 0.75, 1.0]);
        let down = resize_mask_bilinear(&Mask::filled(8, 8, 0.75), 3, 5);
        assert_eq!((down.width, down.height), (3, 5));
        assert!(down.data.iter().all(|&v| v == 0.75));
        assert_eq!(resize_mask_bilinear(&m, 0, 4).data.len(), 0);
    }
}

//! Structure before texture: the coarsest level's first fill by exemplar-based inpainting in
//! the order of Criminisi, Pérez and Toyama (2004), so that edges reaching the hole's rim are
//! continued into it before the multi-scale PatchMatch adds texture.
//!
//! Each step takes the fill-front pixel of highest priority `P = C · (D + ε)`: `C` is the mean
//! confidence over its patch (1 for known pixels, and each filled pixel keeps the confidence of
//! the patch that filled it), `D` the strength of the isophote arriving there (the strongest
//! known gradient in the patch, turned 90°, against the front's normal). Its patch's missing
//! pixels are copied from the source patch that best matches its known pixels. Matching only on
//! known pixels picks sources from the same side of a boundary as the rim pixels they continue,
//! and the order carries boundaries inwards along their direction, where a diffusion start blurs
//! them and a blurred start draws flat patches.

use super::patchmatch::{Field, Level, CH};

/// Added to the data term so that flat regions (no isophote) still fill, by confidence alone.
const DATA_FLOOR: f32 = 0.02;

/// Fills `level`'s hole in place (the first 3 channels) and returns true, or returns false and
/// leaves it untouched when the field has no source patch. `field` is `level`'s field (its
/// valid source centres are the candidates). Sources are searched within `window` pixels of
/// the front pixel (the whole level when that covers it).
pub fn priority_fill(level: &mut Level, field: &Field, window: usize) -> bool {
    let (w, h, r) = (level.w, level.h, field.r);
    if field.sources.is_empty() || w <= 2 * r || h <= 2 * r {
        return false;
    }
    let mut filled: Vec<bool> = level.hole.iter().map(|&b| !b).collect();
    let mut conf: Vec<f32> = filled.iter().map(|&k| k as u8 as f32).collect();
    let mut lum: Vec<f32> = level
        .img
        .chunks_exact(CH)
        .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
        .collect();
    let mut remaining = filled.iter().filter(|&&k| !k).count();
    let (ri, wi, hi) = (r as isize, w as isize, h as isize);
    let at = |x: isize, y: isize| (y * wi + x) as usize;
    let win = window.max(r + 1) as isize;
    // Unfilled pixels only ever lie in the hole's box.
    let Some((bx0, by0, bx1, by1)) = super::hole_bounds(&level.hole, w, h) else {
        return true;
    };
    let (bx0, by0, bx1, by1) = (bx0 as isize, by0 as isize, bx1 as isize, by1 as isize);
    while remaining > 0 {
        // The front: unfilled pixels with a filled 8-neighbour.
        let mut best: Option<(f32, usize)> = None;
        for y in by0..by1 {
            for x in bx0..bx1 {
                let p = at(x, y);
                if filled[p] {
                    continue;
                }
                // Normal of the front: the gradient of the filled indicator (3×3 Sobel).
                let f = |dx: isize, dy: isize| {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= wi || ny >= hi {
                        0.0
                    } else {
                        filled[at(nx, ny)] as u8 as f32
                    }
                };
                let any = (-1..=1).any(|dy| (-1..=1).any(|dx| f(dx, dy) > 0.0));
                if !any {
                    continue;
                }
                let nx = f(1, -1) + 2.0 * f(1, 0) + f(1, 1) - f(-1, -1) - 2.0 * f(-1, 0) - f(-1, 1);
                let ny = f(-1, 1) + 2.0 * f(0, 1) + f(1, 1) - f(-1, -1) - 2.0 * f(0, -1) - f(1, -1);
                let nn = (nx * nx + ny * ny).sqrt();
                let (nx, ny) = if nn > 0.0 {
                    (nx / nn, ny / nn)
                } else {
                    (0.0, 0.0)
                };
                let (mut csum, mut gbest, mut data) = (0.0f32, 0.0f32, 0.0f32);
                for dy in -ri..=ri {
                    for dx in -ri..=ri {
                        let (qx, qy) = (x + dx, y + dy);
                        if qx < 0 || qy < 0 || qx >= wi || qy >= hi {
                            continue;
                        }
                        let q = at(qx, qy);
                        if !filled[q] {
                            continue;
                        }
                        csum += conf[q];
                        // Central differences where both neighbours are filled.
                        let g = |ax: isize, ay: isize, bx: isize, by: isize| {
                            if ax < 0 || ay < 0 || bx >= wi || by >= hi {
                                return 0.0;
                            }
                            let (a, b) = (at(ax, ay), at(bx, by));
                            if filled[a] && filled[b] {
                                (lum[b] - lum[a]) * 0.5
                            } else {
                                0.0
                            }
                        };
                        let gx = g(qx - 1, qy, qx + 1, qy);
                        let gy = g(qx, qy - 1, qx, qy + 1);
                        let m = gx * gx + gy * gy;
                        if m > gbest {
                            gbest = m;
                            // Isophote (−gy, gx) against the normal.
                            data = (-gy * nx + gx * ny).abs();
                        }
                    }
                }
                let c = csum / ((2 * r + 1) * (2 * r + 1)) as f32;
                let pr = c * (data + DATA_FLOOR);
                if best.is_none_or(|(b, _)| pr > b) {
                    best = Some((pr, p));
                }
            }
        }
        let Some((_, p)) = best else {
            break;
        };
        let (px, py) = ((p % w) as isize, (p / w) as isize);
        // The best source for the patch's filled pixels, within the window.
        let (x0, x1) = ((px - win).max(ri), (px + win).min(wi - 1 - ri));
        let (y0, y1) = ((py - win).max(ri), (py + win).min(hi - 1 - ri));
        let offsets: Vec<(isize, isize, bool)> = (-ri..=ri)
            .flat_map(|dy| (-ri..=ri).map(move |dx| (dx, dy)))
            .filter(|&(dx, dy)| {
                let (qx, qy) = (px + dx, py + dy);
                qx >= 0 && qy >= 0 && qx < wi && qy < hi
            })
            .map(|(dx, dy)| (dx, dy, filled[at(px + dx, py + dy)]))
            .collect();
        let mut choice: Option<(f32, usize)> = None;
        for sy in y0..=y1 {
            for sx in x0..=x1 {
                let s = at(sx, sy);
                if !field.valid[s] {
                    continue;
                }
                let bound = choice.map_or(f32::INFINITY, |(d, _)| d);
                let mut d = 0.0f32;
                for &(dx, dy, known) in &offsets {
                    if !known {
                        continue;
                    }
                    let (a, b) = (at(px + dx, py + dy) * CH, at(sx + dx, sy + dy) * CH);
                    for k in 0..3 {
                        let e = level.img[a + k] - level.img[b + k];
                        d += e * e;
                    }
                    if d >= bound {
                        break;
                    }
                }
                if d < bound {
                    choice = Some((d, s));
                }
            }
        }
        // No source in the window (a level narrower than a patch and its window): widen.
        let s = match choice {
            Some((_, s)) => s,
            None if win < wi.max(hi) => {
                return priority_fill(level, field, wi.max(hi) as usize);
            }
            None => return false,
        };
        let (sx, sy) = ((s % w) as isize, (s / w) as isize);
        let c = {
            let mut csum = 0.0;
            for &(dx, dy, known) in &offsets {
                if known {
                    csum += conf[at(px + dx, py + dy)];
                }
            }
            csum / ((2 * r + 1) * (2 * r + 1)) as f32
        };
        for &(dx, dy, known) in &offsets {
            if known {
                continue;
            }
            let (q, src) = (at(px + dx, py + dy), at(sx + dx, sy + dy));
            let (a, b) = (q * CH, src * CH);
            for k in 0..3 {
                level.img[a + k] = level.img[b + k];
            }
            lum[q] = lum[src];
            filled[q] = true;
            conf[q] = c;
            remaining -= 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level_from(w: usize, h: usize, f: &dyn Fn(usize, usize) -> [f32; 3]) -> Level {
        let mut img = vec![0.0f32; w * h * CH];
        for y in 0..h {
            for x in 0..w {
                img[(y * w + x) * CH..(y * w + x) * CH + 3].copy_from_slice(&f(x, y));
            }
        }
        Level {
            w,
            h,
            img,
            hole: vec![false; w * h],
        }
    }

    #[test]
    fn a_straight_edge_is_continued_through_the_hole() {
        // Dark left of x = 20, light right of it, a square hole over the edge: each hole pixel
        // must come from its own side of the edge (diffusion would give grey in between).
        let (w, h) = (48, 40);
        let mut l = level_from(w, h, &|x, _| if x < 20 { [0.1; 3] } else { [0.9; 3] });
        let truth = l.img.clone();
        for y in 12..28 {
            for x in 12..28 {
                l.hole[y * w + x] = true;
                l.img[(y * w + x) * CH..(y * w + x) * CH + 3].fill(0.5);
            }
        }
        let field = Field::new(&l, 3);
        assert!(priority_fill(&mut l, &field, 64));
        let wrong = (0..w * h)
            .filter(|&i| l.hole[i] && (l.img[i * CH] - truth[i * CH]).abs() > 0.05)
            .count();
        assert_eq!(wrong, 0, "{wrong} hole pixels from the wrong side");
    }

    #[test]
    fn known_pixels_stay_and_every_hole_pixel_is_filled_from_the_image() {
        let (w, h) = (40, 36);
        let mut l = level_from(w, h, &|x, y| {
            [(x % 5) as f32 / 4.0, (y % 3) as f32 / 2.0, 0.25]
        });
        let before = l.img.clone();
        for y in 10..24 {
            for x in 8..30 {
                if (x + y) % 3 != 0 {
                    l.hole[y * w + x] = true;
                    l.img[(y * w + x) * CH..(y * w + x) * CH + 3].fill(7.0);
                }
            }
        }
        let field = Field::new(&l, 2);
        assert!(priority_fill(&mut l, &field, 8));
        for i in 0..w * h {
            if l.hole[i] {
                assert!(l.img[i * CH..i * CH + 3].iter().all(|&v| v <= 1.0));
            } else {
                assert_eq!(l.img[i * CH..i * CH + 3], before[i * CH..i * CH + 3]);
            }
        }
        // No source patch at all: refused, nothing changed.
        let mut all = level_from(12, 12, &|_, _| [0.5; 3]);
        all.hole.fill(true);
        let f = Field::new(&all, 2);
        let copy = all.img.clone();
        assert!(!priority_fill(&mut all, &f, 8));
        assert_eq!(all.img, copy);
    }
}

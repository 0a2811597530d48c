//! The mean over a square window clipped to the image (the mean of the pixels inside), per
//! channel of an interleaved f32 plane, in O(1) per pixel whatever the radius.

/// Mean over the `(2 radius + 1)²` window clipped to the image, per channel of a packed,
/// interleaved `width` × `height` plane of `channels` samples per pixel, in place.
///
/// Separable running sums: rows, then columns. The sums are kept in f64 so adding and removing
/// thousands of samples does not drift. A radius of 0 leaves `data` as it is.
///
/// # Panics
/// When `data.len() != width * height * channels`: the caller's sizes are wrong.
pub fn box_mean_in_place(data: &mut [f32], size: (usize, usize), channels: usize, radius: usize) {
    box_mean_in_place_threads(data, size, channels, radius, 1);
}

/// [`box_mean_in_place`] on up to `threads` threads: rows split into bands for the horizontal
/// pass, columns into strips for the vertical one. Every sample is summed in the same order
/// whatever the split, so the result is bit for bit the single-threaded one.
///
/// # Panics
/// When `data.len() != width * height * channels`: the caller's sizes are wrong.
pub fn box_mean_in_place_threads(
    data: &mut [f32],
    (width, height): (usize, usize),
    channels: usize,
    radius: usize,
    threads: usize,
) {
    assert_eq!(
        data.len(),
        width * height * channels,
        "box_mean: {width}x{height}x{channels} needs that many samples"
    );
    if width == 0 || height == 0 || channels == 0 || radius == 0 {
        return;
    }
    let row_len = width * channels;
    // Below ~64k samples a thread costs more than it saves.
    let threads = threads.clamp(1, (data.len() >> 16).max(1)).min(height);
    let rx = radius.min(width - 1);
    if threads == 1 {
        horizontal(data, width, channels, rx);
    } else {
        let band = height.div_ceil(threads) * row_len;
        std::thread::scope(|scope| {
            for rows in data.chunks_mut(band) {
                scope.spawn(move || horizontal(rows, width, channels, rx));
            }
        });
    }

    let ry = radius.min(height - 1);
    let mut rows: Vec<&mut [f32]> = data.chunks_exact_mut(row_len).collect();
    if threads == 1 {
        vertical(&mut rows, ry);
        return;
    }
    // Each thread gets the same sample range of every row.
    let strip = row_len.div_ceil(threads);
    let mut strips: Vec<Vec<&mut [f32]>> =
        (0..threads).map(|_| Vec::with_capacity(height)).collect();
    for row in rows {
        let mut rest = row;
        for s in strips.iter_mut() {
            let (part, tail) = rest.split_at_mut(strip.min(rest.len()));
            s.push(part);
            rest = tail;
        }
    }
    std::thread::scope(|scope| {
        for mut s in strips {
            if s.first().is_some_and(|r| !r.is_empty()) {
                scope.spawn(move || vertical(&mut s, ry));
            }
        }
    });
}

/// The horizontal pass over whole rows: each row from a copy of itself.
fn horizontal(data: &mut [f32], width: usize, c: usize, rx: usize) {
    let row_len = width * c;
    let mut row_copy = vec![0.0f32; row_len];
    let mut acc = vec![0.0f64; c];
    for row in data.chunks_exact_mut(row_len) {
        row_copy.copy_from_slice(row);
        acc.iter_mut().for_each(|a| *a = 0.0);
        for x in 0..=rx {
            for (a, &v) in acc.iter_mut().zip(&row_copy[x * c..][..c]) {
                *a += f64::from(v);
            }
        }
        for x in 0..width {
            let count = ((x + rx).min(width - 1) - x.saturating_sub(rx) + 1) as f64;
            for (o, a) in row[x * c..][..c].iter_mut().zip(&acc) {
                *o = (a / count) as f32;
            }
            if x + rx + 1 < width {
                for (a, &v) in acc.iter_mut().zip(&row_copy[(x + rx + 1) * c..][..c]) {
                    *a += f64::from(v);
                }
            }
            if x >= rx {
                for (a, &v) in acc.iter_mut().zip(&row_copy[(x - rx) * c..][..c]) {
                    *a -= f64::from(v);
                }
            }
        }
    }
}

/// The vertical pass over the same sample range of every row: a running sum of whole rows.
/// Row y is overwritten at step y but subtracted only at step y + r, so the last r + 1
/// original rows are kept in a ring.
fn vertical(rows: &mut [&mut [f32]], ry: usize) {
    let height = rows.len();
    let row_len = rows.first().map_or(0, |r| r.len());
    let ring_rows = ry + 1;
    let mut ring = vec![0.0f32; ring_rows * row_len];
    let mut acc = vec![0.0f64; row_len];
    for row in rows.iter().take(ry + 1) {
        for (a, &v) in acc.iter_mut().zip(row.iter()) {
            *a += f64::from(v);
        }
    }
    for y in 0..height {
        let count = ((y + ry).min(height - 1) - y.saturating_sub(ry) + 1) as f64;
        let slot = (y % ring_rows) * row_len;
        ring[slot..slot + row_len].copy_from_slice(rows[y]);
        for (o, a) in rows[y].iter_mut().zip(&acc) {
            *o = (a / count) as f32;
        }
        if y + ry + 1 < height {
            for (a, &v) in acc.iter_mut().zip(rows[y + ry + 1].iter()) {
                *a += f64::from(v);
            }
        }
        if y >= ry {
            let old = ((y - ry) % ring_rows) * row_len;
            for (a, &v) in acc.iter_mut().zip(&ring[old..old + row_len]) {
                *a -= f64::from(v);
            }
        }
    }
}

/// [`box_mean_in_place`] into a new buffer.
pub fn box_mean(src: &[f32], size: (usize, usize), channels: usize, radius: usize) -> Vec<f32> {
    let mut out = src.to_vec();
    box_mean_in_place(&mut out, size, channels, radius);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[f32], w: usize, h: usize, c: usize, r: usize) -> Vec<f32> {
        let mut out = vec![0.0; data.len()];
        for y in 0..h {
            for x in 0..w {
                let (y0, y1) = (y.saturating_sub(r), (y + r).min(h - 1));
                let (x0, x1) = (x.saturating_sub(r), (x + r).min(w - 1));
                let n = ((y1 - y0 + 1) * (x1 - x0 + 1)) as f32;
                for ch in 0..c {
                    let mut s = 0.0;
                    for yy in y0..=y1 {
                        for xx in x0..=x1 {
                            s += data[(yy * w + xx) * c + ch];
                        }
                    }
                    out[(y * w + x) * c + ch] = s / n;
                }
            }
        }
        out
    }

    #[test]
    fn box_mean_of_a_constant_is_the_constant_and_clips_at_edges() {
        let src = vec![0.25f32; 7 * 5 * 2];
        assert!(box_mean(&src, (7, 5), 2, 3)
            .iter()
            .all(|v| (v - 0.25).abs() < 1e-6));
        let ramp = [0.0f32, 1.0, 2.0, 3.0];
        assert_eq!(box_mean(&ramp, (4, 1), 1, 1), [0.5, 1.0, 2.0, 2.5]);
    }

    #[test]
    fn threads_give_the_single_threaded_result_bit_for_bit() {
        // Sizes where bands and strips do not divide evenly; enough samples to use threads.
        for (w, h, c, r) in [(301, 257, 7, 45), (257, 301, 3, 3), (640, 103, 1, 200)] {
            let data: Vec<f32> = (0..w * h * c)
                .map(|i| ((i * 7919) % 1009) as f32 / 1000.0)
                .collect();
            let mut one = data.clone();
            box_mean_in_place(&mut one, (w, h), c, r);
            for threads in [2, 3, 8] {
                let mut many = data.clone();
                box_mean_in_place_threads(&mut many, (w, h), c, r, threads);
                assert!(
                    one.iter()
                        .zip(&many)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{w}x{h}x{c} r {r} on {threads} threads"
                );
            }
        }
    }

    #[test]
    fn running_sums_match_the_direct_sum() {
        let (w, h) = (23, 17);
        for c in [1, 2, 7] {
            let data: Vec<f32> = (0..w * h * c)
                .map(|i| ((i * 7919) % 101) as f32 / 100.0)
                .collect();
            // Radii smaller than, equal to and larger than the image.
            for r in [1, 3, 8, 16, 40] {
                let fast = box_mean(&data, (w, h), c, r);
                let slow = naive(&data, w, h, c, r);
                for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                    assert!((a - b).abs() < 1e-5, "c={c} r={r} i={i}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn zero_radius_single_rows_and_empty_planes_are_safe() {
        let mut d = vec![1.0, 2.0, 3.0];
        box_mean_in_place(&mut d, (3, 1), 1, 0);
        assert_eq!(d, vec![1.0, 2.0, 3.0]);
        box_mean_in_place(&mut d, (3, 1), 1, 1);
        assert!((d[0] - 1.5).abs() < 1e-6 && (d[1] - 2.0).abs() < 1e-6);
        assert!(box_mean(&[], (0, 4), 3, 2).is_empty());
    }
}

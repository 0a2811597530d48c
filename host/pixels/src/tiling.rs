//! Tiling, the one planner for host and plugins: overlapping spans of about equal length along
//! an axis ([`spans`], with an alignment for models that need one), the owned part of each span
//! ([`cores`], a partition of the axis), and a blender for planar f32 tiles ([`Blender`]) with
//! feathered weights. The host tiles jobs with it (`easel_imaging::tiling::plan`); plugins tile
//! model calls (enhance's upscalers), so one call stays bounded in memory and time.

/// A tile along one axis: `start..start + len` in input pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

/// Covers `0..len` with evenly spread spans of about equal length, at most `tile` (rounded up
/// to `multiple`), neighbours overlapping by at least `overlap`; the first starts at 0 and the
/// last ends at `len`.
///
/// Every span's length is a multiple of `multiple` when `len` is at least that, so a model that
/// needs aligned sizes (Swin2SR: 8) sees real pixels at the image's edges instead of padding:
/// an unaligned axis is covered by two or more aligned spans. Shorter axes get one span.
pub fn spans(len: usize, tile: usize, overlap: usize, multiple: usize) -> Vec<Span> {
    let m = multiple.max(1);
    let round_up = |n: usize| n.div_ceil(m) * m;
    let tile = round_up(tile.max(overlap + m));
    if len < m || (len <= tile && len.is_multiple_of(m)) {
        return vec![Span { start: 0, len }];
    }
    let mut n = len.saturating_sub(overlap).div_ceil(tile - overlap).max(1);
    if !len.is_multiple_of(m) {
        n = n.max(2);
    }
    // Long enough that n spans overlap by `overlap`, short enough to fit in the axis.
    let span = round_up((len + (n - 1) * overlap).div_ceil(n)).min(len / m * m);
    let room = len - span;
    (0..n)
        .map(|i| Span {
            // Evenly spread, rounded to the nearest pixel; the last lands exactly on `room`.
            start: (i * room + (n - 1) / 2) / (n - 1).max(1),
            len: span,
        })
        .collect()
}

/// Feather weight of position `i` in a span of `len` samples: ramps up over `ramp` samples on
/// each side that touches another tile (`lo`/`hi`), 1 elsewhere. Never 0, so every output pixel
/// has weight even where only one tile's ramp reaches.
fn feather(i: usize, len: usize, ramp: usize, lo: bool, hi: bool) -> f32 {
    if ramp == 0 {
        return 1.0;
    }
    let mut w: f32 = 1.0;
    if lo {
        w = w.min((i as f32 + 0.5) / ramp as f32);
    }
    if hi {
        w = w.min(((len - i) as f32 - 0.5) / ramp as f32);
    }
    w.clamp(1e-3, 1.0)
}

/// Accumulates scaled tiles of a planar image and gives back their weighted mean.
pub struct Blender {
    planes: usize,
    width: usize,
    height: usize,
    scale: usize,
    /// Ramp width in output pixels.
    ramp: usize,
    sum: Vec<f32>,
    weight: Vec<f32>,
}

impl Blender {
    /// An output of `width` × `height` input pixels times `scale`.
    pub fn new(planes: usize, width: usize, height: usize, scale: usize, overlap: usize) -> Self {
        let (ow, oh) = (width * scale, height * scale);
        Blender {
            planes,
            width,
            height,
            scale,
            ramp: overlap * scale,
            sum: vec![0.0; planes * ow * oh],
            weight: vec![0.0; ow * oh],
        }
    }

    /// Adds the scaled result of the tile at input spans `x`, `y` (planar, `len × scale` each).
    pub fn place(&mut self, x: Span, y: Span, tile: &[f32]) {
        let s = self.scale;
        let (ow, oh) = (self.width * s, self.height * s);
        let (tw, th) = (x.len * s, y.len * s);
        debug_assert_eq!(tile.len(), self.planes * tw * th);
        let (x0, y0) = (x.start * s, y.start * s);
        let (left, right) = (x.start > 0, x.start + x.len < self.width);
        let (top, bottom) = (y.start > 0, y.start + y.len < self.height);
        let wx: Vec<f32> = (0..tw)
            .map(|i| feather(i, tw, self.ramp, left, right))
            .collect();
        for ty in 0..th {
            let wy = feather(ty, th, self.ramp, top, bottom);
            let row = (y0 + ty) * ow + x0;
            for (tx, &wxv) in wx.iter().enumerate() {
                let w = wxv * wy;
                self.weight[row + tx] += w;
                for p in 0..self.planes {
                    self.sum[p * ow * oh + row + tx] += w * tile[p * tw * th + ty * tw + tx];
                }
            }
        }
    }

    /// The blended planar output.
    pub fn finish(mut self) -> Vec<f32> {
        let n = self.weight.len();
        for p in 0..self.planes {
            for (v, w) in self.sum[p * n..(p + 1) * n].iter_mut().zip(&self.weight) {
                if *w > 0.0 {
                    *v /= w;
                }
            }
        }
        self.sum
    }
}

/// The part of the axis each span owns: consecutive spans split their overlap at its middle, so
/// the parts partition `0..len` in order and each keeps at least half the overlap as context on
/// its inner sides. `spans` must be ordered and cover the axis (as [`spans`] gives them).
pub fn cores(spans: &[Span]) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(spans.len());
    let mut start = spans.first().map_or(0, |s| s.start);
    for (i, s) in spans.iter().enumerate() {
        let end = match spans.get(i + 1) {
            // The middle of the overlap [next.start, s.end) (or of the gap, if any).
            Some(next) => (next.start + s.start + s.len).div_ceil(2).max(start),
            None => s.start + s.len,
        };
        out.push((start, end));
        start = end;
    }
    out
}

/// Copies the planar sub-image at spans `x`, `y` out of a `width`-wide planar image.
pub fn crop_planar(
    src: &[f32],
    (width, height): (usize, usize),
    planes: usize,
    x: Span,
    y: Span,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(planes * x.len * y.len);
    for p in 0..planes {
        let plane = &src[p * width * height..(p + 1) * width * height];
        for row in y.start..y.start + y.len {
            out.extend_from_slice(&plane[row * width + x.start..][..x.len]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_the_axis_with_the_overlap_and_end_flush() {
        assert_eq!(spans(50, 64, 8, 1), [Span { start: 0, len: 50 }]);
        assert_eq!(spans(48, 64, 8, 8), [Span { start: 0, len: 48 }]);
        assert_eq!(spans(5, 64, 8, 8), [Span { start: 0, len: 5 }]);
        for (len, tile, overlap, m) in [
            (300, 128, 16, 1),
            (129, 128, 16, 1),
            (1000, 256, 16, 1),
            (97, 32, 8, 1),
            (62, 128, 16, 8),
            (160, 128, 16, 8),
            (576, 128, 16, 8),
            (300, 128, 16, 8),
            (9, 128, 16, 8),
        ] {
            let s = spans(len, tile, overlap, m);
            let case = format!("{len} {tile} {overlap} {m}: {s:?}");
            assert_eq!(s[0].start, 0, "{case}");
            assert_eq!(s.last().map(|s| s.start + s.len), Some(len), "{case}");
            let span = s[0].len;
            assert!(s.iter().all(|s| s.len == span && s.len % m == 0), "{case}");
            assert!(span <= tile.div_ceil(m) * m, "{case}");
            for pair in s.windows(2) {
                assert!(pair[1].start > pair[0].start, "{case}");
                let shared = pair[0].start + pair[0].len - pair[1].start;
                // Axes too short for spans of `overlap` overlap as much as they can.
                let least = if span == len / m * m { 1 } else { overlap };
                assert!(shared >= least, "{case}");
            }
        }
        // Balanced: a 160-px axis is two spans, not one full span and a sliver.
        assert_eq!(spans(160, 128, 16, 8).len(), 2);
        assert_eq!(spans(160, 128, 16, 8)[0].len, 88);
    }

    #[test]
    fn cores_partition_the_axis_and_keep_half_the_overlap_as_context() {
        for (len, tile, overlap) in [(1000, 256, 32), (513, 512, 64), (10, 4, 0), (64, 512, 32)] {
            let s = spans(len, tile, overlap, 1);
            let c = cores(&s);
            let case = format!("{len} {tile} {overlap}: {s:?} {c:?}");
            assert_eq!(c.len(), s.len(), "{case}");
            assert_eq!(c[0].0, 0, "{case}");
            assert_eq!(c.last().map(|c| c.1), Some(len), "{case}");
            for (i, (&(a, b), span)) in c.iter().zip(&s).enumerate() {
                assert!(a < b || len == 0, "{case}");
                assert!(span.start <= a && b <= span.start + span.len, "{case}");
                if i > 0 {
                    assert_eq!(c[i - 1].1, a, "{case}");
                    assert!(a - span.start >= overlap / 2, "{case}");
                }
                if i + 1 < c.len() {
                    assert!(span.start + span.len - b >= overlap / 2, "{case}");
                }
            }
        }
        assert_eq!(cores(&spans(10, 4, 0, 1)), [(0, 4), (4, 7), (7, 10)]);
    }

    #[test]
    fn blending_identical_tiles_reproduces_the_image() {
        // A "model" that scales by 2 with nearest neighbour: tiled and blended, the result must
        // equal the untiled one exactly (up to rounding of the weights).
        let (w, h) = (37, 29);
        let img: Vec<f32> = (0..2 * w * h).map(|i| (i % 97) as f32 / 97.0).collect();
        let up = |src: &[f32], tw: usize, th: usize| -> Vec<f32> {
            let mut out = Vec::new();
            for p in 0..2 {
                for y in 0..2 * th {
                    for x in 0..2 * tw {
                        out.push(src[p * tw * th + (y / 2) * tw + x / 2]);
                    }
                }
            }
            out
        };
        let whole = up(&img, w, h);
        let mut b = Blender::new(2, w, h, 2, 6);
        for y in spans(h, 12, 6, 1) {
            for x in spans(w, 16, 6, 4) {
                let tile = crop_planar(&img, (w, h), 2, x, y);
                b.place(x, y, &up(&tile, x.len, y.len));
            }
        }
        let blended = b.finish();
        assert_eq!(blended.len(), whole.len());
        for (a, b) in blended.iter().zip(&whole) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}

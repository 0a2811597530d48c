//! One separable resampler for interleaved f32 planes and for 8-bit images.
//!
//! Pixel centres sit at `i + 0.5`. Each output sample is a weighted sum of the source samples
//! under the filter centred on it; taps outside the image are dropped and the rest renormalised
//! (edges clamped, as Pillow does). [`resize`] stretches the kernel by the shrink factor, so
//! downscaling averages instead of aliasing (Pillow's and image-rs's behaviour); [`interpolate`]
//! never stretches it (plain bilinear or bicubic interpolation at any scale). Rows are resampled
//! first, then columns; an axis whose size does not change is not resampled at all.
//!
//! Arithmetic: weights in f64, normalised, stored as f32. [`resize`] sums `Σ w_k v_k` in f32 from
//! the first tap on, bit for bit as the plugins' kernels it replaces did, and the same bits on
//! every CPU (plain scalar code; the compiler may vectorise across pixels, never reorder a sum).
//! That matters: IS-Net's quantised model moves its mask on a fixture photo to IoU 0.97 against
//! the previous one when its input changes by at most 2.4e-7, a few ulps (benches/README.md,
//! "Resampling and box means"). A constant stays constant to within an ulp. [`interpolate`] sums relative to the first tap,
//! `v0 + Σ w_k (v_k − v0)` (the lerp form of the host's mask resizing it replaces), so a constant
//! stays exactly constant.
//!
//! 8-bit images ([`resize_u8`]) go through Pillow's fixed-point arithmetic, bit for bit.

use std::fmt;

/// The reconstruction filter of a resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// The source sample under the output pixel's centre.
    Nearest,
    /// Box over the source footprint: the area average when shrinking.
    Area,
    /// Triangle: bilinear when enlarging, Pillow-style `BILINEAR` (every source pixel counted)
    /// when shrinking through [`resize`].
    Bilinear,
    /// Catmull-Rom cubic (a = −0.5, Pillow's `BICUBIC` and image-rs's `CatmullRom`); overshoots
    /// a little at edges.
    CatmullRom,
    /// Lanczos with three lobes (Pillow's `LANCZOS`); overshoots at edges.
    Lanczos3,
}

impl Filter {
    /// Half-width of the kernel in source pixels, before stretching.
    fn support(self) -> f64 {
        match self {
            Filter::Nearest | Filter::Area => 0.5,
            Filter::Bilinear => 1.0,
            Filter::CatmullRom => 2.0,
            Filter::Lanczos3 => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            // Half-open so that a pixel exactly on the boundary is not counted by both outputs.
            Filter::Nearest | Filter::Area => f64::from(u8::from(x.abs() < 0.5)),
            Filter::Bilinear => (1.0 - x.abs()).max(0.0),
            Filter::CatmullRom => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos3 => lanczos3(x),
        }
    }
}

/// Pillow's Lanczos kernel (`lanczos_filter` in libImaging/Resample.c), support 3.
fn lanczos3(x: f64) -> f64 {
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

/// Why a slice cannot be read as a [`Plane`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaneError {
    /// Zero channels per pixel.
    NoChannels,
    /// A row needs `row` samples but rows start only `stride` samples apart.
    StrideTooShort { row: usize, stride: usize },
    /// The sizes need `needed` samples (exactly, for a packed plane) but the slice holds `len`.
    Length { needed: usize, len: usize },
    /// The sizes overflow `usize`.
    Overflow,
}

impl fmt::Display for PlaneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaneError::NoChannels => write!(f, "a plane needs at least one channel"),
            PlaneError::StrideTooShort { row, stride } => {
                write!(
                    f,
                    "row stride {stride} is shorter than a row of {row} samples"
                )
            }
            PlaneError::Length { needed, len } => {
                write!(f, "plane needs {needed} samples, the slice holds {len}")
            }
            PlaneError::Overflow => write!(f, "plane size overflows"),
        }
    }
}

impl std::error::Error for PlaneError {}

/// A read-only image of `width` × `height` pixels, `channels` interleaved f32 samples each, rows
/// `stride` samples apart. Constructed only through the checked [`Plane::packed`] and
/// [`Plane::strided`], so every row it names lies inside its slice.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    data: &'a [f32],
    width: usize,
    height: usize,
    channels: usize,
    stride: usize,
}

impl<'a> Plane<'a> {
    /// A tightly packed plane: `data.len()` must be exactly `width * height * channels`.
    pub fn packed(
        data: &'a [f32],
        (width, height): (usize, usize),
        channels: usize,
    ) -> Result<Self, PlaneError> {
        let needed = width
            .checked_mul(height)
            .and_then(|n| n.checked_mul(channels))
            .ok_or(PlaneError::Overflow)?;
        if data.len() != needed {
            return Err(PlaneError::Length {
                needed,
                len: data.len(),
            });
        }
        Self::strided(data, (width, height), channels, width * channels)
    }

    /// A plane whose rows start `stride` samples apart (`stride >= width * channels`); the slice
    /// may end right after the last pixel of the last row.
    pub fn strided(
        data: &'a [f32],
        (width, height): (usize, usize),
        channels: usize,
        stride: usize,
    ) -> Result<Self, PlaneError> {
        if channels == 0 {
            return Err(PlaneError::NoChannels);
        }
        let row = width.checked_mul(channels).ok_or(PlaneError::Overflow)?;
        if stride < row {
            return Err(PlaneError::StrideTooShort { row, stride });
        }
        let needed = if width == 0 || height == 0 {
            0
        } else {
            (height - 1)
                .checked_mul(stride)
                .and_then(|n| n.checked_add(row))
                .ok_or(PlaneError::Overflow)?
        };
        if data.len() < needed {
            return Err(PlaneError::Length {
                needed,
                len: data.len(),
            });
        }
        Ok(Plane {
            data,
            width,
            height,
            channels,
            stride,
        })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Samples from the start of one row to the start of the next.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `y`: `width * channels` samples.
    fn row(&self, y: usize) -> &'a [f32] {
        &self.data[y * self.stride..][..self.width * self.channels]
    }
}

/// One output sample's taps along an axis: the first source index and the normalised weights
/// (zero weights trimmed from both ends; at least one weight).
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

/// Taps for `dst` samples over `src` samples (both non-zero); the kernel is stretched by the
/// shrink factor when `antialias`.
fn axis_taps(filter: Filter, src: usize, dst: usize, antialias: bool) -> Vec<Taps> {
    let scale = src as f64 / dst as f64;
    if filter == Filter::Nearest {
        return (0..dst)
            .map(|i| Taps {
                start: (((i as f64 + 0.5) * scale) as usize).min(src - 1),
                weights: vec![1.0],
            })
            .collect();
    }
    let stretch = if antialias { scale.max(1.0) } else { 1.0 };
    let support = filter.support() * stretch;
    (0..dst)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = (center - support).floor().max(0.0) as usize;
            let hi = ((center + support).ceil() as usize).clamp(lo + 1, src);
            let mut raw: Vec<f64> = (lo..hi)
                .map(|j| filter.weight((j as f64 + 0.5 - center) / stretch))
                .collect();
            let mut sum: f64 = raw.iter().sum();
            if sum.abs() < 1e-12 {
                // Only reachable for a box narrower than a pixel: fall back to the nearest.
                let nearest = (center as usize).min(src - 1);
                raw = (lo..hi)
                    .map(|j| f64::from(u8::from(j == nearest)))
                    .collect();
                sum = 1.0;
            }
            let first = raw.iter().position(|&w| w != 0.0).unwrap_or(0);
            let last = raw.iter().rposition(|&w| w != 0.0).unwrap_or(first);
            Taps {
                start: lo + first,
                weights: raw[first..=last].iter().map(|w| (w / sum) as f32).collect(),
            }
        })
        .collect()
}

/// Resamples every row of `src` to `taps.len()` pixels, into a packed buffer; sums relative to
/// the first tap when `relative`.
fn horizontal(src: &Plane<'_>, taps: &[Taps], relative: bool) -> Vec<f32> {
    // The common channel counts get a fixed-size accumulator the compiler keeps in registers;
    // the order of every sum is the same as in the general loop, so are the bits.
    match (src.channels, relative) {
        (1, false) => horizontal_n::<1, false>(src, taps),
        (2, false) => horizontal_n::<2, false>(src, taps),
        (3, false) => horizontal_n::<3, false>(src, taps),
        (4, false) => horizontal_n::<4, false>(src, taps),
        (1, true) => horizontal_n::<1, true>(src, taps),
        (3, true) => horizontal_n::<3, true>(src, taps),
        (4, true) => horizontal_n::<4, true>(src, taps),
        _ => horizontal_any(src, taps, relative),
    }
}

fn horizontal_n<const C: usize, const RELATIVE: bool>(src: &Plane<'_>, taps: &[Taps]) -> Vec<f32> {
    let row_len = taps.len() * C;
    let mut out = vec![0.0f32; src.height * row_len];
    for (y, dst) in out.chunks_exact_mut(row_len).enumerate() {
        let row = src.row(y);
        for (o, t) in dst.chunks_exact_mut(C).zip(taps) {
            let pixels = &row[t.start * C..][..t.weights.len() * C];
            let mut acc = [0.0f32; C];
            if RELATIVE {
                let base: [f32; C] = std::array::from_fn(|ch| pixels[ch]);
                acc = base;
                for (p, &w) in pixels.chunks_exact(C).zip(&t.weights).skip(1) {
                    for ch in 0..C {
                        acc[ch] += w * (p[ch] - base[ch]);
                    }
                }
            } else {
                for (p, &w) in pixels.chunks_exact(C).zip(&t.weights) {
                    for ch in 0..C {
                        acc[ch] += w * p[ch];
                    }
                }
            }
            o.copy_from_slice(&acc);
        }
    }
    out
}

fn horizontal_any(src: &Plane<'_>, taps: &[Taps], relative: bool) -> Vec<f32> {
    let c = src.channels;
    let row_len = taps.len() * c;
    let mut out = vec![0.0f32; src.height * row_len];
    for (y, dst) in out.chunks_exact_mut(row_len).enumerate() {
        let row = src.row(y);
        for (o, t) in dst.chunks_exact_mut(c).zip(taps) {
            let base = &row[t.start * c..][..c];
            if relative {
                o.copy_from_slice(base);
                for (k, &w) in t.weights.iter().enumerate().skip(1) {
                    let s = &row[(t.start + k) * c..][..c];
                    for ((o, &s), &b) in o.iter_mut().zip(s).zip(base) {
                        *o += w * (s - b);
                    }
                }
            } else {
                for (k, &w) in t.weights.iter().enumerate() {
                    let s = &row[(t.start + k) * c..][..c];
                    for (o, &s) in o.iter_mut().zip(s) {
                        *o += w * s;
                    }
                }
            }
        }
    }
    out
}

/// Resamples the columns of `src` to `taps.len()` rows, whole rows at a time so memory is read
/// in order, into a packed buffer; sums relative to the first tap when `relative`.
fn vertical(src: &Plane<'_>, taps: &[Taps], relative: bool) -> Vec<f32> {
    let row_len = src.width * src.channels;
    let mut out = vec![0.0f32; taps.len() * row_len];
    for (dst, t) in out.chunks_exact_mut(row_len).zip(taps) {
        if relative {
            let base = src.row(t.start);
            match t.weights.get(1) {
                // The first step fused with the copy of the base row (the same arithmetic).
                Some(&w) => {
                    for ((o, &s), &b) in dst.iter_mut().zip(src.row(t.start + 1)).zip(base) {
                        *o = b + w * (s - b);
                    }
                }
                None => dst.copy_from_slice(base),
            }
            for (k, &w) in t.weights.iter().enumerate().skip(2) {
                for ((o, &s), &b) in dst.iter_mut().zip(src.row(t.start + k)).zip(base) {
                    *o += w * (s - b);
                }
            }
        } else {
            for (k, &w) in t.weights.iter().enumerate() {
                for (o, &s) in dst.iter_mut().zip(src.row(t.start + k)) {
                    *o += w * s;
                }
            }
        }
    }
    out
}

fn resample(
    src: Plane<'_>,
    (dst_width, dst_height): (usize, usize),
    filter: Filter,
    antialias: bool,
) -> Vec<f32> {
    let c = src.channels;
    if dst_width == 0 || dst_height == 0 {
        return Vec::new();
    }
    if src.width == 0 || src.height == 0 {
        return vec![0.0; dst_width * dst_height * c];
    }
    let packed;
    let rows = if dst_width == src.width {
        src
    } else {
        packed = horizontal(
            &src,
            &axis_taps(filter, src.width, dst_width, antialias),
            !antialias,
        );
        Plane {
            data: &packed,
            width: dst_width,
            height: src.height,
            channels: c,
            stride: dst_width * c,
        }
    };
    if dst_height == src.height {
        if rows.stride == rows.width * c {
            return rows.data[..rows.height * rows.stride].to_vec();
        }
        return (0..rows.height)
            .flat_map(|y| rows.row(y))
            .copied()
            .collect();
    }
    vertical(
        &rows,
        &axis_taps(filter, src.height, dst_height, antialias),
        !antialias,
    )
}

/// Resizes `src` to `dst_width` × `dst_height` (packed, same channels), antialiased when
/// shrinking: the kernel widens by the shrink factor so every source pixel contributes.
///
/// The same size gives a copy of `src`. A zero-sized source gives zeros.
pub fn resize(src: Plane<'_>, dst_size: (usize, usize), filter: Filter) -> Vec<f32> {
    resample(src, dst_size, filter, true)
}

/// Resizes `src` by plain interpolation: the kernel keeps its width when shrinking, so a shrink
/// samples rather than averages (use it where the source is smooth or the factor modest).
pub fn interpolate(src: Plane<'_>, dst_size: (usize, usize), filter: Filter) -> Vec<f32> {
    resample(src, dst_size, filter, false)
}

/// [`resize`] of a tightly packed slice.
///
/// # Panics
/// When `src.len() != width * height * channels` or `channels == 0`: the caller's sizes are wrong.
pub fn resize_packed(
    src: &[f32],
    size: (usize, usize),
    channels: usize,
    dst_size: (usize, usize),
    filter: Filter,
) -> Vec<f32> {
    match Plane::packed(src, size, channels) {
        Ok(plane) => resize(plane, dst_size, filter),
        Err(e) => panic!("resize_packed: {e}"),
    }
}

/// Halves a planar image exactly: each output pixel is the mean of a 2×2 block (the area
/// filter for a factor of 2, in one pass). `width` and `height` must be even.
pub fn halve_planar(src: &[f32], width: usize, height: usize, planes: usize) -> Vec<f32> {
    let (hw, hh) = (width / 2, height / 2);
    let mut out = vec![0.0f32; planes * hw * hh];
    for p in 0..planes {
        let plane = &src[p * width * height..(p + 1) * width * height];
        let dst = &mut out[p * hw * hh..(p + 1) * hw * hh];
        for y in 0..hh {
            let r0 = &plane[2 * y * width..(2 * y + 1) * width];
            let r1 = &plane[(2 * y + 1) * width..(2 * y + 2) * width];
            for (x, d) in dst[y * hw..(y + 1) * hw].iter_mut().enumerate() {
                *d = 0.25 * (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1]);
            }
        }
    }
    out
}

/// Bits of Pillow's fixed-point 8-bit coefficients (`PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's coefficients for one axis (`precompute_coeffs` and `normalize_coeffs_8bpc`): the
/// first source index and the fixed-point weights of every output sample.
fn pillow_taps(filter: Filter, src: usize, dst: usize) -> Vec<(usize, Vec<i64>)> {
    let one = (1i64 << PRECISION_BITS) as f64;
    if filter == Filter::Nearest {
        return axis_taps(filter, src, dst, false)
            .into_iter()
            .map(|t| (t.start, vec![one as i64]))
            .collect();
    }
    let scale = src as f64 / dst as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    (0..dst)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            // C's (int) cast truncates towards zero; both are clamped to the image.
            let lo = ((center - support + 0.5) as i64).clamp(0, src as i64 - 1) as usize;
            let hi = ((center + support + 0.5) as i64).clamp(lo as i64 + 1, src as i64) as usize;
            let raw: Vec<f64> = (lo..hi)
                .map(|j| filter.weight((j as f64 - center + 0.5) / filterscale))
                .collect();
            let sum: f64 = raw.iter().sum();
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

/// One pass of Pillow's 8-bit resampling along rows (`horizontal`) or columns. Integer sums:
/// any order gives Pillow's result, so the vertical pass runs whole rows at a time.
fn pillow_pass(
    src: &[u8],
    (w, h, c): (usize, usize, usize),
    taps: &[(usize, Vec<i64>)],
    horizontal: bool,
) -> Vec<u8> {
    const ROUND: i64 = 1 << (PRECISION_BITS - 1);
    let settle = |acc: i64| (acc >> PRECISION_BITS).clamp(0, 255) as u8;
    if horizontal {
        match c {
            1 => pillow_rows::<1>(src, w, taps),
            3 => pillow_rows::<3>(src, w, taps),
            4 => pillow_rows::<4>(src, w, taps),
            _ => {
                let ow = taps.len();
                let mut out = vec![0u8; ow * h * c];
                for (row, dst) in src.chunks_exact(w * c).zip(out.chunks_exact_mut(ow * c)) {
                    for ((start, k), o) in taps.iter().zip(dst.chunks_exact_mut(c)) {
                        let pixels = &row[start * c..][..k.len() * c];
                        for (ch, o) in o.iter_mut().enumerate() {
                            let acc = pixels
                                .iter()
                                .skip(ch)
                                .step_by(c)
                                .zip(k)
                                .fold(ROUND, |acc, (&v, &kv)| acc + i64::from(v) * kv);
                            *o = settle(acc);
                        }
                    }
                }
                out
            }
        }
    } else {
        let row_len = w * c;
        let mut out = vec![0u8; row_len * taps.len()];
        let mut acc = vec![0i64; row_len];
        for ((start, k), dst) in taps.iter().zip(out.chunks_exact_mut(row_len)) {
            acc.iter_mut().for_each(|a| *a = ROUND);
            for (t, &kv) in k.iter().enumerate() {
                let row = &src[(start + t) * row_len..][..row_len];
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += i64::from(v) * kv;
                }
            }
            for (o, &a) in dst.iter_mut().zip(&acc) {
                *o = settle(a);
            }
        }
        out
    }
}

/// The horizontal pass of [`pillow_pass`] for `C` channels, with the accumulators in registers.
fn pillow_rows<const C: usize>(src: &[u8], w: usize, taps: &[(usize, Vec<i64>)]) -> Vec<u8> {
    const ROUND: i64 = 1 << (PRECISION_BITS - 1);
    let ow = taps.len();
    let mut out = vec![0u8; (src.len() / (w * C)) * ow * C];
    for (row, dst) in src.chunks_exact(w * C).zip(out.chunks_exact_mut(ow * C)) {
        for ((start, k), o) in taps.iter().zip(dst.chunks_exact_mut(C)) {
            let pixels = &row[start * C..][..k.len() * C];
            let mut acc = [ROUND; C];
            for (p, &kv) in pixels.chunks_exact(C).zip(k) {
                for ch in 0..C {
                    acc[ch] += i64::from(p[ch]) * kv;
                }
            }
            for (o, a) in o.iter_mut().zip(acc) {
                *o = (a >> PRECISION_BITS).clamp(0, 255) as u8;
            }
        }
    }
    out
}

/// Resizes a packed 8-bit image of `channels` interleaved samples per pixel like Pillow's
/// `Image.resize` (antialiased): rows first, then columns, with Pillow's fixed-point
/// coefficients and 8-bit rounding between and after the passes. Bit for bit with Pillow for
/// [`Filter::Lanczos3`] (tested), [`Filter::Bilinear`] and [`Filter::CatmullRom`] (the same
/// kernels and arithmetic).
///
/// # Panics
/// When `src.len() != width * height * channels`: the caller's sizes are wrong.
pub fn resize_u8(
    src: &[u8],
    (width, height): (usize, usize),
    channels: usize,
    (dst_width, dst_height): (usize, usize),
    filter: Filter,
) -> Vec<u8> {
    assert_eq!(
        src.len(),
        width * height * channels,
        "resize_u8: {width}x{height}x{channels} needs that many samples"
    );
    if width == 0 || height == 0 || dst_width == 0 || dst_height == 0 {
        return vec![0; dst_width * dst_height * channels];
    }
    let mut img = src.to_vec();
    let (mut w, h) = (width, height);
    if dst_width != width {
        let taps = pillow_taps(filter, w, dst_width);
        img = pillow_pass(&img, (w, h, channels), &taps, true);
        w = dst_width;
    }
    if dst_height != height {
        let taps = pillow_taps(filter, h, dst_height);
        img = pillow_pass(&img, (w, h, channels), &taps, false);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Filter; 5] = [
        Filter::Nearest,
        Filter::Area,
        Filter::Bilinear,
        Filter::CatmullRom,
        Filter::Lanczos3,
    ];

    fn packed(src: &[f32], size: (usize, usize), c: usize) -> Plane<'_> {
        Plane::packed(src, size, c).expect("plane")
    }

    #[test]
    fn constant_images_stay_constant_with_every_filter() {
        let src = vec![0.3f32; 37 * 23 * 3];
        for filter in ALL {
            for (dw, dh) in [(100, 80), (10, 7), (37, 50), (1, 1), (148, 92), (512, 512)] {
                let out = resize(packed(&src, (37, 23), 3), (dw, dh), filter);
                assert_eq!(out.len(), dw * dh * 3);
                assert!(
                    out.iter().all(|v| (v - 0.3).abs() < 1e-6),
                    "{filter:?} {dw}x{dh}"
                );
                // Interpolation sums relative to the first tap: exactly constant.
                let out = interpolate(packed(&src, (37, 23), 3), (dw, dh), filter);
                assert_eq!(out.len(), dw * dh * 3);
                assert!(out.iter().all(|&v| v == 0.3), "{filter:?} {dw}x{dh}");
            }
        }
    }

    #[test]
    fn same_size_is_identity_and_empty_sizes_are_safe() {
        let src: Vec<f32> = (0..5 * 3 * 2).map(|i| i as f32).collect();
        for filter in ALL {
            assert_eq!(resize(packed(&src, (5, 3), 2), (5, 3), filter), src);
        }
        assert!(resize(packed(&src, (5, 3), 2), (0, 4), Filter::Bilinear).is_empty());
        assert_eq!(
            resize(packed(&[], (0, 3), 2), (2, 2), Filter::Bilinear),
            vec![0.0; 8]
        );
    }

    #[test]
    fn planes_are_checked() {
        let data = [0.0f32; 10];
        assert!(Plane::packed(&data, (2, 2), 2).is_err());
        assert!(Plane::packed(&data, (5, 1), 2).is_ok());
        assert_eq!(
            Plane::strided(&data, (2, 2), 2, 3).err(),
            Some(PlaneError::StrideTooShort { row: 4, stride: 3 })
        );
        // Two rows of 2×2 samples, 6 apart: 6 + 4 = 10 samples.
        assert!(Plane::strided(&data, (2, 2), 2, 6).is_ok());
        assert!(Plane::strided(&data, (2, 2), 2, 7).is_err());
        assert_eq!(
            Plane::packed(&data, (5, 2), 0).err(),
            Some(PlaneError::Length { needed: 0, len: 10 })
        );
        assert_eq!(
            Plane::strided(&data, (5, 2), 0, 0).err(),
            Some(PlaneError::NoChannels)
        );
    }

    #[test]
    fn a_strided_plane_resizes_like_its_packed_copy() {
        // A 6×4 crop (2 channels) of a 9-pixel-wide buffer.
        let (w, h, c, stride) = (6, 4, 2, 9 * 2);
        let buf: Vec<f32> = (0..stride * h).map(|i| ((i * 37) % 17) as f32).collect();
        let crop: Vec<f32> = (0..h)
            .flat_map(|y| buf[y * stride..][..w * c].iter().copied())
            .collect();
        let strided = Plane::strided(&buf, (w, h), c, stride).expect("plane");
        for filter in ALL {
            for size in [(6, 4), (6, 9), (3, 4), (11, 7)] {
                assert_eq!(
                    resize(strided, size, filter),
                    resize(packed(&crop, (w, h), c), size, filter),
                    "{filter:?} {size:?}"
                );
            }
        }
    }

    #[test]
    fn area_shrink_by_two_is_the_block_mean() {
        let src: Vec<f32> = (0..4 * 2).map(|i| i as f32).collect();
        let out = resize(packed(&src, (4, 2), 1), (2, 1), Filter::Area);
        assert_eq!(
            out,
            vec![(0.0 + 1.0 + 4.0 + 5.0) / 4.0, (2.0 + 3.0 + 6.0 + 7.0) / 4.0]
        );
        assert_eq!(halve_planar(&src, 4, 2, 1), out);
    }

    #[test]
    fn upscaling_two_pixels_interpolates_between_centres() {
        let src = [0.0, 1.0];
        let out = resize(packed(&src, (2, 1), 1), (4, 1), Filter::Bilinear);
        assert_eq!(out, [0.0, 0.25, 0.75, 1.0]);
        let near = resize(packed(&src, (2, 1), 1), (4, 1), Filter::Nearest);
        assert_eq!(near, [0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn bilinear_reproduces_linear_ramps_away_from_the_border() {
        let (w, h) = (16, 12);
        let f = |x: f64, y: f64| (0.05 * x + 0.02 * y) as f32;
        let src: Vec<f32> = (0..h)
            .flat_map(|y| (0..w).map(move |x| f(x as f64 + 0.5, y as f64 + 0.5)))
            .collect();
        let (dw, dh) = (40, 30);
        let out = resize(packed(&src, (w, h), 1), (dw, dh), Filter::Bilinear);
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
    fn cubic_reproduces_linear_ramps_inside_and_interpolates_through_samples() {
        let (w, h) = (12, 9);
        let f = |x: f64, y: f64| (0.03 * x - 0.02 * y + 0.5) as f32;
        let src: Vec<f32> = (0..h)
            .flat_map(|y| (0..w).map(move |x| f(x as f64, y as f64)))
            .collect();
        let out = resize(packed(&src, (w, h), 1), (4 * w, 4 * h), Filter::CatmullRom);
        for y in 8..4 * h - 8 {
            for x in 8..4 * w - 8 {
                let want = f((x as f64 + 0.5) / 4.0 - 0.5, (y as f64 + 0.5) / 4.0 - 0.5);
                assert!((out[y * 4 * w + x] - want).abs() < 1e-4, "({x},{y})");
            }
        }
    }

    #[test]
    fn downscaling_averages_instead_of_aliasing_and_interpolation_does_not() {
        // A one-pixel checkerboard shrunk by two must come out mid-grey, not black or white.
        let (w, h) = (32, 32);
        let src: Vec<f32> = (0..h)
            .flat_map(|y| (0..w).map(move |x| ((x + y) % 2) as f32))
            .collect();
        for filter in [Filter::Area, Filter::Bilinear, Filter::CatmullRom] {
            let out = resize(packed(&src, (w, h), 1), (16, 16), filter);
            for y in 2..14 {
                for x in 2..14 {
                    let v = out[y * 16 + x];
                    assert!((v - 0.5).abs() < 1e-5, "{filter:?} ({x},{y}) = {v}");
                }
            }
        }
        // Plain interpolation at a factor of 3 lands on source centres: it picks, not averages.
        let src: Vec<f32> = (0..30)
            .flat_map(|y| (0..30).map(move |x| ((x + y) % 2) as f32))
            .collect();
        let out = interpolate(packed(&src, (30, 30), 1), (10, 10), Filter::Bilinear);
        assert!(out.iter().all(|&v| v == 0.0 || v == 1.0), "{out:?}");
    }

    #[test]
    fn interpolation_matches_clamped_bilinear_sampling() {
        let (w, h) = (7, 5);
        let src: Vec<f32> = (0..w * h).map(|i| ((i * 13) % 11) as f32 / 10.0).collect();
        let (dw, dh) = (3, 4);
        let out = interpolate(packed(&src, (w, h), 1), (dw, dh), Filter::Bilinear);
        let at = |x: usize, y: usize| src[y * w + x];
        let tap = |i: usize, n: usize, d: usize| {
            let s = ((i as f64 + 0.5) * n as f64 / d as f64 - 0.5).clamp(0.0, (n - 1) as f64);
            let i0 = s.floor() as usize;
            (i0, (i0 + 1).min(n - 1), (s - i0 as f64) as f32)
        };
        for y in 0..dh {
            let (y0, y1, fy) = tap(y, h, dh);
            for x in 0..dw {
                let (x0, x1, fx) = tap(x, w, dw);
                let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
                let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
                let want = top + (bottom - top) * fy;
                assert!((out[y * dw + x] - want).abs() < 1e-6, "({x},{y})");
            }
        }
    }

    #[test]
    fn channels_do_not_mix() {
        let src: Vec<f32> = (0..6 * 4)
            .flat_map(|_| [1.0, 0.0, 0.5, 0.25, 0.75, 0.125])
            .collect();
        for filter in ALL {
            let out = resize(packed(&src, (6, 4), 6), (9, 11), filter);
            for p in out.chunks_exact(6) {
                let want = [1.0, 0.0, 0.5, 0.25, 0.75, 0.125];
                assert!(
                    p.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
                    "{filter:?} {p:?}"
                );
            }
        }
    }

    #[test]
    fn a_halved_ramp_stays_monotone_and_keeps_its_mean() {
        let ramp: Vec<f32> = (0..64 * 4).map(|i| (i % 64) as f32 / 63.0).collect();
        let half = resize(packed(&ramp, (64, 4), 1), (32, 2), Filter::Bilinear);
        assert!(half[..32].windows(2).all(|w| w[1] > w[0]));
        let mean: f32 = half.iter().sum::<f32>() / half.len() as f32;
        assert!((mean - 0.5).abs() < 1e-3, "{mean}");
    }

    #[test]
    fn lanczos_u8_matches_pillow_on_a_small_ramp() {
        // Pillow 13: Image.fromarray(a).resize((3, 2), Image.LANCZOS) for the 5×4 grey image
        // a[y][x] = 10x + 50y, and back up to 7×5.
        let src: Vec<u8> = (0..4)
            .flat_map(|y| (0..5).map(move |x| (10 * x + 50 * y) as u8))
            .collect();
        let down = resize_u8(&src, (5, 4), 1, (3, 2), Filter::Lanczos3);
        assert_eq!(down, PILLOW_DOWN);
        let up = resize_u8(&down, (3, 2), 1, (7, 5), Filter::Lanczos3);
        assert_eq!(up, PILLOW_UP);
    }

    const PILLOW_DOWN: [u8; 6] = [30, 47, 64, 126, 143, 160];
    const PILLOW_UP: [u8; 35] = [
        9, 12, 18, 28, 38, 44, 47, 36, 39, 45, 55, 65, 71, 74, 76, 79, 85, 95, 105, 111, 114, 116,
        119, 125, 135, 145, 151, 154, 143, 146, 152, 162, 172, 178, 181,
    ];

    #[test]
    fn u8_keeps_constants_and_the_same_size() {
        for filter in ALL {
            let src = vec![102u8; 9 * 7 * 3];
            assert_eq!(
                resize_u8(&src, (9, 7), 3, (4, 13), filter),
                vec![102; 4 * 13 * 3]
            );
            let ramp: Vec<u8> = (0..20).collect();
            assert_eq!(resize_u8(&ramp, (5, 2), 2, (5, 2), filter), ramp);
        }
    }
}

//! Tiling for operations that declare themselves tileable: a tile plan with overlap, and a
//! blender that writes each tile's result straight into the output buffer with linear ramps
//! across the seams, so memory is the output plus one tile, whatever the image size.

use crate::{
    convert, convert_into, quantize_u16, quantize_u8, ImageLayout, ImageView, PixelFormat, Rect,
};
use half::f16;

/// One tile: the pixels it is responsible for (`core`) and what the operation sees (`input`,
/// the core plus `overlap` of context on every side, clamped to the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub core: Rect,
    pub input: Rect,
}

/// Splits `width × height` into tiles of at most `tile` core pixels per side (equal tiles rather
/// than a thin last one: the cores are [`easel_pixels::tiling::cores`] of the planner plugins
/// use too), each input reaching `overlap` past its core into its neighbours.
pub fn plan(width: u32, height: u32, tile: u32, overlap: u32) -> Vec<Tile> {
    let tile = tile.max(1) as usize;
    // (core start, core end, input start, input end) along one axis.
    let axis = |len: u32| -> Vec<(u32, u32, u32, u32)> {
        let spans = easel_pixels::tiling::spans(len as usize, tile, 0, 1);
        easel_pixels::tiling::cores(&spans)
            .into_iter()
            .map(|(c0, c1)| {
                let n = |v: usize| u32::try_from(v).unwrap_or(len);
                let (c0, c1) = (n(c0), n(c1));
                (
                    c0,
                    c1,
                    c0.saturating_sub(overlap),
                    c1.saturating_add(overlap).min(len),
                )
            })
            .collect()
    };
    let (xs, ys) = (axis(width), axis(height));
    let mut tiles = Vec::with_capacity(xs.len() * ys.len());
    for &(y0, y1, iy0, iy1) in &ys {
        for &(x0, x1, ix0, ix1) in &xs {
            tiles.push(Tile {
                core: Rect {
                    x: x0,
                    y: y0,
                    width: x1 - x0,
                    height: y1 - y0,
                },
                input: Rect {
                    x: ix0,
                    y: iy0,
                    width: ix1 - ix0,
                    height: iy1 - iy0,
                },
            });
        }
    }
    tiles
}

/// Whether an image of this size needs tiling at all.
pub fn needs_tiling(width: u32, height: u32, tile: u32) -> bool {
    width > tile || height > tile
}

/// Writes tile results into a packed output image (any RGBA format) held in `B` (a `Vec<u8>`,
/// shared memory, ...), blending each new tile over its already-placed left and upper neighbours
/// across a band of `band` input pixels.
pub struct Blender<B> {
    out: B,
    layout: ImageLayout,
    scale: u32,
    band: u32,
}

fn read_px(data: &[u8], i: usize, format: PixelFormat) -> [f32; 4] {
    match format {
        PixelFormat::Rgba8 => [0, 1, 2, 3].map(|c| data[i * 4 + c] as f32 / 255.0),
        PixelFormat::Rgba16 => [0, 1, 2, 3].map(|c| {
            let o = i * 8 + c * 2;
            u16::from_ne_bytes([data[o], data[o + 1]]) as f32 / 65535.0
        }),
        PixelFormat::Rgba16F => [0, 1, 2, 3].map(|c| {
            let o = i * 8 + c * 2;
            f32::from(f16::from_ne_bytes([data[o], data[o + 1]]))
        }),
        PixelFormat::Rgba32F | PixelFormat::Gray8 | PixelFormat::Gray32F => [0, 1, 2, 3].map(|c| {
            let o = i * 16 + c * 4;
            f32::from_ne_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]])
        }),
    }
}

fn write_px(data: &mut [u8], i: usize, format: PixelFormat, v: [f32; 4]) {
    for (c, x) in v.into_iter().enumerate() {
        match format {
            PixelFormat::Rgba8 => data[i * 4 + c] = quantize_u8(x),
            PixelFormat::Rgba16 => {
                let o = i * 8 + c * 2;
                data[o..o + 2].copy_from_slice(&quantize_u16(x).to_ne_bytes());
            }
            PixelFormat::Rgba16F => {
                let o = i * 8 + c * 2;
                data[o..o + 2].copy_from_slice(&f16::from_f32(x).to_ne_bytes());
            }
            PixelFormat::Rgba32F | PixelFormat::Gray8 | PixelFormat::Gray32F => {
                let o = i * 16 + c * 4;
                data[o..o + 4].copy_from_slice(&x.to_ne_bytes());
            }
        }
    }
}

/// The packed output layout of a tiled job, or `None` when its size overflows.
pub fn output_layout(
    width: u32,
    height: u32,
    scale: u32,
    format: PixelFormat,
) -> Option<ImageLayout> {
    let layout = ImageLayout::packed(
        width.checked_mul(scale)?,
        height.checked_mul(scale)?,
        format,
    );
    layout.required_len().map(|_| layout)
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Blender<B> {
    /// A blender writing into `out`, which holds a packed RGBA image of `layout`: the job's input
    /// size times `scale` (see [`output_layout`]).
    pub fn new(out: B, layout: ImageLayout, scale: u32, band: u32) -> Option<Self> {
        let fits = layout.is_packed()
            && !layout.format.is_mask()
            && layout.required_len()? <= out.as_ref().len();
        fits.then_some(Blender {
            out,
            layout,
            scale: scale.max(1),
            band,
        })
    }

    pub fn layout(&self) -> ImageLayout {
        self.layout
    }

    /// The output buffer, all tiles placed.
    pub fn into_output(self) -> B {
        self.out
    }

    /// Places the result of `tile` (its whole `input` rectangle, times the scale, any RGBA
    /// format).
    pub fn place(&mut self, tile: &Tile, result: &ImageView<'_>) {
        let s = self.scale;
        let (core, input) = (tile.core, tile.input);
        // The band on each side, limited by the context the tile actually has there.
        let left = if core.x > 0 {
            self.band.min(core.x - input.x)
        } else {
            0
        };
        let top = if core.y > 0 {
            self.band.min(core.y - input.y)
        } else {
            0
        };
        let right = self.band.min(input.x + input.width - (core.x + core.width));
        let bottom = self
            .band
            .min(input.y + input.height - (core.y + core.height));
        let (x0, x1) = ((core.x - left) * s, (core.x + core.width + right) * s);
        let (y0, y1) = ((core.y - top) * s, (core.y + core.height + bottom) * s);
        let ramp = |pos: u32, start: u32, width: u32| -> f32 {
            if width == 0 || pos >= start + width {
                1.0
            } else {
                (pos.saturating_sub(start) as f32 + 0.5) / width as f32
            }
        };
        let out_w = self.layout.width as usize;
        let format = self.layout.format;
        let data = self.out.as_mut();
        let whole = (x0, y0, x1, y1) == (0, 0, self.layout.width, self.layout.height)
            && left == 0
            && top == 0
            && (result.width(), result.height()) == (self.layout.width, self.layout.height);
        if whole {
            // One tile for the whole output: a straight conversion, nothing to blend.
            convert_into(result, format, data);
            return;
        }
        // Plain f32 reads for the ramps: from the result itself when it is packed rgba32f (a
        // worker's usual answer), else from one conversion of the tile; none without ramps (every
        // row is then a straight span). No further copy: at ×4 a tile is tens of megabytes, and
        // touching fresh pages costs more than the blend.
        let converted;
        let (tile_bytes, tile_w): (&[u8], usize) = if left == 0 && top == 0 {
            (&[], 0)
        } else if result.format() == PixelFormat::Rgba32F && result.layout().is_packed() {
            (result.data(), result.width() as usize)
        } else {
            converted = convert(result, PixelFormat::Rgba32F);
            (&converted.data, converted.width as usize)
        };
        let sample = |i: usize| -> f32 {
            let mut b = [0u8; 4];
            if let Some(bytes) = tile_bytes.get(i * 4..i * 4 + 4) {
                b.copy_from_slice(bytes);
            }
            f32::from_ne_bytes(b)
        };
        let bpp = format.bytes_per_pixel();
        for y in y0..y1 {
            let wy = ramp(y, y0, 2 * top * s);
            let ty = (y - input.y * s) as usize;
            // Past the left ramp of a row below the top ramp, the tile's pixels replace what is
            // there: that span is converted in one pass, not pixel by pixel.
            let straight_from = if wy >= 1.0 {
                (x0 + 2 * left * s).min(x1)
            } else {
                x1
            };
            if straight_from < x1 {
                let span = Rect {
                    x: straight_from - input.x * s,
                    y: ty as u32,
                    width: x1 - straight_from,
                    height: 1,
                };
                if let Some(row) = result.sub_view(span) {
                    let start = (y as usize * out_w + straight_from as usize) * bpp;
                    let end = start + span.width as usize * bpp;
                    if let Some(dst) = data.get_mut(start..end) {
                        convert_into(&row, format, dst);
                    }
                }
            }
            for x in x0..straight_from {
                let wx = ramp(x, x0, 2 * left * s);
                let w = wx * wy;
                let t = (ty * tile_w + (x - input.x * s) as usize) * 4;
                let new = [sample(t), sample(t + 1), sample(t + 2), sample(t + 3)];
                let i = y as usize * out_w + x as usize;
                let v = if w >= 1.0 {
                    new
                } else {
                    let old = read_px(data, i, format);
                    [0, 1, 2, 3].map(|c| old[c] + (new[c] - old[c]) * w)
                };
                write_px(data, i, format, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crop, OwnedImage};

    fn blender(w: u32, h: u32, scale: u32, format: PixelFormat, band: u32) -> Blender<Vec<u8>> {
        let layout = output_layout(w, h, scale, format).unwrap();
        let out = vec![0u8; layout.required_len().unwrap()];
        Blender::new(out, layout, scale, band).unwrap()
    }

    fn bytes(b: &Blender<Vec<u8>>) -> &[u8] {
        &b.out
    }

    #[test]
    fn blending_tiles_of_one_image_gives_that_image_in_every_format() {
        // Every tile is the exact crop of one source, so the blend must give back the source's
        // own conversion, bit for bit: the straight spans and the ramps agree.
        let (w, h) = (150u32, 97u32);
        let mut src = OwnedImage::new(w, h, PixelFormat::Rgba32F);
        let mut state = 12345u32;
        for v in src.data.chunks_exact_mut(4) {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            v.copy_from_slice(&((state >> 8) as f32 / (1u32 << 24) as f32).to_ne_bytes());
        }
        for format in [
            PixelFormat::Rgba8,
            PixelFormat::Rgba16,
            PixelFormat::Rgba16F,
            PixelFormat::Rgba32F,
        ] {
            let mut b = blender(w, h, 1, format, 8);
            for tile in plan(w, h, 48, 8) {
                let r = tile.input;
                let part = crop(&src, r);
                b.place(&tile, &part.view());
            }
            let want = convert(&src.view(), format);
            assert!(bytes(&b) == want.data.as_slice(), "{format}");
        }
    }

    #[test]
    fn tiles_cover_the_image_once_and_stay_inside() {
        for (w, h, t, o) in [
            (1000, 700, 256, 32),
            (512, 512, 512, 16),
            (3, 1, 1, 5),
            (1025, 1, 512, 32),
        ] {
            let tiles = plan(w, h, t, o);
            let mut covered = vec![0u8; (w * h) as usize];
            for tile in &tiles {
                assert!(tile.core.width <= t && tile.core.height <= t);
                assert!(tile.input.x <= tile.core.x && tile.input.x + tile.input.width <= w);
                assert!(tile.input.y + tile.input.height <= h);
                for y in tile.core.y..tile.core.y + tile.core.height {
                    for x in tile.core.x..tile.core.x + tile.core.width {
                        covered[(y * w + x) as usize] += 1;
                    }
                }
            }
            assert!(covered.iter().all(|&c| c == 1), "{w}x{h} tile {t}");
        }
        assert!(!needs_tiling(512, 512, 512) && needs_tiling(513, 10, 512));
    }

    /// A pointwise operation (here ×2 nearest upscale of the pixels) gives exactly the untiled
    /// result, seams included; a tile-dependent one is blended smoothly.
    #[test]
    fn blended_tiles_reproduce_a_pointwise_result_exactly() {
        let (w, h) = (70u32, 45u32);
        let mut img = OwnedImage::new(w, h, PixelFormat::Rgba32F);
        for (i, px) in img.data.chunks_exact_mut(16).enumerate() {
            let v = [(i % 7) as f32 / 7.0, (i % 11) as f32 / 11.0, 0.5, 1.0];
            for c in 0..4 {
                px[c * 4..c * 4 + 4].copy_from_slice(&v[c].to_ne_bytes());
            }
        }
        let up = |src: &OwnedImage| {
            let mut out = OwnedImage::new(src.width * 2, src.height * 2, PixelFormat::Rgba32F);
            for y in 0..out.height {
                for x in 0..out.width {
                    let s = ((y / 2) * src.width + x / 2) as usize * 16;
                    let d = (y * out.width + x) as usize * 16;
                    out.data[d..d + 16].copy_from_slice(&src.data[s..s + 16]);
                }
            }
            out
        };
        let whole = up(&img);
        let mut b = blender(w, h, 2, PixelFormat::Rgba32F, 8);
        for tile in plan(w, h, 16, 16) {
            let t = up(&crop(&img, tile.input));
            b.place(&tile, &t.view());
        }
        assert_eq!(bytes(&b), &whole.data[..]);
        // Same in an 8-bit output.
        let mut b8 = blender(w, h, 2, PixelFormat::Rgba8, 8);
        for tile in plan(w, h, 16, 16) {
            b8.place(&tile, &up(&crop(&img, tile.input)).view());
        }
        assert_eq!(
            bytes(&b8),
            &convert(&whole.view(), PixelFormat::Rgba8).data[..]
        );
    }

    #[test]
    fn seams_between_disagreeing_tiles_are_ramps_not_steps() {
        // Every tile returns a flat value that depends on the tile: the seam must be gradual.
        let (w, h) = (64u32, 8u32);
        let mut b = blender(w, h, 1, PixelFormat::Rgba32F, 8);
        for (k, tile) in plan(w, h, 32, 16).iter().enumerate() {
            let mut t = OwnedImage::new(tile.input.width, tile.input.height, PixelFormat::Rgba32F);
            for px in t.data.chunks_exact_mut(16) {
                px[..4].copy_from_slice(&(k as f32).to_ne_bytes());
            }
            b.place(tile, &t.view());
        }
        let row: Vec<f32> = (0..w)
            .map(|x| read_px(bytes(&b), x as usize, PixelFormat::Rgba32F)[0])
            .collect();
        assert_eq!(row[0], 0.0);
        assert_eq!(row[63], 1.0);
        let max_step = row
            .windows(2)
            .map(|p| (p[1] - p[0]).abs())
            .fold(0.0, f32::max);
        assert!(max_step <= 1.0 / 16.0 + 1e-6, "{row:?}");
    }
}

//! Image and mask views with explicit strides, owned image buffers, and format conversion helpers.

use crate::error::PluginError;
use abi_stable::{
    std_types::{RSlice, RVec},
    StableAbi,
};

/// Pixel formats that cross the boundary. Colour is always straight (not premultiplied) RGBA.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// 4 × u8, RGBA.
    Rgba8 = 0,
    /// 4 × u16 (native endian), RGBA.
    Rgba16 = 1,
    /// 4 × f32 (native endian), RGBA, nominal range 0..1.
    Rgba32F = 2,
    /// 1 × u8 coverage (masks).
    Gray8 = 3,
    /// 1 × f32 coverage in 0..1 (masks).
    Gray32F = 4,
}

impl PixelFormat {
    pub const fn channels(self) -> usize {
        match self {
            PixelFormat::Rgba8 | PixelFormat::Rgba16 | PixelFormat::Rgba32F => 4,
            PixelFormat::Gray8 | PixelFormat::Gray32F => 1,
        }
    }
    pub const fn bytes_per_sample(self) -> usize {
        match self {
            PixelFormat::Rgba8 | PixelFormat::Gray8 => 1,
            PixelFormat::Rgba16 => 2,
            PixelFormat::Rgba32F | PixelFormat::Gray32F => 4,
        }
    }
    pub const fn bytes_per_pixel(self) -> usize {
        self.channels() * self.bytes_per_sample()
    }
    pub const fn is_mask(self) -> bool {
        matches!(self, PixelFormat::Gray8 | PixelFormat::Gray32F)
    }
    /// Stable lower-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PixelFormat::Rgba8 => "rgba8",
            PixelFormat::Rgba16 => "rgba16",
            PixelFormat::Rgba32F => "rgba32f",
            PixelFormat::Gray8 => "gray8",
            PixelFormat::Gray32F => "gray32f",
        }
    }
    pub fn parse(name: &str) -> Option<PixelFormat> {
        Some(match name {
            "rgba8" => PixelFormat::Rgba8,
            "rgba16" => PixelFormat::Rgba16,
            "rgba32f" => PixelFormat::Rgba32F,
            "gray8" => PixelFormat::Gray8,
            "gray32f" => PixelFormat::Gray32F,
            _ => return None,
        })
    }
}

/// Where each pixel lives in a byte buffer, like image-rs's `SampleLayout`, in bytes.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLayout {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    /// Bytes from one pixel to the next in a row.
    pub pixel_stride: usize,
    /// Bytes from one row to the next.
    pub row_stride: usize,
}

impl ImageLayout {
    /// A tightly packed layout.
    pub const fn packed(width: u32, height: u32, format: PixelFormat) -> Self {
        let pixel_stride = format.bytes_per_pixel();
        ImageLayout {
            width,
            height,
            format,
            pixel_stride,
            row_stride: pixel_stride * width as usize,
        }
    }

    /// Bytes a buffer must hold for this layout, or `None` on overflow.
    pub fn required_len(&self) -> Option<usize> {
        if self.width == 0 || self.height == 0 {
            return Some(0);
        }
        let last_row = (self.height as usize - 1).checked_mul(self.row_stride)?;
        let last_px = (self.width as usize - 1).checked_mul(self.pixel_stride)?;
        last_row
            .checked_add(last_px)?
            .checked_add(self.format.bytes_per_pixel())
    }

    /// Checks that strides do not make pixels overlap and that `len` bytes hold the image.
    pub fn validate(&self, len: usize) -> Result<(), PluginError> {
        let bpp = self.format.bytes_per_pixel();
        if self.pixel_stride < bpp {
            return Err(PluginError::invalid_input(format!(
                "pixel stride {} is smaller than a {} pixel ({} bytes)",
                self.pixel_stride,
                self.format.as_str(),
                bpp
            )));
        }
        if self.height > 1 && self.row_stride < self.pixel_stride * self.width as usize {
            return Err(PluginError::invalid_input(format!(
                "row stride {} is smaller than a row of {} pixels",
                self.row_stride, self.width
            )));
        }
        match self.required_len() {
            Some(need) if need <= len => Ok(()),
            Some(need) => Err(PluginError::invalid_input(format!(
                "buffer of {len} bytes is too small for a {}x{} {} image ({need} bytes)",
                self.width,
                self.height,
                self.format.as_str()
            ))),
            None => Err(PluginError::limits(
                "image layout overflows the address space",
            )),
        }
    }
}

/// A borrowed, read-only image or mask.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct ImageView<'a> {
    pub layout: ImageLayout,
    pub data: RSlice<'a, u8>,
}

impl<'a> ImageView<'a> {
    /// A view over `data`, checked against `layout`.
    pub fn new(layout: ImageLayout, data: &'a [u8]) -> Result<Self, PluginError> {
        layout.validate(data.len())?;
        Ok(ImageView {
            layout,
            data: RSlice::from_slice(data),
        })
    }
    pub fn width(&self) -> u32 {
        self.layout.width
    }
    pub fn height(&self) -> u32 {
        self.layout.height
    }
    pub fn format(&self) -> PixelFormat {
        self.layout.format
    }

    fn pixel_bytes(&self, x: u32, y: u32) -> &'a [u8] {
        let l = &self.layout;
        let start = y as usize * l.row_stride + x as usize * l.pixel_stride;
        let data: &'a [u8] = self.data.as_slice();
        &data[start..start + l.format.bytes_per_pixel()]
    }

    /// One pixel as RGBA in 0..1 (masks give their coverage in every channel).
    pub fn rgba_f32(&self, x: u32, y: u32) -> [f32; 4] {
        let p = self.pixel_bytes(x, y);
        match self.layout.format {
            PixelFormat::Rgba8 => [0, 1, 2, 3].map(|c| p[c] as f32 / 255.0),
            PixelFormat::Rgba16 => {
                [0, 1, 2, 3].map(|c| u16::from_ne_bytes([p[2 * c], p[2 * c + 1]]) as f32 / 65535.0)
            }
            PixelFormat::Rgba32F => [0, 1, 2, 3]
                .map(|c| f32::from_ne_bytes([p[4 * c], p[4 * c + 1], p[4 * c + 2], p[4 * c + 3]])),
            PixelFormat::Gray8 => [p[0] as f32 / 255.0; 4],
            PixelFormat::Gray32F => [f32::from_ne_bytes([p[0], p[1], p[2], p[3]]); 4],
        }
    }

    /// The whole image as packed RGBA f32 in 0..1, row-major.
    pub fn to_rgba_f32(&self) -> Vec<f32> {
        let (w, h) = (self.width(), self.height());
        let mut out = Vec::with_capacity(w as usize * h as usize * 4);
        for y in 0..h {
            for x in 0..w {
                out.extend_from_slice(&self.rgba_f32(x, y));
            }
        }
        out
    }

    /// The first channel as packed f32 coverage in 0..1 (for masks; for RGBA, the red channel).
    pub fn to_coverage_f32(&self) -> Vec<f32> {
        let (w, h) = (self.width(), self.height());
        let mut out = Vec::with_capacity(w as usize * h as usize);
        for y in 0..h {
            for x in 0..w {
                out.push(self.rgba_f32(x, y)[0]);
            }
        }
        out
    }
}

/// An owned, tightly packed image: what an operation returns.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct ImageBuf {
    pub layout: ImageLayout,
    pub data: RVec<u8>,
}

impl ImageBuf {
    /// A packed image from raw bytes, checked.
    pub fn from_bytes(
        width: u32,
        height: u32,
        format: PixelFormat,
        data: Vec<u8>,
    ) -> Result<Self, PluginError> {
        let layout = ImageLayout::packed(width, height, format);
        layout.validate(data.len())?;
        Ok(ImageBuf {
            layout,
            data: RVec::from(data),
        })
    }

    /// Packs RGBA f32 samples (0..1) into `format`, clamping for integer formats.
    pub fn from_rgba_f32(
        width: u32,
        height: u32,
        rgba: &[f32],
        format: PixelFormat,
    ) -> Result<Self, PluginError> {
        let pixels = width as usize * height as usize;
        if rgba.len() != pixels * 4 {
            return Err(PluginError::plugin(format!(
                "{} samples given for a {width}x{height} RGBA image",
                rgba.len()
            )));
        }
        let mut data = Vec::with_capacity(pixels * format.bytes_per_pixel());
        match format {
            PixelFormat::Rgba8 => data.extend(rgba.iter().map(|&v| quantize_u8(v))),
            PixelFormat::Rgba16 => {
                for &v in rgba {
                    data.extend_from_slice(&quantize_u16(v).to_ne_bytes());
                }
            }
            PixelFormat::Rgba32F => {
                for &v in rgba {
                    data.extend_from_slice(&v.to_ne_bytes());
                }
            }
            PixelFormat::Gray8 => data.extend(rgba.chunks_exact(4).map(|p| quantize_u8(p[0]))),
            PixelFormat::Gray32F => {
                for p in rgba.chunks_exact(4) {
                    data.extend_from_slice(&p[0].to_ne_bytes());
                }
            }
        }
        Self::from_bytes(width, height, format, data)
    }

    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            layout: self.layout,
            data: RSlice::from_slice(self.data.as_slice()),
        }
    }
}

/// 0..1 to 0..255 with rounding and clamping.
pub fn quantize_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// 0..1 to 0..65535 with rounding and clamping.
pub fn quantize_u16(v: f32) -> u16 {
    (v.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_view_reads_the_right_pixels() {
        // 2x2 RGBA8 with 2 bytes of padding per row.
        let mut data = vec![0u8; 2 * 10];
        data[0..4].copy_from_slice(&[255, 0, 0, 255]);
        data[10 + 4..10 + 8].copy_from_slice(&[0, 0, 255, 128]);
        let layout = ImageLayout {
            width: 2,
            height: 2,
            format: PixelFormat::Rgba8,
            pixel_stride: 4,
            row_stride: 10,
        };
        let view = ImageView::new(layout, &data).unwrap();
        assert_eq!(view.rgba_f32(0, 0), [1.0, 0.0, 0.0, 1.0]);
        let p = view.rgba_f32(1, 1);
        assert_eq!(p[2], 1.0);
        assert!((p[3] - 128.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn too_small_buffers_and_overlapping_strides_are_refused() {
        let layout = ImageLayout::packed(4, 4, PixelFormat::Rgba16);
        assert!(ImageView::new(layout, &[0u8; 127]).is_err());
        assert!(ImageView::new(layout, &[0u8; 128]).is_ok());
        let overlapping = ImageLayout {
            pixel_stride: 2,
            ..layout
        };
        assert!(overlapping.validate(1 << 20).is_err());
        let huge = ImageLayout::packed(u32::MAX, u32::MAX, PixelFormat::Rgba32F);
        assert!(huge.validate(16).is_err());
    }

    #[test]
    fn formats_round_trip_through_f32() {
        let rgba = [0.0, 0.25, 0.5, 1.0, 1.0, 0.75, 0.125, 0.0];
        for format in [
            PixelFormat::Rgba8,
            PixelFormat::Rgba16,
            PixelFormat::Rgba32F,
        ] {
            let buf = ImageBuf::from_rgba_f32(2, 1, &rgba, format).unwrap();
            let back = buf.view().to_rgba_f32();
            let tol = match format {
                PixelFormat::Rgba8 => 1.0 / 255.0,
                PixelFormat::Rgba16 => 1.0 / 65535.0,
                _ => 0.0,
            };
            for (a, b) in rgba.iter().zip(&back) {
                assert!((a - b).abs() <= tol, "{format:?}: {a} vs {b}");
            }
        }
    }
}

//! Image and mask views with explicit strides, owned image buffers, and format conversion helpers.
//!
//! The fields of [`ImageLayout`], [`ImageView`] and [`ImageBuf`] are private: every value is
//! made by a checked constructor, so a view always fits its buffer and its strides never make
//! pixels overlap.

use crate::error::PluginError;
use abi_stable::{
    std_types::{RSlice, RVec},
    StableAbi,
};

/// Pixel formats that cross the boundary. Colour is always straight (not premultiplied) RGBA.
///
/// A `u8` newtype rather than an enum, so that a later SDK can add formats without changing the
/// layout. A format this SDK does not name reports 0 channels; [`ImageLayout::new`] and
/// [`ImageView::new`] refuse it with an error that names it.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelFormat(pub u8);

#[allow(non_upper_case_globals)] // named like the enum variants they replaced
impl PixelFormat {
    /// 4 × u8, RGBA.
    pub const Rgba8: PixelFormat = PixelFormat(0);
    /// 4 × u16 (native endian), RGBA.
    pub const Rgba16: PixelFormat = PixelFormat(1);
    /// 4 × f32 (native endian), RGBA, nominal range 0..1.
    pub const Rgba32F: PixelFormat = PixelFormat(2);
    /// 1 × u8 coverage (masks).
    pub const Gray8: PixelFormat = PixelFormat(3);
    /// 1 × f32 coverage in 0..1 (masks).
    pub const Gray32F: PixelFormat = PixelFormat(4);
    /// 4 × IEEE 754 half-precision float (native endian), RGBA, nominal range 0..1.
    pub const Rgba16F: PixelFormat = PixelFormat(5);

    /// Every format this SDK names.
    pub const ALL: [PixelFormat; 6] = [
        PixelFormat::Rgba8,
        PixelFormat::Rgba16,
        PixelFormat::Rgba32F,
        PixelFormat::Gray8,
        PixelFormat::Gray32F,
        PixelFormat::Rgba16F,
    ];

    /// Whether this SDK names this format (and so can read and write it).
    pub const fn is_known(self) -> bool {
        self.0 <= 5
    }
    /// Channels per pixel; 0 for a format this SDK does not name.
    pub const fn channels(self) -> usize {
        match self {
            PixelFormat::Rgba8
            | PixelFormat::Rgba16
            | PixelFormat::Rgba32F
            | PixelFormat::Rgba16F => 4,
            PixelFormat::Gray8 | PixelFormat::Gray32F => 1,
            _ => 0,
        }
    }
    /// Bytes per sample; 0 for a format this SDK does not name.
    pub const fn bytes_per_sample(self) -> usize {
        match self {
            PixelFormat::Rgba8 | PixelFormat::Gray8 => 1,
            PixelFormat::Rgba16 | PixelFormat::Rgba16F => 2,
            PixelFormat::Rgba32F | PixelFormat::Gray32F => 4,
            _ => 0,
        }
    }
    pub const fn bytes_per_pixel(self) -> usize {
        self.channels() * self.bytes_per_sample()
    }
    pub const fn is_mask(self) -> bool {
        matches!(self, PixelFormat::Gray8 | PixelFormat::Gray32F)
    }
    /// Stable lower-case name used on the wire; `unknown` for a format this SDK does not name.
    pub fn as_str(self) -> &'static str {
        match self {
            PixelFormat::Rgba8 => "rgba8",
            PixelFormat::Rgba16 => "rgba16",
            PixelFormat::Rgba32F => "rgba32f",
            PixelFormat::Gray8 => "gray8",
            PixelFormat::Gray32F => "gray32f",
            PixelFormat::Rgba16F => "rgba16f",
            _ => "unknown",
        }
    }
    pub fn parse(name: &str) -> Option<PixelFormat> {
        PixelFormat::ALL.into_iter().find(|f| f.as_str() == name)
    }
    /// `Ok` for a format this SDK can read and write, otherwise an error that names it.
    pub fn check_known(self) -> Result<(), PluginError> {
        if self.is_known() {
            Ok(())
        } else {
            Err(PluginError::invalid_input(format!(
                "pixel format {} is not one this SDK knows ({}): the image comes from a newer \
                 Easel; update the plugin",
                self.0,
                PixelFormat::ALL.map(|f| f.as_str()).join(", ")
            )))
        }
    }
}

/// Where each pixel lives in a byte buffer, like image-rs's `SampleLayout`, in bytes.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLayout {
    width: u32,
    height: u32,
    format: PixelFormat,
    /// Bytes from one pixel to the next in a row.
    pixel_stride: usize,
    /// Bytes from one row to the next.
    row_stride: usize,
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

    /// A layout with explicit strides (bytes), checked: the format must be known, and the
    /// strides must not make pixels or rows overlap.
    pub fn new(
        width: u32,
        height: u32,
        format: PixelFormat,
        pixel_stride: usize,
        row_stride: usize,
    ) -> Result<Self, PluginError> {
        let layout = ImageLayout {
            width,
            height,
            format,
            pixel_stride,
            row_stride,
        };
        layout.check_strides()?;
        layout.required_len().ok_or_else(|| {
            PluginError::limits("image layout overflows the address space".to_string())
        })?;
        Ok(layout)
    }

    pub const fn width(&self) -> u32 {
        self.width
    }
    pub const fn height(&self) -> u32 {
        self.height
    }
    pub const fn format(&self) -> PixelFormat {
        self.format
    }
    /// Bytes from one pixel to the next in a row.
    pub const fn pixel_stride(&self) -> usize {
        self.pixel_stride
    }
    /// Bytes from one row to the next.
    pub const fn row_stride(&self) -> usize {
        self.row_stride
    }

    /// True when pixels follow each other with no gaps, row after row: the bytes are exactly
    /// `width * height * bytes_per_pixel` long and can be read as one slice.
    pub fn is_packed(&self) -> bool {
        let bpp = self.format.bytes_per_pixel();
        self.pixel_stride == bpp
            && (self.height <= 1 || self.row_stride == bpp * self.width as usize)
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

    fn check_strides(&self) -> Result<(), PluginError> {
        self.format.check_known()?;
        let bpp = self.format.bytes_per_pixel();
        if self.pixel_stride < bpp {
            return Err(PluginError::invalid_input(format!(
                "pixel stride {} is smaller than a {} pixel ({} bytes)",
                self.pixel_stride,
                self.format.as_str(),
                bpp
            )));
        }
        let row = self.pixel_stride.checked_mul(self.width as usize);
        if self.height > 1 && row.is_none_or(|row| self.row_stride < row) {
            return Err(PluginError::invalid_input(format!(
                "row stride {} is smaller than a row of {} pixels",
                self.row_stride, self.width
            )));
        }
        Ok(())
    }

    /// Checks the format, that strides do not make pixels overlap and that `len` bytes hold the
    /// image.
    pub fn validate(&self, len: usize) -> Result<(), PluginError> {
        self.check_strides()?;
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
    layout: ImageLayout,
    data: RSlice<'a, u8>,
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
    pub fn layout(&self) -> ImageLayout {
        self.layout
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
    /// See [`ImageLayout::is_packed`].
    pub fn is_packed(&self) -> bool {
        self.layout.is_packed()
    }
    /// The bytes the view spans (from its first pixel to the end of its last one), strides
    /// included.
    pub fn bytes(&self) -> &'a [u8] {
        let data: &'a [u8] = self.data.as_slice();
        let len = self.layout.required_len().unwrap_or(0).min(data.len());
        &data[..len]
    }
    /// The pixels as one packed slice, when the view [`is_packed`](Self::is_packed).
    pub fn packed_bytes(&self) -> Option<&'a [u8]> {
        self.is_packed().then(|| self.bytes())
    }

    /// The `width`×`height` region at (`x`, `y`), sharing this view's bytes and strides; an error
    /// when it does not lie inside the view.
    pub fn sub_view(&self, x: u32, y: u32, width: u32, height: u32) -> Result<Self, PluginError> {
        let inside = |at: u32, len: u32, of: u32| at.checked_add(len).is_some_and(|end| end <= of);
        if !inside(x, width, self.width()) || !inside(y, height, self.height()) {
            return Err(PluginError::invalid_input(format!(
                "region {width}x{height} at ({x}, {y}) is outside the {}x{} image",
                self.width(),
                self.height()
            )));
        }
        let layout = ImageLayout {
            width,
            height,
            ..self.layout
        };
        let data: &'a [u8] = self.data.as_slice();
        if width == 0 || height == 0 {
            return ImageView::new(layout, &[]);
        }
        let start = y as usize * self.layout.row_stride + x as usize * self.layout.pixel_stride;
        ImageView::new(layout, &data[start..])
    }

    /// A tightly packed copy in the same format (one copy when the view is already packed).
    pub fn to_packed(&self) -> ImageBuf {
        let l = self.layout;
        let layout = ImageLayout::packed(l.width, l.height, l.format);
        let data = match self.packed_bytes() {
            Some(bytes) => bytes.to_vec(),
            None => {
                let bpp = l.format.bytes_per_pixel();
                let mut data = Vec::with_capacity(layout.required_len().unwrap_or(0));
                for y in 0..l.height {
                    for x in 0..l.width {
                        data.extend_from_slice(&self.pixel_bytes(x, y)[..bpp]);
                    }
                }
                data
            }
        };
        ImageBuf {
            layout,
            data: data.into(),
        }
    }

    fn pixel_bytes(&self, x: u32, y: u32) -> &'a [u8] {
        let l = &self.layout;
        let start = y as usize * l.row_stride + x as usize * l.pixel_stride;
        let data: &'a [u8] = self.data.as_slice();
        &data[start..start + l.format.bytes_per_pixel()]
    }

    /// One pixel as RGBA in 0..1 (masks give their coverage in every channel; a format this SDK
    /// does not know reads as 0, which [`ImageView::new`] never lets happen).
    pub fn rgba_f32(&self, x: u32, y: u32) -> [f32; 4] {
        let p = self.pixel_bytes(x, y);
        match self.layout.format {
            PixelFormat::Rgba8 => [0, 1, 2, 3].map(|c| p[c] as f32 / 255.0),
            PixelFormat::Rgba16 => {
                [0, 1, 2, 3].map(|c| u16::from_ne_bytes([p[2 * c], p[2 * c + 1]]) as f32 / 65535.0)
            }
            PixelFormat::Rgba16F => {
                [0, 1, 2, 3].map(|c| f16_to_f32(u16::from_ne_bytes([p[2 * c], p[2 * c + 1]])))
            }
            PixelFormat::Rgba32F => [0, 1, 2, 3]
                .map(|c| f32::from_ne_bytes([p[4 * c], p[4 * c + 1], p[4 * c + 2], p[4 * c + 3]])),
            PixelFormat::Gray8 => [p[0] as f32 / 255.0; 4],
            PixelFormat::Gray32F => [f32::from_ne_bytes([p[0], p[1], p[2], p[3]]); 4],
            _ => [0.0; 4],
        }
    }

    /// The whole image as packed RGBA f32 in 0..1, row-major.
    pub fn to_rgba_f32(&self) -> Vec<f32> {
        let l = self.layout;
        let (w, h) = (l.width as usize, l.height as usize);
        let mut out = Vec::with_capacity(w * h * 4);
        if w == 0 || h == 0 {
            return out;
        }
        let data: &[u8] = self.data.as_slice();
        // The format is matched once per row, not per pixel, and each loop sees pixels of a
        // fixed size, so the conversions inline without bounds checks.
        for y in 0..h {
            let row = &data[y * l.row_stride..];
            match l.format {
                PixelFormat::Rgba8 => each_pixel::<4>(row, w, l.pixel_stride, |p| {
                    out.extend(p.map(|v| v as f32 / 255.0))
                }),
                PixelFormat::Rgba16 => each_pixel::<8>(row, w, l.pixel_stride, |p| {
                    out.extend(
                        [0, 1, 2, 3]
                            .map(|c| u16::from_ne_bytes([p[2 * c], p[2 * c + 1]]) as f32 / 65535.0),
                    )
                }),
                PixelFormat::Rgba16F => each_pixel::<8>(row, w, l.pixel_stride, |p| {
                    out.extend(
                        [0, 1, 2, 3]
                            .map(|c| f16_to_f32(u16::from_ne_bytes([p[2 * c], p[2 * c + 1]]))),
                    )
                }),
                PixelFormat::Rgba32F => each_pixel::<16>(row, w, l.pixel_stride, |p| {
                    out.extend([0, 1, 2, 3].map(|c| {
                        f32::from_ne_bytes([p[4 * c], p[4 * c + 1], p[4 * c + 2], p[4 * c + 3]])
                    }))
                }),
                PixelFormat::Gray8 => each_pixel::<1>(row, w, l.pixel_stride, |p| {
                    out.extend([p[0] as f32 / 255.0; 4])
                }),
                PixelFormat::Gray32F => each_pixel::<4>(row, w, l.pixel_stride, |p| {
                    out.extend([f32::from_ne_bytes(*p); 4])
                }),
                // A format this SDK does not know reads as 0, as in `rgba_f32`.
                _ => out.extend(std::iter::repeat_n(0.0, w * 4)),
            }
        }
        out
    }

    /// Packed f32 coverage in 0..1, as the host reads a mask: the gray channel of a mask format,
    /// the **alpha** channel of an RGBA image (the host's `mask_from_view` agrees).
    pub fn to_coverage_f32(&self) -> Vec<f32> {
        let (w, h) = (self.width(), self.height());
        let channel = if self.format().is_mask() { 0 } else { 3 };
        let mut out = Vec::with_capacity(w as usize * h as usize);
        for y in 0..h {
            for x in 0..w {
                out.push(self.rgba_f32(x, y)[channel]);
            }
        }
        out
    }
}

/// Calls `f` on the first `width` pixels of `row` (`B` bytes each, `stride` apart; a row the
/// layout was validated for holds them all).
fn each_pixel<const B: usize>(
    row: &[u8],
    width: usize,
    stride: usize,
    mut f: impl FnMut(&[u8; B]),
) {
    if stride == B {
        for p in row[..width * B].chunks_exact(B) {
            if let Ok(p) = <&[u8; B]>::try_from(p) {
                f(p);
            }
        }
    } else {
        for p in row.chunks(stride).take(width) {
            if let Some(Ok(p)) = p.get(..B).map(<&[u8; B]>::try_from) {
                f(p);
            }
        }
    }
}

/// An owned, tightly packed image: what an operation returns.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct ImageBuf {
    layout: ImageLayout,
    data: RVec<u8>,
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
        if layout.required_len() != Some(data.len()) {
            return Err(PluginError::plugin(format!(
                "{} bytes given for a packed {width}x{height} {} image",
                data.len(),
                format.as_str()
            )));
        }
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
        format.check_known()?;
        let mut data = Vec::with_capacity(pixels * format.bytes_per_pixel());
        match format {
            PixelFormat::Rgba8 => data.extend(rgba.iter().map(|&v| quantize_u8(v))),
            PixelFormat::Rgba16 => {
                for &v in rgba {
                    data.extend_from_slice(&quantize_u16(v).to_ne_bytes());
                }
            }
            PixelFormat::Rgba16F => {
                for &v in rgba {
                    data.extend_from_slice(&f32_to_f16(v).to_ne_bytes());
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
            _ => {}
        }
        Self::from_bytes(width, height, format, data)
    }

    pub fn layout(&self) -> ImageLayout {
        self.layout
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
    /// The packed pixel bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.as_slice()
    }
    /// The packed pixel bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data.into_vec()
    }

    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            layout: self.layout,
            data: RSlice::from_slice(self.data.as_slice()),
        }
    }
}

/// IEEE 754 half to single precision.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((113 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Single to IEEE 754 half precision, rounding to nearest even.
pub fn f32_to_f16(v: f32) -> u16 {
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1 << shift) - 1);
        let mut out = (m >> shift) as u16;
        if rest > half || (rest == half && out & 1 == 1) {
            out += 1;
        }
        return sign | out;
    }
    let mut out = ((e as u32) << 10 | (mant >> 13)) as u16;
    let rest = mant & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && out & 1 == 1) {
        out += 1; // may carry into the exponent, which is still right
    }
    sign | out
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
        let layout = ImageLayout::new(2, 2, PixelFormat::Rgba8, 4, 10).unwrap();
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
        assert!(ImageLayout::new(4, 4, PixelFormat::Rgba16, 2, 32).is_err());
        assert!(ImageLayout::new(4, 4, PixelFormat::Rgba16, 8, 31).is_err());
        let huge = ImageLayout::packed(u32::MAX, u32::MAX, PixelFormat::Rgba32F);
        assert!(huge.validate(16).is_err());
    }

    #[test]
    fn formats_round_trip_through_f32() {
        let rgba = [0.0, 0.25, 0.5, 1.0, 1.0, 0.75, 0.125, 0.0];
        for format in [
            PixelFormat::Rgba8,
            PixelFormat::Rgba16,
            PixelFormat::Rgba16F,
            PixelFormat::Rgba32F,
        ] {
            let buf = ImageBuf::from_rgba_f32(2, 1, &rgba, format).unwrap();
            let back = buf.view().to_rgba_f32();
            let tol = match format {
                PixelFormat::Rgba8 => 1.0 / 255.0,
                PixelFormat::Rgba16 => 1.0 / 65535.0,
                PixelFormat::Rgba16F => 1.0 / 2048.0,
                _ => 0.0,
            };
            for (a, b) in rgba.iter().zip(&back) {
                assert!((a - b).abs() <= tol, "{format:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn an_unknown_format_is_refused_with_its_number() {
        let future = PixelFormat(42);
        assert!(!future.is_known());
        assert_eq!(future.as_str(), "unknown");
        let err = ImageLayout::new(2, 2, future, 4, 8).unwrap_err();
        assert!(err.message.contains("pixel format 42"), "{err}");
        let err = ImageView::new(ImageLayout::packed(1, 1, future), &[0; 16]).unwrap_err();
        assert!(err.message.contains("pixel format 42"), "{err}");
        assert!(ImageBuf::from_rgba_f32(1, 1, &[0.0; 4], future).is_err());
    }

    #[test]
    fn sub_views_share_strides_and_are_checked() {
        let rgba: Vec<f32> = (0..4 * 3 * 4).map(|i| i as f32 / 64.0).collect();
        let buf = ImageBuf::from_rgba_f32(4, 3, &rgba, PixelFormat::Rgba32F).unwrap();
        let view = buf.view();
        assert!(view.is_packed());
        let sub = view.sub_view(1, 1, 2, 2).unwrap();
        assert!(!sub.is_packed());
        assert!(sub.packed_bytes().is_none());
        assert_eq!(sub.rgba_f32(0, 0), view.rgba_f32(1, 1));
        assert_eq!(sub.rgba_f32(1, 1), view.rgba_f32(2, 2));
        assert!(view.sub_view(3, 0, 2, 1).is_err());
        assert!(view.sub_view(0, 0, 4, 4).is_err());
        assert!(view.sub_view(u32::MAX, 0, 2, 1).is_err());
        let copy = sub.to_packed();
        assert!(copy.view().is_packed());
        assert_eq!(copy.view().to_rgba_f32(), sub.to_rgba_f32());
        let row = view.sub_view(0, 2, 4, 1).unwrap();
        assert!(row.is_packed());
        assert_eq!(row.packed_bytes().unwrap().len(), 4 * 16);
    }

    #[test]
    fn to_rgba_f32_reads_every_format_and_stride_like_rgba_f32() {
        let rgba: Vec<f32> = (0..5 * 3 * 4).map(|i| (i % 17) as f32 / 16.0).collect();
        for format in [
            PixelFormat::Rgba8,
            PixelFormat::Rgba16,
            PixelFormat::Rgba16F,
            PixelFormat::Rgba32F,
            PixelFormat::Gray8,
            PixelFormat::Gray32F,
        ] {
            let buf = ImageBuf::from_rgba_f32(5, 3, &rgba, format).unwrap();
            // Packed, then strided: a region whose rows and pixels skip bytes.
            for view in [buf.view(), buf.view().sub_view(1, 1, 3, 2).unwrap()] {
                let per_pixel: Vec<f32> = (0..view.height())
                    .flat_map(|y| (0..view.width()).flat_map(move |x| view.rgba_f32(x, y)))
                    .collect();
                assert_eq!(view.to_rgba_f32(), per_pixel, "{}", format.as_str());
            }
        }
    }

    #[test]
    fn rgba_coverage_is_alpha_and_mask_coverage_is_gray() {
        let rgba = [1.0, 0.0, 0.0, 0.25];
        let img = ImageBuf::from_rgba_f32(1, 1, &rgba, PixelFormat::Rgba32F).unwrap();
        assert_eq!(img.view().to_coverage_f32(), vec![0.25]);
        let mask =
            ImageBuf::from_rgba_f32(1, 1, &[0.5, 0.0, 0.0, 1.0], PixelFormat::Gray32F).unwrap();
        assert_eq!(mask.view().to_coverage_f32(), vec![0.5]);
    }

    #[test]
    fn half_floats_round_trip() {
        for v in [0.0f32, 1.0, 0.5, 0.333, 1e-5, -2.0, 65504.0] {
            let back = f16_to_f32(f32_to_f16(v));
            assert!((back - v).abs() <= v.abs() / 1024.0 + 1e-7, "{v} -> {back}");
        }
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert!(f16_to_f32(f32_to_f16(f32::INFINITY)).is_infinite());
    }
}

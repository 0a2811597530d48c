//! Pixel format conversion from any strided view to a packed image, exact where the formats allow.

use super::OwnedImage;
use crate::{ImageView, PixelFormat};
use half::f16;

/// One stored sample type (u8, u16 or f32, native endian).
pub(super) trait Sample: Copy {
    const SIZE: usize;
    /// Full intensity / opaque.
    const ONE: Self;
    fn read(b: &[u8]) -> Self;
    fn write(self, b: &mut [u8]);
    /// The sample on its own scale (0..=ONE), as f32.
    fn to_f32(self) -> f32;
    /// Back from its own scale: rounded and clamped for integers, as is for f32.
    fn from_f32(v: f32) -> Self;
}

impl Sample for u8 {
    const SIZE: usize = 1;
    const ONE: Self = u8::MAX;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        b[0]
    }
    #[inline(always)]
    fn write(self, b: &mut [u8]) {
        b[0] = self;
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        // `as` saturates and maps NaN to 0.
        (v + 0.5) as u8
    }
}

impl Sample for u16 {
    const SIZE: usize = 2;
    const ONE: Self = u16::MAX;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        u16::from_ne_bytes([b[0], b[1]])
    }
    #[inline(always)]
    fn write(self, b: &mut [u8]) {
        b[..2].copy_from_slice(&self.to_ne_bytes());
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        (v + 0.5) as u16
    }
}

impl Sample for f32 {
    const SIZE: usize = 4;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }
    #[inline(always)]
    fn write(self, b: &mut [u8]) {
        b[..4].copy_from_slice(&self.to_ne_bytes());
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl Sample for f16 {
    const SIZE: usize = 2;
    const ONE: Self = f16::ONE;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        f16::from_ne_bytes([b[0], b[1]])
    }
    #[inline(always)]
    fn write(self, b: &mut [u8]) {
        b[..2].copy_from_slice(&self.to_ne_bytes());
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
}

/// Converting one sample to another type: exact widening, rounded narrowing, clamped from float.
trait To<D> {
    fn to(self) -> D;
}

impl To<u8> for u8 {
    #[inline(always)]
    fn to(self) -> u8 {
        self
    }
}
impl To<u16> for u8 {
    #[inline(always)]
    fn to(self) -> u16 {
        self as u16 * 257
    }
}
impl To<f32> for u8 {
    #[inline(always)]
    fn to(self) -> f32 {
        self as f32 / 255.0
    }
}
impl To<u8> for u16 {
    #[inline(always)]
    fn to(self) -> u8 {
        // round(v / 257) in integers: v * 255 / 65535 == v / 257.
        ((self as u32 + 128) / 257) as u8
    }
}
impl To<u16> for u16 {
    #[inline(always)]
    fn to(self) -> u16 {
        self
    }
}
impl To<f32> for u16 {
    #[inline(always)]
    fn to(self) -> f32 {
        self as f32 / 65535.0
    }
}
// The SDK's quantize_u8/u16 formula, repeated here so it inlines into the vectorized loops.
impl To<u8> for f32 {
    #[inline(always)]
    fn to(self) -> u8 {
        (self.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
    }
}
impl To<u16> for f32 {
    #[inline(always)]
    fn to(self) -> u16 {
        (self.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16
    }
}
impl To<f32> for f32 {
    #[inline(always)]
    fn to(self) -> f32 {
        self
    }
}
// Half floats convert through f32, like f32 itself: unclamped between floats, clamped to ints.
impl<D> To<D> for f16
where
    f32: To<D>,
{
    #[inline(always)]
    fn to(self) -> D {
        f32::from(self).to()
    }
}
impl To<f16> for u8 {
    #[inline(always)]
    fn to(self) -> f16 {
        f16::from_f32(To::<f32>::to(self))
    }
}
impl To<f16> for u16 {
    #[inline(always)]
    fn to(self) -> f16 {
        f16::from_f32(To::<f32>::to(self))
    }
}
impl To<f16> for f32 {
    #[inline(always)]
    fn to(self) -> f16 {
        f16::from_f32(self)
    }
}

/// An f32 sample in 0..1 as u8: clamped, rounded, NaN to 0.
#[inline(always)]
pub fn quantize_u8(v: f32) -> u8 {
    To::<u8>::to(v)
}

/// An f32 sample in 0..1 as u16: clamped, rounded, NaN to 0.
#[inline(always)]
pub fn quantize_u16(v: f32) -> u16 {
    To::<u16>::to(v)
}

/// Converts any view (any strides, any format) to a packed image in `to`.
///
/// RGBA ↔ RGBA: 8→16 is `v * 257` (exact), 16→8 rounds, ints→f32 divide by the maximum, f32→ints
/// clamp to 0..1 and round (NaN becomes 0); f32→f32 is copied unclamped.
/// Gray → RGBA: R=G=B=gray, A=1. RGBA → gray: the **alpha** channel, because gray formats carry
/// coverage and an RGBA mask is its alpha (the same rule as [`super::mask_from_view`]).
///
/// The view must fit its data, as [`ImageView::new`] guarantees; a hand-built view that does not
/// makes this panic.
pub fn convert(view: &ImageView<'_>, to: PixelFormat) -> OwnedImage {
    let mut out = OwnedImage::new(view.width(), view.height(), to);
    convert_into(view, to, &mut out.data);
    out
}

/// [`convert`] into a packed buffer the caller owns (shared memory, an output being placed),
/// so the pixels are written once, where they are going.
///
/// `dst` must hold at least `width × height × to.bytes_per_pixel()` bytes; the packed image is
/// written at its start and the rest is left as it is. Panics when it is shorter.
pub fn convert_into(view: &ImageView<'_>, to: PixelFormat, dst: &mut [u8]) {
    let (w, h) = (view.width(), view.height());
    let len = w as usize * h as usize * to.bytes_per_pixel();
    assert!(
        dst.len() >= len,
        "convert_into: {w}x{h} {to} needs {len} bytes, the buffer has {}",
        dst.len()
    );
    if len == 0 {
        return;
    }
    let dst = &mut dst[..len];
    let layout = view.layout();
    let src = view.data();
    if layout.format == to && layout.pixel_stride == to.bytes_per_pixel() {
        // Rows are already packed: copy them whole.
        let row_len = w as usize * to.bytes_per_pixel();
        for (y, dst) in dst.chunks_exact_mut(row_len).enumerate() {
            let start = y * layout.row_stride;
            dst.copy_from_slice(&src[start..start + row_len]);
        }
        return;
    }
    match to {
        PixelFormat::Rgba8 => from_any::<u8, 4>(view, dst),
        PixelFormat::Rgba16 => from_any::<u16, 4>(view, dst),
        PixelFormat::Rgba16F => from_any::<f16, 4>(view, dst),
        PixelFormat::Rgba32F => from_any::<f32, 4>(view, dst),
        PixelFormat::Gray8 => from_any::<u8, 1>(view, dst),
        PixelFormat::Gray32F => from_any::<f32, 1>(view, dst),
    }
}

fn from_any<D: Sample, const DC: usize>(view: &ImageView<'_>, dst: &mut [u8])
where
    u8: To<D>,
    u16: To<D>,
    f32: To<D>,
    f16: To<D>,
{
    match view.format() {
        PixelFormat::Rgba8 => run::<u8, D, 4, DC>(view, dst),
        PixelFormat::Rgba16 => run::<u16, D, 4, DC>(view, dst),
        PixelFormat::Rgba16F => run::<f16, D, 4, DC>(view, dst),
        PixelFormat::Rgba32F => run::<f32, D, 4, DC>(view, dst),
        PixelFormat::Gray8 => run::<u8, D, 1, DC>(view, dst),
        PixelFormat::Gray32F => run::<f32, D, 1, DC>(view, dst),
    }
}

/// The per-pixel loop, monomorphized per (source, destination) pair so the channel mapping and
/// sample conversion inline.
fn run<S, D, const SC: usize, const DC: usize>(view: &ImageView<'_>, dst: &mut [u8])
where
    S: Sample + To<D>,
    D: Sample,
{
    let layout = view.layout();
    let src = view.data();
    let dst_px = DC * D::SIZE;
    let row_len = layout.width as usize * dst_px;
    // Same channels and packed pixels: a flat map over samples.
    let flat = SC == DC && layout.pixel_stride == SC * S::SIZE;
    for (y, dst_row) in dst.chunks_exact_mut(row_len).enumerate() {
        let src_row = &src[y * layout.row_stride..];
        if flat {
            let src_row = &src_row[..layout.width as usize * SC * S::SIZE];
            for (d, s) in dst_row
                .chunks_exact_mut(D::SIZE)
                .zip(src_row.chunks_exact(S::SIZE))
            {
                S::read(s).to().write(d);
            }
            continue;
        }
        for (x, d) in dst_row.chunks_exact_mut(dst_px).enumerate() {
            let p = &src_row[x * layout.pixel_stride..][..SC * S::SIZE];
            for c in 0..DC {
                let v: D = if SC == DC {
                    S::read(&p[c * S::SIZE..]).to()
                } else if SC == 4 {
                    // RGBA → coverage: alpha.
                    S::read(&p[3 * S::SIZE..]).to()
                } else if c < 3 {
                    S::read(p).to()
                } else {
                    D::ONE
                };
                v.write(&mut d[c * D::SIZE..]);
            }
        }
    }
}

/// Every pixel's coverage as f32, row-major, unclamped: gray formats their value, RGBA formats
/// their alpha (the rule of [`convert`] to a gray format), in one pass.
pub(super) fn coverage(view: &ImageView<'_>) -> Vec<f32> {
    match view.format() {
        PixelFormat::Rgba8 => coverage_of::<u8, 4>(view),
        PixelFormat::Rgba16 => coverage_of::<u16, 4>(view),
        PixelFormat::Rgba16F => coverage_of::<f16, 4>(view),
        PixelFormat::Rgba32F => coverage_of::<f32, 4>(view),
        PixelFormat::Gray8 => coverage_of::<u8, 1>(view),
        PixelFormat::Gray32F => coverage_of::<f32, 1>(view),
    }
}

fn coverage_of<S: Sample + To<f32>, const SC: usize>(view: &ImageView<'_>) -> Vec<f32> {
    let layout = view.layout();
    let (w, h) = (layout.width as usize, layout.height as usize);
    let src = view.data();
    let mut out = Vec::with_capacity(w * h);
    if w == 0 {
        return out;
    }
    let offset = (SC - 1) * S::SIZE;
    for y in 0..h {
        let row = &src[y * layout.row_stride + offset..];
        // The last pixel needs only its own bytes, not a whole stride.
        let row = &row[..(w - 1) * layout.pixel_stride + S::SIZE];
        out.extend(row.chunks(layout.pixel_stride).map(|p| S::read(p).to()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageLayout;

    fn packed(w: u32, h: u32, format: PixelFormat, data: Vec<u8>) -> OwnedImage {
        OwnedImage {
            width: w,
            height: h,
            format,
            data,
        }
    }

    fn u16s(img: &OwnedImage) -> Vec<u16> {
        img.data
            .chunks_exact(2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .collect()
    }

    fn f32s(img: &OwnedImage) -> Vec<f32> {
        img.data
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// Every 8-bit value, as a 64x1 RGBA8 image.
    fn all_u8() -> OwnedImage {
        packed(64, 1, PixelFormat::Rgba8, (0..=255u8).collect())
    }

    #[test]
    fn eight_bit_round_trips_exactly_through_16_and_f32() {
        let src = all_u8();
        let w16 = convert(&src.view(), PixelFormat::Rgba16);
        assert_eq!(
            u16s(&w16),
            (0..=255u16).map(|v| v * 257).collect::<Vec<_>>()
        );
        assert_eq!(convert(&w16.view(), PixelFormat::Rgba8), src);
        let f = convert(&src.view(), PixelFormat::Rgba32F);
        assert_eq!(f32s(&f)[128], 128.0 / 255.0);
        assert_eq!(convert(&f.view(), PixelFormat::Rgba8), src);
        let f16 = convert(&w16.view(), PixelFormat::Rgba32F);
        assert_eq!(convert(&f16.view(), PixelFormat::Rgba16), w16);
    }

    #[test]
    fn sixteen_to_eight_rounds_to_nearest() {
        let vals: Vec<u16> = (0..=65535u16).step_by(7).chain([65535]).collect();
        let n = vals.len() / 4 * 4;
        let mut data = Vec::new();
        for v in &vals[..n] {
            data.extend_from_slice(&v.to_ne_bytes());
        }
        let img = packed(n as u32 / 4, 1, PixelFormat::Rgba16, data);
        let out = convert(&img.view(), PixelFormat::Rgba8);
        for (v, b) in vals[..n].iter().zip(&out.data) {
            let exact = *v as f64 * 255.0 / 65535.0;
            assert!((exact - *b as f64).abs() <= 0.5, "{v} -> {b}");
        }
    }

    #[test]
    fn float_clamps_going_to_integers_but_not_to_float() {
        let mut data = Vec::new();
        for v in [-0.5f32, 1.5, f32::NAN, 0.5] {
            data.extend_from_slice(&v.to_ne_bytes());
        }
        let img = packed(1, 1, PixelFormat::Rgba32F, data);
        assert_eq!(
            convert(&img.view(), PixelFormat::Rgba8).data,
            [0, 255, 0, 128]
        );
        assert_eq!(
            u16s(&convert(&img.view(), PixelFormat::Rgba16)),
            [0, 65535, 0, 32768]
        );
        let same = f32s(&convert(&img.view(), PixelFormat::Rgba32F));
        assert_eq!(same[..2], [-0.5, 1.5]);
    }

    #[test]
    fn strided_views_convert_like_packed_ones() {
        let src = all_u8();
        let f = convert(&src.view(), PixelFormat::Rgba32F);
        // Lay the same 8x8 RGBA32F pixels out with 4 bytes between pixels and 20 after each row.
        let packed8 = packed(
            8,
            8,
            PixelFormat::Rgba32F,
            convert(&src.view(), PixelFormat::Rgba32F).data,
        );
        let (ps, rs) = (20usize, 8 * 20 + 20);
        let mut strided = vec![0xFFu8; rs * 8];
        for y in 0..8 {
            for x in 0..8 {
                let s = (y * 8 + x) * 16;
                let d = y * rs + x * ps;
                strided[d..d + 16].copy_from_slice(&packed8.data[s..s + 16]);
            }
        }
        let layout = ImageLayout {
            width: 8,
            height: 8,
            format: PixelFormat::Rgba32F,
            pixel_stride: ps,
            row_stride: rs,
        };
        let view = ImageView::new(layout, &strided).unwrap();
        let back = convert(&view, PixelFormat::Rgba32F);
        assert_eq!(back.data, f.data);
        assert_eq!(convert(&view, PixelFormat::Rgba8).data, src.data);
        assert_eq!(
            convert(&view, PixelFormat::Rgba16).data,
            convert(&src.view(), PixelFormat::Rgba16).data
        );

        // A strided gray view whose rows are packed but padded at the end.
        let gray = [1u8, 2, 3, 0, 4, 5, 6, 0];
        let layout = ImageLayout {
            width: 3,
            height: 2,
            format: PixelFormat::Gray8,
            pixel_stride: 1,
            row_stride: 4,
        };
        let view = ImageView::new(layout, &gray).unwrap();
        assert_eq!(convert(&view, PixelFormat::Gray8).data, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn convert_into_writes_the_packed_image_at_the_start_and_nothing_else() {
        let src = all_u8();
        let want = convert(&src.view(), PixelFormat::Rgba16F).data;
        let mut buf = vec![0xAAu8; want.len() + 7];
        convert_into(&src.view(), PixelFormat::Rgba16F, &mut buf);
        assert_eq!(&buf[..want.len()], &want[..]);
        assert!(buf[want.len()..].iter().all(|&b| b == 0xAA));
        // Same format, packed: the row copy path.
        let mut same = vec![0u8; src.data.len()];
        convert_into(&src.view(), PixelFormat::Rgba8, &mut same);
        assert_eq!(same, src.data);
    }

    #[test]
    #[should_panic(expected = "needs 256 bytes")]
    fn convert_into_a_short_buffer_is_refused() {
        let src = all_u8();
        convert_into(&src.view(), PixelFormat::Rgba8, &mut [0u8; 255]);
    }

    #[test]
    fn gray_expands_to_opaque_rgba_and_rgba_to_gray_keeps_alpha() {
        let g = packed(2, 1, PixelFormat::Gray8, vec![10, 200]);
        assert_eq!(
            convert(&g.view(), PixelFormat::Rgba8).data,
            [10, 10, 10, 255, 200, 200, 200, 255]
        );
        assert_eq!(
            u16s(&convert(&g.view(), PixelFormat::Rgba16)),
            [2570, 2570, 2570, 65535, 51400, 51400, 51400, 65535]
        );
        let gf = convert(&g.view(), PixelFormat::Gray32F);
        assert_eq!(f32s(&gf), [10.0 / 255.0, 200.0 / 255.0]);
        assert_eq!(
            f32s(&convert(&gf.view(), PixelFormat::Rgba32F))[4..],
            [200.0 / 255.0, 200.0 / 255.0, 200.0 / 255.0, 1.0]
        );
        assert_eq!(convert(&gf.view(), PixelFormat::Gray8), g);

        let rgba = packed(2, 1, PixelFormat::Rgba8, vec![1, 2, 3, 40, 5, 6, 7, 255]);
        assert_eq!(convert(&rgba.view(), PixelFormat::Gray8).data, [40, 255]);
        assert_eq!(
            f32s(&convert(&rgba.view(), PixelFormat::Gray32F)),
            [40.0 / 255.0, 1.0]
        );
    }

    #[test]
    fn empty_images_convert_to_empty_images() {
        let e = packed(0, 5, PixelFormat::Rgba8, vec![]);
        let out = convert(&e.view(), PixelFormat::Rgba32F);
        assert_eq!((out.width, out.height, out.data.len()), (0, 5, 0));
    }
}

//! Pixels in and out of the services: SDK views to RGBA8, PNG encoding, decoding what comes back
//! (with limits), resizing.

use easel_sdk::{image::quantize_u8, ImageView, PluginError};
use image::{imageops::FilterType, ImageFormat, RgbaImage};
use std::io::Cursor;

/// An encoded image and its size.
#[derive(Debug, Clone, PartialEq)]
pub struct Png {
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// A view of any SDK format as packed RGBA8 (strides honoured).
pub fn to_rgba8(view: &ImageView<'_>) -> Result<RgbaImage, PluginError> {
    let (w, h) = (view.width(), view.height());
    let mut data = Vec::with_capacity(w as usize * h as usize * 4);
    for y in 0..h {
        for x in 0..w {
            data.extend(view.rgba_f32(x, y).map(quantize_u8));
        }
    }
    RgbaImage::from_raw(w, h, data)
        .ok_or_else(|| PluginError::plugin(format!("{w}x{h} image does not fit its buffer")))
}

/// The size that fits `(w, h)` within `max_side` on its longer side (never enlarges).
pub fn fit_within(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max_side || long == 0 {
        return (w, h);
    }
    let scale = max_side as f64 / long as f64;
    (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    )
}

pub fn resize(img: &RgbaImage, w: u32, h: u32) -> RgbaImage {
    if img.dimensions() == (w, h) {
        return img.clone();
    }
    image::imageops::resize(img, w, h, FilterType::Lanczos3)
}

pub fn encode_png(img: &RgbaImage) -> Result<Png, PluginError> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|e| PluginError::plugin(format!("cannot encode PNG: {e}")))?;
    Ok(Png {
        width: img.width(),
        height: img.height(),
        bytes,
    })
}

/// A soft mask (coverage 0..1) as a black-and-white RGBA image: white where to change.
pub fn mask_as_white(coverage: &[f32], w: u32, h: u32) -> Result<RgbaImage, PluginError> {
    let data = coverage
        .iter()
        .flat_map(|&c| {
            let v = quantize_u8(c);
            [v, v, v, 255]
        })
        .collect();
    RgbaImage::from_raw(w, h, data).ok_or_else(|| PluginError::plugin("mask size mismatch"))
}

/// A soft mask as the OpenAI images API wants it: transparent (alpha 0) where to edit, opaque
/// where to keep.
pub fn mask_as_alpha(coverage: &[f32], w: u32, h: u32) -> Result<RgbaImage, PluginError> {
    let data = coverage
        .iter()
        .flat_map(|&c| [0, 0, 0, 255 - quantize_u8(c)])
        .collect();
    RgbaImage::from_raw(w, h, data).ok_or_else(|| PluginError::plugin("mask size mismatch"))
}

/// Decodes an image a service returned (PNG, JPEG or WebP), refusing more than `max_pixels`.
pub fn decode(bytes: &[u8], max_pixels: u64, service: &str) -> Result<RgbaImage, PluginError> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PluginError::model(format!("{service} sent an unreadable image: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16384);
    limits.max_image_height = Some(16384);
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    reader.limits(limits);
    let (w, h) = reader.into_dimensions().map_err(|e| {
        PluginError::model(format!("{service} sent an image that is not an image: {e}"))
    })?;
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(PluginError::limits(format!(
            "{service} sent a {w}x{h} image, more than the {} megapixels accepted",
            max_pixels / 1_000_000
        )));
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PluginError::model(format!("{service} sent an unreadable image: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    reader.limits(limits);
    let img = reader.decode().map_err(|e| {
        PluginError::model(format!("{service} sent an image that does not decode: {e}"))
    })?;
    Ok(img.to_rgba8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_sdk::{ImageLayout, PixelFormat};

    #[test]
    fn strided_views_round_trip_through_png() {
        // 2x2 RGBA8 with 4 bytes of padding per row.
        let mut data = vec![0u8; 12 * 2];
        data[..8].copy_from_slice(&[255, 0, 0, 255, 0, 255, 0, 128]);
        data[12..20].copy_from_slice(&[0, 0, 255, 255, 10, 20, 30, 40]);
        let layout = ImageLayout::new(2, 2, PixelFormat::Rgba8, 4, 12).unwrap();
        let view = ImageView::new(layout, &data).unwrap();
        let img = to_rgba8(&view).unwrap();
        let png = encode_png(&img).unwrap();
        assert_eq!(&png.bytes[1..4], b"PNG");
        let back = decode(&png.bytes, 1 << 20, "test").unwrap();
        assert_eq!(
            back.as_raw(),
            &[255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 255, 10, 20, 30, 40]
        );
    }

    #[test]
    fn decoding_refuses_garbage_and_too_many_pixels() {
        let err = decode(b"definitely not an image", 1 << 20, "svc").unwrap_err();
        assert_eq!(err.kind, easel_sdk::ErrorKind::Model);
        let big = encode_png(&RgbaImage::new(300, 300)).unwrap();
        let err = decode(&big.bytes, 50_000, "svc").unwrap_err();
        assert_eq!(err.kind, easel_sdk::ErrorKind::Limits);
        assert!(err.message.contains("300x300"), "{err}");
    }

    #[test]
    fn sizes_and_masks() {
        assert_eq!(fit_within(3000, 1500, 1500), (1500, 750));
        assert_eq!(fit_within(100, 50, 1500), (100, 50));
        let m = mask_as_alpha(&[1.0, 0.0], 2, 1).unwrap();
        assert_eq!(m.as_raw(), &[0, 0, 0, 0, 0, 0, 0, 255]);
        let m = mask_as_white(&[1.0, 0.0], 2, 1).unwrap();
        assert_eq!(m.as_raw(), &[255, 255, 255, 255, 0, 0, 0, 255]);
        assert_eq!(resize(&RgbaImage::new(4, 2), 8, 4).dimensions(), (8, 4));
    }
}

//! easel-imaging: pixel and mask handling on the host — strided views, format conversion, mask
//! modifiers (invert, grow/shrink, feather), bounds and crops, compositing through a mask, tiling
//! with blended seams, and (feature `codecs`) PNG/JPEG decode and encode.
//!
//! Everything but the file functions is pure and O(pixels); they run on every job, on 4K images.
//!
//! Conventions, chosen once here so every caller agrees:
//! - [`OwnedImage`] is tightly packed with native-endian samples, like [`ImageBuf`].
//! - Gray formats carry coverage. RGBA → gray keeps the **alpha** channel (so [`convert`] to a gray
//!   format and [`mask_from_view`] agree: an RGBA mask is its alpha); gray → RGBA sets R=G=B=gray
//!   and A=1.
//! - A [`Mask`] holds coverage in 0..1 as f32, row-major, `width * height` values.

mod blur;
#[cfg(feature = "codecs")]
mod codec;
mod convert;
mod distance;
mod mask;
pub mod tiling;
mod view;

#[cfg(feature = "codecs")]
pub use codec::{
    decode_file, decode_file_with_profile, decode_mask_file, encode_file, encode_png, DecodeLimits,
    FileFormat,
};
pub use convert::{convert, convert_into, quantize_u16, quantize_u8};
pub use easel_protocol::{ImageLayout, LayoutError, MaskModifiers, PixelFormat};
pub use mask::{
    apply_modifiers, composite_through_mask, crop, crop_mask, expand, mask_bounds, mask_from_view,
    resize_mask_bilinear,
};
pub use view::ImageView;

use easel_protocol::Code;
#[cfg(feature = "codecs")]
use std::path::PathBuf;

/// An owned, tightly packed image with native-endian samples.
///
/// Invariant: `data.len() == width * height * format.bytes_per_pixel()`; the functions here that
/// can fail check it, the others assume it (as [`OwnedImage::view`] does).
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedImage {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    pub data: Vec<u8>,
}

impl OwnedImage {
    /// A zeroed (transparent black, or empty coverage) image.
    pub fn new(width: u32, height: u32, format: PixelFormat) -> Self {
        let len = width as usize * height as usize * format.bytes_per_pixel();
        OwnedImage {
            width,
            height,
            format,
            data: vec![0; len],
        }
    }

    pub fn layout(&self) -> ImageLayout {
        ImageLayout::packed(self.width, self.height, self.format)
    }

    /// A view of the whole image. Relies on the packing invariant (see [`OwnedImage::check`]).
    pub fn view(&self) -> ImageView<'_> {
        ImageView::packed_unchecked(self.layout(), &self.data)
    }

    /// Packed RGBA8 bytes (the preview/wire form), converting per [`convert`].
    pub fn to_rgba8_bytes(&self) -> Vec<u8> {
        if self.format == PixelFormat::Rgba8 {
            self.data.clone()
        } else {
            convert(&self.view(), PixelFormat::Rgba8).data
        }
    }

    /// Checks the packing invariant.
    pub fn check(&self) -> Result<(), ImagingError> {
        let expected = self.width as usize * self.height as usize * self.format.bytes_per_pixel();
        if self.data.len() == expected {
            Ok(())
        } else {
            Err(ImagingError::InvalidLayout {
                reason: format!(
                    "{}x{} {} image holds {} bytes, expected {expected}",
                    self.width,
                    self.height,
                    self.format.as_str(),
                    self.data.len()
                ),
            })
        }
    }
}

/// A soft selection: coverage in 0..1, row-major, `width * height` values.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl Mask {
    /// A mask with the same coverage everywhere.
    pub fn filled(width: u32, height: u32, coverage: f32) -> Self {
        Mask {
            width,
            height,
            data: vec![coverage; width as usize * height as usize],
        }
    }

    /// The mask as an image: `Gray32F` exactly, `Gray8` quantized, RGBA formats as R=G=B=coverage,
    /// A=1 (see [`convert`]).
    pub fn to_image(&self, format: PixelFormat) -> OwnedImage {
        let mut bytes = Vec::with_capacity(self.data.len() * 4);
        for v in &self.data {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        let gray = OwnedImage {
            width: self.width,
            height: self.height,
            format: PixelFormat::Gray32F,
            data: bytes,
        };
        if format == PixelFormat::Gray32F {
            gray
        } else {
            convert(&gray.view(), format)
        }
    }

    /// Checks that `data` holds `width * height` values.
    pub fn check(&self) -> Result<(), ImagingError> {
        let expected = self.width as usize * self.height as usize;
        if self.data.len() == expected {
            Ok(())
        } else {
            Err(ImagingError::InvalidLayout {
                reason: format!(
                    "{}x{} mask holds {} values, expected {expected}",
                    self.width,
                    self.height,
                    self.data.len()
                ),
            })
        }
    }
}

/// A pixel rectangle, `x`/`y` its top-left corner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }
}

/// Why an imaging step failed.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    #[error(
        "{what} is {actual_width}x{actual_height}, expected {expected_width}x{expected_height}"
    )]
    SizeMismatch {
        what: &'static str,
        expected_width: u32,
        expected_height: u32,
        actual_width: u32,
        actual_height: u32,
    },
    #[error("{what} is {}, expected {}", .actual.as_str(), .expected.as_str())]
    FormatMismatch {
        what: &'static str,
        expected: PixelFormat,
        actual: PixelFormat,
    },
    #[cfg(feature = "codecs")]
    #[error("{}: {width}x{height} is over the limit of {max_pixels} pixels", .path.display())]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[cfg(feature = "codecs")]
    #[error("cannot decode {}: {source}", .path.display())]
    Decode {
        path: PathBuf,
        source: image::ImageError,
    },
    #[cfg(feature = "codecs")]
    #[error("cannot encode {}: {source}", .path.display())]
    Encode {
        path: PathBuf,
        source: image::ImageError,
    },
    #[cfg(feature = "codecs")]
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad image layout: {reason}")]
    InvalidLayout { reason: String },
}

impl ImagingError {
    /// The protocol code for this failure: who is at fault.
    pub fn code(&self) -> Code {
        match self {
            ImagingError::SizeMismatch { .. }
            | ImagingError::FormatMismatch { .. }
            | ImagingError::InvalidLayout { .. } => Code::InvalidInput,
            #[cfg(feature = "codecs")]
            ImagingError::TooLarge { .. } => Code::TooLarge,
            #[cfg(feature = "codecs")]
            ImagingError::Decode { source, .. } => match source {
                image::ImageError::Limits(_) => Code::TooLarge,
                image::ImageError::IoError(_) => Code::Environment,
                _ => Code::InvalidInput,
            },
            #[cfg(feature = "codecs")]
            ImagingError::Encode { source, .. } => match source {
                image::ImageError::Limits(_) => Code::TooLarge,
                image::ImageError::IoError(_) => Code::Environment,
                // Anything else means we handed the encoder something it cannot write: our bug.
                _ => Code::Internal,
            },
            #[cfg(feature = "codecs")]
            ImagingError::Io { .. } => Code::Environment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_become_images() {
        let m = Mask {
            width: 2,
            height: 1,
            data: vec![0.0, 1.0],
        };
        assert_eq!(m.to_image(PixelFormat::Gray8).data, vec![0, 255]);
        assert_eq!(
            m.to_image(PixelFormat::Rgba8).data,
            vec![0, 0, 0, 255, 255, 255, 255, 255]
        );
        assert!(m.check().is_ok());
        assert!(Mask { data: vec![], ..m }.check().is_err());
    }

    #[test]
    fn rects_serialize_by_name() {
        let json = serde_json::to_string(&Rect {
            x: 1,
            y: 2,
            width: 3,
            height: 4,
        })
        .unwrap();
        assert_eq!(json, r#"{"x":1,"y":2,"width":3,"height":4}"#);
    }
}

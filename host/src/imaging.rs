//! Pixel and mask handling on the host: format conversion, mask modifiers (invert, grow/shrink,
//! feather), bounds and crops, compositing through a mask, and PNG/JPEG decode and encode.
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
mod codec;
mod convert;
mod distance;
mod mask;

pub use codec::{decode_file, decode_mask_file, encode_png, DecodeLimits};
pub use convert::convert;
pub use mask::{
    apply_modifiers, composite_through_mask, crop, crop_mask, expand, mask_bounds, mask_from_view,
    resize_mask_bilinear,
};

use abi_stable::std_types::{RSlice, RVec};
use easel_sdk::{ErrorKind, ImageBuf, ImageLayout, ImageView, PixelFormat, PluginError};
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

    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            layout: self.layout(),
            data: RSlice::from_slice(&self.data),
        }
    }

    /// Takes a plugin's buffer, checking its layout; a strided buffer is repacked.
    pub fn from_buf(buf: ImageBuf) -> Result<Self, ImagingError> {
        let layout = buf.layout;
        layout
            .validate(buf.data.len())
            .map_err(|e| ImagingError::InvalidLayout {
                reason: e.message.to_string(),
            })?;
        let packed = ImageLayout::packed(layout.width, layout.height, layout.format);
        let rows_packed = layout.row_stride == packed.row_stride || layout.height <= 1;
        if layout.pixel_stride == packed.pixel_stride && rows_packed {
            let len =
                layout.width as usize * layout.height as usize * layout.format.bytes_per_pixel();
            let mut data = buf.data.into_vec();
            data.truncate(len);
            Ok(OwnedImage {
                width: layout.width,
                height: layout.height,
                format: layout.format,
                data,
            })
        } else {
            Ok(convert(&buf.view(), layout.format))
        }
    }

    pub fn into_buf(self) -> ImageBuf {
        ImageBuf {
            layout: self.layout(),
            data: RVec::from(self.data),
        }
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

/// What the user asked to do to the selection before the job runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct MaskModifiers {
    /// Pixels to grow the selection by; negative shrinks.
    #[serde(default)]
    pub grow: i32,
    /// Feather radius in pixels (a Gaussian of sigma = feather / 2); 0 = none.
    #[serde(default)]
    pub feather: f32,
    /// Select the complement.
    #[serde(default)]
    pub invert: bool,
}

impl MaskModifiers {
    /// True when applying these changes nothing.
    pub fn is_identity(&self) -> bool {
        !self.invert && self.grow == 0 && (self.feather.is_nan() || self.feather <= 0.0)
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
    #[error("{}: {width}x{height} is over the limit of {max_pixels} pixels", .path.display())]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("cannot decode {}: {source}", .path.display())]
    Decode {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("cannot encode {}: {source}", .path.display())]
    Encode {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad image layout: {reason}")]
    InvalidLayout { reason: String },
}

impl ImagingError {
    /// Who is at fault, in the SDK's terms.
    pub fn kind(&self) -> ErrorKind {
        use image::ImageError as E;
        match self {
            ImagingError::SizeMismatch { .. }
            | ImagingError::FormatMismatch { .. }
            | ImagingError::InvalidLayout { .. } => ErrorKind::InvalidInput,
            ImagingError::TooLarge { .. } => ErrorKind::Limits,
            ImagingError::Decode { source, .. } => match source {
                E::Limits(_) => ErrorKind::Limits,
                E::IoError(_) => ErrorKind::Environment,
                _ => ErrorKind::InvalidInput,
            },
            ImagingError::Encode { source, .. } => match source {
                E::Limits(_) => ErrorKind::Limits,
                E::IoError(_) => ErrorKind::Environment,
                // Anything else means we handed the encoder something it cannot write: our bug.
                _ => ErrorKind::Plugin,
            },
            ImagingError::Io { .. } => ErrorKind::Environment,
        }
    }
}

impl From<ImagingError> for PluginError {
    fn from(e: ImagingError) -> Self {
        PluginError::new(e.kind(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_buf_takes_packed_buffers_and_repacks_strided_ones() {
        let img = OwnedImage {
            width: 2,
            height: 2,
            format: PixelFormat::Rgba8,
            data: (0..16).collect(),
        };
        let back = OwnedImage::from_buf(img.clone().into_buf()).unwrap();
        assert_eq!(back, img);

        // Same pixels, rows padded to 12 bytes.
        let mut strided = vec![0xAAu8; 24];
        strided[0..8].copy_from_slice(&img.data[0..8]);
        strided[12..20].copy_from_slice(&img.data[8..16]);
        let buf = ImageBuf {
            layout: ImageLayout {
                row_stride: 12,
                ..img.layout()
            },
            data: RVec::from(strided),
        };
        assert_eq!(OwnedImage::from_buf(buf).unwrap(), img);

        let short = ImageBuf {
            layout: img.layout(),
            data: RVec::from(vec![0u8; 15]),
        };
        let err = OwnedImage::from_buf(short).unwrap_err();
        assert!(matches!(err, ImagingError::InvalidLayout { .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

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
    fn modifiers_deserialize_with_defaults() {
        let m: MaskModifiers = serde_json::from_str(r#"{"grow": -3}"#).unwrap();
        assert_eq!(
            m,
            MaskModifiers {
                grow: -3,
                feather: 0.0,
                invert: false
            }
        );
        assert!(!m.is_identity());
        assert!(MaskModifiers::default().is_identity());
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

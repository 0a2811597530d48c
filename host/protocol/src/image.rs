//! Image descriptions on the wire: pixel formats, strided layouts, and image references (size,
//! format, strides, and where the bytes are: a descriptor of the frame or its inline payload).

use crate::object::object_only;
use serde::{Deserialize, Serialize};

/// Pixel formats on the wire. Samples are native (little-endian) byte order, colour straight
/// (not premultiplied), RGBA order; gray formats carry coverage (masks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PixelFormat {
    /// 4 × u8.
    #[serde(rename = "rgba8")]
    Rgba8,
    /// 4 × u16.
    #[serde(rename = "rgba16")]
    Rgba16,
    /// 4 × f16 (IEEE half), nominal range 0..1: what float16 documents hold, sent as they are.
    #[serde(rename = "rgba16f")]
    Rgba16F,
    /// 4 × f32, nominal range 0..1.
    #[serde(rename = "rgba32f")]
    Rgba32F,
    /// 1 × u8 coverage.
    #[serde(rename = "gray8")]
    Gray8,
    /// 1 × f32 coverage in 0..1.
    #[serde(rename = "gray32f")]
    Gray32F,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 6] = [
        PixelFormat::Rgba8,
        PixelFormat::Rgba16,
        PixelFormat::Rgba16F,
        PixelFormat::Rgba32F,
        PixelFormat::Gray8,
        PixelFormat::Gray32F,
    ];

    pub const fn channels(self) -> usize {
        match self {
            PixelFormat::Rgba8
            | PixelFormat::Rgba16
            | PixelFormat::Rgba16F
            | PixelFormat::Rgba32F => 4,
            PixelFormat::Gray8 | PixelFormat::Gray32F => 1,
        }
    }
    pub const fn bytes_per_sample(self) -> usize {
        match self {
            PixelFormat::Rgba8 | PixelFormat::Gray8 => 1,
            PixelFormat::Rgba16 | PixelFormat::Rgba16F => 2,
            PixelFormat::Rgba32F | PixelFormat::Gray32F => 4,
        }
    }
    pub const fn bytes_per_pixel(self) -> usize {
        self.channels() * self.bytes_per_sample()
    }
    pub const fn is_mask(self) -> bool {
        matches!(self, PixelFormat::Gray8 | PixelFormat::Gray32F)
    }
    /// The stable lower-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PixelFormat::Rgba8 => "rgba8",
            PixelFormat::Rgba16 => "rgba16",
            PixelFormat::Rgba16F => "rgba16f",
            PixelFormat::Rgba32F => "rgba32f",
            PixelFormat::Gray8 => "gray8",
            PixelFormat::Gray32F => "gray32f",
        }
    }
    pub fn parse(name: &str) -> Option<PixelFormat> {
        PixelFormat::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a layout cannot describe an image in a buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("image is {width}x{height}: both sides must be at least 1")]
    Empty { width: u32, height: u32 },
    #[error("pixel_stride {stride} and row_stride {row_stride} make pixels of a {format} image ({bpp} bytes each) overlap")]
    Overlap {
        stride: usize,
        row_stride: usize,
        format: PixelFormat,
        bpp: usize,
    },
    #[error("buffer of {len} bytes is too small for a {width}x{height} {format} image with these strides ({need} bytes)")]
    TooSmall {
        len: usize,
        need: usize,
        width: u32,
        height: u32,
        format: PixelFormat,
    },
    #[error("image layout overflows the address space")]
    Overflow,
}

/// Where each pixel lives in a byte buffer, like image-rs's `SampleLayout`, in bytes: pixel
/// (x, y) starts at `y * row_stride + x * pixel_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageLayout {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    pub pixel_stride: usize,
    pub row_stride: usize,
}

impl ImageLayout {
    /// A tightly packed, row-major layout.
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

    /// True when the layout is tightly packed row-major (one plain copy moves it).
    pub fn is_packed(&self) -> bool {
        let bpp = self.format.bytes_per_pixel();
        (self.width <= 1 || self.pixel_stride == bpp)
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

    /// Checks that no two pixels overlap and that `len` bytes hold the image. Any such strides
    /// are accepted: row-major, column-major, and rows or pixels interleaved with other data.
    pub fn validate(&self, len: usize) -> Result<(), LayoutError> {
        if self.width == 0 || self.height == 0 {
            return Err(LayoutError::Empty {
                width: self.width,
                height: self.height,
            });
        }
        let bpp = self.format.bytes_per_pixel();
        // The axes as (stride, count); an axis of one element has no stride to speak of.
        let mut axes: Vec<(usize, usize)> = [
            (self.pixel_stride, self.width as usize),
            (self.row_stride, self.height as usize),
        ]
        .into_iter()
        .filter(|&(_, n)| n > 1)
        .collect();
        axes.sort_unstable();
        let overlap = || LayoutError::Overlap {
            stride: self.pixel_stride,
            row_stride: self.row_stride,
            format: self.format,
            bpp,
        };
        // Pixels do not overlap when the finer axis steps at least one pixel and the coarser
        // axis steps past the whole extent of the finer one.
        let mut extent = bpp;
        for (stride, n) in axes {
            if stride < extent {
                return Err(overlap());
            }
            extent = stride.checked_mul(n).ok_or(LayoutError::Overflow)?;
        }
        match self.required_len() {
            Some(need) if need <= len => Ok(()),
            Some(need) => Err(LayoutError::TooSmall {
                len,
                need,
                width: self.width,
                height: self.height,
                format: self.format,
            }),
            None => Err(LayoutError::Overflow),
        }
    }
}

/// Where an image's bytes are: `{"fd": i, "offset": o}` or `{"inline": o}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DataRefFields", into = "DataRefFields")]
pub enum DataRef {
    /// In the `fd`-th descriptor attached to the frame, from byte `offset`.
    Fd { fd: usize, offset: u64 },
    /// In the frame's payload, from byte `inline`.
    Inline { inline: u64 },
}

/// The JSON shape of [`DataRef`], so that a malformed one gets an error that says what it takes.
#[derive(Debug, Clone, Copy, Serialize)]
struct DataRefFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    fd: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline: Option<u64>,
}

/// The fields of [`DataRefFields`]; read from an object only (`object_only`).
#[derive(Deserialize)]
#[serde(remote = "DataRefFields", deny_unknown_fields)]
struct DataRefFieldsDef {
    #[serde(default)]
    fd: Option<usize>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    inline: Option<u64>,
}

object_only!(
    DataRefFields,
    DataRefFieldsDef,
    "an object {\"fd\": index, \"offset\": bytes} or {\"inline\": payload offset}"
);

impl TryFrom<DataRefFields> for DataRef {
    type Error = String;
    fn try_from(f: DataRefFields) -> Result<Self, String> {
        match (f.fd, f.inline) {
            (Some(fd), None) => Ok(DataRef::Fd {
                fd,
                offset: f.offset.unwrap_or(0),
            }),
            (None, Some(inline)) if f.offset.is_none() => Ok(DataRef::Inline { inline }),
            _ => Err(
                "data takes either {\"fd\": index, \"offset\": bytes} or {\"inline\": payload offset}"
                    .to_string(),
            ),
        }
    }
}

impl From<DataRef> for DataRefFields {
    fn from(d: DataRef) -> Self {
        match d {
            DataRef::Fd { fd, offset } => DataRefFields {
                fd: Some(fd),
                offset: Some(offset),
                inline: None,
            },
            DataRef::Inline { inline } => DataRefFields {
                fd: None,
                offset: None,
                inline: Some(inline),
            },
        }
    }
}

/// An image reference: size, format, strides (optional: packed by default) and where the bytes are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRef {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_stride: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_stride: Option<usize>,
    pub data: DataRef,
}

/// The fields of [`ImageRef`]; read from an object only (`object_only`).
#[derive(Deserialize)]
#[serde(remote = "ImageRef")]
struct ImageRefDef {
    width: u32,
    height: u32,
    format: PixelFormat,
    #[serde(default)]
    row_stride: Option<usize>,
    #[serde(default)]
    pixel_stride: Option<usize>,
    data: DataRef,
}

object_only!(
    ImageRef,
    ImageRefDef,
    "an image reference object {\"width\", \"height\", \"format\", \"data\", optional \"row_stride\", \"pixel_stride\"}"
);

impl ImageRef {
    /// The layout this reference describes. Sizes are checked against `max_pixels` before
    /// anything else, so nothing is allocated for an image over the limit.
    pub fn layout(&self, max_pixels: u64) -> Result<ImageLayout, crate::ProtocolError> {
        use crate::ProtocolError;
        if self.width == 0 || self.height == 0 {
            return Err(ProtocolError::invalid_image(
                LayoutError::Empty {
                    width: self.width,
                    height: self.height,
                }
                .to_string(),
            ));
        }
        let pixels = self.width as u64 * self.height as u64;
        if pixels > max_pixels {
            return Err(ProtocolError::too_large(format!(
                "image is {}x{} ({pixels} pixels), over the limit of {max_pixels} pixels",
                self.width, self.height
            )));
        }
        let packed = ImageLayout::packed(self.width, self.height, self.format);
        let mut layout = ImageLayout {
            pixel_stride: self.pixel_stride.unwrap_or(packed.pixel_stride),
            row_stride: self.row_stride.unwrap_or(packed.row_stride),
            ..packed
        };
        // The stride of an axis with one element is never used: make it the packed one, so
        // code that walks pixels never sees a zero stride.
        if self.width == 1 {
            layout.pixel_stride = packed.pixel_stride;
        }
        if self.height == 1 {
            layout.row_stride =
                layout.pixel_stride * (self.width as usize - 1) + packed.pixel_stride;
        }
        layout
            .validate(usize::MAX)
            .map_err(|e| ProtocolError::invalid_image(e.to_string()))?;
        Ok(layout)
    }

    /// A reference to `layout` (strides written out) at `data`.
    pub fn new(layout: &ImageLayout, data: DataRef) -> Self {
        ImageRef {
            width: layout.width,
            height: layout.height,
            format: layout.format,
            row_stride: Some(layout.row_stride),
            pixel_stride: Some(layout.pixel_stride),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;
    use serde_json::json;

    fn layout(w: u32, h: u32, ps: usize, rs: usize) -> ImageLayout {
        ImageLayout {
            width: w,
            height: h,
            format: PixelFormat::Rgba8,
            pixel_stride: ps,
            row_stride: rs,
        }
    }

    #[test]
    fn strides_that_do_not_overlap_are_legal_in_any_order() {
        // Row-major packed, padded rows, column-major, interleaved pixels and rows.
        for l in [
            layout(4, 3, 4, 16),
            layout(4, 3, 4, 20),
            layout(4, 3, 12, 4),
            layout(4, 3, 8, 32),
            layout(4, 3, 4, 32),
            layout(1, 3, 0, 4),
            layout(4, 1, 4, 0),
        ] {
            assert!(l.validate(usize::MAX).is_ok(), "{l:?}");
        }
        for l in [
            layout(4, 3, 3, 16),
            layout(4, 3, 4, 12),
            layout(4, 3, 12, 8),
        ] {
            assert!(
                matches!(l.validate(usize::MAX), Err(LayoutError::Overlap { .. })),
                "{l:?}"
            );
        }
        assert!(matches!(
            layout(4, 3, 4, 16).validate(47),
            Err(LayoutError::TooSmall { need: 48, .. })
        ));
        assert_eq!(
            layout(2, 2, usize::MAX - 8, 4).validate(usize::MAX),
            Err(LayoutError::Overflow)
        );
        assert!(layout(4, 3, 4, 16).is_packed() && !layout(4, 3, 4, 20).is_packed());
    }

    #[test]
    fn image_refs_are_checked_before_allocation() {
        let r: ImageRef = serde_json::from_value(json!({
            "width": 100000, "height": 100000, "format": "rgba8", "data": {"fd": 0}
        }))
        .unwrap();
        assert_eq!(r.layout(1 << 28).unwrap_err().code, Code::TooLarge);
        let r: ImageRef = serde_json::from_value(json!({
            "width": 4, "height": 4, "format": "rgba8", "row_stride": 8, "data": {"inline": 0}
        }))
        .unwrap();
        assert_eq!(r.layout(1 << 28).unwrap_err().code, Code::InvalidImage);
        let err = serde_json::from_value::<ImageRef>(json!({
            "width": 4, "height": 4, "format": "bgr", "data": {"inline": 0}
        }))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown variant `bgr`") && err.contains("rgba8"),
            "{err}"
        );
    }

    #[test]
    fn data_refs_take_one_shape_and_say_so() {
        let fd: DataRef = serde_json::from_value(json!({"fd": 1})).unwrap();
        assert_eq!(fd, DataRef::Fd { fd: 1, offset: 0 });
        let inline: DataRef = serde_json::from_value(json!({"inline": 8})).unwrap();
        assert_eq!(inline, DataRef::Inline { inline: 8 });
        for bad in [
            json!({}),
            json!({"fd": 0, "inline": 0}),
            json!({"inline": 0, "offset": 2}),
        ] {
            let err = serde_json::from_value::<DataRef>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("data takes either"), "{err}");
        }
        let back = serde_json::to_value(DataRef::Fd { fd: 2, offset: 5 }).unwrap();
        assert_eq!(back, json!({"fd": 2, "offset": 5}));
    }
}

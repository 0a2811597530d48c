//! Borrowed, read-only image views with explicit strides, checked when made.

use crate::Rect;
use easel_protocol::{ImageLayout, LayoutError};

/// A borrowed image or mask: a layout over bytes it has been checked to fit.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    layout: ImageLayout,
    data: &'a [u8],
}

impl<'a> ImageView<'a> {
    /// A view over `data`, checked against `layout`.
    pub fn new(layout: ImageLayout, data: &'a [u8]) -> Result<Self, LayoutError> {
        layout.validate(data.len())?;
        Ok(ImageView { layout, data })
    }

    /// A packed view whose caller guarantees `data` holds the image (an [`crate::OwnedImage`]).
    pub(crate) fn packed_unchecked(layout: ImageLayout, data: &'a [u8]) -> Self {
        ImageView { layout, data }
    }

    pub fn layout(&self) -> ImageLayout {
        self.layout
    }
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    pub fn width(&self) -> u32 {
        self.layout.width
    }
    pub fn height(&self) -> u32 {
        self.layout.height
    }
    pub fn format(&self) -> easel_protocol::PixelFormat {
        self.layout.format
    }

    /// The view of `r` inside this one, without copying; `None` when `r` is empty or reaches
    /// outside.
    pub fn sub_view(&self, r: Rect) -> Option<ImageView<'a>> {
        let fits = !r.is_empty()
            && r.x.checked_add(r.width)? <= self.layout.width
            && r.y.checked_add(r.height)? <= self.layout.height;
        if !fits {
            return None;
        }
        let start = r.y as usize * self.layout.row_stride + r.x as usize * self.layout.pixel_stride;
        let layout = ImageLayout {
            width: r.width,
            height: r.height,
            ..self.layout
        };
        ImageView::new(layout, self.data.get(start..)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_protocol::PixelFormat;

    #[test]
    fn sub_views_are_checked_and_share_the_bytes() {
        let data: Vec<u8> = (0..16).collect();
        let v = ImageView::new(ImageLayout::packed(4, 4, PixelFormat::Gray8), &data).unwrap();
        let s = v
            .sub_view(Rect {
                x: 1,
                y: 2,
                width: 2,
                height: 2,
            })
            .unwrap();
        assert_eq!(s.data()[0], 9);
        assert_eq!(s.layout().row_stride, 4);
        assert!(v
            .sub_view(Rect {
                x: 3,
                y: 0,
                width: 2,
                height: 1
            })
            .is_none());
        assert!(v
            .sub_view(Rect {
                x: 0,
                y: 0,
                width: 0,
                height: 1
            })
            .is_none());
        assert!(ImageView::new(ImageLayout::packed(4, 4, PixelFormat::Gray8), &data[1..]).is_err());
    }
}

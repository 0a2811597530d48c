//! Support code shared by the benchmarks: where the shared models and photos live, and the
//! real-content test images (a photo tiled up to 4K, a soft subject mask) every bench uses.

use easel_imaging::PixelFormat;
use easel_imaging::{self as imaging, DecodeLimits, Mask, OwnedImage};
use std::path::PathBuf;

/// 4K UHD, the size the per-job imaging steps are measured at.
pub const UHD: (u32, u32) = (3840, 2160);

/// Why a bench input could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error(transparent)]
    Imaging(#[from] imaging::ImagingError),
    #[error("{0} is empty")]
    Empty(PathBuf),
}

/// `<repo>/../shared`, found from this crate's manifest like the tests find it.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The shared model folder (read-only; never copied into the repository).
pub fn models_dir() -> PathBuf {
    shared_dir().join("models")
}

/// A photo from the shared fixtures.
pub fn photo_path(name: &str) -> PathBuf {
    shared_dir().join("fixtures/photos").join(name)
}

/// A real photo decoded to packed RGBA8.
pub fn load_photo(name: &str) -> Result<OwnedImage, FixtureError> {
    let path = photo_path(name);
    let img = imaging::decode_file(&path, &DecodeLimits::default())?;
    if img.width == 0 || img.height == 0 {
        return Err(FixtureError::Empty(path));
    }
    Ok(img)
}

/// `photo` (RGBA8) repeated to fill `width` x `height`, mirrored on every other tile so seams do
/// not make long straight edges, with an alpha ramp so the alpha channel is not constant.
pub fn tiled_rgba8(photo: &OwnedImage, width: u32, height: u32) -> OwnedImage {
    let (pw, ph) = (photo.width as usize, photo.height as usize);
    let mut out = OwnedImage::new(width, height, PixelFormat::Rgba8);
    let row_len = width as usize * 4;
    for (y, row) in out.data.chunks_exact_mut(row_len).enumerate() {
        let (ty, iy) = (y / ph, y % ph);
        let sy = if ty % 2 == 0 { iy } else { ph - 1 - iy };
        let alpha = (128 + (127 * y) / height.max(1) as usize) as u8;
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            let (tx, ix) = (x / pw, x % pw);
            let sx = if tx % 2 == 0 { ix } else { pw - 1 - ix };
            let s = (sy * pw + sx) * 4;
            px[..3].copy_from_slice(&photo.data[s..s + 3]);
            px[3] = alpha;
        }
    }
    out
}

/// A soft selection at `width` x `height` like a user's: a large ellipse with a one-pixel
/// anti-aliased edge, a hole, and a few small islands (so grow/shrink see several components).
pub fn subject_mask(width: u32, height: u32) -> Mask {
    let (w, h) = (width as f32, height as f32);
    let ellipse = |x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32| {
        // Signed distance to the edge, approximately, in pixels.
        let d = (((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2)).sqrt();
        ((1.0 - d) * rx.min(ry) + 0.5).clamp(0.0, 1.0)
    };
    let mut data = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let body = ellipse(fx, fy, 0.45 * w, 0.5 * h, 0.3 * w, 0.38 * h);
            let hole = ellipse(fx, fy, 0.5 * w, 0.45 * h, 0.05 * w, 0.06 * h);
            let mut m = body * (1.0 - hole);
            for i in 0..5 {
                let cx = (0.78 + 0.04 * i as f32) * w;
                let cy = (0.15 + 0.16 * i as f32) * h;
                m = m.max(ellipse(fx, fy, cx, cy, 0.012 * w, 0.012 * w));
            }
            data.push(m);
        }
    }
    Mask {
        width,
        height,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_photo_fills_the_frame_with_the_photo() {
        let photo = load_photo("girl-1.jpg").unwrap();
        let big = tiled_rgba8(&photo, 1300, 900);
        assert_eq!(big.data.len(), 1300 * 900 * 4);
        big.check().unwrap();
        // The first tile is the photo itself; the second is its mirror image.
        assert_eq!(&big.data[..3], &photo.data[..3]);
        let last = (photo.width as usize - 1) * 4;
        let second_tile = photo.width as usize * 4;
        assert_eq!(
            &big.data[second_tile..second_tile + 3],
            &photo.data[last..last + 3]
        );
        assert_eq!(&big.data[4..7], &photo.data[4..7]);
        // Alpha ramps down the frame.
        assert_eq!(big.data[3], 128);
        assert!(big.data[(899 * 1300) * 4 + 3] > 250);
    }

    #[test]
    fn subject_mask_is_soft_and_has_islands() {
        let m = subject_mask(400, 300);
        m.check().unwrap();
        let inside = m.data.iter().filter(|&&v| v >= 1.0).count();
        let soft = m.data.iter().filter(|&&v| v > 0.0 && v < 1.0).count();
        assert!(inside > 400 * 300 / 5, "inside {inside}");
        assert!(soft > 100, "soft {soft}");
        // The hole in the middle of the body is empty.
        assert_eq!(m.data[(135 * 400) + 200], 0.0);
        let bounds = imaging::mask_bounds(&m, 0.0).unwrap();
        assert!(bounds.x + bounds.width > 330, "{bounds:?}");
    }
}

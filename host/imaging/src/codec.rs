//! Reading images and masks from PNG, JPEG, WebP and TIFF files and writing them, through the
//! `image` crate, with the pixel limit checked from the header before any pixel is decoded and the
//! ICC colour profile carried from the file read to the file written.

use super::convert::convert;
use super::convert::quantize_u16;
use super::{ImagingError, Mask, OwnedImage};
use crate::PixelFormat;
use image::codecs::png::PngEncoder;
use image::{ColorType, DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageReader};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// What a decoded file may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most pixels (width × height) a file may have.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    /// 16384 × 16384.
    fn default() -> Self {
        DecodeLimits {
            max_pixels: 1 << 28,
        }
    }
}

/// Decodes a PNG or JPEG (format sniffed from the content) into RGBA: 8-bit files to `Rgba8`,
/// 16-bit to `Rgba16`, float to `Rgba32F`; gray and RGB are expanded (R=G=B=gray, A=max).
/// EXIF orientation is applied. Files over `limits.max_pixels` are refused from their header.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<OwnedImage, ImagingError> {
    decode_file_with_profile(path, limits).map(|(img, _)| img)
}

/// [`decode_file`], and the file's embedded ICC profile, if it has one.
pub fn decode_file_with_profile(
    path: &Path,
    limits: &DecodeLimits,
) -> Result<(OwnedImage, Option<Vec<u8>>), ImagingError> {
    let (img, icc) = decode_dynamic_with_profile(path, limits)?;
    let (width, height) = (img.width(), img.height());
    let (format, data) = match img.color() {
        ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8 => {
            (PixelFormat::Rgba8, img.into_rgba8().into_raw())
        }
        ColorType::L16 | ColorType::La16 | ColorType::Rgb16 | ColorType::Rgba16 => (
            PixelFormat::Rgba16,
            u16_bytes(&img.into_rgba16().into_raw()),
        ),
        _ => (
            PixelFormat::Rgba32F,
            f32_bytes(&img.into_rgba32f().into_raw()),
        ),
    };
    Ok((
        OwnedImage {
            width,
            height,
            format,
            data,
        },
        icc,
    ))
}

/// Decodes a mask file into coverage: the luminance (Rec. 709 weights on the stored values) of
/// gray or colour files. With an alpha channel, coverage is luminance × alpha, except when every
/// visible pixel (alpha > 0) has the same colour and alpha varies: then the colour carries no
/// information and coverage is the alpha alone (a black brush on transparency is a selection,
/// not an empty mask).
pub fn decode_mask_file(path: &Path, limits: &DecodeLimits) -> Result<Mask, ImagingError> {
    let img = decode_dynamic(path, limits)?;
    let (width, height) = (img.width(), img.height());
    let data = match &img {
        DynamicImage::ImageLuma8(b) => coverage(b.as_raw(), 1, 255.0),
        DynamicImage::ImageLumaA8(b) => coverage(b.as_raw(), 2, 255.0),
        DynamicImage::ImageRgb8(b) => coverage(b.as_raw(), 3, 255.0),
        DynamicImage::ImageRgba8(b) => coverage(b.as_raw(), 4, 255.0),
        DynamicImage::ImageLuma16(b) => coverage(b.as_raw(), 1, 65535.0),
        DynamicImage::ImageLumaA16(b) => coverage(b.as_raw(), 2, 65535.0),
        DynamicImage::ImageRgb16(b) => coverage(b.as_raw(), 3, 65535.0),
        DynamicImage::ImageRgba16(b) => coverage(b.as_raw(), 4, 65535.0),
        DynamicImage::ImageRgb32F(b) => coverage(b.as_raw(), 3, 1.0),
        DynamicImage::ImageRgba32F(b) => coverage(b.as_raw(), 4, 1.0),
        other => coverage(other.to_rgba32f().as_raw(), 4, 1.0),
    };
    Ok(Mask {
        width,
        height,
        data,
    })
}

/// Writes a PNG: `Rgba8` as RGBA8, `Rgba16` as RGBA16, float formats as RGBA16 (clamped to 0..1),
/// `Gray8` as L8, `Gray32F` as L16 (clamped).
pub fn encode_png(image: &OwnedImage, path: &Path) -> Result<(), ImagingError> {
    encode_file(image, path, FileFormat::Png, None)
}

/// The file formats images are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Png,
    Jpeg,
    WebP,
    Tiff,
}

impl FileFormat {
    /// From a file name's extension (`png`, `jpg`/`jpeg`, `webp`, `tif`/`tiff`).
    pub fn from_path(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "png" => FileFormat::Png,
            "jpg" | "jpeg" => FileFormat::Jpeg,
            "webp" => FileFormat::WebP,
            "tif" | "tiff" => FileFormat::Tiff,
            _ => return None,
        })
    }

    /// Whether files of this format keep transparency.
    pub fn has_alpha(self) -> bool {
        self != FileFormat::Jpeg
    }
}

/// Writes `image` as `format`, with `icc` embedded where the format can carry one. PNG and TIFF
/// keep 16 bits; JPEG and WebP are 8-bit, JPEG without alpha (the caller flattens first).
pub fn encode_file(
    image: &OwnedImage,
    path: &Path,
    format: FileFormat,
    icc: Option<&[u8]>,
) -> Result<(), ImagingError> {
    image.check()?;
    let (w, h) = (image.width, image.height);
    let deep = matches!(format, FileFormat::Png | FileFormat::Tiff);
    let converted;
    let (bytes, color): (&[u8], ExtendedColorType) = match (image.format, deep) {
        (PixelFormat::Rgba8, _) => (&image.data, ExtendedColorType::Rgba8),
        (PixelFormat::Rgba16, true) => (&image.data, ExtendedColorType::Rgba16),
        (PixelFormat::Rgba32F | PixelFormat::Rgba16F, true) => {
            converted = convert(&image.view(), PixelFormat::Rgba16).data;
            (&converted, ExtendedColorType::Rgba16)
        }
        (PixelFormat::Rgba16 | PixelFormat::Rgba32F | PixelFormat::Rgba16F, false) => {
            converted = convert(&image.view(), PixelFormat::Rgba8).data;
            (&converted, ExtendedColorType::Rgba8)
        }
        (PixelFormat::Gray8, _) => (&image.data, ExtendedColorType::L8),
        (PixelFormat::Gray32F, true) => {
            converted = image
                .data
                .chunks_exact(4)
                .flat_map(|b| {
                    quantize_u16(f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).to_ne_bytes()
                })
                .collect();
            (&converted, ExtendedColorType::L16)
        }
        (PixelFormat::Gray32F, false) => {
            converted = convert(&image.view(), PixelFormat::Gray8).data;
            (&converted, ExtendedColorType::L8)
        }
    };
    // JPEG has no alpha: drop it (callers flatten onto a background first).
    let rgb;
    let (bytes, color): (&[u8], ExtendedColorType) = match (format, color) {
        (FileFormat::Jpeg, ExtendedColorType::Rgba8) => {
            rgb = bytes
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect::<Vec<u8>>();
            (&rgb[..], ExtendedColorType::Rgb8)
        }
        (_, color) => (bytes, color),
    };
    let io_err = |source| ImagingError::Io {
        path: path.to_owned(),
        source,
    };
    let encode_err = |source| ImagingError::Encode {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::new(File::create(path).map_err(io_err)?);
    fn write<E: ImageEncoder>(
        mut enc: E,
        icc: Option<&[u8]>,
        bytes: &[u8],
        (w, h): (u32, u32),
        color: ExtendedColorType,
    ) -> image::ImageResult<()> {
        if let Some(profile) = icc {
            // A format or encoder that cannot embed a profile still writes the pixels.
            let _ = enc.set_icc_profile(profile.to_vec());
        }
        enc.write_image(bytes, w, h, color)
    }
    match format {
        FileFormat::Png => write(PngEncoder::new(&mut out), icc, bytes, (w, h), color),
        FileFormat::Jpeg => write(
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92),
            icc,
            bytes,
            (w, h),
            color,
        ),
        FileFormat::WebP => write(
            image::codecs::webp::WebPEncoder::new_lossless(&mut out),
            icc,
            bytes,
            (w, h),
            color,
        ),
        FileFormat::Tiff => {
            let mut buf = std::io::Cursor::new(Vec::new());
            write(
                image::codecs::tiff::TiffEncoder::new(&mut buf),
                icc,
                bytes,
                (w, h),
                color,
            )
            .map_err(encode_err)?;
            out.write_all(buf.get_ref()).map_err(io_err)?;
            Ok(())
        }
    }
    .map_err(encode_err)?;
    out.flush().map_err(io_err)
}

/// Opens, checks the header's size against the limit, then decodes and orients.
fn decode_dynamic(path: &Path, limits: &DecodeLimits) -> Result<DynamicImage, ImagingError> {
    decode_dynamic_with_profile(path, limits).map(|(img, _)| img)
}

fn decode_dynamic_with_profile(
    path: &Path,
    limits: &DecodeLimits,
) -> Result<(DynamicImage, Option<Vec<u8>>), ImagingError> {
    let io_err = |source| ImagingError::Io {
        path: path.to_owned(),
        source,
    };
    let decode_err = |source| ImagingError::Decode {
        path: path.to_owned(),
        source,
    };
    let mut reader = ImageReader::open(path)
        .map_err(io_err)?
        .with_guessed_format()
        .map_err(io_err)?;
    // The pixel check below is the real limit; this only keeps the decoder's own allocation cap
    // (512 MiB by default) from refusing images the pixel limit allows.
    let mut alloc = image::Limits::default();
    let needed = limits.max_pixels.saturating_mul(8).saturating_add(64 << 20);
    alloc.max_alloc = Some(alloc.max_alloc.unwrap_or(0).max(needed));
    reader.limits(alloc);
    let mut decoder = reader.into_decoder().map_err(decode_err)?;
    let (width, height) = decoder.dimensions();
    if width as u64 * height as u64 > limits.max_pixels {
        return Err(ImagingError::TooLarge {
            path: path.to_owned(),
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    // A broken profile or EXIF block should not cost the user their image.
    let icc = decoder.icc_profile().ok().flatten();
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    img.apply_orientation(orientation);
    Ok((img, icc))
}

fn u16_bytes(samples: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_ne_bytes());
    }
    out
}

fn f32_bytes(samples: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 4);
    for s in samples {
        out.extend_from_slice(&s.to_ne_bytes());
    }
    out
}

/// Coverage from interleaved samples with `channels` (1 L, 2 LA, 3 RGB, 4 RGBA), 0..`max` scale.
fn coverage<T: Copy + Into<f32>>(raw: &[T], channels: usize, max: f32) -> Vec<f32> {
    let lum = |p: &[T]| -> f32 {
        if channels >= 3 {
            (0.2126 * p[0].into() + 0.7152 * p[1].into() + 0.0722 * p[2].into()) / max
        } else {
            p[0].into() / max
        }
    };
    let clamp = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let pixels = raw.chunks_exact(channels);
    if channels % 2 == 1 {
        return pixels.map(|p| clamp(lum(p))).collect();
    }
    let alpha = |p: &[T]| p[channels - 1].into() / max;
    let mut first: Option<f32> = None;
    let mut uniform = true;
    let mut translucent = false;
    for p in pixels.clone() {
        let a = alpha(p);
        translucent |= a < 1.0;
        if a > 0.0 && uniform {
            let l = lum(p);
            match first {
                None => first = Some(l),
                Some(f) => uniform = l == f,
            }
        }
    }
    if uniform && translucent && first.is_some() {
        pixels.map(|p| clamp(alpha(p))).collect()
    } else {
        pixels.map(|p| clamp(lum(p) * alpha(p))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips_with_its_icc_profile() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = OwnedImage::new(16, 8, PixelFormat::Rgba8);
        for (i, px) in img.data.chunks_exact_mut(4).enumerate() {
            px.copy_from_slice(&[(i * 13) as u8, (i * 7) as u8, 200, 255]);
        }
        // The writers embed the bytes as they are: what matters is that they come back.
        let icc: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
        for (name, format) in [
            ("a.png", FileFormat::Png),
            ("a.jpg", FileFormat::Jpeg),
            ("a.webp", FileFormat::WebP),
            ("a.tif", FileFormat::Tiff),
        ] {
            let path = dir.path().join(name);
            assert_eq!(FileFormat::from_path(&path), Some(format));
            encode_file(&img, &path, format, Some(&icc)).unwrap();
            let (back, profile) =
                decode_file_with_profile(&path, &DecodeLimits::default()).unwrap();
            assert_eq!((back.width, back.height), (16, 8), "{name}");
            let max_diff = back
                .data
                .iter()
                .zip(&img.data)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            let tolerance = if format == FileFormat::Jpeg { 24 } else { 0 };
            assert!(max_diff <= tolerance, "{name}: pixels differ by {max_diff}");
            if format != FileFormat::Tiff {
                assert_eq!(profile.as_deref(), Some(&icc[..]), "{name}: profile lost");
            }
        }
    }
    use std::path::PathBuf;

    fn photo(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/photos")
            .join(name)
    }

    const NO_LIMIT: DecodeLimits = DecodeLimits {
        max_pixels: u64::MAX,
    };

    #[test]
    fn decodes_a_real_jpeg_photo_to_opaque_rgba8() {
        let img = decode_file(&photo("girl-1.jpg"), &DecodeLimits::default()).unwrap();
        assert_eq!(
            (img.width, img.height, img.format),
            (600, 399, PixelFormat::Rgba8)
        );
        assert_eq!(img.data.len(), 600 * 399 * 4);
        assert!(img.data.chunks_exact(4).all(|p| p[3] == 255));
        // A colour photo: channels differ and values spread.
        let coloured = img
            .data
            .chunks_exact(4)
            .filter(|p| p[0].abs_diff(p[2]) > 20)
            .count();
        assert!(coloured > 600 * 399 / 10, "{coloured} coloured pixels");
        let mean = img.data.chunks_exact(4).map(|p| p[1] as f64).sum::<f64>() / (600.0 * 399.0);
        assert!((30.0..225.0).contains(&mean), "mean green {mean}");
    }

    #[test]
    fn decodes_a_gray_png_as_rgba_and_as_a_mask() {
        let path = photo("camera.png");
        let img = decode_file(&path, &NO_LIMIT).unwrap();
        assert_eq!(
            (img.width, img.height, img.format),
            (512, 512, PixelFormat::Rgba8)
        );
        assert!(img
            .data
            .chunks_exact(4)
            .all(|p| p[0] == p[1] && p[1] == p[2] && p[3] == 255));
        let mask = decode_mask_file(&path, &NO_LIMIT).unwrap();
        assert_eq!((mask.width, mask.height), (512, 512));
        for (m, p) in mask.data.iter().zip(img.data.chunks_exact(4)) {
            assert_eq!(*m, p[0] as f32 / 255.0);
        }
        assert!(mask.data.iter().any(|&v| v < 0.1) && mask.data.iter().any(|&v| v > 0.9));
    }

    #[test]
    fn refuses_too_large_files_from_the_header() {
        let err =
            decode_file(&photo("girl-1.jpg"), &DecodeLimits { max_pixels: 1000 }).unwrap_err();
        match &err {
            ImagingError::TooLarge {
                width,
                height,
                max_pixels,
                ..
            } => {
                assert_eq!((*width, *height, *max_pixels), (600, 399, 1000));
            }
            other => panic!("expected TooLarge, got {other}"),
        }
        assert_eq!(err.code(), easel_protocol::Code::TooLarge);
        assert!(matches!(
            decode_mask_file(
                &photo("camera.png"),
                &DecodeLimits {
                    max_pixels: 512 * 511
                }
            ),
            Err(ImagingError::TooLarge { .. })
        ));

        // A PNG whose header claims 100000 x 100000 RGBA16 (80 GB) and has no real pixel data:
        // refused from the header alone, before anything is allocated or inflated.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.png");
        std::fs::write(&path, huge_png_header(100_000, 100_000)).unwrap();
        let err = decode_file(&path, &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(err, ImagingError::TooLarge { width: 100_000, .. }),
            "{err}"
        );
    }

    fn huge_png_header(w: u32, h: u32) -> Vec<u8> {
        fn crc32(bytes: &[u8]) -> u32 {
            let mut c = 0xFFFF_FFFFu32;
            for &b in bytes {
                c ^= b as u32;
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        0xEDB8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
            }
            !c
        }
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0, 0, 0]);
        png
    }

    #[test]
    fn missing_and_broken_files_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let missing = decode_file(&dir.path().join("nope.png"), &NO_LIMIT).unwrap_err();
        assert!(matches!(missing, ImagingError::Io { .. }), "{missing}");
        assert_eq!(missing.code(), easel_protocol::Code::Environment);
        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"this is not an image at all").unwrap();
        let err = decode_file(&junk, &NO_LIMIT).unwrap_err();
        assert!(matches!(err, ImagingError::Decode { .. }), "{err}");
        assert_eq!(err.code(), easel_protocol::Code::InvalidInput);
    }

    #[test]
    fn png_round_trips_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        let rgba8 = OwnedImage {
            width: 16,
            height: 4,
            format: PixelFormat::Rgba8,
            data: (0..=255u8).collect(),
        };
        encode_png(&rgba8, &path).unwrap();
        assert_eq!(decode_file(&path, &NO_LIMIT).unwrap(), rgba8);

        let rgba16 = convert(&rgba8.view(), PixelFormat::Rgba16);
        let mut rgba16 = rgba16;
        rgba16.data[0] = 1; // a value 8 bits cannot hold
        encode_png(&rgba16, &path).unwrap();
        assert_eq!(decode_file(&path, &NO_LIMIT).unwrap(), rgba16);

        let mut f = convert(&rgba8.view(), PixelFormat::Rgba32F);
        f.data[..4].copy_from_slice(&2.0f32.to_ne_bytes());
        encode_png(&f, &path).unwrap();
        let back = decode_file(&path, &NO_LIMIT).unwrap();
        assert_eq!(back.format, PixelFormat::Rgba16);
        assert_eq!(back, convert(&f.view(), PixelFormat::Rgba16));
        assert_eq!(u16::from_ne_bytes([back.data[0], back.data[1]]), 65535);

        let gray8 = OwnedImage {
            width: 8,
            height: 2,
            format: PixelFormat::Gray8,
            data: (0..16).map(|v| v * 17).collect(),
        };
        encode_png(&gray8, &path).unwrap();
        let m = decode_mask_file(&path, &NO_LIMIT).unwrap();
        assert_eq!(
            m.data,
            gray8
                .data
                .iter()
                .map(|&v| v as f32 / 255.0)
                .collect::<Vec<_>>()
        );

        let soft = Mask {
            width: 3,
            height: 1,
            data: vec![0.0, 0.123_45, 1.0],
        };
        encode_png(&soft.to_image(PixelFormat::Gray32F), &path).unwrap();
        let m = decode_mask_file(&path, &NO_LIMIT).unwrap();
        assert!(
            m.data
                .iter()
                .zip(&soft.data)
                .all(|(a, b)| (a - b).abs() < 1e-4),
            "{m:?}"
        );

        let bad = OwnedImage {
            data: vec![0; 3],
            ..gray8
        };
        assert!(matches!(
            encode_png(&bad, &path),
            Err(ImagingError::InvalidLayout { .. })
        ));
        let err = encode_png(&rgba8, &dir.path().join("no/such/dir.png")).unwrap_err();
        assert!(matches!(err, ImagingError::Io { .. }), "{err}");
    }

    #[test]
    fn mask_files_with_alpha() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mask.png");
        let write = |px: &[[u8; 4]]| {
            let img = OwnedImage {
                width: px.len() as u32,
                height: 1,
                format: PixelFormat::Rgba8,
                data: px.concat(),
            };
            encode_png(&img, &path).unwrap();
            decode_mask_file(&path, &NO_LIMIT).unwrap().data
        };
        // A black brush on transparency (hidden colour arbitrary): the alpha is the selection.
        assert_eq!(
            write(&[[0, 0, 0, 255], [255, 255, 255, 0], [0, 0, 0, 51]]),
            [1.0, 0.0, 0.2]
        );
        // Colour that varies: luminance × alpha.
        let v = write(&[[255, 255, 255, 255], [255, 255, 255, 51], [0, 0, 0, 255]]);
        let want = [1.0, 0.2, 0.0];
        assert!(
            v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{v:?}"
        );
        // Uniform and opaque: the luminance decides (black = nothing selected).
        assert_eq!(write(&[[0, 0, 0, 255], [0, 0, 0, 255]]), [0.0, 0.0]);
        // Opaque colour: Rec. 709 luminance.
        let img = OwnedImage {
            width: 1,
            height: 1,
            format: PixelFormat::Rgba8,
            data: vec![0, 255, 0, 255],
        };
        encode_png(&img, &path).unwrap();
        let g = decode_mask_file(&path, &NO_LIMIT).unwrap().data[0];
        assert!((g - 0.7152).abs() < 1e-6, "{g}");
    }
}

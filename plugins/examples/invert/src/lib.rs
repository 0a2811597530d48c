//! Example plugin for the plugin guide: inverts colors inside the mask.
//!
//! `docs/plugins.md` walks through this file. It shows the whole contract in a small space: a
//! descriptor with a parameter, flags and a mask, a `run` that reads a strided view, reports
//! progress, honours cancellation and returns a packed image, and the `export_plugin!` call.

use easel_sdk::prelude::*;

/// Rows processed between progress reports and cancellation checks.
const ROWS_PER_REPORT: u32 = 16;

/// Inverts a pixel's color by `amount` (0: unchanged, 1: fully inverted); alpha is kept.
pub fn invert_pixel([r, g, b, a]: [f32; 4], amount: f32) -> [f32; 4] {
    let mix = |v: f32| v + amount * ((1.0 - v) - v);
    [mix(r), mix(g), mix(b), a]
}

/// The `invert` operation.
pub struct Invert;

impl Invert {
    fn invert(&self, job: &Job<'_>, host: &Host<'_>) -> Result<ImageBuf, PluginError> {
        let amount = job.params().float("amount")? as f32;
        let image = job.image;
        if image.format().is_mask() {
            return Err(PluginError::invalid_input(format!(
                "invert needs a color image, got {}",
                image.format().as_str()
            )));
        }
        let (w, h) = (image.width(), image.height());
        let mask = job.mask();
        if let Some(m) = &mask {
            if (m.width(), m.height()) != (w, h) {
                return Err(PluginError::invalid_input(format!(
                    "mask is {}x{} but the image is {w}x{h}",
                    m.width(),
                    m.height()
                )));
            }
        }

        let mut out = Vec::with_capacity(w as usize * h as usize * 4);
        for y in 0..h {
            if y % ROWS_PER_REPORT == 0 {
                host.check_cancelled()?;
                host.progress(y as f32 / h as f32, "inverting".into());
            }
            for x in 0..w {
                let px = image.rgba_f32(x, y);
                // The host composites through the mask (COMPOSITE_THROUGH_MASK), so the mask is
                // not applied here; it only lets us skip pixels whose result would be discarded.
                let outside = mask.as_ref().is_some_and(|m| m.rgba_f32(x, y)[0] <= 0.0);
                let px = if outside {
                    px
                } else {
                    invert_pixel(px, amount)
                };
                out.extend_from_slice(&px);
            }
        }
        host.progress(1.0, "done".into());
        // Return the format we were given: the host converted it to our working format.
        ImageBuf::from_rgba_f32(w, h, &out, image.format())
    }
}

impl Operation for Invert {
    fn descriptor(&self) -> OperationDescriptor {
        OperationDescriptor::new(
            "invert",
            "Invert colors",
            "Color",
            "Inverts red, green and blue by the given amount; alpha is kept.",
        )
        .param(ParamSpec::float(
            "amount",
            "Amount",
            "How far to invert: 0 leaves the image as it is, 1 inverts it fully",
            (0.0, 1.0),
            1.0,
            0.05,
        ))
        .mask(MaskUse::Optional)
        .flags(flags::COMPOSITE_THROUGH_MASK | flags::TILEABLE | flags::DETERMINISTIC)
        .working_format(PixelFormat::Rgba32F)
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        // Write the body with `?` in a function returning `Result`, convert at the boundary.
        self.invert(job, host).into()
    }
}

easel_sdk::export_plugin! {
    name: "example-invert",
    version: env!("CARGO_PKG_VERSION"),
    operations: || vec![easel_sdk::boxed_operation(Invert)],
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_sdk::{
        testing::{job, TestHost},
        Param, ParamValue,
    };
    fn run(
        image: ImageView<'_>,
        mask: Option<ImageView<'_>>,
        amount: f64,
        host: &TestHost,
    ) -> Result<ImageBuf, PluginError> {
        let params = [Param {
            name: "amount".into(),
            value: ParamValue::float(amount),
        }];
        let job = job("invert", image, mask, &[], &params);
        // Through the boxed trait object, as the host calls it.
        host.run(&boxed_operation(Invert), &job)
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }

    #[test]
    fn pixel_math() {
        let p = [0.2, 0.5, 1.0, 0.3];
        assert_eq!(invert_pixel(p, 0.0), p);
        let full = invert_pixel(p, 1.0);
        for (got, want) in full.iter().zip([0.8, 0.5, 0.0, 0.3]) {
            assert!((got - want).abs() < 1e-6, "{full:?}");
        }
        // Half way, every channel meets at mid grey; alpha untouched.
        let half = invert_pixel([0.0, 1.0, 0.25, 0.9], 0.5);
        for (got, want) in half.iter().zip([0.5, 0.5, 0.5, 0.9]) {
            assert!((got - want).abs() < 1e-6, "{half:?}");
        }
        // Inverting twice gives the input back.
        let twice = invert_pixel(invert_pixel(p, 1.0), 1.0);
        for (got, want) in twice.iter().zip(p) {
            assert!((got - want).abs() < 1e-6);
        }
    }

    #[test]
    fn descriptor_declares_the_contract() {
        let d = Invert.descriptor();
        assert_eq!(d.id, "invert");
        assert_eq!(d.category, "Color");
        assert_eq!(d.mask, MaskUse::Optional);
        assert_eq!(d.working_format, PixelFormat::Rgba32F);
        assert!(d.has_flag(flags::COMPOSITE_THROUGH_MASK));
        assert!(d.has_flag(flags::TILEABLE));
        assert!(d.has_flag(flags::DETERMINISTIC));
        assert!(!d.has_flag(flags::STREAMS_VIDEO));
        assert_eq!(d.params.len(), 1);
        assert_eq!(d.params[0].default_value(), Some(ParamValue::float(1.0)));
    }

    #[test]
    fn runs_on_a_strided_view_and_skips_pixels_outside_the_mask() {
        // 2x2 RGBA f32, rows padded by 8 bytes.
        let row_stride = 2 * 16 + 8;
        let mut data = vec![0u8; row_stride * 2];
        let pixels = [
            [0.0, 0.0, 0.0, 1.0],
            [1.0, 0.5, 0.25, 0.5],
            [0.1, 0.2, 0.3, 0.0],
            [0.9, 0.8, 0.7, 1.0],
        ];
        for (i, p) in pixels.iter().enumerate() {
            let start = (i / 2) * row_stride + (i % 2) * 16;
            data[start..start + 16].copy_from_slice(&f32_bytes(p));
        }
        let layout = ImageLayout::new(2, 2, PixelFormat::Rgba32F, 16, row_stride).unwrap();
        let image = ImageView::new(layout, &data).unwrap();
        // Mask: the last pixel is outside.
        let mask_data = f32_bytes(&[1.0, 0.5, 0.01, 0.0]);
        let mask =
            ImageView::new(ImageLayout::packed(2, 2, PixelFormat::Gray32F), &mask_data).unwrap();

        let host = TestHost::new();
        let out = run(image, Some(mask), 1.0, &host).unwrap();
        assert_eq!(
            out.layout(),
            ImageLayout::packed(2, 2, PixelFormat::Rgba32F)
        );
        let got = out.view().to_rgba_f32();
        let want: Vec<f32> = pixels[..3]
            .iter()
            .flat_map(|p| invert_pixel(*p, 1.0))
            .chain(pixels[3])
            .collect();
        assert_eq!(got, want);
        assert_eq!(host.progress().last().map(|p| p.0), Some(1.0));

        // Without a mask every pixel is inverted.
        let out = run(image, None, 1.0, &TestHost::new()).unwrap();
        assert_eq!(
            &out.view().to_rgba_f32()[12..],
            &invert_pixel(pixels[3], 1.0)
        );
    }

    #[test]
    fn reports_progress_and_honours_cancellation() {
        let (w, h) = (8, 100);
        let data = f32_bytes(&vec![0.25; w * h * 4]);
        let layout = ImageLayout::packed(w as u32, h as u32, PixelFormat::Rgba32F);
        let image = ImageView::new(layout, &data).unwrap();

        let host = TestHost::new();
        run(image, None, 1.0, &host).unwrap();
        let progress: Vec<f32> = host.progress().iter().map(|p| p.0).collect();
        assert!(
            progress.len() >= (h as u32 / ROWS_PER_REPORT) as usize,
            "{progress:?}"
        );
        assert!(progress.windows(2).all(|p| p[0] <= p[1]), "{progress:?}");

        let host = TestHost::new().cancel_after(2);
        let err = run(image, None, 1.0, &host).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Cancelled);
        // It stopped at the first check after the cancel, not at the end.
        assert_eq!(host.cancel_checks(), 3);
        assert_eq!(host.progress().len(), 2);
    }

    #[test]
    fn refuses_a_mask_of_another_size() {
        let data = f32_bytes(&[0.5; 16]);
        let image = ImageView::new(ImageLayout::packed(2, 2, PixelFormat::Rgba32F), &data).unwrap();
        let mask_data = f32_bytes(&[1.0; 3]);
        let mask =
            ImageView::new(ImageLayout::packed(3, 1, PixelFormat::Gray32F), &mask_data).unwrap();
        let err = run(image, Some(mask), 1.0, &TestHost::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("mask is 3x1"), "{err}");
    }
}

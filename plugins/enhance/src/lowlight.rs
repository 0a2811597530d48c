//! `fix-low-light`: a fixed-size low-light model runs on a reduced copy, and what it did is
//! carried back to full resolution as a smooth per-channel gain, so detail stays full-size.
//!
//! The gain is the ratio of locally averaged model output to locally averaged input (colour
//! per channel, so the model's white balance comes along). Its upsampling is a fast guided
//! filter (He & Sun, 2015) with log-luminance as the guide: at the model's size the gain is
//! fitted as an affine function of the guide in each window, those coefficients are smoothed
//! and resized bilinearly, and evaluated with the full-resolution guide. A gain boundary then
//! follows the full-resolution edge instead of a blurred one (a dark door frame next to a lit
//! wall keeps its own gain right up to the edge), and where the guide is flat it reduces to
//! the plain bilinear gain map. What a gain cannot carry (the model's lift of the blacks) comes
//! back in one back-projection step: the result reduced to the model's size is compared with the
//! model's output there and the smooth difference is added.

use easel_pixels::{box_mean, resize_packed, Filter};
use easel_sdk::prelude::*;
use easel_sdk::PluginResult;

/// A low-light model from the host's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowLightModel {
    /// Semantic-guided zero-shot LLIE, 324×180, 53 KB.
    SemanticGuided,
    /// TBEFN, 320×180, NHWC output.
    Tbefn,
    /// URetinex-Net, 320×180, with an exposure ratio input.
    Uretinex,
}

impl LowLightModel {
    pub const ALL: [LowLightModel; 3] = [
        LowLightModel::SemanticGuided,
        LowLightModel::Tbefn,
        LowLightModel::Uretinex,
    ];

    pub fn id(self) -> &'static str {
        match self {
            LowLightModel::SemanticGuided => "llie-semantic-guided",
            LowLightModel::Tbefn => "tbefn",
            LowLightModel::Uretinex => "uretinex",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == id)
    }

    /// The model's name for people.
    pub fn title(self) -> &'static str {
        match self {
            LowLightModel::SemanticGuided => "Semantic-guided",
            LowLightModel::Tbefn => "TBEFN",
            LowLightModel::Uretinex => "URetinex-Net",
        }
    }

    /// Width and height the model takes.
    pub fn input_size(self) -> (usize, usize) {
        match self {
            LowLightModel::SemanticGuided => (324, 180),
            LowLightModel::Tbefn | LowLightModel::Uretinex => (320, 180),
        }
    }

    fn input_name(self) -> &'static str {
        match self {
            LowLightModel::Tbefn => "Placeholder",
            _ => "input",
        }
    }

    fn output_name(self) -> &'static str {
        match self {
            LowLightModel::Tbefn => "fusion/fusion_3/BiasAdd",
            _ => "output",
        }
    }
}

/// The model's view of an image: the reduced input and the model's output at the model's size,
/// both interleaved RGB in 0..1.
pub struct LowRes {
    pub size: (usize, usize),
    pub input: Vec<f32>,
    pub enhanced: Vec<f32>,
}

/// Reduces interleaved RGB (0..1) to the model's size and runs the model on it.
pub fn enhance_lowres(
    host: &Host<'_>,
    model: LowLightModel,
    rgb: &[f32],
    (w, h): (usize, usize),
    exposure: f32,
) -> PluginResult<LowRes> {
    let (mw, mh) = model.input_size();
    // Triangle, stretched when shrinking: a smooth average, which is what a gain map wants.
    let input = resize_packed(rgb, (w, h), 3, (mw, mh), Filter::Bilinear);
    let planar: Vec<f32> = (0..3)
        .flat_map(|c| input.iter().skip(c).step_by(3).copied())
        .collect();
    let mut tensors = vec![Tensor::new(
        model.input_name(),
        &[1, 3, mh as i64, mw as i64],
        planar,
    )];
    if model == LowLightModel::Uretinex {
        tensors.push(Tensor::new("exposure_ratio_3to5", &[1], vec![exposure]));
    }
    let outputs = host
        .run_model(
            model.id().into(),
            RVec::from(tensors),
            RVec::from(vec![RString::from(model.output_name())]),
        )
        .into_result()?;
    let out = match outputs.iter().find(|t| t.name == model.output_name()) {
        Some(t) => t,
        None if outputs.len() == 1 => &outputs[0],
        None => {
            return Err(PluginError::model(format!(
                "model '{}' returned no output '{}'",
                model.id(),
                model.output_name()
            )))
        }
    };
    let (nchw, nhwc) = ([1, 3, mh as i64, mw as i64], [1, mh as i64, mw as i64, 3]);
    let shape = out.shape.as_slice();
    let clamp = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let enhanced: Vec<f32> = if shape == nhwc && out.data.len() == 3 * mw * mh {
        out.data.iter().map(|&v| clamp(v)).collect()
    } else if shape == nchw && out.data.len() == 3 * mw * mh {
        let n = mw * mh;
        (0..n)
            .flat_map(|i| [0, 1, 2].map(|c| clamp(out.data[c * n + i])))
            .collect()
    } else {
        return Err(PluginError::model(format!(
            "model '{}' returned shape {shape:?}, expected {nchw:?} or {nhwc:?}",
            model.id()
        )));
    };
    Ok(LowRes {
        size: (mw, mh),
        input,
        enhanced,
    })
}

/// Gains are ratios of local means: below this the ratio is noise, so both sides get it added.
const GAIN_EPS: f32 = 1.0 / 255.0;
/// Radius (model pixels) of the local means whose ratio is the gain.
const GAIN_RADIUS: usize = 2;
/// Offset inside the log of the luminance guide, so that black is not −∞.
const GUIDE_OFFSET: f32 = 0.01;
/// Window radius (model pixels) of the guided filter.
const GUIDED_RADIUS: usize = 4;
/// Guided filter regularisation, in (log luminance)²: edges weaker than about 0.14 in log
/// luminance (15 %) do not steer the gain.
const GUIDED_EPS: f32 = 0.02;

fn log_luma(p: &[f32]) -> f32 {
    (0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2] + GUIDE_OFFSET).ln()
}

/// Carries the model's change from `low` back to the full-resolution interleaved RGB `rgb`
/// (`w` × `h`): returns enhanced RGB at full resolution, clamped to 0..1.
pub fn apply_gain(rgb: &[f32], (w, h): (usize, usize), low: &LowRes) -> Vec<f32> {
    let (mw, mh) = low.size;
    let size = (mw, mh);
    // Per-channel gain at the model's size, from local means.
    let num = box_mean(&low.enhanced, size, 3, GAIN_RADIUS);
    let den = box_mean(&low.input, size, 3, GAIN_RADIUS);
    let gain: Vec<f32> = num
        .iter()
        .zip(&den)
        .map(|(n, d)| (n + GAIN_EPS) / (d + GAIN_EPS))
        .collect();
    let mut range = [(f32::INFINITY, f32::NEG_INFINITY); 3];
    for p in gain.chunks_exact(3) {
        for k in 0..3 {
            range[k] = (range[k].0.min(p[k]), range[k].1.max(p[k]));
        }
    }

    // Guided filter at the model's size: gain ≈ a·guide + b in each window, per channel.
    let guide: Vec<f32> = low.input.chunks_exact(3).map(log_luma).collect();
    let r = GUIDED_RADIUS;
    let mean_g = box_mean(&guide, size, 1, r);
    let guide_sq: Vec<f32> = guide.iter().map(|g| g * g).collect();
    let mean_gg = box_mean(&guide_sq, size, 1, r);
    let mean_p = box_mean(&gain, size, 3, r);
    let gp: Vec<f32> = gain
        .chunks_exact(3)
        .zip(&guide)
        .flat_map(|(p, g)| [p[0] * g, p[1] * g, p[2] * g])
        .collect();
    let mean_gp = box_mean(&gp, size, 3, r);
    // Interleaved a0 a1 a2 b0 b1 b2 per pixel, smoothed and resized together.
    let mut ab = Vec::with_capacity(6 * mw * mh);
    for i in 0..mw * mh {
        let var = (mean_gg[i] - mean_g[i] * mean_g[i]).max(0.0);
        let a: [f32; 3] = [0, 1, 2]
            .map(|k| (mean_gp[3 * i + k] - mean_g[i] * mean_p[3 * i + k]) / (var + GUIDED_EPS));
        let b: [f32; 3] = [0, 1, 2].map(|k| mean_p[3 * i + k] - a[k] * mean_g[i]);
        ab.extend_from_slice(&a);
        ab.extend_from_slice(&b);
    }
    let ab = box_mean(&ab, size, 6, r);
    let ab = resize_packed(&ab, size, 6, (w, h), Filter::Bilinear);

    let mut out: Vec<f32> = rgb
        .chunks_exact(3)
        .zip(ab.chunks_exact(6))
        .flat_map(|(p, c)| {
            let g = log_luma(p);
            [0, 1, 2].map(|k| {
                // The affine model can extrapolate past what the model did anywhere: clamp.
                let gain = (c[k] * g + c[3 + k]).clamp(range[k].0, range[k].1);
                (p[k] * gain).clamp(0.0, 1.0)
            })
        })
        .collect();

    // One back-projection step: a gain cannot make what the model adds (it lifts blacks, which
    // a ratio carries only partly, and the gain is smoothed), so the result reduced the way the
    // model's input was is compared with the model's output, and the smooth difference is
    // added back. Measured on darkened fixture photos (benches/enhance_parity.md), the gain
    // alone came out 0.011-0.036 darker than the model at its own size.
    let reduced = resize_packed(&out, (w, h), 3, size, Filter::Bilinear);
    let residual: Vec<f32> = low
        .enhanced
        .iter()
        .zip(&reduced)
        .map(|(e, r)| e - r)
        .collect();
    let residual = resize_packed(&residual, size, 3, (w, h), Filter::Bilinear);
    out.iter_mut()
        .zip(&residual)
        .for_each(|(v, r)| *v = (*v + r).clamp(0.0, 1.0));
    out
}

/// `fix-low-light`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixLowLight;

impl FixLowLight {
    fn run_job(&self, job: &Job<'_>, host: &Host<'_>) -> PluginResult<ImageBuf> {
        let params = job.params();
        let name = params.choice("model")?;
        let model = LowLightModel::from_id(name).ok_or_else(|| {
            PluginError::invalid_input(format!(
                "fix-low-light has no model '{name}' (one of llie-semantic-guided, tbefn, uretinex)"
            ))
        })?;
        let strength = params.float("strength")? as f32;
        let exposure = params.float("exposure")? as f32;
        if !(0.0..=1.0).contains(&strength) || !(3.0..=5.0).contains(&exposure) {
            return Err(PluginError::invalid_input(format!(
                "strength {strength} must be in 0..1 and exposure {exposure} in 3..5"
            )));
        }
        let (w, h) = (job.image.width() as usize, job.image.height() as usize);
        if w == 0 || h == 0 {
            return Err(PluginError::invalid_input("the image is empty"));
        }

        host.progress(0.0, "preprocess".into());
        let rgba = job.image.to_rgba_f32();
        let clamp = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        let rgb: Vec<f32> = rgba
            .chunks_exact(4)
            .flat_map(|p| [clamp(p[0]), clamp(p[1]), clamp(p[2])])
            .collect();
        host.check_cancelled()?;

        host.progress(0.1, "inference".into());
        let low = enhance_lowres(host, model, &rgb, (w, h), exposure)?;
        host.check_cancelled()?;

        host.progress(0.6, "applying at full resolution".into());
        let enhanced = apply_gain(&rgb, (w, h), &low);
        host.check_cancelled()?;

        let out: Vec<f32> = rgba
            .chunks_exact(4)
            .zip(rgb.chunks_exact(3).zip(enhanced.chunks_exact(3)))
            .flat_map(|(p, (x, e))| {
                let mix = |k: usize| x[k] + strength * (e[k] - x[k]);
                [mix(0), mix(1), mix(2), p[3]]
            })
            .collect();
        let buf = ImageBuf::from_rgba_f32(w as u32, h as u32, &out, PixelFormat::Rgba32F)?;
        host.progress(1.0, "done".into());
        Ok(buf)
    }
}

impl Operation for FixLowLight {
    fn descriptor(&self) -> OperationDescriptor {
        let ids = LowLightModel::ALL.map(|m| m.id());
        LowLightModel::ALL
            .iter()
            .fold(
                OperationDescriptor::new(
                    "fix-low-light",
                    "Fix low light",
                    "Enhance",
                    "Brightens an underexposed photo with a low-light model, keeping full \
                     resolution detail",
                ),
                |d, m| d.model(m.id()),
            )
            .param(ParamSpec::choice(
                "model",
                "Model",
                "llie-semantic-guided: natural, very fast; tbefn: brighter, warmer; \
                 uretinex: strong, with an exposure control",
                &ids,
                ids[0],
            ))
            .param(ParamSpec::float(
                "strength",
                "Strength",
                "How much of the enhancement to apply",
                (0.0, 1.0),
                1.0,
                0.05,
            ))
            .param(ParamSpec::float(
                "exposure",
                "Exposure",
                "URetinex-Net's exposure ratio input (uretinex only); its effect is mild",
                (3.0, 5.0),
                5.0,
                0.1,
            ))
            .flags(flags::DETERMINISTIC)
            .working_format(PixelFormat::Rgba32F)
    }

    fn option_titles(&self, param: RStr<'_>) -> RVec<RString> {
        match param.as_str() {
            "model" => LowLightModel::ALL
                .iter()
                .map(|m| m.title().into())
                .collect(),
            _ => RVec::new(),
        }
    }

    fn applies_when(&self, param: RStr<'_>) -> ROption<AppliesWhen> {
        match param.as_str() {
            // Only URetinex-Net takes an exposure ratio.
            "exposure" => ROption::RSome(AppliesWhen::choice(
                "model",
                &[LowLightModel::Uretinex.id()],
            )),
            _ => ROption::RNone,
        }
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        self.run_job(job, host).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uniform_gain_is_applied_exactly_at_full_resolution() {
        // The model doubled everything: the full-resolution image must be doubled too, with
        // its fine detail intact (a checkerboard the reduced copy cannot even represent).
        let (w, h) = (64, 40);
        let rgb: Vec<f32> = (0..w * h)
            .flat_map(|i| {
                let v = if (i % w + i / w) % 2 == 0 { 0.1 } else { 0.2 };
                [v, v * 0.5, v * 0.25]
            })
            .collect();
        let size = (16, 10);
        let input = resize_packed(&rgb, (w, h), 3, size, Filter::Bilinear);
        let enhanced: Vec<f32> = input.iter().map(|v| 2.0 * v + GAIN_EPS).collect();
        let low = LowRes {
            size,
            input,
            enhanced,
        };
        let out = apply_gain(&rgb, (w, h), &low);
        // The model's offset of GAIN_EPS comes along through the back-projection.
        for (o, x) in out.iter().zip(&rgb) {
            assert!((o - (2.0 * x + GAIN_EPS)).abs() < 1e-3, "{o} vs {x}");
        }
    }

    #[test]
    fn what_the_model_adds_to_the_blacks_is_carried_to_full_resolution() {
        // The model lifts everything by 0.2: no gain can make black 0.2, the back-projection
        // does, and the detail stays.
        let (w, h) = (64, 40);
        let rgb: Vec<f32> = (0..w * h)
            .flat_map(|i| {
                let v = if (i % w + i / w) % 2 == 0 { 0.0 } else { 0.05 };
                [v, v, v]
            })
            .collect();
        let size = (16, 10);
        let input = resize_packed(&rgb, (w, h), 3, size, Filter::Bilinear);
        let enhanced: Vec<f32> = input.iter().map(|v| v + 0.2).collect();
        let low = LowRes {
            size,
            input,
            enhanced: enhanced.clone(),
        };
        let out = apply_gain(&rgb, (w, h), &low);
        let reduced = resize_packed(&out, (w, h), 3, size, Filter::Bilinear);
        for (r, e) in reduced.iter().zip(&enhanced) {
            assert!((r - e).abs() < 0.01, "at the model's size {r} vs {e}");
        }
        let contrast = (out[3] - out[0]).abs();
        assert!(contrast > 0.04, "the checkerboard kept {contrast} of 0.05");
    }

    #[test]
    fn descriptor_declares_params_and_models() {
        let d = FixLowLight.descriptor();
        assert_eq!(d.id.as_str(), "fix-low-light");
        assert_eq!(d.category.as_str(), "Enhance");
        assert!(d.has_flag(flags::DETERMINISTIC) && !d.has_flag(flags::TILEABLE));
        assert_eq!(d.output_scale, 1);
        let names: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["model", "strength", "exposure"]);
        let models: Vec<&str> = d.models.iter().map(|m| m.as_str()).collect();
        assert_eq!(models, ["llie-semantic-guided", "tbefn", "uretinex"]);
        assert_eq!(d.params[2].default_value(), Some(ParamValue::float(5.0)));
    }
}

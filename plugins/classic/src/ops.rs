//! The three operations as the SDK sees them: descriptors, job validation, and the glue from
//! jobs and host services to the algorithm functions.

use crate::colorize::colorize;
use crate::control::{Cancelled, Control};
use crate::inpaint::{self, migan, InpaintOptions, HOLE_THRESHOLD};
use crate::match_look::{self, Space};
use easel_sdk::prelude::*;
use easel_sdk::{ImageView, PluginResult};

/// Reports to and polls the host from the thread running the job.
struct HostControl<'h, 'a> {
    host: &'h Host<'a>,
}

impl Control for HostControl<'_, '_> {
    fn progress(&mut self, fraction: f32, message: &str) {
        self.host.progress(fraction, message.into());
    }
    fn cancelled(&mut self) -> bool {
        self.host.is_cancelled()
    }
}

fn cancelled(_: Cancelled) -> PluginError {
    PluginError::cancelled()
}

/// A view as packed RGBA f32 with its size.
fn read_rgba(view: &ImageView<'_>) -> (usize, usize, Vec<f32>) {
    (
        view.width() as usize,
        view.height() as usize,
        view.to_rgba_f32(),
    )
}

fn output(w: usize, h: usize, rgba: &[f32]) -> PluginResult<ImageBuf> {
    ImageBuf::from_rgba_f32(w as u32, h as u32, rgba, PixelFormat::Rgba32F)
}

/// None of these operations is tileable (each is global over its input), so the whole image
/// is in memory at once: a few copies of RGBA f32 (16 B/px) for the transfers and the fill
/// (which works on the hole's neighbourhood only).
const MAX_PIXELS: usize = 64 << 20;
/// The colorization solver holds about 110 B/px (system, multigrid hierarchy, two CG solves).
const MAX_COLORIZE_PIXELS: usize = 32 << 20;

fn check_size(w: usize, h: usize, limit: usize) -> PluginResult<()> {
    if w == 0 || h == 0 {
        return Err(PluginError::invalid_input("the image is empty"));
    }
    if w.saturating_mul(h) > limit {
        return Err(PluginError::limits(format!(
            "{w}x{h} is more than the {} megapixels this operation handles",
            limit >> 20
        )));
    }
    Ok(())
}

/// `remove-object`: fills the masked object from its surroundings.
pub struct RemoveObject;

/// Words for people for choice options, in the order given (the ids are for scripts).
fn titles(of: &[&str]) -> RVec<RString> {
    of.iter().map(|t| RString::from(*t)).collect()
}

impl Operation for RemoveObject {
    fn descriptor(&self) -> OperationDescriptor {
        OperationDescriptor::new(
            "remove-object",
            "Remove object",
            "Retouch",
            "Fills the selection from its surroundings: multi-scale PatchMatch exemplar inpainting, \
             or the MI-GAN model when it is installed",
        )
        .mask(MaskUse::Required)
        .flags(flags::COMPOSITE_THROUGH_MASK | flags::DETERMINISTIC)
        .param(ParamSpec::int(
            "patch_size",
            "Patch size",
            "Width in pixels of the patches copied from around the hole; larger keeps larger structures (even sizes round up)",
            5,
            15,
            7,
        ))
        .param(ParamSpec::seed(
            "seed",
            "Seed",
            "Seed of the randomised patch search; the same seed gives the same result",
        ))
        .param(ParamSpec::choice(
            "method",
            "Method",
            "patchmatch: classical exemplar-based fill; model: the MI-GAN model from the model store",
            &["patchmatch", "model"],
            "patchmatch",
        ))
        .model(migan::MODEL_ID)
    }

    fn option_titles(&self, param: RStr<'_>) -> RVec<RString> {
        match param.as_str() {
            "method" => titles(&["PatchMatch (classic)", "MI-GAN (learned)"]),
            _ => RVec::new(),
        }
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        remove_object(job, host).into()
    }
}

fn remove_object(job: &Job<'_>, host: &Host<'_>) -> PluginResult<ImageBuf> {
    let mask = job
        .mask()
        .ok_or_else(|| PluginError::invalid_input("remove-object needs a mask over the object"))?;
    check_size(
        job.image.width() as usize,
        job.image.height() as usize,
        MAX_PIXELS,
    )?;
    let (w, h, rgba) = read_rgba(&job.image);
    if (mask.width() as usize, mask.height() as usize) != (w, h) {
        return Err(PluginError::invalid_input(format!(
            "the mask is {}x{}, the image {w}x{h}",
            mask.width(),
            mask.height()
        )));
    }
    let hole: Vec<bool> = mask
        .to_coverage_f32()
        .iter()
        .map(|&c| c > HOLE_THRESHOLD)
        .collect();
    if !hole.iter().any(|&b| b) {
        return output(w, h, &rgba);
    }
    let params = job.params();
    let out = match params.choice("method")? {
        "model" => remove_with_model(host, &rgba, w, h, &hole)?,
        _ => {
            let opts = InpaintOptions {
                patch_size: params.int("patch_size")?.clamp(3, 31) as usize,
                seed: params.seed("seed")?,
                ..InpaintOptions::default()
            };
            let mut ctl = HostControl { host };
            inpaint::inpaint_rgba(&rgba, w, h, &hole, &opts, &mut ctl).map_err(cancelled)?
        }
    };
    output(w, h, &out)
}

/// The learned path; see [`migan`] for the model contract.
fn remove_with_model(
    host: &Host<'_>,
    rgba: &[f32],
    w: usize,
    h: usize,
    hole: &[bool],
) -> PluginResult<Vec<f32>> {
    let info = host
        .model_info(migan::MODEL_ID.into())
        .into_result()
        .map_err(|e| {
            PluginError::new(
                e.kind,
                format!(
                    "model '{}' is not installed; use method=patchmatch ({})",
                    migan::MODEL_ID,
                    e.message
                ),
            )
        })?;
    migan::check_signature(&info)?;
    host.check_cancelled()?;
    host.progress(0.1, "preparing the model's input".into());
    let inputs = migan::prepare(rgba, w, h, hole);
    host.check_cancelled()?;
    host.progress(0.2, "running the inpainting model".into());
    let outputs = host
        .run_model(
            migan::MODEL_ID.into(),
            inputs.into_tensors().into(),
            vec![RString::from("result")].into(),
        )
        .into_result()?;
    host.check_cancelled()?;
    let result = migan::find_result(outputs.as_slice())?;
    let out = migan::merge(result, rgba, w, h, hole);
    host.progress(1.0, "done".into());
    Ok(out)
}

/// `colorize-scribbles`: colours a grey picture from a layer of colour scribbles.
pub struct ColorizeScribbles;

impl Operation for ColorizeScribbles {
    fn descriptor(&self) -> OperationDescriptor {
        OperationDescriptor::new(
            "colorize-scribbles",
            "Colorize from scribbles",
            "Color",
            "Colours the image from a few strokes painted on a reference layer (colorization by \
             optimisation, Levin et al. 2004); the image's luminance is kept exactly",
        )
        .references(1, 1)
        .mask(MaskUse::Ignored)
        .flags(flags::DETERMINISTIC | flags::ALIGNED_REFERENCES)
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        colorize_scribbles(job, host).into()
    }
}

fn colorize_scribbles(job: &Job<'_>, host: &Host<'_>) -> PluginResult<ImageBuf> {
    check_size(
        job.image.width() as usize,
        job.image.height() as usize,
        MAX_COLORIZE_PIXELS,
    )?;
    let (w, h, rgba) = read_rgba(&job.image);
    let scribble_view = job.references.as_slice().first().ok_or_else(|| {
        PluginError::invalid_input("colorize-scribbles needs the scribble layer as reference 0")
    })?;
    let (sw, sh, scribbles) = read_rgba(scribble_view);
    if (sw, sh) != (w, h) {
        // The host crops aligned references with the image, so this is a caller's mistake.
        return Err(PluginError::invalid_input(format!(
            "the scribble layer is {sw}x{sh} but the image is {w}x{h}: they must cover the same pixels"
        )));
    }
    if !scribbles
        .chunks_exact(4)
        .any(|p| p[3] > crate::colorize::SCRIBBLE_THRESHOLD)
    {
        return Err(PluginError::invalid_input(
            "the scribble layer has no painted pixels (alpha is 0 everywhere)",
        ));
    }
    let mut ctl = HostControl { host };
    let (out, stats) = colorize(&rgba, &scribbles, w, h, 0, &mut ctl).map_err(cancelled)?;
    host.log(
        LogLevel::Debug,
        format!(
            "colorized {w}x{h} from {} scribbled pixels: CG {}+{} iterations, residual {:.1e}/{:.1e}",
            stats.scribbled,
            stats.u.iterations,
            stats.v.iterations,
            stats.u.relative_residual,
            stats.v.relative_residual
        )
        .as_str()
        .into(),
    );
    output(w, h, &out)
}

/// `match-look`: gives the image the colour statistics of one or more reference images.
pub struct MatchLook;

impl Operation for MatchLook {
    fn descriptor(&self) -> OperationDescriptor {
        OperationDescriptor::new(
            "match-look",
            "Match look",
            "Color",
            "Transfers the reference images' color mood (mean and spread of each channel of a \
             perceptual colour space, Reinhard et al. 2001); with a mask, the selected area's \
             statistics are matched and only it changes",
        )
        .references(1, 8)
        .mask(MaskUse::Optional)
        .flags(flags::DETERMINISTIC | flags::COMPOSITE_THROUGH_MASK)
        .param(ParamSpec::float(
            "strength",
            "Strength",
            "How far to move towards the references' look (0 leaves the image as it is)",
            (0.0, 1.0),
            1.0,
            0.05,
        ))
        .param(ParamSpec::choice(
            "space",
            "Color space",
            "lab: CIELAB (as in the classic method); oklab: Oklab, more even hues",
            &["lab", "oklab"],
            "lab",
        ))
    }

    fn option_titles(&self, param: RStr<'_>) -> RVec<RString> {
        match param.as_str() {
            "space" => titles(&["CIELAB", "Oklab"]),
            _ => RVec::new(),
        }
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        match_look_op(job, host).into()
    }
}

fn match_look_op(job: &Job<'_>, host: &Host<'_>) -> PluginResult<ImageBuf> {
    check_size(
        job.image.width() as usize,
        job.image.height() as usize,
        MAX_PIXELS,
    )?;
    let (w, h, rgba) = read_rgba(&job.image);
    let params = job.params();
    let strength = params.float("strength")?.clamp(0.0, 1.0) as f32;
    let space_name = params.choice("space")?;
    let space = Space::parse(space_name)
        .ok_or_else(|| PluginError::invalid_input(format!("unknown color space '{space_name}'")))?;
    if job.references.is_empty() {
        return Err(PluginError::invalid_input(
            "match-look needs at least one reference image",
        ));
    }
    let mut all = Vec::new();
    for (i, view) in job.references.as_slice().iter().enumerate() {
        host.check_cancelled()?;
        let (_, _, px) = read_rgba(view);
        let stats = match_look::stats(&px, space).ok_or_else(|| {
            PluginError::invalid_input(format!("reference {i} is fully transparent"))
        })?;
        all.push(stats);
    }
    let reference =
        match_look::pool(&all).ok_or_else(|| PluginError::plugin("no reference statistics"))?;
    // The target's statistics come from what is visible and, with a mask, selected.
    let weighted: Vec<f32> = match job.mask() {
        Some(mask) if (mask.width() as usize, mask.height() as usize) == (w, h) => {
            let cov = mask.to_coverage_f32();
            rgba.chunks_exact(4)
                .zip(&cov)
                .flat_map(|(p, &c)| [p[0], p[1], p[2], p[3] * c.clamp(0.0, 1.0)])
                .collect()
        }
        Some(mask) => {
            return Err(PluginError::invalid_input(format!(
                "the mask is {}x{}, the image {w}x{h}",
                mask.width(),
                mask.height()
            )))
        }
        None => rgba.clone(),
    };
    let target = match match_look::stats(&weighted, space) {
        Some(s) => s,
        // Nothing visible: nothing to change.
        None => return output(w, h, &rgba),
    };
    host.check_cancelled()?;
    host.progress(0.5, "transferring colors".into());
    let out = match_look::transfer(&rgba, &target, &reference, space, strength);
    host.progress(1.0, "done".into());
    output(w, h, &out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use easel_sdk::{ErrorKind, ParamValue};

    /// A brick-texture crop with a disc-shaped object painted over it, and its mask.
    fn brick_with_object() -> (usize, usize, Vec<f32>, Vec<f32>, Vec<f32>) {
        let (w0, _, full) = load_photo("brick.png");
        let (w, h) = (160, 140);
        let mut truth = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            truth.extend_from_slice(
                &full[(y + 100) * w0 * 4 + 120 * 4..(y + 100) * w0 * 4 + (120 + w) * 4],
            );
        }
        let mut img = truth.clone();
        let mut cov = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f32 - 80.0).powi(2) + (y as f32 - 70.0).powi(2)).sqrt();
                // Soft edge: 1 inside r=18, fading to 0 at r=21.
                let c = ((21.0 - d) / 3.0).clamp(0.0, 1.0);
                cov[y * w + x] = c;
                if c > 0.0 {
                    img[(y * w + x) * 4..(y * w + x) * 4 + 3].copy_from_slice(&[0.9, 0.1, 0.8]);
                }
            }
        }
        (w, h, truth, img, cov)
    }

    #[test]
    fn descriptors_are_as_documented() {
        let d = RemoveObject.descriptor();
        assert_eq!(d.id.as_str(), "remove-object");
        assert_eq!(d.category.as_str(), "Retouch");
        assert_eq!(d.mask, MaskUse::Required);
        assert!(d.has_flag(flags::COMPOSITE_THROUGH_MASK) && d.has_flag(flags::DETERMINISTIC));
        assert_eq!(d.working_format, PixelFormat::Rgba32F);
        assert_eq!(d.models.as_slice(), &[RString::from("migan")]);
        let names: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["patch_size", "seed", "method"]);
        let c = ColorizeScribbles.descriptor();
        assert_eq!(
            (c.min_references, c.max_references, c.mask),
            (1, 1, MaskUse::Ignored)
        );
        let m = MatchLook.descriptor();
        assert_eq!((m.min_references, m.max_references), (1, 8));
        assert_eq!(m.category.as_str(), "Color");
    }

    #[test]
    fn remove_object_fills_only_the_hole_and_is_deterministic() {
        let (w, h, truth, img, cov) = brick_with_object();
        let (ib, mb) = (rgba_buf(w, h, &img), mask_buf(w, h, &cov));
        let p = params(&RemoveObject, &[("seed", ParamValue::seed(42))]);
        let host = TestHost::new();
        let out = host
            .run(
                &RemoveObject,
                &job("remove-object", &ib, Some(&mb), &[], &p),
            )
            .unwrap();
        assert_eq!((out.width(), out.height()), (w as u32, h as u32));
        assert_eq!(out.format(), PixelFormat::Rgba32F);
        let px = out.view().to_rgba_f32();
        let hole: Vec<bool> = cov.iter().map(|&c| c > HOLE_THRESHOLD).collect();
        for i in 0..w * h {
            if hole[i] {
                // No trace of the magenta object.
                assert!(
                    !(px[i * 4] > 0.7 && px[i * 4 + 1] < 0.3 && px[i * 4 + 2] > 0.6),
                    "object left at {i}"
                );
            } else {
                assert_eq!(px[i * 4..i * 4 + 4], img[i * 4..i * 4 + 4]);
            }
            assert_eq!(px[i * 4 + 3], img[i * 4 + 3], "alpha kept");
        }
        let q = psnr(&px, &truth, &hole);
        assert!(q > 14.0, "PSNR in the hole {q:.2} dB");
        // Progress went up to 1 and was monotone.
        let prog = host.progress();
        assert!(prog.windows(2).all(|p| p[1].0 >= p[0].0), "{prog:?}");
        assert_eq!(prog.last().map(|p| p.0), Some(1.0));
        // Same seed, same pixels.
        let again = TestHost::new()
            .run(
                &RemoveObject,
                &job("remove-object", &ib, Some(&mb), &[], &p),
            )
            .unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn remove_object_returns_cancelled_promptly() {
        let (w, h, _, img, cov) = brick_with_object();
        let (ib, mb) = (rgba_buf(w, h, &img), mask_buf(w, h, &cov));
        let p = params(&RemoveObject, &[]);
        for after in [0, 3] {
            let host = TestHost::new().cancel_after(after);
            let start = std::time::Instant::now();
            let err = host
                .run(
                    &RemoveObject,
                    &job("remove-object", &ib, Some(&mb), &[], &p),
                )
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::Cancelled);
            // It stopped at the first check after cancellation, not at the end.
            let checks = host.cancel_checks();
            assert_eq!(checks, after + 1);
            assert!(start.elapsed().as_secs_f32() < 5.0);
        }
    }

    #[test]
    fn remove_object_without_mask_or_with_wrong_size_is_refused() {
        let img = vec![0.5f32; 16 * 16 * 4];
        let ib = rgba_buf(16, 16, &img);
        let p = params(&RemoveObject, &[]);
        let host = TestHost::new();
        let err = host
            .run(&RemoveObject, &job("remove-object", &ib, None, &[], &p))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        let mb = mask_buf(8, 8, &[1.0; 64]);
        let err = host
            .run(
                &RemoveObject,
                &job("remove-object", &ib, Some(&mb), &[], &p),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        // An empty mask changes nothing.
        let mb = mask_buf(16, 16, &[0.0; 256]);
        let out = host
            .run(
                &RemoveObject,
                &job("remove-object", &ib, Some(&mb), &[], &p),
            )
            .unwrap();
        assert_eq!(out.view().to_rgba_f32(), img);
    }

    #[test]
    fn model_method_without_the_model_says_so() {
        let (w, h, _, img, cov) = brick_with_object();
        let (ib, mb) = (rgba_buf(w, h, &img), mask_buf(w, h, &cov));
        let p = params(&RemoveObject, &[("method", ParamValue::choice("model"))]);
        let err = TestHost::new()
            .run(
                &RemoveObject,
                &job("remove-object", &ib, Some(&mb), &[], &p),
            )
            .unwrap_err();
        assert!(
            err.message
                .contains("model 'migan' is not installed; use method=patchmatch"),
            "{err}"
        );
    }

    /// What the stub ONNX graph computes: `result = image * mask + (1 - mask) * 0.5`.
    fn stub_migan(inputs: &[Tensor]) -> Vec<Tensor> {
        let image = inputs.iter().find(|t| t.name.as_str() == "image").unwrap();
        let mask = inputs.iter().find(|t| t.name.as_str() == "mask").unwrap();
        assert_eq!(image.shape.as_slice(), &[1, 3, 512, 512]);
        assert_eq!(mask.shape.as_slice(), &[1, 1, 512, 512]);
        let n = 512 * 512;
        let data: Vec<f32> = (0..3 * n)
            .map(|j| {
                let m = mask.data[j % n];
                image.data[j] * m + (1.0 - m) * 0.5
            })
            .collect();
        vec![Tensor::new("result", &[1, 3, 512, 512], data)]
    }

    #[test]
    fn model_method_sends_the_contract_and_replaces_only_the_hole() {
        let (w, h, _, img, cov) = brick_with_object();
        let (ib, mb) = (rgba_buf(w, h, &img), mask_buf(w, h, &cov));
        let p = params(&RemoveObject, &[("method", ParamValue::choice("model"))]);
        let s: &[i64] = &[1, 3, 512, 512];
        let host = TestHost::new()
            .with_model_info(model_info(
                "migan",
                &[("image", s), ("mask", &[1, 1, 512, 512])],
                &[("result", s)],
            ))
            .with_models(|_, inputs, _| Ok(stub_migan(&inputs)));
        let out = host
            .run(
                &RemoveObject,
                &job("remove-object", &ib, Some(&mb), &[], &p),
            )
            .unwrap();
        let px = out.view().to_rgba_f32();
        for i in 0..w * h {
            if cov[i] > 0.99 {
                assert!(
                    px[i * 4..i * 4 + 3].iter().all(|v| (v - 0.5).abs() < 0.02),
                    "{:?}",
                    &px[i * 4..i * 4 + 3]
                );
            } else if cov[i] <= HOLE_THRESHOLD {
                assert_eq!(px[i * 4..i * 4 + 4], img[i * 4..i * 4 + 4]);
            }
        }
        // A store entry with another signature is refused with a model error.
        let host = TestHost::new()
            .with_model_info(model_info("migan", &[("input", s)], &[("result", s)]))
            .with_models(|_, inputs, _| Ok(stub_migan(&inputs)));
        let err = host
            .run(
                &RemoveObject,
                &job("remove-object", &ib, Some(&mb), &[], &p),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Model);
    }

    #[test]
    fn colorize_op_keeps_luma_and_needs_scribbles() {
        let (w, h, photo) = load_photo("chelsea.png");
        let gray: Vec<f32> = photo
            .chunks_exact(4)
            .flat_map(|p| {
                let y = crate::color::rgb_to_yuv([p[0], p[1], p[2]])[0];
                [y, y, y, 1.0]
            })
            .collect();
        let mut scr = vec![0.0f32; w * h * 4];
        for y in (4..h).step_by(10) {
            for x in (4..w).step_by(10) {
                let i = y * w + x;
                scr[i * 4..i * 4 + 4].copy_from_slice(&photo[i * 4..i * 4 + 4]);
            }
        }
        let (ib, sb) = (rgba_buf(w, h, &gray), rgba_buf(w, h, &scr));
        let refs = [sb.view()];
        let p = params(&ColorizeScribbles, &[]);
        let host = TestHost::new();
        let out = host
            .run(
                &ColorizeScribbles,
                &job("colorize-scribbles", &ib, None, &refs, &p),
            )
            .unwrap();
        let px = out.view().to_rgba_f32();
        let mut coloured = 0;
        for (o, g) in px.chunks_exact(4).zip(gray.chunks_exact(4)) {
            let yuv = crate::color::rgb_to_yuv([o[0], o[1], o[2]]);
            assert!((yuv[0] - g[0]).abs() < 1e-4);
            if yuv[1].abs() + yuv[2].abs() > 0.02 {
                coloured += 1;
            }
        }
        assert!(coloured > w * h / 2, "only {coloured} pixels got colour");
        let empty = rgba_buf(w, h, &vec![0.0; w * h * 4]);
        let refs = [empty.view()];
        let err = host
            .run(
                &ColorizeScribbles,
                &job("colorize-scribbles", &ib, None, &refs, &p),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
    }

    #[test]
    fn match_look_op_pools_references_and_honours_strength() {
        let (w, h, target) = load_photo("coffee.png");
        let (rw, rh, r1) = load_photo("chelsea.png");
        let (qw, qh, r2) = load_photo("astronaut.png");
        let ib = rgba_buf(w, h, &target);
        let (b1, b2) = (rgba_buf(rw, rh, &r1), rgba_buf(qw, qh, &r2));
        let refs = [b1.view(), b2.view()];
        let host = TestHost::new();
        let p = params(&MatchLook, &[("space", ParamValue::choice("oklab"))]);
        let out = host
            .run(&MatchLook, &job("match-look", &ib, None, &refs, &p))
            .unwrap();
        let got = match_look::stats(&out.view().to_rgba_f32(), Space::Oklab).unwrap();
        let want = match_look::pool(&[
            match_look::stats(&r1, Space::Oklab).unwrap(),
            match_look::stats(&r2, Space::Oklab).unwrap(),
        ])
        .unwrap();
        for k in 0..3 {
            assert!((got.mean[k] - want.mean[k]).abs() < 0.01, "channel {k}");
            assert!(
                (got.std[k] - want.std[k]).abs() < 0.06 * want.std[k] + 0.002,
                "channel {k}"
            );
        }
        let p0 = params(&MatchLook, &[("strength", ParamValue::float(0.0))]);
        let same = host
            .run(&MatchLook, &job("match-look", &ib, None, &refs, &p0))
            .unwrap();
        assert_eq!(same.view().to_rgba_f32(), target);
    }
}

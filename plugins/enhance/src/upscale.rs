//! `upscale-4x` and `upscale-2x`: learned super-resolution (Real-ESRGAN, Swin2SR) on RGB, with
//! alpha resampled by bicubic interpolation, for any input size.

use easel_pixels::tiling::{self, Blender};
use easel_pixels::{fill_uncovered, halve_planar, pad_mirror_planar, resize_packed, Filter};
use easel_sdk::prelude::*;
use easel_sdk::PluginResult;

/// A super-resolution model from the host's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrModel {
    /// Real-ESRGAN general x4v3 (SRVGGNetCompact): small and fast, ×4.
    RealesrGeneralX4v3,
    /// Real-ESRGAN x4plus (RRDBNet): large, slow, best ×4 textures.
    RealesrganX4plus,
    /// Swin2SR classical ×2, trained for PSNR on bicubic degradation.
    Swin2srX2,
}

/// Least overlap between the model-sized tiles of one job, in input pixels (see
/// [`SrModel::overlap`]: Real-ESRGAN x4plus takes twice this).
pub const TILE_OVERLAP: usize = 16;

impl SrModel {
    pub fn id(self) -> &'static str {
        match self {
            SrModel::RealesrGeneralX4v3 => "realesr-general-x4v3",
            SrModel::RealesrganX4plus => "realesrgan-x4plus",
            SrModel::Swin2srX2 => "swin2sr-x2",
        }
    }

    /// The model's name for people.
    pub fn title(self) -> &'static str {
        match self {
            SrModel::RealesrGeneralX4v3 => "Real-ESRGAN general (fast)",
            SrModel::RealesrganX4plus => "Real-ESRGAN \u{d7}4 plus",
            SrModel::Swin2srX2 => "Swin2SR \u{d7}2",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        [
            SrModel::RealesrGeneralX4v3,
            SrModel::RealesrganX4plus,
            SrModel::Swin2srX2,
        ]
        .into_iter()
        .find(|m| m.id() == id)
    }

    /// The model's own factor.
    pub fn scale(self) -> usize {
        match self {
            SrModel::RealesrGeneralX4v3 | SrModel::RealesrganX4plus => 4,
            SrModel::Swin2srX2 => 2,
        }
    }

    fn input_name(self) -> &'static str {
        match self {
            SrModel::Swin2srX2 => "pixel_values",
            _ => "input",
        }
    }

    fn output_name(self) -> &'static str {
        match self {
            SrModel::Swin2srX2 => "reconstruction",
            _ => "output",
        }
    }

    /// Input sides must be multiples of this. Swin2SR pads to its 8-pixel window inside the
    /// graph but then fails to reshape back unless the size already was a multiple (measured
    /// with ONNX Runtime 1.31: 63×65 and 17×30 fail, 64×64 and 8×16 run), and its reflect pad
    /// needs at least 2 pixels; the Real-ESRGAN models take any size.
    pub fn multiple(self) -> usize {
        match self {
            SrModel::Swin2srX2 => 8,
            _ => 1,
        }
    }

    /// Context added on every side of the whole image before tiling, by mirroring without
    /// repeating the edge pixel, and cropped from the result: what realesrgan-ncnn-vulkan, the
    /// program these Real-ESRGAN files come from, does (`prepadding` = 10 in its main.cpp, the
    /// mirroring of realesrgan_preproc.comp). Without it the model's zero padding darkens or
    /// rings along the image's edges, which differs from the reference there by up to 0.3
    /// (benches/enhance_parity.md). Swin2SR: none (its reference pads nothing either).
    pub fn border(self) -> usize {
        match self {
            SrModel::RealesrGeneralX4v3 | SrModel::RealesrganX4plus => 10,
            SrModel::Swin2srX2 => 0,
        }
    }

    /// Least overlap between neighbouring tiles, in input pixels. RRDBNet (x4plus) reaches much
    /// further than SRVGGNet: against one whole-image call its tiled result was at 42 dB with
    /// 16 and 45.5 dB with 32 (benches/enhance_parity.md; each tile then has 16 pixels of context
    /// at the middle of a seam, the reference 10), for about a third more model time.
    pub fn overlap(self) -> usize {
        match self {
            SrModel::RealesrganX4plus => 2 * TILE_OVERLAP,
            _ => TILE_OVERLAP,
        }
    }

    /// The largest tile side sent to the model in one call, in input pixels: a few seconds per
    /// call on two cores, so progress moves and a cancel is honoured soon.
    pub fn tile(self) -> usize {
        match self {
            SrModel::RealesrGeneralX4v3 => 256,
            SrModel::RealesrganX4plus | SrModel::Swin2srX2 => 128,
        }
    }
}

/// Runs `model` once on a planar RGB image (0..1) of `w` × `h`, padding by mirroring to the
/// model's multiple (only sides shorter than it get here unaligned: see [`tiling::spans`]) and
/// cropping the result; returns planar RGB, `scale` times larger, clamped.
fn run_once(
    host: &Host<'_>,
    model: SrModel,
    rgb: &[f32],
    (w, h): (usize, usize),
) -> PluginResult<Vec<f32>> {
    let m = model.multiple();
    let pad = |n: usize| if m > 1 { n.div_ceil(m).max(1) * m } else { n };
    let (pw, ph) = (pad(w), pad(h));
    let input = pad_mirror_planar(rgb, (w, h), 3, (pw, ph));
    let tensor = Tensor::new(model.input_name(), &[1, 3, ph as i64, pw as i64], input);
    let outputs = host
        .run_model(
            model.id().into(),
            RVec::from(vec![tensor]),
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
    let s = model.scale();
    let want = [1, 3, (ph * s) as i64, (pw * s) as i64];
    if out.shape.as_slice() != want || out.data.len() != 3 * ph * s * pw * s {
        return Err(PluginError::model(format!(
            "model '{}' returned shape {:?} for a {pw}x{ph} input, expected {want:?}",
            model.id(),
            out.shape.as_slice()
        )));
    }
    let (ow, oh, opw, oph) = (w * s, h * s, pw * s, ph * s);
    let mut result = Vec::with_capacity(3 * ow * oh);
    for p in 0..3 {
        let plane = &out.data[p * opw * oph..(p + 1) * opw * oph];
        for y in 0..oh {
            result.extend(plane[y * opw..y * opw + ow].iter().map(|v| clamp01(*v)));
        }
    }
    Ok(result)
}

/// Upscales a planar RGB image (0..1) with `model`, in tiles of at most `tile` input pixels a
/// side blended across `model.overlap()`; `progress(done, total)` is called after each tile and
/// cancellation is checked before each. Returns planar RGB at `model.scale()` × the size.
pub fn upscale_planar(
    host: &Host<'_>,
    model: SrModel,
    rgb: &[f32],
    (w, h): (usize, usize),
    tile: usize,
    progress: &dyn Fn(usize, usize),
) -> PluginResult<Vec<f32>> {
    let overlap = model.overlap();
    let tile = tile.max(2 * overlap);
    let xs = tiling::spans(w, tile, overlap, model.multiple());
    let ys = tiling::spans(h, tile, overlap, model.multiple());
    let total = xs.len() * ys.len();
    if total == 1 {
        host.check_cancelled()?;
        let out = run_once(host, model, rgb, (w, h))?;
        progress(1, 1);
        return Ok(out);
    }
    // Each tile gives the part it owns (its core: up to the middle of each overlap, where it has
    // at least half the overlap as context) widened by a quarter of the overlap, and neighbours
    // cross-fade over those two quarters, so no pixel comes from within a quarter of the overlap
    // of a tile's edge, where the tile has almost no context (fading over the whole overlap
    // mixed those in).
    let fade = overlap / 4;
    let widen = |core: (usize, usize), span: tiling::Span, len: usize| {
        let start = if core.0 == 0 {
            0
        } else {
            core.0.saturating_sub(fade).max(span.start)
        };
        let end = if core.1 == len {
            len
        } else {
            (core.1 + fade).min(span.start + span.len)
        };
        tiling::Span {
            start,
            len: end - start,
        }
    };
    let (cx, cy) = (tiling::cores(&xs), tiling::cores(&ys));
    let s = model.scale();
    let mut blender = Blender::new(3, w, h, s, 2 * fade);
    let mut done = 0;
    for (&y, &core_y) in ys.iter().zip(&cy) {
        for (&x, &core_x) in xs.iter().zip(&cx) {
            host.check_cancelled()?;
            let crop = tiling::crop_planar(rgb, (w, h), 3, x, y);
            let out = run_once(host, model, &crop, (x.len, y.len))?;
            let (px, py) = (widen(core_x, x, w), widen(core_y, y, h));
            let part = tiling::crop_planar(
                &out,
                (x.len * s, y.len * s),
                3,
                tiling::Span {
                    start: (px.start - x.start) * s,
                    len: px.len * s,
                },
                tiling::Span {
                    start: (py.start - y.start) * s,
                    len: py.len * s,
                },
            );
            blender.place(px, py, &part);
            done += 1;
            progress(done, total);
        }
    }
    Ok(blender.finish())
}

/// Index `i` (which may lie outside `0..len`) mirrored into it without repeating the edge
/// sample (-1 -> 1, len -> len - 2), periodically for any distance.
fn reflect101(i: isize, len: usize) -> usize {
    if len <= 1 {
        return 0;
    }
    let period = 2 * (len as isize - 1);
    let m = i.rem_euclid(period);
    (if m < len as isize { m } else { period - m }) as usize
}

/// Pads a planar image by `b` pixels on every side, mirrored without repeating the edge.
fn pad_reflect101_planar(src: &[f32], (w, h): (usize, usize), planes: usize, b: usize) -> Vec<f32> {
    let (pw, ph) = (w + 2 * b, h + 2 * b);
    let cols: Vec<usize> = (0..pw)
        .map(|x| reflect101(x as isize - b as isize, w))
        .collect();
    let mut out = Vec::with_capacity(planes * pw * ph);
    for p in 0..planes {
        let plane = &src[p * w * h..(p + 1) * w * h];
        for y in 0..ph {
            let row = &plane[reflect101(y as isize - b as isize, h) * w..][..w];
            out.extend(cols.iter().map(|&x| row[x]));
        }
    }
    out
}

/// Crops `b` pixels from every side of a planar image of `w` × `h`.
fn crop_border_planar(src: &[f32], (w, h): (usize, usize), planes: usize, b: usize) -> Vec<f32> {
    let (cw, ch) = (w - 2 * b, h - 2 * b);
    let mut out = Vec::with_capacity(planes * cw * ch);
    for p in 0..planes {
        let plane = &src[p * w * h..(p + 1) * w * h];
        for y in b..b + ch {
            out.extend_from_slice(&plane[y * w + b..][..cw]);
        }
    }
    out
}

fn clamp01(v: f32) -> f32 {
    // NaN becomes 0 rather than travelling on.
    if v.is_nan() {
        0.0
    } else {
        v.clamp(0.0, 1.0)
    }
}

/// `upscale-4x` or `upscale-2x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upscale {
    factor: u32,
}

impl Upscale {
    pub const X4: Upscale = Upscale { factor: 4 };
    pub const X2: Upscale = Upscale { factor: 2 };

    pub fn factor(self) -> u32 {
        self.factor
    }

    /// The models offered, default first.
    pub fn models(self) -> &'static [SrModel] {
        if self.factor == 4 {
            &[SrModel::RealesrGeneralX4v3, SrModel::RealesrganX4plus]
        } else {
            &[SrModel::Swin2srX2, SrModel::RealesrGeneralX4v3]
        }
    }

    pub fn id(self) -> &'static str {
        if self.factor == 4 {
            "upscale-4x"
        } else {
            "upscale-2x"
        }
    }

    fn run_job(&self, job: &Job<'_>, host: &Host<'_>) -> PluginResult<ImageBuf> {
        let name = job.params().choice("model")?;
        let model = SrModel::from_id(name)
            .filter(|m| self.models().contains(m))
            .ok_or_else(|| {
                let list: Vec<&str> = self.models().iter().map(|m| m.id()).collect();
                PluginError::invalid_input(format!(
                    "{} has no model '{name}' (one of {})",
                    self.id(),
                    list.join(", ")
                ))
            })?;
        let (w, h) = (job.image.width() as usize, job.image.height() as usize);
        if w == 0 || h == 0 {
            return Err(PluginError::invalid_input("the image is empty"));
        }
        let f = self.factor as usize;
        let (fw, fh) = (w * f, h * f);
        if u32::try_from(fw).is_err()
            || u32::try_from(fh).is_err()
            || fw.checked_mul(fh).and_then(|n| n.checked_mul(16)).is_none()
        {
            return Err(PluginError::limits(format!(
                "a {w}x{h} image upscaled ×{f} does not fit in memory"
            )));
        }

        host.progress(0.0, "preprocess".into());
        let rgba = job.image.to_rgba_f32();
        let alpha: Vec<f32> = rgba.chunks_exact(4).map(|p| clamp01(p[3])).collect();
        let opaque = alpha.iter().all(|&a| a >= 1.0);
        let mut rgb: Vec<f32> = rgba
            .chunks_exact(4)
            .flat_map(|p| [clamp01(p[0]), clamp01(p[1]), clamp01(p[2])])
            .collect();
        if !opaque {
            let covered: Vec<bool> = alpha.iter().map(|&a| a > 0.0).collect();
            fill_uncovered(&mut rgb, &covered, w, h);
        }
        let planar: Vec<f32> = (0..3)
            .flat_map(|c| rgb.iter().skip(c).step_by(3).copied())
            .collect();
        drop(rgb);
        host.check_cancelled()?;

        let progress = |done: usize, total: usize| {
            let msg = format!("{} tile {done}/{total}", model.id());
            host.progress(0.05 + 0.9 * done as f32 / total as f32, msg.as_str().into());
        };
        host.progress(0.05, format!("{} inference", model.id()).as_str().into());
        let b = model.border();
        let (pw, ph) = (w + 2 * b, h + 2 * b);
        let padded = pad_reflect101_planar(&planar, (w, h), 3, b);
        drop(planar);
        let up = upscale_planar(host, model, &padded, (pw, ph), model.tile(), &progress)?;
        drop(padded);
        let s = model.scale();
        let mut up = crop_border_planar(&up, (pw * s, ph * s), 3, b * s);
        if model.scale() == 2 * f {
            // ×4 model for a ×2 result: the exact 2×2 area mean, no aliasing.
            up = halve_planar(&up, w * model.scale(), h * model.scale(), 3);
        } else if model.scale() != f {
            return Err(PluginError::plugin(format!(
                "model '{}' scales ×{}, cannot give ×{f}",
                model.id(),
                model.scale()
            )));
        }
        host.check_cancelled()?;

        host.progress(0.95, "alpha".into());
        // The model sees RGB only; alpha follows by bicubic interpolation (clamped: the cubic
        // overshoots at hard edges).
        let alpha_up = if opaque {
            vec![1.0; fw * fh]
        } else {
            let mut a = resize_packed(&alpha, (w, h), 1, (fw, fh), Filter::CatmullRom);
            // Weights sum to 1 only up to rounding: snap so that sure pixels stay exactly
            // opaque or transparent.
            a.iter_mut().for_each(|v| {
                *v = match clamp01(*v) {
                    v if v >= 1.0 - 1e-5 => 1.0,
                    v if v <= 1e-5 => 0.0,
                    v => v,
                }
            });
            a
        };
        let n = fw * fh;
        let mut out = Vec::with_capacity(4 * n);
        for (i, a) in alpha_up.iter().enumerate() {
            out.extend_from_slice(&[up[i], up[n + i], up[2 * n + i], *a]);
        }
        let buf = ImageBuf::from_rgba_f32(fw as u32, fh as u32, &out, PixelFormat::Rgba32F)?;
        host.progress(1.0, "done".into());
        Ok(buf)
    }
}

impl Operation for Upscale {
    fn descriptor(&self) -> OperationDescriptor {
        let models = self.models();
        let ids: Vec<&str> = models.iter().map(|m| m.id()).collect();
        let d = if self.factor == 4 {
            OperationDescriptor::new(
                "upscale-4x",
                "Upscale ×4",
                "Enhance",
                "Enlarges four times with a super-resolution model that restores detail; \
                 transparency is enlarged smoothly",
            )
            .param(ParamSpec::choice(
                "model",
                "Model",
                "realesr-general-x4v3: fast, for photos; realesrgan-x4plus: finest textures, \
                 about ten times slower",
                &ids,
                ids[0],
            ))
        } else {
            OperationDescriptor::new(
                "upscale-2x",
                "Upscale ×2",
                "Enhance",
                "Enlarges twice with a super-resolution model that restores detail; \
                 transparency is enlarged smoothly",
            )
            .param(ParamSpec::choice(
                "model",
                "Model",
                "swin2sr-x2: faithful (trained for fidelity), slow to load once; \
                 realesr-general-x4v3: sharper, run at ×4 and reduced to ×2",
                &ids,
                ids[0],
            ))
        };
        models
            .iter()
            .fold(d, |d, m| d.model(m.id()))
            .flags(flags::TILEABLE | flags::DETERMINISTIC)
            .working_format(PixelFormat::Rgba32F)
            .output_scale(self.factor)
    }

    fn option_titles(&self, param: RStr<'_>) -> RVec<RString> {
        match param.as_str() {
            "model" => self.models().iter().map(|m| m.title().into()).collect(),
            _ => RVec::new(),
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
    fn border_padding_mirrors_without_the_edge_and_crops_back() {
        assert_eq!(
            (-3..7).map(|i| reflect101(i, 4)).collect::<Vec<_>>(),
            [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
        );
        assert_eq!(reflect101(-5, 1), 0);
        // 3 × 2, two planes: pad by 2 (more than the height) and crop back.
        let src: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let padded = pad_reflect101_planar(&src, (3, 2), 2, 2);
        assert_eq!(padded.len(), 2 * 7 * 6);
        assert_eq!(&padded[2 * 7..3 * 7], &[2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0]);
        assert_eq!(
            &padded[0..7],
            &[2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0],
            "row -2 is row 0"
        );
        assert_eq!(
            &padded[7..14],
            &[5.0, 4.0, 3.0, 4.0, 5.0, 4.0, 3.0],
            "row -1 is row 1"
        );
        assert_eq!(crop_border_planar(&padded, (7, 6), 2, 2), src);
    }

    #[test]
    fn descriptors_declare_scale_flags_and_models() {
        for (op, id, scale, models) in [
            (
                Upscale::X4,
                "upscale-4x",
                4,
                ["realesr-general-x4v3", "realesrgan-x4plus"],
            ),
            (
                Upscale::X2,
                "upscale-2x",
                2,
                ["swin2sr-x2", "realesr-general-x4v3"],
            ),
        ] {
            let d = op.descriptor();
            assert_eq!(d.id.as_str(), id);
            assert_eq!(op.id(), id);
            assert_eq!(d.category.as_str(), "Enhance");
            assert_eq!(d.output_scale, scale);
            assert!(d.has_flag(flags::TILEABLE) && d.has_flag(flags::DETERMINISTIC));
            assert_eq!(d.working_format, PixelFormat::Rgba32F);
            let ids: Vec<&str> = d.models.iter().map(|m| m.as_str()).collect();
            assert_eq!(ids, models);
            assert_eq!(d.params.len(), 1);
            assert_eq!(
                d.params[0].default_value(),
                Some(ParamValue::choice(models[0]))
            );
        }
    }
}

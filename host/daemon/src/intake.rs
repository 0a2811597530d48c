//! Intake: everything between a request and the queue — parameters, the mask and its
//! modifiers, the crop, limits on what the output will be, conversion to the operation's
//! working format. A pure function of the request, its frame and the settings, so it is tested
//! without a socket.

use crate::jobs::{PostProcess, PreparedWork, SharedImage, WorkInput};
use easel_imaging::{self as imaging, tiling, ImageView, Mask, Rect};
use easel_ipc::{resolve_image, Frame, ImageBytes};
use easel_protocol::{
    params::resolve_params, ImageLayout, MaskUse, OpFlag, OperationInfo, ParamKind, ParamValue,
    PixelFormat, ProtocolError, ResolvedParam, Submit,
};

/// Default context margin around a mask's bounds, in pixels.
pub const DEFAULT_CONTEXT_MARGIN: u32 = 64;

/// The daemon settings intake depends on.
#[derive(Debug, Clone, Copy)]
pub struct IntakeSettings {
    pub max_pixels: u64,
    pub tile_size: u32,
    pub tile_overlap: u32,
}

fn image<'f>(
    r: &easel_protocol::ImageRef,
    frame: &'f Frame,
    s: &IntakeSettings,
    what: &str,
) -> Result<(ImageLayout, ImageBytes<'f>), ProtocolError> {
    resolve_image(r, frame, s.max_pixels, what)
}

fn view<'a>(
    layout: ImageLayout,
    bytes: &'a [u8],
    what: &str,
) -> Result<ImageView<'a>, ProtocolError> {
    ImageView::new(layout, bytes).map_err(|e| ProtocolError::invalid_image(format!("{what}: {e}")))
}

/// Checks a request against its operation and the limits, and prepares the job's input.
pub fn prepare(
    op: &OperationInfo,
    req: &Submit,
    frame: &Frame,
    settings: &IntakeSettings,
) -> Result<PreparedWork, ProtocolError> {
    let mut params = resolve_params(op, &req.params)?;
    let mut seed = 0;
    for p in params.iter_mut() {
        if let ParamValue::Seed(s) = &mut p.value {
            if *s == 0 {
                *s = random_seed();
            }
            seed = *s;
        }
    }
    if op.mask == MaskUse::Required && req.mask.is_none() {
        return Err(ProtocolError::invalid_input(format!(
            "operation '{}' needs a mask: select or paint the region to work on",
            op.id
        )));
    }
    let n_refs = req.references.len() as u32;
    if n_refs < op.min_references || n_refs > op.max_references {
        return Err(ProtocolError::invalid_input(format!(
            "operation '{}' takes {}..={} reference images, {} given",
            op.id, op.min_references, op.max_references, n_refs
        )));
    }
    if let Some(f) = req.result_format.filter(|f| f.is_mask()) {
        return Err(ProtocolError::bad_request(format!(
            "result_format: {f} is a mask format; results are rgba8, rgba16, rgba16f or rgba32f"
        )));
    }
    let (layout, bytes) = image(&req.image, frame, settings, "image")?;
    if layout.format.is_mask() {
        return Err(ProtocolError::invalid_image(format!(
            "the image is {}: send rgba8, rgba16, rgba16f or rgba32f (a mask goes in \"mask\")",
            layout.format
        )));
    }
    let result_format = req.result_format.unwrap_or(layout.format);
    let full_view = view(layout, &bytes, "image")?;

    // The mask decides the region the operation sees.
    let full = Rect {
        x: 0,
        y: 0,
        width: layout.width,
        height: layout.height,
    };
    let mut mask: Option<Mask> = None;
    let mut crop = full;
    if let Some(mref) = &req.mask {
        let (mlayout, mbytes) = image(mref, frame, settings, "mask")?;
        if (mlayout.width, mlayout.height) != (layout.width, layout.height) {
            return Err(ProtocolError::invalid_image(format!(
                "the mask is {}x{} but the image is {}x{}; they must match",
                mlayout.width, mlayout.height, layout.width, layout.height
            )));
        }
        let mut m = imaging::mask_from_view(&view(mlayout, &mbytes, "mask")?);
        imaging::apply_modifiers(&mut m, &req.mask_modifiers);
        let bounds = imaging::mask_bounds(&m, 0.0).ok_or_else(|| {
            ProtocolError::invalid_input("the mask is empty: nothing is selected")
        })?;
        crop = imaging::expand(
            bounds,
            req.context_margin.unwrap_or(DEFAULT_CONTEXT_MARGIN),
            layout.width,
            layout.height,
        );
        mask = Some(imaging::crop_mask(&m, crop));
    }
    // What the output will be is checked against the limits too (an upscale multiplies it).
    let scale = op.output_scale.max(1) as u64;
    let out_pixels = crop.width as u64 * scale * crop.height as u64 * scale;
    if out_pixels > settings.max_pixels {
        return Err(ProtocolError::too_large(format!(
            "'{}' would make a {}x{} result ({out_pixels} pixels), over the limit of {} pixels",
            op.id,
            crop.width as u64 * scale,
            crop.height as u64 * scale,
            settings.max_pixels
        )));
    }
    let crop_view = full_view
        .sub_view(crop)
        .ok_or_else(|| ProtocolError::internal("the crop lies outside the image"))?;
    let composite = op.has_flag(OpFlag::CompositeThroughMask);
    let send_mask = matches!(op.mask, MaskUse::Optional | MaskUse::Required);
    let tile = settings.tile_size.max(16);
    let (input, original) = if op.has_flag(OpFlag::Tileable)
        && tiling::needs_tiling(crop.width, crop.height, tile)
    {
        // Kept in the client's format: tiles are converted one at a time when the job runs.
        let source = imaging::convert(&crop_view, layout.format);
        let overlap = settings.tile_overlap;
        let tiles = tiling::plan(crop.width, crop.height, tile, overlap);
        (
            WorkInput::Tiled {
                source,
                tiles,
                band: overlap / 2,
                send_mask,
            },
            None,
        )
    } else {
        // Converted once, straight into the worker's shared memory; an owned copy is kept only
        // when the result is composited over it.
        let original =
            (composite && mask.is_some()).then(|| imaging::convert(&crop_view, op.working_format));
        let image = match &original {
            Some(working) => SharedImage::from_owned(working)?,
            None => SharedImage::from_view(&crop_view, op.working_format)?,
        };
        let mask_shared = match (&mask, send_mask) {
            (Some(m), true) => Some(SharedImage::from_owned(&m.to_image(PixelFormat::Gray32F))?),
            _ => None,
        };
        (
            WorkInput::Whole {
                image,
                mask: mask_shared,
            },
            original,
        )
    };
    let references = req
        .references
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let what = format!("reference image {i}");
            let (l, b) = image(r, frame, settings, &what)?;
            let v = view(l, &b, &what)?;
            let v = if op.has_flag(OpFlag::AlignedReferences) {
                if (l.width, l.height) != (layout.width, layout.height) {
                    return Err(ProtocolError::invalid_image(format!(
                        "{what} is {}x{} but the image is {}x{}; operation '{}' needs layers of the same size",
                        l.width, l.height, layout.width, layout.height, op.id
                    )));
                }
                v.sub_view(crop)
                    .ok_or_else(|| ProtocolError::internal("the crop lies outside the reference"))?
            } else {
                v
            };
            SharedImage::from_view(&v, op.working_format)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let name = req.name.clone().unwrap_or_else(|| layer_name(op, &params));
    Ok(PreparedWork {
        params,
        input,
        references,
        post: PostProcess {
            crop,
            original,
            mask,
            composite,
            working_format: op.working_format,
            result_format,
            output_scale: op.output_scale,
            name,
            seed,
        },
    })
}

/// "Remove background (u2netp)": the title, the model used (always: a result layer says which
/// model made it), and the other parameters that differ from their defaults.
pub fn layer_name(op: &OperationInfo, params: &[ResolvedParam]) -> String {
    let changed: Vec<String> = op
        .params
        .iter()
        .zip(params)
        .filter(|(spec, p)| {
            !matches!(spec.kind, ParamKind::Seed { .. } | ParamKind::Text { .. })
                && (spec.default_value() != p.value || spec.name == "model")
        })
        .map(|(spec, p)| match &p.value {
            ParamValue::Int(i) => format!("{} {i}", spec.name),
            ParamValue::Float(f) => format!("{} {}", spec.name, (f * 100.0).round() / 100.0),
            ParamValue::Bool(b) => format!("{} {}", spec.name, if *b { "on" } else { "off" }),
            ParamValue::Choice(c) => c.clone(),
            ParamValue::Seed(s) => format!("seed {s}"),
            ParamValue::Text(t) => t.clone(),
        })
        .collect();
    if changed.is_empty() {
        op.title.clone()
    } else {
        format!("{} ({})", op.title, changed.join(", "))
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_protocol::{Code, DataRef, ImageRef, OpFlag, ParamInfo};
    use serde_json::json;

    fn op(flags: Vec<OpFlag>, mask: MaskUse, scale: u32) -> OperationInfo {
        OperationInfo {
            id: "t".into(),
            title: "Test".into(),
            category: "Test".into(),
            description: String::new(),
            plugin: "p".into(),
            mask,
            min_references: 0,
            max_references: 0,
            flags,
            working_format: PixelFormat::Rgba32F,
            output_scale: scale,
            models: vec![],
            params: vec![ParamInfo {
                name: "radius".into(),
                title: "Radius".into(),
                description: String::new(),
                kind: ParamKind::Int {
                    min: 1,
                    max: 9,
                    default: 2,
                },
                applies_when: None,
            }],
        }
    }

    const SETTINGS: IntakeSettings = IntakeSettings {
        max_pixels: 1 << 20,
        tile_size: 512,
        tile_overlap: 32,
    };

    /// A request for a w×h rgba8 image (and optionally a gray8 mask after it) in the payload.
    fn request(w: u32, h: u32, mask: Option<Vec<u8>>) -> (Submit, Frame) {
        let img = ImageLayout::packed(w, h, PixelFormat::Rgba8);
        let mut payload = vec![200u8; img.required_len().unwrap()];
        let mask_ref = mask.map(|m| {
            let at = payload.len() as u64;
            payload.extend(m);
            ImageRef::new(
                &ImageLayout::packed(w, h, PixelFormat::Gray8),
                DataRef::Inline { inline: at },
            )
        });
        let mut req: Submit = serde_json::from_value(json!({
            "operation": "t",
            "image": ImageRef::new(&img, DataRef::Inline { inline: 0 }),
        }))
        .unwrap();
        req.mask = mask_ref;
        (
            req,
            Frame {
                json: Vec::new(),
                payload,
                fds: Vec::new(),
            },
        )
    }

    #[test]
    fn a_mask_crops_to_its_bounds_plus_the_margin() {
        let mut m = vec![0u8; 100 * 80];
        m[40 * 100 + 50] = 255;
        let (mut req, frame) = request(100, 80, Some(m));
        req.context_margin = Some(5);
        let work = prepare(&op(vec![], MaskUse::Optional, 1), &req, &frame, &SETTINGS).unwrap();
        assert_eq!(
            work.post.crop,
            Rect {
                x: 45,
                y: 35,
                width: 11,
                height: 11
            }
        );
        assert!(matches!(work.input, WorkInput::Whole { mask: Some(_), .. }));
        assert_eq!(work.params[0].value, ParamValue::Int(2));
        assert_eq!(work.post.name, "Test");
    }

    fn refused(op: &OperationInfo, req: &Submit, frame: &Frame) -> ProtocolError {
        match prepare(op, req, frame, &SETTINGS) {
            Ok(_) => panic!("the request was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn refusals_name_the_problem() {
        let (req, frame) = request(10, 10, Some(vec![0; 100]));
        let err = refused(&op(vec![], MaskUse::Optional, 1), &req, &frame);
        assert_eq!(err.code, Code::InvalidInput);
        assert!(err.message.contains("mask is empty"), "{err}");
        let (req, frame) = request(10, 10, None);
        let err = refused(&op(vec![], MaskUse::Required, 1), &req, &frame);
        assert!(err.message.contains("needs a mask"), "{err}");
        // 600×600 fits the limit, its ×4 upscale does not.
        let (req, frame) = request(600, 600, None);
        let err = refused(&op(vec![], MaskUse::Ignored, 4), &req, &frame);
        assert_eq!(err.code, Code::TooLarge);
        assert!(err.message.contains("2400x2400"), "{err}");
    }

    #[test]
    fn layer_names_say_the_model_and_what_changed() {
        let mut o = op(vec![], MaskUse::Ignored, 1);
        o.params.push(ParamInfo {
            name: "model".into(),
            title: "Model".into(),
            description: String::new(),
            kind: ParamKind::Choice {
                options: vec!["a".into(), "b".into()],
                option_titles: vec![],
                default: "a".into(),
            },
            applies_when: None,
        });
        let params = |radius, model: &str| {
            vec![
                ResolvedParam {
                    name: "radius".into(),
                    value: ParamValue::Int(radius),
                },
                ResolvedParam {
                    name: "model".into(),
                    value: ParamValue::Choice(model.into()),
                },
            ]
        };
        assert_eq!(layer_name(&o, &params(2, "a")), "Test (a)");
        assert_eq!(layer_name(&o, &params(5, "b")), "Test (radius 5, b)");
    }

    #[test]
    fn large_crops_of_tileable_operations_are_tiled() {
        let (req, frame) = request(600, 300, None);
        let work = prepare(
            &op(vec![OpFlag::Tileable], MaskUse::Ignored, 1),
            &req,
            &frame,
            &SETTINGS,
        )
        .unwrap();
        let WorkInput::Tiled { tiles, band, .. } = &work.input else {
            panic!("not tiled")
        };
        assert_eq!((tiles.len(), *band), (2, 16));
    }
}

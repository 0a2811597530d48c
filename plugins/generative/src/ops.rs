//! The three operations: descriptors, and the job → request → answer → result glue.

use crate::config::{self, Settings};
use crate::http;
use crate::picture::{self, Png};
use crate::provider::{self, GenRequest, Prior, Task};
use easel_sdk::prelude::*;
use easel_sdk::PluginResult;
use image::RgbaImage;

/// Character, object or style references an operation takes (the prior turn comes on top).
pub const MAX_REFERENCES: u32 = 8;
/// Longest prompt accepted.
pub const MAX_PROMPT: u32 = 4000;
/// Longest conversation (earlier prompts, one per line).
pub const MAX_CONVERSATION: u32 = 16000;
/// Largest image accepted back from a service.
const MAX_ANSWER_PIXELS: u64 = 64 << 20;

/// One operation, by task.
pub struct Generative(pub Task);

pub fn operation_id(task: Task) -> &'static str {
    match task {
        Task::Edit => "generative-edit",
        Task::Fill => "generative-fill",
        Task::Restyle => "generative-restyle",
    }
}

impl Operation for Generative {
    fn descriptor(&self) -> OperationDescriptor {
        let (title, description, mask, min_refs) = match self.0 {
            Task::Edit => (
                "Edit selection from a prompt",
                "Sends the selection, its surroundings and any reference images to the \
                 configured image-generation service with your prompt, and puts the answer back \
                 through the selection",
                MaskUse::Optional,
                0,
            ),
            Task::Fill => (
                "Generate into selection",
                "Asks the configured image-generation service to paint new content from your \
                 prompt into the selection, matching its surroundings",
                MaskUse::Required,
                0,
            ),
            Task::Restyle => (
                "Restyle with references",
                "Redraws the selection in the style of the reference images through the \
                 configured image-generation service",
                MaskUse::Optional,
                1,
            ),
        };
        let mut d =
            OperationDescriptor::new(operation_id(self.0), title, "Generative", description);
        d = d
            .param(ParamSpec::text(
                "prompt",
                "Prompt",
                "What to make: the instruction sent to the service with the image",
                "",
                MAX_PROMPT,
                true,
            ))
            .param(ParamSpec::text(
                "conversation",
                "Earlier turns",
                "For a follow-up: the earlier prompts, one per line, oldest first; the first \
                 reference image is then the last turn's result",
                "",
                MAX_CONVERSATION,
                true,
            ));
        d.param(ParamSpec::seed(
            "seed",
            "Seed",
            "Sent to services that take one (Gemini); the same seed and inputs give similar results",
        ))
        .mask(mask)
        .references(min_refs, MAX_REFERENCES + 1)
        .flags(flags::COMPOSITE_THROUGH_MASK)
        .working_format(PixelFormat::Rgba8)
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        let result = config::load_from_process().and_then(|settings| {
            run_with(self.0, job, host, &settings)
                .map_err(|e| PluginError::new(e.kind, settings.api_key.redact(&e.message)))
        });
        result.into()
    }
}

fn encode_fit(img: &RgbaImage, max_side: u32) -> PluginResult<Png> {
    let (w, h) = picture::fit_within(img.width(), img.height(), max_side);
    picture::encode_png(&picture::resize(img, w, h))
}

/// The earlier prompts named in `conversation`, oldest first.
pub fn earlier_prompts(conversation: &str) -> Vec<String> {
    conversation
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Builds the provider-neutral request from a job (no I/O).
pub fn build_request(
    task: Task,
    job: &Job<'_>,
    settings: &Settings,
) -> PluginResult<(GenRequest, (u32, u32))> {
    let params = job.params();
    let prompt = params.text("prompt")?.trim().to_string();
    if prompt.is_empty() {
        return Err(PluginError::invalid_input(
            "the prompt is empty: write what the service should make",
        ));
    }
    let earlier = earlier_prompts(params.text("conversation")?);
    let image = picture::to_rgba8(&job.image)?;
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(PluginError::invalid_input("the image is empty"));
    }
    let (sw, sh) = picture::fit_within(w, h, settings.max_input_side);
    let sent = picture::resize(&image, sw, sh);
    let blank = image.pixels().all(|p| p.0[3] == 0);

    let (mask_white, mask_alpha) = match job.mask() {
        None => (None, None),
        Some(mask) => {
            if (mask.width(), mask.height()) != (w, h) {
                return Err(PluginError::invalid_input(format!(
                    "the mask is {}x{}, the image {w}x{h}",
                    mask.width(),
                    mask.height()
                )));
            }
            let coverage = mask.to_coverage_f32();
            if coverage.iter().all(|&c| c <= 0.0) {
                return Err(PluginError::invalid_input(
                    "the selection is empty: select where the service should work first",
                ));
            }
            let white = picture::resize(&picture::mask_as_white(&coverage, w, h)?, sw, sh);
            let small: Vec<f32> = white.pixels().map(|p| p.0[0] as f32 / 255.0).collect();
            let alpha = picture::mask_as_alpha(&small, sw, sh)?;
            (
                Some(picture::encode_png(&white)?),
                Some(picture::encode_png(&alpha)?),
            )
        }
    };
    if task == Task::Fill && mask_white.is_none() {
        return Err(PluginError::invalid_input(
            "generate into selection needs a selection: select where to generate first",
        ));
    }

    let mut refs = job.references.as_slice().iter();
    let prior = if earlier.is_empty() {
        None
    } else {
        let view = refs.next().ok_or_else(|| {
            PluginError::invalid_input(
                "a follow-up (earlier turns given) needs the last turn's result as the first \
                 reference image",
            )
        })?;
        let img = picture::to_rgba8(view)?;
        Some(Prior {
            prompts: earlier,
            image: picture::encode_png(&picture::resize(&img, sw, sh))?,
        })
    };
    let references = refs
        .map(|v| encode_fit(&picture::to_rgba8(v)?, settings.max_input_side))
        .collect::<PluginResult<Vec<_>>>()?;
    if task == Task::Restyle && references.is_empty() {
        return Err(PluginError::invalid_input(
            "restyle needs at least one style reference image (besides the last turn's result)",
        ));
    }
    let seed = params.seed("seed")?;
    Ok((
        GenRequest {
            task,
            prompt,
            image: picture::encode_png(&sent)?,
            mask_white,
            mask_alpha,
            references,
            prior,
            seed: Some(seed),
            blank,
        },
        (w, h),
    ))
}

/// What to tell the user when the answer had to be resized to the crop.
pub fn resize_note(got: (u32, u32), want: (u32, u32)) -> Option<String> {
    if got == want {
        return None;
    }
    let (gw, gh) = got;
    let (ww, wh) = want;
    let stretched = ((gw as f64 / gh as f64) / (ww as f64 / wh as f64) - 1.0).abs() > 0.02;
    let stretch = if stretched {
        " (its proportions differed, so it was stretched)"
    } else {
        ""
    };
    if gw < ww || gh < wh {
        Some(format!(
            "the service returned {gw}x{gh}, enlarged to {ww}x{wh} to fill the selection{stretch}; \
             for more detail run Upscale ×2 or ×4 (Enhance) on a smaller selection's result, or \
             generate a smaller selection"
        ))
    } else {
        Some(format!(
            "the service returned {gw}x{gh}, scaled to {ww}x{wh}{stretch}"
        ))
    }
}

/// Runs one job against the configured provider.
pub fn run_with(
    task: Task,
    job: &Job<'_>,
    host: &Host<'_>,
    settings: &Settings,
) -> PluginResult<ImageBuf> {
    let (request, (w, h)) = build_request(task, job, settings)?;
    let provider = provider::from_settings(settings);
    let http_request = provider.prepare(&request)?;
    let service = provider.title();
    let kb = http_request.body.len() / 1024;
    host.log(
        LogLevel::Info,
        format!(
            "{}: sending {kb} KB ({} reference image(s){}) to {}",
            operation_id(task),
            request.references.len(),
            if request.prior.is_some() {
                ", the last turn's result"
            } else {
                ""
            },
            settings.base_url
        )
        .as_str()
        .into(),
    );
    host.check_cancelled()?;
    host.progress(
        0.05,
        format!("sending {kb} KB to {service}").as_str().into(),
    );
    let answer = http::send(
        http_request,
        settings.timeout,
        http::MAX_ANSWER_BYTES,
        service,
        provider.secret(),
        &|| host.is_cancelled(),
        &|secs| {
            let fraction = 0.1 + 0.8 * (secs / settings.timeout.as_secs_f64()).min(1.0);
            host.progress(
                fraction as f32,
                format!("waiting for {service} ({secs:.0} s)")
                    .as_str()
                    .into(),
            );
        },
    )?;
    let bytes = provider.parse(answer.status, &answer.body)?;
    let image = picture::decode(&bytes, MAX_ANSWER_PIXELS, service)?;
    let got = image.dimensions();
    let image = picture::resize(&image, w, h);
    match resize_note(got, (w, h)) {
        Some(note) => {
            host.log(LogLevel::Info, note.as_str().into());
            host.progress(1.0, note.as_str().into());
        }
        None => host.progress(1.0, "done".into()),
    }
    ImageBuf::from_bytes(w, h, PixelFormat::Rgba8, image.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_declare_the_contract() {
        for task in [Task::Edit, Task::Fill, Task::Restyle] {
            let d = Generative(task).descriptor();
            assert_eq!(d.id, operation_id(task));
            assert_eq!(d.category, "Generative");
            assert!(d.has_flag(flags::COMPOSITE_THROUGH_MASK));
            assert!(!d.has_flag(flags::DETERMINISTIC));
            assert!(!d.has_flag(flags::TILEABLE));
            assert_eq!(d.max_references, MAX_REFERENCES + 1);
            for name in ["prompt", "conversation", "seed"] {
                assert!(d.params.iter().any(|p| p.name == name), "{name}");
            }
        }
        assert_eq!(Generative(Task::Fill).descriptor().mask, MaskUse::Required);
        assert_eq!(Generative(Task::Restyle).descriptor().min_references, 1);
    }

    #[test]
    fn conversations_and_resize_notes() {
        assert_eq!(
            earlier_prompts("a knight\n\n  on a horse \n"),
            ["a knight", "on a horse"]
        );
        assert!(earlier_prompts(" \n").is_empty());
        assert_eq!(resize_note((64, 64), (64, 64)), None);
        let note = resize_note((512, 512), (1024, 1024)).unwrap();
        assert!(
            note.contains("Upscale") && note.contains("512x512"),
            "{note}"
        );
        assert!(!note.contains("stretched"));
        let note = resize_note((1024, 1024), (300, 100)).unwrap();
        assert!(
            note.contains("stretched") && !note.contains("Upscale"),
            "{note}"
        );
    }
}

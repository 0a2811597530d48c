//! `easel run`: one image or a folder of them through an operation. By default the file written
//! is the whole edited image — the result composited onto the input, as an editor shows it;
//! `--layer` writes the result layer alone and reports its offset.

use crate::{connect, error::CliError, Cli};
use easel_client::{Client, JobResult, Operations, SharedInput, SubmitOptions};
use easel_imaging::{self as imaging, DecodeLimits, FileFormat, OwnedImage, PixelFormat};
use easel_protocol::{MaskModifiers, MaskUse, ParamKind, PluginStatus, Priority};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

/// Extensions `easel run` reads (and batch runs pick up from a folder).
const READABLE: &[&str] = &["png", "jpg", "jpeg", "webp", "tif", "tiff"];

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    operation: String,
    /// Input image (PNG, JPEG, WebP, TIFF), or a folder of images (batch).
    #[arg(short, long)]
    input: PathBuf,
    /// Output file (its extension picks PNG, JPEG, WebP or TIFF), or a folder for batch runs.
    #[arg(short, long)]
    output: PathBuf,
    /// Mask image (white = selected).
    #[arg(long)]
    mask: Option<PathBuf>,
    /// Reference images, for operations that take them.
    #[arg(long = "ref")]
    references: Vec<PathBuf>,
    /// Parameters, as name=value (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Grow (or, negative, shrink) the mask by this many pixels.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    grow: i32,
    /// Feather the mask by this many pixels.
    #[arg(long, default_value_t = 0.0)]
    feather: f32,
    /// Invert the mask.
    #[arg(long)]
    invert: bool,
    /// Context around the mask, in pixels.
    #[arg(long)]
    margin: Option<u32>,
    /// Write the result layer alone (the edited region), not the whole edited image.
    #[arg(long)]
    layer: bool,
    /// For folders: the format of the files written (png, jpg, webp, tiff).
    #[arg(long, default_value = "png")]
    format: String,
}

pub fn run(cli: &Cli, args: &RunArgs) -> Result<(), CliError> {
    let mut options = SubmitOptions {
        params: parse_params(&args.params)?,
        mask_modifiers: MaskModifiers {
            grow: args.grow,
            feather: args.feather,
            invert: args.invert,
        },
        context_margin: args.margin,
        ..SubmitOptions::default()
    };
    let mut c = connect(cli)?;
    let limits = DecodeLimits {
        max_pixels: c.hello.limits.max_pixels,
    };
    let refs = args
        .references
        .iter()
        .map(|p| {
            let img =
                imaging::decode_file(p, &limits).map_err(|e| CliError::Other(e.to_string()))?;
            SharedInput::new(&img).map_err(CliError::from_client)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut job = Job {
        c: &mut c,
        operation: &args.operation,
        mask: args.mask.as_deref(),
        refs: &refs,
        limits,
        layer: args.layer,
        json: cli.json,
    };
    if args.input.is_dir() {
        options.priority = Priority::Batch;
        let ext = match FileFormat::from_path(Path::new(&format!("x.{}", args.format))) {
            Some(_) => args.format.clone(),
            None => {
                return Err(CliError::Usage(format!(
                    "--format {}: expected png, jpg, webp or tiff",
                    args.format
                )))
            }
        };
        run_batch(&mut job, &args.input, &args.output, &ext, &options)
    } else {
        let format = FileFormat::from_path(&args.output).ok_or_else(|| {
            CliError::Usage(format!(
                "-o {}: the extension must be .png, .jpg, .webp or .tiff",
                args.output.display()
            ))
        })?;
        let report = job.one(&args.input, &args.output, format, &options, true)?;
        if cli.json {
            println!("{report}");
        }
        Ok(())
    }
}

struct Job<'a> {
    c: &'a mut Client,
    operation: &'a str,
    mask: Option<&'a Path>,
    refs: &'a [SharedInput],
    limits: DecodeLimits,
    layer: bool,
    json: bool,
}

impl Job<'_> {
    /// Runs one file; returns what was written, as JSON.
    fn one(
        &mut self,
        input: &Path,
        output: &Path,
        format: FileFormat,
        options: &SubmitOptions,
        show_progress: bool,
    ) -> Result<Value, CliError> {
        let other = |e: imaging::ImagingError| CliError::Other(e.to_string());
        let (image, icc) = imaging::decode_file_with_profile(input, &self.limits).map_err(other)?;
        let shared = SharedInput::new(&image).map_err(CliError::from_client)?;
        let mask_shared = match self.mask {
            Some(m) => {
                let m = imaging::decode_mask_file(m, &self.limits).map_err(other)?;
                Some(
                    SharedInput::new(&m.to_image(PixelFormat::Gray32F))
                        .map_err(CliError::from_client)?,
                )
            }
            None => None,
        };
        let ref_list: Vec<&SharedInput> = self.refs.iter().collect();
        let job = self
            .c
            .submit_with(
                self.operation,
                &shared,
                mask_shared.as_ref(),
                &ref_list,
                options.clone(),
            )
            .map_err(CliError::from_client)?;
        let bar = if show_progress && !self.json {
            ProgressBar::new(1000)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:20} [{bar:30}] {percent:>3}% {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        let result = self.c.wait(job, |f, m| {
            bar.set_position((f * 1000.0) as u64);
            bar.set_message(m.to_string());
        });
        bar.finish_and_clear();
        let result = result.map_err(CliError::from_client)?;
        let out = if self.layer {
            result.image.clone()
        } else {
            whole_image(&result, &image)
        };
        let out = if format.has_alpha() {
            out
        } else {
            flatten_on_white(&out)
        };
        imaging::encode_file(&out, output, format, icc.as_deref()).map_err(other)?;
        if !self.json {
            eprintln!(
                "{}: {}x{} at ({}, {}) -> {} ({}x{})",
                result.name,
                result.image.width,
                result.image.height,
                result.x,
                result.y,
                output.display(),
                out.width,
                out.height
            );
        }
        // x, y, width, height: the region the operation changed (the result layer); the file
        // holds `written_width` × `written_height` (the whole image unless --layer).
        Ok(json!({
            "input": input, "output": output, "operation": self.operation,
            "name": result.name, "layer": self.layer,
            "x": result.x, "y": result.y,
            "width": result.image.width, "height": result.image.height,
            "written_width": out.width, "written_height": out.height,
            "scale": result.message.scale, "seed": result.message.seed,
            "elapsed_ms": result.message.elapsed_ms,
        }))
    }
}

/// The edited image: the result layer over the input at its offset (over a transparent canvas
/// of the output size when the operation changes the size and covers only part of it).
fn whole_image(result: &JobResult, input: &OwnedImage) -> OwnedImage {
    let scale = u64::from(result.message.scale.max(1));
    let (cw, ch) = (input.width as u64 * scale, input.height as u64 * scale);
    let img = &result.image;
    if (img.width as u64, img.height as u64) == (cw, ch)
        || result.x + img.width as u64 > cw
        || result.y + img.height as u64 > ch
    {
        return img.clone();
    }
    let base = if scale == 1 {
        imaging::convert(&input.view(), PixelFormat::Rgba32F)
    } else {
        OwnedImage::new(cw as u32, ch as u32, PixelFormat::Rgba32F)
    };
    let layer = imaging::convert(&img.view(), PixelFormat::Rgba32F);
    let mut out = base;
    let f = |b: &[u8], i: usize| f32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    for y in 0..img.height as usize {
        for x in 0..img.width as usize {
            let s = (y * img.width as usize + x) * 16;
            let d = ((result.y as usize + y) * cw as usize + result.x as usize + x) * 16;
            let sa = f(&layer.data, s + 12);
            let da = f(&out.data, d + 12);
            let oa = sa + da * (1.0 - sa);
            for c in 0..4 {
                let v = if c == 3 {
                    oa
                } else if oa > 0.0 {
                    (f(&layer.data, s + c * 4) * sa + f(&out.data, d + c * 4) * da * (1.0 - sa))
                        / oa
                } else {
                    0.0
                };
                out.data[d + c * 4..d + c * 4 + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
    imaging::convert(&out.view(), img.format)
}

/// For formats without alpha: the image over white.
fn flatten_on_white(image: &OwnedImage) -> OwnedImage {
    let mut f = imaging::convert(&image.view(), PixelFormat::Rgba32F);
    for px in f.data.chunks_exact_mut(16) {
        let a = f32::from_ne_bytes([px[12], px[13], px[14], px[15]]).clamp(0.0, 1.0);
        for c in 0..3 {
            let v = f32::from_ne_bytes([px[c * 4], px[c * 4 + 1], px[c * 4 + 2], px[c * 4 + 3]]);
            px[c * 4..c * 4 + 4].copy_from_slice(&(v * a + (1.0 - a)).to_ne_bytes());
        }
        px[12..16].copy_from_slice(&1.0f32.to_ne_bytes());
    }
    imaging::convert(&f.view(), image.format)
}

fn run_batch(
    job: &mut Job<'_>,
    input: &Path,
    output: &Path,
    ext: &str,
    options: &SubmitOptions,
) -> Result<(), CliError> {
    std::fs::create_dir_all(output)
        .map_err(|e| CliError::Other(format!("cannot create {}: {e}", output.display())))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .map_err(|e| CliError::Other(format!("cannot read {}: {e}", input.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| READABLE.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    let format = FileFormat::from_path(Path::new(&format!("x.{ext}"))).unwrap_or(FileFormat::Png);
    let bar = if job.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(files.len() as u64)
    };
    let mut failures = 0;
    let mut last_error = None;
    for f in &files {
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        let out = output.join(format!("{name}.{ext}"));
        bar.set_message(name.to_string());
        match job.one(f, &out, format, options, false) {
            Ok(report) if job.json => println!("{report}"),
            Ok(_) => {}
            Err(e) => {
                if job.json {
                    println!(
                        "{}",
                        json!({"input": f, "error": e.to_string(), "kind": e.kind()})
                    );
                } else {
                    bar.println(format!("{}: {e}", f.display()));
                }
                failures += 1;
                last_error = Some(e);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !job.json {
        eprintln!("{} of {} images done", files.len() - failures, files.len());
    }
    match last_error {
        Some(e) if failures == files.len() => Err(e),
        Some(_) => Err(CliError::JobFailed(format!(
            "{failures} of {} images failed",
            files.len()
        ))),
        None => Ok(()),
    }
}

fn parse_params(params: &[String]) -> Result<BTreeMap<String, Value>, CliError> {
    let mut map = BTreeMap::new();
    for p in params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--set {p}: expected NAME=VALUE")))?;
        let value = serde_json::from_str::<Value>(v)
            .ok()
            .filter(|v| !v.is_string() && !v.is_object() && !v.is_array())
            .unwrap_or_else(|| json!(v));
        map.insert(k.to_string(), value);
    }
    Ok(map)
}

pub fn print_operations(ops: &Operations) {
    for op in &ops.operations {
        println!("{}  —  {} [{}]", op.id, op.title, op.category);
        if !op.description.is_empty() {
            println!("    {}", op.description);
        }
        match op.mask {
            MaskUse::Ignored => {}
            MaskUse::Optional => println!("    mask: optional"),
            MaskUse::Required => println!("    mask: required"),
        }
        for p in &op.params {
            let (range, default) = match &p.kind {
                ParamKind::Int { min, max, default } => {
                    (format!("{min}..{max}"), default.to_string())
                }
                ParamKind::Float {
                    min, max, default, ..
                } => (format!("{min}..{max}"), default.to_string()),
                ParamKind::Bool { default } => ("true | false".into(), default.to_string()),
                ParamKind::Choice {
                    options, default, ..
                } => (options.join(" | "), default.clone()),
                ParamKind::Seed { default } => ("seed".into(), default.to_string()),
                ParamKind::Text {
                    default, max_len, ..
                } => (
                    format!("text, at most {max_len} characters"),
                    format!("{default:?}"),
                ),
            };
            println!(
                "    --set {}=…  {} ({range}; default {default})",
                p.name, p.title
            );
        }
    }
    for p in &ops.plugins {
        if let PluginStatus::Refused { path, reason } = p {
            println!("refused plugin {path}: {reason}");
        }
    }
}

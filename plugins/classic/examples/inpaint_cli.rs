//! Command-line front end to the plugin's PatchMatch inpainting, for benches/inpaint_quality.py:
//! reads an image PNG and a mask PNG (any non-zero mask value is hole), fills the hole, writes
//! a PNG and prints the time the fill itself took.
//!
//! ```text
//! inpaint_cli IMAGE MASK OUT [--patch-size N] [--seed S] [--threads T]
//!             [--coarsest-iterations N] [--middle-iterations N] [--finest-iterations N]
//!             [--passes N] [--coarsest-hole-radii X] [--confidence-base X]
//!             [--fine-search-radius N] [--verbose]
//! ```

use easel_plugin_classic::control::Control;
use easel_plugin_classic::inpaint::{inpaint_rgba, InpaintOptions, HOLE_THRESHOLD};
use std::process::ExitCode;
use std::time::Instant;

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut opts = InpaintOptions::default();
    let mut verbose = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--verbose" {
            verbose = true;
            i += 1;
        } else if let Some(flag) = a.strip_prefix("--") {
            let value = args.get(i + 1).ok_or(format!("--{flag} needs a value"))?;
            let int = || {
                value
                    .parse::<usize>()
                    .map_err(|e| format!("--{flag} {value}: {e}"))
            };
            match flag {
                "patch-size" => opts.patch_size = int()?,
                "seed" => opts.seed = value.parse().map_err(|e| format!("--seed {value}: {e}"))?,
                "threads" => opts.threads = int()?,
                "coarsest-iterations" => opts.coarsest_iterations = int()?,
                "middle-iterations" => opts.middle_iterations = int()?,
                "finest-iterations" => opts.finest_iterations = int()?,
                "passes" => opts.passes = int()?,
                "fine-search-radius" => opts.fine_search_radius = int()?,
                "confidence-base" => {
                    opts.confidence_base = value
                        .parse()
                        .map_err(|e| format!("--{flag} {value}: {e}"))?
                }
                "coarsest-hole-radii" => {
                    opts.coarsest_hole_radii = value
                        .parse()
                        .map_err(|e| format!("--{flag} {value}: {e}"))?
                }
                _ => return Err(format!("unknown option --{flag}")),
            }
            i += 2;
        } else {
            positional.push(a.clone());
            i += 1;
        }
    }
    let [image_path, mask_path, out_path] = positional.as_slice() else {
        return Err("usage: inpaint_cli IMAGE MASK OUT [--patch-size N] [--seed S] ...".into());
    };
    let img = image::open(image_path)
        .map_err(|e| format!("{image_path}: {e}"))?
        .to_rgba32f();
    let mask = image::open(mask_path)
        .map_err(|e| format!("{mask_path}: {e}"))?
        .to_luma32f();
    let (w, h) = img.dimensions();
    if mask.dimensions() != (w, h) {
        return Err(format!(
            "mask is {:?}, image {:?}",
            mask.dimensions(),
            (w, h)
        ));
    }
    let hole: Vec<bool> = mask.as_raw().iter().map(|&c| c > HOLE_THRESHOLD).collect();
    let start = Instant::now();
    let mut ctl = Report { verbose, start };
    let out = inpaint_rgba(img.as_raw(), w as usize, h as usize, &hole, &opts, &mut ctl)
        .map_err(|_| "cancelled".to_string())?;
    let elapsed = start.elapsed();
    let bytes: Vec<u8> = out
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
        .collect();
    let buf = image::RgbaImage::from_raw(w, h, bytes).ok_or("output buffer has the wrong size")?;
    buf.save(out_path).map_err(|e| format!("{out_path}: {e}"))?;
    println!("elapsed_ms={:.1}", elapsed.as_secs_f64() * 1000.0);
    Ok(())
}

/// Prints each progress step with the time since the start when `--verbose`.
struct Report {
    verbose: bool,
    start: Instant,
}

impl Control for Report {
    fn progress(&mut self, fraction: f32, message: &str) {
        if self.verbose {
            let ms = self.start.elapsed().as_secs_f64() * 1000.0;
            eprintln!("{ms:8.1} ms {:5.1}% {message}", fraction * 100.0);
        }
    }
    fn cancelled(&mut self) -> bool {
        false
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inpaint_cli: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Where remove-background's time goes: every step the daemon and the plugin take for one job,
//! timed in one process on the benchmark photo (the daemon's IPC and worker hop left out), with
//! the model resident and warm. Medians over the runs, of wall time and of this process's CPU
//! time (all threads, ORT's included), which background load inflates less than wall time.
//!
//!     cargo run --release -p easel-benches --example remove_background_profile -- \
//!         [MODEL] [RUNS] [PHOTO]
//!
//! MODEL: isnet-general-small (default) or u2netp; EASEL_BENCH_THREADS sets ORT's intra-op
//! threads (default 2).

use easel_benches::{models_dir, photo_path};
use easel_imaging::PixelFormat;
use easel_imaging::{self as imaging, DecodeLimits, OwnedImage};
use easel_models::{ModelStore, ModelStoreConfig};
use easel_pixels::{resize_packed, Filter};
use easel_plugin_remove_background::{foreground, segmodel::SegModel};
use easel_sdk::{ImageBuf, PixelFormat as SdkFormat};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The worker's allocator settings (host/worker serve.rs `keep_freed_heap`): without them
    // every run with ORT's arena off maps and faults in its activations again, and inference
    // here measured 206 ms against 135 ms with the arena on, for u2netp, a gap the worker does
    // not have.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model_id = args
        .first()
        .map(String::as_str)
        .unwrap_or("isnet-general-small");
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(7);
    let photo = args
        .get(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| photo_path("girl-1.jpg"));
    let threads: usize = std::env::var("EASEL_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let model = SegModel::from_id(model_id).ok_or(format!("unknown model {model_id}"))?;
    let store = ModelStore::new(ModelStoreConfig {
        folders: vec![models_dir()],
        intra_threads: threads,
        ..Default::default()
    })?;
    let out_dir = std::env::temp_dir().join(format!("easel-rb-profile-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir)?;
    let out_png = out_dir.join("cutout.png");

    // Per step: name, wall ms, CPU ms.
    type Step = (&'static str, Vec<f64>, Vec<f64>);
    let mut steps: Vec<Step> = Vec::new();
    let mut record = |i: usize, name: &'static str, t: (Instant, f64)| {
        let ms = t.0.elapsed().as_secs_f64() * 1e3;
        let cpu = process_cpu_ms() - t.1;
        if steps.len() <= i {
            steps.push((name, Vec::new(), Vec::new()));
        }
        steps[i].1.push(ms);
        steps[i].2.push(cpu);
    };
    let now = || (Instant::now(), process_cpu_ms());
    // Run 0 loads the model and is not kept.
    for run in 0..=runs {
        let mut k = 0;
        let mut step = |name, t| {
            if run > 0 {
                record(k, name, t);
            }
            k += 1;
        };
        let t = now();
        let image = imaging::decode_file(&photo, &DecodeLimits::default())?;
        step("decode JPEG (Rust, CLI only)", t);
        let (w, h) = (image.width as usize, image.height as usize);

        let t = now();
        let working = imaging::convert(&image.view(), PixelFormat::Rgba32F);
        step("host: rgba8 -> rgba32f", t);

        let t = now();
        let sdk_view = easel_sdk::ImageView::new(
            easel_sdk::ImageLayout::packed(w as u32, h as u32, SdkFormat::Rgba32F),
            &working.data,
        )?;
        let rgba = sdk_view.to_rgba_f32();
        let rgb: Vec<f32> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        step("plugin: to_rgba_f32 + rgb", t);

        let t = now();
        let input = model.input_tensor(&rgb, w, h);
        step("plugin: resize + normalise (input_tensor)", t);
        if let Some(path) = std::env::var_os("EASEL_DUMP_INPUT") {
            // The exact tensor the model gets, as raw little-endian f32, for comparisons.
            let bytes: Vec<u8> = input.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(path, bytes)?;
        }

        let t = now();
        let outputs = store.run(model.id(), vec![input], &[model.output_name().to_string()])?;
        step("host: ModelStore::run (inference)", t);

        let t = now();
        let small = model.mask_from_output(&outputs[0])?;
        let (mw, mh) = model.input_size();
        let mut mask = resize_packed(&small, (mw, mh), 1, (w, h), Filter::Bilinear);
        for m in &mut mask {
            *m = match *m {
                v if v >= 1.0 - 1e-5 => 1.0,
                v if v <= 1e-5 => 0.0,
                v => v,
            };
        }
        step("plugin: mask from output + resize back", t);

        let t = now();
        let colour = foreground::estimate_foreground(&rgb, &mask, w, h);
        step("plugin: estimate_foreground (refine)", t);

        let t = now();
        let result: Vec<f32> = rgba
            .chunks_exact(4)
            .zip(colour.chunks_exact(3))
            .zip(&mask)
            .flat_map(|((p, f), &m)| [f[0], f[1], f[2], m * p[3]])
            .collect();
        let buf = ImageBuf::from_rgba_f32(w as u32, h as u32, &result, SdkFormat::Rgba32F)?;
        step("plugin: cutout assembly + ImageBuf", t);

        let t = now();
        // The worker hands the daemon the plugin's packed buffer as it is.
        let back = OwnedImage {
            width: buf.width(),
            height: buf.height(),
            format: PixelFormat::Rgba32F,
            data: buf.as_bytes().to_vec(),
        };
        let out8 = imaging::convert(&back.view(), PixelFormat::Rgba8);
        step("host: result -> rgba32f -> rgba8", t);

        let t = now();
        imaging::encode_png(&out8, &out_png)?;
        step("encode PNG (Rust, CLI only)", t);
        black_box(OwnedImage::check(&out8)?);
    }
    let _ = std::fs::remove_dir_all(&out_dir);

    println!(
        "{} on {} ({}), {threads} ORT threads, medians of {runs} runs:",
        model.id(),
        photo.display(),
        {
            let i = imaging::decode_file(&photo, &DecodeLimits::default())?;
            format!("{}x{}", i.width, i.height)
        }
    );
    println!(
        "  {:44} {:>9} {:>9} {:>9}",
        "step", "wall ms", "min ms", "CPU ms"
    );
    let (mut total, mut total_cpu) = (0.0, 0.0);
    for (name, mut wall, mut cpu) in steps {
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let (med, med_cpu) = (wall[wall.len() / 2], cpu[cpu.len() / 2]);
        total += med;
        total_cpu += med_cpu;
        println!("  {name:44} {med:9.2} {:9.2} {med_cpu:9.2}", wall[0]);
    }
    println!(
        "  {:44} {total:9.2} {:>9} {total_cpu:9.2}",
        "sum of medians", ""
    );
    Ok(())
}

/// CPU time of every thread of this process so far, in ms.
fn process_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant of this platform.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

//! How colorize-scribbles' solve grows with the image: a fixture photo greyed and resized to each
//! size, scribbled as `benches/overhead.py` does (3×3 dots of the photo's colour every 1/12 of
//! the longer side), solved once per size; prints time, PCG iterations, levels and the chroma
//! error against the photo's own colours.
//!
//! With `--check` each size is solved again to a relative residual of 10⁻⁸, and the 8-bit
//! output compared: the largest difference in levels and the share of pixels that differ.
//!
//!     cargo run --release -p easel-plugin-classic --example colorize_scaling -- [--check] [PHOTO] [MP,...]

use easel_plugin_classic::color::rgb_to_yuv;
use easel_plugin_classic::colorize::{colorize, colorize_to};
use easel_plugin_classic::control::Unattended;

fn to_8bit(v: &[f32]) -> Vec<u8> {
    v.iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let mut args = std::env::args().skip(1).filter(|a| a != "--check");
    let name = args.next().unwrap_or_else(|| "girl-1.jpg".into());
    let sizes: Vec<f64> = args
        .next()
        .unwrap_or_else(|| "0.25,1,4".into())
        .split(',')
        .map(|s| s.parse().expect("sizes are megapixels, e.g. 1,4"))
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/photos")
        .join(&name);
    let photo = image::open(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .to_rgba8();
    let (w0, h0) = photo.dimensions();
    let src: Vec<f32> = photo.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
    println!("photo     size        ms   ms/MP  iter U+V  levels  mean |dU|+|dV|");
    for mp in sizes {
        let scale = (mp * 1e6 / (w0 as f64 * h0 as f64)).sqrt();
        let (w, h) = (
            (w0 as f64 * scale).round() as usize,
            (h0 as f64 * scale).round() as usize,
        );
        let rgba = easel_pixels::resize_packed(
            &src,
            (w0 as usize, h0 as usize),
            4,
            (w, h),
            easel_pixels::Filter::Bilinear,
        );
        let n = w * h;
        let mut grey = rgba.clone();
        for i in 0..n {
            // 8-bit grey, as an editor's desaturated layer (and the bench's Pillow "L") is.
            let y = rgb_to_yuv([rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2]])[0];
            grey[i * 4..i * 4 + 3].fill((y * 255.0).round() / 255.0);
        }
        let mut scribbles = vec![0.0f32; n * 4];
        let step = w.max(h) / 12;
        for y in (step / 2..h).step_by(step) {
            for x in (step / 2..w).step_by(step) {
                for yy in y..(y + 3).min(h) {
                    for xx in x..(x + 3).min(w) {
                        let i = yy * w + xx;
                        scribbles[i * 4..i * 4 + 3].copy_from_slice(&rgba[i * 4..i * 4 + 3]);
                        scribbles[i * 4 + 3] = 1.0;
                    }
                }
            }
        }
        let start = std::time::Instant::now();
        let (out, stats) =
            colorize(&grey, &scribbles, w, h, 2, &mut Unattended).expect("not cancelled");
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let mut err = 0.0f64;
        for i in 0..n {
            let a = rgb_to_yuv([rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2]]);
            let b = rgb_to_yuv([out[i * 4], out[i * 4 + 1], out[i * 4 + 2]]);
            err += ((a[1] - b[1]).abs() + (a[2] - b[2]).abs()) as f64;
        }
        println!(
            "{:<9} {:>4}x{:<5} {:>7.0} {:>7.0} {:>4}+{:<4} {:>6}  {:.4} (residuals {:.1e} {:.1e})",
            name.split('.').next().unwrap_or(&name),
            w,
            h,
            ms,
            ms / (n as f64 / 1e6),
            stats.u.iterations,
            stats.v.iterations,
            stats.levels,
            err / n as f64,
            stats.u.relative_residual,
            stats.v.relative_residual,
        );
        if check {
            let (tight, _) = colorize_to(&grey, &scribbles, w, h, 2, 1e-8, &mut Unattended)
                .expect("not cancelled");
            let (ours, tight) = (to_8bit(&out), to_8bit(&tight));
            let (mut max, mut differing) = (0u8, 0usize);
            for (a, b) in ours.chunks(4).zip(tight.chunks(4)) {
                let d = (0..3).map(|c| a[c].abs_diff(b[c])).max().unwrap_or(0);
                max = max.max(d);
                differing += usize::from(d > 0);
            }
            println!(
                "          against a solve to 1e-8: at most {max} level(s) apart in 8 bits, {:.3} % of pixels differ",
                100.0 * differing as f64 / n as f64
            );
        }
    }
}

//! easel-pixels against `fast_image_resize` (fir) on the resizes Easel really does, in one run:
//! per case the best of several runs of each, the ratio, and how far fir's output is from ours.
//!
//! `cargo bench -p easel-pixels --bench vs_fir` (figures in benches/README.md).

use easel_pixels::{interpolate, resize, resize_u8, Filter, Plane};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::CpuExtensions;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use std::time::{Duration, Instant};

fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / (1u64 << 24) as f32
        })
        .collect()
}

/// A smooth photo-like image (gradients and a few soft discs) plus a little noise, in 0..1.
fn photo(w: usize, h: usize, c: usize) -> Vec<f32> {
    let n = noise(w * h * c, 7);
    let mut out = Vec::with_capacity(w * h * c);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
            let disc = if (u - 0.5).powi(2) + (v - 0.45).powi(2) < 0.08 {
                0.4
            } else {
                0.0
            };
            for k in 0..c {
                let i = (y * w + x) * c + k;
                let base = 0.2 + 0.3 * u * (k as f32 + 1.0) / c as f32 + 0.2 * v + disc;
                out.push((base + 0.05 * n[i]).clamp(0.0, 1.0));
            }
        }
    }
    out
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = f();
    let mut t = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        out = f();
        t = t.min(start.elapsed());
    }
    (t, out)
}

fn fir_filter(filter: Filter) -> FilterType {
    match filter {
        Filter::Area => FilterType::Box,
        Filter::Bilinear => FilterType::Bilinear,
        Filter::CatmullRom => FilterType::CatmullRom,
        Filter::Lanczos3 => FilterType::Lanczos3,
        Filter::Nearest => unreachable!("not benched"),
    }
}

/// fir on a packed f32 image of 1 or 3 channels.
fn fir_f32(
    resizer: &mut Resizer,
    src: &[f32],
    (w, h): (usize, usize),
    c: usize,
    (dw, dh): (usize, usize),
    alg: ResizeAlg,
) -> Vec<f32> {
    let pt = match c {
        1 => PixelType::F32,
        3 => PixelType::F32x3,
        _ => unreachable!("fir has f32 images of 1 to 4 channels"),
    };
    let bytes = ImageRef::new(w as u32, h as u32, bytemuck::cast_slice(src), pt);
    let src = bytes.expect("image");
    let mut dst = Image::new(dw as u32, dh as u32, pt);
    resizer
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(alg).use_alpha(false),
        )
        .expect("resize");
    dst.buffer()
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn fir_u8(
    resizer: &mut Resizer,
    src: &[u8],
    (w, h): (usize, usize),
    c: usize,
    (dw, dh): (usize, usize),
    filter: Filter,
) -> Vec<u8> {
    let pt = match c {
        1 => PixelType::U8,
        3 => PixelType::U8x3,
        _ => unreachable!(),
    };
    let src = ImageRef::new(w as u32, h as u32, src, pt).expect("image");
    let mut dst = Image::new(dw as u32, dh as u32, pt);
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(fir_filter(filter)))
        .use_alpha(false);
    resizer.resize(&src, &mut dst, &opts).expect("resize");
    dst.buffer().to_vec()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let runs = 7;
    let mut resizer = Resizer::new();
    println!("fir {:?}", resizer.cpu_extensions());
    println!(
        "| case | easel-pixels ms | fir ms | easel-pixels / fir | max abs diff (fir vs ours) |"
    );
    println!("|---|---:|---:|---:|---|");

    type Case = (
        &'static str,
        (usize, usize),
        usize,
        (usize, usize),
        Filter,
        bool,
    );
    let f32_cases: [Case; 8] = [
        (
            "isnet input 3000×2000×3 → 1024² bilinear",
            (3000, 2000),
            3,
            (1024, 1024),
            Filter::Bilinear,
            true,
        ),
        (
            "mask 1024² → 3000×2000 bilinear",
            (1024, 1024),
            1,
            (3000, 2000),
            Filter::Bilinear,
            true,
        ),
        (
            "low-light input 3000×2000×3 → 324×180 bilinear",
            (3000, 2000),
            3,
            (324, 180),
            Filter::Bilinear,
            true,
        ),
        (
            "low-light coefficients 324×180×6 → 3000×2000 bilinear (fir: 2 × 3 channels)",
            (324, 180),
            6,
            (3000, 2000),
            Filter::Bilinear,
            true,
        ),
        (
            "alpha 1000×750 → 4000×3000 Catmull-Rom",
            (1000, 750),
            1,
            (4000, 3000),
            Filter::CatmullRom,
            true,
        ),
        (
            "area 4000×3000×3 → 2000×1500",
            (4000, 3000),
            3,
            (2000, 1500),
            Filter::Area,
            true,
        ),
        (
            "lanczos f32 3000×2000×3 → 320²",
            (3000, 2000),
            3,
            (320, 320),
            Filter::Lanczos3,
            true,
        ),
        (
            "daemon mask 1024² → 3000×2000 interpolated",
            (1024, 1024),
            1,
            (3000, 2000),
            Filter::Bilinear,
            false,
        ),
    ];
    for (name, size, c, dst, filter, antialias) in f32_cases {
        let src = photo(size.0, size.1, c);
        let plane = Plane::packed(&src, size, c).expect("plane");
        let (t_ours, ours) = best(runs, || {
            if antialias {
                resize(plane, dst, filter)
            } else {
                interpolate(plane, dst, filter)
            }
        });
        let alg = if antialias {
            ResizeAlg::Convolution(fir_filter(filter))
        } else {
            ResizeAlg::Interpolation(fir_filter(filter))
        };
        let (t_fir, theirs) = if c == 6 {
            // Split into two 3-channel images and interleave back, as a caller would have to.
            best(runs, || {
                let halves: Vec<Vec<f32>> = (0..2)
                    .map(|k| {
                        let part: Vec<f32> = src
                            .chunks_exact(6)
                            .flat_map(|p| p[3 * k..3 * k + 3].iter().copied())
                            .collect();
                        fir_f32(&mut resizer, &part, size, 3, dst, alg)
                    })
                    .collect();
                halves[0]
                    .chunks_exact(3)
                    .zip(halves[1].chunks_exact(3))
                    .flat_map(|(a, b)| a.iter().chain(b).copied())
                    .collect::<Vec<f32>>()
            })
        } else {
            best(runs, || fir_f32(&mut resizer, &src, size, c, dst, alg))
        };
        println!(
            "| {name} | {:.1} | {:.1} | {:.2} | {:.1e} |",
            ms(t_ours),
            ms(t_fir),
            t_ours.as_secs_f64() / t_fir.as_secs_f64(),
            max_diff(&ours, &theirs)
        );
    }

    type U8Case = (&'static str, (usize, usize), usize, (usize, usize));
    let u8_cases: [U8Case; 2] = [
        (
            "u2netp input u8 3000×2000×3 → 320² Lanczos-3",
            (3000, 2000),
            3,
            (320, 320),
        ),
        (
            "u2netp mask u8 320² → 3000×2000 Lanczos-3",
            (320, 320),
            1,
            (3000, 2000),
        ),
    ];
    for (name, size, c, dst) in u8_cases {
        let src: Vec<u8> = photo(size.0, size.1, c)
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        let (t_ours, ours) = best(runs, || resize_u8(&src, size, c, dst, Filter::Lanczos3));
        let (t_fir, theirs) = best(runs, || {
            fir_u8(&mut resizer, &src, size, c, dst, Filter::Lanczos3)
        });
        let differ = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        let max = ours
            .iter()
            .zip(&theirs)
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap_or(0);
        println!(
            "| {name} | {:.1} | {:.1} | {:.2} | {max} of 255; {:.2} % of samples differ |",
            ms(t_ours),
            ms(t_fir),
            t_ours.as_secs_f64() / t_fir.as_secs_f64(),
            100.0 * differ as f64 / ours.len() as f64
        );
    }

    // Pillow's own figures (the unit test's): does fir reproduce them?
    let ramp: Vec<u8> = (0..4)
        .flat_map(|y| (0..5).map(move |x| (10 * x + 50 * y) as u8))
        .collect();
    let fir_down = fir_u8(&mut resizer, &ramp, (5, 4), 1, (3, 2), Filter::Lanczos3);
    let ours_down = resize_u8(&ramp, (5, 4), 1, (3, 2), Filter::Lanczos3);
    println!("Pillow LANCZOS 5×4 → 3×2: Pillow/ours {ours_down:?}, fir {fir_down:?}");

    // Are fir's f32 results the same whichever SIMD path it takes? (Ours are the same bits on
    // every CPU: plain scalar code.)
    let (size, dst) = ((3000, 2000), (1024, 1024));
    let src = photo(size.0, size.1, 3);
    let alg = ResizeAlg::Convolution(FilterType::Bilinear);
    let avx2 = fir_f32(&mut resizer, &src, size, 3, dst, alg);
    for ext in [CpuExtensions::Sse4_1, CpuExtensions::None] {
        let mut other = Resizer::new();
        // SAFETY: both extensions are supported by every x86-64 CPU this runs on (SSE4.1 is
        // checked at run time by fir's own default; `None` is plain Rust).
        unsafe { other.set_cpu_extensions(ext) };
        let out = fir_f32(&mut other, &src, size, 3, dst, alg);
        let differ = out.iter().zip(&avx2).filter(|(a, b)| a != b).count();
        println!(
            "fir isnet-input case, {ext:?} vs Avx2: {differ} of {} samples differ, max {:.1e}",
            out.len(),
            max_diff(&out, &avx2)
        );
    }
}

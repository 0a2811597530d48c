//! Pre- and post-processing hot paths on 4K UHD (3840×2160) content: the host's format
//! conversions, mask modifiers, crop of a strided sub-view; and remove-background's own steps
//! (its public functions), at the size of the benchmark photo and at 4K.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use easel_benches::{load_photo, subject_mask, tiled_rgba8, UHD};
use easel_imaging::{self as imaging, ImageView, MaskModifiers, OwnedImage, PixelFormat, Rect};
use easel_pixels::{resize_packed, Filter};
use easel_plugin_remove_background::{foreground, segmodel::SegModel};
use easel_sdk::{ImageBuf, PixelFormat as SdkFormat, Tensor};
use std::hint::black_box;
use std::time::Duration;

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    g
}

/// The host's per-job imaging on a 4K layer and mask.
fn host_imaging(c: &mut Criterion) {
    let photo = load_photo("girl-1.jpg").expect("fixture photo");
    let (w, h) = UHD;
    let rgba8 = tiled_rgba8(&photo, w, h);
    let rgba32f = imaging::convert(&rgba8.view(), PixelFormat::Rgba32F);
    let mask = subject_mask(w, h);
    let pixels = w as u64 * h as u64;

    let mut g = group(c, "prepost/convert");
    g.throughput(Throughput::Elements(pixels));
    g.bench_function("rgba8->rgba32f 4K", |b| {
        b.iter(|| black_box(imaging::convert(&rgba8.view(), PixelFormat::Rgba32F)))
    });
    g.bench_function("rgba32f->rgba8 4K", |b| {
        b.iter(|| black_box(imaging::convert(&rgba32f.view(), PixelFormat::Rgba8)))
    });
    // What a plugin that reads its input through the SDK pays (remove-background does).
    g.bench_function("sdk to_rgba_f32 (rgba32f) 4K", |b| {
        let sdk = sdk_view(&rgba32f);
        b.iter(|| black_box(sdk.to_rgba_f32()))
    });
    g.bench_function("sdk ImageBuf::from_rgba_f32 4K", |b| {
        let samples: Vec<f32> = bytemuck_f32(&rgba32f.data);
        b.iter(|| {
            black_box(ImageBuf::from_rgba_f32(w, h, &samples, SdkFormat::Rgba32F).expect("buf"))
        })
    });
    g.finish();

    let mut g = group(c, "prepost/mask");
    g.throughput(Throughput::Elements(pixels));
    let cases = [
        (
            "grow 16",
            MaskModifiers {
                grow: 16,
                ..Default::default()
            },
        ),
        (
            "shrink 16",
            MaskModifiers {
                grow: -16,
                ..Default::default()
            },
        ),
        (
            "feather 8",
            MaskModifiers {
                feather: 8.0,
                ..Default::default()
            },
        ),
        (
            "feather 64",
            MaskModifiers {
                feather: 64.0,
                ..Default::default()
            },
        ),
        (
            "grow 16 + feather 8 + invert",
            MaskModifiers {
                grow: 16,
                feather: 8.0,
                invert: true,
            },
        ),
    ];
    for (name, m) in cases {
        g.bench_with_input(BenchmarkId::new("modifiers 4K", name), &m, |b, m| {
            b.iter_batched_ref(
                || mask.clone(),
                |mk| imaging::apply_modifiers(mk, m),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.bench_function("mask_bounds 4K", |b| {
        b.iter(|| black_box(imaging::mask_bounds(&mask, 0.0)))
    });
    g.bench_function("mask_from_view (gray8) 4K", |b| {
        let gray = mask.to_image(PixelFormat::Gray8);
        b.iter(|| black_box(imaging::mask_from_view(&gray.view())))
    });
    g.finish();

    // The server's path for a masked job: the mask's bounds plus a margin, then the image
    // converted to the working format straight from a strided view of that region.
    let mut g = group(c, "prepost/crop");
    let bounds = imaging::mask_bounds(&mask, 0.0).expect("mask is not empty");
    let region = imaging::expand(bounds, 64, w, h);
    g.throughput(Throughput::Elements(
        region.width as u64 * region.height as u64,
    ));
    let label = format!("{}x{} of 4K", region.width, region.height);
    g.bench_function(BenchmarkId::new("sub-view -> rgba32f", &label), |b| {
        b.iter(|| {
            black_box(imaging::convert(
                &sub_view(&rgba8, region),
                PixelFormat::Rgba32F,
            ))
        })
    });
    g.bench_function(BenchmarkId::new("crop rgba8 + crop_mask", &label), |b| {
        b.iter(|| {
            black_box((
                imaging::crop(&rgba8, region),
                imaging::crop_mask(&mask, region),
            ))
        })
    });
    let working = imaging::convert(&sub_view(&rgba8, region), PixelFormat::Rgba32F);
    let crop_mask = imaging::crop_mask(&mask, region);
    let result = {
        let mut r = working.clone();
        for px in r.data.chunks_exact_mut(16) {
            px[..4].copy_from_slice(&0.25f32.to_ne_bytes());
        }
        r
    };
    g.bench_function(
        BenchmarkId::new("composite_through_mask rgba32f", &label),
        |b| {
            b.iter(|| {
                black_box(
                    imaging::composite_through_mask(&working, &result, &crop_mask)
                        .expect("same size"),
                )
            })
        },
    );
    g.finish();
}

/// remove-background's steps, in the order its `run` takes them, on the benchmark photo
/// (girl-1.jpg, 600×399) and on the same photo tiled to 4K.
fn remove_background_steps(c: &mut Criterion) {
    let photo = load_photo("girl-1.jpg").expect("fixture photo");
    let uhd = tiled_rgba8(&photo, UHD.0, UHD.1);
    for (size, img8) in [("600x399", &photo), ("4K", &uhd)] {
        let (w, h) = (img8.width as usize, img8.height as usize);
        let working = imaging::convert(&img8.view(), PixelFormat::Rgba32F);
        let rgba = sdk_view(&working).to_rgba_f32();
        let rgb: Vec<f32> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();

        let mut g = group(c, "prepost/remove-background");
        g.throughput(Throughput::Elements((w * h) as u64));
        g.bench_function(BenchmarkId::new("rgba -> rgb", size), |b| {
            b.iter(|| {
                black_box(
                    rgba.chunks_exact(4)
                        .flat_map(|p| [p[0], p[1], p[2]])
                        .collect::<Vec<f32>>(),
                )
            })
        });
        for model in [SegModel::IsnetGeneralSmall, SegModel::U2netp] {
            g.bench_function(
                BenchmarkId::new(format!("input_tensor {}", model.id()), size),
                |b| b.iter(|| black_box(model.input_tensor(&rgb, w, h))),
            );
        }
        // A model-sized mask like a real output (the subject mask, resized), back to the image.
        for model in [SegModel::IsnetGeneralSmall, SegModel::U2netp] {
            let (mw, mh) = model.input_size();
            let small = imaging::resize_mask_bilinear(
                &subject_mask(w as u32, h as u32),
                mw as u32,
                mh as u32,
            );
            let out = Tensor::new(model.output_name(), &model.output_shape(), small.data);
            g.bench_function(
                BenchmarkId::new(format!("mask_from_output+resize {}", model.id()), size),
                |b| {
                    b.iter(|| {
                        let m = model.mask_from_output(&out).expect("valid output");
                        black_box(resize_packed(&m, (mw, mh), 1, (w, h), Filter::Bilinear))
                    })
                },
            );
        }
        let alpha = subject_mask(w as u32, h as u32).data;
        g.bench_function(BenchmarkId::new("estimate_foreground", size), |b| {
            b.iter(|| black_box(foreground::estimate_foreground(&rgb, &alpha, w, h)))
        });
        g.bench_function(BenchmarkId::new("cutout assembly + ImageBuf", size), |b| {
            b.iter(|| {
                let out: Vec<f32> = rgba
                    .chunks_exact(4)
                    .zip(rgb.chunks_exact(3))
                    .zip(&alpha)
                    .flat_map(|((p, f), &m)| [f[0], f[1], f[2], m * p[3]])
                    .collect();
                black_box(
                    ImageBuf::from_rgba_f32(w as u32, h as u32, &out, SdkFormat::Rgba32F)
                        .expect("buf"),
                )
            })
        });
        g.finish();
    }
}

/// A view of `r` inside `image` with the image's strides (no copy), as the server makes one.
fn sub_view(image: &OwnedImage, r: Rect) -> ImageView<'_> {
    image.view().sub_view(r).expect("region inside the image")
}

/// A packed Rgba32F image as the plugin sees it (the SDK's view of the same bytes).
fn sdk_view(image: &OwnedImage) -> easel_sdk::ImageView<'_> {
    let layout = easel_sdk::ImageLayout::packed(image.width, image.height, SdkFormat::Rgba32F);
    easel_sdk::ImageView::new(layout, &image.data).expect("packed rgba32f")
}

/// Native-endian f32 samples from their bytes.
fn bytemuck_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

criterion_group!(benches, host_imaging, remove_background_steps);
criterion_main!(benches);

//! Tiling: the host's tile plan, cutting each tile's input out of the layer into shared memory in
//! the working format (as the supervisor does per tile), and blending the tiles' results into the
//! output across the seams — at ×1 (a 4K layer) and ×4 (a 960×540 layer to 4K, as the ×4
//! upscalers do), with the daemon's defaults: tiles of 512, overlap 32, blend band overlap / 2.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use easel_benches::{load_photo, tiled_rgba8};
use easel_imaging::tiling::{output_layout, plan, Blender};
use easel_imaging::{self as imaging, ImageView, OwnedImage, PixelFormat, Rect};
use easel_ipc::SharedMem;
use std::hint::black_box;
use std::time::Duration;

/// The daemon's defaults (`tile_size`, `tile_overlap`; the band is half the overlap).
const TILE: u32 = 512;
const OVERLAP: u32 = 32;
const BAND: u32 = OVERLAP / 2;

/// A view of `r` inside `image` with the image's strides (no copy).
fn sub_view(image: &OwnedImage, r: Rect) -> ImageView<'_> {
    image.view().sub_view(r).expect("region inside the image")
}

fn tiling(c: &mut Criterion) {
    let photo = load_photo("girl-1.jpg").expect("fixture photo");
    let mut g = c.benchmark_group("tiling");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));

    // (label, input size, scale)
    let cases = [
        ("4K x1", (3840u32, 2160u32), 1u32),
        ("960x540 x4 (4K out)", (960, 540), 4),
    ];
    for (label, (w, h), scale) in cases {
        let layer = tiled_rgba8(&photo, w, h);
        let tiles = plan(w, h, TILE, OVERLAP);
        let label = format!("{label}, {} tiles", tiles.len());
        let (ow, oh) = (w * scale, h * scale);

        g.throughput(Throughput::Elements(w as u64 * h as u64));
        g.bench_function(BenchmarkId::new("plan", &label), |b| {
            b.iter(|| black_box(plan(w, h, TILE, OVERLAP)))
        });
        // The conversion alone, from a strided view of each tile's rectangle.
        g.bench_function(BenchmarkId::new("convert only -> rgba32f", &label), |b| {
            b.iter(|| {
                for t in &tiles {
                    black_box(imaging::convert(
                        &sub_view(&layer, t.input),
                        PixelFormat::Rgba32F,
                    ));
                }
            })
        });
        // Each tile's input cut out, converted to the working format and put in shared memory
        // for the worker, one tile at a time as the supervisor does.
        g.bench_function(BenchmarkId::new("split -> rgba32f shm", &label), |b| {
            b.iter(|| {
                for t in &tiles {
                    let working = imaging::convert(
                        &imaging::crop(&layer, t.input).view(),
                        PixelFormat::Rgba32F,
                    );
                    let mut mem = SharedMem::create(working.data.len()).expect("shared memory");
                    mem.as_mut_slice().copy_from_slice(&working.data);
                    black_box(mem);
                }
            })
        });
        // Results as an operation would return them (its input at the output scale, rgba32f),
        // made once: only placing and blending them is timed.
        let scaled = tiled_rgba8(&photo, ow, oh);
        let scaled32 = imaging::convert(&scaled.view(), PixelFormat::Rgba32F);
        let results: Vec<OwnedImage> = tiles
            .iter()
            .map(|t| {
                let r = Rect {
                    x: t.input.x * scale,
                    y: t.input.y * scale,
                    width: t.input.width * scale,
                    height: t.input.height * scale,
                };
                imaging::crop(&scaled32, r)
            })
            .collect();
        g.throughput(Throughput::Elements(ow as u64 * oh as u64));
        for out_format in [PixelFormat::Rgba32F, PixelFormat::Rgba8] {
            g.bench_function(
                BenchmarkId::new(format!("blend -> {}", out_format.as_str()), &label),
                |b| {
                    b.iter(|| {
                        let layout = output_layout(w, h, scale, out_format).expect("size");
                        let mem = SharedMem::create(layout.required_len().expect("size"))
                            .expect("output memory");
                        let mut blender =
                            Blender::new(mem, layout, scale, BAND).expect("output fits");
                        for (t, r) in tiles.iter().zip(&results) {
                            blender.place(t, &r.view());
                        }
                        black_box(blender.into_output())
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, tiling);
criterion_main!(benches);

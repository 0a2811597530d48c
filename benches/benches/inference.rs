//! Inference: `ModelStore::run` on resident models (loaded and run once before timing), fed the
//! benchmark photo preprocessed the way remove-background does it, with 2 ORT intra-op threads
//! (the daemon's `threads = 2` on the 2-core development machine). isnet-general-small (1024²,
//! seconds per run on 2 cores) is measured only with EASEL_BENCH_ISNET=1, to keep the suite short.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use easel_benches::{load_photo, models_dir};
use easel_imaging as imaging;
use easel_imaging::PixelFormat;
use easel_models::{ModelStore, ModelStoreConfig};
use easel_plugin_remove_background::segmodel::SegModel;
use easel_sdk::Tensor;
use std::hint::black_box;
use std::time::Duration;

/// ORT intra-op threads, overridable with EASEL_BENCH_THREADS.
fn threads() -> usize {
    std::env::var("EASEL_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn inference(c: &mut Criterion) {
    let store = ModelStore::new(ModelStoreConfig {
        folders: vec![models_dir()],
        intra_threads: threads(),
        ..Default::default()
    })
    .expect("model store");
    let photo = load_photo("girl-1.jpg").expect("fixture photo");
    let (w, h) = (photo.width as usize, photo.height as usize);
    let rgba = imaging::convert(&photo.view(), PixelFormat::Rgba32F);
    let rgb: Vec<f32> = rgba
        .data
        .chunks_exact(16)
        .flat_map(|p| [0, 4, 8].map(|o| f32::from_ne_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]])))
        .collect();

    let mut g = c.benchmark_group("inference");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let mut models = vec![SegModel::U2netp, SegModel::MediapipeMeet];
    if std::env::var_os("EASEL_BENCH_ISNET").is_some_and(|v| v == "1") {
        models.push(SegModel::IsnetGeneralSmall);
    }
    for model in models {
        let input = model.input_tensor(&rgb, w, h);
        let outputs = [model.output_name().to_string()];
        let run = |input: Tensor| {
            store
                .run(model.id(), vec![input], &outputs)
                .unwrap_or_else(|e| panic!("{}: {e}", model.id()))
        };
        // Load (verify, create the session) and one run outside the timing: resident and warm.
        let first = run(input.clone());
        assert_eq!(first[0].shape.as_slice(), &model.output_shape());
        let (mw, mh) = model.input_size();
        g.bench_function(
            BenchmarkId::new(model.id(), format!("{mw}x{mh}, {} threads", threads())),
            |b| {
                b.iter_batched(
                    || input.clone(),
                    |i| black_box(run(i)),
                    criterion::BatchSize::SmallInput,
                )
            },
        );
    }
    g.finish();
}

criterion_group!(benches, inference);
criterion_main!(benches);

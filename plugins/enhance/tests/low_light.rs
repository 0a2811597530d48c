//! `fix-low-light` on real photos darkened synthetically (x^2.2 · 0.25), with the real models
//! through the host's `ModelStore`: brightness rises, detail stays at full resolution (against
//! the naive way, the model's output resized up), the model's look is kept, alpha and strength.

mod common;

use common::choice;
use easel_pixels::{resize_packed, Filter};
use easel_plugin_enhance::lowlight::{enhance_lowres, LowLightModel};
use easel_plugin_enhance::FixLowLight;
use easel_sdk::prelude::*;
use image::imageops::FilterType;

fn darken(img: &image::Rgba32FImage) -> image::Rgba32FImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in 0..3 {
            p[c] = p[c].powf(2.2) * 0.25;
        }
    }
    out
}

fn rgb_of(img: &image::Rgba32FImage) -> Vec<f32> {
    img.pixels().flat_map(|p| [p[0], p[1], p[2]]).collect()
}

fn from_rgb(rgb: &[f32], w: u32, h: u32) -> image::Rgba32FImage {
    image::Rgba32FImage::from_fn(w, h, |x, y| {
        let i = 3 * (y * w + x) as usize;
        image::Rgba([rgb[i], rgb[i + 1], rgb[i + 2], 1.0])
    })
}

#[test]
fn brightens_at_full_resolution_not_by_resizing_the_model_output() {
    for name in ["coffee.png", "astronaut.png"] {
        let dark = darken(&common::photo(name));
        let (w, h) = dark.dimensions();
        let host = common::host();
        let out = host
            .run_op(&FixLowLight, common::to_buf(&dark).view(), &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((out.width(), out.height()), (w, h));
        let runs = host.runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].model, "llie-semantic-guided");
        assert_eq!(runs[0].inputs[0].1, vec![1, 3, 180, 324]);
        let ours = common::from_buf(&out);
        common::save(&ours, &format!("lowlight-{name}"));

        // The naive way: the model's output resized up to the photo.
        let low = enhance_lowres(
            &common::host().host(),
            LowLightModel::SemanticGuided,
            &rgb_of(&dark),
            (w as usize, h as usize),
            5.0,
        )
        .expect("model");
        let (mw, mh) = low.size;
        let naive_rgb = resize_packed(
            &low.enhanced,
            (mw, mh),
            3,
            (w as usize, h as usize),
            Filter::Bilinear,
        );
        let naive = from_rgb(&naive_rgb, w, h);

        let (b_dark, b_ours, b_naive) = (
            common::mean_luma(&dark),
            common::mean_luma(&ours),
            common::mean_luma(&naive),
        );
        let (d_dark, d_ours, d_naive) = (
            common::relative_detail(&dark),
            common::relative_detail(&ours),
            common::relative_detail(&naive),
        );
        // Ours reduced to the model's size must look like what the model made.
        let ours_low = common::resize(&ours, mw as u32, mh as u32, FilterType::Triangle);
        let model_look = from_rgb(&low.enhanced, mw as u32, mh as u32);
        let fidelity = common::psnr(&ours_low, &model_look, 2);
        eprintln!(
            "{name} {w}x{h}: mean luma dark {b_dark:.3} -> ours {b_ours:.3} (naive {b_naive:.3}); \
             |Laplacian|/mean: dark {d_dark:.3}, ours {d_ours:.3}, naive {d_naive:.3} \
             (ours/naive {:.1}x); ours at the model's size vs the model: {fidelity:.1} dB",
            d_ours / d_naive
        );
        assert!(
            b_ours > 3.0 * b_dark,
            "{name}: brightness {b_dark} -> {b_ours}"
        );
        assert!(
            d_ours > 3.0 * d_naive,
            "{name}: detail {d_ours} is not 3× the naive {d_naive}"
        );
        assert!(
            d_ours > 0.8 * d_dark,
            "{name}: detail {d_ours} lost against the input's {d_dark}"
        );
        assert!(
            fidelity > 28.0,
            "{name}: strays from the model's look ({fidelity:.1} dB)"
        );
    }
}

#[test]
fn every_model_brightens_and_exposure_reaches_uretinex() {
    let dark = darken(&common::crop("chelsea.png", 0, 0, 451, 300));
    let b_dark = common::mean_luma(&dark);
    let mut uretinex = Vec::new();
    for (model, exposure) in [
        ("llie-semantic-guided", 5.0),
        ("tbefn", 5.0),
        ("uretinex", 5.0),
        ("uretinex", 3.0),
    ] {
        let host = common::host();
        let out = host
            .run_op(
                &FixLowLight,
                common::to_buf(&dark).view(),
                &[
                    ("model", choice(model)),
                    ("exposure", ParamValue::float(exposure)),
                ],
            )
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        let runs = host.runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].model, model);
        let img = common::from_buf(&out);
        let b = common::mean_luma(&img);
        eprintln!("{model} (exposure {exposure}): mean luma {b_dark:.3} -> {b:.3}");
        assert!(b > 2.5 * b_dark, "{model}: {b_dark} -> {b}");
        common::save(&img, &format!("lowlight-{model}-{exposure}"));
        if model == "uretinex" {
            let shapes: Vec<&Vec<i64>> = runs[0].inputs.iter().map(|i| &i.1).collect();
            assert_eq!(shapes, [&vec![1, 3, 180, 320], &vec![1]]);
            uretinex.push(img);
        }
    }
    let diff = uretinex[0]
        .as_raw()
        .iter()
        .zip(uretinex[1].as_raw())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff > 0.01, "exposure changed nothing ({diff})");
}

#[test]
fn strength_blends_and_alpha_is_kept() {
    let mut dark = darken(&common::crop("girl-1.jpg", 100, 50, 160, 120));
    for (x, _, p) in dark.enumerate_pixels_mut() {
        p[3] = x as f32 / 159.0;
    }
    let run = |strength: f64| {
        let out = common::host()
            .run_op(
                &FixLowLight,
                common::to_buf(&dark).view(),
                &[("strength", ParamValue::float(strength))],
            )
            .expect("run");
        common::from_buf(&out)
    };
    let (none, half, full) = (run(0.0), run(0.5), run(1.0));
    for ((d, n), (h, f)) in dark
        .pixels()
        .zip(none.pixels())
        .zip(half.pixels().zip(full.pixels()))
    {
        for c in 0..3 {
            assert!((n[c] - d[c]).abs() < 1e-6, "strength 0 changes nothing");
            assert!(
                (h[c] - 0.5 * (d[c] + f[c])).abs() < 1e-5,
                "strength 0.5 is halfway"
            );
        }
        for img in [n, h, f] {
            assert_eq!(img[3], d[3], "alpha is kept");
        }
    }
    assert!(common::mean_luma(&full) > 2.0 * common::mean_luma(&dark));
}

#[test]
fn cancellation_before_inference_runs_no_model() {
    let dark = darken(&common::crop("coffee.png", 0, 0, 64, 64));
    let host = common::host().cancel_after(0);
    let err = host
        .run_op(&FixLowLight, common::to_buf(&dark).view(), &[])
        .expect_err("cancelled");
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert!(host.runs().is_empty());
}

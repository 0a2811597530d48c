//! The operation's contract with its host, checked with a scripted host: tensors it sends, how
//! it turns outputs into alpha, progress, cancellation and error classification. The models'
//! real behaviour is tested in `real_photo.rs`.

mod common;

use common::{choice, rgba, TestHost};
use easel_plugin_remove_background::RemoveBackground;
use easel_sdk::prelude::*;

/// A 64×48 opaque image: red on the left half, blue on the right.
fn test_image(alpha: f32) -> ImageBuf {
    let (w, h) = (64u32, 48u32);
    let px: Vec<f32> = (0..h)
        .flat_map(|_| {
            (0..w).flat_map(move |x| {
                if x < w / 2 {
                    [1.0, 0.0, 0.0, alpha]
                } else {
                    [0.0, 0.0, 1.0, alpha]
                }
            })
        })
        .collect();
    ImageBuf::from_rgba_f32(w, h, &px, PixelFormat::Rgba32F).unwrap()
}

/// u²-net-like output: a centred disc of radius 100 on a 320² grid, in raw units 3..7 so that
/// min-max normalisation has something to do.
fn disc_u2netp(_: &str, inputs: Vec<Tensor>, _: &[String]) -> Result<Vec<Tensor>, PluginError> {
    assert_eq!(inputs.len(), 1);
    let data: Vec<f32> = (0..320 * 320)
        .map(|i| {
            let (x, y) = ((i % 320) as f32 - 159.5, (i / 320) as f32 - 159.5);
            if x * x + y * y < 100.0 * 100.0 {
                7.0
            } else {
                3.0
            }
        })
        .collect();
    Ok(vec![Tensor::new("1959", &[1, 1, 320, 320], data)])
}

#[test]
fn cutout_alpha_is_the_resized_mask_times_input_alpha() {
    let host = TestHost::new().with_models(disc_u2netp);
    let img = test_image(0.5);
    let out = host
        .run_op(
            &RemoveBackground,
            img.view(),
            &[("model", choice("u2netp"))],
        )
        .unwrap();
    assert_eq!(out.format(), PixelFormat::Rgba32F);
    assert_eq!((out.width(), out.height()), (64, 48));
    let px = rgba(&out);
    let at = |x: usize, y: usize| &px[(y * 64 + x) * 4..(y * 64 + x) * 4 + 4];
    // Disc radius 100/320 of each axis: the centre is inside, the corners outside.
    assert!((at(32, 24)[3] - 0.5).abs() < 1e-5, "{:?}", at(32, 24));
    for (x, y) in [(0, 0), (63, 0), (0, 47), (63, 47)] {
        assert!(at(x, y)[3].abs() < 1e-5, "corner {x},{y}: {:?}", at(x, y));
    }
    // Opaque-in-mask pixels keep their colour.
    assert_eq!(&at(20, 24)[..3], &[1.0, 0.0, 0.0]);

    let runs = host.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].model, "u2netp");
    assert_eq!(
        runs[0].inputs,
        vec![("input.1".to_string(), vec![1, 3, 320, 320])]
    );
    let steps: Vec<String> = host.progress().iter().map(|p| p.1.clone()).collect();
    for (a, b) in [("preprocess", "inference"), ("inference", "refine")] {
        let (ia, ib) = (
            steps.iter().position(|s| s == a),
            steps.iter().position(|s| s == b),
        );
        assert!(ia.is_some() && ia < ib, "{steps:?}");
    }
    let fractions: Vec<f32> = host.progress().iter().map(|p| p.0).collect();
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    assert_eq!(fractions.last(), Some(&1.0));
}

#[test]
fn mask_output_is_opaque_gray() {
    let host = TestHost::new().with_models(disc_u2netp);
    let out = host
        .run_op(
            &RemoveBackground,
            test_image(1.0).view(),
            &[("model", choice("u2netp")), ("output", choice("mask"))],
        )
        .unwrap();
    let px = rgba(&out);
    assert!(px
        .chunks_exact(4)
        .all(|p| p[3] == 1.0 && p[0] == p[1] && p[1] == p[2]));
    assert_eq!(
        &px[(24 * 64 + 32) * 4..(24 * 64 + 32) * 4 + 4],
        &[1.0, 1.0, 1.0, 1.0]
    );
    assert_eq!(&px[..4], &[0.0, 0.0, 0.0, 1.0]);
    // No refinement for a mask.
    assert!(host.progress().iter().all(|p| p.1 != "refine"));
}

#[test]
fn without_refinement_the_colour_is_untouched() {
    // A soft mask everywhere (constant raw output is only clamped), so refinement would change
    // colours if it ran.
    let host = TestHost::new().with_models(|_: &str, _: Vec<Tensor>, wanted: &[String]| {
        assert_eq!(wanted, ["output".to_string()]);
        Ok(vec![Tensor::new(
            "output",
            &[1, 1, 1024, 1024],
            vec![0.4; 1024 * 1024],
        )])
    });
    let img = test_image(1.0);
    let out = host
        .run_op(
            &RemoveBackground,
            img.view(),
            &[
                ("model", choice("isnet-general-small")),
                ("refine_foreground", ParamValue::boolean(false)),
            ],
        )
        .unwrap();
    let (a, b) = (rgba(&img), rgba(&out));
    for (p, q) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        assert_eq!(&p[..3], &q[..3]);
        assert!((q[3] - 0.4).abs() < 1e-6);
    }
    assert_eq!(host.runs()[0].model, "isnet-general-small");
    assert_eq!(host.runs()[0].inputs[0].1, vec![1, 3, 1024, 1024]);
}

#[test]
fn refinement_moves_soft_edge_colours_away_from_the_background() {
    // A left-to-right alpha ramp over the red|blue image: at the soft pixels on the blue side
    // the "foreground" must be pulled towards the red seen where alpha is 1.
    let host = TestHost::new().with_models(|_: &str, _: Vec<Tensor>, _: &[String]| {
        let data: Vec<f32> = (0..1024 * 1024)
            .map(|i| (1.0 - ((i % 1024) as f32 - 480.0) / 200.0).clamp(0.0, 1.0))
            .collect();
        Ok(vec![Tensor::new("output", &[1, 1, 1024, 1024], data)])
    });
    let out = host
        .run_op(
            &RemoveBackground,
            test_image(1.0).view(),
            &[("model", choice("isnet-general-small"))],
        )
        .unwrap();
    let px = rgba(&out);
    // x = 36: past the colour boundary, alpha about 0.6.
    let p = &px[(24 * 64 + 36) * 4..(24 * 64 + 36) * 4 + 4];
    assert!(p[3] > 0.3 && p[3] < 0.9, "{p:?}");
    // Unrefined it is pure blue; the estimate pulls it well towards the red foreground.
    assert!(
        p[0] > 0.25 && p[2] < 0.75,
        "refined colour should lean red: {p:?}"
    );
}

#[test]
fn mediapipe_gets_nhwc_and_its_logits_are_softmaxed() {
    let host = TestHost::new().with_models(|_: &str, inputs: Vec<Tensor>, wanted: &[String]| {
        assert_eq!(wanted, ["segment:0".to_string()]);
        // Left half of the frame input is red: check the NHWC interleaving reached the model.
        assert_eq!(&inputs[0].data[..3], &[1.0, 0.0, 0.0]);
        // Person logit 2 above background everywhere.
        let data: Vec<f32> = (0..144 * 256).flat_map(|_| [0.0, 2.0]).collect();
        Ok(vec![Tensor::new("segment:0", &[1, 144, 256, 2], data)])
    });
    let out = host
        .run_op(
            &RemoveBackground,
            test_image(1.0).view(),
            &[("model", choice("mediapipe-meet"))],
        )
        .unwrap();
    // The person probability, to 8 bits as obs-backgroundremoval's `convertTo(CV_8U, 255)`.
    let want = (255.0 / (1.0 + (-2.0f32).exp())).round() / 255.0;
    assert!(rgba(&out)
        .chunks_exact(4)
        .all(|p| (p[3] - want).abs() < 1e-5));
    assert_eq!(
        host.runs()[0].inputs[0],
        ("input_1:0".to_string(), vec![1, 144, 256, 3])
    );
}

#[test]
fn strided_input_views_are_read_correctly() {
    // The same image with 16 bytes of padding per pixel and 100 per row.
    let img = test_image(1.0);
    let (w, h) = (64usize, 48usize);
    let (ps, rs) = (32usize, 64 * 32 + 100);
    let mut bytes = vec![0xAAu8; rs * h];
    for y in 0..h {
        for x in 0..w {
            let src = &img.as_bytes()[(y * w + x) * 16..(y * w + x) * 16 + 16];
            bytes[y * rs + x * ps..y * rs + x * ps + 16].copy_from_slice(src);
        }
    }
    let layout = ImageLayout::new(64, 48, PixelFormat::Rgba32F, ps, rs).unwrap();
    let view = ImageView::new(layout, &bytes).unwrap();
    let a = TestHost::new()
        .with_models(disc_u2netp)
        .run_op(&RemoveBackground, view, &[("model", choice("u2netp"))])
        .unwrap();
    let b = TestHost::new()
        .with_models(disc_u2netp)
        .run_op(
            &RemoveBackground,
            img.view(),
            &[("model", choice("u2netp"))],
        )
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn wrong_output_shape_is_a_model_error_naming_model_and_shape() {
    let host = TestHost::new().with_models(|_: &str, _: Vec<Tensor>, _: &[String]| {
        Ok(vec![Tensor::new(
            "1959",
            &[1, 1, 160, 160],
            vec![0.0; 160 * 160],
        )])
    });
    let err = host
        .run_op(
            &RemoveBackground,
            test_image(1.0).view(),
            &[("model", choice("u2netp"))],
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Model, "{err}");
    assert!(
        err.message.contains("u2netp") && err.message.contains("[1, 1, 160, 160]"),
        "{err}"
    );
}

#[test]
fn missing_output_is_a_model_error() {
    let host = TestHost::new().with_models(|_: &str, _: Vec<Tensor>, _: &[String]| {
        Ok(vec![
            Tensor::new("a", &[1], vec![0.0]),
            Tensor::new("b", &[1], vec![0.0]),
        ])
    });
    let err = host
        .run_op(
            &RemoveBackground,
            test_image(1.0).view(),
            &[("model", choice("isnet-general-small"))],
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Model, "{err}");
    assert!(err.message.contains("'output'"), "{err}");
}

#[test]
fn host_errors_pass_through_unchanged() {
    let host = TestHost::new().with_models(|id: &str, _: Vec<Tensor>, _: &[String]| {
        Err(PluginError::environment(format!(
            "model '{id}' is not in the store"
        )))
    });
    let err = host
        .run_op(
            &RemoveBackground,
            test_image(1.0).view(),
            &[("model", choice("u2netp"))],
        )
        .unwrap_err();
    assert_eq!(
        err,
        PluginError::environment("model 'u2netp' is not in the store")
    );
}

#[test]
fn cancellation_is_honoured_before_and_after_inference() {
    // Cancelled at the first check: the model never runs.
    let host = TestHost::new().with_models(disc_u2netp).cancel_after(0);
    let err = host
        .run_op(
            &RemoveBackground,
            test_image(1.0).view(),
            &[("model", choice("u2netp"))],
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert!(host.runs().is_empty());
    // Cancelled during inference: the model ran, no result comes back.
    let host = TestHost::new().with_models(disc_u2netp).cancel_after(1);
    let err = host
        .run_op(
            &RemoveBackground,
            test_image(1.0).view(),
            &[("model", choice("u2netp"))],
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert_eq!(host.runs().len(), 1);
}

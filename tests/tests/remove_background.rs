//! The first real operation through the real daemon: remove background on real photos with the
//! real models from ../shared/models, in every pixel format, and from the command line.

use easel_imaging::PixelFormat;
use easel_tests::*;
use serde_json::json;

/// Mean alpha (0..1) over a square patch of an RGBA8 image.
fn alpha(img: &easel_imaging::OwnedImage, x: u32, y: u32, r: u32) -> f32 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for yy in y.saturating_sub(r)..(y + r).min(img.height) {
        for xx in x.saturating_sub(r)..(x + r).min(img.width) {
            sum += px(img, xx, yy)[3] as f32 / 255.0;
            n += 1.0;
        }
    }
    sum / n
}

#[test]
fn girl_with_raised_arms_keeps_her_arms_and_loses_the_background() {
    let d = Daemon::start(Options::default());
    let img = load_photo("girl-1.jpg"); // 600x399
    let mut c = d.client();
    let mut fractions = Vec::new();
    let job = c
        .submit(
            "remove-background",
            &shared(&img),
            None,
            &[],
            json!({"params": {"model": "isnet-general-small"}}),
        )
        .unwrap();
    let r = c.wait(job, |f, _| fractions.push(f)).unwrap();
    assert_eq!((r.image.width, r.image.height, r.x, r.y), (600, 399, 0, 0));
    assert_eq!(r.name, "Remove background (isnet-general-small)");
    assert!(fractions.len() >= 2, "progress was reported: {fractions:?}");
    for (x, y) in [(5, 5), (594, 5), (5, 393), (594, 393)] {
        assert!(
            alpha(&r.image, x, y, 5) < 0.05,
            "corner ({x},{y}) is transparent"
        );
    }
    // Both raised hands (found by looking at the photo) and the body are kept.
    for (x, y, what) in [
        (95, 80, "left hand"),
        (371, 85, "right hand"),
        (235, 300, "body"),
    ] {
        assert!(
            alpha(&r.image, x, y, 4) > 0.5,
            "{what} kept: {}",
            alpha(&r.image, x, y, 4)
        );
    }
    // Opaque pixels keep their colour; the cutout is not darkened.
    let (a, b) = (px(&r.image, 235, 300), px(&img, 235, 300));
    assert!(
        a[..3].iter().zip(&b[..3]).all(|(p, q)| p.abs_diff(*q) <= 2),
        "{a:?} vs {b:?}"
    );
}

#[test]
fn the_quick_model_and_the_mask_output_work_in_16_bit_and_float() {
    let d = Daemon::start(Options::default());
    let img8 = load_photo("car-1.jpg");
    let mut c = d.client();
    for format in [PixelFormat::Rgba16, PixelFormat::Rgba32F] {
        let img = easel_imaging::convert(&img8.view(), format);
        let job = c
            .submit(
                "remove-background",
                &shared(&img),
                None,
                &[],
                json!({"params": {"model": "u2netp"}}),
            )
            .unwrap();
        let r = c.wait(job, |_, _| {}).unwrap();
        assert_eq!(r.image.format, format);
        assert_eq!(r.name, "Remove background (u2netp)");
        let r8 = easel_imaging::convert(&r.image.view(), PixelFormat::Rgba8);
        assert!(alpha(&r8, 5, 5, 5) < 0.05);
        assert!(alpha(&r8, 240, 200, 10) > 0.9, "the car is kept");
    }
    let job = c
        .submit(
            "remove-background",
            &shared(&img8),
            None,
            &[],
            json!({"params": {"model": "u2netp", "output": "mask"}}),
        )
        .unwrap();
    let r = c.wait(job, |_, _| {}).unwrap();
    let (corner, car) = (px(&r.image, 3, 3), px(&r.image, 240, 200));
    assert_eq!(corner[3], 255);
    assert!(
        corner[0] < 20 && car[0] > 230,
        "mask is white on the subject: {corner:?} {car:?}"
    );
}

#[test]
fn a_wrong_model_choice_is_refused_before_it_runs() {
    let d = Daemon::start(Options::default());
    let mut c = d.client();
    let img = load_photo("car-1.jpg");
    let err = c
        .submit(
            "remove-background",
            &shared(&img),
            None,
            &[],
            json!({"params": {"model": "sam"}}),
        )
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("invalid_params"));
    assert!(err.to_string().contains("isnet-general-small"), "{err}");
}

#[test]
fn a_missing_model_file_is_an_environment_error_naming_the_model() {
    let empty = tempfile::tempdir().unwrap();
    let d = Daemon::start(Options {
        model_dirs: Some(vec![empty.path().to_path_buf()]),
        ..Options::default()
    });
    let mut c = d.client();
    let img = rgba8(32, 32, |_, _| [1, 2, 3, 255]);
    let job = c
        .submit(
            "remove-background",
            &shared(&img),
            None,
            &[],
            json!({"params": {"model": "u2netp"}}),
        )
        .unwrap();
    let err = c.wait(job, |_, _| {}).unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("environment"), "{err}");
    assert!(err.to_string().contains("u2netp"), "{err}");
    // The daemon still serves.
    let job = c
        .submit("invert", &shared(&img), None, &[], json!({}))
        .unwrap();
    c.wait(job, |_, _| {}).unwrap();
}

#[test]
fn a_result_says_where_its_time_went() {
    let d = Daemon::start(Options::default());
    let img = load_photo("girl-1.jpg");
    let mut c = d.client();
    let job = c
        .submit(
            "remove-background",
            &shared(&img),
            None,
            &[],
            json!({"params": {"model": "u2netp"}}),
        )
        .unwrap();
    let r = c.wait(job, |_, _| {}).unwrap();
    let t = r
        .message
        .timings
        .as_ref()
        .expect("the result carries timings");
    assert_eq!(t.inference.len(), 1, "{t:?}");
    let run = &t.inference[0];
    assert_eq!((run.model.as_str(), run.runs), ("u2netp", 1));
    assert_eq!(run.inputs.len(), 1);
    assert_eq!(run.inputs[0].shape, [1, 3, 320, 320]);
    assert_eq!(run.outputs.len(), 1, "only the mask's output is fetched");
    // The model's run lies inside the plugin's, which lies inside the daemon's job.
    assert!(run.total_ms > 0.0);
    assert!(run.total_ms <= t.plugin_ms, "{t:?}");
    assert!(
        t.plugin_ms <= r.message.elapsed_ms as f64 + 1.0,
        "{t:?} {}",
        r.message.elapsed_ms
    );

    // An operation without a model reports its plugin's time and no inference.
    let job = c
        .submit("invert", &shared(&img), None, &[], json!({}))
        .unwrap();
    let r = c.wait(job, |_, _| {}).unwrap();
    let t = r
        .message
        .timings
        .as_ref()
        .expect("the result carries timings");
    assert!(t.inference.is_empty(), "{t:?}");
    assert!(t.plugin_ms > 0.0 && t.plugin_ms <= r.message.elapsed_ms as f64 + 1.0);
}

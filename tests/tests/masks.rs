//! Mask handling, the same for every operation: modifiers (grow, feather, invert), the crop to
//! the mask's bounds plus a context margin, compositing through the soft mask, tiling of large
//! inputs, and every pixel format in and out.

use easel_imaging::OwnedImage;
use easel_imaging::PixelFormat;
use easel_tests::*;
use serde_json::json;

fn run(
    d: &Daemon,
    op: &str,
    img: &OwnedImage,
    mask: Option<&OwnedImage>,
    extra: serde_json::Value,
) -> easel_client::JobResult {
    let mut c = d.client();
    let m = mask.map(shared);
    let job = c.submit(op, &shared(img), m.as_ref(), &[], extra).unwrap();
    c.wait(job, |_, _| {}).unwrap()
}

fn photo_rgba8() -> OwnedImage {
    load_photo("chelsea.png") // 451x300
}

#[test]
fn the_result_is_cropped_to_the_mask_plus_margin_and_composited_through_it() {
    let d = Daemon::start(Options::default());
    let img = photo_rgba8();
    // A 40x30 selected box at (100, 80).
    let mask = gray8(img.width, img.height, |x, y| {
        if (100..140).contains(&x) && (80..110).contains(&y) {
            255
        } else {
            0
        }
    });
    let r = run(
        &d,
        "invert",
        &img,
        Some(&mask),
        json!({"context_margin": 10}),
    );
    assert_eq!((r.x, r.y, r.image.width, r.image.height), (90, 70, 60, 50));
    assert_eq!(r.name, "Invert colors");
    // Inside the mask: inverted; in the margin: the original, untouched.
    let inside = px(&r.image, 20, 20);
    let orig = px(&img, 110, 90);
    assert_eq!(
        inside,
        [255 - orig[0], 255 - orig[1], 255 - orig[2], orig[3]]
    );
    assert_eq!(px(&r.image, 2, 2), px(&img, 92, 72));
}

#[test]
fn modifiers_grow_feather_and_invert_the_selection() {
    let d = Daemon::start(Options::default());
    let img = rgba8(200, 100, |_, _| [200, 100, 50, 255]);
    let mask = gray8(200, 100, |x, y| {
        if (90..110).contains(&x) && (40..60).contains(&y) {
            255
        } else {
            0
        }
    });
    // Grow by 10: the crop grows by 10 on each side (margin 0).
    let r = run(
        &d,
        "invert",
        &img,
        Some(&mask),
        json!({"context_margin": 0, "mask_modifiers": {"grow": 10}}),
    );
    assert_eq!((r.x, r.y, r.image.width, r.image.height), (80, 30, 40, 40));
    assert_eq!(
        px(&r.image, 1, 20),
        [55, 155, 205, 255],
        "grown area is processed"
    );
    // Feather: the edge is a ramp, the centre fully inverted.
    let r = run(
        &d,
        "invert",
        &img,
        Some(&mask),
        json!({"context_margin": 0, "mask_modifiers": {"feather": 6.0}}),
    );
    let centre = px(&r.image, r.image.width / 2, r.image.height / 2);
    assert_eq!(centre, [55, 155, 205, 255]);
    let edge_x = (90 - r.x) as u32; // the original mask edge
    let edge = px(&r.image, edge_x, r.image.height / 2);
    assert!(
        edge[0] > 60 && edge[0] < 195,
        "feathered edge should be a blend: {edge:?}"
    );
    // Invert: everything but the box; the crop is the whole image.
    let r = run(
        &d,
        "invert",
        &img,
        Some(&mask),
        json!({"mask_modifiers": {"invert": true}}),
    );
    assert_eq!((r.x, r.y, r.image.width, r.image.height), (0, 0, 200, 100));
    assert_eq!(px(&r.image, 5, 5), [55, 155, 205, 255]);
    assert_eq!(px(&r.image, 100, 50), [200, 100, 50, 255]);
}

#[test]
fn operations_without_compositing_get_their_alpha_multiplied_by_the_mask() {
    let d = Daemon::start(Options::default());
    let img = rgba8(64, 64, |x, _| [x as u8 * 4, 10, 20, 255]);
    let mask = gray8(64, 64, |x, _| if x < 32 { 255 } else { 0 });
    let r = run(
        &d,
        "test-echo",
        &img,
        Some(&mask),
        json!({"context_margin": 8}),
    );
    assert_eq!((r.x, r.image.width), (0, 40));
    assert_eq!(px(&r.image, 10, 10), [40, 10, 20, 255]);
    assert_eq!(
        px(&r.image, 35, 10)[3],
        0,
        "outside the selection is transparent"
    );
}

#[test]
fn every_pixel_format_round_trips_and_results_come_back_in_the_format_asked() {
    let d = Daemon::start(Options::default());
    let img8 = photo_rgba8();
    for format in [PixelFormat::Rgba16, PixelFormat::Rgba32F] {
        let img = easel_imaging::convert(&img8.view(), format);
        let r = run(&d, "test-echo", &img, None, json!({}));
        assert_eq!(r.image.format, format);
        // Exact: 8-bit content survives the f32 working format in 16-bit and float.
        assert_eq!(r.image.data, img.data, "{format:?}");
        let r = run(
            &d,
            "test-echo",
            &img,
            None,
            json!({"result_format": "rgba8"}),
        );
        assert_eq!(r.image.format, PixelFormat::Rgba8);
        assert_eq!(r.image.data, img8.data);
    }
}

#[test]
fn tiled_runs_match_untiled_runs_and_blend_their_seams() {
    // invert is tileable and pointwise: tiling (64 px tiles here) must not change a pixel.
    let tiled = Daemon::start(Options {
        extra: "tile_size = 64\ntile_overlap = 16\n".into(),
        ..Options::default()
    });
    let whole = Daemon::start(Options::default());
    let img = photo_rgba8();
    let mask = gray8(img.width, img.height, |x, y| {
        if x > 50 && x < 400 && y > 20 && y < 280 {
            255
        } else {
            0
        }
    });
    for m in [None, Some(&mask)] {
        let a = run(
            &tiled,
            "invert",
            &img,
            m,
            json!({"params": {"amount": 0.8}}),
        );
        let b = run(
            &whole,
            "invert",
            &img,
            m,
            json!({"params": {"amount": 0.8}}),
        );
        assert_eq!(
            (a.x, a.y, a.image.width, a.image.height),
            (b.x, b.y, b.image.width, b.image.height)
        );
        assert_eq!(a.image.data, b.image.data);
    }
}

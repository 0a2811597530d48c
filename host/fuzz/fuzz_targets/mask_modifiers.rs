//! The mask modifiers (invert, grow/shrink, feather) on any small mask with any values,
//! including NaN and infinite coverage and feather radii; then its bounds and a crop.
#![no_main]
use arbitrary::Arbitrary;
use easel_imaging::{apply_modifiers, crop_mask, expand, mask_bounds, Mask, MaskModifiers};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    width: u8,
    height: u8,
    values: Vec<f32>,
    grow: i16,
    feather: f32,
    invert: bool,
    margin: u16,
}

fuzz_target!(|input: Input| {
    let (w, h) = (
        (input.width % 64) as u32 + 1,
        (input.height % 64) as u32 + 1,
    );
    let n = (w * h) as usize;
    let data: Vec<f32> = (0..n)
        .map(|i| {
            input
                .values
                .get(i % input.values.len().max(1))
                .copied()
                .unwrap_or(1.0)
        })
        .collect();
    let mut mask = Mask {
        width: w,
        height: h,
        data,
    };
    let m = MaskModifiers {
        grow: input.grow as i32,
        feather: input.feather,
        invert: input.invert,
    };
    apply_modifiers(&mut mask, &m);
    assert_eq!(mask.data.len(), n);
    if !m.is_identity() {
        assert!(
            mask.data.iter().all(|v| (0.0..=1.0).contains(v)),
            "coverage left 0..1 after {m:?}"
        );
    }
    if let Some(r) = mask_bounds(&mask, 0.0) {
        let r = expand(r, input.margin as u32, w, h);
        let c = crop_mask(&mask, r);
        assert_eq!(c.data.len(), (c.width * c.height) as usize);
    }
});

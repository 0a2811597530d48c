//! The learned path of object removal: pre- and post-processing around an MI-GAN-style
//! inpainting model that the host runs from its store (id `migan`).
//!
//! # Model contract
//! Inputs (both f32, NCHW, 512×512 fixed):
//! - `image` `[1, 3, 512, 512]`: the crop's RGB (sRGB-encoded, as in the working format) in
//!   0..1, resized to 512×512 with a triangle filter that averages known pixels only; pixels
//!   in the hole are set to 0 (the model must not rely on them).
//! - `mask` `[1, 1, 512, 512]`: 1 = keep (known), 0 = hole. A 512² pixel is hole when any hole
//!   pixel of the crop falls under its filter footprint, so the hole only grows by resizing.
//!
//! Output:
//! - `result` `[1, 3, 512, 512]`: RGB in 0..1 (clamped when outside). It is resized back to the
//!   crop's size and replaces the crop's RGB inside the hole only; alpha and every pixel outside
//!   the hole are kept exactly.
//!
//! The crop is resized to a square regardless of its aspect ratio (as MI-GAN's own pipeline
//! does with its fixed input size).

use easel_pixels::{resize_packed, Filter};
use easel_sdk::{ModelInfo, PluginError, Tensor};

/// The store id of the model.
pub const MODEL_ID: &str = "migan";
/// The model's fixed input and output side.
pub const SIZE: usize = 512;

/// What the model receives, planar.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInputs {
    /// `3 × SIZE × SIZE`, channel planes R, G, B.
    pub image: Vec<f32>,
    /// `SIZE × SIZE`, 1 = keep, 0 = hole.
    pub mask: Vec<f32>,
}

impl ModelInputs {
    /// The named tensors of the contract.
    pub fn into_tensors(self) -> Vec<Tensor> {
        let s = SIZE as i64;
        vec![
            Tensor::new("image", &[1, 3, s, s], self.image),
            Tensor::new("mask", &[1, 1, s, s], self.mask),
        ]
    }
}

/// Builds the model's inputs from an RGBA crop (4 floats per pixel) and its hole.
pub fn prepare(rgba: &[f32], w: usize, h: usize, hole: &[bool]) -> ModelInputs {
    // Premultiply by "known" so that hole colours do not bleed into known pixels when
    // resizing; the 4th channel carries the known weight itself.
    let mut known = Vec::with_capacity(w * h * 4);
    for i in 0..w * h {
        let k = if hole[i] { 0.0 } else { 1.0 };
        known.extend_from_slice(&[rgba[i * 4] * k, rgba[i * 4 + 1] * k, rgba[i * 4 + 2] * k, k]);
    }
    let hole_f: Vec<f32> = hole.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
    let resized = resize_packed(&known, (w, h), 4, (SIZE, SIZE), Filter::Bilinear);
    let hole_r = resize_packed(&hole_f, (w, h), 1, (SIZE, SIZE), Filter::Bilinear);
    let n = SIZE * SIZE;
    let mut image = vec![0.0f32; 3 * n];
    let mut mask = vec![0.0f32; n];
    for i in 0..n {
        let k = resized[i * 4 + 3];
        if hole_r[i] > 1e-6 || k <= 1e-6 {
            continue; // hole: mask 0, image 0
        }
        mask[i] = 1.0;
        for c in 0..3 {
            image[c * n + i] = (resized[i * 4 + c] / k).clamp(0.0, 1.0);
        }
    }
    ModelInputs { image, mask }
}

/// Checks that a store entry declares the contract's inputs and output.
pub fn check_signature(info: &ModelInfo) -> Result<(), PluginError> {
    let s = SIZE as i64;
    let fits = |have: &[i64], want: &[i64]| {
        have.len() == want.len() && have.iter().zip(want).all(|(&a, &b)| a == b || a < 0)
    };
    let wanted_in: [(&str, [i64; 4]); 2] = [("image", [1, 3, s, s]), ("mask", [1, 1, s, s])];
    for (name, shape) in wanted_in {
        match info.inputs.iter().find(|t| t.name.as_str() == name) {
            Some(t) if fits(t.shape.as_slice(), &shape) => {}
            Some(t) => {
                return Err(PluginError::model(format!(
                    "model '{MODEL_ID}' input '{name}' has shape {:?}, expected {shape:?}",
                    t.shape.as_slice()
                )))
            }
            None => {
                return Err(PluginError::model(format!(
                    "model '{MODEL_ID}' has no input '{name}' (expected inputs image and mask)"
                )))
            }
        }
    }
    match info.outputs.iter().find(|t| t.name.as_str() == "result") {
        Some(t) if fits(t.shape.as_slice(), &[1, 3, s, s]) => Ok(()),
        Some(t) => Err(PluginError::model(format!(
            "model '{MODEL_ID}' output 'result' has shape {:?}, expected [1, 3, {s}, {s}]",
            t.shape.as_slice()
        ))),
        None => Err(PluginError::model(format!(
            "model '{MODEL_ID}' has no output 'result'"
        ))),
    }
}

/// Finds the `result` tensor among the outputs and checks its size.
pub fn find_result(outputs: &[Tensor]) -> Result<&[f32], PluginError> {
    let t = outputs
        .iter()
        .find(|t| t.name.as_str() == "result")
        .ok_or_else(|| PluginError::model(format!("model '{MODEL_ID}' returned no 'result'")))?;
    let want = 3 * SIZE * SIZE;
    if t.data.len() != want {
        return Err(PluginError::model(format!(
            "model '{MODEL_ID}' returned {} values in 'result' (shape {:?}), expected 1×3×{SIZE}×{SIZE}",
            t.data.len(),
            t.shape.as_slice()
        )));
    }
    if t.data.iter().any(|v| !v.is_finite()) {
        return Err(PluginError::model(format!(
            "model '{MODEL_ID}' returned non-finite values"
        )));
    }
    Ok(t.data.as_slice())
}

/// Puts the model's planar `3 × SIZE × SIZE` result back into the RGBA crop: resized to the
/// crop's size, it replaces RGB inside the hole only.
pub fn merge(result: &[f32], rgba: &[f32], w: usize, h: usize, hole: &[bool]) -> Vec<f32> {
    let n = SIZE * SIZE;
    let mut interleaved = Vec::with_capacity(3 * n);
    for i in 0..n {
        interleaved.extend_from_slice(&[result[i], result[n + i], result[2 * n + i]]);
    }
    let back = resize_packed(&interleaved, (SIZE, SIZE), 3, (w, h), Filter::Bilinear);
    let mut out = rgba.to_vec();
    for i in 0..w * h {
        if hole[i] {
            for c in 0..3 {
                out[i * 4 + c] = back[i * 3 + c].clamp(0.0, 1.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_sdk::TensorSpec;

    fn crop(w: usize, h: usize) -> (Vec<f32>, Vec<bool>) {
        let mut rgba = Vec::with_capacity(w * h * 4);
        let mut hole = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let inside = (x as f32 - w as f32 / 2.0).abs() < w as f32 / 6.0
                    && (y as f32 - h as f32 / 2.0).abs() < h as f32 / 5.0;
                // The object is bright magenta; the background a gentle gradient.
                if inside {
                    rgba.extend_from_slice(&[1.0, 0.0, 1.0, 0.8]);
                } else {
                    rgba.extend_from_slice(&[x as f32 / w as f32, 0.4, y as f32 / h as f32, 0.8]);
                }
                hole.push(inside);
            }
        }
        (rgba, hole)
    }

    /// The reference graph of the test model: `image * mask + (1 - mask) * 0.5`.
    fn stub_model(inputs: &ModelInputs) -> Vec<f32> {
        let n = SIZE * SIZE;
        (0..3 * n)
            .map(|j| {
                let m = inputs.mask[j % n];
                inputs.image[j] * m + (1.0 - m) * 0.5
            })
            .collect()
    }

    #[test]
    fn inputs_follow_the_contract_and_hide_the_object() {
        for (w, h) in [(300, 200), (800, 900), (512, 512)] {
            let (rgba, hole) = crop(w, h);
            let inp = prepare(&rgba, w, h, &hole);
            assert_eq!(inp.image.len(), 3 * SIZE * SIZE);
            assert_eq!(inp.mask.len(), SIZE * SIZE);
            assert!(inp.mask.iter().all(|&m| m == 0.0 || m == 1.0));
            assert!(inp.image.iter().all(|&v| (0.0..=1.0).contains(&v)));
            // Every 512² pixel whose centre lies in the hole is masked.
            for y in 0..SIZE {
                for x in 0..SIZE {
                    let (sx, sy) = (x * w / SIZE, y * h / SIZE);
                    if hole[sy * w + sx] {
                        assert_eq!(inp.mask[y * SIZE + x], 0.0);
                    }
                }
            }
            // No magenta leaks into known pixels: green is 0.4 everywhere outside the hole.
            let n = SIZE * SIZE;
            for i in 0..n {
                if inp.mask[i] == 1.0 {
                    assert!(
                        (inp.image[n + i] - 0.4).abs() < 1e-4,
                        "green {}",
                        inp.image[n + i]
                    );
                } else {
                    assert_eq!(
                        [inp.image[i], inp.image[n + i], inp.image[2 * n + i]],
                        [0.0; 3]
                    );
                }
            }
            let hole_frac = hole.iter().filter(|&&b| b).count() as f32 / (w * h) as f32;
            let mask_frac = inp.mask.iter().filter(|&&m| m == 0.0).count() as f32 / n as f32;
            assert!(mask_frac >= hole_frac && mask_frac < hole_frac * 1.3 + 0.01);
        }
    }

    #[test]
    fn merging_replaces_only_the_hole() {
        let (w, h) = (300, 200);
        let (rgba, hole) = crop(w, h);
        let inp = prepare(&rgba, w, h, &hole);
        let result = stub_model(&inp);
        let out = merge(&result, &rgba, w, h, &hole);
        for i in 0..w * h {
            if hole[i] {
                // Deep inside the hole the stub model wrote 0.5 grey.
                let (x, y) = (i % w, i / w);
                if (x as i32 - 150).abs() < 40 && (y as i32 - 100).abs() < 30 {
                    assert!(out[i * 4..i * 4 + 3].iter().all(|v| (v - 0.5).abs() < 1e-4));
                }
                assert_eq!(out[i * 4 + 3], 0.8, "alpha kept");
            } else {
                assert_eq!(out[i * 4..i * 4 + 4], rgba[i * 4..i * 4 + 4]);
            }
        }
    }

    /// Our pre-processing → a real ONNX graph with the contract's signature, run by ONNX
    /// Runtime (through the repository's Python venv, since this crate does not link `ort`) →
    /// our post-processing. The graph is generated here by `scripts/migan_stub.py`.
    #[test]
    fn the_contract_round_trips_through_onnx_runtime() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("../../.venv/bin/python");
        if !python.exists() {
            println!(
                "skipped: {} is missing (see the preamble's venv)",
                python.display()
            );
            return;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("easel-migan-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (w, h) = (300, 200);
        let (rgba, hole) = crop(w, h);
        let inputs = prepare(&rgba, w, h, &hole);
        let raw = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        std::fs::write(dir.join("image.f32"), raw(&inputs.image)).unwrap();
        std::fs::write(dir.join("mask.f32"), raw(&inputs.mask)).unwrap();
        let status = std::process::Command::new(&python)
            .arg(root.join("scripts/migan_stub.py"))
            .arg(dir.join("migan.onnx"))
            .arg("--run")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "migan_stub.py failed");
        let bytes = std::fs::read(dir.join("result.f32")).unwrap();
        let result: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(
            result,
            stub_model(&inputs),
            "ONNX Runtime disagrees with the contract"
        );
        let tensors = vec![Tensor::new("result", &[1, 3, 512, 512], result)];
        let out = merge(find_result(&tensors).unwrap(), &rgba, w, h, &hole);
        for i in 0..w * h {
            if !hole[i] {
                assert_eq!(out[i * 4..i * 4 + 4], rgba[i * 4..i * 4 + 4]);
            }
        }
        let centre = (h / 2) * w + w / 2;
        assert!(out[centre * 4..centre * 4 + 3]
            .iter()
            .all(|v| (v - 0.5).abs() < 1e-4));
    }

    #[test]
    fn results_and_signatures_are_checked() {
        let bad = vec![Tensor::new("result", &[1, 3, 2, 2], vec![0.0; 12])];
        assert!(find_result(&bad)
            .unwrap_err()
            .message
            .contains("expected 1×3×512×512"));
        let unnamed = vec![Tensor::new(
            "out",
            &[1, 3, 512, 512],
            vec![0.0; 3 * SIZE * SIZE],
        )];
        assert!(find_result(&unnamed).is_err());
        let good = vec![Tensor::new(
            "result",
            &[1, 3, 512, 512],
            vec![0.25; 3 * SIZE * SIZE],
        )];
        assert_eq!(
            find_result(&good).map(|r| r.len()).ok(),
            Some(3 * SIZE * SIZE)
        );

        let spec = |name: &str, shape: &[i64]| TensorSpec {
            name: name.into(),
            shape: shape.iter().copied().collect(),
        };
        let mut info = ModelInfo {
            id: "migan".into(),
            inputs: vec![
                spec("image", &[1, 3, 512, 512]),
                spec("mask", &[-1, 1, 512, 512]),
            ]
            .into(),
            outputs: vec![spec("result", &[1, 3, 512, 512])].into(),
        };
        assert!(check_signature(&info).is_ok());
        info.inputs = vec![
            spec("image", &[1, 4, 512, 512]),
            spec("mask", &[1, 1, 512, 512]),
        ]
        .into();
        assert!(check_signature(&info).is_err());
        info.inputs = vec![spec("image", &[1, 3, 512, 512])].into();
        assert!(check_signature(&info)
            .unwrap_err()
            .message
            .contains("no input 'mask'"));
    }
}

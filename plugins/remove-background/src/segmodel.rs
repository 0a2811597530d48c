//! The segmentation models this plugin drives: their input and output contracts (see
//! `shared/models/README.md`), pre-processing into tensors and post-processing into a mask.

use easel_pixels::{resize_u8, Filter};
use easel_sdk::{PluginError, PluginResult, Tensor};

/// ImageNet statistics, as U²-Net was trained with.
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A model from the host's store that yields a foreground mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegModel {
    /// IS-Net (DIS) general, small: salient objects at 1024², best edges.
    IsnetGeneralSmall,
    /// U²-Net-p: salient objects at 320², small and quick.
    U2netp,
    /// MediaPipe Meet: people, real time, 256×144 NHWC.
    MediapipeMeet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Nchw,
    Nhwc,
}

impl SegModel {
    pub const ALL: [SegModel; 3] = [
        SegModel::IsnetGeneralSmall,
        SegModel::U2netp,
        SegModel::MediapipeMeet,
    ];

    /// The model's id in the host's store (also the parameter's option id).
    pub fn id(self) -> &'static str {
        match self {
            SegModel::IsnetGeneralSmall => "isnet-general-small",
            SegModel::U2netp => "u2netp",
            SegModel::MediapipeMeet => "mediapipe-meet",
        }
    }

    pub fn from_id(id: &str) -> Option<SegModel> {
        Self::ALL.into_iter().find(|m| m.id() == id)
    }

    /// The model's fixed input size, (width, height).
    pub fn input_size(self) -> (usize, usize) {
        match self {
            SegModel::IsnetGeneralSmall => (1024, 1024),
            SegModel::U2netp => (320, 320),
            SegModel::MediapipeMeet => (256, 144),
        }
    }

    fn layout(self) -> Layout {
        match self {
            SegModel::MediapipeMeet => Layout::Nhwc,
            _ => Layout::Nchw,
        }
    }

    pub fn input_name(self) -> &'static str {
        match self {
            SegModel::IsnetGeneralSmall => "input",
            SegModel::U2netp => "input.1",
            SegModel::MediapipeMeet => "input_1:0",
        }
    }

    /// The one output this plugin asks for (the others are side outputs).
    pub fn output_name(self) -> &'static str {
        match self {
            SegModel::IsnetGeneralSmall => "output",
            SegModel::U2netp => "1959",
            SegModel::MediapipeMeet => "segment:0",
        }
    }

    pub fn input_shape(self) -> [i64; 4] {
        let (w, h) = self.input_size();
        let (w, h) = (w as i64, h as i64);
        match self.layout() {
            Layout::Nchw => [1, 3, h, w],
            Layout::Nhwc => [1, h, w, 3],
        }
    }

    pub fn output_shape(self) -> [i64; 4] {
        let (w, h) = self.input_size();
        let (w, h) = (w as i64, h as i64);
        match self {
            SegModel::MediapipeMeet => [1, h, w, 2],
            _ => [1, 1, h, w],
        }
    }

    /// The model's input tensor from a packed RGB image in 0..1 (`width`×`height`).
    ///
    /// Each model's image is shrunk or enlarged as its reference pipeline does it, to 8 bits as
    /// there (benches/reference_parity.py measures ours against each): these quantised models
    /// move their masks on sub-pixel and sub-ulp changes of their input (a triangle filter
    /// instead of rembg's Lanczos moved U²-Net's mask by IoU 0.81 on a fixture photo, pixel
    /// centres instead of imgly's corner grid IS-Net's by IoU 0.93), so only the reference's own
    /// resampling reproduces their masks.
    pub fn input_tensor(self, rgb: &[f32], width: usize, height: usize) -> Tensor {
        let (mw, mh) = self.input_size();
        let size = (width, height);
        let data = match self {
            // rembg `BaseSession.normalize`: Pillow's 8-bit Lanczos, by the max, ImageNet.
            SegModel::U2netp => {
                let mut small = lanczos_u8(rgb, size, 3, (mw, mh));
                normalize_imagenet_by_max(&mut small);
                hwc_to_chw(&small, mw, mh, 3)
            }
            // @imgly/background-removal-node `runInference`: `tensorResizeBilinear` (corner
            // grid, 8 bits) and `tensorHWCtoBCHW`, (x − 128) / 256 on the 8-bit values.
            SegModel::IsnetGeneralSmall => {
                let mut small = bilinear_u8(rgb, size, 3, (mw, mh), Grid::Corner);
                normalize_isnet(&mut small);
                hwc_to_chw(&small, mw, mh, 3)
            }
            // obs-backgroundremoval `runFilterModelInference`: `cv::resize` (INTER_LINEAR) of
            // the 8-bit RGB image, then `Model::prepareInputToNetwork`, x / 255; NHWC.
            SegModel::MediapipeMeet => {
                let mut small = bilinear_u8(rgb, size, 3, (mw, mh), Grid::Centre);
                for v in &mut small {
                    *v /= 255.0;
                }
                small
            }
        };
        Tensor::new(self.input_name(), &self.input_shape(), data)
    }

    /// The foreground mask in 0..1 at the model's input size, from its output tensor.
    pub fn mask_from_output(self, output: &Tensor) -> PluginResult<Vec<f32>> {
        let want = self.output_shape();
        let shape: &[i64] = output.shape.as_slice();
        let count: i64 = want.iter().product();
        if shape != want || output.data.len() as i64 != count {
            return Err(PluginError::model(format!(
                "model '{}' returned output '{}' with shape {:?} ({} values), expected {:?}",
                self.id(),
                output.name,
                shape,
                output.data.len(),
                want
            )));
        }
        let data: &[f32] = output.data.as_slice();
        if data.iter().any(|v| !v.is_finite()) {
            return Err(PluginError::model(format!(
                "model '{}' returned non-finite values in output '{}'",
                self.id(),
                output.name
            )));
        }
        Ok(match self {
            SegModel::IsnetGeneralSmall => data.iter().map(|v| v.clamp(0.0, 1.0)).collect(),
            SegModel::U2netp => min_max_normalize(data),
            SegModel::MediapipeMeet => softmax_channel(data, 2, 1),
        })
    }
}

impl SegModel {
    /// The mask at the image's size (`width`×`height`) from the model-sized mask in 0..1, as
    /// each reference does it: to 8 bits, then resampled (the result is in multiples of 1/255).
    /// U²-Net's as rembg's `U2netpSession.predict` (truncated, Pillow's Lanczos); IS-Net's as
    /// imgly's `convertFloat32ToUint8` (truncated: stored into a `Uint8Array`) and
    /// `tensorResizeBilinear`; MediaPipe's as obs-backgroundremoval (`convertTo(CV_8U, 255)`,
    /// rounded, then `cv::resize` INTER_LINEAR in the filter).
    pub fn mask_to_size(self, small: &[f32], width: usize, height: usize) -> Vec<f32> {
        let (mw, mh) = self.input_size();
        let truncated = |v: f32| (v.clamp(0.0, 1.0) * 255.0).floor() / 255.0;
        match self {
            SegModel::U2netp => {
                let q: Vec<f32> = small.iter().map(|&v| truncated(v)).collect();
                lanczos_u8(&q, (mw, mh), 1, (width, height))
            }
            SegModel::IsnetGeneralSmall => {
                let q: Vec<f32> = small.iter().map(|&v| truncated(v)).collect();
                let out = bilinear_u8(&q, (mw, mh), 1, (width, height), Grid::Corner);
                out.iter().map(|&v| v / 255.0).collect()
            }
            SegModel::MediapipeMeet => {
                let out = bilinear_u8(small, (mw, mh), 1, (width, height), Grid::Centre);
                out.iter().map(|&v| v / 255.0).collect()
            }
        }
    }
}

/// Where a two-tap bilinear resize reads its source (see [`bilinear_u8`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    /// Pixel centres: output `x` reads source `(x + 0.5)·s − 0.5`, clamped to the image
    /// (OpenCV's `cv::resize` with `INTER_LINEAR`).
    Centre,
    /// Corners: output `x` reads source `x·s` (`tensorResizeBilinear` of
    /// @imgly/background-removal-node 1.4.5, `dist/index.cjs`).
    Corner,
}

/// The two source indices and the weight of the second along one axis, per output index.
fn bilinear_taps(src: usize, dst: usize, grid: Grid) -> Vec<(usize, usize, f64)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|x| {
            let f = match grid {
                Grid::Centre => ((x as f64 + 0.5) * scale - 0.5).max(0.0),
                Grid::Corner => x as f64 * scale,
            };
            let i0 = (f.floor() as usize).min(src - 1);
            let i1 = (i0 + 1).min(src - 1);
            let w = if i1 == i0 { 0.0 } else { f - i0 as f64 };
            (i0, i1, w)
        })
        .collect()
}

/// Two-tap bilinear resize without a stretched kernel (shrinking reads the two nearest source
/// samples on each axis, as OpenCV's `INTER_LINEAR` and imgly's resizer do), from packed
/// values in 0..1 that are first rounded to 8 bits; returns 8-bit values as f32 (0..255,
/// whole numbers), each rounded half up from the f64 sum `Σ wy·wx·v` (JavaScript's
/// `Math.round`; OpenCV's fixed point rounds half up too and differs by at most 1).
pub fn bilinear_u8(
    src: &[f32],
    (width, height): (usize, usize),
    channels: usize,
    (dst_width, dst_height): (usize, usize),
    grid: Grid,
) -> Vec<f32> {
    assert_eq!(src.len(), width * height * channels, "bilinear_u8: size");
    if width == 0 || height == 0 {
        return vec![0.0; dst_width * dst_height * channels];
    }
    // Rounded to 8 bits once per sample when enlarging (a small source, read many times), only
    // where the taps read when shrinking (a 24 MP photo shrunk to 256×144: 0.4 M of 72 M).
    let to_8bit = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round();
    let enlarging = src.len() <= 4 * dst_width * dst_height * channels;
    let rounded: Vec<f32> = if enlarging {
        src.iter().map(|&v| to_8bit(v)).collect()
    } else {
        Vec::new()
    };
    let img = |i: usize| {
        if enlarging {
            rounded[i]
        } else {
            to_8bit(src[i])
        }
    };
    let xs = bilinear_taps(width, dst_width, grid);
    let ys = bilinear_taps(height, dst_height, grid);
    let mut out = Vec::with_capacity(dst_width * dst_height * channels);
    for &(y0, y1, dy) in &ys {
        let (r0, r1) = (y0 * width, y1 * width);
        for &(x0, x1, dx) in &xs {
            for c in 0..channels {
                let at = |r: usize, x: usize| f64::from(img((r + x) * channels + c));
                let v = (1.0 - dx) * (1.0 - dy) * at(r0, x0)
                    + dx * (1.0 - dy) * at(r0, x1)
                    + (1.0 - dx) * dy * at(r1, x0)
                    + dx * dy * at(r1, x1);
                // v ≥ 0, so truncating v + 0.5 is its floor (without a libm call).
                out.push(((v + 0.5) as i64).clamp(0, 255) as f32);
            }
        }
    }
    out
}

/// Resizes like Pillow's `Image.resize(size, Image.LANCZOS)` on an 8-bit image: values in 0..1
/// are rounded to 8 bits, resampled with Pillow's arithmetic ([`easel_pixels::resize_u8`]) and
/// returned in 0..1 (exact multiples of 1/255). rembg prepares U²-Net's input and resizes its
/// mask back this way.
pub fn lanczos_u8(
    src: &[f32],
    size: (usize, usize),
    channels: usize,
    dst_size: (usize, usize),
) -> Vec<f32> {
    let img: Vec<u8> = src
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    resize_u8(&img, size, channels, dst_size, Filter::Lanczos3)
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect()
}

/// IS-Net's normalisation: `(x − 128) / 256` on 8-bit values (0..255, exact in f32 as in
/// imgly's `tensorHWCtoBCHW`).
pub fn normalize_isnet(rgb: &mut [f32]) {
    for v in rgb {
        *v = (*v - 128.0) / 256.0;
    }
}

/// U²-Net's normalisation (as rembg does it): divide by the image's maximum, then ImageNet
/// mean and standard deviation per channel. `rgb` is packed RGB.
pub fn normalize_imagenet_by_max(rgb: &mut [f32]) {
    let max = rgb.iter().fold(0.0f32, |m, &v| m.max(v)).max(1e-6);
    for px in rgb.chunks_exact_mut(3) {
        for c in 0..3 {
            px[c] = (px[c] / max - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        }
    }
}

/// Interleaved (HWC) to planar (CHW).
pub fn hwc_to_chw(hwc: &[f32], width: usize, height: usize, channels: usize) -> Vec<f32> {
    let plane = width * height;
    let mut chw = vec![0.0f32; plane * channels];
    for (i, px) in hwc.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            chw[c * plane + i] = v;
        }
    }
    chw
}

/// Softmax over groups of `k` consecutive logits (the last axis); returns channel `channel`.
pub fn softmax_channel(logits: &[f32], k: usize, channel: usize) -> Vec<f32> {
    logits
        .chunks_exact(k)
        .map(|group| {
            // Subtracting the maximum keeps exp() from overflowing on large logits.
            let max = group.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let sum: f32 = group.iter().map(|&v| (v - max).exp()).sum();
            (group[channel] - max).exp() / sum
        })
        .collect()
}

/// Stretches values to 0..1; a constant input (no contrast to stretch) is only clamped.
pub fn min_max_normalize(values: &[f32]) -> Vec<f32> {
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = hi - lo;
    if range.is_nan() || range <= 1e-12 {
        return values.iter().map(|v| v.clamp(0.0, 1.0)).collect();
    }
    values.iter().map(|&v| (v - lo) / range).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanczos_u8_keeps_constants_and_same_size_rounds_only() {
        let src = vec![0.4f32; 9 * 7 * 3];
        let out = lanczos_u8(&src, (9, 7), 3, (4, 13));
        let want = (0.4f32 * 255.0).round() / 255.0;
        assert!(out.iter().all(|&v| (v - want).abs() < 1e-6));
        let same = lanczos_u8(&[0.5, 0.25], (2, 1), 1, (2, 1));
        assert_eq!(same, vec![128.0 / 255.0, 64.0 / 255.0]);
    }

    #[test]
    fn ids_round_trip_and_shapes_match_the_contracts() {
        for m in SegModel::ALL {
            assert_eq!(SegModel::from_id(m.id()), Some(m));
        }
        assert_eq!(SegModel::from_id("u2net"), None);
        assert_eq!(
            SegModel::IsnetGeneralSmall.input_shape(),
            [1, 3, 1024, 1024]
        );
        assert_eq!(SegModel::U2netp.output_shape(), [1, 1, 320, 320]);
        assert_eq!(SegModel::MediapipeMeet.input_shape(), [1, 144, 256, 3]);
        assert_eq!(SegModel::MediapipeMeet.output_shape(), [1, 144, 256, 2]);
    }

    #[test]
    fn isnet_normalisation_maps_0_128_255() {
        let mut v = [0.0, 128.0, 255.0];
        normalize_isnet(&mut v);
        assert!((v[0] + 0.5).abs() < 1e-6);
        assert!(v[1].abs() < 1e-6);
        assert!((v[2] - 127.0 / 256.0).abs() < 1e-6);
    }

    #[test]
    fn imagenet_normalisation_divides_by_the_image_max_first() {
        // Max is 0.5, so 0.5 reads as 1.0 and 0.25 as 0.5.
        let mut v = [0.5, 0.25, 0.0, 0.0, 0.0, 0.0];
        normalize_imagenet_by_max(&mut v);
        assert!((v[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((v[1] - (0.5 - 0.456) / 0.224).abs() < 1e-5);
        assert!((v[2] - (0.0 - 0.406) / 0.225).abs() < 1e-5);
        assert!((v[3] - (0.0 - 0.485) / 0.229).abs() < 1e-5);
    }

    #[test]
    fn planar_conversion_puts_each_channel_in_its_plane() {
        let hwc = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            hwc_to_chw(&hwc, 2, 1, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }

    #[test]
    fn softmax_is_stable_and_picks_the_channel() {
        let p = softmax_channel(&[0.0, 0.0, 1000.0, 0.0, 0.0, 1000.0, 1.0, 3.0], 2, 1);
        assert!((p[0] - 0.5).abs() < 1e-6);
        assert!(p[1].abs() < 1e-6);
        assert!((p[2] - 1.0).abs() < 1e-6);
        let want = 1.0 / (1.0 + (-2.0f32).exp());
        assert!((p[3] - want).abs() < 1e-6);
    }

    #[test]
    fn min_max_stretches_and_leaves_constants_alone() {
        assert_eq!(min_max_normalize(&[2.0, 3.0, 4.0]), vec![0.0, 0.5, 1.0]);
        assert_eq!(min_max_normalize(&[0.7, 0.7]), vec![0.7, 0.7]);
    }

    #[test]
    fn input_tensors_have_the_declared_shape_and_layout() {
        // A pure red 10×6 image: in NCHW the red plane comes first, in NHWC every third value.
        let rgb: Vec<f32> = (0..60).flat_map(|_| [1.0, 0.0, 0.0]).collect();
        let t = SegModel::U2netp.input_tensor(&rgb, 10, 6);
        assert_eq!(t.name.as_str(), "input.1");
        assert_eq!(t.shape.as_slice(), &[1, 3, 320, 320]);
        let plane = 320 * 320;
        assert!((t.data[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((t.data[plane] - (0.0 - 0.456) / 0.224).abs() < 1e-5);
        let t = SegModel::MediapipeMeet.input_tensor(&rgb, 10, 6);
        assert_eq!(t.data.len(), 144 * 256 * 3);
        assert_eq!(&t.data[..6], &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        let t = SegModel::IsnetGeneralSmall.input_tensor(&rgb, 10, 6);
        assert_eq!(t.shape.as_slice(), &[1, 3, 1024, 1024]);
        assert!((t.data[0] - 127.0 / 256.0).abs() < 1e-6);
    }

    #[test]
    fn wrong_output_shapes_are_model_errors_that_name_model_and_shape() {
        let bad = Tensor::new("1959", &[1, 1, 320, 321], vec![0.0; 320 * 321]);
        let err = SegModel::U2netp.mask_from_output(&bad).unwrap_err();
        assert_eq!(err.kind, easel_sdk::ErrorKind::Model);
        assert!(err.message.contains("u2netp"), "{err}");
        assert!(err.message.contains("[1, 1, 320, 321]"), "{err}");
        // Right shape, wrong amount of data.
        let short = Tensor::new("output", &[1, 1, 1024, 1024], vec![0.0; 10]);
        assert!(SegModel::IsnetGeneralSmall
            .mask_from_output(&short)
            .is_err());
    }

    #[test]
    fn each_model_resamples_as_its_reference() {
        // A hard vertical edge: Lanczos overshoots (8-bit clipped); and a U²-Net mask comes
        // back truncated to 8 bits.
        let rgb: Vec<f32> = (0..40 * 30)
            .flat_map(|i| if i % 40 < 20 { [0.2; 3] } else { [0.8; 3] })
            .collect();
        let t = SegModel::U2netp.input_tensor(&rgb, 40, 30);
        let row: Vec<f32> = t.data[..320].to_vec();
        let (lo, hi) = row
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        // By the max (0.8 → 1.0), then ImageNet's red statistics: 0.25 and 1.0 without ringing.
        let (flat_lo, flat_hi) = ((0.25 - 0.485) / 0.229, (1.0 - 0.485) / 0.229);
        assert!(lo < flat_lo - 0.01 && hi > flat_hi - 1e-4, "{lo} {hi}");
        let small = vec![0.5f32; 320 * 320];
        let m = SegModel::U2netp.mask_to_size(&small, 50, 40);
        assert!(m.iter().all(|&v| (v - 127.0 / 255.0).abs() < 1e-6));
        // IS-Net's is truncated too (imgly's Uint8Array), MediaPipe's rounded (OpenCV's
        // convertTo).
        let m = SegModel::IsnetGeneralSmall.mask_to_size(&vec![0.5; 1024 * 1024], 50, 40);
        assert!(m.iter().all(|&v| (v - 127.0 / 255.0).abs() < 1e-6));
        let m = SegModel::MediapipeMeet.mask_to_size(&vec![0.5; 256 * 144], 50, 40);
        assert!(m.iter().all(|&v| (v - 128.0 / 255.0).abs() < 1e-6));
        // Two-tap bilinear on the edge: no overshoot, 8-bit steps; IS-Net's input values are
        // (k − 128) / 256 for whole k.
        let t = SegModel::IsnetGeneralSmall.input_tensor(&rgb, 40, 30);
        for &v in &t.data[..1024] {
            let k = v * 256.0 + 128.0;
            assert!((51.0..=204.0).contains(&k) && k.fract() == 0.0, "{v}");
        }
    }

    #[test]
    fn bilinear_u8_matches_opencv_and_imgly() {
        // Values printed by cv2.resize(INTER_LINEAR) (OpenCV 5.0) and by imgly's
        // tensorResizeBilinear formula for the row [0, 100, 200, 255] (and a flat second row).
        let row = [0.0, 100.0, 200.0, 255.0, 50.0, 50.0, 50.0, 50.0].map(|v: f32| v / 255.0);
        let first = |out: Vec<f32>, w: usize| out[..w].to_vec();
        let cv8 = bilinear_u8(&row, (4, 2), 1, (8, 2), Grid::Centre);
        assert_eq!(first(cv8, 8), [0., 25., 75., 125., 175., 214., 241., 255.]);
        let cv3 = bilinear_u8(&row, (4, 2), 1, (3, 2), Grid::Centre);
        assert_eq!(first(cv3, 3), [17., 150., 246.]);
        let rows = bilinear_u8(&row, (4, 2), 1, (4, 3), Grid::Centre);
        assert_eq!([rows[0], rows[4], rows[8]], [0., 25., 50.]);
        assert_eq!([rows[2], rows[6], rows[10]], [200., 125., 50.]);
        let js8 = bilinear_u8(&row, (4, 2), 1, (8, 2), Grid::Corner);
        assert_eq!(first(js8, 8), [0., 50., 100., 150., 200., 228., 255., 255.]);
        let js3 = bilinear_u8(&row, (4, 2), 1, (3, 2), Grid::Corner);
        assert_eq!(first(js3, 3), [0., 133., 237.]);
        // Constants stay, channels stay apart, empty sources give zeros.
        let rgb: Vec<f32> = (0..5 * 3).flat_map(|_| [0.2, 0.4, 0.6]).collect();
        let out = bilinear_u8(&rgb, (5, 3), 3, (7, 2), Grid::Corner);
        assert!(out.chunks(3).all(|p| p == [51.0, 102.0, 153.0]));
        assert_eq!(
            bilinear_u8(&[], (0, 0), 1, (2, 2), Grid::Centre),
            vec![0.0; 4]
        );
    }

    #[test]
    fn mediapipe_output_becomes_person_probability() {
        let n = 144 * 256;
        let logits: Vec<f32> = (0..n)
            .flat_map(|i| if i == 0 { [0.0, 4.0] } else { [4.0, 0.0] })
            .collect();
        let t = Tensor::new("segment:0", &[1, 144, 256, 2], logits);
        let mask = SegModel::MediapipeMeet.mask_from_output(&t).unwrap();
        assert_eq!(mask.len(), n);
        assert!(mask[0] > 0.98 && mask[1] < 0.02);
    }
}

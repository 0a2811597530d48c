//! The segmentation models this plugin drives: their input and output contracts (see
//! `shared/models/README.md`), pre-processing into tensors and post-processing into a mask.

use easel_pixels::{resize_packed, resize_u8, Filter};
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
    pub fn input_tensor(self, rgb: &[f32], width: usize, height: usize) -> Tensor {
        let (mw, mh) = self.input_size();
        // U²-Net is very sensitive to how its input was shrunk (a triangle filter instead of
        // rembg's Lanczos moved its mask by IoU 0.81 on a fixture photo): resample as its
        // reference does, Pillow's 8-bit Lanczos (rembg `BaseSession.normalize`).
        let mut small = match self {
            SegModel::U2netp => lanczos_u8(rgb, (width, height), 3, (mw, mh)),
            _ => resize_packed(rgb, (width, height), 3, (mw, mh), Filter::Bilinear),
        };
        for v in &mut small {
            *v = v.clamp(0.0, 1.0);
        }
        match self {
            SegModel::IsnetGeneralSmall => normalize_isnet(&mut small),
            SegModel::U2netp => normalize_imagenet_by_max(&mut small),
            SegModel::MediapipeMeet => {}
        }
        let data = match self.layout() {
            Layout::Nchw => hwc_to_chw(&small, mw, mh, 3),
            Layout::Nhwc => small,
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
    /// The mask at the image's size (`width`×`height`) from the model-sized mask in 0..1.
    /// U²-Net's as rembg does it (`U2netpSession.predict`): to 8 bits by truncation, then
    /// Pillow's Lanczos; the others with the smooth triangle filter.
    pub fn mask_to_size(self, small: &[f32], width: usize, height: usize) -> Vec<f32> {
        let (mw, mh) = self.input_size();
        match self {
            SegModel::U2netp => {
                let q: Vec<f32> = small
                    .iter()
                    .map(|&v| (v.clamp(0.0, 1.0) * 255.0).floor() / 255.0)
                    .collect();
                lanczos_u8(&q, (mw, mh), 1, (width, height))
            }
            _ => resize_packed(small, (mw, mh), 1, (width, height), Filter::Bilinear),
        }
    }
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

/// IS-Net's normalisation: `(x − 128) / 256` on 0..255 values, given 0..1 values.
pub fn normalize_isnet(rgb: &mut [f32]) {
    for v in rgb {
        *v = (*v * 255.0 - 128.0) / 256.0;
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
        let mut v = [0.0, 128.0 / 255.0, 1.0];
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
    fn u2netp_resamples_as_rembg_and_the_others_smoothly() {
        // A hard vertical edge: Lanczos overshoots (8-bit clipped), the triangle filter does
        // not; and a U²-Net mask comes back truncated to 8 bits.
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
        let m = SegModel::IsnetGeneralSmall.mask_to_size(&vec![0.5; 1024 * 1024], 50, 40);
        assert!(m.iter().all(|&v| (v - 0.5).abs() < 1e-6));
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

//! easel-pixels: the pure pixel kernels that the host and the plugins share, so each exists once.
//!
//! - [`resample`]: one separable resampler for interleaved f32 planes (any number of channels,
//!   packed or with an explicit row stride) and for 8-bit images with Pillow's arithmetic,
//!   with the filters [`Filter::Nearest`], [`Filter::Area`], [`Filter::Bilinear`],
//!   [`Filter::CatmullRom`] and [`Filter::Lanczos3`]; antialiased when shrinking
//!   ([`resize`]) or plain interpolation ([`interpolate`]); plus the exact 2×2 block mean.
//! - [`box_mean`]: the mean over a square window clipped to the image, O(1) per pixel, on one
//!   thread or several (the same result).
//! - [`pad`]: half-sample symmetric mirror padding and push-pull filling of uncovered pixels.
//! - [`tiling`]: overlapping spans along an axis, the part each owns, and a planar blender: the
//!   host tiles jobs with it, plugins tile model calls.
//!
//! Everything here is a plain function over slices: no I/O, no allocation beyond the output and
//! scratch, no dependency, no `unsafe`. Plugins may depend on this crate (and on `easel-sdk`);
//! `easel-imaging` builds its mask resizing on it.

pub mod box_mean;
pub mod pad;
pub mod resample;
pub mod tiling;

pub use box_mean::{box_mean, box_mean_in_place, box_mean_in_place_threads};
pub use pad::{fill_uncovered, mirror_index, pad_mirror_planar};
pub use resample::{
    halve_planar, interpolate, resize, resize_packed, resize_u8, Filter, Plane, PlaneError,
};

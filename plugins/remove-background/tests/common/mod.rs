//! Helpers shared by this crate's integration tests (the host is the SDK's `TestHost`).
#![allow(dead_code)] // each test binary uses a different part

use easel_sdk::prelude::*;
pub use easel_sdk::testing::TestHost;

pub fn choice(v: &str) -> ParamValue {
    ParamValue::choice(v)
}

/// Packed RGBA f32 samples of an operation's result.
pub fn rgba(buf: &ImageBuf) -> Vec<f32> {
    buf.view().to_rgba_f32()
}

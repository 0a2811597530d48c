//! Enhance: learned ×4 and ×2 upscaling (Real-ESRGAN, Swin2SR) and low-light enhancement that
//! keeps full-resolution detail.
//!
//! The host runs the models (`host.run_model`); this crate does the pre- and post-processing:
//! padding and tiling for the super-resolution models ([`upscale`]), and for the fixed-size
//! low-light models a gain map carried back to full resolution by a guided filter
//! ([`lowlight`]). Resampling, box means, padding, hole filling and tiling are `easel-pixels`'.

pub mod lowlight;
pub mod upscale;

pub use lowlight::{FixLowLight, LowLightModel};
pub use upscale::{SrModel, Upscale};

easel_sdk::export_plugin! {
    name: "enhance",
    version: env!("CARGO_PKG_VERSION"),
    operations: || vec![
        easel_sdk::boxed_operation(Upscale::X4),
        easel_sdk::boxed_operation(Upscale::X2),
        easel_sdk::boxed_operation(FixLowLight),
    ],
}

//! Classical image operations: exemplar-based (PatchMatch) object removal, scribble colorization, colour transfer
//!
//! Plugin `classic` provides three operations written against `easel-sdk` (resampling from the
//! pure `easel-pixels`):
//! - `remove-object` ([`ops::RemoveObject`]): multi-scale PatchMatch inpainting
//!   ([`inpaint`]), or the `migan` model from the host's store ([`inpaint::migan`]).
//! - `colorize-scribbles` ([`ops::ColorizeScribbles`]): Levin et al.'s colorization by
//!   optimisation ([`colorize`]), solved by multigrid-preconditioned CG ([`multigrid`]).
//! - `match-look` ([`ops::MatchLook`]): Reinhard et al.'s colour transfer in CIELAB or Oklab
//!   ([`match_look`]).
//!
//! The algorithms are plain functions over packed f32 buffers (progress and cancellation come
//! in through [`control::Control`]), so tests and `examples/inpaint_cli.rs` call them directly.

pub mod color;
pub mod colorize;
pub mod control;
pub mod inpaint;
pub mod match_look;
pub mod multigrid;
pub mod ops;

#[cfg(test)]
mod testutil;

easel_sdk::export_plugin! {
    name: "classic",
    version: env!("CARGO_PKG_VERSION"),
    operations: || vec![
        easel_sdk::boxed_operation(ops::RemoveObject),
        easel_sdk::boxed_operation(ops::ColorizeScribbles),
        easel_sdk::boxed_operation(ops::MatchLook),
    ],
}

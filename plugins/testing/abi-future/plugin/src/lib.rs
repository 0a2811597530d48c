//! Test plugin built against `../sdk-future`, an easel-sdk with values this daemon does not
//! know: a `Color` parameter kind, an `Rgb565` pixel format and a `Busy` error kind. The daemon
//! must load it, offer what it can describe, refuse the rest with a reason and never panic:
//!
//! - `future-echo` declares option titles: offered and runs;
//! - `future-tint` has a `Color` parameter: not offered (the reason names the kind);
//! - `future-rgb565` works in `Rgb565`: not offered (the reason names the format);
//! - `future-busy` fails with `Busy`: reported as the plugin's fault, naming the kind.

use easel_sdk::prelude::*;
use easel_sdk::{ParamKind, ParamType};

/// Which of the operations this is.
#[derive(Clone, Copy)]
pub enum Future {
    Echo,
    Tint,
    Rgb565,
    Busy,
}

impl Operation for Future {
    fn descriptor(&self) -> OperationDescriptor {
        let d = |id: &str, title: &str| {
            OperationDescriptor::new(id, title, "Testing", "Built against a future easel-sdk")
                .working_format(PixelFormat::Rgba8)
        };
        match self {
            Future::Echo => d("future-echo", "Echo (future plugin)").param(ParamSpec::choice(
                "mode",
                "Mode",
                "Ignored",
                &["a", "b"],
                "a",
            )),
            Future::Tint => d("future-tint", "Tint (future plugin)").param(ParamSpec::new(
                "tint",
                "Tint",
                "A color parameter, a kind a later SDK adds",
                ParamKind::color([1.0, 0.5, 0.0, 1.0]),
            )),
            Future::Rgb565 => d("future-rgb565", "RGB565 (future plugin)")
                .working_format(PixelFormat::Rgb565),
            Future::Busy => d("future-busy", "Busy (future plugin)"),
        }
    }

    fn run(&self, job: &Job<'_>, _host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        match self {
            Future::Busy => RResult::RErr(PluginError::new(ErrorKind::Busy, "try again later")),
            _ => RResult::ROk(job.image.to_packed()),
        }
    }

    fn option_titles(&self, param: RStr<'_>) -> RVec<RString> {
        match (self, param.as_str()) {
            (Future::Echo, "mode") => vec!["Mode A".into(), "Mode B".into()].into(),
            _ => RVec::new(),
        }
    }
}

/// The kind tag `future-tint` declares, for the test's messages.
pub const COLOR: ParamType = ParamType::Color;

easel_sdk::export_plugin! {
    name: "testing-abi-future",
    version: env!("CARGO_PKG_VERSION"),
    operations: || {
        [Future::Echo, Future::Tint, Future::Rgb565, Future::Busy]
            .into_iter()
            .map(easel_sdk::boxed_operation)
            .collect::<Vec<_>>()
    },
}

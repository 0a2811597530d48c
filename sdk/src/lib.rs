//! easel-sdk: the stable ABI between the Easel daemon and its plugins — boundary types and
//! traits only, no I/O.
//!
//! A plugin is a `cdylib` that exports one [`PluginMod`] root module. The host loads it inside a
//! supervised worker process, checks its layout (abi_stable does) and its [`ABI_VERSION`], then
//! asks it for its operations. Every job arrives as a [`Job`] (image, soft mask, reference images,
//! parameters) and returns an [`ImageBuf`]; models, progress, cancellation and logging go through
//! the [`Host`] it is given.
//!
//! # Writing a plugin
//! A `cdylib` crate depending on `easel-sdk` and `abi_stable` (the export macro's generated code
//! names `::abi_stable`):
//! ```ignore
//! use easel_sdk::prelude::*;
//!
//! struct Invert;
//! impl Operation for Invert {
//!     fn descriptor(&self) -> OperationDescriptor {
//!         OperationDescriptor::new("invert", "Invert colors", "Color", "Inverts RGB, keeps alpha")
//!             .param(ParamSpec::float("amount", "Amount", "How far to invert", (0.0, 1.0), 1.0, 0.05))
//!     }
//!     fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
//!         invert(job, host).into() // the body returns Result, so `?` works
//!     }
//! }
//!
//! easel_sdk::export_plugin! {
//!     name: "example-invert",
//!     version: env!("CARGO_PKG_VERSION"),
//!     operations: || vec![easel_sdk::boxed_operation(Invert)],
//! }
//! ```
//! `docs/plugins.md` is the full guide; `plugins/examples/invert` is a complete plugin that the
//! tests build and load.

// abi_stable 0.11's sabi_trait macro emits impls that newer rustc flags as non-local.
#![allow(non_local_definitions)]

pub mod error;
pub mod host;
pub mod image;
pub mod op;
pub mod params;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use abi_stable;
pub use error::{ErrorKind, PluginError, PluginResult};
pub use host::{
    Host, HostExt, HostServices, HostServices_TO, LogLevel, ModelInfo, Tensor, TensorSpec,
};
pub use image::{ImageBuf, ImageLayout, ImageView, PixelFormat};
pub use op::{flags, Job, MaskUse, Operation, OperationBox, OperationDescriptor, Operation_TO};
pub use params::{
    AppliesWhen, Kind, Param, ParamKind, ParamSpec, ParamType, ParamValue, Params, Value,
};

/// How many threads a plugin's own work may use: the CPU budget the daemon gives each worker
/// (`EASEL_THREADS`, the machine's cores shared among the workers), else the machine's
/// parallelism; at most 8 either way. Model runs are the daemon's and have their own threads.
pub fn thread_budget() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::env::var("EASEL_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(cores)
        .clamp(1, 8)
}

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    sabi_types::VersionStrings,
    std_types::{RBox, RResult, RString, RVec},
    StableAbi,
};

/// The Easel plugin ABI this SDK speaks. Bumped only for a change a built plugin cannot survive
/// (a changed layout or meaning); additions (a new pixel format, parameter kind or error kind
/// constant, a new trait method with a default) keep it. The host refuses other versions.
///
/// ABI 1 was the first SDK, whose enums and root-module version (the crate version, 0.1.x) could
/// not grow; ABI-1 plugins are refused with a reason that says to rebuild them.
pub const ABI_VERSION: u32 = 2;

/// The root module's version for abi_stable's check, `"<ABI_VERSION>.0.0"`: abi_stable refuses
/// a library whose major version differs, so a plugin of another ABI is refused before its
/// layout is even looked at. Tied to [`ABI_VERSION`] by a compile-time check below.
pub const ABI_VERSION_STRINGS: VersionStrings = VersionStrings::new(ABI_VERSION_STR);

/// [`ABI_VERSION_STRINGS`] as text.
pub const ABI_VERSION_STR: &str = "2.0.0";

/// The leading number of a version string, at compile time.
const fn major_of(version: &str) -> u32 {
    let bytes = version.as_bytes();
    let mut i = 0;
    let mut n = 0u32;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        n = n * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    n
}

const _: () = assert!(
    major_of(ABI_VERSION_STR) == ABI_VERSION,
    "ABI_VERSION_STRINGS must start with ABI_VERSION"
);

/// What a plugin says about itself.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct PluginInfo {
    pub name: RString,
    pub version: RString,
    /// The [`ABI_VERSION`] the plugin was built against.
    pub abi_version: u32,
}

/// The root module every plugin exports. A prefix type: fields may be added after the last
/// prefix field in later versions, and older plugins still load (new fields read as absent).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(option))]
pub struct PluginMod {
    pub info: extern "C" fn() -> PluginInfo,
    #[sabi(last_prefix_field)]
    pub operations: extern "C" fn() -> RResult<RVec<OperationBox>, PluginError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "easel_plugin";
    const NAME: &'static str = "easel_plugin";
    const VERSION_STRINGS: VersionStrings = ABI_VERSION_STRINGS;
}

/// Boxes an operation for [`PluginMod::operations`].
pub fn boxed_operation<O: Operation + 'static>(op: O) -> OperationBox {
    Operation_TO::from_value(op, abi_stable::sabi_trait::TD_Opaque)
}

/// Exports a plugin's root module.
///
/// `operations` is an expression callable with no arguments that returns `Vec<OperationBox>`.
#[macro_export]
macro_rules! export_plugin {
    (name: $name:expr, version: $version:expr, operations: $ops:expr $(,)?) => {
        #[$crate::abi_stable::export_root_module]
        fn easel_plugin_root_module() -> $crate::PluginModRef {
            use $crate::abi_stable::prefix_type::PrefixTypeTrait;
            extern "C" fn info() -> $crate::PluginInfo {
                $crate::PluginInfo {
                    name: $name.into(),
                    version: $version.into(),
                    abi_version: $crate::ABI_VERSION,
                }
            }
            extern "C" fn operations() -> $crate::abi_stable::std_types::RResult<
                $crate::abi_stable::std_types::RVec<$crate::OperationBox>,
                $crate::PluginError,
            > {
                let make = $ops;
                $crate::abi_stable::std_types::RResult::ROk(make().into_iter().collect())
            }
            $crate::PluginMod { info, operations }.leak_into_prefix()
        }
    };
}

/// What most plugins import.
pub mod prelude {
    pub use crate::{
        boxed_operation, flags, AppliesWhen, ErrorKind, Host, HostExt, ImageBuf, ImageLayout,
        ImageView, Job, LogLevel, MaskUse, Operation, OperationDescriptor, ParamSpec, ParamValue,
        PixelFormat, PluginError, Tensor,
    };
    pub use abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};
}

/// Keeps `RBox` in the public surface used by [`OperationBox`].
#[doc(hidden)]
pub type _OperationBoxPointer = RBox<()>;

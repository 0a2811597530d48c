//! Loads this library as the host does and runs `test-echo` through it; the misbehaving
//! operations are exercised in child processes by the unit tests and by the host's tests.

use abi_stable::{
    library::lib_header_from_path,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RStr, RString, RVec},
};
use easel_sdk::{
    ErrorKind, HostServices, HostServices_TO, ImageLayout, ImageView, Job, LogLevel, ModelInfo,
    Param, ParamValue, PixelFormat, PluginError, PluginModRef, Tensor, ABI_VERSION,
};
use std::path::PathBuf;

/// A crate's cdylib as cargo last built it. `cargo test -p` builds it into `target/debug/deps`
/// (next to this test binary) but only `cargo build` copies it up to `target/debug`, so look in
/// `deps` first.
fn library(crate_name: &str) -> PathBuf {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let fresh = deps.join(&file);
    if fresh.exists() {
        return fresh;
    }
    deps.parent().map(|d| d.join(&file)).unwrap_or(fresh)
}

struct QuietHost;

impl HostServices for QuietHost {
    fn model_info(&self, id: RStr<'_>) -> RResult<ModelInfo, PluginError> {
        RResult::RErr(PluginError::model(format!("no model {id}")))
    }
    fn run_model(
        &self,
        id: RStr<'_>,
        _: RVec<Tensor>,
        _: RVec<RString>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        RResult::RErr(PluginError::model(format!("no model {id}")))
    }
    fn progress(&self, _: f32, _: RStr<'_>) {}
    fn is_cancelled(&self) -> bool {
        false
    }
    fn log(&self, _: LogLevel, _: RStr<'_>) {}
}

#[test]
fn loads_and_echoes_through_the_library() {
    let header = lib_header_from_path(&library("easel-testing-misbehave")).unwrap();
    let module = header.init_root_module::<PluginModRef>().unwrap();
    let info = module.info()();
    assert_eq!(info.name, "testing-misbehave");
    assert_eq!(info.abi_version, ABI_VERSION);
    let ops = module.operations()().unwrap();
    let ids: Vec<String> = ops
        .iter()
        .map(|o| o.descriptor().id.into_string())
        .collect();
    assert_eq!(
        ids,
        [
            "test-echo",
            "test-panic",
            "test-abort",
            "test-segfault",
            "test-hang",
            "test-memory",
            "test-exit",
            "test-garbage",
            "test-stop"
        ]
    );

    let bytes: Vec<u8> = [0.5f32, 0.25, 0.125, 1.0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let image = ImageView::new(ImageLayout::packed(1, 1, PixelFormat::Rgba32F), &bytes).unwrap();
    let host = HostServices_TO::from_const(&QuietHost, TD_Opaque);
    for (fail, want) in [(false, None), (true, Some(ErrorKind::InvalidInput))] {
        let params = [
            Param {
                name: "sleep_ms".into(),
                value: ParamValue::Int(0),
            },
            Param {
                name: "fail".into(),
                value: ParamValue::Bool(fail),
            },
        ];
        let job = Job {
            operation: "test-echo".into(),
            image,
            mask: None.into(),
            references: RSlice::from_slice(&[]),
            params: RSlice::from_slice(&params),
        };
        match ops[0].run(&job, &host).into_result() {
            Ok(out) => {
                assert_eq!(want, None);
                assert_eq!(out.data.as_slice(), bytes.as_slice());
            }
            Err(e) => assert_eq!(Some(e.kind), want, "{e}"),
        }
    }
}

//! Loads this library as the host does and runs `test-echo` through it; the misbehaving
//! operations are exercised in child processes by the unit tests and by the host's tests.

use abi_stable::{library::lib_header_from_path, std_types::RSlice};
use easel_sdk::{
    testing::TestHost, ErrorKind, ImageLayout, ImageView, Job, Param, ParamValue, PixelFormat,
    PluginModRef, ABI_VERSION,
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
    let test_host = TestHost::new();
    let host = test_host.host();
    for (fail, want) in [(false, None), (true, Some(ErrorKind::InvalidInput))] {
        let params = [
            Param {
                name: "sleep_ms".into(),
                value: ParamValue::int(0),
            },
            Param {
                name: "fail".into(),
                value: ParamValue::boolean(fail),
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
                assert_eq!(out.as_bytes(), bytes.as_slice());
            }
            Err(e) => assert_eq!(Some(e.kind), want, "{e}"),
        }
    }
}

//! Loads the built `.so` the way the host's worker does and checks what abi_stable caches.
//!
//! `cargo test -p easel-plugin-example-invert` builds the cdylib into `target/debug/deps`, where
//! this test finds it. The last test also loads the testing plugins when they have been built.

use abi_stable::library::{lib_header_from_path, LibraryError, RootModule};
use easel_sdk::{
    testing::{job, TestHost},
    ImageLayout, ImageView, Param, ParamValue, PixelFormat, PluginModRef, ABI_VERSION,
};
use std::path::{Path, PathBuf};

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

fn load(path: &Path) -> Result<PluginModRef, LibraryError> {
    lib_header_from_path(path)?.init_root_module::<PluginModRef>()
}

fn operation_ids(module: PluginModRef) -> Vec<String> {
    module.operations()()
        .unwrap()
        .iter()
        .map(|op| op.descriptor().id.into_string())
        .collect()
}

#[test]
fn example_invert_loads_lists_and_runs() {
    let module = load(&library("easel-plugin-example-invert")).unwrap();
    let info = module.info()();
    assert_eq!(info.name, "example-invert");
    assert_eq!(info.abi_version, ABI_VERSION);
    assert_eq!(operation_ids(module), ["invert"]);

    // Run it through the library's own vtable.
    let ops = module.operations()().unwrap();
    let pixel: Vec<u8> = [0.25f32, 0.5, 1.0, 0.75]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let image = ImageView::new(ImageLayout::packed(1, 1, PixelFormat::Rgba32F), &pixel).unwrap();
    let params = [Param {
        name: "amount".into(),
        value: ParamValue::float(1.0),
    }];
    let job = job("invert", image, None, &[], &params);
    let host = TestHost::new();
    let out = host.run(&ops[0], &job).unwrap();
    assert_eq!(out.view().to_rgba_f32(), [0.75, 0.5, 0.0, 0.75]);
}

/// abi_stable caches the root module per library (in that library's `LibHeader`), not per
/// type, when loading through `lib_header_from_path` + `init_root_module`.
#[test]
fn lib_header_caches_per_library_and_load_from_file_per_type() {
    let original = library("easel-plugin-example-invert");
    // A copy has its own inode, so the dynamic loader maps it as a second library.
    let dir = std::env::temp_dir().join(format!("easel-load-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copies: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|n| {
            let p = dir.join(format!("libinvert_{n}.so"));
            std::fs::copy(&original, &p).unwrap();
            p
        })
        .collect();

    // The same path twice: one mapping, one header, one module.
    let h1 = lib_header_from_path(&copies[0]).unwrap();
    let h2 = lib_header_from_path(&copies[0]).unwrap();
    assert!(std::ptr::eq(h1, h2));
    let m1 = h1.init_root_module::<PluginModRef>().unwrap();
    let m2 = h2.init_root_module::<PluginModRef>().unwrap();
    assert!(std::ptr::fn_addr_eq(m1.info(), m2.info()));

    // Another library of the same root-module type: its own header and module.
    let other = load(&copies[1]).unwrap();
    assert!(!std::ptr::fn_addr_eq(m1.info(), other.info()));
    assert_eq!(other.info()().name, "example-invert");

    // `RootModule::load_from_file` instead caches per type: the first library loaded wins and
    // any later path returns that same module. A host must not use it for several plugins.
    let first = PluginModRef::load_from_file(&copies[0]).unwrap();
    let second = PluginModRef::load_from_file(&copies[1]).unwrap();
    assert!(std::ptr::fn_addr_eq(first.info(), m1.info()));
    assert!(std::ptr::fn_addr_eq(second.info(), m1.info()));
    assert!(!std::ptr::fn_addr_eq(second.info(), other.info()));

    // Mapped libraries survive their files (abi_stable never unloads).
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(operation_ids(other), ["invert"]);
}

/// Every test library's fate, in one process, after a good plugin is already loaded. Needs
/// `cargo build -p` of the testing plugins; skipped (with a note) for the ones not built.
#[test]
fn each_test_library_meets_its_fate_in_one_process() {
    let good = load(&library("easel-plugin-example-invert")).unwrap();
    let mut checked = 0;
    for name in [
        "easel-testing-misbehave",
        "easel-testing-wrong-abi",
        "easel-testing-wrong-layout",
        "easel-testing-not-a-plugin",
    ] {
        let path = library(name);
        if !path.exists() {
            eprintln!("skipped {name}: {} not built", path.display());
            continue;
        }
        checked += 1;
        let result = load(&path);
        match name {
            "easel-testing-misbehave" => {
                let m = result.unwrap();
                assert_eq!(m.info()().name, "testing-misbehave");
                assert_eq!(m.info()().abi_version, ABI_VERSION);
                assert_eq!(operation_ids(m).len(), 9);
            }
            "easel-testing-wrong-abi" => {
                let m = result.unwrap();
                assert_eq!(m.info()().abi_version, 999);
                assert_eq!(operation_ids(m), ["wrong-abi-op"]);
            }
            "easel-testing-wrong-layout" => {
                assert!(
                    matches!(result, Err(LibraryError::AbiInstability(_))),
                    "{:?}",
                    result.map(|_| ())
                );
            }
            _ => {
                assert!(
                    matches!(result, Err(LibraryError::GetSymbolError { .. })),
                    "{:?}",
                    result.map(|_| ())
                );
            }
        }
    }
    eprintln!("checked {checked} of 4 test libraries");
    // The good plugin is unaffected by the refusals.
    assert_eq!(operation_ids(good), ["invert"]);
}

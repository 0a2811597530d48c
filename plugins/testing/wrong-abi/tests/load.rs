//! Loads this library as the host does: abi_stable accepts it (the layout is right), and the
//! host must then refuse it on `PluginInfo::abi_version`.

use abi_stable::library::lib_header_from_path;
use easel_sdk::{PluginModRef, ABI_VERSION};
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
fn loads_but_claims_abi_version_999() {
    let header = lib_header_from_path(&library("easel-testing-wrong-abi")).unwrap();
    let module = header.init_root_module::<PluginModRef>().unwrap();
    let info = module.info()();
    assert_eq!(info.name, "testing-wrong-abi");
    assert_eq!(info.abi_version, 999);
    assert_ne!(info.abi_version, ABI_VERSION);
    let ops = module.operations()().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].descriptor().id, "wrong-abi-op");
}

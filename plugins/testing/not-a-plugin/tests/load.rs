//! Loads this library as the host does: it has no root module, so it is refused.

use abi_stable::library::{lib_header_from_path, LibraryError};
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
fn refused_for_lack_of_a_root_module() {
    let path = library("easel-testing-not-a-plugin");
    assert!(path.exists(), "{} not built", path.display());
    let err = lib_header_from_path(&path).map(|_| ()).unwrap_err();
    let message = err.to_string();
    eprintln!("{message}");
    assert!(
        matches!(err, LibraryError::GetSymbolError { .. }),
        "{message}"
    );
}

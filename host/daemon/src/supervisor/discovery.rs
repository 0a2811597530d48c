//! Finding plugin libraries: the first-party ones next to the daemon, and every `*.so` in the
//! user's plugin folders. Folders and libraries that another user could write are refused.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A library found, or one refused before any process touched it.
#[derive(Debug, Clone)]
pub enum Found {
    Library(PathBuf),
    Refused { path: PathBuf, reason: String },
}

/// Why `path` must not be trusted with code execution, if it must not: owned by another user
/// (not root), or writable by group or others.
pub fn unsafe_to_load(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let me = nix::unistd::getuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Some(format!(
            "{} is owned by user {}, not by this user ({me}) or root",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "{} can be written by other users (mode {:o}); run `chmod go-w {}`",
            path.display(),
            meta.mode() & 0o777,
            path.display()
        ));
    }
    None
}

/// Finds plugin libraries: `libeasel_plugin_*.so` in `builtin_dirs` (the first-party ones), and
/// every `*.so` in `user_dirs`.
pub fn discover_plugins(builtin_dirs: &[PathBuf], user_dirs: &[PathBuf]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut scan = |dir: &Path, builtin: bool| {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut libs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                name.ends_with(".so") && (!builtin || name.starts_with("libeasel_plugin_"))
            })
            .collect();
        libs.sort();
        let dir_problem = unsafe_to_load(dir);
        for lib in libs {
            // A symlink is judged by what it points at, and by the folder it sits in.
            let problem = dir_problem.clone().or_else(|| unsafe_to_load(&lib));
            found.push(match problem {
                Some(reason) => Found::Refused {
                    path: lib,
                    reason: format!("not loaded: {reason}"),
                },
                None => Found::Library(lib),
            });
        }
    };
    for dir in builtin_dirs {
        scan(dir, true);
    }
    for dir in user_dirs {
        scan(dir, false);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn libraries_others_can_write_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = discover_plugins(&[], &[dir.path().to_path_buf()]);
        assert!(
            matches!(&found[..], [Found::Library(p)] if p == &lib),
            "{found:?}"
        );
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o666)).unwrap();
        let found = discover_plugins(&[], &[dir.path().to_path_buf()]);
        let [Found::Refused { reason, .. }] = &found[..] else {
            panic!("a world-writable library was not refused: {found:?}")
        };
        assert!(reason.contains("chmod go-w"), "{reason}");
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let found = discover_plugins(&[], &[dir.path().to_path_buf()]);
        assert!(matches!(&found[..], [Found::Refused { .. }]), "{found:?}");
    }
}

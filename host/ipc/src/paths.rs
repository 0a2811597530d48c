//! Where the daemon's socket is: the one rule every client and the daemon share.

use std::path::PathBuf;

/// An XDG base directory from the environment: empty or relative values are ignored, as the
/// XDG Base Directory specification says.
pub fn xdg_dir(var: &str) -> Option<PathBuf> {
    let value = PathBuf::from(std::env::var_os(var)?);
    value.is_absolute().then_some(value)
}

/// The socket clients use: `EASEL_SOCKET`, else `$XDG_RUNTIME_DIR/easel/easeld.sock`, else
/// `/tmp/easel-$UID/easeld.sock`.
pub fn default_socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os("EASEL_SOCKET").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    match xdg_dir("XDG_RUNTIME_DIR") {
        Some(dir) => dir.join("easel").join("easeld.sock"),
        None => PathBuf::from(format!("/tmp/easel-{}", nix::unistd::getuid())).join("easeld.sock"),
    }
}

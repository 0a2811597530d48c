//! Shared harness for the end-to-end tests: starts the real `easeld` on a temporary socket with
//! a temporary configuration, and finds the built binaries, plugins and shared fixtures.

use easel_client::{Client, SharedInput};
use easel_imaging::{self as imaging, DecodeLimits, OwnedImage};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// `target/debug` (or the profile dir) that holds this test binary's siblings.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/easel_tests-… → target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// `../shared` beside the repository (models and photos, read-only).
pub fn shared_dir() -> PathBuf {
    repo_root().join("..").join("shared")
}

pub fn photo(name: &str) -> PathBuf {
    shared_dir().join("fixtures").join("photos").join(name)
}

fn built(file: &str) -> PathBuf {
    let p = target_dir().join(file);
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`)",
        p.display()
    );
    p
}

pub fn easeld() -> PathBuf {
    built("easeld")
}

pub fn easel_cli() -> PathBuf {
    built("easel")
}

/// A test plugin library by crate name, e.g. `easel_testing_misbehave`.
pub fn plugin_lib(crate_name: &str) -> PathBuf {
    built(&format!("lib{crate_name}.so"))
}

/// What a test daemon gets besides the built-in plugins.
pub struct Options {
    /// Crate names of extra plugins to put in the user plugin folder.
    pub plugins: Vec<&'static str>,
    /// Extra TOML lines (top level).
    pub extra: String,
    /// Extra `[limits]` lines.
    pub limits: String,
    /// The model folders (default: ../shared/models).
    pub model_dirs: Option<Vec<PathBuf>>,
    /// Plugin libraries by path (built outside the workspace), also put in the plugin folder.
    pub plugin_paths: Vec<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            plugins: vec!["easel_testing_misbehave"],
            extra: String::new(),
            limits: String::new(),
            model_dirs: None,
            plugin_paths: Vec::new(),
        }
    }
}

/// A real daemon on a temporary socket; killed when dropped.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    child: Child,
}

impl Daemon {
    pub fn start(opts: Options) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).expect("plugin dir");
        for name in &opts.plugins {
            let lib = plugin_lib(name);
            std::os::unix::fs::symlink(&lib, plugins.join(lib.file_name().expect("name")))
                .expect("symlink plugin");
        }
        for lib in &opts.plugin_paths {
            std::os::unix::fs::symlink(lib, plugins.join(lib.file_name().expect("name")))
                .expect("symlink plugin");
        }
        let socket = dir.path().join("easeld.sock");
        let config = dir.path().join("easel.toml");
        let toml = format!(
            "socket = {:?}\nlog_file = {:?}\nplugin_dirs = [{:?}]\nmodel_dirs = {:?}\nthreads = 2\n{}\n[limits]\n{}\n",
            socket,
            dir.path().join("easeld-file.log"),
            plugins,
            opts.model_dirs.clone().unwrap_or_else(|| vec![shared_dir().join("models")]),
            opts.extra,
            opts.limits
        );
        std::fs::write(&config, toml).expect("write config");
        let log = std::fs::File::create(dir.path().join("easeld.log")).expect("log");
        let child = Command::new(easeld())
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start easeld");
        let daemon = Daemon {
            dir,
            socket,
            config,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Client::connect(&daemon.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "easeld did not start; log:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket).expect("connect to the test daemon")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("easeld.log")).unwrap_or_default()
    }

    /// True while the daemon process is alive.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn load_photo(name: &str) -> OwnedImage {
    imaging::decode_file(
        &photo(name),
        &DecodeLimits {
            max_pixels: 1 << 28,
        },
    )
    .expect("decode photo")
}

pub fn shared(image: &OwnedImage) -> SharedInput {
    SharedInput::new(image).expect("shared memory")
}

/// An RGBA8 image filled by `f(x, y)`.
pub fn rgba8(width: u32, height: u32, f: impl Fn(u32, u32) -> [u8; 4]) -> OwnedImage {
    let mut img = OwnedImage::new(width, height, easel_imaging::PixelFormat::Rgba8);
    for y in 0..height {
        for x in 0..width {
            let i = ((y * width + x) * 4) as usize;
            img.data[i..i + 4].copy_from_slice(&f(x, y));
        }
    }
    img
}

/// A gray8 mask filled by `f(x, y)`.
pub fn gray8(width: u32, height: u32, f: impl Fn(u32, u32) -> u8) -> OwnedImage {
    let mut img = OwnedImage::new(width, height, easel_imaging::PixelFormat::Gray8);
    for y in 0..height {
        for x in 0..width {
            img.data[(y * width + x) as usize] = f(x, y);
        }
    }
    img
}

/// RGBA8 pixel at (x, y).
pub fn px(img: &OwnedImage, x: u32, y: u32) -> [u8; 4] {
    assert_eq!(img.format, easel_imaging::PixelFormat::Rgba8);
    let i = ((y * img.width + x) * 4) as usize;
    [
        img.data[i],
        img.data[i + 1],
        img.data[i + 2],
        img.data[i + 3],
    ]
}

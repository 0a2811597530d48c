//! The daemon's TOML configuration (`easel.toml`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = toml::from_str::<easel_daemon::config::Config>(text) {
            let _ = config.socket_path();
        }
    }
});

//! The PNG/JPEG/WebP/TIFF decode path with its pixel limit (what the CLI and the hosts' files go
//! through): any bytes, decoded as an image and as a mask.
#![no_main]
use easel_imaging::{decode_file, decode_mask_file, DecodeLimits};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fn scratch() -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("easel-fuzz-decode-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let limits = DecodeLimits {
        max_pixels: 1 << 20,
    };
    if let Ok(img) = decode_file(&path, &limits) {
        assert!(img.width as u64 * img.height as u64 <= limits.max_pixels);
        img.check().expect("a decoded image is consistent");
    }
    if let Ok(mask) = decode_mask_file(&path, &limits) {
        assert_eq!(mask.data.len(), (mask.width * mask.height) as usize);
    }
});

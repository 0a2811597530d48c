//! The frame decoder: any bytes a client can send, read as a stream of frames with the daemon's
//! limits, and each frame parsed as a request.
#![no_main]
use easel_ipc::{read_frame, FrameLimits};
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::os::unix::net::UnixStream;

fuzz_target!(|data: &[u8]| {
    let Ok((mut tx, rx)) = UnixStream::pair() else {
        return;
    };
    // Inputs are capped by -max_len well below the socket buffer, so this never blocks.
    if tx.write_all(data).is_err() {
        return;
    }
    drop(tx);
    let limits = FrameLimits {
        max_json: 1 << 16,
        max_payload: 1 << 16,
    };
    for _ in 0..64 {
        match read_frame(&rx, limits) {
            Ok(frame) => {
                assert!(frame.json.len() as u64 <= limits.max_json);
                assert!(frame.payload.len() as u64 <= limits.max_payload);
                let _ = frame.parse_request();
            }
            Err(_) => break,
        }
    }
});

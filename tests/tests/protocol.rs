//! The socket and the protocol: permissions, hello, limits, bad requests (each answered with a
//! stable code while the daemon keeps serving), fd and inline transfers with strides.

use easel_client::Client;
use easel_ipc::{FrameLimits, SharedMem};
use easel_protocol::{DataRef, ImageRef};
use easel_tests::*;
use serde_json::{json, Value};
use std::{
    io::Write,
    os::unix::{fs::PermissionsExt, net::UnixStream},
};

const LIMITS: FrameLimits = FrameLimits {
    max_json: 1 << 24,
    max_payload: 1 << 30,
};

fn raw(daemon: &Daemon) -> UnixStream {
    UnixStream::connect(&daemon.socket).unwrap()
}

fn ask(sock: &UnixStream, msg: Value, payload: &[u8]) -> Value {
    easel_ipc::send(sock, &msg, payload, &[]).unwrap();
    easel_ipc::read_frame(sock, LIMITS)
        .unwrap()
        .parse()
        .unwrap()
}

fn hello(sock: &UnixStream) -> Value {
    ask(
        sock,
        json!({"type": "hello", "protocol": 1, "client": "test", "features": ["inline", "future-thing"]}),
        &[],
    )
}

#[test]
fn socket_is_private_and_there_is_no_network_listener() {
    let daemon = Daemon::start(Options::default());
    let mode = std::fs::metadata(&daemon.socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // Every socket the daemon holds is a Unix socket: none of its inodes is in the TCP/UDP tables.
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{}/fd", daemon.pid())).unwrap() {
        if let Ok(target) = std::fs::read_link(fd.unwrap().path()) {
            if let Some(i) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.push(i.to_string());
            }
        }
    }
    assert!(!inodes.is_empty());
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{}/net/{table}", daemon.pid()))
            .unwrap_or_default();
        for line in text.lines().skip(1) {
            let inode = line.split_whitespace().nth(9).unwrap_or("");
            assert!(
                !inodes.iter().any(|i| i == inode),
                "daemon has a {table} socket: {line}"
            );
        }
    }
}

#[test]
fn hello_negotiates_version_and_features() {
    let daemon = Daemon::start(Options::default());
    let s = raw(&daemon);
    let h = hello(&s);
    assert_eq!(h["type"], "hello");
    assert_eq!(h["protocol"], 1);
    let features: Vec<&str> = h["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in ["fd", "inline", "progress", "cancel", "stream"] {
        assert!(features.contains(&f), "{features:?}");
    }
    assert!(h["limits"]["max_pixels"].as_u64().unwrap() > 0);

    let s = raw(&daemon);
    let e = ask(&s, json!({"type": "hello", "protocol": 99}), &[]);
    assert_eq!(e["code"], "unsupported_protocol");
    assert!(e["message"].as_str().unwrap().contains("99"));

    let s = raw(&daemon);
    let e = ask(&s, json!({"type": "status", "id": 1}), &[]);
    assert_eq!(e["code"], "bad_request");
    assert!(e["message"].as_str().unwrap().contains("hello"));
}

#[test]
fn bad_requests_get_clear_errors_and_the_connection_keeps_working() {
    let daemon = Daemon::start(Options::default());
    let s = raw(&daemon);
    hello(&s);
    let e = ask(&s, json!({"type": "no_such_thing", "id": 5}), &[]);
    assert_eq!(
        (e["code"].as_str(), e["reply_to"].as_u64()),
        (Some("bad_request"), Some(5))
    );
    easel_ipc::write_frame(&s, b"{not json", &[], &[]).unwrap();
    let e: Value = easel_ipc::read_frame(&s, LIMITS).unwrap().parse().unwrap();
    assert_eq!(e["code"], "bad_request");
    assert_eq!(e["fault"], "caller");

    let img = |w: u32, h: u32, data: DataRef| {
        json!(ImageRef {
            width: w,
            height: h,
            format: easel_protocol::PixelFormat::Rgba8,
            row_stride: None,
            pixel_stride: None,
            data
        })
    };
    let payload = vec![0u8; 16 * 16 * 4];
    let cases = [
        (
            json!({"type": "submit", "id": 1, "operation": "nope", "image": img(16, 16, DataRef::Inline { inline: 0 })}),
            "unknown_operation",
            "no operation 'nope'",
        ),
        (
            json!({"type": "submit", "id": 2, "operation": "invert", "params": {"amount": 7}, "image": img(16, 16, DataRef::Inline { inline: 0 })}),
            "invalid_params",
            "amount",
        ),
        (
            json!({"type": "submit", "id": 3, "operation": "invert", "params": {"amout": 1}, "image": img(16, 16, DataRef::Inline { inline: 0 })}),
            "invalid_params",
            "no parameter 'amout'",
        ),
        (
            json!({"type": "submit", "id": 4, "operation": "invert", "image": img(16, 17, DataRef::Inline { inline: 0 })}),
            "invalid_image",
            "payload has 1024 bytes",
        ),
        (
            json!({"type": "submit", "id": 5, "operation": "invert", "image": img(16, 16, DataRef::Fd { fd: 0, offset: 0 })}),
            "invalid_image",
            "descriptor 0",
        ),
        (
            json!({"type": "submit", "id": 6, "operation": "invert", "image": img(1 << 15, 1 << 15, DataRef::Inline { inline: 0 })}),
            "too_large",
            "over the limit",
        ),
        (
            json!({"type": "submit", "id": 7, "operation": "invert", "image": img(16, 16, DataRef::Inline { inline: 0 }),
                "mask": {"width": 8, "height": 8, "format": "gray8", "data": {"inline": 0}}}),
            "invalid_image",
            "mask is 8x8 but the image is 16x16",
        ),
        (
            json!({"type": "submit", "id": 8, "operation": "invert", "image": img(16, 16, DataRef::Inline { inline: 0 }),
                "mask": {"width": 16, "height": 16, "format": "gray8", "data": {"inline": 0}}}),
            "invalid_input",
            "mask is empty",
        ),
        (
            json!({"type": "fetch", "id": 9, "job": 12345}),
            "unknown_job",
            "no job 12345",
        ),
    ];
    for (msg, code, text) in cases {
        let e = ask(&s, msg.clone(), &payload);
        assert_eq!(e["code"], code, "{msg}: {e}");
        assert!(e["message"].as_str().unwrap().contains(text), "{msg}: {e}");
        assert_eq!(e["reply_to"], msg["id"]);
    }
    let ok = ask(&s, json!({"type": "status", "id": 10}), &[]);
    assert_eq!(ok["type"], "status");
}

#[test]
fn oversized_frames_are_refused_and_the_daemon_keeps_serving() {
    let daemon = Daemon::start(Options {
        limits: "max_message_bytes = 4096\nmax_inline_bytes = 65536\n".into(),
        ..Options::default()
    });
    let mut s = raw(&daemon);
    hello(&s);
    let mut header = [0u8; 12];
    header[..4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    s.write_all(&header).unwrap();
    let e: Value = easel_ipc::read_frame(&s, LIMITS).unwrap().parse().unwrap();
    assert_eq!(e["code"], "too_large");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("over the limit of 4096"),
        "{e}"
    );
    // That connection is closed; a new one is served.
    let mut c = daemon.client();
    let ops = c.operations().unwrap().json();
    assert!(!ops["operations"].as_array().unwrap().is_empty());
}

#[test]
fn fd_and_inline_transfers_round_trip_exactly_with_any_strides() {
    let daemon = Daemon::start(Options::default());
    let mut c = daemon.client();
    for (format, bpp) in [
        ("rgba8", 4usize),
        ("rgba16", 8),
        ("rgba32f", 16),
        ("gray8", 1),
    ] {
        let (w, h) = (37usize, 11usize);
        let row_stride = w * bpp + 24; // padded rows
        let mut mem = SharedMem::create(row_stride * h + 100).unwrap();
        for (i, b) in mem.as_mut_slice().iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        let reference = json!({"width": w, "height": h, "format": format, "row_stride": row_stride, "data": {"fd": 0, "offset": 100}});
        let m = c
            .request_json(
                json!({"type": "echo", "image": reference}),
                &[],
                &[mem.fd()],
            )
            .unwrap();
        let back = m.image().unwrap();
        let src = &mem.as_slice()[100..];
        for y in 0..h {
            assert_eq!(
                &back.data[y * w * bpp..(y + 1) * w * bpp],
                &src[y * row_stride..y * row_stride + w * bpp],
                "{format} row {y}"
            );
        }
        // Inline, to a client that did not ask for descriptors.
        let s = raw(&daemon);
        hello(&s);
        let inline_ref = json!({"width": w, "height": h, "format": format, "row_stride": row_stride, "data": {"inline": 0}});
        easel_ipc::send(
            &s,
            &json!({"type": "echo", "id": 1, "image": inline_ref}),
            &src[..row_stride * h],
            &[],
        )
        .unwrap();
        let f = easel_ipc::read_frame(&s, LIMITS).unwrap();
        assert!(f.fds.is_empty());
        let v: Value = f.parse().unwrap();
        assert_eq!(v["image"]["data"]["inline"], 0);
        assert_eq!(f.payload, back.data, "{format} inline");
    }
}

#[test]
fn a_second_daemon_on_the_same_socket_refuses_to_start() {
    let daemon = Daemon::start(Options::default());
    let out = std::process::Command::new(easeld())
        .arg("--config")
        .arg(&daemon.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    assert!(Client::connect(&daemon.socket).is_ok());
}

//! Frames over Unix sockets: a 12-byte header (u32 JSON length, u64 payload length), the JSON
//! message, the payload, and file descriptors sent with the header bytes.

use easel_protocol::ProtocolError;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::{
    io::{IoSlice, IoSliceMut, Read, Write},
    os::{
        fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
        unix::net::UnixStream,
    },
};

/// Failures of the transport (framing, descriptors, shared memory).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connection closed")]
    Closed,
    #[error("socket I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{what} of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        len: u64,
        limit: u64,
    },
    #[error(
        "a frame carried {count} file descriptors, over the limit of {MAX_FDS}; they were closed"
    )]
    TooManyDescriptors { count: usize },
    #[error("message is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The message is not UTF-8 JSON at all (checked before it is read as any type).
    #[error("the message is not valid JSON: {0}")]
    Malformed(String),
    #[error("{0}")]
    Message(String),
    #[error("system call failed: {0}")]
    Sys(#[from] nix::Error),
}

impl From<TransportError> for ProtocolError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::TooLarge { .. } | TransportError::TooManyDescriptors { .. } => {
                ProtocolError::too_large(e.to_string())
            }
            TransportError::Json(_) | TransportError::Message(_) | TransportError::Malformed(_) => {
                ProtocolError::bad_request(e.to_string())
            }
            _ => ProtocolError::internal(e.to_string()),
        }
    }
}

/// Header: u32 JSON length, u64 payload length, little-endian.
pub const HEADER_LEN: usize = 12;
/// Descriptors one frame may carry.
pub const MAX_FDS: usize = 16;
/// The kernel's own limit on descriptors in one message (SCM_MAX_FD): room for this many means
/// a message is never truncated, so every descriptor received is owned and closed by us.
const KERNEL_MAX_FDS: usize = 253;

/// Size limits for incoming frames, checked before anything is allocated.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    pub max_json: u64,
    pub max_payload: u64,
}

/// One received frame.
#[derive(Debug)]
pub struct Frame {
    pub json: Vec<u8>,
    pub payload: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

impl Frame {
    /// The message as `T`. Errors name the field at fault (`image.format: unknown variant ...`).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, TransportError> {
        self.check_json()?;
        let mut de = serde_json::Deserializer::from_slice(&self.json);
        let value = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
        de.end()?;
        Ok(value)
    }

    /// Checks that the message is UTF-8 JSON before it is read as any type, so that every later
    /// error is about a field (serde_json reports some type errors, such as `null` for an enum,
    /// as syntax errors, which must not read as "not valid JSON").
    fn check_json(&self) -> Result<(), TransportError> {
        if let Err(e) = std::str::from_utf8(&self.json) {
            return Err(TransportError::Malformed(format!(
                "it is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            )));
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(&self.json)
            .map_err(|e| TransportError::Malformed(e.to_string()))?;
        Ok(())
    }
}

impl Frame {
    /// The message as a client request. Errors name the field at fault, also inside a request's
    /// variant (`image.width: invalid value: integer \`-1\`, expected u32`).
    pub fn parse_request(&self) -> Result<easel_protocol::Request, TransportError> {
        self.check_json()?;
        // serde reads structs, and internally tagged enums, from arrays too: a request is an
        // object only.
        if self.json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(TransportError::Message(
                "a message must be a JSON object with a \"type\"".into(),
            ));
        }
        let kind = self
            .parse::<easel_protocol::Envelope>()
            .ok()
            .and_then(|e| e.kind);
        let Some(kind) = kind.filter(|k| easel_protocol::Request::TYPES.contains(&k.as_str()))
        else {
            return self.parse();
        };
        let mut de = serde_json::Deserializer::from_slice(&self.json);
        let mut track = serde_path_to_error::Track::new();
        let parsed = easel_protocol::Request::deserialize_body(
            &kind,
            serde_path_to_error::Deserializer::new(&mut de, &mut track),
        );
        match parsed {
            Ok(Some(request)) => {
                de.end()?;
                Ok(request)
            }
            Ok(None) => self.parse(),
            Err(e) => Err(describe_at(track.path().to_string(), e)),
        }
    }
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> TransportError {
    let path = e.path().to_string();
    describe_at(path, e.into_inner())
}

/// A type error at `path` of a message already known to be valid JSON.
fn describe_at(path: String, inner: serde_json::Error) -> TransportError {
    if path == "." {
        TransportError::Json(inner)
    } else {
        TransportError::Message(format!("{path}: {inner}"))
    }
}

/// Reads one frame. Descriptors arrive with the header bytes.
pub fn read_frame(sock: &UnixStream, limits: FrameLimits) -> Result<Frame, TransportError> {
    let mut header = [0u8; HEADER_LEN];
    let mut fds = Vec::new();
    let mut got = 0;
    while got < HEADER_LEN {
        let mut cmsg = nix::cmsg_space!([RawFd; KERNEL_MAX_FDS]);
        let mut iov = [IoSliceMut::new(&mut header[got..])];
        let msg = loop {
            match recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::Error::EINTR) => continue,
                other => break other?,
            }
        };
        let n = msg.bytes;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: the kernel just installed these descriptors in this process for us.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        if n == 0 {
            return Err(TransportError::Closed);
        }
        got += n;
    }
    if fds.len() > MAX_FDS {
        // Dropping `fds` closes every one of them.
        return Err(TransportError::TooManyDescriptors { count: fds.len() });
    }
    let json_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
    let mut pl = [0u8; 8];
    pl.copy_from_slice(&header[4..12]);
    let payload_len = u64::from_le_bytes(pl);
    if json_len > limits.max_json {
        return Err(TransportError::TooLarge {
            what: "message",
            len: json_len,
            limit: limits.max_json,
        });
    }
    if payload_len > limits.max_payload {
        return Err(TransportError::TooLarge {
            what: "inline payload",
            len: payload_len,
            limit: limits.max_payload,
        });
    }
    let mut json = vec![0u8; json_len as usize];
    read_exact(sock, &mut json)?;
    let mut payload = vec![0u8; payload_len as usize];
    read_exact(sock, &mut payload)?;
    Ok(Frame { json, payload, fds })
}

fn read_exact(mut sock: &UnixStream, buf: &mut [u8]) -> Result<(), TransportError> {
    sock.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => TransportError::Closed,
        _ => TransportError::Io(e),
    })
}

/// Writes one frame; `fds` go with the header.
pub fn write_frame(
    sock: &UnixStream,
    json: &[u8],
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<(), TransportError> {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&(json.len() as u32).to_le_bytes());
    header[4..].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let cmsgs = [ControlMessage::ScmRights(&raw)];
    let iov = [
        IoSlice::new(&header),
        IoSlice::new(json),
        IoSlice::new(payload),
    ];
    let total = HEADER_LEN + json.len() + payload.len();
    let sent = loop {
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &iov,
            if raw.is_empty() { &[] } else { &cmsgs },
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::Error::EINTR) => continue,
            Err(nix::Error::EPIPE) | Err(nix::Error::ECONNRESET) => {
                return Err(TransportError::Closed)
            }
            other => break other?,
        }
    };
    if sent < total {
        // The rest of a large frame; the descriptors went with the first bytes.
        let mut rest = Vec::with_capacity(3);
        let mut skip = sent;
        for part in [&header[..], json, payload] {
            if skip >= part.len() {
                skip -= part.len();
            } else {
                rest.push(&part[skip..]);
                skip = 0;
            }
        }
        let mut w = sock;
        for part in rest {
            w.write_all(part).map_err(|e| match e.kind() {
                std::io::ErrorKind::BrokenPipe => TransportError::Closed,
                _ => TransportError::Io(e),
            })?;
        }
    }
    Ok(())
}

/// Serialises `msg` and writes it as a frame.
pub fn send<T: serde::Serialize>(
    sock: &UnixStream,
    msg: &T,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<(), TransportError> {
    let json = serde_json::to_vec(msg)?;
    write_frame(sock, &json, payload, fds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{map_input, InputBytes, SharedMem};
    use serde_json::json;

    const LIMITS: FrameLimits = FrameLimits {
        max_json: 1 << 20,
        max_payload: 1 << 24,
    };

    #[test]
    fn frames_carry_json_payload_and_descriptors() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut shm = SharedMem::create(4096).unwrap();
        shm.as_mut_slice()[..5].copy_from_slice(b"hello");
        let payload = vec![7u8; 3 * 1024 * 1024];
        let writer = std::thread::spawn(move || {
            send(&a, &json!({"type": "x"}), &payload, &[shm.fd()]).unwrap();
            send(&a, &json!({"type": "y"}), &[], &[]).unwrap();
        });
        let f = read_frame(&b, LIMITS).unwrap();
        assert_eq!(f.json, br#"{"type":"x"}"#);
        assert_eq!(f.payload.len(), 3 * 1024 * 1024);
        assert_eq!(f.fds.len(), 1);
        let bytes = map_input(&f.fds[0], 0, 5).unwrap();
        assert_eq!(&bytes[..], b"hello");
        assert!(matches!(bytes, InputBytes::Mapped(_)));
        let g = read_frame(&b, LIMITS).unwrap();
        assert!(g.fds.is_empty());
        writer.join().unwrap();
        assert!(matches!(
            read_frame(&b, LIMITS),
            Err(TransportError::Closed)
        ));
    }

    #[test]
    fn oversized_frames_are_refused_before_allocation() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        a.write_all(&header).unwrap();
        assert!(matches!(
            read_frame(&b, LIMITS),
            Err(TransportError::TooLarge {
                what: "message",
                ..
            })
        ));
        header[..4].copy_from_slice(&2u32.to_le_bytes());
        header[4..].copy_from_slice(&u64::MAX.to_le_bytes());
        a.write_all(&header).unwrap();
        assert!(matches!(
            read_frame(&b, LIMITS),
            Err(TransportError::TooLarge {
                what: "inline payload",
                ..
            })
        ));
    }

    /// How many open descriptors of this process refer to one of these files. Counting all
    /// of /proc/self/fd would race with the tests running beside this one.
    fn descriptors_open_on(mems: &[SharedMem]) -> usize {
        use std::os::unix::fs::MetadataExt;
        let ident = |m: std::fs::Metadata| (m.dev(), m.ino());
        let wanted: Vec<(u64, u64)> = mems
            .iter()
            .map(|m| {
                let raw = m.fd().as_raw_fd();
                ident(std::fs::metadata(format!("/proc/self/fd/{raw}")).unwrap())
            })
            .collect();
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::metadata(e.ok()?.path()).ok())
            .filter(|m| wanted.contains(&ident(m.clone())))
            .count()
    }

    #[test]
    fn too_many_descriptors_are_all_closed() {
        let (a, b) = UnixStream::pair().unwrap();
        let mems: Vec<SharedMem> = (0..40).map(|_| SharedMem::create(8).unwrap()).collect();
        assert_eq!(descriptors_open_on(&mems), 40);
        let fds: Vec<BorrowedFd<'_>> = mems.iter().map(|m| m.fd()).collect();
        send(&a, &json!({"type": "x"}), &[], &fds).unwrap();
        assert!(matches!(
            read_frame(&b, LIMITS),
            Err(TransportError::TooManyDescriptors { count: 40 })
        ));
        // Every descriptor the kernel installed for that frame was closed again.
        assert_eq!(descriptors_open_on(&mems), 40);
    }

    #[test]
    fn parse_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            width: u32,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            image: Inner,
        }
        let f = Frame {
            json: br#"{"image": {"width": -1}}"#.to_vec(),
            payload: Vec::new(),
            fds: Vec::new(),
        };
        let err = f.parse::<Outer>().unwrap_err().to_string();
        assert!(
            err.starts_with("image.width: invalid value: integer `-1`"),
            "{err}"
        );
    }

    #[test]
    fn lists_for_objects_are_refused_naming_the_field() {
        let parse = |json: &str| {
            Frame {
                json: json.as_bytes().to_vec(),
                payload: Vec::new(),
                fds: Vec::new(),
            }
            .parse_request()
        };
        let image = r#"{"width": 1, "height": 1, "format": "rgba8", "data": {"inline": 0}}"#;
        assert!(parse(&format!(
            r#"{{"type":"submit","operation":"x","image":{image}}}"#
        ))
        .is_ok());
        let err = parse(&format!(
            r#"{{"type":"submit","operation":"x","image":{image},"mask_modifiers":[]}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mask_modifiers: invalid type: sequence"),
            "{err}"
        );
        let err = parse(
            r#"{"type":"submit","operation":"x","image":[1,1,"rgba8",null,null,{"inline":0}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("image: invalid type: sequence"), "{err}");
        let err = parse(&format!(
            r#"{{"type":"submit","operation":"x","image":{image},"references":[{image},[1]]}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("references[1]: invalid type: sequence"),
            "{err}"
        );
        let err = parse(r#"{"type":"submit","operation":"x","image":{"width":-1,"height":1,"format":"rgba8","data":{"inline":0}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("image.width: invalid value: integer `-1`"),
            "{err}"
        );
        let err = parse(r#"{"type":"fetch","job":"7"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("job: invalid type: string"), "{err}");
        // serde_json calls `null` for an enum a syntax error; it is a wrong type here.
        let err = parse(r#"{"type":"submit","operation":"x","image":{"width":1,"height":1,"format":null,"data":{"inline":0}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("image.format: "), "{err}");
        let err = parse(r#"{"type":"stream_open","operation":"x","mask_modifiers":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("mask_modifiers: invalid type: sequence"),
            "{err}"
        );
        for top in [r#"["submit", 1, "invert"]"#, "[]", "17", "null"] {
            let err = parse(top).unwrap_err().to_string();
            assert!(err.contains("must be a JSON object"), "{top}: {err}");
        }
        for bad in [&b"{\"type\":\"status\",\"x\":\"\xff\"}"[..], b"{", b"[[1]"] {
            let err = Frame {
                json: bad.to_vec(),
                payload: Vec::new(),
                fds: Vec::new(),
            }
            .parse_request()
            .unwrap_err();
            assert!(matches!(err, TransportError::Malformed(_)), "{err}");
        }
    }
}

//! Framing over Unix sockets (header, JSON, payload, file descriptors) and shared memory.

use crate::error::TransportError;
use memmap2::{Mmap, MmapMut, MmapOptions};
use nix::{
    fcntl::{fcntl, FcntlArg, SealFlag},
    sys::{
        memfd::{memfd_create, MemFdCreateFlag},
        socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags},
    },
};
use std::{
    fs::File,
    io::{IoSlice, IoSliceMut, Read, Write},
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
        unix::{fs::FileExt, net::UnixStream},
    },
};

/// Header: u32 JSON length, u64 payload length, little-endian.
pub const HEADER_LEN: usize = 12;
/// Descriptors one frame may carry.
pub const MAX_FDS: usize = 16;

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
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, TransportError> {
        Ok(serde_json::from_slice(&self.json)?)
    }
}

/// Reads one frame. Descriptors arrive with the header bytes.
pub fn read_frame(sock: &UnixStream, limits: FrameLimits) -> Result<Frame, TransportError> {
    let mut header = [0u8; HEADER_LEN];
    let mut fds = Vec::new();
    let mut got = 0;
    while got < HEADER_LEN {
        let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
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
pub fn send_json(
    sock: &UnixStream,
    msg: &serde_json::Value,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<(), TransportError> {
    let json = serde_json::to_vec(msg)?;
    write_frame(sock, &json, payload, fds)
}

/// A writable shared-memory buffer (a sealed-size memfd) that can be sent to another process.
pub struct SharedMem {
    file: File,
    map: MmapMut,
}

impl SharedMem {
    /// A zero-filled buffer of `len` bytes.
    pub fn create(len: usize) -> Result<Self, TransportError> {
        let fd = memfd_create(
            c"easel",
            MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
        )?;
        let file = File::from(fd);
        file.set_len(len.max(1) as u64)?;
        // Nobody may shrink it under a mapping (that would raise SIGBUS in the reader).
        fcntl(
            file.as_raw_fd(),
            FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW),
        )?;
        // SAFETY: the memfd is ours and sealed against shrinking.
        let map = unsafe {
            MmapOptions::new()
                .len(len.max(1))
                .populate()
                .map_mut(&file)?
        };
        Ok(SharedMem { file, map })
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.map
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.map
    }
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Bytes received from another process: mapped when the descriptor is a memfd we could seal
/// against shrinking, copied otherwise (so a peer can never make us fault).
pub enum InputBytes {
    Mapped(Mmap),
    Copied(Vec<u8>),
}

impl std::ops::Deref for InputBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            InputBytes::Mapped(m) => m,
            InputBytes::Copied(v) => v,
        }
    }
}

/// Why a descriptor could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("descriptor holds {size} bytes, {needed} needed from offset {offset}")]
    TooSmall { size: u64, needed: u64, offset: u64 },
    #[error("descriptor cannot be read: {0}")]
    Io(#[from] std::io::Error),
}

/// Makes `len` bytes at `offset` of `fd` readable without trusting the sender.
pub fn map_input(fd: &OwnedFd, offset: u64, len: usize) -> Result<InputBytes, MapError> {
    let file = File::from(fd.try_clone()?);
    let sealed = match fcntl(file.as_raw_fd(), FcntlArg::F_GET_SEALS) {
        Ok(seals) if SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK) => true,
        Ok(_) => fcntl(
            file.as_raw_fd(),
            FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK),
        )
        .is_ok(),
        Err(_) => false,
    };
    let size = file.metadata()?.len();
    let needed = offset.saturating_add(len as u64);
    if size < needed {
        return Err(MapError::TooSmall {
            size,
            needed: len as u64,
            offset,
        });
    }
    if len == 0 {
        return Ok(InputBytes::Copied(Vec::new()));
    }
    if sealed {
        // SAFETY: sealed against shrinking and checked to be long enough, so access cannot fault.
        let map = unsafe { MmapOptions::new().offset(offset).len(len).map(&file)? };
        Ok(InputBytes::Mapped(map))
    } else {
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)?;
        Ok(InputBytes::Copied(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            send_json(&a, &serde_json::json!({"type": "x"}), &payload, &[shm.fd()]).unwrap();
            send_json(&a, &serde_json::json!({"type": "y"}), &[], &[]).unwrap();
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

    #[test]
    fn short_or_unsealable_descriptors_are_safe() {
        let shm = SharedMem::create(100).unwrap();
        let fd = shm.fd().try_clone_to_owned().unwrap();
        assert!(matches!(
            map_input(&fd, 50, 100),
            Err(MapError::TooSmall { .. })
        ));
        // A plain file cannot be sealed: its bytes are copied instead of mapped.
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"abcdef").unwrap();
        let owned = OwnedFd::from(tmp);
        let bytes = map_input(&owned, 2, 3).unwrap();
        assert_eq!(&bytes[..], b"cde");
        assert!(matches!(bytes, InputBytes::Copied(_)));
    }
}

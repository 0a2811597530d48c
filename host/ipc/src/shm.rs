//! Shared memory between processes: sealed-size memfds we create, and bytes we receive through
//! a peer's descriptor, mapped only when the peer cannot shrink them under us.

use memmap2::{Mmap, MmapMut, MmapOptions};
use nix::{
    fcntl::{fcntl, FcntlArg, SealFlag},
    sys::memfd::{memfd_create, MFdFlags},
};
use std::{
    fs::File,
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::fs::FileExt,
    },
};

/// A writable shared-memory buffer (a sealed-size memfd) that can be sent to another process.
pub struct SharedMem {
    file: File,
    map: MmapMut,
}

impl SharedMem {
    /// A zero-filled buffer of `len` bytes.
    pub fn create(len: usize) -> std::io::Result<Self> {
        let file = Self::sealed_file(len)?;
        // SAFETY: the memfd is ours and sealed against shrinking.
        let map = unsafe {
            MmapOptions::new()
                .len(len.max(1))
                .populate()
                .map_mut(&file)?
        };
        Ok(SharedMem { file, map })
    }

    /// A buffer holding a copy of `data`. Written with pwrite, so the kernel fills the pages
    /// as it allocates them: no zeroing pass first and no page fault per 4 KiB, which a copy
    /// through a fresh mapping costs (the mapping is made afterwards, untouched).
    pub fn from_bytes(data: &[u8]) -> std::io::Result<Self> {
        let file = Self::sealed_file(data.len())?;
        file.write_all_at(data, 0)?;
        // SAFETY: the memfd is ours and sealed against shrinking.
        let map = unsafe { MmapOptions::new().len(data.len().max(1)).map_mut(&file)? };
        Ok(SharedMem { file, map })
    }

    /// A memfd of `len` bytes (at least 1) that can no longer shrink or grow.
    fn sealed_file(len: usize) -> std::io::Result<File> {
        let fd = memfd_create(
            c"easel",
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )?;
        let file = File::from(fd);
        file.set_len(len.max(1) as u64)?;
        // Nobody may shrink it under a mapping (that would raise SIGBUS in the reader).
        fcntl(
            &file,
            FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW),
        )?;
        Ok(file)
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

impl AsRef<[u8]> for SharedMem {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl AsMut<[u8]> for SharedMem {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.map
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
    let sealed = match fcntl(&file, FcntlArg::F_GET_SEALS) {
        Ok(seals) if SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK) => true,
        Ok(_) => fcntl(&file, FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK)).is_ok(),
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
    use std::io::Write;

    #[test]
    fn a_buffer_made_from_bytes_holds_them_and_stays_sealed() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let mut shm = SharedMem::from_bytes(&data).unwrap();
        assert_eq!(shm.as_slice(), &data[..]);
        shm.as_mut_slice()[0] = 9;
        let fd = shm.fd().try_clone_to_owned().unwrap();
        let seen = map_input(&fd, 0, data.len()).unwrap();
        assert!(matches!(seen, InputBytes::Mapped(_)), "sealed, so mapped");
        assert_eq!((seen[0], &seen[1..]), (9, &data[1..]));
        assert_eq!(SharedMem::from_bytes(&[]).unwrap().len(), 1);
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

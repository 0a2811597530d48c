"""Pixel containers: `Image` (a described view of pixels) and `SharedBuffer` (memfd-backed memory).

Pixels are never converted by the client: samples are native (little-endian) byte order,
straight (not premultiplied) RGBA or gray, exactly as the protocol describes them.
"""

from __future__ import annotations

import mmap
import os
import tempfile

__all__ = ["FORMATS", "Image", "SharedBuffer", "bytes_per_pixel"]

#: Bytes per pixel of every format the protocol knows.
FORMATS = {"rgba8": 4, "rgba16": 8, "rgba32f": 16, "gray8": 1, "gray32f": 4}
#: Formats a daemon offers through a hello feature of the same name: "rgba16f" is 4 x f16
#: little-endian, straight alpha. Send them only where ``Client.server_features`` lists them.
OPTIONAL_FORMATS = {"rgba16f": 8}


def bytes_per_pixel(fmt: str) -> int:
    try:
        return FORMATS[fmt] if fmt in FORMATS else OPTIONAL_FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown pixel format {fmt!r} (one of {', '.join(FORMATS)})") from None


class SharedBuffer:
    """Memory the daemon can map: a memfd (or, without memfd, an unlinked file in /dev/shm).

    Write pixels once into ``buf`` (a writable memoryview) and hand the buffer to the daemon as
    an `Image`'s data: only its descriptor travels over the socket. Where neither memfd nor
    /dev/shm is available, it falls back to an ordinary ``bytearray`` (``fd`` is None) and the
    pixels travel inline.

    The buffer may be reused or closed as soon as the call that sent it returns (the daemon has
    accepted or refused the request by then), except for stream frames: use a new buffer per
    frame, since a stream frame has no acceptance message.
    """

    def __init__(self, size: int, *, _fd: int | None = None, _readonly: bool = False):
        if size <= 0:
            raise ValueError("a SharedBuffer needs a positive size")
        self.size = size
        self.fd: int | None = None
        self._mmap: mmap.mmap | None = None
        self._buf: memoryview | None = None
        self.readonly = _readonly
        if _fd is not None:
            self.fd = _fd  # a descriptor received from the daemon (results): mapped read-only
            return
        fd = _new_shared_fd()
        if fd is None:
            self._buf = memoryview(bytearray(size))
            return
        try:
            os.ftruncate(fd, size)
        except OSError:
            os.close(fd)
            raise
        self.fd = fd

    @property
    def buf(self) -> memoryview:
        """The bytes, as a memoryview (writable unless the buffer came from the daemon).

        Mapped on first use: a buffer only filled with `write` and sent never needs a mapping.
        """
        if self._buf is None:
            if self.fd is None:
                raise ValueError("this SharedBuffer is closed")
            prot = mmap.PROT_READ if self.readonly else mmap.PROT_READ | mmap.PROT_WRITE
            try:
                # trackfd=False (3.13+): no dup of the descriptor held by the mmap object.
                self._mmap = mmap.mmap(self.fd, self.size, flags=mmap.MAP_SHARED, prot=prot,
                                       trackfd=False)
            except TypeError:
                self._mmap = mmap.mmap(self.fd, self.size, flags=mmap.MAP_SHARED, prot=prot)
            self._buf = memoryview(self._mmap)
        return self._buf

    @classmethod
    def from_bytes(cls, data) -> "SharedBuffer":
        """A new buffer holding a copy of ``data`` (any bytes-like object)."""
        src = memoryview(data).cast("B")
        sb = cls(max(1, src.nbytes))
        sb.write(0, src)
        return sb

    def read(self, offset: int, n: int) -> bytes:
        """``n`` bytes from ``offset``, copied out (with pread when there is a descriptor)."""
        if offset < 0 or n < 0 or offset + n > self.size:
            raise ValueError(f"{n} bytes at {offset} are not inside {self.size}")
        if self.fd is None:
            return bytes(self.buf[offset: offset + n])
        data = os.pread(self.fd, n, offset)
        if len(data) == n:
            return data
        out = bytearray(data)  # pread returns at most about 2 GiB at once
        while len(out) < n:
            chunk = os.pread(self.fd, n - len(out), offset + len(out))
            if not chunk:
                raise ValueError(f"the buffer ended {n - len(out)} bytes early")
            out += chunk
        return bytes(out)

    def write(self, offset: int, data) -> None:
        """Copies ``data`` into the buffer at ``offset``.

        Faster than assigning to ``buf`` for large fresh buffers: pwrite fills the memfd's
        pages in the kernel instead of taking a page fault for every 4 KiB of a new mapping
        (64 MiB: about 34 ms against 60 ms on the reference machine).
        """
        src = memoryview(data).cast("B")
        if offset < 0 or offset + src.nbytes > self.size:
            raise ValueError(f"{src.nbytes} bytes at {offset} do not fit in {self.size}")
        if self.fd is None or self.readonly:
            if self.readonly:
                raise ValueError("this buffer is read-only (it came from the daemon)")
            self.buf[offset: offset + src.nbytes] = src
            return
        done = 0
        while done < src.nbytes:
            done += os.pwrite(self.fd, src[done:], offset + done)

    @classmethod
    def _adopt(cls, fd: int) -> "SharedBuffer":
        size = os.fstat(fd).st_size
        return cls(size, _fd=fd, _readonly=True)

    @property
    def shared(self) -> bool:
        """True if the daemon can map this buffer (it has a descriptor)."""
        return self.fd is not None

    def close(self) -> None:
        """Unmaps and closes the descriptor. Views still held elsewhere keep the mapping alive."""
        buf, self._buf = getattr(self, "_buf", None), None
        if buf is not None:
            buf.release()
        if getattr(self, "_mmap", None) is not None:
            try:
                self._mmap.close()
            except BufferError:
                pass  # someone still holds a view of it; the mapping goes with the last view
            self._mmap = None
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "SharedBuffer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        kind = f"fd {self.fd}" if self.fd is not None else "in-process"
        return f"SharedBuffer({self.size} bytes, {kind})"


def _new_shared_fd() -> int | None:
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        try:
            # Sealable, so the daemon can seal it against shrinking and map it instead of
            # copying it (a mapping of a file that may shrink could fault in the reader).
            return memfd_create("easel", getattr(os, "MFD_CLOEXEC", 1)
                                | getattr(os, "MFD_ALLOW_SEALING", 2))
        except OSError:
            pass
    # Before memfd (or where it is forbidden): an unlinked file on the shared-memory tmpfs.
    if os.path.isdir("/dev/shm"):
        try:
            fd, path = tempfile.mkstemp(prefix="easel-", dir="/dev/shm")
        except OSError:
            return None
        os.unlink(path)
        return fd
    return None


class Image:
    """A described view of pixels.

    ``data`` is any bytes-like object (bytes, bytearray, memoryview, mmap, a numpy array...) or a
    `SharedBuffer`; the pixels start ``offset`` bytes into it. ``row_stride`` and
    ``pixel_stride`` are in bytes (tightly packed by default), so a region of a larger buffer
    can be described without copying it.
    """

    def __init__(self, width: int, height: int, format: str, data, row_stride: int | None = None,
                 pixel_stride: int | None = None, offset: int = 0):
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        self.format = format
        bpp = bytes_per_pixel(format)
        self.pixel_stride = bpp if pixel_stride is None else int(pixel_stride)
        self.row_stride = self.width * self.pixel_stride if row_stride is None else int(row_stride)
        if self.pixel_stride < bpp:
            raise ValueError(f"pixel_stride {self.pixel_stride} is less than a {format} pixel ({bpp})")
        if self.row_stride < (self.width - 1) * self.pixel_stride + bpp:
            raise ValueError(f"row_stride {self.row_stride} is too small for {self.width} pixels")
        if offset < 0:
            raise ValueError("offset must not be negative")
        self.offset = int(offset)
        self.data = data
        have = len(data) if isinstance(data, SharedBuffer) else memoryview(data).nbytes
        if have < self.offset + self.span:
            raise ValueError(f"{width}x{height} {format} (row_stride {self.row_stride}) needs "
                             f"{self.offset + self.span} bytes of data, got {have}")

    @property
    def bytes_per_pixel(self) -> int:
        return bytes_per_pixel(self.format)

    @property
    def span(self) -> int:
        """Bytes from the first pixel to the end of the last one."""
        return ((self.height - 1) * self.row_stride + (self.width - 1) * self.pixel_stride
                + self.bytes_per_pixel)

    @property
    def packed(self) -> bool:
        return (self.pixel_stride == self.bytes_per_pixel
                and self.row_stride == self.width * self.pixel_stride)

    def shared_buffer(self) -> SharedBuffer | None:
        """The `SharedBuffer` holding the pixels, if they are in one the daemon can map."""
        sb = self.data if isinstance(self.data, SharedBuffer) else getattr(self, "_shared", None)
        return sb if sb is not None and sb.fd is not None else None

    def _base_offset(self) -> int:
        """Offset of the first pixel inside `shared_buffer()`."""
        if isinstance(self.data, SharedBuffer):
            return self.offset
        return getattr(self, "_shared_offset", 0) + self.offset

    def view(self) -> memoryview:
        """A memoryview of the pixel span (from the first pixel to the end of the last one)."""
        src = self.data.buf if isinstance(self.data, SharedBuffer) else self.data
        return memoryview(src).cast("B")[self.offset: self.offset + self.span]

    def tobytes(self) -> bytes:
        """The pixels, tightly packed (rows of width × bytes_per_pixel)."""
        bpp = self.bytes_per_pixel
        row = self.width * bpp
        sb = self.shared_buffer()
        if self.packed and sb is not None:
            # Read through the descriptor: one copy in the kernel into the new bytes, without
            # a page fault for every 4 KiB of the mapping first.
            return sb.read(self._base_offset(), row * self.height)
        v = self.view()
        if self.packed:
            return bytes(v[: row * self.height])
        out = bytearray(row * self.height)
        for y in range(self.height):
            start = y * self.row_stride
            if self.pixel_stride == bpp:
                out[y * row:(y + 1) * row] = v[start:start + row]
            else:
                for x in range(self.width):
                    s = start + x * self.pixel_stride
                    d = y * row + x * bpp
                    out[d:d + bpp] = v[s:s + bpp]
        return bytes(out)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.width}x{self.height} {self.format}, "
                f"row_stride={self.row_stride})")

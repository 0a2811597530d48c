//! Image references resolved against the frame they came in: the one place where a reference's
//! size is checked against limits, its descriptor or payload range is found, and its bytes are
//! made readable without trusting the sender.

use crate::frame::Frame;
use crate::shm::{map_input, InputBytes};
use easel_protocol::{DataRef, ImageLayout, ImageRef, ProtocolError};

/// Pixels from a descriptor or from the frame's payload.
pub enum ImageBytes<'f> {
    Shared(InputBytes),
    Inline(&'f [u8]),
}

impl std::ops::Deref for ImageBytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ImageBytes::Shared(b) => b,
            ImageBytes::Inline(b) => b,
        }
    }
}

/// The layout and bytes `r` points at in `frame`, after checking its size against `max_pixels`
/// and its strides. `what` names the reference in errors ("image", "mask", "reference image 1").
pub fn resolve_image<'f>(
    r: &ImageRef,
    frame: &'f Frame,
    max_pixels: u64,
    what: &str,
) -> Result<(ImageLayout, ImageBytes<'f>), ProtocolError> {
    let layout = r.layout(max_pixels).map_err(|e| e.context(what))?;
    let len = layout
        .required_len()
        .ok_or_else(|| ProtocolError::too_large(format!("{what} is too large")))?;
    let bytes = match r.data {
        DataRef::Fd { fd, offset } => {
            let fd = frame.fds.get(fd).ok_or_else(|| {
                ProtocolError::invalid_image(format!(
                    "{what} refers to descriptor {fd}, but the message carried {}",
                    frame.fds.len()
                ))
            })?;
            ImageBytes::Shared(
                map_input(fd, offset, len)
                    .map_err(|e| ProtocolError::invalid_image(format!("{what}: {e}")))?,
            )
        }
        DataRef::Inline { inline } => {
            let start = usize::try_from(inline).unwrap_or(usize::MAX);
            let end = start
                .checked_add(len)
                .filter(|&e| e <= frame.payload.len())
                .ok_or_else(|| {
                    ProtocolError::invalid_image(format!(
                        "{what} needs {len} bytes from payload offset {inline}, but the payload has {} bytes",
                        frame.payload.len()
                    ))
                })?;
            ImageBytes::Inline(&frame.payload[start..end])
        }
    };
    Ok((layout, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::SharedMem;
    use easel_protocol::{Code, PixelFormat};

    fn rgba8_ref(w: u32, h: u32, data: DataRef) -> ImageRef {
        ImageRef::new(&ImageLayout::packed(w, h, PixelFormat::Rgba8), data)
    }

    #[test]
    fn references_resolve_to_descriptors_or_payload_and_say_what_is_wrong() {
        let mut shm = SharedMem::create(64).unwrap();
        shm.as_mut_slice()[..4].copy_from_slice(&[1, 2, 3, 4]);
        let frame = Frame {
            json: Vec::new(),
            payload: vec![9; 16],
            fds: vec![shm.fd().try_clone_to_owned().unwrap()],
        };
        let (layout, bytes) = resolve_image(
            &rgba8_ref(2, 2, DataRef::Fd { fd: 0, offset: 0 }),
            &frame,
            100,
            "image",
        )
        .unwrap();
        assert_eq!(layout.width, 2);
        assert_eq!(&bytes[..4], &[1, 2, 3, 4]);
        let (_, bytes) = resolve_image(
            &rgba8_ref(2, 2, DataRef::Inline { inline: 0 }),
            &frame,
            100,
            "image",
        )
        .unwrap();
        assert_eq!(bytes.len(), 16);
        let Err(err) = resolve_image(
            &rgba8_ref(2, 2, DataRef::Inline { inline: 4 }),
            &frame,
            100,
            "mask",
        ) else {
            panic!("a payload overrun was accepted")
        };
        assert!(
            err.message
                .starts_with("mask needs 16 bytes from payload offset 4"),
            "{err}"
        );
        let Err(err) = resolve_image(
            &rgba8_ref(2, 2, DataRef::Fd { fd: 3, offset: 0 }),
            &frame,
            100,
            "image",
        ) else {
            panic!("a missing descriptor was accepted")
        };
        assert!(err.message.contains("descriptor 3"), "{err}");
        let Err(err) = resolve_image(
            &rgba8_ref(20, 20, DataRef::Fd { fd: 0, offset: 0 }),
            &frame,
            100,
            "image",
        ) else {
            panic!("an image over the limit was accepted")
        };
        assert_eq!(err.code, Code::TooLarge);
    }
}

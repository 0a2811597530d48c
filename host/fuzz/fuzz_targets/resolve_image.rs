//! Image references resolved against a frame: any size, format, strides, offsets and descriptor
//! index against a memfd and a payload of any length. What resolves must be readable: every
//! pixel is read through the strided view and converted.
#![no_main]
use arbitrary::Arbitrary;
use easel_ipc::{resolve_image, Frame, SharedMem};
use easel_protocol::{DataRef, ImageRef, PixelFormat};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    width: u16,
    height: u16,
    format: u8,
    row_stride: Option<u32>,
    pixel_stride: Option<u16>,
    inline: bool,
    fd: u8,
    offset: u32,
    memfd_len: u16,
    payload: Vec<u8>,
}

const FORMATS: [PixelFormat; 6] = [
    PixelFormat::Rgba8,
    PixelFormat::Rgba16,
    PixelFormat::Rgba16F,
    PixelFormat::Rgba32F,
    PixelFormat::Gray8,
    PixelFormat::Gray32F,
];

fuzz_target!(|input: Input| {
    let Ok(mem) = SharedMem::create(input.memfd_len as usize) else {
        return;
    };
    let Ok(fd) = mem.fd().try_clone_to_owned() else {
        return;
    };
    let frame = Frame {
        json: Vec::new(),
        payload: input.payload,
        fds: vec![fd],
    };
    let r = ImageRef {
        width: input.width as u32,
        height: input.height as u32,
        format: FORMATS[input.format as usize % FORMATS.len()],
        row_stride: input.row_stride.map(|s| s as usize),
        pixel_stride: input.pixel_stride.map(|s| s as usize),
        data: if input.inline {
            DataRef::Inline {
                inline: input.offset as u64,
            }
        } else {
            DataRef::Fd {
                fd: input.fd as usize % 3,
                offset: input.offset as u64,
            }
        },
    };
    if let Ok((layout, bytes)) = resolve_image(&r, &frame, 1 << 16, "image") {
        let view = easel_imaging::ImageView::new(layout, &bytes)
            .expect("a resolved image is a valid view");
        let packed = easel_imaging::convert(&view, PixelFormat::Rgba32F);
        assert_eq!(packed.width, layout.width);
        assert_eq!(packed.height, layout.height);
    }
});

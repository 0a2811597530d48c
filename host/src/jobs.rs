//! Jobs and client connections: what a job carries from submit to result, and how its outcome
//! reaches the client that asked (fetch replies, progress events, stream frames).

use crate::{
    error::{Code, ProtocolError},
    imaging::{self, Mask, OwnedImage, Rect},
    protocol::{error_message, DataRef, ImageRef, Priority},
    transport::{self, SharedMem},
    worker::WireParam,
};
use easel_sdk::{ImageLayout, ImageView, PixelFormat};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    os::unix::net::UnixStream,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    time::Instant,
};

/// A client connection, shared by its reader thread and the workers that report to it.
pub struct Connection {
    pub id: u64,
    writer: Mutex<UnixStream>,
    /// The client accepts descriptors (its hello listed `fd`).
    pub fd_ok: AtomicBool,
    pub jobs: Mutex<HashMap<u64, Arc<JobState>>>,
}

impl Connection {
    pub fn new(id: u64, writer: UnixStream) -> Self {
        Connection {
            id,
            writer: Mutex::new(writer),
            fd_ok: AtomicBool::new(false),
            jobs: Mutex::new(HashMap::new()),
        }
    }

    /// Sends a message; a client that went away is not an error for the daemon.
    pub fn send(&self, msg: &Value) {
        if let Err(e) = transport::send_json(&self.writer.lock(), msg, &[], &[]) {
            log::debug!("connection {}: send failed: {e}", self.id);
        }
    }

    /// Sends `msg` with `image` attached under `"image"`, as a descriptor or inline.
    pub fn send_with_image(&self, mut msg: Value, image: &SharedImage) {
        let len = image.byte_len();
        let w = self.writer.lock();
        let result = if self.fd_ok.load(Ordering::Relaxed) {
            msg["image"] = json!(ImageRef::packed(
                &image.layout,
                DataRef::Fd { fd: 0, offset: 0 }
            ));
            transport::send_json(&w, &msg, &[], &[image.mem.fd()])
        } else {
            msg["image"] = json!(ImageRef::packed(
                &image.layout,
                DataRef::Inline { inline: 0 }
            ));
            transport::send_json(&w, &msg, &image.mem.as_slice()[..len], &[])
        };
        if let Err(e) = result {
            log::debug!("connection {}: send failed: {e}", self.id);
        }
    }

    pub fn send_error(&self, err: &ProtocolError, reply_to: Option<u64>, job: Option<u64>) {
        self.send(&error_message(err, reply_to, job));
    }
}

/// A packed image in shared memory.
pub struct SharedImage {
    pub layout: ImageLayout,
    pub mem: SharedMem,
}

impl SharedImage {
    pub fn from_owned(image: &OwnedImage) -> Result<Self, ProtocolError> {
        let mut mem = SharedMem::create(image.data.len())
            .map_err(|e| ProtocolError::internal(format!("cannot allocate shared memory: {e}")))?;
        mem.as_mut_slice()[..image.data.len()].copy_from_slice(&image.data);
        Ok(SharedImage {
            layout: image.layout(),
            mem,
        })
    }
    pub fn byte_len(&self) -> usize {
        self.layout.required_len().unwrap_or(0)
    }
    pub fn wire_ref(&self, fd: usize) -> ImageRef {
        ImageRef::packed(&self.layout, DataRef::Fd { fd, offset: 0 })
    }
}

/// What the daemon does with a worker's result before the client sees it.
pub struct PostProcess {
    /// The region of the document the job ran on.
    pub crop: Rect,
    /// The soft mask over `crop`, when the request had one.
    pub mask: Option<Mask>,
    /// Blend through the mask (else multiply alpha by it).
    pub composite: bool,
    /// The input crop in the working format, for compositing.
    pub original: Option<OwnedImage>,
    pub working_format: PixelFormat,
    pub result_format: PixelFormat,
    pub output_scale: u32,
    pub name: String,
    pub seed: u64,
}

/// The image side of a job.
pub enum WorkInput {
    /// The whole crop in the working format, and the mask if the operation takes one.
    Whole {
        image: SharedImage,
        mask: Option<SharedImage>,
    },
    /// A large crop of a tileable operation, kept in the client's format and converted one tile
    /// at a time when it runs, so memory stays bounded by the output plus one tile.
    Tiled {
        source: OwnedImage,
        tiles: Vec<crate::tiling::Tile>,
        /// Seam blending band, in input pixels.
        band: u32,
        /// Send each tile's mask to the plugin.
        send_mask: bool,
    },
}

/// Everything a worker needs to run the job, prepared by the connection thread.
pub struct PreparedWork {
    pub params: Vec<WireParam>,
    pub input: WorkInput,
    pub references: Vec<SharedImage>,
    pub post: PostProcess,
}

/// A finished job, ready for the client.
pub struct JobOutput {
    pub image: SharedImage,
    pub x: u64,
    pub y: u64,
    pub name: String,
    pub seed: u64,
    /// Output size over input size.
    pub scale: u32,
    pub elapsed_ms: u64,
}

enum Outcome {
    /// Still queued or running; `Some(reply_to)` once the client asked to fetch.
    Pending {
        fetch: Option<Option<u64>>,
    },
    Done(Result<JobOutput, ProtocolError>),
    Fetched,
}

/// One job from submit to fetch.
pub struct JobState {
    pub id: u64,
    pub operation: String,
    pub plugin: String,
    pub priority: Priority,
    /// `(stream id, frame seq)` for stream frames.
    pub stream: Option<(u64, u64)>,
    pub conn: Weak<Connection>,
    pub work: Mutex<Option<PreparedWork>>,
    pub cancel: AtomicBool,
    pub submitted: Instant,
    outcome: Mutex<Outcome>,
}

impl JobState {
    pub fn new(
        id: u64,
        operation: &str,
        plugin: &str,
        priority: Priority,
        stream: Option<(u64, u64)>,
        conn: &Arc<Connection>,
        work: PreparedWork,
    ) -> Self {
        JobState {
            id,
            operation: operation.to_string(),
            plugin: plugin.to_string(),
            priority,
            stream,
            conn: Arc::downgrade(conn),
            work: Mutex::new(Some(work)),
            cancel: AtomicBool::new(false),
            submitted: Instant::now(),
            outcome: Mutex::new(Outcome::Pending { fetch: None }),
        }
    }

    #[cfg(test)]
    pub fn for_test(id: u64, plugin: &str, priority: Priority, stream: Option<(u64, u64)>) -> Self {
        JobState {
            id,
            operation: "test".into(),
            plugin: plugin.into(),
            priority,
            stream,
            conn: Weak::new(),
            work: Mutex::new(None),
            cancel: AtomicBool::new(false),
            submitted: Instant::now(),
            outcome: Mutex::new(Outcome::Pending { fetch: None }),
        }
    }

    /// `(connection, stream)` for latest-wins replacement.
    pub fn stream_key(&self) -> Option<(usize, u64)> {
        self.stream.map(|(s, _)| (self.conn.as_ptr() as usize, s))
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    pub fn progress(&self, fraction: f64, message: &str) {
        if self.stream.is_some() {
            return;
        }
        if let Some(conn) = self.conn.upgrade() {
            conn.send(&json!({"type": "progress", "job": self.id, "fraction": fraction, "message": message}));
        }
    }

    /// Records the outcome and tells the client (at once if it is waiting in `fetch`).
    pub fn finish(&self, result: Result<JobOutput, ProtocolError>) {
        let Some(conn) = self.conn.upgrade() else {
            return;
        };
        if let Some((stream, seq)) = self.stream {
            match result {
                Ok(out) => conn.send_with_image(
                    json!({"type": "frame", "stream": stream, "seq": seq, "x": out.x, "y": out.y,
                           "elapsed_ms": out.elapsed_ms}),
                    &out.image,
                ),
                Err(e) => conn.send(&json!({"type": "frame_error", "stream": stream, "seq": seq,
                    "code": e.code.as_str(), "fault": e.fault().as_str(), "message": e.message})),
            }
            conn.jobs.lock().remove(&self.id);
            return;
        }
        conn.send(&json!({"type": "job_finished", "job": self.id, "ok": result.is_ok()}));
        let mut outcome = self.outcome.lock();
        match std::mem::replace(&mut *outcome, Outcome::Fetched) {
            Outcome::Pending {
                fetch: Some(reply_to),
            } => {
                drop(outcome);
                self.deliver(&conn, reply_to, result);
            }
            Outcome::Pending { fetch: None } => *outcome = Outcome::Done(result),
            done => *outcome = done,
        }
    }

    /// The client's `fetch`: answers now if the job has ended, else when it does.
    pub fn fetch(&self, conn: &Arc<Connection>, reply_to: Option<u64>) {
        let mut outcome = self.outcome.lock();
        match std::mem::replace(&mut *outcome, Outcome::Fetched) {
            Outcome::Done(result) => {
                drop(outcome);
                self.deliver(conn, reply_to, result);
            }
            Outcome::Pending { .. } => {
                *outcome = Outcome::Pending {
                    fetch: Some(reply_to),
                }
            }
            Outcome::Fetched => {
                drop(outcome);
                conn.send_error(
                    &ProtocolError::new(
                        Code::UnknownJob,
                        format!("job {} was already fetched", self.id),
                    ),
                    reply_to,
                    Some(self.id),
                );
            }
        }
    }

    fn deliver(
        &self,
        conn: &Connection,
        reply_to: Option<u64>,
        result: Result<JobOutput, ProtocolError>,
    ) {
        conn.jobs.lock().remove(&self.id);
        match result {
            Ok(out) => conn.send_with_image(
                json!({"type": "result", "reply_to": reply_to, "job": self.id,
                       "operation": self.operation, "name": out.name, "x": out.x, "y": out.y,
                       "seed": out.seed, "scale": out.scale, "elapsed_ms": out.elapsed_ms}),
                &out.image,
            ),
            Err(e) => conn.send_error(&e, reply_to, Some(self.id)),
        }
    }
}

/// Checks that a worker's result has the size the job expects.
pub fn check_result_size(
    result: &ImageView<'_>,
    (want_w, want_h): (u32, u32),
    plugin: &str,
) -> Result<(), ProtocolError> {
    if (result.width(), result.height()) != (want_w, want_h) {
        return Err(ProtocolError::new(
            Code::PluginError,
            format!(
                "plugin '{plugin}' returned a {}x{} image, expected {want_w}x{want_h}",
                result.width(),
                result.height()
            ),
        ));
    }
    Ok(())
}

/// Applies the soft mask to a result in the working format: blends it over `original` for
/// compositing operations at scale 1, else multiplies its alpha by the (resized) mask.
pub fn apply_mask(
    post: &PostProcess,
    result: OwnedImage,
    mask: Option<&Mask>,
    original: Option<&OwnedImage>,
) -> Result<OwnedImage, ProtocolError> {
    let Some(mask) = mask else { return Ok(result) };
    match original {
        Some(original) if post.composite && post.output_scale <= 1 => {
            imaging::composite_through_mask(original, &result, mask)
                .map_err(|e| ProtocolError::internal(e.to_string()))
        }
        _ => {
            let resized;
            let mask = if (mask.width, mask.height) == (result.width, result.height) {
                mask
            } else {
                resized = imaging::resize_mask_bilinear(mask, result.width, result.height);
                &resized
            };
            Ok(multiply_alpha(&result, mask))
        }
    }
}

/// Turns a worker's result into what the client gets: checks its size, composites or masks it,
/// converts it to the requested format and places it in the document.
pub fn post_process(
    post: &PostProcess,
    result: ImageView<'_>,
    plugin: &str,
    started: Instant,
) -> Result<JobOutput, ProtocolError> {
    let scale = post.output_scale.max(1);
    check_result_size(
        &result,
        (post.crop.width * scale, post.crop.height * scale),
        plugin,
    )?;
    let image = imaging::convert(&result, post.working_format);
    let image = apply_mask(post, image, post.mask.as_ref(), post.original.as_ref())?;
    let out = imaging::convert(&image.view(), post.result_format);
    Ok(post.output(SharedImage::from_owned(&out)?, started))
}

impl PostProcess {
    /// The finished job around its pixels.
    pub fn output(&self, image: SharedImage, started: Instant) -> JobOutput {
        let scale = self.output_scale.max(1);
        JobOutput {
            image,
            x: self.crop.x as u64 * scale as u64,
            y: self.crop.y as u64 * scale as u64,
            name: self.name.clone(),
            seed: self.seed,
            scale,
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }
}

/// Alpha × mask, in float, back in the image's format.
fn multiply_alpha(image: &OwnedImage, mask: &Mask) -> OwnedImage {
    let mut f = imaging::convert(&image.view(), PixelFormat::Rgba32F);
    for (px, m) in f.data.chunks_exact_mut(16).zip(&mask.data) {
        let a = f32::from_ne_bytes([px[12], px[13], px[14], px[15]]) * m.clamp(0.0, 1.0);
        px[12..16].copy_from_slice(&a.to_ne_bytes());
    }
    if image.format == PixelFormat::Rgba32F {
        f
    } else {
        imaging::convert(&f.view(), image.format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(mask: Option<Mask>, composite: bool, original: Option<OwnedImage>) -> PostProcess {
        PostProcess {
            crop: Rect {
                x: 3,
                y: 4,
                width: 2,
                height: 1,
            },
            mask,
            composite,
            original,
            working_format: PixelFormat::Rgba32F,
            result_format: PixelFormat::Rgba8,
            output_scale: 1,
            name: "n".into(),
            seed: 0,
        }
    }

    fn rgba32f(px: &[[f32; 4]]) -> OwnedImage {
        let buf = easel_sdk::ImageBuf::from_rgba_f32(
            px.len() as u32,
            1,
            px.concat().as_slice(),
            PixelFormat::Rgba32F,
        )
        .unwrap();
        OwnedImage::from_buf(buf).unwrap()
    }

    #[test]
    fn results_are_masked_or_composited_and_placed() {
        let result = rgba32f(&[[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]);
        let original = rgba32f(&[[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]]);
        let mask = Mask {
            width: 2,
            height: 1,
            data: vec![1.0, 0.5],
        };
        let out = post_process(
            &post(Some(mask.clone()), false, None),
            result.view(),
            "p",
            Instant::now(),
        )
        .unwrap();
        assert_eq!((out.x, out.y), (3, 4));
        let px = &out.image.mem.as_slice()[..8];
        assert_eq!(px, &[255, 255, 255, 255, 255, 255, 255, 128]);
        let out = post_process(
            &post(Some(mask), true, Some(original)),
            result.view(),
            "p",
            Instant::now(),
        )
        .unwrap();
        let px = &out.image.mem.as_slice()[..8];
        assert_eq!(px, &[255, 255, 255, 255, 128, 128, 128, 255]);
    }

    #[test]
    fn wrong_result_size_names_the_plugin() {
        let result = rgba32f(&[[1.0, 1.0, 1.0, 1.0]]);
        let Err(err) = post_process(
            &post(None, false, None),
            result.view(),
            "bad-plugin",
            Instant::now(),
        ) else {
            panic!("a wrong-size result was accepted")
        };
        assert_eq!(err.code, Code::PluginError);
        assert!(err.message.contains("bad-plugin") && err.message.contains("expected 2x1"));
    }
}

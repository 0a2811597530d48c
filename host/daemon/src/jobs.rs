//! Jobs and client connections: what a job carries from submit to result, and how its outcome
//! reaches the client that asked (fetch replies, progress events, stream frames).

use crate::connection::Connection;
use easel_imaging::{self as imaging, tiling::Tile, ImageView, Mask, OwnedImage, Rect};
use easel_ipc::SharedMem;
use easel_protocol::{
    Code, ImageLayout, JobResult, JobTimings, PixelFormat, Priority, ProtocolError, ResolvedParam,
    ServerMessage,
};
use parking_lot::Mutex;
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    time::Instant,
};

/// A packed image in shared memory.
pub struct SharedImage {
    pub layout: ImageLayout,
    pub mem: SharedMem,
}

impl SharedImage {
    pub fn from_owned(image: &OwnedImage) -> Result<Self, ProtocolError> {
        let mem = SharedMem::from_bytes(&image.data)
            .map_err(|e| ProtocolError::internal(format!("cannot allocate shared memory: {e}")))?;
        Ok(SharedImage {
            layout: image.layout(),
            mem,
        })
    }
    /// `view` converted to `format` straight into new shared memory: one pass, no copy on the
    /// side.
    pub fn from_view(view: &ImageView<'_>, format: PixelFormat) -> Result<Self, ProtocolError> {
        let layout = ImageLayout::packed(view.width(), view.height(), format);
        let len = layout
            .required_len()
            .ok_or_else(|| ProtocolError::too_large("the image does not fit in memory"))?;
        let mut mem = SharedMem::create(len)
            .map_err(|e| ProtocolError::internal(format!("cannot allocate shared memory: {e}")))?;
        imaging::convert_into(view, format, mem.as_mut_slice());
        Ok(SharedImage { layout, mem })
    }
    pub fn byte_len(&self) -> usize {
        self.layout.required_len().unwrap_or(0)
    }
    pub fn wire_ref(&self, fd: usize) -> easel_protocol::ImageRef {
        easel_protocol::ImageRef::new(&self.layout, easel_protocol::DataRef::Fd { fd, offset: 0 })
    }

    /// Bytes this image holds in shared memory.
    pub fn mem_len(&self) -> usize {
        self.mem.len()
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
        tiles: Vec<Tile>,
        /// Seam blending band, in input pixels.
        band: u32,
        /// Send each tile's mask to the plugin.
        send_mask: bool,
    },
}

/// Everything a worker needs to run the job, prepared by the connection thread.
pub struct PreparedWork {
    pub params: Vec<ResolvedParam>,
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
    /// Where the time went in the worker, when a worker ran the job.
    pub timings: Option<JobTimings>,
}

enum Outcome {
    /// Still queued or running; `Some(reply_to)` once the client asked to fetch.
    Pending {
        fetch: Option<Option<u64>>,
        /// Cancelled: whatever the worker returns, the job ends as cancelled.
        cancelled: bool,
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
    /// The connection that submitted it (its id keys latest-wins stream slots).
    pub conn_id: u64,
    pub conn: Weak<Connection>,
    pub work: Mutex<Option<PreparedWork>>,
    pub cancel: AtomicBool,
    pub submitted: Instant,
    /// Shared-memory bytes its prepared input holds (counted against the queue's byte budget).
    pub input_bytes: u64,
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
            conn_id: conn.id,
            conn: Arc::downgrade(conn),
            input_bytes: work.input_bytes(),
            work: Mutex::new(Some(work)),
            cancel: AtomicBool::new(false),
            submitted: Instant::now(),
            outcome: Mutex::new(Outcome::Pending {
                fetch: None,
                cancelled: false,
            }),
        }
    }

    #[cfg(test)]
    pub fn for_test(
        id: u64,
        plugin: &str,
        priority: Priority,
        stream: Option<(u64, u64)>,
        input_bytes: u64,
    ) -> Self {
        JobState {
            id,
            operation: "test".into(),
            plugin: plugin.into(),
            priority,
            stream,
            conn_id: 0,
            conn: Weak::new(),
            input_bytes,
            work: Mutex::new(None),
            cancel: AtomicBool::new(false),
            submitted: Instant::now(),
            outcome: Mutex::new(Outcome::Pending {
                fetch: None,
                cancelled: false,
            }),
        }
    }

    /// `(connection id, stream)` for latest-wins replacement.
    pub fn stream_key(&self) -> Option<(u64, u64)> {
        self.stream.map(|(s, _)| (self.conn_id, s))
    }

    /// Bytes of shared memory the job's prepared input holds.
    pub fn input_bytes(&self) -> u64 {
        self.work
            .lock()
            .as_ref()
            .map_or(0, PreparedWork::input_bytes)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    pub fn progress(&self, fraction: f64, message: &str) {
        if self.stream.is_some() {
            return;
        }
        if let Some(conn) = self.conn.upgrade() {
            conn.send_lossy(ServerMessage::Progress {
                job: self.id,
                fraction,
                message: message.to_string(),
            });
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
                    ServerMessage::Frame {
                        stream,
                        seq,
                        x: out.x,
                        y: out.y,
                        elapsed_ms: out.elapsed_ms,
                        image: out.image.wire_ref(0),
                    },
                    Arc::new(out.image),
                ),
                Err(e) => conn.send(ServerMessage::FrameError {
                    stream,
                    seq,
                    code: e.code,
                    fault: e.fault(),
                    message: e.message,
                }),
            }
            conn.jobs.lock().remove(&self.id);
            return;
        }
        let mut outcome = self.outcome.lock();
        let result = match &*outcome {
            Outcome::Pending {
                cancelled: true, ..
            } => Err(ProtocolError::cancelled()),
            _ => result,
        };
        conn.send(ServerMessage::JobFinished {
            job: self.id,
            ok: result.is_ok(),
        });
        match std::mem::replace(&mut *outcome, Outcome::Fetched) {
            Outcome::Pending {
                fetch: Some(reply_to),
                ..
            } => {
                drop(outcome);
                self.deliver(&conn, reply_to, result);
            }
            Outcome::Pending { fetch: None, .. } => *outcome = Outcome::Done(result),
            done => *outcome = done,
        }
    }

    /// Marks the job cancelled: a running job's result is discarded, and a finished job's
    /// unfetched result becomes `cancelled` too, so a cancel always ends the job as cancelled.
    pub fn mark_cancelled(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        let mut outcome = self.outcome.lock();
        match &mut *outcome {
            Outcome::Pending { cancelled, .. } => *cancelled = true,
            Outcome::Done(result) => *result = Err(ProtocolError::cancelled()),
            Outcome::Fetched => {}
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
            Outcome::Pending {
                fetch: None,
                cancelled,
            } => {
                *outcome = Outcome::Pending {
                    fetch: Some(reply_to),
                    cancelled,
                }
            }
            pending @ Outcome::Pending { fetch: Some(_), .. } => {
                *outcome = pending;
                drop(outcome);
                conn.send_error(
                    &ProtocolError::new(
                        Code::BadRequest,
                        format!(
                            "job {} is already being fetched by an earlier request on this connection; its answer comes once",
                            self.id
                        ),
                    ),
                    reply_to,
                    Some(self.id),
                );
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
                ServerMessage::Result(Box::new(JobResult {
                    reply_to,
                    job: self.id,
                    operation: self.operation.clone(),
                    name: out.name,
                    x: out.x,
                    y: out.y,
                    seed: out.seed,
                    scale: out.scale,
                    elapsed_ms: out.elapsed_ms,
                    image: out.image.wire_ref(0),
                    timings: out.timings,
                })),
                Arc::new(out.image),
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

/// A worker's result for a region of `want` pixels (the whole crop or one tile, times the
/// scale): its size checked, then, when there is a mask, converted to the working format and
/// composited or masked. `None`: no mask, the result is placed as it is (converted once, into
/// the output).
pub fn mask_result(
    post: &PostProcess,
    result: &ImageView<'_>,
    want: (u32, u32),
    mask: Option<&Mask>,
    original: Option<&OwnedImage>,
    plugin: &str,
) -> Result<Option<OwnedImage>, ProtocolError> {
    check_result_size(result, want, plugin)?;
    if mask.is_none() {
        return Ok(None);
    }
    let image = imaging::convert(result, post.working_format);
    apply_mask(post, image, mask, original).map(Some)
}

impl PreparedWork {
    /// Bytes of shared memory the prepared input holds.
    pub fn input_bytes(&self) -> u64 {
        let image = match &self.input {
            WorkInput::Whole { image, mask } => {
                image.mem_len() + mask.as_ref().map_or(0, SharedImage::mem_len)
            }
            WorkInput::Tiled { source, .. } => source.data.len(),
        };
        let refs: usize = self.references.iter().map(SharedImage::mem_len).sum();
        (image + refs) as u64
    }
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
            timings: None,
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
        OwnedImage {
            width: px.len() as u32,
            height: 1,
            format: PixelFormat::Rgba32F,
            data: px.concat().iter().flat_map(|v| v.to_ne_bytes()).collect(),
        }
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
        let p = post(Some(mask.clone()), false, None);
        let out = mask_result(&p, &result.view(), (2, 1), p.mask.as_ref(), None, "p")
            .unwrap()
            .expect("a masked result");
        let px = imaging::convert(&out.view(), PixelFormat::Rgba8).data;
        assert_eq!(px, [255, 255, 255, 255, 255, 255, 255, 128]);
        let placed = p.output(SharedImage::from_owned(&out).unwrap(), Instant::now());
        assert_eq!((placed.x, placed.y), (3, 4));
        let p = post(Some(mask), true, Some(original));
        let out = mask_result(
            &p,
            &result.view(),
            (2, 1),
            p.mask.as_ref(),
            p.original.as_ref(),
            "p",
        )
        .unwrap()
        .expect("a composited result");
        let px = imaging::convert(&out.view(), PixelFormat::Rgba8).data;
        assert_eq!(px, [255, 255, 255, 255, 128, 128, 128, 255]);
    }

    #[test]
    fn wrong_result_size_names_the_plugin() {
        let result = rgba32f(&[[1.0, 1.0, 1.0, 1.0]]);
        let p = post(None, false, None);
        let Err(err) = mask_result(&p, &result.view(), (2, 1), None, None, "bad-plugin") else {
            panic!("a wrong-size result was accepted")
        };
        assert_eq!(err.code, Code::PluginError);
        assert!(err.message.contains("bad-plugin") && err.message.contains("expected 2x1"));
        // Without a mask the result is placed as it is: nothing converted on the side.
        let fine = rgba32f(&[[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]);
        assert!(mask_result(&p, &fine.view(), (2, 1), None, None, "p")
            .unwrap()
            .is_none());
    }
}

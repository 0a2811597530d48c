//! The filter's worker thread: owns the connection to the daemon and the stream, sends the
//! newest read-back frame (latest wins: a frame not yet taken is replaced by the next), turns
//! each returned mask into guided-filter coefficients (remove background), or each returned
//! picture into a gain map (fix low light, match look), and leaves them for the render thread.
//! Operations that take reference images (match look) run as one interactive job per frame with
//! the reference, since a stream carries no references. It reconnects by itself; OBS's threads
//! never wait for it.

use crate::{animatic, matte};
use easel_client::{protocol::ServerMessage, Client, ClientError, SharedInput, SubmitOptions};
use easel_imaging::{DecodeLimits, OwnedImage};
use easel_protocol::{OperationInfo, PixelFormat, Priority, StreamSettings};
use parking_lot::{Condvar, Mutex};
use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// A frame read back from the GPU (RGBA8, tightly packed).
pub struct InFrame {
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// What frame `seq` gave, `width`×`height`: guided-filter coefficients of a person mask
/// (`[a, b]` pairs of f32), or with `gain` a gain map (RGBA f32, see [`matte::gain_map`]).
pub struct Coefs {
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    pub gain: bool,
    pub data: Vec<f32>,
}

/// The operation whose result is a person mask; the others' results are pictures.
pub const MASK_OPERATION: &str = "remove-background";

/// What the worker needs from the filter's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub socket: PathBuf,
    /// `easeld` to start when nothing answers (empty: never start one).
    pub daemon: Option<PathBuf>,
    pub settings: StreamSettings,
    /// The reference image of operations that take one (match look).
    pub reference: Option<PathBuf>,
    pub smoothing: f32,
    pub edge_radius: usize,
    pub refine_edges: bool,
}

pub struct Shared {
    pub frame: Mutex<Option<InFrame>>,
    pub wake: Condvar,
    pub result: Mutex<Option<Coefs>>,
    pub config: Mutex<(u64, Config)>,
    pub connected: AtomicBool,
    pub stop: AtomicBool,
    pub operations: Mutex<Vec<OperationInfo>>,
    /// Frames processed by the daemon, and frames it reported dropped or failed.
    pub processed: AtomicU64,
    pub dropped: AtomicU64,
    pub name: String,
}

impl Shared {
    pub fn new(config: Config, name: String) -> Arc<Shared> {
        Arc::new(Shared {
            frame: Mutex::new(None),
            wake: Condvar::new(),
            result: Mutex::new(None),
            config: Mutex::new((0, config)),
            connected: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            operations: Mutex::new(Vec::new()),
            processed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            name,
        })
    }

    /// Latest wins: replaces a frame the worker has not taken yet.
    pub fn offer(&self, f: InFrame) {
        *self.frame.lock() = Some(f);
        self.wake.notify_one();
    }

    pub fn set_config(&self, c: Config) {
        let mut g = self.config.lock();
        if g.1 != c {
            g.0 += 1;
            g.1 = c;
        }
        drop(g);
        self.wake.notify_one();
    }
}

struct Conn {
    client: Client,
    /// None for operations that run as jobs (they take a reference image).
    stream: Option<u64>,
    generation: u64,
}

/// Whether the operation runs as one job per frame (with the reference image) instead of a
/// stream.
fn uses_jobs(config: &Config) -> bool {
    config.reference.is_some()
}

/// The reference image, at most 256 pixels on its longer side (its colour statistics are
/// what counts).
fn load_reference(path: &std::path::Path) -> Result<OwnedImage, String> {
    if path.as_os_str().is_empty() {
        return Err("match look needs a reference look image; none is chosen".into());
    }
    let img = easel_imaging::decode_file(path, &DecodeLimits::default())
        .map_err(|e| format!("cannot read the reference image {}: {e}", path.display()))?;
    let img = if img.format == PixelFormat::Rgba8 {
        img
    } else {
        easel_imaging::convert(&img.view(), PixelFormat::Rgba8)
    };
    if img.width <= 256 && img.height <= 256 {
        return Ok(img);
    }
    let (_, _, w, h) = animatic::fit(img.width, img.height, 256, 256);
    Ok(OwnedImage {
        width: w,
        height: h,
        format: PixelFormat::Rgba8,
        data: animatic::resize_rgba8(&img.data, img.width, img.height, w, h),
    })
}

/// The frame as the daemon gets it (opaque) and the bytes kept for the result's step.
fn opaque(f: InFrame) -> OwnedImage {
    let mut rgba = f.rgba;
    for p in rgba.chunks_exact_mut(4) {
        p[3] = 255;
    }
    OwnedImage {
        width: f.width,
        height: f.height,
        format: PixelFormat::Rgba8,
        data: rgba,
    }
}

/// At most this many frames are with the daemon at once (one running, one waiting).
const MAX_IN_FLIGHT: usize = 2;
const RETRY: Duration = Duration::from_secs(1);

pub fn run(shared: Arc<Shared>) {
    let mut conn: Option<Conn> = None;
    let mut next_try = Instant::now();
    let mut warned = false;
    // Frames with the daemon: their sequence number, when sent, and the bytes sent.
    let mut in_flight: VecDeque<(u64, Instant, Vec<u8>)> = VecDeque::new();
    let mut prev_mask: Option<(u32, u32, Vec<f32>)> = None;
    let mut reference: Option<(PathBuf, Result<OwnedImage, String>)> = None;
    let mut frame_error_logged = false;
    while !shared.stop.load(Ordering::Acquire) {
        let (generation, config) = shared.config.lock().clone();
        let Some(c) = conn.as_mut() else {
            in_flight.clear();
            if Instant::now() >= next_try {
                match open(&config, generation) {
                    Ok((c, ops)) => {
                        *shared.operations.lock() = ops;
                        shared.connected.store(true, Ordering::Release);
                        if warned {
                            crate::log_info(&format!(
                                "[easel] '{}': the Easel daemon is back at {}; processing again",
                                shared.name,
                                config.socket.display()
                            ));
                        }
                        warned = false;
                        frame_error_logged = false;
                        conn = Some(c);
                        continue;
                    }
                    Err(e) => {
                        shared.connected.store(false, Ordering::Release);
                        if !warned {
                            crate::log_warn(&format!(
                                "[easel] '{}': {e}. Frames pass through unchanged until the \
                                 daemon answers; retrying every second.",
                                shared.name
                            ));
                            warned = true;
                        }
                        next_try = Instant::now() + RETRY;
                    }
                }
            }
            let mut g = shared.frame.lock();
            g.take(); // nothing to do with frames while disconnected
            shared.wake.wait_for(&mut g, Duration::from_millis(200));
            continue;
        };
        if c.generation != generation {
            if let Some(s) = c.stream.take() {
                let _ = c.client.stream_close(s);
            }
            in_flight.clear();
            prev_mask = None;
            frame_error_logged = false;
            // A result of the old settings (another operation, perhaps) is not shown.
            *shared.result.lock() = None;
            if !uses_jobs(&config) {
                match c.client.stream_open(config.settings.clone()) {
                    Ok(s) => c.stream = Some(s),
                    Err(e) => {
                        lost(&shared, &mut conn, &mut warned, &e, &config);
                        next_try = Instant::now() + RETRY;
                        continue;
                    }
                }
            }
            c.generation = generation;
        }
        let Some(stream) = c.stream else {
            // One job per frame, with the reference image.
            let f = {
                let mut g = shared.frame.lock();
                if g.is_none() {
                    shared.wake.wait_for(&mut g, Duration::from_millis(100));
                }
                g.take()
            };
            let Some(f) = f else { continue };
            let Some(path) = config.reference.clone() else {
                continue;
            };
            if reference.as_ref().is_none_or(|(p, _)| *p != path) {
                let r = load_reference(&path);
                if let Err(e) = &r {
                    crate::log_warn(&format!(
                        "[easel] '{}': {e}; frames pass through unchanged",
                        shared.name
                    ));
                }
                reference = Some((path, r));
            }
            let Some((_, Ok(ref_img))) = &reference else {
                continue;
            };
            let (seq, img) = (f.seq, opaque(f));
            let result = SharedInput::new(&img).and_then(|input| {
                let refs = SharedInput::new(ref_img)?;
                let o = SubmitOptions {
                    params: config.settings.params.clone(),
                    priority: Priority::Interactive,
                    ..Default::default()
                };
                let job =
                    c.client
                        .submit_with(&config.settings.operation, &input, None, &[&refs], o)?;
                c.client.wait(job, |_, _| {})
            });
            match result {
                Ok(r) => {
                    shared.processed.fetch_add(1, Ordering::Relaxed);
                    if let Some(out) = picture_result(seq, &img.data, &r.image) {
                        *shared.result.lock() = Some(out);
                    }
                }
                Err(e) if e.code().is_some() => {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    if !frame_error_logged {
                        crate::log_warn(&format!(
                            "[easel] '{}': the daemon could not process a frame: {e}",
                            shared.name
                        ));
                        frame_error_logged = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    lost(&shared, &mut conn, &mut warned, &e, &config);
                    next_try = Instant::now() + RETRY;
                }
            }
            continue;
        };
        // Send the newest frame when the daemon has room for it.
        if in_flight.len() < MAX_IN_FLIGHT {
            let f = {
                let mut g = shared.frame.lock();
                if g.is_none() && in_flight.is_empty() {
                    shared.wake.wait_for(&mut g, Duration::from_millis(100));
                }
                g.take()
            };
            if let Some(f) = f {
                let (seq, img) = (f.seq, opaque(f));
                let sent = SharedInput::new(&img)
                    .and_then(|input| c.client.stream_frame(stream, seq, &input, None));
                match sent {
                    Ok(()) => in_flight.push_back((seq, Instant::now(), img.data)),
                    Err(e) => {
                        lost(&shared, &mut conn, &mut warned, &e, &config);
                        next_try = Instant::now() + RETRY;
                        continue;
                    }
                }
            }
        }
        if in_flight.is_empty() {
            continue;
        }
        let timeout = if in_flight.len() >= MAX_IN_FLIGHT {
            20
        } else {
            4
        };
        match c.client.next_event(Some(Duration::from_millis(timeout))) {
            Ok(None) => {
                // A daemon that holds a frame for long is treated as slow: the render thread
                // passes frames through once the mask is old; keep waiting for this one.
                if let Some((_, t, _)) = in_flight.front() {
                    if t.elapsed() > Duration::from_secs(5) {
                        in_flight.pop_front();
                    }
                }
            }
            Ok(Some(m)) => match &m.msg {
                ServerMessage::Frame { seq, .. } => {
                    let seq = *seq;
                    let sent = take(&mut in_flight, seq);
                    shared.processed.fetch_add(1, Ordering::Relaxed);
                    let Ok(img) = m.image() else { continue };
                    let Some(sent) = sent else { continue };
                    let out = if config.settings.operation == MASK_OPERATION {
                        mask_result(seq, &sent, &img, &config, &mut prev_mask)
                    } else {
                        picture_result(seq, &sent, &img)
                    };
                    if let Some(out) = out {
                        *shared.result.lock() = Some(out);
                    }
                }
                ServerMessage::FrameDropped { seq, .. } => {
                    take(&mut in_flight, *seq);
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                ServerMessage::FrameError { seq, message, .. } => {
                    take(&mut in_flight, *seq);
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    if !frame_error_logged {
                        crate::log_warn(&format!(
                            "[easel] '{}': the daemon could not process a frame: {message}",
                            shared.name
                        ));
                        frame_error_logged = true;
                    }
                }
                _ => {}
            },
            Err(e) => {
                lost(&shared, &mut conn, &mut warned, &e, &config);
                next_try = Instant::now() + RETRY;
            }
        }
    }
    if let Some(mut c) = conn {
        if let Some(s) = c.stream {
            let _ = c.client.stream_close(s);
        }
    }
}

fn as_rgba32f(img: &OwnedImage) -> std::borrow::Cow<'_, OwnedImage> {
    if img.format == PixelFormat::Rgba32F {
        std::borrow::Cow::Borrowed(img)
    } else {
        std::borrow::Cow::Owned(easel_imaging::convert(&img.view(), PixelFormat::Rgba32F))
    }
}

/// A remove-background mask (of the frame whose bytes were `sent`) as smoothed guided-filter
/// coefficients.
fn mask_result(
    seq: u64,
    sent: &[u8],
    img: &OwnedImage,
    config: &Config,
    prev_mask: &mut Option<(u32, u32, Vec<f32>)>,
) -> Option<Coefs> {
    let img = as_rgba32f(img);
    let (w, h) = (img.width, img.height);
    let guide = matte::luma(sent);
    if guide.len() != (w * h) as usize {
        return None;
    }
    let mut mask = matte::mask_of_rgba_f32(&img.data);
    if let Some((pw, ph, prev)) = prev_mask.as_ref() {
        if (*pw, *ph) == (w, h) {
            matte::smooth_temporal(prev, &mut mask, config.smoothing);
        }
    }
    let data = if config.refine_edges {
        matte::guided_coefficients(
            &guide,
            &mask,
            w as usize,
            h as usize,
            config.edge_radius.max(1),
            2e-3,
        )
    } else {
        matte::plain_coefficients(&mask)
    };
    *prev_mask = Some((w, h, mask));
    Some(Coefs {
        seq,
        width: w,
        height: h,
        gain: false,
        data,
    })
}

/// A processed picture (of the frame whose bytes were `sent`) as a gain map.
fn picture_result(seq: u64, sent: &[u8], img: &OwnedImage) -> Option<Coefs> {
    let img = as_rgba32f(img);
    let (w, h) = (img.width, img.height);
    if sent.len() != (w * h * 4) as usize {
        return None;
    }
    Some(Coefs {
        seq,
        width: w,
        height: h,
        gain: true,
        data: matte::gain_map(sent, &matte::floats(&img.data)),
    })
}

fn take(in_flight: &mut VecDeque<(u64, Instant, Vec<u8>)>, seq: u64) -> Option<Vec<u8>> {
    let pos = in_flight.iter().position(|(s, _, _)| *s == seq)?;
    // Anything older than an answered frame will not come back any more.
    let mut sent = None;
    for _ in 0..=pos {
        sent = in_flight.pop_front().map(|(_, _, g)| g);
    }
    sent
}

fn lost(
    shared: &Shared,
    conn: &mut Option<Conn>,
    warned: &mut bool,
    e: &ClientError,
    config: &Config,
) {
    *conn = None;
    shared.connected.store(false, Ordering::Release);
    if !*warned {
        crate::log_warn(&format!(
            "[easel] '{}': lost the Easel daemon at {} ({e}). Frames pass through unchanged \
             until it is back; reconnecting by itself.",
            shared.name,
            config.socket.display()
        ));
        *warned = true;
    }
}

fn open(config: &Config, generation: u64) -> Result<(Conn, Vec<OperationInfo>), ClientError> {
    let mut client = match &config.daemon {
        Some(d) => Client::connect_or_start(&config.socket, d, None, Duration::from_secs(10))?,
        None => Client::connect(&config.socket)?,
    };
    let ops = client.operations()?.operations;
    let stream = if uses_jobs(config) {
        None
    } else {
        Some(client.stream_open(config.settings.clone())?)
    };
    Ok((
        Conn {
            client,
            stream,
            generation,
        },
        ops,
    ))
}

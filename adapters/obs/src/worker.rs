//! The filter's worker thread: owns the connection to the daemon and the stream, sends the
//! newest read-back frame (latest wins: a frame not yet taken is replaced by the next), turns
//! each returned mask into guided-filter coefficients and leaves them for the render thread.
//! It reconnects by itself; OBS's threads never wait for it.

use crate::matte;
use easel_client::{protocol::ServerMessage, Client, ClientError, SharedInput};
use easel_imaging::OwnedImage;
use easel_protocol::{OperationInfo, PixelFormat, StreamSettings};
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

/// Guided-filter coefficients for frame `seq` (`width`×`height` pairs of f32).
pub struct Coefs {
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

/// What the worker needs from the filter's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub socket: PathBuf,
    /// `easeld` to start when nothing answers (empty: never start one).
    pub daemon: Option<PathBuf>,
    pub settings: StreamSettings,
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
    stream: u64,
    generation: u64,
}

/// At most this many frames are with the daemon at once (one running, one waiting).
const MAX_IN_FLIGHT: usize = 2;
const RETRY: Duration = Duration::from_secs(1);

pub fn run(shared: Arc<Shared>) {
    let mut conn: Option<Conn> = None;
    let mut next_try = Instant::now();
    let mut warned = false;
    let mut in_flight: VecDeque<(u64, Instant, Vec<f32>)> = VecDeque::new();
    let mut prev_mask: Option<(u32, u32, Vec<f32>)> = None;
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
            let _ = c.client.stream_close(c.stream);
            match c.client.stream_open(config.settings.clone()) {
                Ok(s) => {
                    c.stream = s;
                    c.generation = generation;
                    in_flight.clear();
                    prev_mask = None;
                }
                Err(e) => {
                    lost(&shared, &mut conn, &mut warned, &e, &config);
                    next_try = Instant::now() + RETRY;
                    continue;
                }
            }
        }
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
                let guide = matte::luma(&f.rgba);
                let mut rgba = f.rgba;
                for p in rgba.chunks_exact_mut(4) {
                    p[3] = 255;
                }
                let img = OwnedImage {
                    width: f.width,
                    height: f.height,
                    format: PixelFormat::Rgba8,
                    data: rgba,
                };
                let sent = SharedInput::new(&img)
                    .and_then(|input| c.client.stream_frame(c.stream, f.seq, &input, None));
                match sent {
                    Ok(()) => in_flight.push_back((f.seq, Instant::now(), guide)),
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
                    let guide = take(&mut in_flight, seq);
                    shared.processed.fetch_add(1, Ordering::Relaxed);
                    let Ok(img) = m.image() else { continue };
                    let Some(guide) = guide else { continue };
                    let img = if img.format == PixelFormat::Rgba32F {
                        img
                    } else {
                        easel_imaging::convert(&img.view(), PixelFormat::Rgba32F)
                    };
                    let (w, h) = (img.width, img.height);
                    if guide.len() != (w * h) as usize {
                        continue;
                    }
                    let mut mask = matte::mask_of_rgba_f32(&img.data);
                    if let Some((pw, ph, prev)) = &prev_mask {
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
                    prev_mask = Some((w, h, mask));
                    *shared.result.lock() = Some(Coefs {
                        seq,
                        width: w,
                        height: h,
                        data,
                    });
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
        let _ = c.client.stream_close(c.stream);
    }
}

fn take(in_flight: &mut VecDeque<(u64, Instant, Vec<f32>)>, seq: u64) -> Option<Vec<f32>> {
    let pos = in_flight.iter().position(|(s, _, _)| *s == seq)?;
    // Anything older than an answered frame will not come back any more.
    let mut guide = None;
    for _ in 0..=pos {
        guide = in_flight.pop_front().map(|(_, _, g)| g);
    }
    guide
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
    let stream = client.stream_open(config.settings.clone())?;
    Ok((
        Conn {
            client,
            stream,
            generation,
        },
        ops,
    ))
}

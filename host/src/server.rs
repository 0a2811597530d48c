//! The daemon: the socket, client connections, request handling and job preparation
//! (limits, parameters, masks, cropping, conversion to the operation's working format).

use crate::{
    config::Config,
    error::{Code, ProtocolError, StartError, TransportError},
    imaging::{self, Mask, MaskModifiers, Rect},
    jobs::{Connection, JobState, PostProcess, PreparedWork, SharedImage, WorkInput},
    protocol::{
        descriptor_json, resolve_params, DataRef, ImageRef, Priority, Request, SubmitRequest,
        PROTOCOL_VERSION, SERVER_FEATURES,
    },
    scheduler::Scheduler,
    supervisor::{self, LoadOutcome, PluginRecord, Spawner},
    tiling,
    transport::{self, Frame, FrameLimits, InputBytes},
    worker::WireParam,
};
use easel_sdk::{ImageLayout, ImageView, MaskUse, OperationDescriptor, ParamValue, PixelFormat};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    os::unix::{
        fs::PermissionsExt,
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

/// Default context margin around a mask's bounds, in pixels.
pub const DEFAULT_CONTEXT_MARGIN: u32 = 64;

/// An operation and the plugin that provides it.
struct OpEntry {
    descriptor: OperationDescriptor,
    plugin: String,
}

/// A stream's fixed settings.
struct StreamSettings {
    operation: String,
    params: BTreeMap<String, Value>,
    mask_modifiers: MaskModifiers,
    context_margin: Option<u32>,
}

/// The running daemon's shared state.
pub struct Daemon {
    config: Config,
    socket: PathBuf,
    ops: HashMap<String, OpEntry>,
    plugins: Vec<PluginRecord>,
    operations_json: Value,
    scheduler: Arc<Scheduler>,
    next_id: AtomicU64,
    streams: Mutex<HashMap<u64, (u64, StreamSettings)>>,
}

/// Prepares the socket path: a private folder, no other daemon there, a stale socket removed.
fn claim_socket(path: &Path) -> Result<UnixListener, StartError> {
    let socket_err = |source| StartError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(socket_err)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(socket_err)?;
        }
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(StartError::AlreadyRunning(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(socket_err)?;
    }
    // The socket is created 0600: nobody else may talk to this user's daemon.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(socket_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(socket_err)?;
    Ok(listener)
}

/// Runs the daemon until a `shutdown` request (or a signal) ends the process.
pub fn run_daemon(config: Config) -> Result<(), StartError> {
    let socket = config.socket_path();
    // Refuse early if another daemon answers, before starting any worker.
    if UnixStream::connect(&socket).is_ok() {
        return Err(StartError::AlreadyRunning(socket));
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let scheduler = Arc::new(Scheduler::new(config.limits.max_queued_jobs));
    let spawner = Spawner::from_config(&config).map_err(StartError::Worker)?;
    let paths = supervisor::discover_plugins(&config, exe_dir.as_deref());
    let plugins = supervisor::start_plugins(
        paths,
        &spawner,
        config.workers_per_plugin,
        &config.limits,
        &scheduler,
    );
    let mut ops = HashMap::new();
    let mut listed = Vec::new();
    for rec in &plugins {
        if let LoadOutcome::Loaded {
            name, operations, ..
        } = &rec.outcome
        {
            for op in operations {
                if ops.contains_key(op.id.as_str()) {
                    log::warn!(
                        "operation '{}' of plugin '{name}' is already provided; ignored",
                        op.id
                    );
                    continue;
                }
                listed.push(descriptor_json(op, name));
                ops.insert(
                    op.id.to_string(),
                    OpEntry {
                        descriptor: op.clone(),
                        plugin: name.clone(),
                    },
                );
            }
        }
    }
    let listener = claim_socket(&socket)?;
    log::info!(
        "easeld listening on {} ({} operations)",
        socket.display(),
        ops.len()
    );
    let daemon = Arc::new(Daemon {
        operations_json: json!(listed),
        config,
        socket,
        ops,
        plugins,
        scheduler,
        next_id: AtomicU64::new(1),
        streams: Mutex::new(HashMap::new()),
    });
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let daemon = daemon.clone();
                std::thread::spawn(move || daemon.serve(stream));
            }
            Err(e) => log::warn!("accept failed: {e}"),
        }
    }
    Ok(())
}

impl Daemon {
    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_json: self.config.limits.max_message_bytes,
            max_payload: self.config.limits.max_inline_bytes,
        }
    }

    /// One client connection, from hello to close.
    fn serve(self: Arc<Self>, stream: UnixStream) {
        let Ok(writer) = stream.try_clone() else {
            return;
        };
        let conn = Arc::new(Connection::new(self.next_id(), writer));
        if self.handshake(&stream, &conn) {
            loop {
                match transport::read_frame(&stream, self.frame_limits()) {
                    Ok(frame) => self.handle(&conn, frame),
                    Err(TransportError::Closed) => break,
                    Err(e @ TransportError::TooLarge { .. }) => {
                        // The rest of that frame is still in the socket: we cannot resynchronise.
                        conn.send_error(&e.into(), None, None);
                        break;
                    }
                    Err(e) => {
                        log::debug!("connection {}: {e}", conn.id);
                        break;
                    }
                }
            }
        }
        // A client that left does not want its unfinished jobs.
        let jobs: Vec<_> = conn.jobs.lock().drain().map(|(_, j)| j).collect();
        for job in jobs {
            self.cancel_job(&job);
        }
        self.streams
            .lock()
            .retain(|_, (owner, _)| *owner != conn.id);
    }

    fn handshake(&self, stream: &UnixStream, conn: &Arc<Connection>) -> bool {
        let frame = match transport::read_frame(stream, self.frame_limits()) {
            Ok(f) => f,
            Err(_) => return false,
        };
        match frame.parse::<Request>() {
            Ok(Request::Hello {
                protocol,
                features,
                client,
            }) => {
                if protocol != PROTOCOL_VERSION {
                    conn.send_error(
                        &ProtocolError::new(
                            Code::UnsupportedProtocol,
                            format!("this daemon speaks protocol {PROTOCOL_VERSION}, the client asked for {protocol}"),
                        ),
                        None,
                        None,
                    );
                    return false;
                }
                conn.fd_ok
                    .store(features.iter().any(|f| f == "fd"), Ordering::Relaxed);
                log::debug!("connection {}: hello from '{client}'", conn.id);
                let l = &self.config.limits;
                conn.send(&json!({
                    "type": "hello",
                    "protocol": PROTOCOL_VERSION,
                    "server": format!("easeld/{}", env!("CARGO_PKG_VERSION")),
                    "features": SERVER_FEATURES,
                    "limits": {"max_pixels": l.max_pixels, "max_message_bytes": l.max_message_bytes,
                               "max_inline_bytes": l.max_inline_bytes},
                }));
                true
            }
            _ => {
                conn.send_error(
                    &ProtocolError::bad_request("the first message must be a hello"),
                    Request::peek_id(&frame.json),
                    None,
                );
                false
            }
        }
    }

    fn handle(&self, conn: &Arc<Connection>, frame: Frame) {
        let request = match frame.parse::<Request>() {
            Ok(r) => r,
            Err(e) => {
                let id = Request::peek_id(&frame.json);
                conn.send_error(
                    &ProtocolError::bad_request(describe_bad_request(&frame.json, &e)),
                    id,
                    None,
                );
                return;
            }
        };
        match request {
            Request::Hello { .. } => conn.send_error(
                &ProtocolError::bad_request("hello was already received on this connection"),
                Request::peek_id(&frame.json),
                None,
            ),
            Request::ListOperations { id } => conn.send(&json!({
                "type": "operations", "reply_to": id, "operations": self.operations_json,
                "plugins": self.plugins.iter().map(PluginRecord::to_json).collect::<Vec<_>>(),
            })),
            Request::Submit(req) => {
                let id = req.id;
                if let Err(e) = self.submit(conn, &req, &frame) {
                    conn.send_error(&e, id, None);
                }
            }
            // Look the job up before acting: finishing a job takes the jobs lock again.
            Request::Fetch { id, job } => match self.job_of(conn, job) {
                Some(j) => j.fetch(conn, id),
                None => conn.send_error(&unknown_job(job), id, Some(job)),
            },
            Request::Cancel { id, job } => match self.job_of(conn, job) {
                Some(j) => {
                    conn.send(&json!({"type": "cancelling", "reply_to": id, "job": job}));
                    self.cancel_job(&j);
                }
                None => conn.send_error(&unknown_job(job), id, Some(job)),
            },
            Request::Status { id } => {
                let (queued, running) = self.scheduler.counts();
                conn.send(&json!({"type": "status", "reply_to": id, "queued": queued,
                                  "running": running, "socket": self.socket}));
            }
            Request::Echo { id, image } => match self.echo(&image, &frame) {
                Ok(shared) => {
                    conn.send_with_image(json!({"type": "echo", "reply_to": id}), &shared)
                }
                Err(e) => conn.send_error(&e, id, None),
            },
            Request::StreamOpen {
                id,
                operation,
                params,
                mask_modifiers,
                context_margin,
            } => match self.ops.get(&operation) {
                Some(entry) => match resolve_params(&entry.descriptor, &params) {
                    Ok(_) => {
                        let stream = self.next_id();
                        self.streams.lock().insert(
                            stream,
                            (
                                conn.id,
                                StreamSettings {
                                    operation,
                                    params,
                                    mask_modifiers,
                                    context_margin,
                                },
                            ),
                        );
                        conn.send(
                            &json!({"type": "stream_opened", "reply_to": id, "stream": stream}),
                        );
                    }
                    Err(e) => conn.send_error(&e, id, None),
                },
                None => conn.send_error(&self.unknown_operation(&operation), id, None),
            },
            Request::StreamFrame {
                stream,
                seq,
                image,
                mask,
            } => self.stream_frame(conn, stream, seq, image, mask, &frame),
            Request::StreamClose { id, stream } => {
                let removed = {
                    let mut streams = self.streams.lock();
                    match streams.get(&stream) {
                        Some((owner, _)) if *owner == conn.id => streams.remove(&stream).is_some(),
                        _ => false,
                    }
                };
                if removed {
                    let waiting: Vec<_> = conn
                        .jobs
                        .lock()
                        .values()
                        .filter(|j| j.stream.map(|s| s.0) == Some(stream))
                        .cloned()
                        .collect();
                    for j in waiting {
                        self.cancel_job(&j);
                    }
                    conn.send(&json!({"type": "stream_closed", "reply_to": id, "stream": stream}));
                } else {
                    conn.send_error(
                        &ProtocolError::new(
                            Code::UnknownJob,
                            format!("no stream {stream} on this connection"),
                        ),
                        id,
                        None,
                    );
                }
            }
            Request::Shutdown { id } => {
                conn.send(&json!({"type": "shutting_down", "reply_to": id}));
                self.scheduler.shutdown();
                let _ = std::fs::remove_file(&self.socket);
                log::info!("shutting down on request");
                std::process::exit(0);
            }
        }
    }

    fn unknown_operation(&self, name: &str) -> ProtocolError {
        let refused: Vec<String> = self
            .plugins
            .iter()
            .filter_map(|p| match &p.outcome {
                LoadOutcome::Refused(r) => Some(format!("{} ({r})", p.path.display())),
                _ => None,
            })
            .collect();
        let mut known: Vec<&str> = self.ops.keys().map(String::as_str).collect();
        known.sort();
        let mut message = format!("no operation '{name}'; available: {}", known.join(", "));
        if !refused.is_empty() {
            message.push_str(&format!("; refused plugins: {}", refused.join("; ")));
        }
        ProtocolError::new(Code::UnknownOperation, message)
    }

    fn job_of(&self, conn: &Connection, job: u64) -> Option<Arc<JobState>> {
        conn.jobs.lock().get(&job).cloned()
    }

    fn cancel_job(&self, job: &Arc<JobState>) {
        job.cancel.store(true, Ordering::SeqCst);
        if let Some(j) = self.scheduler.remove(job.id) {
            j.finish(Err(ProtocolError::new(
                Code::Cancelled,
                "cancelled by the user",
            )));
        }
    }

    fn submit(
        &self,
        conn: &Arc<Connection>,
        req: &SubmitRequest,
        frame: &Frame,
    ) -> Result<(), ProtocolError> {
        let entry = self
            .ops
            .get(&req.operation)
            .ok_or_else(|| self.unknown_operation(&req.operation))?;
        let work = self.prepare(entry, req, frame)?;
        let id = self.next_id();
        let job = Arc::new(JobState::new(
            id,
            &req.operation,
            &entry.plugin,
            req.priority,
            None,
            conn,
            work,
        ));
        conn.jobs.lock().insert(id, job.clone());
        if let Err(e) = self.scheduler.push(job) {
            conn.jobs.lock().remove(&id);
            return Err(e);
        }
        conn.send(&json!({"type": "accepted", "reply_to": req.id, "job": id}));
        Ok(())
    }

    fn stream_frame(
        &self,
        conn: &Arc<Connection>,
        stream: u64,
        seq: u64,
        image: ImageRef,
        mask: Option<ImageRef>,
        frame: &Frame,
    ) {
        let frame_error = |e: ProtocolError| {
            conn.send(&json!({"type": "frame_error", "stream": stream, "seq": seq,
                "code": e.code.as_str(), "fault": e.fault().as_str(), "message": e.message}));
        };
        let req = {
            let streams = self.streams.lock();
            match streams.get(&stream) {
                Some((owner, s)) if *owner == conn.id => SubmitRequest {
                    id: None,
                    operation: s.operation.clone(),
                    params: s.params.clone(),
                    image,
                    mask,
                    references: Vec::new(),
                    mask_modifiers: s.mask_modifiers,
                    context_margin: s.context_margin,
                    priority: Priority::Interactive,
                    result_format: None,
                    name: None,
                },
                _ => {
                    return frame_error(ProtocolError::new(
                        Code::UnknownJob,
                        format!("no stream {stream} on this connection"),
                    ));
                }
            }
        };
        let Some(entry) = self.ops.get(&req.operation) else {
            return frame_error(self.unknown_operation(&req.operation));
        };
        let work = match self.prepare(entry, &req, frame) {
            Ok(w) => w,
            Err(e) => return frame_error(e),
        };
        let id = self.next_id();
        let job = Arc::new(JobState::new(
            id,
            &req.operation,
            &entry.plugin,
            Priority::Interactive,
            Some((stream, seq)),
            conn,
            work,
        ));
        conn.jobs.lock().insert(id, job.clone());
        if let Some(old) = self.scheduler.push_frame(job) {
            conn.jobs.lock().remove(&old.id);
            if let Some((s, old_seq)) = old.stream {
                conn.send(&json!({"type": "frame_dropped", "stream": s, "seq": old_seq, "reason": "superseded"}));
            }
        }
    }

    /// Reads the bytes an image reference points at, after checking its size against limits.
    fn image_bytes<'f>(
        &self,
        r: &ImageRef,
        frame: &'f Frame,
        what: &str,
    ) -> Result<(ImageLayout, Bytes<'f>), ProtocolError> {
        let layout = r
            .layout(self.config.limits.max_pixels)
            .map_err(|e| ProtocolError::new(e.code, format!("{what}: {}", e.message)))?;
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
                Bytes::Shared(
                    transport::map_input(fd, offset, len)
                        .map_err(|e| ProtocolError::invalid_image(format!("{what}: {e}")))?,
                )
            }
            DataRef::Inline { inline } => {
                let start = usize::try_from(inline).unwrap_or(usize::MAX);
                let end = start.checked_add(len).filter(|&e| e <= frame.payload.len()).ok_or_else(|| {
                    ProtocolError::invalid_image(format!(
                        "{what} needs {len} bytes from payload offset {inline}, but the payload has {} bytes",
                        frame.payload.len()
                    ))
                })?;
                Bytes::Inline(&frame.payload[start..end])
            }
        };
        Ok((layout, bytes))
    }

    fn echo(&self, r: &ImageRef, frame: &Frame) -> Result<SharedImage, ProtocolError> {
        let (layout, bytes) = self.image_bytes(r, frame, "image")?;
        let packed = ImageLayout::packed(layout.width, layout.height, layout.format);
        let len = packed.required_len().unwrap_or(0);
        let mut mem = transport::SharedMem::create(len)
            .map_err(|e| ProtocolError::internal(e.to_string()))?;
        let row = packed.row_stride;
        let src: &[u8] = &bytes;
        if layout == packed {
            mem.as_mut_slice()[..len].copy_from_slice(&src[..len]);
        } else {
            let bpp = layout.format.bytes_per_pixel();
            let dst = mem.as_mut_slice();
            for y in 0..layout.height as usize {
                for x in 0..layout.width as usize {
                    let s = y * layout.row_stride + x * layout.pixel_stride;
                    let d = y * row + x * bpp;
                    dst[d..d + bpp].copy_from_slice(&src[s..s + bpp]);
                }
            }
        }
        Ok(SharedImage {
            layout: packed,
            mem,
        })
    }

    /// Everything between a request and a worker: parameters, mask, crop, conversion.
    fn prepare(
        &self,
        entry: &OpEntry,
        req: &SubmitRequest,
        frame: &Frame,
    ) -> Result<PreparedWork, ProtocolError> {
        let op = &entry.descriptor;
        let mut params = resolve_params(op, &req.params)?;
        let mut seed = 0;
        for (_, value) in params.iter_mut() {
            if let ParamValue::Seed(s) = value {
                if *s == 0 {
                    *s = random_seed();
                }
                seed = *s;
            }
        }
        if op.mask == MaskUse::Required && req.mask.is_none() {
            return Err(ProtocolError::new(
                Code::InvalidInput,
                format!(
                    "operation '{}' needs a mask: select or paint the region to work on",
                    op.id
                ),
            ));
        }
        let n_refs = req.references.len() as u32;
        if n_refs < op.min_references || n_refs > op.max_references {
            return Err(ProtocolError::new(
                Code::InvalidInput,
                format!(
                    "operation '{}' takes {}..={} reference images, {} given",
                    op.id, op.min_references, op.max_references, n_refs
                ),
            ));
        }
        let result_format =
            match &req.result_format {
                Some(f) => Some(PixelFormat::parse(f).filter(|f| !f.is_mask()).ok_or_else(
                    || {
                        ProtocolError::bad_request(format!(
                            "unknown result_format '{f}' (rgba8, rgba16, rgba32f)"
                        ))
                    },
                )?),
                None => None,
            };
        let (layout, bytes) = self.image_bytes(&req.image, frame, "image")?;
        if layout.format.is_mask() {
            return Err(ProtocolError::invalid_image(format!(
                "the image is {}: send rgba8, rgba16 or rgba32f (a mask goes in \"mask\")",
                layout.format.as_str()
            )));
        }
        let result_format = result_format.unwrap_or(layout.format);
        let view = ImageView::new(layout, &bytes)
            .map_err(|e| ProtocolError::invalid_image(e.message.to_string()))?;

        // The mask decides the region the operation sees.
        let full = Rect {
            x: 0,
            y: 0,
            width: layout.width,
            height: layout.height,
        };
        let mut mask: Option<Mask> = None;
        let mut crop = full;
        if let Some(mref) = &req.mask {
            let (mlayout, mbytes) = self.image_bytes(mref, frame, "mask")?;
            if (mlayout.width, mlayout.height) != (layout.width, layout.height) {
                return Err(ProtocolError::invalid_image(format!(
                    "the mask is {}x{} but the image is {}x{}; they must match",
                    mlayout.width, mlayout.height, layout.width, layout.height
                )));
            }
            let mview = ImageView::new(mlayout, &mbytes)
                .map_err(|e| ProtocolError::invalid_image(format!("mask: {}", e.message)))?;
            let mut m = imaging::mask_from_view(&mview);
            imaging::apply_modifiers(&mut m, &req.mask_modifiers);
            let bounds = imaging::mask_bounds(&m, 0.0).ok_or_else(|| {
                ProtocolError::new(Code::InvalidInput, "the mask is empty: nothing is selected")
            })?;
            crop = imaging::expand(
                bounds,
                req.context_margin.unwrap_or(DEFAULT_CONTEXT_MARGIN),
                layout.width,
                layout.height,
            );
            mask = Some(imaging::crop_mask(&m, crop));
        }
        let crop_view = sub_view(&view, crop);
        let composite = op.has_flag(easel_sdk::flags::COMPOSITE_THROUGH_MASK);
        let send_mask = matches!(op.mask, MaskUse::Optional | MaskUse::Required);
        let tile = self.config.tile_size.max(16);
        let (input, original) = if op.has_flag(easel_sdk::flags::TILEABLE)
            && tiling::needs_tiling(crop.width, crop.height, tile)
        {
            // Kept in the client's format: tiles are converted one at a time when the job runs.
            let source = imaging::convert(&crop_view, layout.format);
            let overlap = self.config.tile_overlap;
            let tiles = tiling::plan(crop.width, crop.height, tile, overlap);
            (
                WorkInput::Tiled {
                    source,
                    tiles,
                    band: overlap / 2,
                    send_mask,
                },
                None,
            )
        } else {
            let working = imaging::convert(&crop_view, op.working_format);
            let image = SharedImage::from_owned(&working)?;
            let mask_shared = match (&mask, send_mask) {
                (Some(m), true) => {
                    Some(SharedImage::from_owned(&m.to_image(PixelFormat::Gray32F))?)
                }
                _ => None,
            };
            let original = (composite && mask.is_some()).then_some(working);
            (
                WorkInput::Whole {
                    image,
                    mask: mask_shared,
                },
                original,
            )
        };
        let references = req
            .references
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let what = format!("reference image {i}");
                let (l, b) = self.image_bytes(r, frame, &what)?;
                let v = ImageView::new(l, &b).map_err(|e| ProtocolError::invalid_image(format!("{what}: {}", e.message)))?;
                let v = if op.has_flag(easel_sdk::flags::ALIGNED_REFERENCES) {
                    if (l.width, l.height) != (layout.width, layout.height) {
                        return Err(ProtocolError::invalid_image(format!(
                            "{what} is {}x{} but the image is {}x{}; operation '{}' needs layers of the same size",
                            l.width, l.height, layout.width, layout.height, op.id)));
                    }
                    sub_view(&v, crop)
                } else {
                    v
                };
                SharedImage::from_owned(&imaging::convert(&v, op.working_format))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let name = req.name.clone().unwrap_or_else(|| layer_name(op, &params));
        Ok(PreparedWork {
            params: params
                .iter()
                .map(|(n, v)| WireParam {
                    name: n.clone(),
                    value: v.into(),
                })
                .collect(),
            input,
            references,
            post: PostProcess {
                crop,
                original,
                mask,
                composite,
                working_format: op.working_format,
                result_format,
                output_scale: op.output_scale,
                name,
                seed,
            },
        })
    }
}

/// Pixels from a descriptor or from the frame's payload.
enum Bytes<'f> {
    Shared(InputBytes),
    Inline(&'f [u8]),
}

impl std::ops::Deref for Bytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Shared(b) => b,
            Bytes::Inline(b) => b,
        }
    }
}

/// A view of `r` inside `view`, without copying.
fn sub_view<'a>(view: &ImageView<'a>, r: Rect) -> ImageView<'a> {
    let l = view.layout;
    let start = r.y as usize * l.row_stride + r.x as usize * l.pixel_stride;
    let data: &'a [u8] = view.data.as_slice();
    ImageView {
        layout: ImageLayout {
            width: r.width,
            height: r.height,
            ..l
        },
        data: data[start..].into(),
    }
}

/// "Remove background (u2netp)": the title and the parameters that differ from their defaults.
fn layer_name(op: &OperationDescriptor, params: &[(String, ParamValue)]) -> String {
    let changed: Vec<String> = op
        .params
        .iter()
        .zip(params)
        .filter(|(spec, (_, v))| {
            !matches!(spec.kind, easel_sdk::ParamKind::Seed) && spec.default_value() != *v
        })
        .map(|(spec, (_, v))| match v {
            ParamValue::Int(i) => format!("{} {i}", spec.name),
            ParamValue::Float(f) => format!("{} {}", spec.name, (f * 100.0).round() / 100.0),
            ParamValue::Bool(b) => format!("{} {}", spec.name, if *b { "on" } else { "off" }),
            ParamValue::Choice(c) => c.to_string(),
            ParamValue::Seed(s) => format!("seed {s}"),
        })
        .collect();
    if changed.is_empty() {
        op.title.to_string()
    } else {
        format!("{} ({})", op.title, changed.join(", "))
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish().max(1)
}

/// Says what is wrong with a request that did not parse, in the client's terms.
fn describe_bad_request(json: &[u8], err: &TransportError) -> String {
    match serde_json::from_slice::<Value>(json) {
        Err(e) => format!("the message is not valid JSON: {e}"),
        Ok(v) => match v.get("type").and_then(Value::as_str) {
            None => "the message has no \"type\"".to_string(),
            Some(t) if !KNOWN_TYPES.contains(&t) => {
                format!(
                    "unknown message type '{t}'; known: {}",
                    KNOWN_TYPES.join(", ")
                )
            }
            Some(t) => {
                let detail = match err {
                    TransportError::Json(e) => e.to_string(),
                    other => other.to_string(),
                };
                format!("bad '{t}' request: {detail}")
            }
        },
    }
}

const KNOWN_TYPES: &[&str] = &[
    "hello",
    "list_operations",
    "submit",
    "fetch",
    "cancel",
    "status",
    "echo",
    "stream_open",
    "stream_frame",
    "stream_close",
    "shutdown",
];

fn unknown_job(job: u64) -> ProtocolError {
    ProtocolError::new(
        Code::UnknownJob,
        format!("no job {job} on this connection (finished and fetched, or never submitted here)"),
    )
}

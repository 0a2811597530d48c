//! The Easel filter: a video filter on any source that streams remove background, fix low
//! light or match look through the daemon. On the render thread it only renders the source into
//! a ring of textures, downsizes a copy, stages it for read-back (mapped a frame later, when the
//! copy has finished), uploads the newest finished result (mask coefficients or a gain map, at
//! the copy's 256×144) and draws the composite, which upsamples it. All per-pixel CPU work and
//! the daemon are on the worker thread ([`crate::worker`]). Without a fresh result the frame
//! passes through unchanged.

use crate::{
    matte,
    obsutil::{add_param, cstring, string_of, Settings},
    sys::*,
    text,
    worker::{self, Config, InFrame, Shared},
};
use easel_client::{default_socket_path, Client, SharedInput, SubmitOptions};
use easel_imaging::OwnedImage;
use easel_protocol::{OperationInfo, PixelFormat, Priority, StreamSettings};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, VecDeque},
    ffi::{c_char, c_void, CStr},
    path::PathBuf,
    ptr,
    sync::{atomic::Ordering, Arc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

const ID: &CStr = c"easel_filter";
const OPERATION: &str = "remove-background";
const DEFAULT_MODEL: &str = "mediapipe-meet";
/// Frames kept on the GPU for the optional delay.
const RING: usize = 8;
/// A mask older than this is not used: frames pass through.
const STALE: Duration = Duration::from_millis(1000);
/// Parameters the filter sets itself (it composites the mask on the GPU).
const FORCED: [&str; 3] = ["model", "output", "refine_foreground"];
/// The operations the filter streams (titles for when the daemon has not answered yet).
const OPERATIONS: [(&str, &str); 3] = [
    (OPERATION, "Remove background"),
    ("fix-low-light", "Fix low light"),
    ("match-look", "Match look"),
];
/// The operation that takes a reference image (its path: the `look_reference` setting).
const LOOK: &str = "match-look";
/// Settings that only remove background uses.
const MASK_ONLY: [&CStr; 7] = [
    c"mode",
    c"bg_colour",
    c"bg_image",
    c"blur",
    c"smoothing",
    c"refine_edges",
    c"edge_radius",
];

/// The chosen operation (remove background when the setting names none of [`OPERATIONS`]).
fn operation_of(s: &Settings) -> String {
    let op = s.string(c"operation");
    if OPERATIONS.iter().any(|(id, _)| *id == op) {
        op
    } else {
        OPERATION.to_string()
    }
}

/// The settings-key prefix of an operation's own parameters (`op_` for remove background, as
/// before there were others).
fn param_prefix(op: &str) -> String {
    if op == OPERATION {
        "op_".into()
    } else {
        format!("{op}.")
    }
}

pub fn register() {
    let info = obs_source_info {
        id: ID.as_ptr(),
        type_: OBS_SOURCE_TYPE_FILTER,
        output_flags: OBS_SOURCE_VIDEO,
        get_name: Some(get_name),
        create: Some(create),
        destroy: Some(destroy),
        update: Some(update),
        get_defaults: Some(get_defaults),
        get_properties: Some(get_properties),
        video_render: Some(video_render),
        ..Default::default()
    };
    // SAFETY: OBS copies the struct; the strings are static.
    unsafe { obs_register_source_s(&info, std::mem::size_of::<obs_source_info>()) };
}

#[derive(Clone, Copy, PartialEq)]
struct Opts {
    mode: i32,
    colour: [f32; 4],
    blur: f32,
    delay: bool,
    sync: bool,
    /// Frames between staging a read-back and mapping it (1 by default; 2 was the old ring,
    /// kept for the benchmark's before/after).
    readback_lag: u64,
    /// The old background blur: nine taps per full-resolution pixel (the benchmark's before).
    full_res_blur: bool,
    /// Whether the operation's results are masks (remove background) or gain maps.
    mask_op: bool,
}

struct Gfx {
    effect: *mut gs_effect_t,
    size: (u32, u32),
    small_size: (u32, u32),
    ring: Vec<(*mut gs_texrender_t, Option<u64>)>,
    small: *mut gs_texrender_t,
    /// The blurred background, two in turn: the composite samples the one blurred the frame
    /// before, whose rasterization has finished (sampling this frame's would wait for it).
    blurs: [(*mut gs_texrender_t, Option<u64>); 2],
    /// 1×1, only while measuring (see [`Filter::render`]).
    probe: *mut gs_texrender_t,
    stages: Vec<(*mut gs_stagesurf_t, Option<u64>)>,
    coef: *mut gs_texture_t,
    gain: *mut gs_texture_t,
    /// Whether the newest result is a gain map (else mask coefficients).
    gain_shown: bool,
    bg: Option<Box<gs_image_file_t>>,
    frame: u64,
    mask_seq: Option<u64>,
    mask_at: Instant,
    latency: u64,
    stats: Stats,
    sync_client: Option<Client>,
    sync_retry: Instant,
    sync_prev: Option<Vec<f32>>,
}

/// The render callback's steps, timed one by one (wall time on the render thread, ms).
/// "target_wait" (measured only while the filter measures itself): waiting for the target's
/// own rasterization, which software OpenGL does when its texture is first sampled.
const STEPS: [&str; 9] = [
    "target_wait",
    "ring",
    "small",
    "stage",
    "map",
    "upload",
    "blur",
    "composite",
    "other",
];
const S_TARGET: usize = 0;
const S_RING: usize = 1;
const S_SMALL: usize = 2;
const S_STAGE: usize = 3;
const S_MAP: usize = 4;
const S_UPLOAD: usize = 5;
const S_BLUR: usize = 6;
const S_COMPOSITE: usize = 7;
const S_OTHER: usize = 8;

#[derive(Default)]
struct Stats {
    added_ms: VecDeque<f64>,
    /// `added_ms` less the wait for the target's rasterization.
    own_ms: VecDeque<f64>,
    latency: VecDeque<f64>,
    steps: [VecDeque<f64>; STEPS.len()],
    frames: u64,
    masked: u64,
}

/// Splits the render callback's time into [`STEPS`].
struct Lap {
    last: Instant,
    ms: [f64; STEPS.len()],
}

impl Lap {
    fn new() -> Lap {
        Lap {
            last: Instant::now(),
            ms: [0.0; STEPS.len()],
        }
    }
    /// Charges the time since the last lap to step `i`.
    fn lap(&mut self, i: usize) {
        let now = Instant::now();
        self.ms[i] += now.duration_since(self.last).as_secs_f64() * 1000.0;
        self.last = now;
    }
    /// Takes `d` out of the current step (the target's own rendering is not the filter's).
    fn exclude(&mut self, d: Duration) {
        self.last += d;
    }
}

fn push(q: &mut VecDeque<f64>, v: f64) {
    if q.len() >= 3000 {
        q.pop_front();
    }
    q.push_back(v);
}

pub struct Filter {
    ctx: *mut obs_source_t,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    opts: Mutex<Opts>,
    gfx: Mutex<Gfx>,
    pending_bg: Mutex<Option<Option<Box<gs_image_file_t>>>>,
    bg_path: Mutex<String>,
    config: Mutex<Config>,
    stats_path: Option<PathBuf>,
}

unsafe extern "C" fn get_name(_: *mut c_void) -> *const c_char {
    text(c"EaselFilter")
}

fn config_of(s: &Settings) -> Config {
    let socket = s.string(c"socket");
    let socket = if socket.trim().is_empty() {
        std::env::var_os("EASEL_SOCKET")
            .map(PathBuf::from)
            .unwrap_or_else(default_socket_path)
    } else {
        PathBuf::from(socket.trim())
    };
    let daemon = s.string(c"daemon");
    let operation = operation_of(s);
    let prefix = param_prefix(&operation);
    let mask_op = operation == OPERATION;
    let mut params: BTreeMap<String, Value> = BTreeMap::new();
    if let Value::Object(m) = s.json() {
        for (k, v) in m {
            if let Some(name) = k.strip_prefix(prefix.as_str()) {
                if !mask_op || !FORCED.contains(&name) {
                    params.insert(name.to_string(), v);
                }
            }
        }
    }
    if mask_op {
        let model = s.string(c"op_model");
        params.insert(
            "model".into(),
            json!(if model.is_empty() {
                DEFAULT_MODEL
            } else {
                &model
            }),
        );
        params.insert("output".into(), json!("mask"));
        params.insert("refine_foreground".into(), json!(false));
    }
    Config {
        socket,
        daemon: (!daemon.trim().is_empty()).then(|| PathBuf::from(daemon.trim())),
        reference: (operation == LOOK).then(|| PathBuf::from(s.string(c"look_reference").trim())),
        settings: StreamSettings {
            operation,
            params,
            mask_modifiers: Default::default(),
            context_margin: None,
        },
        smoothing: s.float(c"smoothing") as f32,
        edge_radius: s.int(c"edge_radius").clamp(1, 16) as usize,
        refine_edges: s.boolean(c"refine_edges"),
    }
}

fn opts_of(s: &Settings) -> Opts {
    let c = s.int(c"bg_colour") as u32;
    let ch = |shift: u32| ((c >> shift) & 0xff) as f32 / 255.0;
    let mode = match s.string(c"mode").as_str() {
        "transparent" => 0,
        "blur" => 1,
        "image" => 3,
        _ => 2,
    };
    Opts {
        mode,
        colour: [ch(0), ch(8), ch(16), 1.0],
        blur: s.float(c"blur") as f32,
        delay: s.boolean(c"delay"),
        sync: s.boolean(c"sync") && operation_of(s) == OPERATION,
        readback_lag: s.int(c"readback_lag").clamp(1, 2) as u64,
        full_res_blur: s.boolean(c"full_res_blur"),
        mask_op: operation_of(s) == OPERATION,
    }
}

unsafe extern "C" fn get_defaults(settings: *mut obs_data_t) {
    let s = Settings(settings);
    s.default_string(c"operation", OPERATION);
    s.default_string(c"op_model", DEFAULT_MODEL);
    s.default_string(c"mode", "blur");
    s.default_int(c"bg_colour", 0xff00ff00);
    s.default_float(c"blur", 2.0);
    s.default_float(c"smoothing", 0.6);
    s.default_bool(c"refine_edges", true);
    s.default_int(c"edge_radius", 3);
    s.default_bool(c"delay", false);
    s.default_bool(c"sync", false);
    s.default_int(c"readback_lag", 1);
    s.default_bool(c"full_res_blur", false);
    s.default_string(c"socket", "");
    s.default_string(c"daemon", "");
}

unsafe extern "C" fn create(settings: *mut obs_data_t, source: *mut obs_source_t) -> *mut c_void {
    let s = Settings(settings);
    let name = string_of(obs_source_get_name(source));
    let config = config_of(&s);
    let shared = Shared::new(config.clone(), name);
    let worker_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name("easel-filter".into())
        .spawn(move || worker::run(worker_shared))
        .ok();
    let f = Box::new(Filter {
        ctx: source,
        shared,
        thread,
        opts: Mutex::new(opts_of(&s)),
        gfx: Mutex::new(Gfx {
            effect: ptr::null_mut(),
            size: (0, 0),
            small_size: (0, 0),
            ring: Vec::new(),
            small: ptr::null_mut(),
            blurs: [(ptr::null_mut(), None); 2],
            probe: ptr::null_mut(),
            stages: Vec::new(),
            coef: ptr::null_mut(),
            gain: ptr::null_mut(),
            gain_shown: false,
            bg: None,
            frame: 0,
            mask_seq: None,
            mask_at: Instant::now(),
            latency: 0,
            stats: Stats::default(),
            sync_client: None,
            sync_retry: Instant::now(),
            sync_prev: None,
        }),
        pending_bg: Mutex::new(None),
        bg_path: Mutex::new(String::new()),
        config: Mutex::new(config),
        stats_path: std::env::var_os("EASEL_OBS_STATS").map(PathBuf::from),
    });
    f.load_bg(&s.string(c"bg_image"));
    Box::into_raw(f) as *mut c_void
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    if data.is_null() {
        return;
    }
    let mut f = Box::from_raw(data as *mut Filter);
    f.shared.stop.store(true, Ordering::Release);
    f.shared.wake.notify_all();
    if let Some(t) = f.thread.take() {
        let _ = t.join();
    }
    obs_enter_graphics();
    {
        let mut g = f.gfx.lock();
        g.release();
        if let Some(mut img) = g.bg.take() {
            gs_image_file_free(&mut *img);
        }
    }
    if let Some(Some(mut img)) = f.pending_bg.lock().take() {
        gs_image_file_free(&mut *img);
    }
    obs_leave_graphics();
}

unsafe extern "C" fn update(data: *mut c_void, settings: *mut obs_data_t) {
    let f = &*(data as *const Filter);
    let s = Settings(settings);
    *f.opts.lock() = opts_of(&s);
    let c = config_of(&s);
    *f.config.lock() = c.clone();
    f.shared.set_config(c);
    f.load_bg(&s.string(c"bg_image"));
}

unsafe extern "C" fn video_render(data: *mut c_void, _effect: *mut gs_effect_t) {
    let f = &*(data as *const Filter);
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.render()));
    if !matches!(ok, Ok(true)) {
        obs_source_skip_video_filter(f.ctx);
    }
}

/// Adds an operation's own parameters, from its schema, under `prefix`.
unsafe fn add_params(props: *mut obs_properties_t, op: &OperationInfo, prefix: &str) {
    for p in &op.params {
        if op.id == OPERATION && p.name != "model" && FORCED.contains(&p.name.as_str()) {
            continue;
        }
        add_param(props, &format!("{prefix}{}", p.name), p);
    }
}

/// Shows the chosen operation's group (and remove background's own settings only for it).
unsafe fn show_for(props: *mut obs_properties_t, op: &str) {
    for (id, _) in OPERATIONS {
        let g = cstring(&format!("group_{id}"));
        let p = obs_properties_get(props, g.as_ptr());
        if !p.is_null() {
            obs_property_set_visible(p, id == op);
        }
    }
    for key in MASK_ONLY {
        let p = obs_properties_get(props, key.as_ptr());
        if !p.is_null() {
            obs_property_set_visible(p, op == OPERATION);
        }
    }
}

unsafe extern "C" fn operation_changed(
    props: *mut obs_properties_t,
    _property: *mut obs_property_t,
    settings: *mut obs_data_t,
) -> bool {
    show_for(props, &operation_of(&Settings(settings)));
    true
}

unsafe extern "C" fn get_properties(data: *mut c_void) -> *mut obs_properties_t {
    let props = obs_properties_create();
    let filter: Option<&Filter> = (data as *const Filter).as_ref();
    let ops: Vec<OperationInfo> = filter
        .map(|f| f.shared.operations.lock().clone())
        .unwrap_or_default();
    let connected = filter.is_some_and(|f| f.shared.connected.load(Ordering::Acquire));
    let current = filter
        .map(|f| f.config.lock().settings.operation.clone())
        .unwrap_or_else(|| OPERATION.to_string());
    let list = obs_properties_add_list(
        props,
        c"operation".as_ptr(),
        text(c"Operation"),
        OBS_COMBO_TYPE_LIST,
        OBS_COMBO_FORMAT_STRING,
    );
    for (id, title) in OPERATIONS {
        let info = ops.iter().find(|o| o.id == id);
        let t = cstring(info.map_or(title, |o| o.title.as_str()));
        let v = cstring(id);
        obs_property_list_add_string(list, t.as_ptr(), v.as_ptr());
    }
    obs_property_set_modified_callback(list, Some(operation_changed));
    // Each operation's own parameters, from its schema (remove background's model first), in
    // a group shown while that operation is chosen.
    for (id, title) in OPERATIONS {
        let sub = obs_properties_create();
        match ops.iter().find(|o| o.id == id) {
            Some(op) => add_params(sub, op, &param_prefix(id)),
            None if id == OPERATION => {
                let l = obs_properties_add_list(
                    sub,
                    c"op_model".as_ptr(),
                    c"Model".as_ptr(),
                    OBS_COMBO_TYPE_LIST,
                    OBS_COMBO_FORMAT_STRING,
                );
                for m in ["mediapipe-meet", "u2netp", "isnet-general-small"] {
                    let v = cstring(m);
                    obs_property_list_add_string(l, v.as_ptr(), v.as_ptr());
                }
            }
            None => {
                let key = cstring(&format!("{id}.unlisted"));
                obs_properties_add_text(sub, key.as_ptr(), text(c"ParamsLater"), OBS_TEXT_INFO);
            }
        }
        if id == LOOK {
            obs_properties_add_path(
                sub,
                c"look_reference".as_ptr(),
                text(c"LookReference"),
                OBS_PATH_FILE,
                c"Images (*.png *.jpg *.jpeg *.bmp *.webp)".as_ptr(),
                ptr::null(),
            );
        }
        let key = cstring(&format!("group_{id}"));
        let t = cstring(
            ops.iter()
                .find(|o| o.id == id)
                .map_or(title, |o| o.title.as_str()),
        );
        obs_properties_add_group(props, key.as_ptr(), t.as_ptr(), OBS_GROUP_NORMAL, sub);
    }
    let mode = obs_properties_add_list(
        props,
        c"mode".as_ptr(),
        text(c"Background"),
        OBS_COMBO_TYPE_LIST,
        OBS_COMBO_FORMAT_STRING,
    );
    for (k, v) in [
        (c"Background.Transparent", c"transparent"),
        (c"Background.Blur", c"blur"),
        (c"Background.Colour", c"colour"),
        (c"Background.Image", c"image"),
    ] {
        obs_property_list_add_string(mode, text(k), v.as_ptr());
    }
    obs_properties_add_color(props, c"bg_colour".as_ptr(), text(c"BackgroundColour"));
    obs_properties_add_path(
        props,
        c"bg_image".as_ptr(),
        text(c"BackgroundImage"),
        OBS_PATH_FILE,
        c"Images (*.png *.jpg *.jpeg *.bmp)".as_ptr(),
        ptr::null(),
    );
    obs_properties_add_float_slider(props, c"blur".as_ptr(), text(c"BlurRadius"), 0.5, 8.0, 0.5);
    obs_properties_add_float_slider(
        props,
        c"smoothing".as_ptr(),
        text(c"Smoothing"),
        0.0,
        0.95,
        0.05,
    );
    obs_properties_add_bool(props, c"refine_edges".as_ptr(), text(c"RefineEdges"));
    obs_properties_add_int_slider(
        props,
        c"edge_radius".as_ptr(),
        text(c"EdgeRadius"),
        1,
        12,
        1,
    );
    obs_properties_add_bool(props, c"delay".as_ptr(), text(c"Delay"));
    obs_properties_add_text(props, c"socket".as_ptr(), text(c"Socket"), OBS_TEXT_DEFAULT);
    obs_properties_add_path(
        props,
        c"daemon".as_ptr(),
        text(c"Daemon"),
        OBS_PATH_FILE,
        ptr::null(),
        ptr::null(),
    );
    obs_properties_add_bool(props, c"sync".as_ptr(), text(c"Sync"));
    let status = if connected {
        "connected to the Easel daemon".to_string()
    } else {
        "the Easel daemon is not reachable: frames pass through unchanged".to_string()
    };
    let st = cstring(&status);
    let p = obs_properties_add_text(props, c"status".as_ptr(), st.as_ptr(), OBS_TEXT_INFO);
    obs_property_text_set_info_type(p, OBS_TEXT_INFO_NORMAL);
    show_for(props, &current);
    props
}

/// Draws `tex` with OBS's default effect.
unsafe fn copy(tex: *mut gs_texture_t, w: u32, h: u32) {
    let effect = obs_get_base_effect(OBS_EFFECT_DEFAULT);
    gs_effect_set_texture(gs_effect_get_param_by_name(effect, c"image".as_ptr()), tex);
    while gs_effect_loop(effect, c"Draw".as_ptr()) {
        gs_draw_sprite(tex, 0, w, h);
    }
}

impl Gfx {
    unsafe fn release(&mut self) {
        for (t, _) in self.ring.drain(..) {
            gs_texrender_destroy(t);
        }
        for (s, _) in self.stages.drain(..) {
            gs_stagesurface_destroy(s);
        }
        let [(b0, _), (b1, _)] = &mut self.blurs;
        for t in [&mut self.small, b0, b1, &mut self.probe] {
            if !t.is_null() {
                gs_texrender_destroy(*t);
                *t = ptr::null_mut();
            }
        }
        for t in [&mut self.coef, &mut self.gain] {
            if !t.is_null() {
                gs_texture_destroy(*t);
                *t = ptr::null_mut();
            }
        }
        if !self.effect.is_null() {
            gs_effect_destroy(self.effect);
            self.effect = ptr::null_mut();
        }
        self.size = (0, 0);
    }

    /// Makes the textures for a `w`×`h` source; false if the graphics system refused.
    unsafe fn ensure(&mut self, w: u32, h: u32) -> bool {
        if self.effect.is_null() {
            let src = cstring(include_str!("../data/easel-composite.effect"));
            let mut err: *mut c_char = ptr::null_mut();
            self.effect =
                gs_effect_create(src.as_ptr(), c"easel-composite.effect".as_ptr(), &mut err);
            if self.effect.is_null() {
                crate::log_warn(&format!(
                    "[easel] the composite effect did not compile: {}",
                    string_of(err)
                ));
                if !err.is_null() {
                    bfree(err as *mut c_void);
                }
                return false;
            }
        }
        if self.size == (w, h) {
            return true;
        }
        let effect = self.effect;
        self.effect = ptr::null_mut();
        self.release();
        self.effect = effect;
        // The model works on 256×144 (MediaPipe Meet); send at most 256 wide.
        let sw = w.clamp(1, 256);
        let sh = ((h as u64 * sw as u64) / w as u64).max(1) as u32;
        for _ in 0..RING {
            self.ring
                .push((gs_texrender_create(GS_RGBA, GS_ZS_NONE), None));
        }
        self.small = gs_texrender_create(GS_RGBA, GS_ZS_NONE);
        self.blurs = [
            (gs_texrender_create(GS_RGBA, GS_ZS_NONE), None),
            (gs_texrender_create(GS_RGBA, GS_ZS_NONE), None),
        ];
        self.probe = gs_texrender_create(GS_RGBA, GS_ZS_NONE);
        for _ in 0..3 {
            self.stages
                .push((gs_stagesurface_create(sw, sh, GS_RGBA), None));
        }
        let zero = vec![0.0f32; (sw * sh * 2) as usize];
        let mut levels = [zero.as_ptr() as *const u8];
        self.coef = gs_texture_create(sw, sh, GS_RG32F, 1, levels.as_mut_ptr(), GS_DYNAMIC);
        let ones = vec![1.0f32; (sw * sh * 4) as usize];
        let mut levels = [ones.as_ptr() as *const u8];
        self.gain = gs_texture_create(sw, sh, GS_RGBA32F, 1, levels.as_mut_ptr(), GS_DYNAMIC);
        self.size = (w, h);
        self.small_size = (sw, sh);
        self.mask_seq = None;
        self.sync_prev = None;
        !self.coef.is_null()
            && !self.gain.is_null()
            && !self.small.is_null()
            && self.blurs.iter().all(|(b, _)| !b.is_null())
            && self.ring.iter().all(|(t, _)| !t.is_null())
            && self.stages.iter().all(|(s, _)| !s.is_null())
    }

    unsafe fn param(&self, name: &CStr) -> *mut gs_eparam_t {
        gs_effect_get_param_by_name(self.effect, name.as_ptr())
    }

    /// Copies a mapped staging surface into a packed RGBA8 buffer.
    unsafe fn read_stage(&self, stage: *mut gs_stagesurf_t) -> Option<Vec<u8>> {
        let (sw, sh) = self.small_size;
        let mut data: *mut u8 = ptr::null_mut();
        let mut linesize: u32 = 0;
        if !gs_stagesurface_map(stage, &mut data, &mut linesize) || data.is_null() {
            return None;
        }
        let row = (sw * 4) as usize;
        let mut out = vec![0u8; row * sh as usize];
        for y in 0..sh as usize {
            let src = std::slice::from_raw_parts(data.add(y * linesize as usize), row);
            out[y * row..(y + 1) * row].copy_from_slice(src);
        }
        gs_stagesurface_unmap(stage);
        Some(out)
    }
}

impl Filter {
    fn load_bg(&self, path: &str) {
        let mut cur = self.bg_path.lock();
        if *cur == path {
            return;
        }
        *cur = path.to_string();
        if path.is_empty() {
            *self.pending_bg.lock() = Some(None);
            return;
        }
        let mut img: Box<gs_image_file_t> = Box::default();
        let c = cstring(path);
        // SAFETY: decoding only; the texture is made on the render thread.
        unsafe { gs_image_file_init(&mut *img, c.as_ptr()) };
        if !img.loaded {
            crate::log_warn(&format!(
                "[easel] could not read the background image {path}"
            ));
        }
        if let Some(Some(mut old)) = self.pending_bg.lock().replace(Some(img)) {
            unsafe {
                obs_enter_graphics();
                gs_image_file_free(&mut *old);
                obs_leave_graphics();
            }
        }
    }

    /// One frame on the render thread; false to skip the filter (pass the source through).
    unsafe fn render(&self) -> bool {
        let t0 = Instant::now();
        let mut lap = Lap::new();
        // When the filter measures itself, it first waits for the target's own rasterization
        // (a 1×1 draw that samples the target's texture: software OpenGL rasterizes a texture's
        // pending draws when it is first sampled, on this thread), so that this wait is timed
        // apart from the filter's own steps.
        let measure = self.stats_path.is_some();
        let target = obs_filter_get_target(self.ctx);
        let parent = obs_filter_get_parent(self.ctx);
        if target.is_null() || parent.is_null() {
            return false;
        }
        let (w, h) = (
            obs_source_get_base_width(target),
            obs_source_get_base_height(target),
        );
        if w == 0 || h == 0 {
            return false;
        }
        let opts = *self.opts.lock();
        let mut g = self.gfx.lock();
        if !g.ensure(w, h) {
            return false;
        }
        if let Some(new_bg) = self.pending_bg.lock().take() {
            if let Some(mut old) = g.bg.take() {
                gs_image_file_free(&mut *old);
            }
            if let Some(mut img) = new_bg {
                gs_image_file_init_texture(&mut *img);
                g.bg = Some(img);
            }
        }
        let frame = g.frame;
        g.frame += 1;
        let slot = (frame % RING as u64) as usize;
        let tr = g.ring[slot].0;
        let (sw, sh) = g.small_size;

        // 1. The source into the ring; 2. a small copy (the model's input and the blur).
        gs_blend_state_push();
        gs_blend_function(GS_BLEND_ONE, GS_BLEND_ZERO);
        let zero = vec4::default();
        lap.lap(S_OTHER);
        gs_texrender_reset(tr);
        let mut target_time = Duration::ZERO;
        if !gs_texrender_begin(tr, w, h) {
            gs_blend_state_pop();
            return false;
        }
        gs_clear(GS_CLEAR_COLOR, &zero, 0.0, 0);
        gs_ortho(0.0, w as f32, 0.0, h as f32, -100.0, 100.0);
        let tt = Instant::now();
        // As obs_source_process_filter_begin does: the parent itself is drawn with the default
        // effect (its filters are what is rendering now).
        let flags = obs_source_get_output_flags(target);
        if target == parent && flags & (OBS_SOURCE_CUSTOM_DRAW | OBS_SOURCE_ASYNC) == 0 {
            obs_source_default_render(target);
        } else {
            obs_source_video_render(target);
        }
        target_time += tt.elapsed();
        lap.exclude(tt.elapsed());
        gs_texrender_end(tr);
        lap.lap(S_RING);
        g.ring[slot].1 = Some(frame);
        let tex = gs_texrender_get_texture(tr);
        if measure {
            gs_texrender_reset(g.probe);
            if gs_texrender_begin(g.probe, 1, 1) {
                gs_ortho(0.0, w as f32, 0.0, h as f32, -100.0, 100.0);
                copy(tex, w, h);
                gs_texrender_end(g.probe);
            }
            lap.lap(S_TARGET);
        }
        gs_texrender_reset(g.small);
        if gs_texrender_begin(g.small, sw, sh) {
            gs_clear(GS_CLEAR_COLOR, &zero, 0.0, 0);
            gs_ortho(0.0, w as f32, 0.0, h as f32, -100.0, 100.0);
            copy(tex, w, h);
            gs_texrender_end(g.small);
        }
        gs_blend_state_pop();
        let small_tex = gs_texrender_get_texture(g.small);
        lap.lap(S_SMALL);

        // 3. Read-back and the newest result.
        let now = Instant::now();
        if opts.sync {
            self.render_sync(&mut g, small_tex, frame);
        } else if self.shared.connected.load(Ordering::Acquire) {
            // A ring of lag + 1 staging surfaces: this frame's copy is staged, and the one
            // staged `lag` frames ago (its GPU copy finished by now) is mapped.
            let n = opts.readback_lag + 1;
            let i = (frame % n) as usize;
            gs_stage_texture(g.stages[i].0, small_tex);
            g.stages[i].1 = Some(frame);
            lap.lap(S_STAGE);
            let j = ((frame + 1) % n) as usize;
            if let Some(seq) = g.stages[j].1.take() {
                if let Some(rgba) = g.read_stage(g.stages[j].0) {
                    self.shared.offer(InFrame {
                        seq,
                        width: sw,
                        height: sh,
                        rgba,
                    });
                }
            }
        }
        lap.lap(S_MAP);
        if let Some(r) = self.shared.result.try_lock().and_then(|mut s| s.take()) {
            if (r.width, r.height) == (sw, sh) && !opts.sync {
                if r.gain {
                    gs_texture_set_image(g.gain, r.data.as_ptr() as *const u8, sw * 16, false);
                } else {
                    gs_texture_set_image(g.coef, r.data.as_ptr() as *const u8, sw * 8, false);
                }
                g.gain_shown = r.gain;
                g.mask_seq = Some(r.seq);
                g.mask_at = now;
                g.latency = frame.saturating_sub(r.seq);
                let l = g.latency as f64;
                push(&mut g.stats.latency, l);
            }
        }
        lap.lap(S_UPLOAD);
        // A result of the other kind (the operation was just changed) is not shown.
        let valid = g.mask_seq.is_some()
            && now.duration_since(g.mask_at) < STALE
            && g.gain_shown != opts.mask_op
            && (opts.sync || self.shared.connected.load(Ordering::Acquire));

        // 4. The composite (or the frame unchanged).
        let mut show = tex;
        if valid && opts.delay {
            let d = g.latency.min(RING as u64 - 1);
            let s = ((frame - d.min(frame)) % RING as u64) as usize;
            if g.ring[s].1 == Some(frame - d.min(frame)) {
                show = gs_texrender_get_texture(g.ring[s].0);
            }
        }
        let bg_tex =
            g.bg.as_ref()
                .filter(|b| b.loaded && !b.texture.is_null())
                .map(|b| b.texture)
                .unwrap_or(small_tex);
        let mode = if g.gain_shown {
            4
        } else if opts.mode == 3 && bg_tex == small_tex {
            2
        } else {
            opts.mode
        };
        let texel = vec2 {
            __bindgen_anon_1: vec2__bindgen_ty_1 {
                __bindgen_anon_1: vec2__bindgen_ty_1__bindgen_ty_1 {
                    x: 1.0 / sw as f32,
                    y: 1.0 / sh as f32,
                },
            },
        };
        gs_effect_set_vec2(g.param(c"small_texel"), &texel);
        gs_effect_set_float(g.param(c"blur_radius"), opts.blur);
        gs_effect_set_texture(g.param(c"small_image"), small_tex);
        // The blurred background: blurred at the small copy's resolution (nine taps on
        // 256×144 pixels), only upsampled by the composite, which uses the one blurred the
        // frame before (a background one frame old; its rasterization is done).
        let mut blur_tex = small_tex;
        if valid && mode == 1 && !opts.full_res_blur {
            let (cur, prev) = ((frame % 2) as usize, ((frame + 1) % 2) as usize);
            gs_blend_state_push();
            gs_blend_function(GS_BLEND_ONE, GS_BLEND_ZERO);
            let b = g.blurs[cur].0;
            gs_texrender_reset(b);
            if gs_texrender_begin(b, sw, sh) {
                gs_ortho(0.0, sw as f32, 0.0, sh as f32, -100.0, 100.0);
                while gs_effect_loop(g.effect, c"BlurSmall".as_ptr()) {
                    gs_draw_sprite(small_tex, 0, sw, sh);
                }
                gs_texrender_end(b);
                g.blurs[cur].1 = Some(frame);
                blur_tex = gs_texrender_get_texture(b);
            }
            gs_blend_state_pop();
            if frame > 0 && g.blurs[prev].1 == Some(frame - 1) {
                blur_tex = gs_texrender_get_texture(g.blurs[prev].0);
            }
        }
        lap.lap(S_BLUR);
        gs_effect_set_texture(g.param(c"image"), show);
        gs_effect_set_texture(g.param(c"coef"), g.coef);
        gs_effect_set_texture(g.param(c"gain_image"), g.gain);
        gs_effect_set_float(g.param(c"gain_offset"), matte::GAIN_OFFSET);
        gs_effect_set_texture(g.param(c"blur_image"), blur_tex);
        gs_effect_set_texture(g.param(c"bg_image"), bg_tex);
        let colour = vec4 {
            __bindgen_anon_1: vec4__bindgen_ty_1 {
                __bindgen_anon_1: vec4__bindgen_ty_1__bindgen_ty_1 {
                    x: opts.colour[0],
                    y: opts.colour[1],
                    z: opts.colour[2],
                    w: opts.colour[3],
                },
            },
        };
        gs_effect_set_vec4(g.param(c"bg_color"), &colour);
        gs_effect_set_int(g.param(c"mode"), mode);
        if valid {
            // A straight-line shader per mode; the branching one only for the benchmark's
            // before (full_res_blur).
            let technique = match mode {
                0..=3 if opts.full_res_blur => c"Draw",
                0 => c"Transparent",
                1 => c"Blurred",
                3 => c"Image",
                4 => c"Gain",
                _ => c"Colour",
            };
            while gs_effect_loop(g.effect, technique.as_ptr()) {
                gs_draw_sprite(show, 0, w, h);
            }
        } else {
            copy(show, w, h);
        }
        lap.lap(S_COMPOSITE);

        let added = t0.elapsed().saturating_sub(target_time).as_secs_f64() * 1000.0;
        push(&mut g.stats.added_ms, added);
        push(&mut g.stats.own_ms, added - lap.ms[S_TARGET]);
        for (q, v) in g.stats.steps.iter_mut().zip(lap.ms) {
            push(q, v);
        }
        g.stats.frames += 1;
        if valid {
            g.stats.masked += 1;
        }
        if let Some(dir) = &self.stats_path {
            if g.stats.frames.is_multiple_of(30) {
                self.write_stats(dir, &g.stats, valid);
            }
        }
        true
    }

    /// The comparison path, the way in-process filters work: read back at once (a stall),
    /// run the model and wait for it, upload — all on the render thread.
    unsafe fn render_sync(&self, g: &mut Gfx, small_tex: *mut gs_texture_t, frame: u64) {
        let (sw, sh) = g.small_size;
        let stage = g.stages[0].0;
        gs_stage_texture(stage, small_tex);
        let Some(rgba) = g.read_stage(stage) else {
            return;
        };
        if g.sync_client.is_none() && Instant::now() >= g.sync_retry {
            let socket = self.config.lock().socket.clone();
            match Client::connect(&socket) {
                Ok(c) => g.sync_client = Some(c),
                Err(_) => g.sync_retry = Instant::now() + Duration::from_secs(1),
            }
        }
        let Some(client) = g.sync_client.as_mut() else {
            return;
        };
        let guide = matte::luma(&rgba);
        let mut data = rgba;
        for p in data.chunks_exact_mut(4) {
            p[3] = 255;
        }
        let img = OwnedImage {
            width: sw,
            height: sh,
            format: PixelFormat::Rgba8,
            data,
        };
        let config = self.config.lock().clone();
        let result = SharedInput::new(&img).and_then(|input| {
            let o = SubmitOptions {
                params: config.settings.params.clone(),
                priority: Priority::Interactive,
                ..Default::default()
            };
            let job = client.submit_with(OPERATION, &input, None, &[], o)?;
            client.wait(job, |_, _| {})
        });
        match result {
            Ok(r) => {
                let img = easel_imaging::convert(&r.image.view(), PixelFormat::Rgba32F);
                if (img.width, img.height) != (sw, sh) {
                    return;
                }
                let mut mask = matte::mask_of_rgba_f32(&img.data);
                if let Some(prev) = &g.sync_prev {
                    matte::smooth_temporal(prev, &mut mask, config.smoothing);
                }
                let coef = if config.refine_edges {
                    matte::guided_coefficients(
                        &guide,
                        &mask,
                        sw as usize,
                        sh as usize,
                        config.edge_radius,
                        2e-3,
                    )
                } else {
                    matte::plain_coefficients(&mask)
                };
                g.sync_prev = Some(mask);
                gs_texture_set_image(g.coef, coef.as_ptr() as *const u8, sw * 8, false);
                g.gain_shown = false;
                g.mask_seq = Some(frame);
                g.mask_at = Instant::now();
                g.latency = 0;
                push(&mut g.stats.latency, 0.0);
            }
            Err(_) => {
                g.sync_client = None;
                g.sync_retry = Instant::now() + Duration::from_secs(1);
            }
        }
    }

    fn write_stats(&self, dir: &std::path::Path, s: &Stats, valid: bool) {
        let added: Vec<f64> = s.added_ms.iter().copied().collect();
        let own: Vec<f64> = s.own_ms.iter().copied().collect();
        let lat: Vec<f64> = s.latency.iter().copied().collect();
        let steps: serde_json::Map<String, Value> = STEPS
            .iter()
            .zip(&s.steps)
            .map(|(name, q)| {
                let v: Vec<f64> = q.iter().copied().collect();
                (
                    name.to_string(),
                    json!([matte::percentile(&v, 0.5), matte::percentile(&v, 0.99)]),
                )
            })
            .collect();
        let v = json!({
            "name": self.shared.name,
            "frames": s.frames,
            "masked_frames": s.masked,
            "showing_mask": valid,
            "connected": self.shared.connected.load(Ordering::Acquire),
            "processed": self.shared.processed.load(Ordering::Relaxed),
            "dropped": self.shared.dropped.load(Ordering::Relaxed),
            "added_ms": added,
            "added_ms_p50": matte::percentile(&added, 0.5),
            "added_ms_p99": matte::percentile(&added, 0.99),
            "own_ms_p50": matte::percentile(&own, 0.5),
            "own_ms_p99": matte::percentile(&own, 0.99),
            "latency_frames_p50": matte::percentile(&lat, 0.5),
            "latency_frames_p99": matte::percentile(&lat, 0.99),
            "steps_ms_p50_p99": steps,
        });
        let name: String = self
            .shared
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("{name}.json"));
        let tmp = dir.join(format!("{name}.json.tmp"));
        if std::fs::write(&tmp, v.to_string()).is_ok() {
            let _ = std::fs::rename(tmp, path);
        }
    }
}

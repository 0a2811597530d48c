//! The Easel storyboard source: an OBS input that shows a list of panels (image files, or
//! frames grabbed from another source at a button press) as an animatic — each for its
//! duration, with a cut, crossfade or fade between them — every panel processed by the daemon
//! with one operation chain (for example remove background, then match a reference look), so the
//! board has one look. Processing and export happen on the source's worker thread
//! ([`crate::board`]); the render thread only uploads finished panels and draws. Without a
//! daemon the panels are shown unprocessed and the status property says so.

use crate::{
    animatic::{self, PanelSpec, Timing, Transition},
    board::{self, BoardConfig, BoardShared, Grab, Notice, Step},
    obsutil::{add_param, cstring, string_of, Settings},
    sys::*,
    text,
};
use easel_client::default_socket_path;
use easel_protocol::{MaskUse, OperationInfo, ParamKind};
use parking_lot::Mutex;
use serde_json::Value;
use std::{
    collections::BTreeMap,
    ffi::{c_char, c_void, CStr},
    path::PathBuf,
    ptr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

const ID: &CStr = c"easel_storyboard";
/// Operations in the chain, at most.
pub const STEPS: usize = 3;
const STEP_KEYS: [&CStr; STEPS] = [c"step1", c"step2", c"step3"];
const STEP_TITLES: [&CStr; STEPS] = [c"Step1", c"Step2", c"Step3"];
const DEFAULT_STEPS: [&str; STEPS] = ["remove-background", "match-look", ""];
/// Bytes reserved for the status in the settings. OBS reads a source's settings from other
/// threads (obs-websocket, the properties view) without a lock, and libobs reallocates a
/// string setting that grows past its capacity; reserving room once, before anyone else can
/// read the settings, means later status texts are copied in place, never reallocated.
const STATUS_CAPACITY: usize = 16 * 1024;

pub fn register() {
    let info = obs_source_info {
        id: ID.as_ptr(),
        type_: OBS_SOURCE_TYPE_INPUT,
        output_flags: OBS_SOURCE_VIDEO | OBS_SOURCE_CUSTOM_DRAW,
        get_name: Some(get_name),
        create: Some(create),
        destroy: Some(destroy),
        update: Some(update),
        get_defaults: Some(get_defaults),
        get_properties: Some(get_properties),
        get_width: Some(get_width),
        get_height: Some(get_height),
        activate: Some(activate),
        video_tick: Some(video_tick),
        video_render: Some(video_render),
        icon_type: OBS_ICON_TYPE_SLIDESHOW,
        ..Default::default()
    };
    // SAFETY: OBS copies the struct; the strings are static.
    unsafe { obs_register_source_s(&info, std::mem::size_of::<obs_source_info>()) };
}

/// A weak reference to the source, usable from any thread (OBS's weak references are).
struct Weak(*mut obs_weak_source_t);
// SAFETY: obs_weak_source_* functions are thread-safe (atomic reference counts).
unsafe impl Send for Weak {}
unsafe impl Sync for Weak {}
impl Weak {
    fn ptr(&self) -> *mut obs_weak_source_t {
        self.0
    }
}
impl Drop for Weak {
    fn drop(&mut self) {
        // SAFETY: we hold one reference.
        unsafe { obs_weak_source_release(self.0) };
    }
}

struct Task {
    weak: *mut obs_weak_source_t,
    notice: Notice,
}

/// Runs on OBS's UI thread: writes the status into the settings (where the info property
/// reads it) and refreshes open property views, or appends a grabbed panel.
unsafe extern "C" fn ui_task(param: *mut c_void) {
    if param.is_null() {
        return;
    }
    let task = Box::from_raw(param as *mut Task);
    let src = obs_weak_source_get_source(task.weak);
    obs_weak_source_release(task.weak);
    if src.is_null() {
        return;
    }
    match &task.notice {
        Notice::Status { text, refresh } => {
            let st = obs_source_get_settings(src);
            if !st.is_null() {
                let mut cut = text.len().min(STATUS_CAPACITY - 1);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                Settings(st).set_string(c"status", &text[..cut]);
                obs_data_release(st);
            }
            if *refresh {
                obs_source_update_properties(src);
            }
        }
        Notice::AddPanel(path) => {
            let st = obs_source_get_settings(src);
            let d = obs_data_create();
            if !st.is_null() && !d.is_null() {
                let old = obs_data_get_array(st, c"panels".as_ptr());
                let arr = obs_data_array_create();
                if !old.is_null() {
                    for i in 0..obs_data_array_count(old) {
                        let item = obs_data_array_item(old, i);
                        if !item.is_null() {
                            obs_data_array_push_back(arr, item);
                            obs_data_release(item);
                        }
                    }
                    obs_data_array_release(old);
                }
                obs_data_set_array(d, c"panels".as_ptr(), arr);
                obs_data_array_release(arr);
                Settings(d).push_list(c"panels", path);
                obs_source_update(src, d);
                obs_source_update_properties(src);
            }
            if !d.is_null() {
                obs_data_release(d);
            }
            if !st.is_null() {
                obs_data_release(st);
            }
        }
    }
    obs_source_release(src);
}

/// Where a grab reads from, and how far it is.
enum GrabState {
    Idle,
    /// Staged on frame `at`; mapped two frames later so mapping does not stall the GPU.
    Staged {
        tr: *mut gs_texrender_t,
        stage: *mut gs_stagesurf_t,
        width: u32,
        height: u32,
        at: u64,
    },
}

struct Gfx {
    effect: *mut gs_effect_t,
    effect_failed: bool,
    textures: Vec<Option<(u64, *mut gs_texture_t)>>,
    grab: GrabState,
    frame: u64,
}

impl Gfx {
    unsafe fn release(&mut self) {
        for (_, t) in self.textures.drain(..).flatten() {
            gs_texture_destroy(t);
        }
        self.release_grab();
        if !self.effect.is_null() {
            gs_effect_destroy(self.effect);
            self.effect = ptr::null_mut();
        }
    }

    unsafe fn release_grab(&mut self) {
        if let GrabState::Staged { tr, stage, .. } =
            std::mem::replace(&mut self.grab, GrabState::Idle)
        {
            gs_texrender_destroy(tr);
            gs_stagesurface_destroy(stage);
        }
    }
}

/// What the render thread needs from the settings.
#[derive(Clone)]
struct Look {
    width: u32,
    height: u32,
    bg: [f32; 4],
    timing: Timing,
}

pub struct Storyboard {
    ctx: *mut obs_source_t,
    shared: Arc<BoardShared>,
    thread: Option<JoinHandle<()>>,
    look: Mutex<Look>,
    clock: Mutex<f64>,
    restart: AtomicBool,
    grab_request: Mutex<Option<String>>,
    gfx: Mutex<Gfx>,
}

unsafe extern "C" fn get_name(_: *mut c_void) -> *const c_char {
    text(c"EaselStoryboard")
}

fn bg_of(s: &Settings) -> [u8; 4] {
    // OBS colours are 0xAABBGGRR.
    let c = s.int(c"bg_colour") as u32;
    [c as u8, (c >> 8) as u8, (c >> 16) as u8, (c >> 24) as u8]
}

/// The video's frame rate, for the timeline of an export.
fn video_fps() -> f64 {
    let mut ovi = obs_video_info::default();
    // SAFETY: fills the struct when video is running.
    if unsafe { obs_get_video_info(&mut ovi) } && ovi.fps_den > 0 && ovi.fps_num > 0 {
        ovi.fps_num as f64 / ovi.fps_den as f64
    } else {
        30.0
    }
}

fn grab_dir() -> PathBuf {
    // SAFETY: the module pointer is set by OBS before load; the string is freed with bfree.
    unsafe {
        let p =
            obs_module_get_config_path(crate::obs_current_module(), c"storyboard-grabs".as_ptr());
        if p.is_null() {
            return std::env::temp_dir().join("easel-storyboard-grabs");
        }
        let s = string_of(p);
        bfree(p as *mut c_void);
        PathBuf::from(s)
    }
}

fn config_of(s: &Settings, name: &str) -> BoardConfig {
    let socket = s.string(c"socket");
    let socket = if socket.trim().is_empty() {
        std::env::var_os("EASEL_SOCKET")
            .map(PathBuf::from)
            .unwrap_or_else(default_socket_path)
    } else {
        PathBuf::from(socket.trim())
    };
    let daemon = s.string(c"daemon");
    let explicit = s.json();
    let mut steps = Vec::new();
    for (i, key) in STEP_KEYS.iter().enumerate() {
        let op = s.string(key);
        if op.trim().is_empty() {
            continue;
        }
        let prefix = format!("s{}_", i + 1);
        let mut params: BTreeMap<String, Value> = BTreeMap::new();
        if let Value::Object(m) = &explicit {
            for (k, v) in m {
                if let Some(name) = k.strip_prefix(&prefix) {
                    params.insert(name.to_string(), v.clone());
                }
            }
        }
        steps.push(Step {
            op: op.trim().to_string(),
            params,
        });
    }
    let default_duration = s.float(c"duration").clamp(0.1, 3600.0);
    let panels: Vec<PanelSpec> = s
        .list(c"panels")
        .iter()
        .filter_map(|e| PanelSpec::parse(e))
        .collect();
    let durations = panels
        .iter()
        .map(|p| p.duration.unwrap_or(default_duration).clamp(0.1, 3600.0))
        .collect();
    BoardConfig {
        name: name.to_string(),
        panels,
        steps,
        reference: s.string(c"reference"),
        characters: s
            .list(c"characters")
            .iter()
            .map(|c| {
                let c = c.trim();
                c.strip_prefix("file://")
                    .map(animatic::percent_decode)
                    .unwrap_or_else(|| c.to_string())
            })
            .filter(|c| !c.is_empty())
            .collect(),
        seed: s.int(c"seed").max(0) as u64,
        socket,
        daemon: (!daemon.trim().is_empty()).then(|| PathBuf::from(daemon.trim())),
        width: s.int(c"width").clamp(16, 8192) as u32,
        height: s.int(c"height").clamp(16, 8192) as u32,
        bg: bg_of(s),
        timing: Timing {
            durations,
            transition: Transition::parse(&s.string(c"transition")),
            transition_s: s.float(c"transition_s").clamp(0.0, 60.0),
            looping: s.boolean(c"loop"),
        },
        export_dir: s.string(c"export_dir"),
        grab_dir: grab_dir(),
        fps: video_fps(),
    }
}

fn look_of(c: &BoardConfig) -> Look {
    Look {
        width: c.width,
        height: c.height,
        bg: [
            c.bg[0] as f32 / 255.0,
            c.bg[1] as f32 / 255.0,
            c.bg[2] as f32 / 255.0,
            c.bg[3] as f32 / 255.0,
        ],
        timing: c.timing.clone(),
    }
}

unsafe extern "C" fn get_defaults(settings: *mut obs_data_t) {
    let s = Settings(settings);
    for (k, v) in STEP_KEYS.iter().zip(DEFAULT_STEPS) {
        s.default_string(k, v);
    }
    s.default_string(c"reference", "");
    s.default_int(c"seed", 0);
    s.default_int(c"width", 1280);
    s.default_int(c"height", 720);
    s.default_int(c"bg_colour", 0xff000000);
    s.default_float(c"duration", 3.0);
    s.default_string(c"transition", "crossfade");
    s.default_float(c"transition_s", 0.5);
    s.default_bool(c"loop", true);
    s.default_string(c"export_dir", "");
    s.default_string(c"grab_source", "");
    s.default_string(c"socket", "");
    s.default_string(c"daemon", "");
    s.default_string(c"status", "");
    s.default_int(c"refine_panel", 1);
    s.default_string(c"refine_prompt", "");
}

unsafe extern "C" fn create(settings: *mut obs_data_t, source: *mut obs_source_t) -> *mut c_void {
    let s = Settings(settings);
    s.set_string(c"status", &" ".repeat(STATUS_CAPACITY - 1));
    s.set_string(c"status", "");
    let name = string_of(obs_source_get_name(source));
    let config = config_of(&s, &name);
    let look = look_of(&config);
    let weak = Weak(obs_source_get_weak_source(source));
    let notify = Box::new(move |n: Notice| {
        // SAFETY: one more reference for the task, released by it.
        unsafe {
            let w = weak.ptr();
            obs_weak_source_addref(w);
            let task = Box::new(Task { weak: w, notice: n });
            obs_queue_task(
                OBS_TASK_UI,
                Some(ui_task),
                Box::into_raw(task) as *mut c_void,
                false,
            );
        }
    });
    let shared = BoardShared::new(config, notify);
    let worker_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name("easel-storyboard".into())
        .spawn(move || board::run(worker_shared))
        .ok();
    if thread.is_none() {
        crate::log_warn("[easel] storyboard: could not start its worker thread");
    }
    let sb = Box::new(Storyboard {
        ctx: source,
        shared,
        thread,
        look: Mutex::new(look),
        clock: Mutex::new(0.0),
        restart: AtomicBool::new(false),
        grab_request: Mutex::new(None),
        gfx: Mutex::new(Gfx {
            effect: ptr::null_mut(),
            effect_failed: false,
            textures: Vec::new(),
            grab: GrabState::Idle,
            frame: 0,
        }),
    });
    Box::into_raw(sb) as *mut c_void
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    if data.is_null() {
        return;
    }
    let mut sb = Box::from_raw(data as *mut Storyboard);
    sb.shared.stop.store(true, Ordering::Release);
    sb.shared.wake.notify_all();
    if let Some(t) = sb.thread.take() {
        let _ = t.join();
    }
    obs_enter_graphics();
    sb.gfx.lock().release();
    obs_leave_graphics();
}

unsafe extern "C" fn update(data: *mut c_void, settings: *mut obs_data_t) {
    let sb = &*(data as *const Storyboard);
    let s = Settings(settings);
    let name = string_of(obs_source_get_name(sb.ctx));
    let c = config_of(&s, &name);
    *sb.look.lock() = look_of(&c);
    sb.shared.set_config(c);
}

unsafe extern "C" fn get_width(data: *mut c_void) -> u32 {
    (data as *const Storyboard)
        .as_ref()
        .map(|sb| sb.look.lock().width)
        .unwrap_or(0)
}

unsafe extern "C" fn get_height(data: *mut c_void) -> u32 {
    (data as *const Storyboard)
        .as_ref()
        .map(|sb| sb.look.lock().height)
        .unwrap_or(0)
}

/// Shown on the program: the animatic starts from its first panel.
unsafe extern "C" fn activate(data: *mut c_void) {
    if let Some(sb) = (data as *const Storyboard).as_ref() {
        sb.restart.store(true, Ordering::Release);
    }
}

unsafe extern "C" fn video_tick(data: *mut c_void, seconds: f32) {
    let Some(sb) = (data as *const Storyboard).as_ref() else {
        return;
    };
    let mut c = sb.clock.lock();
    if sb.restart.swap(false, Ordering::AcqRel) {
        *c = 0.0;
    } else {
        *c += seconds.max(0.0) as f64;
    }
}

unsafe extern "C" fn video_render(data: *mut c_void, _effect: *mut gs_effect_t) {
    let Some(sb) = (data as *const Storyboard).as_ref() else {
        return;
    };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sb.render()));
}

unsafe extern "C" fn on_step_changed(
    _props: *mut obs_properties_t,
    _p: *mut obs_property_t,
    _settings: *mut obs_data_t,
) -> bool {
    true // rebuild the properties: the new operation's parameters
}

unsafe extern "C" fn on_export(
    _props: *mut obs_properties_t,
    _p: *mut obs_property_t,
    data: *mut c_void,
) -> bool {
    if let Some(sb) = (data as *const Storyboard).as_ref() {
        sb.shared.export.fetch_add(1, Ordering::AcqRel);
        sb.shared.wake.notify_all();
    }
    false
}

/// Appends the follow-up prompt to the chosen panel's entry (OBS's UI thread: only the
/// settings change; the worker processes the new turn).
unsafe extern "C" fn on_refine(
    _props: *mut obs_properties_t,
    _p: *mut obs_property_t,
    data: *mut c_void,
) -> bool {
    let Some(sb) = (data as *const Storyboard).as_ref() else {
        return false;
    };
    let st = obs_source_get_settings(sb.ctx);
    if st.is_null() {
        return false;
    }
    let s = Settings(st);
    let mut entries = s.list(c"panels");
    let n = s.int(c"refine_panel");
    let follow_up = s.string(c"refine_prompt");
    obs_data_release(st);
    let r = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .filter(|&i| i < entries.len())
        .ok_or_else(|| format!("there is no panel {n} ({} panels)", entries.len()))
        .and_then(|i| {
            let spec = PanelSpec::parse(&entries[i])
                .ok_or_else(|| format!("panel {n} is an empty entry"))?;
            entries[i] = spec.with_refinement(&follow_up)?;
            Ok(spec.refinements.len() + 2)
        });
    let note = match r {
        Ok(turn) => {
            let d = obs_data_create();
            if !d.is_null() {
                let u = Settings(d);
                u.set_list(c"panels", &entries);
                u.set_string(c"refine_prompt", "");
                obs_source_update(sb.ctx, d);
                obs_data_release(d);
            }
            format!("Refining panel {n}: turn {turn}, “{}”.", follow_up.trim())
        }
        Err(e) => format!("Cannot refine: {e}."),
    };
    *sb.shared.ui_note.lock() = note;
    sb.shared.wake.notify_all();
    true
}

unsafe extern "C" fn on_restart(
    _props: *mut obs_properties_t,
    _p: *mut obs_property_t,
    data: *mut c_void,
) -> bool {
    if let Some(sb) = (data as *const Storyboard).as_ref() {
        sb.restart.store(true, Ordering::Release);
    }
    false
}

unsafe extern "C" fn on_grab(
    _props: *mut obs_properties_t,
    _p: *mut obs_property_t,
    data: *mut c_void,
) -> bool {
    if let Some(sb) = (data as *const Storyboard).as_ref() {
        let st = obs_source_get_settings(sb.ctx);
        if !st.is_null() {
            let name = Settings(st).string(c"grab_source");
            obs_data_release(st);
            *sb.grab_request.lock() = Some(name);
        }
    }
    false
}

struct SourceList {
    own: *mut obs_source_t,
    names: Vec<String>,
}

unsafe extern "C" fn enum_source(param: *mut c_void, src: *mut obs_source_t) -> bool {
    let list = &mut *(param as *mut SourceList);
    if src != list.own && obs_source_get_output_flags(src) & OBS_SOURCE_VIDEO != 0 {
        list.names.push(string_of(obs_source_get_name(src)));
    }
    true
}

/// The schema's defaults as the settings' defaults, so the property views show them.
unsafe fn set_param_default(s: &Settings, key: &str, p: &easel_protocol::ParamInfo) {
    let k = cstring(key);
    match &p.kind {
        ParamKind::Choice { default, .. } => s.default_string(&k, default),
        ParamKind::Bool { default } => s.default_bool(&k, *default),
        ParamKind::Int { default, .. } => s.default_int(&k, *default),
        ParamKind::Float { default, .. } => s.default_float(&k, *default),
        ParamKind::Seed { default } => s.default_int(&k, *default as i64),
        ParamKind::Text { default, .. } => s.default_string(&k, default),
    }
}

unsafe extern "C" fn get_properties(data: *mut c_void) -> *mut obs_properties_t {
    let props = obs_properties_create();
    let sb: Option<&Storyboard> = (data as *const Storyboard).as_ref();
    let ops: Vec<OperationInfo> = sb
        .map(|b| b.shared.operations.lock().clone())
        .unwrap_or_default();
    let settings = sb
        .map(|b| obs_source_get_settings(b.ctx))
        .unwrap_or(ptr::null_mut());
    let s = (!settings.is_null()).then_some(Settings(settings));

    let status = obs_properties_add_text(
        props,
        c"status".as_ptr(),
        text(c"StoryboardStatus"),
        OBS_TEXT_INFO,
    );
    obs_property_text_set_info_type(status, OBS_TEXT_INFO_NORMAL);
    obs_property_text_set_info_word_wrap(status, true);

    obs_properties_add_editable_list(
        props,
        c"panels".as_ptr(),
        text(c"Panels"),
        OBS_EDITABLE_LIST_TYPE_FILES_AND_URLS,
        c"Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*.*)".as_ptr(),
        ptr::null(),
    );
    let help = obs_properties_add_text(
        props,
        c"panels_help".as_ptr(),
        text(c"PanelsHelp"),
        OBS_TEXT_INFO,
    );
    obs_property_text_set_info_word_wrap(help, true);

    // Refinement: one more turn for a panel, appended to its entry.
    obs_properties_add_int(
        props,
        c"refine_panel".as_ptr(),
        text(c"RefinePanel"),
        1,
        9999,
        1,
    );
    obs_properties_add_text(
        props,
        c"refine_prompt".as_ptr(),
        text(c"RefinePrompt"),
        OBS_TEXT_DEFAULT,
    );
    obs_properties_add_button(props, c"refine".as_ptr(), text(c"Refine"), Some(on_refine));

    let grab = obs_properties_add_list(
        props,
        c"grab_source".as_ptr(),
        text(c"GrabSource"),
        OBS_COMBO_TYPE_LIST,
        OBS_COMBO_FORMAT_STRING,
    );
    let mut list = SourceList {
        own: sb.map(|b| b.ctx).unwrap_or(ptr::null_mut()),
        names: Vec::new(),
    };
    obs_enum_sources(
        Some(enum_source),
        &mut list as *mut SourceList as *mut c_void,
    );
    for n in &list.names {
        let c = cstring(n);
        obs_property_list_add_string(grab, c.as_ptr(), c.as_ptr());
    }
    obs_properties_add_button(props, c"grab".as_ptr(), text(c"Grab"), Some(on_grab));

    // The chain: each step's operation, then its parameters from the schema.
    for (i, key) in STEP_KEYS.iter().enumerate() {
        let l = obs_properties_add_list(
            props,
            key.as_ptr(),
            text(STEP_TITLES[i]),
            OBS_COMBO_TYPE_LIST,
            OBS_COMBO_FORMAT_STRING,
        );
        obs_property_list_add_string(l, text(c"StepNone"), c"".as_ptr());
        let current = s.as_ref().map(|s| s.string(key)).unwrap_or_default();
        let mut listed = current.is_empty();
        for o in ops.iter().filter(|o| o.mask != MaskUse::Required) {
            let t = cstring(&format!("{} ({})", o.title, o.category));
            let v = cstring(&o.id);
            obs_property_list_add_string(l, t.as_ptr(), v.as_ptr());
            listed |= o.id == current;
        }
        if !listed {
            // Not (yet) known from the daemon: keep it selectable.
            let v = cstring(&current);
            obs_property_list_add_string(l, v.as_ptr(), v.as_ptr());
        }
        obs_property_set_modified_callback(l, Some(on_step_changed));
        if let Some(op) = ops.iter().find(|o| o.id == current) {
            for p in &op.params {
                if matches!(p.kind, ParamKind::Seed { .. }) {
                    continue; // the board's one seed
                }
                if p.name == "conversation" {
                    continue; // the panels' turns fill it
                }
                let k = format!("s{}_{}", i + 1, p.name);
                if let Some(s) = &s {
                    set_param_default(s, &k, p);
                }
                add_param(props, &k, p);
            }
        }
    }
    obs_properties_add_path(
        props,
        c"reference".as_ptr(),
        text(c"Reference"),
        OBS_PATH_FILE,
        c"Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)".as_ptr(),
        ptr::null(),
    );
    obs_properties_add_editable_list(
        props,
        c"characters".as_ptr(),
        text(c"Characters"),
        OBS_EDITABLE_LIST_TYPE_FILES,
        c"Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)".as_ptr(),
        ptr::null(),
    );
    obs_properties_add_int(props, c"seed".as_ptr(), text(c"Seed"), 0, i32::MAX, 1);

    obs_properties_add_int(props, c"width".as_ptr(), text(c"Width"), 16, 8192, 1);
    obs_properties_add_int(props, c"height".as_ptr(), text(c"Height"), 16, 8192, 1);
    obs_properties_add_color_alpha(props, c"bg_colour".as_ptr(), text(c"BoardColour"));
    obs_properties_add_float(
        props,
        c"duration".as_ptr(),
        text(c"Duration"),
        0.1,
        3600.0,
        0.1,
    );
    let tr = obs_properties_add_list(
        props,
        c"transition".as_ptr(),
        text(c"Transition"),
        OBS_COMBO_TYPE_LIST,
        OBS_COMBO_FORMAT_STRING,
    );
    for (k, v) in [
        (c"Transition.Cut", c"cut"),
        (c"Transition.Crossfade", c"crossfade"),
        (c"Transition.Fade", c"fade"),
    ] {
        obs_property_list_add_string(tr, text(k), v.as_ptr());
    }
    obs_properties_add_float(
        props,
        c"transition_s".as_ptr(),
        text(c"TransitionLength"),
        0.0,
        60.0,
        0.05,
    );
    obs_properties_add_bool(props, c"loop".as_ptr(), text(c"Loop"));
    obs_properties_add_button(
        props,
        c"restart".as_ptr(),
        text(c"Restart"),
        Some(on_restart),
    );
    obs_properties_add_path(
        props,
        c"export_dir".as_ptr(),
        text(c"ExportFolder"),
        OBS_PATH_DIRECTORY,
        ptr::null(),
        ptr::null(),
    );
    obs_properties_add_button(props, c"export".as_ptr(), text(c"Export"), Some(on_export));
    obs_properties_add_text(props, c"socket".as_ptr(), text(c"Socket"), OBS_TEXT_DEFAULT);
    obs_properties_add_path(
        props,
        c"daemon".as_ptr(),
        text(c"Daemon"),
        OBS_PATH_FILE,
        ptr::null(),
        ptr::null(),
    );
    if !settings.is_null() {
        obs_data_release(settings);
    }
    props
}

impl Storyboard {
    unsafe fn render(&self) {
        let look = self.look.lock().clone();
        let mut g = self.gfx.lock();
        g.frame += 1;
        if g.effect.is_null() && !g.effect_failed {
            let src = cstring(include_str!("../data/easel-storyboard.effect"));
            let mut err: *mut c_char = ptr::null_mut();
            g.effect =
                gs_effect_create(src.as_ptr(), c"easel-storyboard.effect".as_ptr(), &mut err);
            if g.effect.is_null() {
                g.effect_failed = true;
                crate::log_warn(&format!(
                    "[easel] the storyboard effect did not compile: {}",
                    string_of(err)
                ));
            }
            if !err.is_null() {
                bfree(err as *mut c_void);
            }
        }
        // New panels from the worker (never waiting for it).
        if let Some(shown) = self.shared.shown.try_lock() {
            let n = shown.len();
            while g.textures.len() > n {
                if let Some(Some((_, t))) = g.textures.pop() {
                    gs_texture_destroy(t);
                }
            }
            g.textures.resize(n, None);
            for (i, p) in shown.iter().enumerate() {
                let have = g.textures[i].map(|(id, _)| id);
                match p {
                    Some(p) if have != Some(p.id) => {
                        if p.rgba.len() != (p.width * p.height * 4) as usize {
                            continue;
                        }
                        let mut levels = [p.rgba.as_ptr()];
                        let t = gs_texture_create(
                            p.width,
                            p.height,
                            GS_RGBA,
                            1,
                            levels.as_mut_ptr(),
                            0,
                        );
                        if let Some((_, old)) = g.textures[i].take() {
                            gs_texture_destroy(old);
                        }
                        if !t.is_null() {
                            g.textures[i] = Some((p.id, t));
                        }
                    }
                    None => {
                        if let Some((_, old)) = g.textures[i].take() {
                            gs_texture_destroy(old);
                        }
                    }
                    _ => {}
                }
            }
        }
        self.grab_step(&mut g);

        let t = *self.clock.lock();
        let Some(frame) = look.timing.at(t) else {
            return;
        };
        let tex = |i: usize| g.textures.get(i).copied().flatten().map(|(_, t)| t);
        let (a, b) = match (tex(frame.a), tex(frame.b)) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => (a, a),
            (None, Some(b)) => (b, b),
            (None, None) => return,
        };
        let (w, h) = (look.width, look.height);
        if g.effect.is_null() {
            let effect = obs_get_base_effect(OBS_EFFECT_DEFAULT);
            let show = if frame.mix < 0.5 { a } else { b };
            gs_effect_set_texture(gs_effect_get_param_by_name(effect, c"image".as_ptr()), show);
            while gs_effect_loop(effect, c"Draw".as_ptr()) {
                gs_draw_sprite(show, 0, w, h);
            }
            return;
        }
        let e = g.effect;
        let param = |n: &CStr| gs_effect_get_param_by_name(e, n.as_ptr());
        gs_effect_set_texture(param(c"image_a"), a);
        gs_effect_set_texture(param(c"image_b"), b);
        gs_effect_set_float(param(c"mix_t"), frame.mix as f32);
        gs_effect_set_int(
            param(c"mode"),
            i32::from(look.timing.transition == Transition::Fade),
        );
        let through = vec4 {
            __bindgen_anon_1: vec4__bindgen_ty_1 {
                __bindgen_anon_1: vec4__bindgen_ty_1__bindgen_ty_1 {
                    x: look.bg[0],
                    y: look.bg[1],
                    z: look.bg[2],
                    w: look.bg[3],
                },
            },
        };
        gs_effect_set_vec4(param(c"through"), &through);
        while gs_effect_loop(e, c"Draw".as_ptr()) {
            gs_draw_sprite(a, 0, w, h);
        }
    }

    /// A grab in steps across frames: render the chosen source and stage it; two frames later
    /// map it and hand the pixels to the worker (which saves them and adds the panel).
    unsafe fn grab_step(&self, g: &mut Gfx) {
        match g.grab {
            GrabState::Idle => {
                let Some(name) = self.grab_request.lock().take() else {
                    return;
                };
                let fail = |m: String| {
                    *self.shared.grabbed.lock() = Some(Err(m));
                    self.shared.wake.notify_all();
                };
                if name.is_empty() {
                    return fail("choose a source to grab from first".into());
                }
                let c = cstring(&name);
                let src = obs_get_source_by_name(c.as_ptr());
                if src.is_null() {
                    return fail(format!("there is no source named '{name}'"));
                }
                let (w, h) = (obs_source_get_width(src), obs_source_get_height(src));
                if w == 0 || h == 0 || src == self.ctx {
                    obs_source_release(src);
                    return fail(format!("the source '{name}' shows nothing to grab"));
                }
                let tr = gs_texrender_create(GS_RGBA, GS_ZS_NONE);
                let stage = gs_stagesurface_create(w, h, GS_RGBA);
                if tr.is_null() || stage.is_null() {
                    if !tr.is_null() {
                        gs_texrender_destroy(tr);
                    }
                    if !stage.is_null() {
                        gs_stagesurface_destroy(stage);
                    }
                    obs_source_release(src);
                    return fail("the graphics system refused the read-back surfaces".into());
                }
                gs_blend_state_push();
                gs_blend_function(GS_BLEND_ONE, GS_BLEND_ZERO);
                if gs_texrender_begin(tr, w, h) {
                    let zero = vec4::default();
                    gs_clear(GS_CLEAR_COLOR, &zero, 0.0, 0);
                    gs_ortho(0.0, w as f32, 0.0, h as f32, -100.0, 100.0);
                    obs_source_video_render(src);
                    gs_texrender_end(tr);
                }
                gs_blend_state_pop();
                obs_source_release(src);
                gs_stage_texture(stage, gs_texrender_get_texture(tr));
                g.grab = GrabState::Staged {
                    tr,
                    stage,
                    width: w,
                    height: h,
                    at: g.frame,
                };
            }
            GrabState::Staged {
                stage,
                width,
                height,
                at,
                ..
            } => {
                if g.frame < at + 2 {
                    return;
                }
                let mut data: *mut u8 = ptr::null_mut();
                let mut linesize: u32 = 0;
                let r = if gs_stagesurface_map(stage, &mut data, &mut linesize) && !data.is_null() {
                    let row = (width * 4) as usize;
                    let mut out = vec![0u8; row * height as usize];
                    for y in 0..height as usize {
                        let src = std::slice::from_raw_parts(data.add(y * linesize as usize), row);
                        out[y * row..(y + 1) * row].copy_from_slice(src);
                    }
                    gs_stagesurface_unmap(stage);
                    Ok(Grab {
                        width,
                        height,
                        rgba: out,
                    })
                } else {
                    Err("could not read the grabbed frame back from the GPU".to_string())
                };
                g.release_grab();
                *self.shared.grabbed.lock() = Some(r);
                self.shared.wake.notify_all();
            }
        }
    }
}

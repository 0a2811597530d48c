//! The storyboard source's worker thread: reads and fits the panels, runs every panel through
//! the one operation chain on the daemon (in the background, one job at a time, results cached
//! by everything they depend on, so a change re-processes only what it changes), composes what
//! the render thread shows, saves grabbed frames, and exports the board as a numbered PNG
//! sequence plus an OpenTimelineIO timeline. OBS's threads never wait for it.

use crate::animatic::{self, ExportedPanel, PanelSpec, Timing, Transition};
use easel_client::{Client, ClientError, SharedInput, SubmitOptions};
use easel_imaging::{DecodeLimits, OwnedImage, PixelFormat};
use easel_protocol::{MaskUse, OperationInfo, ParamKind, Priority};
use parking_lot::{Condvar, Mutex};
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime},
};

/// One operation of the chain with the parameters the user set (the daemon fills in the rest).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub op: String,
    pub params: BTreeMap<String, Value>,
}

/// Everything the worker needs from the source's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct BoardConfig {
    pub name: String,
    pub panels: Vec<PanelSpec>,
    pub steps: Vec<Step>,
    /// The reference look, for operations that take reference images.
    pub reference: String,
    /// Character (object, style) reference images, sent with every panel's job to the
    /// operations that take a prompt, so generated panels share one character.
    pub characters: Vec<String>,
    /// Given to every operation's seed parameter; 0: the daemon picks.
    pub seed: u64,
    pub socket: PathBuf,
    pub daemon: Option<PathBuf>,
    pub width: u32,
    pub height: u32,
    pub bg: [u8; 4],
    pub timing: Timing,
    pub export_dir: String,
    pub grab_dir: PathBuf,
    pub fps: f64,
}

/// A panel as the render thread draws it: the whole board, RGBA8.
#[derive(Clone)]
pub struct Shown {
    /// Changes whenever the pixels change.
    pub id: u64,
    pub width: u32,
    pub height: u32,
    pub rgba: Arc<Vec<u8>>,
}

/// A frame read back from another source at a button press.
pub struct Grab {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// What the worker asks the OBS side to do on OBS's UI thread.
pub enum Notice {
    /// The text of the status property changed; `refresh`: also rebuild open property views
    /// (at most once a second, so a user typing in them is not interrupted at every panel).
    Status { text: String, refresh: bool },
    /// Append a panel (a grabbed frame saved to this file).
    AddPanel(String),
}

pub struct BoardShared {
    pub config: Mutex<(u64, BoardConfig)>,
    /// Bumped only when what the results depend on changes (not durations or transitions), so
    /// a running job is cancelled only when its result would no longer be used.
    pub work_generation: AtomicU64,
    pub wake: Condvar,
    pub stop: AtomicBool,
    /// Export requests (a counter: the worker remembers the last one it did).
    pub export: AtomicU64,
    pub shown: Mutex<Vec<Option<Shown>>>,
    pub operations: Mutex<Vec<OperationInfo>>,
    pub connected: AtomicBool,
    pub status: Mutex<String>,
    pub grabbed: Mutex<Option<Result<Grab, String>>>,
    /// A line for the status from the OBS side (for example a refinement that was refused).
    pub ui_note: Mutex<String>,
    pub notify: Box<dyn Fn(Notice) + Send + Sync>,
}

impl BoardShared {
    pub fn new(config: BoardConfig, notify: Box<dyn Fn(Notice) + Send + Sync>) -> Arc<Self> {
        Arc::new(BoardShared {
            config: Mutex::new((0, config)),
            work_generation: AtomicU64::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            export: AtomicU64::new(0),
            shown: Mutex::new(Vec::new()),
            operations: Mutex::new(Vec::new()),
            connected: AtomicBool::new(false),
            status: Mutex::new(String::new()),
            grabbed: Mutex::new(None),
            ui_note: Mutex::new(String::new()),
            notify,
        })
    }

    pub fn set_config(&self, c: BoardConfig) {
        let mut g = self.config.lock();
        if g.1 != c {
            if work_of(&g.1) != work_of(&c) {
                self.work_generation.fetch_add(1, Ordering::AcqRel);
            }
            g.0 += 1;
            g.1 = c;
        }
        drop(g);
        self.wake.notify_all();
    }
}

/// The settings a processed panel depends on.
#[allow(clippy::type_complexity)]
fn work_of(
    c: &BoardConfig,
) -> (
    Vec<(&str, &str)>,
    &[Step],
    &str,
    &[String],
    u64,
    (u32, u32),
    &Path,
    Option<&PathBuf>,
) {
    (
        c.panels
            .iter()
            .map(|p| (p.path.as_str(), p.prompt.as_str()))
            .collect(),
        &c.steps,
        &c.reference,
        &c.characters,
        c.seed,
        (c.width, c.height),
        &c.socket,
        c.daemon.as_ref(),
    )
}

const RETRY: Duration = Duration::from_secs(2);
/// Property views are rebuilt at most this often for status changes.
const REFRESH: Duration = Duration::from_secs(1);
/// How often an idle worker checks that the daemon is still there.
const PING: Duration = Duration::from_secs(5);
/// The name of the timeline file an export writes.
pub const OTIO_FILE: &str = "storyboard.otio";

/// A panel read from its file and fitted to the board.
struct Fitted {
    /// Path and modification time: what the cache keys depend on.
    source_key: String,
    width: u32,
    height: u32,
    rgba: Arc<Vec<u8>>,
}

/// Fitted panels by (file and modification time, board width, board height).
type FittedCache = HashMap<(String, u32, u32), Result<(u32, u32, Arc<Vec<u8>>), String>>;

/// One processed turn of a panel: the chain's result, and each step's output (what a
/// follow-up turn sends as the prior turn's image to the step that made it).
struct Done {
    pixels: Arc<Vec<u8>>,
    steps: Vec<Arc<OwnedImage>>,
    /// What a step said about its result that the user should know (for example that the
    /// service's answer was smaller than the panel, with the upscalers to use).
    notes: Vec<String>,
}

/// Processed turns by job key (see [`Worker::turn_keys`]).
type Results = HashMap<String, Result<Arc<Done>, String>>;

/// What a slot of the board shows now, and what it was composed from.
struct Slot {
    source_key: String,
    /// The job key of the processed result shown, or "" for the unprocessed panel.
    result_key: String,
    fitted: Arc<Vec<u8>>,
    width: u32,
    height: u32,
    board: (u32, u32, [u8; 4]),
}

struct Worker {
    sh: Arc<BoardShared>,
    client: Option<Client>,
    client_socket: PathBuf,
    next_try: Instant,
    last_ping: Instant,
    fitted: FittedCache,
    results: Results,
    reference: Option<(String, Arc<OwnedImage>)>,
    /// The character references loaded, by file and modification time.
    characters: Vec<(String, Arc<OwnedImage>)>,
    slots: Vec<Option<Slot>>,
    next_id: u64,
    export_done: u64,
    export_note: String,
    last_status: String,
    last_refresh: Instant,
    refresh_pending: bool,
    daemon_note: String,
    activity: String,
}

pub fn run(sh: Arc<BoardShared>) {
    let export_done = sh.export.load(Ordering::Acquire);
    let mut w = Worker {
        sh,
        client: None,
        client_socket: PathBuf::new(),
        next_try: Instant::now(),
        last_ping: Instant::now(),
        fitted: HashMap::new(),
        results: HashMap::new(),
        reference: None,
        characters: Vec::new(),
        slots: Vec::new(),
        next_id: 1,
        export_done,
        export_note: String::new(),
        last_status: String::new(),
        last_refresh: Instant::now()
            .checked_sub(REFRESH)
            .unwrap_or_else(Instant::now),
        refresh_pending: false,
        daemon_note: String::new(),
        activity: String::new(),
    };
    while !w.sh.stop.load(Ordering::Acquire) {
        let busy = w.step();
        if !busy {
            let mut g = w.sh.grabbed.lock();
            if g.is_none() {
                w.sh.wake.wait_for(&mut g, Duration::from_millis(500));
            }
        }
    }
}

fn mtime(path: &Path) -> Result<SystemTime, String> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn source_key(path: &str) -> Result<String, String> {
    let t = mtime(Path::new(path))?;
    let ns = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok(format!("{path}@{ns}"))
}

fn decode_rgba8(path: &str) -> Result<OwnedImage, String> {
    let img = easel_imaging::decode_file(Path::new(path), &DecodeLimits::default())
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(if img.format == PixelFormat::Rgba8 {
        img
    } else {
        easel_imaging::convert(&img.view(), PixelFormat::Rgba8)
    })
}

fn is_connection_error(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Unavailable { .. }
            | ClientError::StartFailed { .. }
            | ClientError::Transport(_)
            | ClientError::Protocol(_)
    )
}

impl Worker {
    /// One round: true when it did work and should look again at once.
    fn step(&mut self) -> bool {
        let work = self.sh.work_generation.load(Ordering::Acquire);
        let (generation, cfg) = self.sh.config.lock().clone();
        let grabbed = self.sh.grabbed.lock().take();
        if let Some(g) = grabbed {
            self.save_grab(&cfg, g);
        }
        let mut errors: Vec<String> = Vec::new();
        // 1. Every panel read and fitted (cheap, no daemon): shown unprocessed at once.
        let fitted: Vec<Option<Fitted>> = cfg
            .panels
            .iter()
            .enumerate()
            .map(|(i, p)| match self.fit(p, &cfg) {
                Ok(f) => Some(f),
                Err(e) => {
                    errors.push(format!("Panel {}: {e}", i + 1));
                    None
                }
            })
            .collect();
        let reference_error = self
            .load_reference(&cfg)
            .err()
            .or_else(|| self.load_characters(&cfg).err());
        let converses = self.chain_converses(&cfg);
        // Each panel's turns: its prompt, then its refinements (when the chain can refine).
        let turn_keys: Vec<Option<Vec<String>>> = cfg
            .panels
            .iter()
            .zip(&fitted)
            .map(|(p, f)| f.as_ref().map(|f| self.turn_keys(&cfg, p, f, converses)))
            .collect();
        let keys: Vec<Option<String>> = turn_keys
            .iter()
            .map(|t| t.as_ref().and_then(|t| t.last().cloned()))
            .collect();
        self.publish(&cfg, &fitted, &keys);

        // 2. The first panel without a result for the current settings is processed, one turn
        // at a time (a refined panel's earlier turns stay cached).
        let todo = keys
            .iter()
            .position(|k| k.as_ref().is_some_and(|k| !self.results.contains_key(k)));
        let chain = self.chain_title(&cfg);
        let mut worked = false;
        if cfg.steps.is_empty() {
            self.activity = "No operation chosen: the panels are shown as they are.".into();
        } else if let Some(i) = todo {
            if let Some(e) = &reference_error {
                self.activity = format!("Waiting for the reference images: {e}");
            } else if self.ensure_client(&cfg) {
                let done = keys
                    .iter()
                    .flatten()
                    .filter(|k| matches!(self.results.get(*k), Some(Ok(_))))
                    .count();
                let tk = turn_keys[i].clone().unwrap_or_default();
                let turn = tk
                    .iter()
                    .position(|k| !self.results.contains_key(k))
                    .unwrap_or(0);
                let of_turns = if tk.len() > 1 {
                    format!(", turn {} of {}", turn + 1, tk.len())
                } else {
                    String::new()
                };
                self.activity = format!(
                    "Processing panel {} of {} ({chain}){of_turns}; {done} done",
                    i + 1,
                    cfg.panels.len()
                );
                self.post_status(&cfg, &errors);
                let prior = match turn.checked_sub(1).and_then(|t| self.results.get(&tk[t])) {
                    Some(Ok(d)) => Some(d.clone()),
                    _ => None,
                };
                if let Some(f) = &fitted[i] {
                    let turns = cfg.panels[i].turns();
                    let turns = &turns[..=turn.min(turns.len() - 1)];
                    let r = if turn > 0 && prior.is_none() {
                        Err(ClientError::Daemon {
                            code: easel_protocol::Code::InvalidParams,
                            fault: easel_protocol::Fault::Caller,
                            message: "the turn before it has no result to refine".into(),
                        })
                    } else {
                        self.process(&cfg, turns, f, prior, work)
                    };
                    let settle = |w: &mut Worker, r: Result<Arc<Done>, String>| {
                        if turn + 1 < tk.len() {
                            if let Err(e) = &r {
                                // A failed turn settles the panel: later turns need it.
                                w.results.insert(tk[tk.len() - 1].clone(), Err(e.clone()));
                            }
                        }
                        w.results.insert(tk[turn].clone(), r);
                    };
                    match r {
                        Ok(Some(d)) => settle(self, Ok(Arc::new(d))),
                        Ok(None) => {} // the settings changed or the source is going away
                        Err(e) if is_connection_error(&e) => {
                            self.drop_client(&cfg, &e);
                        }
                        Err(e) if tk.len() > 1 => {
                            settle(self, Err(format!("turn {}: {e}", turn + 1)))
                        }
                        Err(e) => settle(self, Err(e.to_string())),
                    }
                    worked = true;
                    // Show it at once (if the settings did not change meanwhile).
                    if self.sh.config.lock().0 == generation {
                        self.publish(&cfg, &fitted, &keys);
                    }
                }
            } else {
                self.activity =
                    "Waiting for the daemon: each panel shows its last result, or is shown \
                                 unprocessed."
                        .into();
            }
        } else {
            // Idle: keep the daemon line of the status true (a cheap status request now and
            // then; reconnect attempts at the usual pace).
            if self.client.is_some() {
                if self.last_ping.elapsed() > PING {
                    self.last_ping = Instant::now();
                    if let Some(Err(e)) = self.client.as_mut().map(|c| c.status()) {
                        self.drop_client(&cfg, &e);
                    }
                }
            } else {
                self.ensure_client(&cfg);
            }
            let ok = keys
                .iter()
                .flatten()
                .filter(|k| matches!(self.results.get(*k), Some(Ok(_))))
                .count();
            self.activity = format!(
                "{ok} of {} panels processed with {chain}.",
                cfg.panels.len()
            );
            // Forget results no panel uses any more.
            let live: std::collections::HashSet<&String> =
                turn_keys.iter().flatten().flatten().collect();
            self.results.retain(|k, _| live.contains(k));
            let live_src: std::collections::HashSet<String> = cfg
                .panels
                .iter()
                .filter_map(|p| source_key(&p.path).ok())
                .collect();
            self.fitted
                .retain(|k, _| live_src.contains(&k.0) && (k.1, k.2) == (cfg.width, cfg.height));
        }
        for (i, k) in keys.iter().enumerate() {
            match k.as_ref().and_then(|k| self.results.get(k)) {
                Some(Err(e)) => errors.push(format!("Panel {}: {e}", i + 1)),
                Some(Ok(d)) => {
                    for n in &d.notes {
                        errors.push(format!("Panel {}: {n}", i + 1));
                    }
                }
                None => {}
            }
        }
        if let Some(e) = &reference_error {
            if !cfg.steps.is_empty() && self.needs_reference(&cfg) {
                errors.push(format!("Reference images: {e}"));
            }
        }
        // The turns of refined panels, as the conversation the service gets.
        for (i, (p, tk)) in cfg.panels.iter().zip(&turn_keys).enumerate() {
            if p.refinements.is_empty() {
                continue;
            }
            if !converses {
                errors.push(format!(
                    "Panel {}: its refinements need an operation that refines (a generative one) \
                     in the chain",
                    i + 1
                ));
                continue;
            }
            let Some(tk) = tk else { continue };
            let turns: Vec<String> = p
                .turns()
                .iter()
                .zip(tk)
                .enumerate()
                .map(|(n, (t, k))| {
                    let state = match self.results.get(k) {
                        Some(Ok(_)) => "done",
                        Some(Err(_)) => "failed",
                        None => "waiting",
                    };
                    format!("{}. {t} [{state}]", n + 1)
                })
                .collect();
            errors.push(format!("Panel {} turns: {}", i + 1, turns.join("; ")));
        }
        // 3. An export asked for.
        let asked = self.sh.export.load(Ordering::Acquire);
        if asked > self.export_done {
            let finished = self.try_export(&cfg, &keys, &fitted, todo.is_none());
            if finished {
                self.export_done = asked;
            }
        }
        self.post_status(&cfg, &errors);
        worked
    }

    /// The panel fitted to the board. Only the fitted pixels are kept (a folder of large
    /// photos would not fit in memory at full size); a file that cannot be decoded is not
    /// tried again until it changes.
    fn fit(&mut self, p: &PanelSpec, cfg: &BoardConfig) -> Result<Fitted, String> {
        let key = source_key(&p.path)?;
        let fk = (key.clone(), cfg.width, cfg.height);
        let entry = match self.fitted.get(&fk) {
            Some(e) => e.clone(),
            None => {
                let e = decode_rgba8(&p.path).and_then(|img| {
                    let (_, _, fw, fh) =
                        animatic::fit(img.width, img.height, cfg.width, cfg.height);
                    if fw == 0 || fh == 0 {
                        return Err(format!("{} is empty", p.path));
                    }
                    let px = if (fw, fh) == (img.width, img.height) {
                        img.data
                    } else {
                        animatic::resize_rgba8(&img.data, img.width, img.height, fw, fh)
                    };
                    Ok((fw, fh, Arc::new(px)))
                });
                self.fitted.insert(fk, e.clone());
                e
            }
        };
        let (width, height, rgba) = entry?;
        Ok(Fitted {
            source_key: key,
            width,
            height,
            rgba,
        })
    }

    /// Whether a step needs the reference look: it takes fewer reference images than it
    /// must without it (operations that take a prompt get the character references first).
    fn needs_reference(&self, cfg: &BoardConfig) -> bool {
        let ops = self.sh.operations.lock();
        cfg.steps.iter().any(|s| {
            ops.iter().find(|o| o.id == s.op).is_some_and(|o| {
                let without = if takes_prompt(o) {
                    cfg.characters.len() as u32
                } else {
                    0
                };
                o.min_references > without
            })
        })
    }

    /// Whether an operation of the chain refines turn by turn (has a `conversation` text
    /// parameter, as the generative operations do).
    fn chain_converses(&self, cfg: &BoardConfig) -> bool {
        let ops = self.sh.operations.lock();
        cfg.steps
            .iter()
            .any(|s| ops.iter().find(|o| o.id == s.op).is_some_and(converses))
    }

    /// Reads the character references (each reduced to at most 1024 pixels on its longer
    /// side); an error names the first that cannot be read.
    fn load_characters(&mut self, cfg: &BoardConfig) -> Result<(), String> {
        let mut loaded = Vec::new();
        for (n, path) in cfg.characters.iter().enumerate() {
            let path = path.trim();
            let fail = |e: String| format!("character reference {}: {e}", n + 1);
            let key = source_key(path).map_err(fail)?;
            if let Some(have) = self.characters.iter().find(|(k, _)| *k == key) {
                loaded.push(have.clone());
                continue;
            }
            let img = decode_rgba8(path).map_err(fail)?;
            loaded.push((key, Arc::new(shrink(img, 1024))));
        }
        self.characters = loaded;
        Ok(())
    }

    /// Reads the reference look (reduced to at most 1024 pixels wide); an error when one is
    /// needed and cannot be had.
    fn load_reference(&mut self, cfg: &BoardConfig) -> Result<(), String> {
        if cfg.reference.trim().is_empty() {
            self.reference = None;
            return if self.needs_reference(cfg) {
                Err("no reference look image is chosen".into())
            } else {
                Ok(())
            };
        }
        let key = source_key(cfg.reference.trim())?;
        if self.reference.as_ref().is_some_and(|(k, _)| *k == key) {
            return Ok(());
        }
        let img = decode_rgba8(cfg.reference.trim())?;
        self.reference = Some((key, Arc::new(shrink(img, 1024))));
        Ok(())
    }

    /// Everything a panel's result depends on.
    fn job_key(&self, cfg: &BoardConfig, p: &PanelSpec, f: &Fitted) -> String {
        let steps: Vec<Value> = cfg
            .steps
            .iter()
            .map(|s| json!({"op": s.op, "params": s.params}))
            .collect();
        json!({
            "steps": steps,
            "reference": self.reference.as_ref().map(|(k, _)| k.clone()),
            "characters": self.characters.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            "seed": cfg.seed,
            "panel": f.source_key,
            "prompt": p.prompt,
            "size": [f.width, f.height],
        })
        .to_string()
    }

    /// The job key of each turn of a panel: the panel's key with the prompts up to that turn
    /// (only the first turn when the chain cannot refine).
    fn turn_keys(
        &self,
        cfg: &BoardConfig,
        p: &PanelSpec,
        f: &Fitted,
        converses: bool,
    ) -> Vec<String> {
        let base = self.job_key(cfg, p, f);
        if !converses || p.refinements.is_empty() {
            return vec![base];
        }
        let turns = p.turns();
        (1..=turns.len())
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    json!({"panel": base, "turns": &turns[..n]}).to_string()
                }
            })
            .collect()
    }

    fn chain_title(&self, cfg: &BoardConfig) -> String {
        let ops = self.sh.operations.lock();
        let t: Vec<String> = cfg
            .steps
            .iter()
            .map(|s| {
                ops.iter()
                    .find(|o| o.id == s.op)
                    .map(|o| o.title.clone())
                    .unwrap_or_else(|| s.op.clone())
            })
            .collect();
        t.join(" → ")
    }

    /// Sets what each slot shows: the processed panel if there is one for the current
    /// settings, else the last result for the same picture (while the new one is being made),
    /// else the panel unprocessed.
    fn publish(&mut self, cfg: &BoardConfig, fitted: &[Option<Fitted>], keys: &[Option<String>]) {
        let board = (cfg.width, cfg.height, cfg.bg);
        let mut changed = false;
        self.slots.resize_with(fitted.len(), || None);
        self.slots.truncate(fitted.len());
        let mut shown = self.sh.shown.lock().clone();
        shown.resize(fitted.len(), None);
        for (i, f) in fitted.iter().enumerate() {
            let Some(f) = f else {
                if self.slots[i].is_some() || shown[i].is_some() {
                    self.slots[i] = None;
                    shown[i] = None;
                    changed = true;
                }
                continue;
            };
            let key = keys[i].clone().unwrap_or_default();
            let result = match self.results.get(&key) {
                Some(Ok(d)) => Some(d.pixels.clone()),
                _ => None,
            };
            let old = self.slots[i].as_ref();
            let keep_old = result.is_none()
                && old.is_some_and(|s| {
                    s.source_key == f.source_key
                        && !s.result_key.is_empty()
                        && (s.width, s.height) == (f.width, f.height)
                });
            let (result_key, px) = match (result, keep_old) {
                (Some(px), _) => (key.clone(), px),
                (None, true) => match old {
                    Some(s) => (s.result_key.clone(), s.fitted.clone()),
                    None => (String::new(), f.rgba.clone()),
                },
                (None, false) => (String::new(), f.rgba.clone()),
            };
            let same = old.is_some_and(|s| {
                s.source_key == f.source_key
                    && s.result_key == result_key
                    && s.board == board
                    && (s.width, s.height) == (f.width, f.height)
            });
            if same && shown[i].is_some() {
                continue;
            }
            let rgba = animatic::compose(&px, f.width, f.height, cfg.width, cfg.height, cfg.bg);
            shown[i] = Some(Shown {
                id: self.next_id,
                width: cfg.width,
                height: cfg.height,
                rgba: Arc::new(rgba),
            });
            self.next_id += 1;
            self.slots[i] = Some(Slot {
                source_key: f.source_key.clone(),
                result_key,
                fitted: px,
                width: f.width,
                height: f.height,
                board,
            });
            changed = true;
        }
        if changed || self.sh.shown.lock().len() != shown.len() {
            *self.sh.shown.lock() = shown;
        }
    }

    fn ensure_client(&mut self, cfg: &BoardConfig) -> bool {
        if self.client.is_some() && self.client_socket != cfg.socket {
            self.client = None; // the socket setting changed
            self.next_try = Instant::now();
        }
        if self.client.is_some() {
            return true;
        }
        if Instant::now() < self.next_try {
            return false;
        }
        let r = match &cfg.daemon {
            Some(d) => Client::connect_or_start(&cfg.socket, d, None, Duration::from_secs(10)),
            None => Client::connect(&cfg.socket),
        };
        match r.and_then(|mut c| c.operations().map(|o| (c, o))) {
            Ok((c, ops)) => {
                *self.sh.operations.lock() = ops.operations;
                self.sh.connected.store(true, Ordering::Release);
                if !self.daemon_note.is_empty() {
                    crate::log_info(&format!(
                        "[easel] storyboard '{}': the Easel daemon answers at {}",
                        cfg.name,
                        cfg.socket.display()
                    ));
                }
                self.daemon_note.clear();
                self.client = Some(c);
                self.client_socket = cfg.socket.clone();
                true
            }
            Err(e) => {
                self.drop_client(cfg, &e);
                false
            }
        }
    }

    fn drop_client(&mut self, cfg: &BoardConfig, e: &ClientError) {
        self.client = None;
        self.sh.connected.store(false, Ordering::Release);
        self.next_try = Instant::now() + RETRY;
        if self.daemon_note.is_empty() {
            crate::log_warn(&format!(
                "[easel] storyboard '{}': {e}. Panels without a result are shown unprocessed until \
                 the daemon answers; retrying every {} s.",
                cfg.name,
                RETRY.as_secs()
            ));
        }
        self.daemon_note = format!(
            "Daemon: {e}. Panels without a result are shown unprocessed; retrying every {} s.",
            RETRY.as_secs()
        );
    }

    /// Runs one turn of a panel through the chain; the result at the panel's fitted size.
    /// `turns` are the panel's prompts up to this turn (the last is this turn's); `prior` is
    /// the turn before it, whose step outputs go back to the steps that refine.
    fn process(
        &mut self,
        cfg: &BoardConfig,
        turns: &[String],
        f: &Fitted,
        prior: Option<Arc<Done>>,
        work: u64,
    ) -> Result<Option<Done>, ClientError> {
        let ops = self.sh.operations.lock().clone();
        let reference = self.reference.as_ref().map(|(_, r)| r.clone());
        let characters: Vec<Arc<OwnedImage>> =
            self.characters.iter().map(|(_, c)| c.clone()).collect();
        let Some(client) = self.client.as_mut() else {
            return Err(ClientError::Protocol("not connected".into()));
        };
        let mut img = OwnedImage {
            width: f.width,
            height: f.height,
            format: PixelFormat::Rgba8,
            data: f.rgba.as_ref().clone(),
        };
        let look = reference.as_deref().map(SharedInput::new).transpose()?;
        let chars = characters
            .iter()
            .map(|c| SharedInput::new(c))
            .collect::<Result<Vec<_>, _>>()?;
        let (prompt, earlier) = match turns.split_last() {
            Some((last, earlier)) => (last.as_str(), earlier),
            None => ("", &[][..]),
        };
        let mut outputs = Vec::new();
        let mut notes = Vec::new();
        for (n, step) in cfg.steps.iter().enumerate() {
            let fail = |m: String| ClientError::Daemon {
                code: easel_protocol::Code::InvalidParams,
                fault: easel_protocol::Fault::Caller,
                message: m,
            };
            let Some(info) = ops.iter().find(|o| o.id == step.op) else {
                return Err(fail(format!(
                    "step {}: the daemon has no operation '{}'",
                    n + 1,
                    step.op
                )));
            };
            if info.mask == MaskUse::Required {
                return Err(fail(format!(
                    "step {} ({}) needs a selection mask, which storyboard panels do not have",
                    n + 1,
                    info.title
                )));
            }
            // A follow-up turn: this step's output of the turn before is reference 1.
            let prior_image = match (&prior, converses(info) && !earlier.is_empty()) {
                (Some(d), true) => Some(
                    d.steps
                        .get(n)
                        .ok_or_else(|| fail("the turn before it has no result to refine".into()))
                        .and_then(|im| SharedInput::new(im))?,
                ),
                _ => None,
            };
            let conversation = if prior_image.is_some() { earlier } else { &[] };
            let params = step_params(info, step, prompt, conversation, cfg.seed);
            let mut use_refs: Vec<&SharedInput> = Vec::new();
            use_refs.extend(prior_image.as_ref());
            if takes_prompt(info) {
                use_refs.extend(chars.iter());
            }
            use_refs.extend(look.as_ref());
            use_refs.truncate(info.max_references as usize);
            if (use_refs.len() as u32) < info.min_references {
                return Err(fail(format!(
                    "step {} ({}) needs {} reference image(s): choose a reference look{}",
                    n + 1,
                    info.title,
                    info.min_references,
                    if takes_prompt(info) {
                        " or character references"
                    } else {
                        ""
                    }
                )));
            }
            let input = SharedInput::new(&img)?;
            let o = SubmitOptions {
                params,
                priority: Priority::Batch,
                result_format: Some(PixelFormat::Rgba8),
                name: Some(format!("storyboard {}", cfg.name)),
                ..Default::default()
            };
            let job = client.submit_with(&step.op, &input, None, &use_refs, o)?;
            let mut last = String::new();
            if !await_job(client, job, &self.sh, work, &mut last)? {
                return Ok(None);
            }
            let r = client
                .wait(job, |_, m| {
                    if !m.is_empty() {
                        last = m.to_string();
                    }
                })
                .map_err(|e| match e {
                    ClientError::Daemon {
                        code,
                        fault,
                        message,
                    } => ClientError::Daemon {
                        code,
                        fault,
                        message: format!("{} failed: {message}", info.title),
                    },
                    other => other,
                })?;
            let out = if r.image.format == PixelFormat::Rgba8 {
                r.image
            } else {
                easel_imaging::convert(&r.image.view(), PixelFormat::Rgba8)
            };
            img = place(&img, &out, r.x, r.y);
            outputs.push(Arc::new(img.clone()));
            if last.contains("Upscale") {
                notes.push(format!("{}: {last}", info.title));
            }
        }
        Ok(Some(Done {
            pixels: Arc::new(img.data),
            steps: outputs,
            notes,
        }))
    }

    /// Writes the numbered PNGs and the timeline once every panel is processed; true when the
    /// request is settled (done or failed for good), false while it waits.
    fn try_export(
        &mut self,
        cfg: &BoardConfig,
        keys: &[Option<String>],
        fitted: &[Option<Fitted>],
        all_tried: bool,
    ) -> bool {
        if cfg.export_dir.trim().is_empty() {
            self.export_note = "Export: choose an export folder first.".into();
            return true;
        }
        if cfg.panels.is_empty() {
            self.export_note = "Export: the storyboard has no panels.".into();
            return true;
        }
        if let Some(i) = fitted.iter().position(|f| f.is_none()) {
            self.export_note = format!("Export failed: panel {} cannot be read.", i + 1);
            return true;
        }
        let with_steps = !cfg.steps.is_empty();
        if with_steps && !all_tried {
            let done = keys
                .iter()
                .flatten()
                .filter(|k| self.results.contains_key(*k))
                .count();
            self.export_note = format!(
                "Export waiting: {done} of {} panels processed.",
                cfg.panels.len()
            );
            return false;
        }
        if with_steps {
            if let Some(i) = keys
                .iter()
                .position(|k| !matches!(k.as_ref().and_then(|k| self.results.get(k)), Some(Ok(_))))
            {
                self.export_note = format!("Export failed: panel {} was not processed.", i + 1);
                return true;
            }
        }
        match self.export(cfg, keys, fitted) {
            Ok(dir) => {
                self.export_note = format!(
                    "Exported {} panels (panel_0001.png …) and {OTIO_FILE} to {}",
                    cfg.panels.len(),
                    dir.display()
                );
                crate::log_info(&format!(
                    "[easel] storyboard '{}': {}",
                    cfg.name, self.export_note
                ));
            }
            Err(e) => {
                self.export_note = format!("Export failed: {e}");
                crate::log_warn(&format!(
                    "[easel] storyboard '{}': {}",
                    cfg.name, self.export_note
                ));
            }
        }
        true
    }

    fn export(
        &self,
        cfg: &BoardConfig,
        keys: &[Option<String>],
        fitted: &[Option<Fitted>],
    ) -> Result<PathBuf, String> {
        let dir = PathBuf::from(cfg.export_dir.trim());
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut files = Vec::new();
        for (i, f) in fitted.iter().enumerate() {
            let f = f
                .as_ref()
                .ok_or_else(|| format!("panel {} cannot be read", i + 1))?;
            let px = match keys[i].as_ref().and_then(|k| self.results.get(k)) {
                Some(Ok(d)) => d.pixels.clone(),
                _ => f.rgba.clone(),
            };
            let board = animatic::compose(&px, f.width, f.height, cfg.width, cfg.height, cfg.bg);
            let img = OwnedImage {
                width: cfg.width,
                height: cfg.height,
                format: PixelFormat::Rgba8,
                data: board,
            };
            let path = dir.join(format!("panel_{:04}.png", i + 1));
            let tmp = dir.join(format!(".panel_{:04}.png.tmp", i + 1));
            easel_imaging::encode_png(&img, &tmp)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            std::fs::rename(&tmp, &path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            files.push(path);
        }
        // A numbered sequence with stale extras from a longer board would mislead importers.
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let n = name
                    .strip_prefix("panel_")
                    .and_then(|s| s.strip_suffix(".png"))
                    .filter(|s| s.len() == 4)
                    .and_then(|s| s.parse::<usize>().ok());
                if n.is_some_and(|n| n > files.len()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let fps = if cfg.fps.is_finite() && cfg.fps > 0.0 {
            cfg.fps
        } else {
            30.0
        };
        let frames = |s: f64| ((s * fps).round() as u64).max(1);
        let converses = self.chain_converses(cfg);
        let panels: Vec<ExportedPanel<'_>> = files
            .iter()
            .zip(&cfg.panels)
            .enumerate()
            .map(|(i, (file, p))| ExportedPanel {
                file,
                frames: frames(cfg.timing.durations.get(i).copied().unwrap_or(1.0)),
                name: format!("Panel {}", i + 1),
                prompt: &p.prompt,
                refinements: if converses { &p.refinements } else { &[] },
            })
            .collect();
        let transition_frames = if cfg.timing.transition == Transition::Crossfade {
            frames(cfg.timing.transition_s)
        } else {
            0
        };
        let timeline = animatic::otio_timeline(
            &cfg.name,
            &panels,
            fps,
            cfg.timing.transition,
            transition_frames,
        );
        let text = serde_json::to_string_pretty(&timeline).map_err(|e| e.to_string())?;
        let path = dir.join(OTIO_FILE);
        let tmp = dir.join(format!(".{OTIO_FILE}.tmp"));
        std::fs::write(&tmp, text + "\n")
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(dir)
    }

    fn save_grab(&mut self, cfg: &BoardConfig, g: Result<Grab, String>) {
        let g = match g {
            Ok(g) => g,
            Err(e) => {
                self.export_note = format!("Could not grab a frame: {e}");
                return;
            }
        };
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let path = cfg.grab_dir.join(format!("grab-{stamp}.png"));
        let img = OwnedImage {
            width: g.width,
            height: g.height,
            format: PixelFormat::Rgba8,
            data: g.rgba,
        };
        let r = std::fs::create_dir_all(&cfg.grab_dir)
            .map_err(|e| e.to_string())
            .and_then(|_| easel_imaging::encode_png(&img, &path).map_err(|e| e.to_string()));
        match r {
            Ok(()) => {
                self.export_note = format!("Grabbed a frame as a new panel: {}", path.display());
                (self.sh.notify)(Notice::AddPanel(path.to_string_lossy().into_owned()));
            }
            Err(e) => {
                self.export_note = format!(
                    "Could not save the grabbed frame to {}: {e}",
                    path.display()
                );
            }
        }
    }

    fn post_status(&mut self, cfg: &BoardConfig, errors: &[String]) {
        let mut lines = Vec::new();
        if !self.daemon_note.is_empty() {
            lines.push(self.daemon_note.clone());
        } else if self.client.is_some() {
            lines.push(format!("Daemon: connected ({}).", cfg.socket.display()));
        }
        if !self.activity.is_empty() {
            lines.push(self.activity.clone());
        }
        lines.extend(errors.iter().cloned());
        let note = self.sh.ui_note.lock().clone();
        if !note.is_empty() {
            lines.push(note);
        }
        if !self.export_note.is_empty() {
            lines.push(self.export_note.clone());
        }
        let status = lines.join("\n");
        let due = self.last_refresh.elapsed() >= REFRESH;
        if status != self.last_status {
            self.last_status = status.clone();
            *self.sh.status.lock() = status.clone();
            self.refresh_pending = !due;
            if due {
                self.last_refresh = Instant::now();
            }
            (self.sh.notify)(Notice::Status {
                text: status,
                refresh: due,
            });
        } else if self.refresh_pending && due {
            self.refresh_pending = false;
            self.last_refresh = Instant::now();
            (self.sh.notify)(Notice::Status {
                text: status,
                refresh: true,
            });
        }
    }
}

/// Whether an operation takes a `prompt` text parameter (the generative ones): it gets the
/// panel's prompt and the character references.
fn takes_prompt(info: &OperationInfo) -> bool {
    has_text(info, "prompt")
}

/// Whether an operation refines turn by turn: a `conversation` text parameter for the
/// earlier prompts, the prior turn's image as its first reference.
fn converses(info: &OperationInfo) -> bool {
    has_text(info, "conversation")
}

fn has_text(info: &OperationInfo, name: &str) -> bool {
    info.params
        .iter()
        .any(|p| p.name == name && matches!(p.kind, ParamKind::Text { .. }))
}

/// The parameters one step sends: those the user set that the operation declares (settings of
/// an earlier choice may linger), the panel's prompt in a Text parameter named `prompt`, the
/// earlier prompts of a follow-up turn in `conversation` (one per line; always set, so a
/// first turn starts over), and the board's seed in every Seed parameter (unless it is 0: the
/// daemon picks).
fn step_params(
    info: &OperationInfo,
    step: &Step,
    prompt: &str,
    earlier: &[String],
    seed: u64,
) -> BTreeMap<String, Value> {
    let mut params = step.params.clone();
    params.retain(|k, _| info.params.iter().any(|p| p.name == *k));
    for param in &info.params {
        match &param.kind {
            ParamKind::Text { .. } if param.name == "prompt" && !prompt.is_empty() => {
                params.insert("prompt".into(), json!(one_line(prompt)));
            }
            ParamKind::Text { .. } if param.name == "conversation" => {
                let lines: Vec<String> = earlier.iter().map(|p| one_line(p)).collect();
                params.insert("conversation".into(), json!(lines.join("\n")));
            }
            ParamKind::Seed { .. } if seed != 0 => {
                params.insert(param.name.clone(), json!(seed));
            }
            _ => {}
        }
    }
    params
}

/// A prompt as one line of a conversation.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The image reduced to at most `side` pixels on its longer side.
fn shrink(img: OwnedImage, side: u32) -> OwnedImage {
    if img.width <= side && img.height <= side {
        return img;
    }
    let (_, _, w, h) = animatic::fit(img.width, img.height, side, side);
    OwnedImage {
        width: w,
        height: h,
        format: PixelFormat::Rgba8,
        data: animatic::resize_rgba8(&img.data, img.width, img.height, w, h),
    }
}

/// Waits until `job` has ended (true; its result is then fetched at once), or cancels it and
/// returns false when the source is going away or a setting its result depends on changed
/// (`work` is the [`BoardShared::work_generation`] it was started under), so neither waits for
/// a long job. `last_progress` gets the job's last progress message.
fn await_job(
    client: &mut Client,
    job: u64,
    sh: &BoardShared,
    work: u64,
    last_progress: &mut String,
) -> Result<bool, ClientError> {
    use easel_client::protocol::ServerMessage;
    loop {
        if sh.stop.load(Ordering::Acquire) || sh.work_generation.load(Ordering::Acquire) != work {
            client.cancel(job)?;
            return Ok(false);
        }
        if let Some(m) = client.next_event(Some(Duration::from_millis(200)))? {
            match m.msg {
                ServerMessage::JobFinished { job: j, .. } if j == job => return Ok(true),
                ServerMessage::Progress {
                    job: j, message, ..
                } if j == job && !message.is_empty() => *last_progress = message,
                ServerMessage::Error(e) if e.job == Some(job) => return Err(e.into()),
                _ => {}
            }
        }
    }
}

/// The result of one step placed into an image of the input's size: as it is when it has the
/// input's size (or another size at the origin: a scaling operation, resized back), else over
/// a copy of the input at its offset.
fn place(input: &OwnedImage, out: &OwnedImage, x: u64, y: u64) -> OwnedImage {
    let (w, h) = (input.width, input.height);
    if (out.width, out.height) == (w, h) && (x, y) == (0, 0) {
        return out.clone();
    }
    if (x, y) == (0, 0) && out.width >= w && out.height >= h {
        return OwnedImage {
            width: w,
            height: h,
            format: PixelFormat::Rgba8,
            data: animatic::resize_rgba8(&out.data, out.width, out.height, w, h),
        };
    }
    let mut img = input.clone();
    for oy in 0..out.height as u64 {
        let ty = y + oy;
        if ty >= h as u64 {
            break;
        }
        for ox in 0..out.width as u64 {
            let tx = x + ox;
            if tx >= w as u64 {
                break;
            }
            let s = ((oy * out.width as u64 + ox) * 4) as usize;
            let d = ((ty * w as u64 + tx) * 4) as usize;
            img.data[d..d + 4].copy_from_slice(&out.data[s..s + 4]);
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_and_seeds_reach_their_parameters() {
        let info: OperationInfo = serde_json::from_value(json!({
            "id": "gen", "title": "Gen", "category": "Generative", "description": "",
            "plugin": "p", "mask": "optional", "min_references": 0, "max_references": 0,
            "flags": [], "working_format": "rgba8", "output_scale": 1, "models": [],
            "params": [
                {"name": "prompt", "title": "Prompt", "description": "", "kind": "text",
                 "default": "", "max_len": 100},
                {"name": "seed", "title": "Seed", "description": "", "kind": "seed", "default": 0},
                {"name": "strength", "title": "S", "description": "", "kind": "float",
                 "min": 0.0, "max": 1.0, "default": 1.0, "step": 0.1}
            ]
        }))
        .expect("operation info");
        let step = Step {
            op: "gen".into(),
            params: BTreeMap::from([
                ("prompt".to_string(), json!("board-wide")),
                ("strength".to_string(), json!(0.5)),
                ("model".to_string(), json!("from an earlier operation")),
            ]),
        };
        let p = step_params(&info, &step, "a red car", &[], 7);
        assert_eq!(p["prompt"], "a red car");
        assert_eq!(p["seed"], 7);
        assert_eq!(p["strength"], 0.5);
        assert!(!p.contains_key("model"));
        // Without a panel prompt the operation's own field stays; seed 0 is left to the daemon.
        let p = step_params(&info, &step, "", &[], 0);
        assert_eq!(p["prompt"], "board-wide");
        assert!(!p.contains_key("seed"));
    }

    #[test]
    fn follow_up_turns_fill_the_conversation() {
        let info: OperationInfo = serde_json::from_value(json!({
            "id": "gen", "title": "Gen", "category": "Generative", "description": "",
            "plugin": "p", "mask": "optional", "min_references": 0, "max_references": 10,
            "flags": [], "working_format": "rgba8", "output_scale": 1, "models": [],
            "params": [
                {"name": "prompt", "title": "Prompt", "description": "", "kind": "text",
                 "default": "", "max_len": 100},
                {"name": "conversation", "title": "Conversation", "description": "",
                 "kind": "text", "default": "", "max_len": 1000, "multiline": true}
            ]
        }))
        .expect("operation info");
        assert!(takes_prompt(&info) && converses(&info));
        let step = Step {
            op: "gen".into(),
            params: BTreeMap::from([("conversation".to_string(), json!("lingering"))]),
        };
        let earlier = ["a knight".to_string(), "red\n cloak".to_string()];
        let p = step_params(&info, &step, "add snow", &earlier, 0);
        assert_eq!(p["prompt"], "add snow");
        assert_eq!(p["conversation"], "a knight\nred cloak");
        // A first turn starts over, whatever was set before.
        let p = step_params(&info, &step, "a knight", &[], 0);
        assert_eq!(p["conversation"], "");
    }

    #[test]
    fn placing_results() {
        let input = OwnedImage {
            width: 2,
            height: 2,
            format: PixelFormat::Rgba8,
            data: vec![1; 16],
        };
        let patch = OwnedImage {
            width: 1,
            height: 1,
            format: PixelFormat::Rgba8,
            data: vec![9; 4],
        };
        let r = place(&input, &patch, 1, 1);
        assert_eq!(&r.data[12..16], &[9, 9, 9, 9]);
        assert_eq!(&r.data[0..4], &[1, 1, 1, 1]);
        let big = OwnedImage {
            width: 4,
            height: 4,
            format: PixelFormat::Rgba8,
            data: vec![7; 64],
        };
        let r = place(&input, &big, 0, 0);
        assert_eq!((r.width, r.height), (2, 2));
        assert_eq!(r.data, vec![7; 16]);
    }
}

//! The storyboard's pure parts, free of OBS and of the daemon: panel entries as the user types
//! them, the animatic's timing (which panel shows when, and how far a transition is), fitting
//! and compositing panels onto the board, and the OpenTimelineIO timeline of an export.

use serde_json::{json, Value};
use std::path::Path;

/// One panel as listed in the source's settings: `FILE`, `FILE | SECONDS | PROMPT`, or with
/// follow-up prompts that refine the panel turn by turn,
/// `FILE | SECONDS | PROMPT | REFINE1 ; REFINE2` (any field after the file may be left empty).
#[derive(Clone, Debug, PartialEq)]
pub struct PanelSpec {
    pub path: String,
    /// Seconds on screen; `None`: the board's default duration.
    pub duration: Option<f64>,
    /// Text for operations that take a `prompt` parameter; empty: none.
    pub prompt: String,
    /// Follow-up prompts, oldest first: turn 2, turn 3, … of a generative panel.
    pub refinements: Vec<String>,
}

impl PanelSpec {
    /// Parses one list entry; `None` for an empty one. A field after the file that is not a
    /// number is taken as the prompt (`FILE | PROMPT`, where the rest of the entry belongs to
    /// the prompt); refinements need the four-field form.
    pub fn parse(entry: &str) -> Option<PanelSpec> {
        let mut parts = entry.splitn(4, '|').map(str::trim);
        let path = parts.next().unwrap_or("").to_string();
        if path.is_empty() {
            return None;
        }
        let path = path
            .strip_prefix("file://")
            .map(percent_decode)
            .unwrap_or(path);
        let second = parts.next().unwrap_or("");
        let third = parts.next().unwrap_or("");
        let fourth = parts.next().unwrap_or("");
        let (duration, prompt, refinements) = match second.parse::<f64>() {
            Ok(d) if d.is_finite() && d > 0.0 => (Some(d), third.to_string(), fourth),
            _ if second.is_empty() => (None, third.to_string(), fourth),
            _ => {
                let mut p = second.to_string();
                for more in [third, fourth] {
                    if !more.is_empty() {
                        p.push_str(" | ");
                        p.push_str(more);
                    }
                }
                (None, p, "")
            }
        };
        let refinements = refinements
            .split(';')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        Some(PanelSpec {
            path,
            duration,
            prompt,
            refinements,
        })
    }

    /// Every prompt of the panel, turn by turn: the prompt, then each refinement.
    pub fn turns(&self) -> Vec<String> {
        let mut t = vec![self.prompt.clone()];
        t.extend(self.refinements.iter().cloned());
        t
    }

    /// The entry with one more refinement, in the four-field form; an error for text that
    /// the entry cannot hold or a panel without a prompt to refine.
    pub fn with_refinement(&self, text: &str) -> Result<String, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("write the follow-up prompt first".into());
        }
        if text.contains(['|', ';', '\n', '\r']) {
            return Err("a follow-up prompt cannot contain '|', ';' or line breaks".into());
        }
        if self.prompt.is_empty() {
            return Err("the panel has no prompt to refine: give it one first \
                        (FILE | SECONDS | PROMPT)"
                .into());
        }
        let mut refinements = self.refinements.clone();
        refinements.push(text.to_string());
        Ok(format!(
            "{} | {} | {} | {}",
            self.path,
            self.duration.map(|d| d.to_string()).unwrap_or_default(),
            self.prompt,
            refinements.join(" ; ")
        ))
    }
}

/// `%XX` escapes of a `file://` URL decoded.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How one panel gives way to the next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transition {
    Cut,
    /// The two panels mixed.
    Crossfade,
    /// Through the board's background colour.
    Fade,
}

impl Transition {
    pub fn parse(s: &str) -> Transition {
        match s {
            "cut" => Transition::Cut,
            "fade" => Transition::Fade,
            _ => Transition::Crossfade,
        }
    }
}

/// What to draw at one moment: panel `a`, mixed with panel `b` by `mix` (0: only `a`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub a: usize,
    pub b: usize,
    pub mix: f64,
}

/// The animatic's timing: panel `i` holds the screen from `start(i)` for `durations[i]`
/// seconds; a transition of `transition_s` is centred on each cut (none at the loop point).
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    pub durations: Vec<f64>,
    pub transition: Transition,
    pub transition_s: f64,
    pub looping: bool,
}

impl Timing {
    pub fn total(&self) -> f64 {
        self.durations.iter().sum()
    }

    /// The transition's length as used: at most half of the shorter of the two panels.
    fn fade_len(&self, i: usize) -> f64 {
        if self.transition == Transition::Cut || i + 1 >= self.durations.len() {
            return 0.0;
        }
        self.transition_s
            .max(0.0)
            .min(self.durations[i] / 2.0)
            .min(self.durations[i + 1] / 2.0)
    }

    /// What shows `t` seconds after the start; `None` without panels.
    pub fn at(&self, t: f64) -> Option<Frame> {
        let n = self.durations.len();
        let total = self.total();
        if n == 0 || total <= 0.0 {
            return None;
        }
        let t = if self.looping {
            t.rem_euclid(total)
        } else {
            t.clamp(0.0, total)
        };
        let mut start = 0.0;
        for i in 0..n {
            let end = start + self.durations[i];
            if t < end || i == n - 1 {
                // Into the transition towards the next panel?
                let f = self.fade_len(i);
                if f > 0.0 && t > end - f / 2.0 {
                    let mix = ((t - (end - f / 2.0)) / f).clamp(0.0, 1.0);
                    return Some(Frame {
                        a: i,
                        b: i + 1,
                        mix,
                    });
                }
                // Still finishing the transition from the previous one?
                if i > 0 {
                    let f = self.fade_len(i - 1);
                    if f > 0.0 && t < start + f / 2.0 {
                        let mix = ((t - (start - f / 2.0)) / f).clamp(0.0, 1.0);
                        return Some(Frame {
                            a: i - 1,
                            b: i,
                            mix,
                        });
                    }
                }
                return Some(Frame {
                    a: i,
                    b: i,
                    mix: 0.0,
                });
            }
            start = end;
        }
        None
    }
}

/// The rectangle (x, y, width, height) an image of `w`×`h` takes when fitted, whole and
/// centred, into a board of `bw`×`bh`.
pub fn fit(w: u32, h: u32, bw: u32, bh: u32) -> (u32, u32, u32, u32) {
    if w == 0 || h == 0 || bw == 0 || bh == 0 {
        return (0, 0, 0, 0);
    }
    let s = (bw as f64 / w as f64).min(bh as f64 / h as f64);
    let fw = ((w as f64 * s).round() as u32).clamp(1, bw);
    let fh = ((h as f64 * s).round() as u32).clamp(1, bh);
    ((bw - fw) / 2, (bh - fh) / 2, fw, fh)
}

/// Resamples straight-alpha RGBA8 to `nw`×`nh` (a triangle filter widened when reducing, so
/// reductions average every source pixel; colours weighted by alpha, so no dark fringes).
pub fn resize_rgba8(src: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Vec<u8> {
    let (w, h, nw, nh) = (
        w as usize,
        h as usize,
        nw.max(1) as usize,
        nh.max(1) as usize,
    );
    if w == 0 || h == 0 || src.len() < w * h * 4 {
        return vec![0; nw * nh * 4];
    }
    // Premultiplied floats.
    let mut pre = vec![0f32; w * h * 4];
    for (d, s) in pre.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        let a = s[3] as f32 / 255.0;
        d[0] = s[0] as f32 * a;
        d[1] = s[1] as f32 * a;
        d[2] = s[2] as f32 * a;
        d[3] = s[3] as f32;
    }
    let horiz = weights(w, nw);
    let mut tmp = vec![0f32; nw * h * 4];
    for y in 0..h {
        for (x, (lo, ws)) in horiz.iter().enumerate() {
            let mut acc = [0f32; 4];
            for (k, wt) in ws.iter().enumerate() {
                let p = &pre[(y * w + lo + k) * 4..][..4];
                for c in 0..4 {
                    acc[c] += p[c] * wt;
                }
            }
            tmp[(y * nw + x) * 4..][..4].copy_from_slice(&acc);
        }
    }
    let vert = weights(h, nh);
    let mut out = vec![0u8; nw * nh * 4];
    for (y, (lo, ws)) in vert.iter().enumerate() {
        for x in 0..nw {
            let mut acc = [0f32; 4];
            for (k, wt) in ws.iter().enumerate() {
                let p = &tmp[((lo + k) * nw + x) * 4..][..4];
                for c in 0..4 {
                    acc[c] += p[c] * wt;
                }
            }
            let o = &mut out[(y * nw + x) * 4..][..4];
            let a = acc[3].clamp(0.0, 255.0);
            if a > 0.0 {
                let k = 255.0 / a;
                for c in 0..3 {
                    o[c] = (acc[c] * k).round().clamp(0.0, 255.0) as u8;
                }
            }
            o[3] = a.round() as u8;
        }
    }
    out
}

/// For each output position: the first source index and the normalised weights from there.
fn weights(n: usize, m: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = n as f64 / m as f64;
    let support = scale.max(1.0);
    (0..m)
        .map(|i| {
            let centre = (i as f64 + 0.5) * scale - 0.5;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(n - 1);
            let mut ws: Vec<f32> = (lo..=hi)
                .map(|j| (1.0 - ((j as f64 - centre) / support).abs()).max(0.0) as f32)
                .collect();
            let sum: f32 = ws.iter().sum();
            if sum > 0.0 {
                ws.iter_mut().for_each(|v| *v /= sum);
            } else {
                ws = vec![0.0; hi - lo + 1];
                let nearest = (centre.round().clamp(0.0, (n - 1) as f64) as usize).clamp(lo, hi);
                ws[nearest - lo] = 1.0;
            }
            (lo, ws)
        })
        .collect()
}

/// The board (`bw`×`bh`, filled with `bg`, RGBA8) with the panel (`w`×`h` straight-alpha
/// RGBA8, already at its fitted size) drawn over it, centred.
pub fn compose(panel: &[u8], w: u32, h: u32, bw: u32, bh: u32, bg: [u8; 4]) -> Vec<u8> {
    let mut out: Vec<u8> = bg
        .iter()
        .copied()
        .cycle()
        .take((bw * bh * 4) as usize)
        .collect();
    let (x0, y0) = (bw.saturating_sub(w) / 2, bh.saturating_sub(h) / 2);
    let bga = bg[3] as f32 / 255.0;
    for y in 0..h.min(bh) {
        for x in 0..w.min(bw) {
            let s = &panel[((y * w + x) * 4) as usize..][..4];
            let o = &mut out[(((y0 + y) * bw + x0 + x) * 4) as usize..][..4];
            let sa = s[3] as f32 / 255.0;
            let oa = sa + bga * (1.0 - sa);
            if oa <= 0.0 {
                o.copy_from_slice(&[0, 0, 0, 0]);
                continue;
            }
            for c in 0..3 {
                let v = (s[c] as f32 * sa + bg[c] as f32 * bga * (1.0 - sa)) / oa;
                o[c] = v.round().clamp(0.0, 255.0) as u8;
            }
            o[3] = (oa * 255.0).round() as u8;
        }
    }
    out
}

/// A `file://` URL of an absolute path (RFC 8089; bytes outside the unreserved set and `/`
/// percent-encoded), as OpenTimelineIO's `ExternalReference.target_url` expects.
pub fn file_url(path: &Path) -> String {
    let mut s = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn rational(value: f64, rate: f64) -> Value {
    json!({"OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": value})
}

fn range(start: f64, duration: f64, rate: f64) -> Value {
    json!({
        "OTIO_SCHEMA": "TimeRange.1",
        "start_time": rational(start, rate),
        "duration": rational(duration, rate),
    })
}

/// One exported panel: its PNG, its length in frames, its prompt and the follow-up prompts
/// that refined it (the PNG is the last turn).
pub struct ExportedPanel<'a> {
    pub file: &'a Path,
    pub frames: u64,
    pub name: String,
    pub prompt: &'a str,
    pub refinements: &'a [String],
}

/// The OpenTimelineIO timeline (`Timeline.1` ▸ `Stack.1` ▸ one video `Track.1` of `Clip.1`s
/// with `ExternalReference.1` media, `SMPTE_Dissolve` transitions for crossfades) of an export,
/// at `rate` frames per second; `transition_frames` is the transition's full length.
pub fn otio_timeline(
    name: &str,
    panels: &[ExportedPanel<'_>],
    rate: f64,
    transition: Transition,
    transition_frames: u64,
) -> Value {
    let mut children = Vec::new();
    for (i, p) in panels.iter().enumerate() {
        if i > 0 && transition == Transition::Crossfade {
            // Centred on the cut, no longer than half of either clip.
            let f = transition_frames
                .min(panels[i - 1].frames / 2 * 2)
                .min(p.frames / 2 * 2);
            let half = (f / 2) as f64;
            if half > 0.0 {
                children.push(json!({
                    "OTIO_SCHEMA": "Transition.1",
                    "name": format!("Dissolve {i}"),
                    "metadata": {},
                    "transition_type": "SMPTE_Dissolve",
                    "in_offset": rational(half, rate),
                    "out_offset": rational(half, rate),
                }));
            }
        }
        let frames = p.frames as f64;
        let mut metadata = json!({"easel": {"panel": i + 1}});
        if !p.prompt.is_empty() {
            metadata["easel"]["prompt"] = json!(p.prompt);
        }
        if !p.refinements.is_empty() {
            metadata["easel"]["refinements"] = json!(p.refinements);
        }
        children.push(json!({
            "OTIO_SCHEMA": "Clip.1",
            "name": p.name,
            "metadata": metadata,
            "source_range": range(0.0, frames, rate),
            "effects": [],
            "markers": [],
            "enabled": true,
            "media_reference": {
                "OTIO_SCHEMA": "ExternalReference.1",
                "name": p.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                "metadata": {},
                "available_range": range(0.0, frames, rate),
                "available_image_bounds": null,
                "target_url": file_url(p.file),
            },
        }));
    }
    json!({
        "OTIO_SCHEMA": "Timeline.1",
        "name": name,
        "metadata": {"easel": {"generator": "Easel storyboard source for OBS"}},
        "global_start_time": rational(0.0, rate),
        "tracks": {
            "OTIO_SCHEMA": "Stack.1",
            "name": "tracks",
            "metadata": {},
            "source_range": null,
            "effects": [],
            "markers": [],
            "enabled": true,
            "children": [{
                "OTIO_SCHEMA": "Track.1",
                "name": "Storyboard",
                "kind": "Video",
                "metadata": {},
                "source_range": null,
                "effects": [],
                "markers": [],
                "enabled": true,
                "children": children,
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_entries() {
        let p = PanelSpec::parse(" /a/b.png | 2.5 | a cat ").expect("panel");
        assert_eq!(p.path, "/a/b.png");
        assert_eq!(p.duration, Some(2.5));
        assert_eq!(p.prompt, "a cat");
        let p = PanelSpec::parse("/a/b.png|a dog").expect("panel");
        assert_eq!((p.duration, p.prompt.as_str()), (None, "a dog"));
        let p = PanelSpec::parse("file:///a/my%20b.png").expect("panel");
        assert_eq!(p.path, "/a/my b.png");
        assert!(PanelSpec::parse("  ").is_none());
        assert!(p.refinements.is_empty());
        let p = PanelSpec::parse("/a.png | | a knight | red jacket ; add rain ;").expect("panel");
        assert_eq!((p.duration, p.prompt.as_str()), (None, "a knight"));
        assert_eq!(p.refinements, ["red jacket", "add rain"]);
        assert_eq!(p.turns(), ["a knight", "red jacket", "add rain"]);
        // The short form keeps everything after the file as the prompt.
        let p = PanelSpec::parse("/a.png | a | b | c").expect("panel");
        assert_eq!(p.prompt, "a | b | c");
        assert!(p.refinements.is_empty());
    }

    #[test]
    fn adding_refinements() {
        let p = PanelSpec::parse("/a.png | 2.5 | a knight").expect("panel");
        let e = p.with_refinement(" red jacket ").expect("entry");
        assert_eq!(e, "/a.png | 2.5 | a knight | red jacket");
        let q = PanelSpec::parse(&e).expect("panel");
        let e = q.with_refinement("add rain").expect("entry");
        let q = PanelSpec::parse(&e).expect("panel");
        assert_eq!(q.turns(), ["a knight", "red jacket", "add rain"]);
        assert_eq!(q.duration, Some(2.5));
        assert!(p.with_refinement("a ; b").is_err());
        assert!(p.with_refinement("  ").is_err());
        let bare = PanelSpec::parse("/a.png").expect("panel");
        assert!(bare.with_refinement("more").is_err());
        let e = PanelSpec::parse("/a.png||x")
            .expect("panel")
            .with_refinement("y");
        assert_eq!(e.as_deref(), Ok("/a.png |  | x | y"));
    }

    #[test]
    fn timing_cuts_and_crossfades() {
        let t = Timing {
            durations: vec![2.0, 1.0, 3.0],
            transition: Transition::Crossfade,
            transition_s: 0.4,
            looping: true,
        };
        assert_eq!(
            t.at(0.5),
            Some(Frame {
                a: 0,
                b: 0,
                mix: 0.0
            })
        );
        assert_eq!(
            t.at(2.5),
            Some(Frame {
                a: 1,
                b: 1,
                mix: 0.0
            })
        );
        assert_eq!(
            t.at(4.0),
            Some(Frame {
                a: 2,
                b: 2,
                mix: 0.0
            })
        );
        // Exactly on the cut: half way.
        let f = t.at(2.0).expect("frame");
        assert_eq!((f.a, f.b), (0, 1));
        assert!((f.mix - 0.5).abs() < 1e-9);
        let f = t.at(1.85).expect("frame");
        assert_eq!((f.a, f.b), (0, 1));
        assert!((f.mix - 0.125).abs() < 1e-9, "{}", f.mix);
        // Looping, no transition at the loop point.
        assert_eq!(
            t.at(6.1),
            Some(Frame {
                a: 0,
                b: 0,
                mix: 0.0
            })
        );
        let cut = Timing {
            transition: Transition::Cut,
            ..t.clone()
        };
        assert_eq!(
            cut.at(1.99),
            Some(Frame {
                a: 0,
                b: 0,
                mix: 0.0
            })
        );
        let once = Timing {
            looping: false,
            ..t
        };
        assert_eq!(
            once.at(100.0),
            Some(Frame {
                a: 2,
                b: 2,
                mix: 0.0
            })
        );
    }

    #[test]
    fn fitting_and_resizing() {
        assert_eq!(fit(600, 399, 640, 360), (49, 0, 541, 360));
        assert_eq!(fit(100, 100, 640, 360), (140, 0, 360, 360));
        // A reduction averages: a 4×1 of two colours becomes their mean in 1×1.
        let src = [
            255, 0, 0, 255, 255, 0, 0, 255, 0, 0, 255, 255, 0, 0, 255, 255,
        ];
        let out = resize_rgba8(&src, 4, 1, 1, 1);
        assert!((out[0] as i32 - 128).abs() <= 1 && (out[2] as i32 - 128).abs() <= 1);
        // A transparent pixel's colour does not bleed in.
        let src = [255, 255, 255, 0, 10, 20, 30, 255];
        let out = resize_rgba8(&src, 2, 1, 1, 1);
        assert_eq!(&out[..3], &[10, 20, 30]);
    }

    #[test]
    fn composing() {
        let panel = [200, 100, 50, 255, 0, 0, 0, 0];
        let b = compose(&panel, 2, 1, 4, 1, [0, 255, 0, 255]);
        assert_eq!(&b[4..8], &[200, 100, 50, 255]);
        assert_eq!(&b[8..12], &[0, 255, 0, 255]);
        assert_eq!(&b[0..4], &[0, 255, 0, 255]);
    }

    #[test]
    fn otio_shape() {
        let a = Path::new("/tmp/x y/panel_0001.png");
        let refined = ["heavier".to_string()];
        let b = Path::new("/tmp/x y/panel_0002.png");
        let panels = [
            ExportedPanel {
                file: a,
                frames: 60,
                name: "Panel 1".into(),
                prompt: "",
                refinements: &[],
            },
            ExportedPanel {
                file: b,
                frames: 30,
                name: "Panel 2".into(),
                prompt: "rain",
                refinements: &refined,
            },
        ];
        let t = otio_timeline("Board", &panels, 30.0, Transition::Crossfade, 12);
        assert_eq!(t["OTIO_SCHEMA"], "Timeline.1");
        let track = &t["tracks"]["children"][0];
        assert_eq!(track["kind"], "Video");
        let kids = track["children"].as_array().expect("children");
        assert_eq!(kids.len(), 3);
        assert_eq!(kids[1]["OTIO_SCHEMA"], "Transition.1");
        assert_eq!(kids[1]["in_offset"]["value"], 6.0);
        assert_eq!(kids[2]["source_range"]["duration"]["value"], 30.0);
        assert_eq!(
            kids[0]["media_reference"]["target_url"],
            "file:///tmp/x%20y/panel_0001.png"
        );
        assert_eq!(kids[2]["metadata"]["easel"]["prompt"], "rain");
        assert_eq!(
            kids[2]["metadata"]["easel"]["refinements"],
            json!(["heavier"])
        );
        assert!(kids[0]["metadata"]["easel"].get("refinements").is_none());
    }
}

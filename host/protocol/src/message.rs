//! The client <-> daemon messages of protocol 1 (`docs/protocol.md`): every request, reply and
//! event, derived both ways, so the daemon reads what the client writes through the same types.

use crate::error::{Code, ErrorMessage, Fault};
use crate::image::{ImageRef, PixelFormat};
use crate::object::object_only;
use crate::ops::OperationInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The major protocol version; minor additions are negotiated through [`Feature`]s.
pub const PROTOCOL_VERSION: u32 = 1;

/// What a side supports, listed in the hellos. Names a side does not know are kept as
/// [`Feature::Unknown`] and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    /// Pixels as file descriptors (memfd, shared memory).
    Fd,
    /// Pixels in the frame's payload.
    Inline,
    Progress,
    Cancel,
    Stream,
    MaskModifiers,
    Echo,
    /// The `rgba16f` pixel format (half floats) in images and results.
    Rgba16f,
    #[serde(other)]
    Unknown,
}

/// Features this daemon offers in its hello.
pub const SERVER_FEATURES: &[Feature] = &[
    Feature::Fd,
    Feature::Inline,
    Feature::Progress,
    Feature::Cancel,
    Feature::Stream,
    Feature::MaskModifiers,
    Feature::Echo,
    Feature::Rgba16f,
];

/// Job priority: interactive jobs run before batch jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[default]
    Interactive,
    Batch,
}

/// What the user asked to do to the selection before the job runs: invert first, then grow
/// (negative shrinks), then feather, all in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MaskModifiers {
    pub grow: i32,
    /// Feather radius in pixels (a Gaussian of sigma = feather / 2); 0 = none.
    pub feather: f32,
    pub invert: bool,
}

/// The fields of [`MaskModifiers`]; read from an object only (`object_only`).
#[derive(Deserialize)]
#[serde(remote = "MaskModifiers", deny_unknown_fields)]
struct MaskModifiersDef {
    #[serde(default)]
    grow: i32,
    #[serde(default)]
    feather: f32,
    #[serde(default)]
    invert: bool,
}

object_only!(
    MaskModifiers,
    MaskModifiersDef,
    "an object {\"grow\": pixels, \"feather\": pixels, \"invert\": bool}"
);

impl MaskModifiers {
    /// True when applying these changes nothing.
    pub fn is_identity(&self) -> bool {
        !self.invert && self.grow == 0 && (self.feather.is_nan() || self.feather <= 0.0)
    }
}

/// The first message on a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub protocol: u32,
    /// Who is calling, e.g. `easel-krita/0.2.0`.
    pub client: String,
    pub features: Vec<Feature>,
}

/// `submit`: one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub operation: String,
    /// Any subset of the operation's parameters; the others take their defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Value>,
    pub image: ImageRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<ImageRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ImageRef>,
    #[serde(default, skip_serializing_if = "MaskModifiers::is_identity")]
    pub mask_modifiers: MaskModifiers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_margin: Option<u32>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_format: Option<PixelFormat>,
    /// The result layer's name; by default the operation's title and changed parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The fixed settings of a stream, given once in `stream_open`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSettings {
    pub operation: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "MaskModifiers::is_identity")]
    pub mask_modifiers: MaskModifiers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_margin: Option<u32>,
}

/// `stream_open`: a latest-wins session for video frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamOpen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(flatten)]
    pub settings: StreamSettings,
}

/// `stream_frame`: one frame of an open stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamFrame {
    pub stream: u64,
    pub seq: u64,
    pub image: ImageRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<ImageRef>,
}

/// Every request a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Hello(Hello),
    ListOperations {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    Submit(Box<Submit>),
    Fetch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        job: u64,
    },
    Cancel {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        job: u64,
    },
    Status {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    Echo {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        image: ImageRef,
    },
    StreamOpen(StreamOpen),
    StreamFrame(StreamFrame),
    StreamClose {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        stream: u64,
    },
    Shutdown {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
}

impl Request {
    /// Every `type` a request may have.
    pub const TYPES: &'static [&'static str] = &[
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

    /// The request's id, which its direct answer carries back as `reply_to`.
    pub fn id(&self) -> Option<u64> {
        match self {
            Request::Hello(h) => h.id,
            Request::Submit(s) => s.id,
            Request::StreamOpen(s) => s.id,
            Request::StreamFrame(_) => None,
            Request::ListOperations { id }
            | Request::Fetch { id, .. }
            | Request::Cancel { id, .. }
            | Request::Status { id }
            | Request::Echo { id, .. }
            | Request::StreamClose { id, .. }
            | Request::Shutdown { id } => *id,
        }
    }
}

/// The body of a request without its tag, for [`Request::deserialize_body`].
#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: Option<u64>,
}

#[derive(Deserialize)]
struct IdJob {
    #[serde(default)]
    id: Option<u64>,
    job: u64,
}

#[derive(Deserialize)]
struct IdImage {
    #[serde(default)]
    id: Option<u64>,
    image: ImageRef,
}

#[derive(Deserialize)]
struct StreamOpenBody {
    #[serde(default)]
    id: Option<u64>,
    operation: String,
    #[serde(default)]
    params: BTreeMap<String, Value>,
    #[serde(default)]
    mask_modifiers: MaskModifiers,
    #[serde(default)]
    context_margin: Option<u32>,
}

#[derive(Deserialize)]
struct IdStream {
    #[serde(default)]
    id: Option<u64>,
    stream: u64,
}

impl Request {
    /// Reads the request whose `type` is `kind` straight from `d`, the whole message (its
    /// `type` field is ignored here). The derived, internally tagged `Deserialize` buffers the
    /// message before it reads the variant, so a path-tracking deserializer cannot say which
    /// field was wrong; this reads each variant's fields directly, so it can. `None` when
    /// `kind` is no request type.
    pub fn deserialize_body<'de, D: serde::Deserializer<'de>>(
        kind: &str,
        d: D,
    ) -> Result<Option<Request>, D::Error> {
        Ok(Some(match kind {
            "hello" => Request::Hello(Hello::deserialize(d)?),
            "list_operations" => Request::ListOperations {
                id: IdOnly::deserialize(d)?.id,
            },
            "submit" => Request::Submit(Box::new(Submit::deserialize(d)?)),
            "fetch" => {
                let b = IdJob::deserialize(d)?;
                Request::Fetch {
                    id: b.id,
                    job: b.job,
                }
            }
            "cancel" => {
                let b = IdJob::deserialize(d)?;
                Request::Cancel {
                    id: b.id,
                    job: b.job,
                }
            }
            "status" => Request::Status {
                id: IdOnly::deserialize(d)?.id,
            },
            "echo" => {
                let b = IdImage::deserialize(d)?;
                Request::Echo {
                    id: b.id,
                    image: b.image,
                }
            }
            // Read without `flatten`, which would hide the path of a wrong field.
            "stream_open" => {
                let b = StreamOpenBody::deserialize(d)?;
                Request::StreamOpen(StreamOpen {
                    id: b.id,
                    settings: StreamSettings {
                        operation: b.operation,
                        params: b.params,
                        mask_modifiers: b.mask_modifiers,
                        context_margin: b.context_margin,
                    },
                })
            }
            "stream_frame" => Request::StreamFrame(StreamFrame::deserialize(d)?),
            "stream_close" => {
                let b = IdStream::deserialize(d)?;
                Request::StreamClose {
                    id: b.id,
                    stream: b.stream,
                }
            }
            "shutdown" => Request::Shutdown {
                id: IdOnly::deserialize(d)?.id,
            },
            _ => return Ok(None),
        }))
    }
}

/// The two fields every message may be asked for before it is understood: its `type` and its
/// `id` (to answer a request that did not parse with an error that names it). Tolerant: a
/// field of the wrong type reads as absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    pub kind: Option<String>,
    pub id: Option<u64>,
    /// A hello's `protocol`, whatever its type (to answer `unsupported_protocol` first).
    pub protocol: Option<Value>,
}

/// The fields of [`Envelope`]; read from an object only (`object_only`).
#[derive(Deserialize)]
#[serde(remote = "Envelope")]
struct EnvelopeDef {
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    id: Option<u64>,
    #[serde(default)]
    protocol: Option<Value>,
}

object_only!(Envelope, EnvelopeDef, "a JSON object with a \"type\"");

fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// The limits a daemon announces in its hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_pixels: u64,
    pub max_message_bytes: u64,
    pub max_inline_bytes: u64,
}

/// The daemon's hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloReply {
    pub protocol: u32,
    pub server: String,
    pub features: Vec<Feature>,
    pub limits: Limits,
}

/// A plugin library the daemon found, loaded or refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PluginStatus {
    Loaded {
        name: String,
        version: String,
        path: String,
    },
    Refused {
        path: String,
        reason: String,
    },
}

/// A finished job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub reply_to: Option<u64>,
    pub job: u64,
    pub operation: String,
    /// The layer name.
    pub name: String,
    /// Where the result goes in the document (the crop's origin times `scale`).
    pub x: u64,
    pub y: u64,
    /// The seed used (0 when the operation takes none).
    pub seed: u64,
    /// Output size over input size.
    pub scale: u32,
    pub elapsed_ms: u64,
    pub image: ImageRef,
    /// Where the job's time went inside the worker (absent from daemons before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<JobTimings>,
}

/// Where a job's time went inside its worker, as the worker measured it: so that a client (or a
/// benchmark) can tell the model's own inference from what Easel adds around it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobTimings {
    /// Milliseconds in the plugin's run calls (its model runs included), summed over the
    /// job's tiles.
    pub plugin_ms: f64,
    /// Model runs grouped by model and input shapes, in the order first seen.
    #[serde(default)]
    pub inference: Vec<ModelRuns>,
}

/// Runs of one model on inputs of one set of shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRuns {
    pub model: String,
    /// The inputs' names and shapes, as the plugin passed them.
    pub inputs: Vec<TensorShape>,
    /// The outputs the plugin asked for.
    #[serde(default)]
    pub outputs: Vec<String>,
    pub runs: u32,
    /// Milliseconds in the runs themselves (tensors in and out included, loading not).
    pub total_ms: f64,
}

/// A tensor's name and shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorShape {
    pub name: String,
    pub shape: Vec<i64>,
}

impl JobTimings {
    /// Adds `other` (another tile's timings) to these.
    pub fn merge(&mut self, other: JobTimings) {
        self.plugin_ms += other.plugin_ms;
        for runs in other.inference {
            self.add_runs(runs);
        }
    }

    /// Counts `runs` in with an entry of the same model, shapes and outputs, or as a new one.
    pub fn add_runs(&mut self, runs: ModelRuns) {
        match self
            .inference
            .iter_mut()
            .find(|r| r.model == runs.model && r.inputs == runs.inputs && r.outputs == runs.outputs)
        {
            Some(r) => {
                r.runs += runs.runs;
                r.total_ms += runs.total_ms;
            }
            None => self.inference.push(runs),
        }
    }

    /// Milliseconds in model runs, all models together.
    pub fn inference_ms(&self) -> f64 {
        self.inference.iter().map(|r| r.total_ms).sum()
    }
}

/// Every message the daemon sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Hello(HelloReply),
    Operations {
        reply_to: Option<u64>,
        operations: Vec<OperationInfo>,
        plugins: Vec<PluginStatus>,
    },
    Accepted {
        reply_to: Option<u64>,
        job: u64,
    },
    Cancelling {
        reply_to: Option<u64>,
        job: u64,
    },
    Status {
        reply_to: Option<u64>,
        queued: usize,
        running: usize,
        socket: String,
        /// Workers still loading the models the configuration warms at start (`warm_models`);
        /// 0 once the daemon is ready. Absent from older daemons.
        #[serde(default)]
        warming: usize,
    },
    Echo {
        reply_to: Option<u64>,
        image: ImageRef,
    },
    StreamOpened {
        reply_to: Option<u64>,
        stream: u64,
    },
    StreamClosed {
        reply_to: Option<u64>,
        stream: u64,
    },
    ShuttingDown {
        reply_to: Option<u64>,
    },
    /// A running job's progress (`fraction` in 0..1).
    Progress {
        job: u64,
        fraction: f64,
        message: String,
    },
    JobFinished {
        job: u64,
        ok: bool,
    },
    Result(Box<JobResult>),
    /// A processed stream frame.
    Frame {
        stream: u64,
        seq: u64,
        x: u64,
        y: u64,
        elapsed_ms: u64,
        image: ImageRef,
    },
    FrameDropped {
        stream: u64,
        seq: u64,
        reason: String,
    },
    FrameError {
        stream: u64,
        seq: u64,
        code: Code,
        fault: Fault,
        message: String,
    },
    Error(ErrorMessage),
}

impl ServerMessage {
    /// The `reply_to` of a direct answer; events have none.
    pub fn reply_to(&self) -> Option<u64> {
        match self {
            ServerMessage::Operations { reply_to, .. }
            | ServerMessage::Accepted { reply_to, .. }
            | ServerMessage::Cancelling { reply_to, .. }
            | ServerMessage::Status { reply_to, .. }
            | ServerMessage::Echo { reply_to, .. }
            | ServerMessage::StreamOpened { reply_to, .. }
            | ServerMessage::StreamClosed { reply_to, .. }
            | ServerMessage::ShuttingDown { reply_to } => *reply_to,
            ServerMessage::Result(r) => r.reply_to,
            ServerMessage::Error(e) => e.reply_to,
            ServerMessage::Hello(_)
            | ServerMessage::Progress { .. }
            | ServerMessage::JobFinished { .. }
            | ServerMessage::Frame { .. }
            | ServerMessage::FrameDropped { .. }
            | ServerMessage::FrameError { .. } => None,
        }
    }

    /// The message's `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Hello(_) => "hello",
            ServerMessage::Operations { .. } => "operations",
            ServerMessage::Accepted { .. } => "accepted",
            ServerMessage::Cancelling { .. } => "cancelling",
            ServerMessage::Status { .. } => "status",
            ServerMessage::Echo { .. } => "echo",
            ServerMessage::StreamOpened { .. } => "stream_opened",
            ServerMessage::StreamClosed { .. } => "stream_closed",
            ServerMessage::ShuttingDown { .. } => "shutting_down",
            ServerMessage::Progress { .. } => "progress",
            ServerMessage::JobFinished { .. } => "job_finished",
            ServerMessage::Result(_) => "result",
            ServerMessage::Frame { .. } => "frame",
            ServerMessage::FrameDropped { .. } => "frame_dropped",
            ServerMessage::FrameError { .. } => "frame_error",
            ServerMessage::Error(_) => "error",
        }
    }

    /// The image this message carries, if any.
    pub fn image(&self) -> Option<&ImageRef> {
        match self {
            ServerMessage::Echo { image, .. } | ServerMessage::Frame { image, .. } => Some(image),
            ServerMessage::Result(r) => Some(&r.image),
            _ => None,
        }
    }

    /// The same message with its image reference replaced (the sender decides fd or inline).
    pub fn with_image(mut self, new: ImageRef) -> Self {
        match &mut self {
            ServerMessage::Echo { image, .. } | ServerMessage::Frame { image, .. } => *image = new,
            ServerMessage::Result(r) => r.image = new,
            _ => {}
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timings_group_runs_and_old_results_have_none() {
        let runs = |model: &str, side: i64, ms: f64| ModelRuns {
            model: model.into(),
            inputs: vec![TensorShape {
                name: "x".into(),
                shape: vec![1, 3, side, side],
            }],
            outputs: vec!["y".into()],
            runs: 1,
            total_ms: ms,
        };
        let mut job = JobTimings {
            plugin_ms: 10.0,
            inference: vec![runs("a", 64, 4.0)],
        };
        // A second tile: the same shapes are counted in, another size is its own entry.
        job.merge(JobTimings {
            plugin_ms: 12.0,
            inference: vec![runs("a", 64, 5.0), runs("a", 32, 1.0), runs("b", 64, 2.0)],
        });
        assert_eq!(job.plugin_ms, 22.0);
        assert_eq!(job.inference.len(), 3);
        assert_eq!((job.inference[0].runs, job.inference[0].total_ms), (2, 9.0));
        assert_eq!(job.inference_ms(), 12.0);
        let back: JobTimings = serde_json::from_value(serde_json::to_value(&job).unwrap()).unwrap();
        assert_eq!(back, job);
        // A result from a daemon that predates timings still reads, and none are written.
        let image = json!({"width": 1, "height": 1, "format": "gray8", "data": {"fd": 0}});
        let old = json!({"reply_to": null, "job": 1, "operation": "invert", "name": "n", "x": 0,
                         "y": 0, "seed": 0, "scale": 1, "elapsed_ms": 3, "image": image});
        let r: JobResult = serde_json::from_value(old).unwrap();
        assert_eq!(r.timings, None);
        assert!(serde_json::to_value(&r).unwrap().get("timings").is_none());
    }

    #[test]
    fn unknown_message_types_and_fields() {
        let r: Request = serde_json::from_str(r#"{"type":"status","id":4,"extra":1}"#).unwrap();
        assert_eq!(r, Request::Status { id: Some(4) });
        assert!(serde_json::from_str::<Request>(r#"{"type":"nope"}"#).is_err());
    }

    #[test]
    fn body_parsing_agrees_with_the_tagged_derive() {
        let image = json!({"width": 2, "height": 1, "format": "gray8", "data": {"fd": 0}});
        for v in [
            json!({"type": "hello", "protocol": 1, "client": "t", "features": ["fd"]}),
            json!({"type": "list_operations", "id": 1}),
            json!({"type": "submit", "id": 2, "operation": "invert", "image": image,
                   "mask_modifiers": {"grow": 1}, "priority": "batch"}),
            json!({"type": "fetch", "id": 3, "job": 17}),
            json!({"type": "cancel", "job": 17}),
            json!({"type": "status", "id": 5}),
            json!({"type": "echo", "id": 6, "image": image}),
            json!({"type": "stream_open", "id": 7, "operation": "invert"}),
            json!({"type": "stream_open", "id": 7, "operation": "invert", "params": {"a": 1},
                   "mask_modifiers": {"feather": 2.0}, "context_margin": 3}),
            json!({"type": "stream_frame", "stream": 3, "seq": 10, "image": image}),
            json!({"type": "stream_close", "id": 8, "stream": 3}),
            json!({"type": "shutdown", "id": 9}),
        ] {
            let tagged: Request = serde_json::from_value(v.clone()).unwrap();
            let kind = v["type"].as_str().unwrap();
            let body = Request::deserialize_body(kind, &v).unwrap();
            assert_eq!(body, Some(tagged), "{v}");
        }
        assert_eq!(Request::deserialize_body("nope", &json!({})).unwrap(), None);
    }

    #[test]
    fn structs_are_read_from_objects_only() {
        let image = json!({"width": 1, "height": 1, "format": "rgba8", "data": {"inline": 0}});
        let submit = |extra: serde_json::Value| {
            let mut v = json!({"type": "submit", "operation": "invert", "image": image});
            for (k, val) in extra.as_object().unwrap() {
                v[k] = val.clone();
            }
            serde_json::from_value::<Request>(v)
        };
        assert!(submit(json!({})).is_ok());
        assert!(submit(json!({"mask_modifiers": {"grow": 2}})).is_ok());
        for (bad, expected) in [
            (json!({"mask_modifiers": []}), "\"grow\""),
            (json!({"mask_modifiers": [1, 2.0, true]}), "\"grow\""),
            (json!({"mask_modifiers": 3}), "\"grow\""),
            (
                json!({"image": [1, 1, "rgba8", null, null, {"inline": 0}]}),
                "image reference object",
            ),
            (json!({"image": "x"}), "image reference object"),
            (json!({"mask": []}), "image reference object"),
            (
                json!({"references": [[1, 1, "rgba8", null, null, {"inline": 0}]]}),
                "image reference object",
            ),
            (
                json!({"image": {"width": 1, "height": 1, "format": "rgba8", "data": [0, 0]}}),
                "\"inline\"",
            ),
        ] {
            let err = submit(bad.clone()).expect_err(&bad.to_string()).to_string();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_features_are_kept_apart() {
        let h: Hello = serde_json::from_value(json!({
            "protocol": 1, "client": "t", "features": ["fd", "future-thing"]
        }))
        .unwrap();
        assert_eq!(h.features, vec![Feature::Fd, Feature::Unknown]);
    }

    #[test]
    fn a_missing_field_is_an_error() {
        let err = serde_json::from_value::<Request>(json!({"type": "fetch", "id": 1}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `job`"), "{err}");
        let err = serde_json::from_value::<Hello>(json!({"protocol": 1, "client": "t"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("features"), "{err}");
    }
}

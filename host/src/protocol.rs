//! The wire messages of protocol v1 (docs/protocol.md) and their conversions to SDK types.

use crate::error::{Code, ProtocolError};
use easel_sdk::{
    flags, ImageLayout, MaskUse, OperationDescriptor, ParamKind, ParamSpec, ParamValue, PixelFormat,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const PROTOCOL_VERSION: u32 = 1;

/// Features this daemon offers in its hello.
pub const SERVER_FEATURES: &[&str] = &[
    "fd",
    "inline",
    "progress",
    "cancel",
    "stream",
    "mask-modifiers",
    "echo",
];

/// Where an image's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DataRef {
    Fd {
        fd: usize,
        #[serde(default)]
        offset: u64,
    },
    Inline {
        inline: u64,
    },
}

/// An image reference: size, format, strides and where the bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRef {
    pub width: u32,
    pub height: u32,
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_stride: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_stride: Option<usize>,
    pub data: DataRef,
}

impl ImageRef {
    /// The layout this reference describes, checked against `max_pixels` before anything else.
    pub fn layout(&self, max_pixels: u64) -> Result<ImageLayout, ProtocolError> {
        let format = PixelFormat::parse(&self.format).ok_or_else(|| {
            ProtocolError::invalid_image(format!(
                "unknown pixel format '{}' (rgba8, rgba16, rgba32f, gray8, gray32f)",
                self.format
            ))
        })?;
        if self.width == 0 || self.height == 0 {
            return Err(ProtocolError::invalid_image(format!(
                "image is {}x{}: both sides must be at least 1",
                self.width, self.height
            )));
        }
        let pixels = self.width as u64 * self.height as u64;
        if pixels > max_pixels {
            return Err(ProtocolError::too_large(format!(
                "image is {}x{} ({pixels} pixels), over the limit of {max_pixels} pixels",
                self.width, self.height
            )));
        }
        let packed = ImageLayout::packed(self.width, self.height, format);
        let layout = ImageLayout {
            pixel_stride: self.pixel_stride.unwrap_or(packed.pixel_stride),
            row_stride: self.row_stride.unwrap_or(packed.row_stride),
            ..packed
        };
        layout
            .validate(usize::MAX)
            .map_err(|e| ProtocolError::invalid_image(e.message.to_string()))?;
        Ok(layout)
    }

    /// A packed reference for `layout`.
    pub fn packed(layout: &ImageLayout, data: DataRef) -> Self {
        ImageRef {
            width: layout.width,
            height: layout.height,
            format: layout.format.as_str().to_string(),
            row_stride: Some(layout.row_stride),
            pixel_stride: Some(layout.pixel_stride),
            data,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[default]
    Interactive,
    Batch,
}

/// `submit` (and the shared parts of `stream_open`).
#[derive(Debug, Clone, Deserialize)]
pub struct SubmitRequest {
    pub id: Option<u64>,
    pub operation: String,
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    pub image: ImageRef,
    #[serde(default)]
    pub mask: Option<ImageRef>,
    #[serde(default)]
    pub references: Vec<ImageRef>,
    #[serde(default)]
    pub mask_modifiers: crate::imaging::MaskModifiers,
    #[serde(default)]
    pub context_margin: Option<u32>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub result_format: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Every request a client may send.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Hello {
        protocol: u32,
        #[serde(default)]
        client: String,
        #[serde(default)]
        features: Vec<String>,
    },
    ListOperations {
        id: Option<u64>,
    },
    Submit(Box<SubmitRequest>),
    Fetch {
        id: Option<u64>,
        job: u64,
    },
    Cancel {
        id: Option<u64>,
        job: u64,
    },
    Status {
        id: Option<u64>,
    },
    Echo {
        id: Option<u64>,
        image: ImageRef,
    },
    StreamOpen {
        id: Option<u64>,
        operation: String,
        #[serde(default)]
        params: BTreeMap<String, Value>,
        #[serde(default)]
        mask_modifiers: crate::imaging::MaskModifiers,
        #[serde(default)]
        context_margin: Option<u32>,
    },
    StreamFrame {
        stream: u64,
        seq: u64,
        image: ImageRef,
        #[serde(default)]
        mask: Option<ImageRef>,
    },
    StreamClose {
        id: Option<u64>,
        stream: u64,
    },
    Shutdown {
        id: Option<u64>,
    },
}

impl Request {
    /// The request id, for error replies to requests that failed to parse fully.
    pub fn peek_id(json: &[u8]) -> Option<u64> {
        serde_json::from_slice::<Value>(json)
            .ok()?
            .get("id")?
            .as_u64()
    }
}

/// An `error` message.
pub fn error_message(err: &ProtocolError, reply_to: Option<u64>, job: Option<u64>) -> Value {
    let mut m = json!({
        "type": "error",
        "code": err.code.as_str(),
        "fault": err.fault().as_str(),
        "message": err.message,
    });
    if let Some(r) = reply_to {
        m["reply_to"] = json!(r);
    }
    if let Some(j) = job {
        m["job"] = json!(j);
    }
    m
}

/// A parameter as it travels on the wire between daemon and workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum WireValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Choice(String),
    Seed(u64),
}

impl From<&ParamValue> for WireValue {
    fn from(v: &ParamValue) -> Self {
        match v {
            ParamValue::Int(i) => WireValue::Int(*i),
            ParamValue::Float(f) => WireValue::Float(*f),
            ParamValue::Bool(b) => WireValue::Bool(*b),
            ParamValue::Choice(c) => WireValue::Choice(c.to_string()),
            ParamValue::Seed(s) => WireValue::Seed(*s),
        }
    }
}

impl From<&WireValue> for ParamValue {
    fn from(v: &WireValue) -> Self {
        match v {
            WireValue::Int(i) => ParamValue::Int(*i),
            WireValue::Float(f) => ParamValue::Float(*f),
            WireValue::Bool(b) => ParamValue::Bool(*b),
            WireValue::Choice(c) => ParamValue::Choice(c.as_str().into()),
            WireValue::Seed(s) => ParamValue::Seed(*s),
        }
    }
}

/// A client's JSON value for a parameter, as the SDK's typed value, checked by the spec.
pub fn json_to_param(spec: &ParamSpec, value: &Value) -> Result<ParamValue, ProtocolError> {
    let name = spec.name.as_str();
    let invalid = |msg: String| ProtocolError::new(Code::InvalidParams, msg);
    let typed = match (&spec.kind, value) {
        (ParamKind::Int { .. }, Value::Number(n)) => match n.as_i64() {
            Some(i) => ParamValue::Int(i),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => ParamValue::Int(f as i64),
                _ => {
                    return Err(invalid(format!(
                        "parameter '{name}' takes an integer, got {n}"
                    )))
                }
            },
        },
        (ParamKind::Float { .. }, Value::Number(n)) => {
            ParamValue::Float(n.as_f64().unwrap_or(f64::NAN))
        }
        (ParamKind::Bool { .. }, Value::Bool(b)) => ParamValue::Bool(*b),
        (ParamKind::Choice { .. }, Value::String(s)) => ParamValue::Choice(s.as_str().into()),
        (ParamKind::Seed, Value::Number(n)) => match n.as_u64() {
            Some(s) => ParamValue::Seed(s),
            None => {
                return Err(invalid(format!(
                    "parameter '{name}' takes a non-negative integer seed, got {n}"
                )))
            }
        },
        (kind, other) => {
            let want = match kind {
                ParamKind::Int { .. } => "an integer",
                ParamKind::Float { .. } => "a number",
                ParamKind::Bool { .. } => "true or false",
                ParamKind::Choice { .. } => "a string (one of its options)",
                ParamKind::Seed => "a non-negative integer seed",
            };
            return Err(invalid(format!(
                "parameter '{name}' takes {want}, got {other}"
            )));
        }
    };
    spec.check(&typed)
        .map_err(|e| invalid(e.message.to_string()))
}

/// Fills defaults and checks every parameter; unknown names are refused.
pub fn resolve_params(
    op: &OperationDescriptor,
    given: &BTreeMap<String, Value>,
) -> Result<Vec<(String, ParamValue)>, ProtocolError> {
    for name in given.keys() {
        if !op.params.iter().any(|p| p.name.as_str() == name) {
            let known: Vec<&str> = op.params.iter().map(|p| p.name.as_str()).collect();
            return Err(ProtocolError::new(
                Code::InvalidParams,
                format!(
                    "operation '{}' has no parameter '{name}'; it takes: {}",
                    op.id,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    op.params
        .iter()
        .map(|spec| {
            let value = match given.get(spec.name.as_str()) {
                Some(v) => json_to_param(spec, v)?,
                None => spec.default_value(),
            };
            Ok((spec.name.to_string(), value))
        })
        .collect()
}

fn mask_use_str(m: MaskUse) -> &'static str {
    match m {
        MaskUse::Ignored => "ignored",
        MaskUse::Optional => "optional",
        MaskUse::Required => "required",
    }
}

fn mask_use_parse(s: &str) -> MaskUse {
    match s {
        "optional" => MaskUse::Optional,
        "required" => MaskUse::Required,
        _ => MaskUse::Ignored,
    }
}

const FLAG_NAMES: &[(u32, &str)] = &[
    (flags::TILEABLE, "tileable"),
    (flags::STREAMS_VIDEO, "streams_video"),
    (flags::DETERMINISTIC, "deterministic"),
    (flags::COMPOSITE_THROUGH_MASK, "composite_through_mask"),
    (flags::ALIGNED_REFERENCES, "aligned_references"),
];

fn param_json(p: &ParamSpec) -> Value {
    let mut v = json!({
        "name": p.name.as_str(),
        "title": p.title.as_str(),
        "description": p.description.as_str(),
    });
    match &p.kind {
        ParamKind::Int { min, max, default } => {
            v["kind"] = json!("int");
            v["min"] = json!(min);
            v["max"] = json!(max);
            v["default"] = json!(default);
        }
        ParamKind::Float {
            min,
            max,
            default,
            step,
        } => {
            v["kind"] = json!("float");
            v["min"] = json!(min);
            v["max"] = json!(max);
            v["default"] = json!(default);
            v["step"] = json!(step);
        }
        ParamKind::Bool { default } => {
            v["kind"] = json!("bool");
            v["default"] = json!(default);
        }
        ParamKind::Choice { options, default } => {
            v["kind"] = json!("choice");
            v["options"] = json!(options.iter().map(|o| o.as_str()).collect::<Vec<_>>());
            v["default"] = json!(default.as_str());
        }
        ParamKind::Seed => {
            v["kind"] = json!("seed");
            v["default"] = json!(0);
        }
    }
    v
}

fn param_from_json(v: &Value) -> Option<ParamSpec> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let f = |k: &str| v.get(k).and_then(Value::as_f64);
    let i = |k: &str| v.get(k).and_then(Value::as_i64);
    let kind = match v.get("kind")?.as_str()? {
        "int" => ParamKind::Int {
            min: i("min")?,
            max: i("max")?,
            default: i("default")?,
        },
        "float" => ParamKind::Float {
            min: f("min")?,
            max: f("max")?,
            default: f("default")?,
            step: f("step").unwrap_or(0.0),
        },
        "bool" => ParamKind::Bool {
            default: v.get("default")?.as_bool()?,
        },
        "choice" => ParamKind::Choice {
            options: v
                .get("options")?
                .as_array()?
                .iter()
                .filter_map(|o| o.as_str().map(Into::into))
                .collect(),
            default: s("default").into(),
        },
        "seed" => ParamKind::Seed,
        _ => return None,
    };
    Some(ParamSpec {
        name: s("name").into(),
        title: s("title").into(),
        description: s("description").into(),
        kind,
    })
}

/// An operation as clients see it.
pub fn descriptor_json(op: &OperationDescriptor, plugin: &str) -> Value {
    json!({
        "id": op.id.as_str(),
        "title": op.title.as_str(),
        "description": op.description.as_str(),
        "category": op.category.as_str(),
        "plugin": plugin,
        "mask": mask_use_str(op.mask),
        "min_references": op.min_references,
        "max_references": op.max_references,
        "flags": FLAG_NAMES.iter().filter(|(f, _)| op.flags & f != 0).map(|(_, n)| *n).collect::<Vec<_>>(),
        "working_format": op.working_format.as_str(),
        "output_scale": op.output_scale,
        "models": op.models.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "params": op.params.iter().map(param_json).collect::<Vec<_>>(),
    })
}

/// The inverse of [`descriptor_json`] (workers describe their operations this way).
pub fn descriptor_from_json(v: &Value) -> Option<OperationDescriptor> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let mut op = OperationDescriptor::new(
        &s("id")?,
        &s("title").unwrap_or_default(),
        &s("category").unwrap_or_default(),
        &s("description").unwrap_or_default(),
    );
    op.mask = mask_use_parse(&s("mask").unwrap_or_default());
    op.min_references = v.get("min_references")?.as_u64()? as u32;
    op.max_references = v.get("max_references")?.as_u64()? as u32;
    for name in v.get("flags")?.as_array()? {
        if let Some((bit, _)) = FLAG_NAMES.iter().find(|(_, n)| Some(*n) == name.as_str()) {
            op.flags |= bit;
        }
    }
    op.working_format = PixelFormat::parse(&s("working_format")?)?;
    op.output_scale = v.get("output_scale")?.as_u64()?.max(1) as u32;
    op.models = v
        .get("models")?
        .as_array()?
        .iter()
        .filter_map(|m| m.as_str().map(Into::into))
        .collect();
    op.params = v
        .get("params")?
        .as_array()?
        .iter()
        .map(param_from_json)
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .collect();
    Some(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OperationDescriptor {
        OperationDescriptor::new("x-op", "X", "Test", "does x")
            .param(ParamSpec::int("radius", "Radius", "", 1, 64, 8))
            .param(ParamSpec::float(
                "strength",
                "Strength",
                "",
                (0.0, 1.0),
                0.5,
                0.05,
            ))
            .param(ParamSpec::boolean("fast", "Fast", "", true))
            .param(ParamSpec::choice("model", "Model", "", &["a", "b"], "a"))
            .param(ParamSpec::seed("seed", "Seed", ""))
            .mask(MaskUse::Required)
            .references(0, 2)
            .flags(flags::TILEABLE | flags::COMPOSITE_THROUGH_MASK)
            .output_scale(2)
            .model("m1")
    }

    #[test]
    fn descriptors_round_trip_through_json() {
        let op = sample();
        let back = descriptor_from_json(&descriptor_json(&op, "p")).unwrap();
        assert_eq!(back, op);
    }

    #[test]
    fn params_get_defaults_and_clear_errors() {
        let op = sample();
        let mut given = BTreeMap::new();
        given.insert("radius".to_string(), json!(3));
        let resolved = resolve_params(&op, &given).unwrap();
        assert_eq!(resolved[0], ("radius".into(), ParamValue::Int(3)));
        assert_eq!(resolved[1], ("strength".into(), ParamValue::Float(0.5)));
        given.insert("radius".to_string(), json!(100));
        let err = resolve_params(&op, &given).unwrap_err();
        assert_eq!(err.code, Code::InvalidParams);
        assert!(
            err.message.contains("radius") && err.message.contains("1..=64"),
            "{err}"
        );
        given.clear();
        given.insert("radiuss".to_string(), json!(1));
        let err = resolve_params(&op, &given).unwrap_err();
        assert!(err.message.contains("no parameter 'radiuss'"), "{err}");
        given.clear();
        given.insert("model".to_string(), json!(3));
        assert!(resolve_params(&op, &given)
            .unwrap_err()
            .message
            .contains("takes a string"));
    }

    #[test]
    fn image_refs_are_checked_before_allocation() {
        let r: ImageRef = serde_json::from_value(json!({
            "width": 100000, "height": 100000, "format": "rgba8", "data": {"fd": 0}
        }))
        .unwrap();
        assert_eq!(r.layout(1 << 28).unwrap_err().code, Code::TooLarge);
        let r: ImageRef = serde_json::from_value(json!({
            "width": 4, "height": 4, "format": "rgba8", "row_stride": 8, "data": {"inline": 0}
        }))
        .unwrap();
        assert_eq!(r.layout(1 << 28).unwrap_err().code, Code::InvalidImage);
        let r: ImageRef = serde_json::from_value(json!({
            "width": 4, "height": 4, "format": "bgr", "data": {"inline": 0}
        }))
        .unwrap();
        assert!(r
            .layout(1 << 28)
            .unwrap_err()
            .message
            .contains("unknown pixel format"));
    }

    #[test]
    fn unknown_message_types_and_fields() {
        let r: Request = serde_json::from_str(r#"{"type":"status","id":4,"extra":1}"#).unwrap();
        assert!(matches!(r, Request::Status { id: Some(4) }));
        assert!(serde_json::from_str::<Request>(r#"{"type":"nope"}"#).is_err());
    }
}

//! Operations as clients see them: what each takes (mask, references, parameters with their
//! ranges, defaults and titles), its flags, and the plugin that provides it.

use crate::image::PixelFormat;
use serde::{Deserialize, Serialize};

/// How an operation uses the selection mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskUse {
    Ignored,
    Optional,
    Required,
}

/// What an operation declares about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpFlag {
    Tileable,
    StreamsVideo,
    Deterministic,
    CompositeThroughMask,
    AlignedReferences,
    /// A flag a newer daemon or plugin names; ignored.
    #[serde(other)]
    Unknown,
}

/// A parameter's kind, range and default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParamKind {
    Int {
        min: i64,
        max: i64,
        default: i64,
    },
    Float {
        min: f64,
        max: f64,
        default: f64,
        step: f64,
    },
    Bool {
        default: bool,
    },
    Choice {
        options: Vec<String>,
        /// Words for people, one per option (the ids in `options` are for scripts).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        option_titles: Vec<String>,
        default: String,
    },
    /// A seed; 0 asks the daemon to pick one.
    Seed {
        default: u64,
    },
    /// Free text (a prompt), at most `max_len` characters.
    Text {
        default: String,
        max_len: u32,
        #[serde(default)]
        multiline: bool,
    },
}

/// A parameter applies only while another parameter has one of some values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliesWhen {
    /// The other parameter's name.
    pub param: String,
    /// Its values (as a client sends them) for which this parameter applies.
    pub values: Vec<serde_json::Value>,
}

/// One parameter of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    pub name: String,
    pub title: String,
    pub description: String,
    #[serde(flatten)]
    pub kind: ParamKind,
    /// Absent: the parameter always applies. Adapters may hide or disable it otherwise; a
    /// request may still send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_when: Option<AppliesWhen>,
}

/// An operation as the daemon lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationInfo {
    pub id: String,
    pub title: String,
    pub category: String,
    pub description: String,
    /// The plugin that provides it.
    pub plugin: String,
    pub mask: MaskUse,
    pub min_references: u32,
    pub max_references: u32,
    pub flags: Vec<OpFlag>,
    pub working_format: PixelFormat,
    pub output_scale: u32,
    pub models: Vec<String>,
    pub params: Vec<ParamInfo>,
}

impl OperationInfo {
    pub fn has_flag(&self, flag: OpFlag) -> bool {
        self.flags.contains(&flag)
    }
}

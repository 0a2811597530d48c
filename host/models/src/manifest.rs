//! The model manifest: its TOML schema, parsing and validation.

use super::ModelError;
use easel_sdk::TensorSpec;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The manifest compiled into the host.
pub(crate) const BUILT_IN: &str = include_str!("../manifest.toml");

/// What error messages call the built-in manifest.
pub(crate) const BUILT_IN_NAME: &str = "host/models/manifest.toml (built in)";

/// A tensor's name and shape as a manifest declares it; -1 marks a free dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorDecl {
    pub name: String,
    pub shape: Vec<i64>,
}

impl TensorDecl {
    pub fn to_spec(&self) -> TensorSpec {
        TensorSpec {
            name: self.name.as_str().into(),
            shape: self.shape.iter().copied().collect(),
        }
    }
}

/// One model as a manifest describes it, plus where its file was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// What plugins ask for.
    pub id: String,
    /// File name (relative: looked up in the manifest's own folder, then the store's folders).
    pub file: String,
    /// Full sha256 of the file, lower-case hex.
    pub sha256: String,
    #[serde(default)]
    pub licence: String,
    #[serde(default)]
    pub source: String,
    /// Where `easel models fetch` downloads the file, tried in order.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Which upstream release or revision the file is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The file's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The SPDX licence id; absent when the licence is unclear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spdx: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence_url: Option<String>,
    /// Whether the licence allows commercial use; absent when unclear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commercial_use: Option<bool>,
    /// Fetched by `easel models fetch --defaults`.
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub task: String,
    /// Pre- and post-processing the model expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default)]
    pub inputs: Vec<TensorDecl>,
    #[serde(default)]
    pub outputs: Vec<TensorDecl>,
    /// Where the file was found; `None` when it is missing. Never read from a manifest.
    #[serde(default, skip_deserializing)]
    pub path: Option<PathBuf>,
}

impl ModelEntry {
    /// True when the licence is known: an SPDX id and whether commercial use is allowed.
    pub fn licence_is_clear(&self) -> bool {
        self.spdx.is_some() && self.commercial_use.is_some()
    }

    /// One line for people: "Apache-2.0, commercial use allowed (URL)" or what is unclear.
    pub fn licence_summary(&self) -> String {
        let url = self
            .licence_url
            .as_deref()
            .map(|u| format!(" ({u})"))
            .unwrap_or_default();
        match (&self.spdx, self.commercial_use) {
            (Some(spdx), Some(true)) => format!("{spdx}, commercial use allowed{url}"),
            (Some(spdx), Some(false)) => format!("{spdx}, no commercial use{url}"),
            _ => format!("unclear: {}{url}", self.licence),
        }
    }
}

#[derive(Deserialize)]
struct ManifestFile {
    #[serde(default)]
    model: Vec<ModelEntry>,
}

/// The manifest compiled into the host (what `easel` and the worker know without a folder).
pub const BUILT_IN_MANIFEST: &str = BUILT_IN;

/// Parses and validates one manifest; `origin` names it in errors.
pub fn parse_manifest(text: &str, origin: &Path) -> Result<Vec<ModelEntry>, ModelError> {
    parse(text, origin)
}

/// Parses and validates one manifest; `origin` names it in errors.
pub(crate) fn parse(text: &str, origin: &Path) -> Result<Vec<ModelEntry>, ModelError> {
    let bad = |message: String| ModelError::Manifest {
        path: origin.to_path_buf(),
        message,
    };
    let file: ManifestFile = toml::from_str(text).map_err(|e| {
        bad(format!(
            "{e}; each model is a [[model]] table with id, file, sha256, licence, source, task, \
             inputs and outputs"
        ))
    })?;
    let mut seen = HashSet::new();
    let mut entries = file.model;
    for entry in &mut entries {
        let id = entry.id.clone();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(format!(
                "model id `{id}` is not valid: use letters, digits, `-`, `_` and `.`"
            )));
        }
        if !seen.insert(id.clone()) {
            return Err(bad(format!("model id `{id}` appears twice")));
        }
        if entry.file.trim().is_empty() {
            return Err(bad(format!("model `{id}` has an empty `file`")));
        }
        entry.sha256 = entry.sha256.trim().to_ascii_lowercase();
        if entry.sha256.len() != 64 || !entry.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "model `{id}`: `sha256` must be the file's full sha256 (64 hex digits), \
                 e.g. from `sha256sum {}`",
                entry.file
            )));
        }
        for decl in entry.inputs.iter().chain(&entry.outputs) {
            if decl.name.is_empty() {
                return Err(bad(format!(
                    "model `{id}` declares a tensor with an empty name"
                )));
            }
            if decl.shape.iter().any(|&d| d < -1 || d == 0) {
                return Err(bad(format!(
                    "model `{id}`, tensor `{}`: shape {:?} may hold only positive sizes and -1 \
                     for a free dimension",
                    decl.name, decl.shape
                )));
            }
        }
        if entry.default && !entry.licence_is_clear() {
            return Err(bad(format!(
                "model `{id}` is marked `default`, but its licence is unclear (no `spdx` or \
                 `commercial_use`): only models whose licence is known may be defaults"
            )));
        }
        if let Some(url) = entry
            .urls
            .iter()
            .find(|u| !(u.starts_with("https://") || u.starts_with("http://")))
        {
            return Err(bad(format!(
                "model `{id}`: `{url}` is not an http(s) address"
            )));
        }
        entry.path = None;
    }
    Ok(entries)
}

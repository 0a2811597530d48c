//! The one interface every provider implements: turn a [`GenRequest`] into an HTTP request, and
//! the service's answer into image bytes or an error with the service's own reason.

use crate::config::{Kind, Secret, Settings};
use crate::picture::Png;
use easel_sdk::PluginError;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Change the selection as the prompt says.
    Edit,
    /// Paint new content into the selection.
    Fill,
    /// Redraw in the style of the reference images.
    Restyle,
}

/// An earlier turn of the conversation: the prompts that led to it (oldest first) and the
/// image it produced (the last turn's result).
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    pub prompts: Vec<String>,
    pub image: Png,
}

/// One generation request, provider-neutral.
#[derive(Debug, Clone)]
pub struct GenRequest {
    pub task: Task,
    pub prompt: String,
    /// The crop (selection plus context), at the size sent.
    pub image: Png,
    /// The selection as white-on-black, the image's size (`None`: the whole crop).
    pub mask_white: Option<Png>,
    /// The selection as alpha (transparent where to edit), the image's size.
    pub mask_alpha: Option<Png>,
    /// Characters, objects or style to keep consistent.
    pub references: Vec<Png>,
    pub prior: Option<Prior>,
    pub seed: Option<u64>,
    /// True when the image has nothing in it (a fully transparent crop).
    pub blank: bool,
}

/// An HTTP request ready to send. The key travels only in `secret_header`.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub url: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Header name and the key it carries (with its prefix, e.g. `Bearer `).
    pub secret_header: (&'static str, String),
}

/// A provider's wire format.
pub trait Provider: Send + Sync {
    /// Who the user's data goes to, for messages.
    fn title(&self) -> &'static str;
    /// The HTTP request for `req` (pure: no I/O).
    fn prepare(&self, req: &GenRequest) -> Result<HttpRequest, PluginError>;
    /// The image bytes from a complete answer, or the service's reason for refusing.
    fn parse(&self, status: u16, body: &[u8]) -> Result<Vec<u8>, PluginError>;
    /// The key, to scrub it from anything shown.
    fn secret(&self) -> &Secret;
}

/// The provider the settings choose.
pub fn from_settings(settings: &Settings) -> Box<dyn Provider> {
    match settings.kind {
        Kind::Gemini => Box::new(crate::gemini::Gemini::new(settings)),
        Kind::OpenAi => Box::new(crate::openai::OpenAi::new(settings)),
    }
}

/// The instruction sent with the image, worded for the task.
pub fn instruction(req: &GenRequest) -> String {
    let scope = if req.mask_white.is_some() {
        "Change only the region the mask marks; keep everything outside it as it is."
    } else {
        "Keep the framing and size of the image."
    };
    let refs = if req.references.is_empty() {
        String::new()
    } else {
        format!(
            " Keep the characters, objects and style of the {} reference image{} consistent.",
            req.references.len(),
            if req.references.len() == 1 { "" } else { "s" }
        )
    };
    let task = match req.task {
        Task::Edit => "Edit this image",
        Task::Fill => "Generate new content into this image",
        Task::Restyle => "Redraw this image in the style of the reference images",
    };
    format!("{task}: {}\n{scope}{refs}", req.prompt)
}

/// The first `max` characters of a service's message, trimmed, with the key removed.
pub fn service_words(secret: &Secret, text: &str, max: usize) -> String {
    let text = text.trim();
    let cut: String = text.chars().take(max).collect();
    let cut = if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    };
    secret.redact(&cut)
}

/// How a failed HTTP status is reported, by who can fix it.
pub fn status_error(service: &str, status: u16, reason: &str, key_hint: &str) -> PluginError {
    match status {
        401 | 403 => PluginError::environment(format!(
            "{service} refused the API key (HTTP {status}): {reason}. {key_hint}"
        )),
        429 => PluginError::limits(format!(
            "{service} says the quota or rate limit is reached (HTTP 429): {reason}. Wait, or \
             check the plan of the account"
        )),
        413 => PluginError::limits(format!(
            "{service} says the request is too large (HTTP 413): {reason}. Use a smaller \
             selection or fewer reference images"
        )),
        400..=499 => PluginError::invalid_input(format!(
            "{service} refused the request (HTTP {status}): {reason}"
        )),
        _ => PluginError::environment(format!(
            "{service} failed (HTTP {status}): {reason}. Try again later"
        )),
    }
}

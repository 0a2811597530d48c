//! Generative edits through an image-generation service the user has configured: *Edit selection
//! from a prompt*, *Generate into selection*, *Restyle with references*.
//!
//! The daemon crops the selection with context and composites the answer through the soft mask;
//! this plugin sends the crop, the mask, the reference images and (for a follow-up) the earlier
//! turn's image and prompts to Google's Gemini API or an OpenAI-compatible images API, and
//! returns the image it gets back at the crop's size. Nothing is sent until a provider is
//! configured (`config`); `docs/generative.md` is the user's guide.

pub mod config;
pub mod gemini;
pub mod http;
pub mod openai;
pub mod ops;
pub mod picture;
pub mod provider;

use ops::Generative;
use provider::Task;

fn all_operations() -> Vec<easel_sdk::OperationBox> {
    [Task::Edit, Task::Fill, Task::Restyle]
        .into_iter()
        .map(|t| easel_sdk::boxed_operation(Generative(t)))
        .collect()
}

easel_sdk::export_plugin! {
    name: "generative",
    version: env!("CARGO_PKG_VERSION"),
    operations: all_operations,
}

//! The prompt and conversation parameters, through the SDK's Text parameter kind.
//!
//! Kept in one place so the rest of the plugin does not depend on how the SDK spells it.

use easel_sdk::{ParamSpec, Params, PluginError};

/// A free-text parameter (shown as a text box).
pub fn spec(
    name: &str,
    title: &str,
    description: &str,
    default: &str,
    max_len: u32,
) -> Option<ParamSpec> {
    Some(ParamSpec::text(
        name,
        title,
        description,
        default,
        max_len,
        true,
    ))
}

/// A text parameter's value.
pub fn get<'a>(params: &Params<'a>, name: &str) -> Result<&'a str, PluginError> {
    params.text(name)
}

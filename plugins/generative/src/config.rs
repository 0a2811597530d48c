//! Provider settings: read from a file the user controls (`$XDG_CONFIG_HOME/easel/generative.toml`,
//! refused unless mode 0600) and from `EASEL_*` environment variables — never from a request.

use easel_sdk::PluginError;
use serde::Deserialize;
use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

/// Google's Gemini API.
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";
pub const GEMINI_MODEL: &str = "gemini-2.5-flash-image";
/// OpenAI's images API (or any server speaking it).
pub const OPENAI_BASE_URL: &str = "https://api.openai.com";
pub const OPENAI_MODEL: &str = "gpt-image-1";

const DEFAULT_TIMEOUT_S: f64 = 120.0;
const DEFAULT_MAX_INPUT_SIDE: u32 = 1536;

/// An API key. Its `Debug` and `Display` never show it; only [`Secret::expose`] does, for the
/// one header that carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(key: impl Into<String>) -> Secret {
        Secret(key.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `text` with every occurrence of the key replaced (for anything a user or a log sees).
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_string();
        }
        text.replace(&self.0, "[API key]")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([hidden])")
    }
}

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gemini,
    OpenAi,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::Gemini => "Gemini",
            Kind::OpenAi => "the OpenAI-compatible images service",
        }
    }
}

/// Everything a job needs to call its provider.
#[derive(Debug, Clone)]
pub struct Settings {
    pub kind: Kind,
    pub api_key: Secret,
    pub model: String,
    /// Scheme, host and port (and a path prefix, if any), without a trailing slash.
    pub base_url: String,
    /// OpenAI `size` (`1024x1024`, `1536x1024`, `auto`…); chosen from the aspect ratio when unset.
    pub size: Option<String>,
    /// The whole call, connect to last byte.
    pub timeout: Duration,
    /// Images are scaled down to at most this many pixels on their longer side before sending.
    pub max_input_side: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    provider: Option<String>,
    timeout_s: Option<f64>,
    max_input_side: Option<u32>,
    gemini: Option<FileProvider>,
    openai: Option<FileProvider>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProvider {
    api_key: Option<String>,
    model: Option<String>,
    base_url: Option<String>,
    size: Option<String>,
}

/// The configuration file: `$XDG_CONFIG_HOME/easel/generative.toml`, else
/// `~/.config/easel/generative.toml`.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("easel").join("generative.toml"))
}

/// What a user must do to turn the operations on, and what they would send.
pub fn not_configured_message(path: Option<&Path>) -> String {
    let file = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "$XDG_CONFIG_HOME/easel/generative.toml".into());
    format!(
        "no image-generation service is configured, so nothing was sent. Generative operations \
         are off until you add an API key: in {file} (readable only by you: chmod 600) write \
         `[gemini]` and `api_key = \"...\"` (or `[openai]` and its key), or set \
         EASEL_GEMINI_API_KEY or EASEL_OPENAI_API_KEY where the daemon starts. Once configured, \
         each job sends the selection with its surrounding context, the reference images, the \
         earlier turn's image and the prompt to that service"
    )
}

fn env_f64(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<f64>, PluginError> {
    match env(name) {
        None => Ok(None),
        Some(v) => v.trim().parse::<f64>().map(Some).map_err(|_| {
            PluginError::environment(format!("{name} is '{v}', which is not a number"))
        }),
    }
}

fn read_file(path: &Path) -> Result<Option<FileConfig>, PluginError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(PluginError::environment(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PluginError::environment(format!(
            "{} holds an API key but others can read it (mode {mode:03o}); nothing was sent. \
             Run `chmod 600 {}` and try again",
            path.display(),
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| PluginError::environment(format!("cannot read {}: {e}", path.display())))?;
    // toml's messages quote the offending line, which may be the key: say where, not what.
    toml::from_str::<FileConfig>(&text).map(Some).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" at line {line}")
            })
            .unwrap_or_default();
        let what = e.message().to_string();
        let what = if what.contains('"') || what.contains('\'') {
            "not valid TOML for this file".to_string()
        } else {
            what
        };
        PluginError::environment(format!("{}{at}: {what}", path.display()))
    })
}

/// Checks a base URL: `https://` anywhere, plain `http://` only to this machine (tests and local
/// compatible servers), so a key never crosses a network in clear text.
pub fn check_base_url(url: &str) -> Result<String, PluginError> {
    let url = url.trim().trim_end_matches('/');
    let loopback = |rest: &str| {
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host = if let Some(v6) = host.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            host.rsplit_once(':').map_or(host, |(h, _)| h)
        };
        matches!(host, "localhost" | "127.0.0.1" | "::1")
    };
    if let Some(rest) = url.strip_prefix("https://") {
        if !rest.is_empty() {
            return Ok(url.to_string());
        }
    } else if let Some(rest) = url.strip_prefix("http://") {
        if loopback(rest) {
            return Ok(url.to_string());
        }
        return Err(PluginError::environment(format!(
            "base URL {url} is plain http to another machine: the API key would travel \
             unencrypted; use https://"
        )));
    }
    Err(PluginError::environment(format!(
        "base URL '{url}' is not an http(s) address"
    )))
}

/// Loads the settings from the environment (`env`) and the configuration file.
///
/// Environment variables override the file. With keys for both providers, `provider` (or
/// `EASEL_GENERATIVE_PROVIDER`) chooses; otherwise Gemini. Without any key the error says what
/// to configure and what would leave the machine.
pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, PluginError> {
    let path = config_path(env);
    let file = match &path {
        Some(p) => read_file(p)?.unwrap_or_default(),
        None => FileConfig::default(),
    };
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let section = |kind: Kind| match kind {
        Kind::Gemini => file.gemini.as_ref(),
        Kind::OpenAi => file.openai.as_ref(),
    };
    let prefix = |kind: Kind| match kind {
        Kind::Gemini => "EASEL_GEMINI",
        Kind::OpenAi => "EASEL_OPENAI",
    };
    let key_of = |kind: Kind| {
        nonempty(env(&format!("{}_API_KEY", prefix(kind))))
            .or_else(|| nonempty(section(kind).and_then(|s| s.api_key.clone())))
    };
    let chosen = nonempty(env("EASEL_GENERATIVE_PROVIDER")).or_else(|| file.provider.clone());
    let kind = match chosen.as_deref().map(str::trim) {
        Some("gemini") => Kind::Gemini,
        Some("openai") => Kind::OpenAi,
        Some(other) => {
            return Err(PluginError::environment(format!(
                "provider '{other}' is not one of gemini, openai"
            )))
        }
        None if key_of(Kind::Gemini).is_some() => Kind::Gemini,
        None if key_of(Kind::OpenAi).is_some() => Kind::OpenAi,
        None => {
            return Err(PluginError::environment(not_configured_message(
                path.as_deref(),
            )))
        }
    };
    let api_key = key_of(kind).ok_or_else(|| {
        PluginError::environment(format!(
            "provider {} is chosen but has no API key. {}",
            match kind {
                Kind::Gemini => "gemini",
                Kind::OpenAi => "openai",
            },
            not_configured_message(path.as_deref())
        ))
    })?;
    let p = prefix(kind);
    let model = nonempty(env(&format!("{p}_MODEL")))
        .or_else(|| nonempty(section(kind).and_then(|s| s.model.clone())))
        .unwrap_or_else(|| {
            match kind {
                Kind::Gemini => GEMINI_MODEL,
                Kind::OpenAi => OPENAI_MODEL,
            }
            .to_string()
        });
    if model.contains(['/', '?', '#', ' ']) {
        return Err(PluginError::environment(format!(
            "model id '{model}' has characters a model id cannot have"
        )));
    }
    let base_url = nonempty(env(&format!("{p}_BASE_URL")))
        .or_else(|| nonempty(section(kind).and_then(|s| s.base_url.clone())))
        .unwrap_or_else(|| {
            match kind {
                Kind::Gemini => GEMINI_BASE_URL,
                Kind::OpenAi => OPENAI_BASE_URL,
            }
            .to_string()
        });
    let base_url = check_base_url(&base_url)?;
    let size = nonempty(env(&format!("{p}_SIZE")))
        .or_else(|| nonempty(section(kind).and_then(|s| s.size.clone())));
    let timeout_s = env_f64(env, "EASEL_GENERATIVE_TIMEOUT_S")?
        .or(file.timeout_s)
        .unwrap_or(DEFAULT_TIMEOUT_S);
    if !(timeout_s.is_finite() && timeout_s > 0.0 && timeout_s <= 3600.0) {
        return Err(PluginError::environment(format!(
            "timeout_s is {timeout_s}; give a number of seconds between 0 and 3600"
        )));
    }
    let max_input_side = file.max_input_side.unwrap_or(DEFAULT_MAX_INPUT_SIDE);
    if !(64..=8192).contains(&max_input_side) {
        return Err(PluginError::environment(format!(
            "max_input_side is {max_input_side}; give 64 to 8192 pixels"
        )));
    }
    Ok(Settings {
        kind,
        api_key: Secret::new(api_key.trim()),
        model,
        base_url,
        size,
        timeout: Duration::from_secs_f64(timeout_s),
        max_input_side,
    })
}

/// [`load`] from the process environment.
pub fn load_from_process() -> Result<Settings, PluginError> {
    load(&|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn env_of(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn home(dir: &Path) -> (&'static str, String) {
        ("XDG_CONFIG_HOME", dir.display().to_string())
    }

    fn write_config(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("easel").join("generative.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn nothing_configured_refuses_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&env_of(&[home(dir.path())])).unwrap_err();
        assert_eq!(err.kind, easel_sdk::ErrorKind::Environment);
        for words in [
            "nothing was sent",
            "EASEL_GEMINI_API_KEY",
            "chmod 600",
            "generative.toml",
            "reference images",
        ] {
            assert!(err.message.contains(words), "{words}: {err}");
        }
    }

    #[test]
    fn file_is_read_only_when_private_and_env_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            "[gemini]\napi_key = \"file-key-123\"\nmodel = \"gemini-x\"\n",
            0o644,
        );
        let err = load(&env_of(&[home(dir.path())])).unwrap_err();
        assert!(err.message.contains("chmod 600"), "{err}");
        assert!(!err.message.contains("file-key-123"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = load(&env_of(&[home(dir.path())])).unwrap();
        assert_eq!(s.kind, Kind::Gemini);
        assert_eq!(s.api_key.expose(), "file-key-123");
        assert_eq!(s.model, "gemini-x");
        assert_eq!(s.base_url, GEMINI_BASE_URL);
        assert!(!format!("{s:?}").contains("file-key-123"));
        let s = load(&env_of(&[
            home(dir.path()),
            ("EASEL_GEMINI_API_KEY", "env-key-456".into()),
            ("EASEL_GEMINI_BASE_URL", "http://127.0.0.1:9/".into()),
        ]))
        .unwrap();
        assert_eq!(s.api_key.expose(), "env-key-456");
        assert_eq!(s.base_url, "http://127.0.0.1:9");
    }

    #[test]
    fn provider_choice_and_openai_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let both = [
            home(dir.path()),
            ("EASEL_GEMINI_API_KEY", "g-key-0000".into()),
            ("EASEL_OPENAI_API_KEY", "o-key-0000".into()),
        ];
        assert_eq!(load(&env_of(&both)).unwrap().kind, Kind::Gemini);
        let mut chosen = both.to_vec();
        chosen.push(("EASEL_GENERATIVE_PROVIDER", "openai".into()));
        let s = load(&env_of(&chosen)).unwrap();
        assert_eq!(
            (s.kind, s.model.as_str(), s.base_url.as_str()),
            (Kind::OpenAi, OPENAI_MODEL, OPENAI_BASE_URL)
        );
        assert_eq!(s.api_key.expose(), "o-key-0000");
        let err = load(&env_of(&[
            home(dir.path()),
            ("EASEL_GENERATIVE_PROVIDER", "openai".into()),
            ("EASEL_GEMINI_API_KEY", "g-key-0000".into()),
        ]))
        .unwrap_err();
        assert!(err.message.contains("no API key"), "{err}");
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(check_base_url("http://localhost:8080").is_ok());
        assert!(check_base_url("http://[::1]:8080/v").is_ok());
        assert!(check_base_url("https://example.com/").is_ok());
        let err = check_base_url("http://example.com").unwrap_err();
        assert!(err.message.contains("unencrypted"), "{err}");
        assert!(check_base_url("http://127.0.0.1.example.com").is_err());
        assert!(check_base_url("ftp://x").is_err());
    }

    #[test]
    fn a_broken_file_is_reported_without_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            "[gemini]\napi_key = \"sk-secret-abc\"\nbogus = \"sk-secret-abc\"\n",
            0o600,
        );
        let err = load(&env_of(&[home(dir.path())])).unwrap_err();
        assert!(!err.message.contains("sk-secret-abc"), "{err}");
        assert!(err.message.contains("generative.toml"), "{err}");
    }

    #[test]
    fn redaction_hides_the_key() {
        let s = Secret::new("sk-live-abcdef");
        assert_eq!(
            s.redact("bad key sk-live-abcdef given"),
            "bad key [API key] given"
        );
        assert_eq!(format!("{s:?}"), "Secret([hidden])");
    }
}

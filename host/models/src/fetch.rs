//! Getting a model file from its upstream home: a resumable download (`FILE.part`, HTTP range
//! requests, retried where it broke off), checked against the manifest's sha256 before the file
//! takes its real name, so the store never sees a partial or wrong file.
//!
//! Mirrors: a studio (or a machine without internet) serves the model files it has approved from
//! its own HTTP server, each under its manifest file name (`MIRROR/rembg_u2netp.onnx`: a folder of
//! model files served as it is). Mirrors come from the configuration's `model_mirrors`, or from
//! `EASEL_MODEL_MIRROR` (space-separated; it replaces the configured list), and are tried in order
//! before a model's own download addresses; the sha256 is checked whichever served the file, so a
//! mirror need not be trusted. A model without an upstream address can be fetched from a mirror.

use crate::{sha256_file, ModelEntry};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How patient a download is.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Connecting and waiting for the response's head take at most this long.
    pub stall_timeout: Duration,
    /// One response's body takes at most this long; a download that needs longer is resumed by
    /// the next attempt from where it stopped, so this bounds a stalled server, not a big file.
    pub body_timeout: Duration,
    /// Attempts per URL, each resuming where the last stopped.
    pub attempts: u32,
    /// Base addresses tried before a model's own (see the module's documentation).
    pub mirrors: Vec<String>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            stall_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(300),
            attempts: 5,
            mirrors: Vec::new(),
        }
    }
}

/// What a download reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchEvent {
    /// Connected to `url`; `resumed_from` bytes were already there; `total` when known.
    Started {
        url: String,
        resumed_from: u64,
        total: Option<u64>,
    },
    /// `done` of `total` bytes are on disk.
    Progress { done: u64, total: Option<u64> },
    /// The connection broke off at `done` bytes; it is tried again from there.
    Retrying { done: u64, error: String },
    /// Checking the sha256.
    Verifying,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "model `{id}` has no download address in the manifest; get its file from {source_note} and add it with `easel models add FILE --id {id}`"
    )]
    NoUrls { id: String, source_note: String },
    #[error("{url} answered HTTP {status}{}", if *.from_mirror { hint_for_mirror(*.status) } else { hint_for_status(*.status) })]
    Http {
        url: String,
        status: u16,
        /// The address was a mirror's, not the manifest's.
        from_mirror: bool,
    },
    #[error("`{value}` in {origin} is not a mirror address: expected an http:// or https:// URL")]
    BadMirror { value: String, origin: &'static str },
    #[error("downloading {url} failed after {attempts} attempts: {message}")]
    Network {
        url: String,
        attempts: u32,
        message: String,
    },
    #[error(
        "{url} gave a file with sha256 {actual}, but the manifest says {expected}: the download is damaged or the file changed upstream; it was deleted"
    )]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{}: {source}{}", .path.display(), hint_for_io(.source))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn hint_for_status(status: u16) -> &'static str {
    match status {
        404 | 410 => " (not found: the manifest's address may be out of date)",
        401 | 403 => " (access refused: the host may need an account or a token)",
        429 => " (too many requests: try again later)",
        500..=599 => " (a server error: try again later)",
        _ => "",
    }
}

fn hint_for_mirror(status: u16) -> &'static str {
    match status {
        404 | 410 => " (the mirror does not have this file under its manifest name)",
        _ => hint_for_status(status),
    }
}

/// The mirrors to use: `EASEL_MODEL_MIRROR` (space-separated) when it is set and not empty,
/// else the configuration's `model_mirrors`; each must be an http:// or https:// address.
pub fn mirrors(configured: &[String]) -> Result<Vec<String>, FetchError> {
    mirrors_from(
        std::env::var("EASEL_MODEL_MIRROR").ok().as_deref(),
        configured,
    )
}

/// [`mirrors`] with the environment variable's value given.
pub fn mirrors_from(env: Option<&str>, configured: &[String]) -> Result<Vec<String>, FetchError> {
    let (list, origin): (Vec<String>, _) = match env.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => (
            v.split_whitespace().map(String::from).collect(),
            "EASEL_MODEL_MIRROR",
        ),
        None => (configured.to_vec(), "the configuration's model_mirrors"),
    };
    for m in &list {
        let lower = m.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"));
        if rest.is_none_or(|r| r.trim_matches('/').is_empty()) {
            return Err(FetchError::BadMirror {
                value: m.clone(),
                origin,
            });
        }
    }
    Ok(list)
}

/// Where `file_name` is on each mirror, then the manifest's own addresses, in the order tried;
/// the flag says which are mirrors'.
pub fn candidate_urls(
    entry: &ModelEntry,
    file_name: &str,
    mirrors: &[String],
) -> Vec<(String, bool)> {
    let encoded: String = file_name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    mirrors
        .iter()
        .map(|m| (format!("{}/{encoded}", m.trim_end_matches('/')), true))
        .chain(entry.urls.iter().map(|u| (u.clone(), false)))
        .collect()
}

fn hint_for_io(e: &std::io::Error) -> &'static str {
    // ENOSPC: the .part file is kept, so a later fetch resumes once space is freed.
    if e.raw_os_error() == Some(28) {
        " (the disk is full: free some space and run the same command again; the download resumes)"
    } else {
        ""
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Downloads `entry` into `dir` (as `entry.file`) and returns its path. A file already there
/// with the right sha256 is kept; a `.part` left by an earlier attempt is resumed.
pub fn fetch(
    entry: &ModelEntry,
    dir: &Path,
    options: &FetchOptions,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<PathBuf, FetchError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let file_name = Path::new(&entry.file)
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(&entry.id));
    let dest = dir.join(&file_name);
    if dest.is_file() && sha256_file(&dest).ok().as_deref() == Some(entry.sha256.as_str()) {
        return Ok(dest);
    }
    let urls = candidate_urls(entry, &file_name.to_string_lossy(), &options.mirrors);
    if urls.is_empty() {
        return Err(FetchError::NoUrls {
            id: entry.id.clone(),
            source_note: entry.source.clone(),
        });
    }
    let part = dir.join(format!("{}.part", file_name.display()));
    let mut last_error = None;
    for (url, from_mirror) in &urls {
        match download(url, *from_mirror, &part, options, on_event) {
            Ok(()) => {
                on_event(FetchEvent::Verifying);
                let actual = sha256_file(&part).map_err(|e| FetchError::Io {
                    path: part.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
                if actual != entry.sha256 {
                    let _ = std::fs::remove_file(&part);
                    last_error = Some(FetchError::Checksum {
                        url: url.clone(),
                        expected: entry.sha256.clone(),
                        actual,
                    });
                    continue;
                }
                std::fs::rename(&part, &dest).map_err(io(&dest))?;
                return Ok(dest);
            }
            // A full disk is not the next mirror's fault.
            Err(e @ FetchError::Io { .. }) => return Err(e),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or(FetchError::NoUrls {
        id: entry.id.clone(),
        source_note: entry.source.clone(),
    }))
}

/// Fills `part` from `url`, resuming from its length, retrying where a connection broke off.
fn download(
    url: &str,
    from_mirror: bool,
    part: &Path,
    options: &FetchOptions,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<(), FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(options.stall_timeout))
        .timeout_recv_response(Some(options.stall_timeout))
        .timeout_recv_body(Some(options.body_timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let mut request = agent.get(url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let network = |message: String| FetchError::Network {
            url: url.to_string(),
            attempts: attempt,
            message,
        };
        let response = match request.call() {
            Ok(r) => r,
            Err(e) if attempt < options.attempts => {
                on_event(FetchEvent::Retrying {
                    done: have,
                    error: e.to_string(),
                });
                std::thread::sleep(Duration::from_millis(200 * attempt as u64));
                continue;
            }
            Err(e) => return Err(network(e.to_string())),
        };
        let status = response.status().as_u16();
        let length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let (mut file, start, total) = match status {
            206 => (
                OpenOptions::new()
                    .append(true)
                    .open(part)
                    .map_err(io(part))?,
                have,
                length.map(|l| l + have),
            ),
            200 => (File::create(part).map_err(io(part))?, 0, length),
            // The part already holds everything the server has.
            416 if have > 0 => return Ok(()),
            _ => {
                return Err(FetchError::Http {
                    url: url.to_string(),
                    status,
                    from_mirror,
                })
            }
        };
        on_event(FetchEvent::Started {
            url: url.to_string(),
            resumed_from: start,
            total,
        });
        let mut reader = response.into_body().into_reader();
        let mut done = start;
        let mut buf = vec![0u8; 1 << 16];
        let broke = loop {
            match reader.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => {
                    file.write_all(&buf[..n]).map_err(io(part))?;
                    done += n as u64;
                    on_event(FetchEvent::Progress { done, total });
                }
                Err(e) => break Some(e.to_string()),
            }
        };
        file.flush().map_err(io(part))?;
        file.sync_all().map_err(io(part))?;
        let short = total.is_some_and(|t| done < t);
        match broke {
            None if !short => return Ok(()),
            reason => {
                let error = reason.unwrap_or_else(|| format!("connection closed at {done} bytes"));
                if attempt >= options.attempts {
                    return Err(network(error));
                }
                on_event(FetchEvent::Retrying { done, error });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_replaces_the_configured_mirrors() {
        let configured = vec!["https://models.studio.example/easel".to_string()];
        assert_eq!(mirrors_from(None, &configured).unwrap(), configured);
        assert_eq!(mirrors_from(Some("  "), &configured).unwrap(), configured);
        assert_eq!(
            mirrors_from(
                Some("http://127.0.0.1:8000 https://b.example/m/"),
                &configured
            )
            .unwrap(),
            ["http://127.0.0.1:8000", "https://b.example/m/"]
        );
    }

    #[test]
    fn a_mirror_that_is_not_an_http_address_is_refused_naming_where_it_came_from() {
        let err = mirrors_from(Some("/srv/models"), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`/srv/models` in EASEL_MODEL_MIRROR is not a mirror address: expected an http:// or https:// URL"
        );
        let err = mirrors_from(None, &["https://".to_string()]).unwrap_err();
        assert!(err.to_string().contains("model_mirrors"), "{err}");
    }

    #[test]
    fn mirrors_come_first_by_file_name_then_the_manifest_addresses() {
        let text = format!(
            "[[model]]\nid = \"m\"\nfile = \"a+b.onnx\"\nsha256 = \"{}\"\nurls = [\"https://up.example/x/a+b.onnx\"]\n",
            "ab".repeat(32)
        );
        let e = crate::parse_manifest(&text, Path::new("t"))
            .unwrap()
            .remove(0);
        let mirrors = ["http://m1/".to_string(), "http://m2/dir".to_string()];
        assert_eq!(
            candidate_urls(&e, "a+b.onnx", &mirrors),
            [
                ("http://m1/a%2Bb.onnx".to_string(), true),
                ("http://m2/dir/a%2Bb.onnx".to_string(), true),
                ("https://up.example/x/a+b.onnx".to_string(), false),
            ]
        );
    }
}

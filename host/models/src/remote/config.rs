//! The `[inference]` configuration as the worker receives it (JSON from the daemon's TOML):
//! endpoints, per-model routes, time-outs; and the rules endpoints must follow (TLS and a
//! bearer token off loopback; the token only ever read from an environment variable).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// ONNX Runtime in the worker.
    Local,
    /// Only on an inference server; an error when none can run it.
    Remote,
    /// On an inference server while one can run it, else in the worker.
    RemoteThenLocal,
}

/// How an endpoint is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// gRPC, tensors as raw contents (the main path).
    Grpc,
    /// REST with Triton's binary tensor extension.
    Rest,
    /// REST with tensors as JSON numbers (any v2 server, e.g. MLServer).
    RestJson,
}

/// One inference server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `grpc://host:8001`, `grpcs://host:8001`, `http://host:8000` or `https://host:8000`.
    pub url: String,
    /// Default: `grpc` for grpc(s):// addresses, `rest` for http(s)://.
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// The environment variable holding a bearer token (the token itself is never configured).
    #[serde(default)]
    pub token_env: Option<String>,
    /// A PEM file of the CA that signed the server's certificate (default: the web's roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allows plain text to a host that is not loopback (a trusted private network only).
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// The `[inference]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceConfig {
    /// The route of models not named in `route`; default `remote-then-local` when an endpoint
    /// is configured, else `local`.
    #[serde(default)]
    pub default: Option<Route>,
    /// Inference servers, tried in order (failover).
    #[serde(default)]
    pub endpoint: Vec<EndpointConfig>,
    /// Per-model routes by model id.
    #[serde(default)]
    pub route: BTreeMap<String, Route>,
    /// Connecting to a server gives up after this long.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: f64,
    /// One model call on a server gives up after this long (and is not retried).
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// A server that refused a connection or said it is unavailable is skipped this long
    /// before it is checked again.
    #[serde(default = "default_recheck")]
    pub recheck_s: f64,
}

fn default_connect_timeout() -> f64 {
    3.0
}
fn default_timeout() -> f64 {
    120.0
}
fn default_recheck() -> f64 {
    5.0
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            default: None,
            endpoint: Vec::new(),
            route: BTreeMap::new(),
            connect_timeout_s: default_connect_timeout(),
            timeout_s: default_timeout(),
            recheck_s: default_recheck(),
        }
    }
}

impl InferenceConfig {
    /// Parses the JSON the daemon passes to the worker.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("the [inference] configuration: {e}"))
    }

    /// The route of model `id`.
    pub fn route_of(&self, id: &str) -> Route {
        self.route.get(id).copied().unwrap_or(self.default_route())
    }

    pub fn default_route(&self) -> Route {
        self.default.unwrap_or(if self.endpoint.is_empty() {
            Route::Local
        } else {
            Route::RemoteThenLocal
        })
    }

    /// True when some model may run remotely.
    pub fn uses_remote(&self) -> bool {
        !self.endpoint.is_empty()
            && (self.default_route() != Route::Local
                || self.route.values().any(|r| *r != Route::Local))
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        secs(self.connect_timeout_s, 3.0)
    }
    pub(crate) fn timeout(&self) -> Duration {
        secs(self.timeout_s, 120.0)
    }
    pub(crate) fn recheck(&self) -> Duration {
        secs(self.recheck_s, 5.0)
    }
}

fn secs(value: f64, fallback: f64) -> Duration {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or_else(|| Duration::from_secs_f64(fallback))
}

/// A bearer token: never printed (`Debug` and `Display` show `[redacted]`).
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An endpoint checked against the rules, ready to connect.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The address as configured (safe to print: it holds no token).
    pub url: String,
    /// `http(s)://host:port`, what the clients connect to.
    pub base: String,
    pub protocol: Protocol,
    pub tls: bool,
    pub token: Option<Secret>,
    pub ca_pem: Option<Vec<u8>>,
}

impl Endpoint {
    /// Checks one configured endpoint: a known scheme, TLS and a token only where they make
    /// sense, the token's variable set. Errors name the endpoint and never hold a token.
    pub fn from_config(c: &EndpointConfig) -> Result<Endpoint, String> {
        // An address with user info is refused below; it is never shown with it.
        let shown = match c.url.split_once('@') {
            Some((before, after)) => match before.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://***@{after}"),
                None => format!("***@{after}"),
            },
            None => c.url.clone(),
        };
        let bad = |why: String| format!("inference endpoint `{shown}`: {why}");
        let (scheme, rest) = c
            .url
            .split_once("://")
            .ok_or_else(|| bad("give the address with its scheme, e.g. grpc://host:8001".into()))?;
        if rest.contains('@') {
            return Err(bad(
                "credentials do not belong in the address: put the token in an environment \
                 variable and name it with `token_env`"
                    .into(),
            ));
        }
        let (tls, default_protocol) = match scheme {
            "grpc" => (false, Protocol::Grpc),
            "grpcs" => (true, Protocol::Grpc),
            "http" => (false, Protocol::Rest),
            "https" => (true, Protocol::Rest),
            other => {
                return Err(bad(format!(
                    "unknown scheme `{other}`: use grpc, grpcs, http or https"
                )))
            }
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad(
                "give only scheme, host and port, e.g. grpc://host:8001".into(),
            ));
        }
        let loopback = is_loopback(authority);
        if !tls && !loopback && !c.allow_plaintext {
            return Err(bad(
                "a server that is not on this machine needs TLS (grpcs:// or https://); set \
                 `allow_plaintext = true` only on a trusted private network"
                    .into(),
            ));
        }
        let token = match &c.token_env {
            None => None,
            Some(var) => {
                let value = std::env::var(var).map_err(|_| {
                    bad(format!(
                        "the environment variable `{var}` (token_env) is not set"
                    ))
                })?;
                if !tls && !loopback {
                    return Err(bad(
                        "a bearer token is sent only over TLS (grpcs:// or https://)".into(),
                    ));
                }
                Some(Secret(value.trim().to_string()))
            }
        };
        let ca_pem = match &c.ca_file {
            None => None,
            Some(path) => Some(
                std::fs::read(path).map_err(|e| bad(format!("ca_file {}: {e}", path.display())))?,
            ),
        };
        Ok(Endpoint {
            url: c.url.clone(),
            base: format!("{}://{authority}", if tls { "https" } else { "http" }),
            protocol: c.protocol.unwrap_or(default_protocol),
            tls,
            token,
            ca_pem,
        })
    }

    /// Replaces the token, wherever it appears, in a message from a server or a library.
    pub fn redact(&self, message: &str) -> String {
        match &self.token {
            Some(t) if !t.0.is_empty() => message.replace(&t.0, "[redacted]"),
            _ => message.to_string(),
        }
    }
}

/// Whether `host:port` names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> EndpointConfig {
        EndpointConfig {
            url: url.into(),
            protocol: None,
            token_env: None,
            ca_file: None,
            allow_plaintext: false,
        }
    }

    #[test]
    fn two_lines_make_a_remote_then_local_setup() {
        let c = InferenceConfig::from_json(r#"{"endpoint":[{"url":"grpc://127.0.0.1:8001"}]}"#)
            .unwrap();
        assert_eq!(c.route_of("u2netp"), Route::RemoteThenLocal);
        assert!(c.uses_remote());
        let e = Endpoint::from_config(&c.endpoint[0]).unwrap();
        assert_eq!(
            (e.protocol, e.tls, e.base.as_str()),
            (Protocol::Grpc, false, "http://127.0.0.1:8001")
        );
        let none = InferenceConfig::from_json("{}").unwrap();
        assert_eq!(none.route_of("u2netp"), Route::Local);
        assert!(!none.uses_remote());
    }

    #[test]
    fn routes_and_unknown_keys() {
        let c = InferenceConfig::from_json(
            r#"{"default":"remote","route":{"llie-semantic-guided":"local"},
                "endpoint":[{"url":"http://localhost:8000","protocol":"rest-json"}]}"#,
        )
        .unwrap();
        assert_eq!(c.route_of("llie-semantic-guided"), Route::Local);
        assert_eq!(c.route_of("u2netp"), Route::Remote);
        let e = InferenceConfig::from_json(r#"{"endpoints":[]}"#).unwrap_err();
        assert!(e.contains("endpoints"), "{e}");
    }

    #[test]
    fn off_loopback_needs_tls_and_tokens_need_tls() {
        let e = Endpoint::from_config(&endpoint("grpc://gpu-box:8001")).unwrap_err();
        assert!(e.contains("needs TLS"), "{e}");
        let mut plain = endpoint("http://10.0.0.5:8000");
        plain.allow_plaintext = true;
        assert!(Endpoint::from_config(&plain).is_ok());
        std::env::set_var("EASEL_TEST_TOKEN_A", "s3cr3t-token-value");
        plain.token_env = Some("EASEL_TEST_TOKEN_A".into());
        let e = Endpoint::from_config(&plain).unwrap_err();
        assert!(e.contains("only over TLS") && !e.contains("s3cr3t"), "{e}");
        let mut tls = endpoint("grpcs://gpu-box:8001");
        tls.token_env = Some("EASEL_TEST_TOKEN_A".into());
        let ok = Endpoint::from_config(&tls).unwrap();
        assert!(ok.tls);
        assert!(!format!("{ok:?}").contains("s3cr3t"), "{ok:?}");
        assert_eq!(
            ok.redact("401: bad token s3cr3t-token-value"),
            "401: bad token [redacted]"
        );
        tls.token_env = Some("EASEL_TEST_TOKEN_UNSET_X".into());
        let e = Endpoint::from_config(&tls).unwrap_err();
        assert!(e.contains("EASEL_TEST_TOKEN_UNSET_X"), "{e}");
        let e = Endpoint::from_config(&endpoint("https://user:pw@host:1")).unwrap_err();
        assert!(e.contains("credentials") && !e.contains("pw@"), "{e}");
        assert!(Endpoint::from_config(&endpoint("grpc://[::1]:8001")).is_ok());
    }
}

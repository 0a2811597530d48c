//! Models run on inference servers that speak the KServe v2 / Open Inference Protocol (NVIDIA
//! Triton, MLServer, KServe), behind the same [`Backend`] as ONNX Runtime, so plugins do not
//! know where their models run.
//!
//! - Transports: gRPC with raw tensor contents (the main path), REST with Triton's binary
//!   tensor extension, REST JSON (any v2 server).
//! - Before a model's first run on a server, the server's and the model's readiness and the
//!   model's metadata are checked: names, shapes and datatypes against the manifest.
//! - Routing per model ([`Route`]): local, remote, or remote with local fallback. Endpoints are
//!   tried in order; one that refused a connection or said it is unavailable is skipped for
//!   `recheck_s` (failover).
//! - A model call is sent to a second server only when the first certainly did not run it
//!   (connection refused before the request went out, or an explicit UNAVAILABLE / 503). A call
//!   that may have reached the server (time-out, connection lost mid-call) is never sent to
//!   another server; with `remote-then-local` it runs locally instead, and the remote answer,
//!   if any, is discarded (model runs have no side effects; the job's result is made once).
//! - Cancellation drops the in-flight call (gRPC: its stream is reset).
//! - A bearer token comes only from an environment variable, is sent only over TLS or
//!   loopback, and is removed from every message that could reach a log or an error.

mod config;
mod grpc;
mod rest;
mod wire;

pub use config::{EndpointConfig, InferenceConfig, Protocol, Route};

use crate::{
    Backend, LoadedModel, ModelEntry, ModelError, ModelStore, ModelStoreConfig, OnnxRuntime, Port,
    TensorDecl,
};
use config::Endpoint;
use easel_sdk::Tensor;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::ServerModel;

/// One input as it goes on the wire: the server's datatype, f32 values to convert.
pub(crate) struct WireInput {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

/// How a call to a server failed, which decides what may happen next.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The request never left (connection refused, name not found): another server may run it.
    NotSent(String),
    /// The server said it is unavailable and did not run it: another server may.
    Unavailable(String),
    /// The server answered that the request is wrong (unknown model, bad tensor).
    Rejected(String),
    /// The request may have been run (time-out, connection lost, server error): never resent.
    Failed(String),
    Cancelled,
}

impl CallError {
    fn message(&self) -> &str {
        match self {
            CallError::NotSent(m)
            | CallError::Unavailable(m)
            | CallError::Rejected(m)
            | CallError::Failed(m) => m,
            CallError::Cancelled => "cancelled",
        }
    }
}

/// One protocol client of one server.
pub(crate) trait Transport: Send + Sync {
    fn server_ready(&self) -> Result<bool, CallError>;
    fn model_ready(&self, model: &str) -> Result<bool, CallError>;
    fn metadata(&self, model: &str) -> Result<ServerModel, CallError>;
    /// Runs `model`; returns soon after `cancel` turns true, dropping the call.
    fn infer(
        self: Arc<Self>,
        model: &str,
        inputs: Vec<WireInput>,
        outputs: &[String],
        cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, CallError>;
}

/// A configured server and what is known of its health.
struct Server {
    url: String,
    protocol: Protocol,
    transport: Arc<dyn Transport>,
    /// Skipped until then (it refused a connection or said it is unavailable).
    down_until: Mutex<Option<Instant>>,
}

/// The configured servers, in order of preference.
pub struct Pool {
    servers: Vec<Server>,
    recheck: Duration,
}

impl Pool {
    /// Connects lazily to every endpoint of `config`; an error names the endpoint at fault.
    pub fn new(config: &InferenceConfig) -> Result<Pool, String> {
        let mut servers = Vec::new();
        for c in &config.endpoint {
            let endpoint = Endpoint::from_config(c)?;
            let (connect, timeout) = (config.connect_timeout(), config.timeout());
            let transport: Arc<dyn Transport> = match endpoint.protocol {
                Protocol::Grpc => Arc::new(grpc::Grpc::new(endpoint.clone(), connect, timeout)?),
                Protocol::Rest => {
                    Arc::new(rest::Rest::new(endpoint.clone(), true, connect, timeout)?)
                }
                Protocol::RestJson => {
                    Arc::new(rest::Rest::new(endpoint.clone(), false, connect, timeout)?)
                }
            };
            servers.push(Server {
                url: endpoint.url.clone(),
                protocol: endpoint.protocol,
                transport,
                down_until: Mutex::new(None),
            });
        }
        Ok(Pool {
            servers,
            recheck: config.recheck(),
        })
    }

    fn usable(&self, i: usize) -> bool {
        let mut down = self.servers[i].down_until.lock();
        match *down {
            Some(t) if Instant::now() < t => false,
            Some(_) => {
                *down = None;
                true
            }
            None => true,
        }
    }

    fn mark_down(&self, i: usize, why: &str) {
        log::warn!(
            "inference server {} is skipped for {} s: {why}",
            self.servers[i].url,
            self.recheck.as_secs_f64()
        );
        *self.servers[i].down_until.lock() = Some(Instant::now() + self.recheck);
    }

    /// "grpc://a (grpc), http://b (rest)".
    pub fn describe(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("{} ({:?})", s.url, s.protocol).to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a remote run gave no result.
enum RemoteFailure {
    Cancelled,
    /// The plugin's tensors do not fit the model: no server is asked.
    BadInput(String),
    /// No server could be asked or all refused: nothing ran.
    NoServer(String),
    /// A server was asked and the call failed: it may have run.
    Failed(String),
}

/// What is known of one server for one model: nothing yet, its checked metadata, or why it
/// cannot serve the model.
type Binding = Option<Result<Arc<ServerModel>, String>>;

/// A model bound to the pool: checked per server before its first run there.
struct RemoteModel {
    id: String,
    inputs: Vec<TensorDecl>,
    outputs: Vec<TensorDecl>,
    pool: Arc<Pool>,
    /// Per server: its checked metadata, or why it cannot serve this model.
    bound: Mutex<Vec<Binding>>,
}

impl RemoteModel {
    fn new(entry: &ModelEntry, pool: Arc<Pool>) -> RemoteModel {
        RemoteModel {
            id: entry.id.clone(),
            inputs: entry.inputs.clone(),
            outputs: entry.outputs.clone(),
            bound: Mutex::new(vec![None; pool.servers.len()]),
            pool,
        }
    }

    /// Server `i`'s metadata of this model, checked against the manifest once.
    fn bind(&self, i: usize) -> Result<Arc<ServerModel>, CallError> {
        if let Some(known) = self.bound.lock()[i].clone() {
            return known.map_err(CallError::Rejected);
        }
        let server = &self.pool.servers[i];
        let t = &server.transport;
        if !t.server_ready()? {
            return Err(CallError::Unavailable("the server is not ready".into()));
        }
        let checked = if !t.model_ready(&self.id)? {
            Err(format!(
                "it has no model `{}` ready (is it in the server's model repository? \
                 `easel models triton-repo` writes one)",
                self.id
            ))
        } else {
            let meta = t.metadata(&self.id)?;
            wire::check_metadata(&self.inputs, &self.outputs, &meta)
                .map(|()| Arc::new(meta))
                .map_err(|e| format!("model `{}` there does not match the manifest: {e}", self.id))
        };
        if let Err(e) = &checked {
            log::warn!("inference server {}: {e}", server.url);
        }
        self.bound.lock()[i] = Some(checked.clone());
        checked.map_err(CallError::Rejected)
    }

    fn check_inputs(&self, inputs: &[Tensor]) -> Result<(), String> {
        if self.inputs.is_empty() {
            return Ok(());
        }
        for t in inputs {
            let decl = self
                .inputs
                .iter()
                .find(|d| d.name == t.name.as_str())
                .ok_or_else(|| {
                    format!(
                        "it has no input `{}`; its inputs are {}",
                        t.name,
                        describe(&self.inputs)
                    )
                })?;
            wire::check_input(t, decl)?;
        }
        if let Some(missing) = self
            .inputs
            .iter()
            .find(|d| !inputs.iter().any(|t| t.name.as_str() == d.name))
        {
            return Err(format!(
                "missing input `{}` {:?}",
                missing.name, missing.shape
            ));
        }
        Ok(())
    }

    fn run(
        &self,
        inputs: Vec<Tensor>,
        wanted: &[String],
        cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, RemoteFailure> {
        self.check_inputs(&inputs)
            .map_err(RemoteFailure::BadInput)?;
        let mut notes = Vec::new();
        for (i, server) in self.pool.servers.iter().enumerate() {
            if !self.pool.usable(i) {
                notes.push(format!("{}: skipped after an earlier failure", server.url));
                continue;
            }
            let meta = match self.bind(i) {
                Ok(meta) => meta,
                Err(CallError::Cancelled) => return Err(RemoteFailure::Cancelled),
                Err(e) => {
                    // Readiness and metadata calls run nothing: moving on is safe.
                    if !matches!(e, CallError::Rejected(_)) {
                        self.pool.mark_down(i, e.message());
                    }
                    notes.push(format!("{}: {}", server.url, e.message()));
                    continue;
                }
            };
            let mut wire_inputs = Vec::with_capacity(inputs.len());
            for t in &inputs {
                let datatype = meta
                    .inputs
                    .iter()
                    .find(|s| s.name == t.name.as_str())
                    .map_or_else(|| "FP32".to_string(), |s| s.datatype.clone());
                wire_inputs.push(WireInput {
                    name: t.name.to_string(),
                    datatype,
                    shape: t.shape.to_vec(),
                    data: t.data.to_vec(),
                });
            }
            let started = Instant::now();
            match server
                .transport
                .clone()
                .infer(&self.id, wire_inputs, wanted, cancel)
            {
                Ok(outputs) => {
                    log::debug!(
                        "model `{}` ran on {} in {} ms",
                        self.id,
                        server.url,
                        started.elapsed().as_millis()
                    );
                    return self.pick(outputs, wanted, &server.url);
                }
                Err(CallError::Cancelled) => return Err(RemoteFailure::Cancelled),
                Err(e @ (CallError::NotSent(_) | CallError::Unavailable(_))) => {
                    self.pool.mark_down(i, e.message());
                    notes.push(format!("{}: {}", server.url, e.message()));
                }
                Err(CallError::Rejected(m)) => {
                    return Err(RemoteFailure::Failed(format!(
                        "{} refused the call: {m}",
                        server.url
                    )))
                }
                Err(CallError::Failed(m)) => {
                    // It may have run: never sent to another server.
                    self.pool.mark_down(i, &m);
                    return Err(RemoteFailure::Failed(format!("{}: {m}", server.url)));
                }
            }
        }
        Err(RemoteFailure::NoServer(if notes.is_empty() {
            "no inference server is configured".into()
        } else {
            notes.join("; ")
        }))
    }

    /// The outputs asked for, in the order asked (all when none were named).
    fn pick(
        &self,
        mut outputs: Vec<Tensor>,
        wanted: &[String],
        url: &str,
    ) -> Result<Vec<Tensor>, RemoteFailure> {
        if wanted.is_empty() {
            return Ok(outputs);
        }
        wanted
            .iter()
            .map(|name| {
                let i = outputs
                    .iter()
                    .position(|t| t.name.as_str() == name)
                    .ok_or_else(|| {
                        RemoteFailure::Failed(format!("{url} returned no output `{name}`"))
                    })?;
                Ok(outputs.swap_remove(i))
            })
            .collect()
    }

    fn ports(decl: &[TensorDecl]) -> Vec<Port> {
        decl.iter()
            .map(|d| Port {
                name: d.name.clone(),
                shape: d.shape.clone(),
                element: None,
            })
            .collect()
    }
}

fn describe(decl: &[TensorDecl]) -> String {
    decl.iter()
        .map(|d| format!("`{}` {:?}", d.name, d.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error a remote failure becomes; its text holds no token (messages are redacted where
/// they are made).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RemoteError(String);

/// A model that runs remotely (`remote`), or remotely with local fallback.
struct RoutedModel {
    remote: RemoteModel,
    route: Route,
    /// For fallback: the verified file and the local runtime, loaded on first need.
    path: PathBuf,
    local_backend: Arc<OnnxRuntime>,
    local: Mutex<Option<Arc<dyn LoadedModel>>>,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
}

impl RoutedModel {
    fn local(&self) -> Result<Arc<dyn LoadedModel>, ModelError> {
        let mut local = self.local.lock();
        if let Some(m) = local.as_ref() {
            return Ok(m.clone());
        }
        let m: Arc<dyn LoadedModel> =
            Arc::from(self.local_backend.load(&self.remote.id, &self.path)?);
        *local = Some(m.clone());
        Ok(m)
    }
}

impl LoadedModel for RoutedModel {
    fn inputs(&self) -> &[Port] {
        &self.inputs
    }

    fn outputs(&self) -> &[Port] {
        &self.outputs
    }

    fn run(
        &self,
        inputs: Vec<Tensor>,
        outputs: &[String],
        cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, ModelError> {
        let id = &self.remote.id;
        // The fallback needs the inputs after the remote call took them.
        let kept = (self.route == Route::RemoteThenLocal).then(|| inputs.clone());
        let why = match self.remote.run(inputs, outputs, cancel) {
            Ok(result) => return Ok(result),
            Err(RemoteFailure::Cancelled) => return Err(ModelError::Cancelled { id: id.clone() }),
            Err(RemoteFailure::BadInput(message)) => {
                return Err(ModelError::BadInput {
                    id: id.clone(),
                    message,
                })
            }
            Err(RemoteFailure::NoServer(m)) => format!("no inference server could run it ({m})"),
            Err(RemoteFailure::Failed(m)) => format!("the inference server failed ({m})"),
        };
        match kept {
            Some(inputs) => {
                log::warn!("model `{id}` runs locally: {why}");
                self.local()?.run(inputs, outputs, cancel)
            }
            None => Err(ModelError::Inference {
                id: id.clone(),
                source: Box::new(RemoteError(format!(
                    "{why}; its route is `remote` (set `route` to `remote-then-local` in \
                     [inference] to fall back to this machine)"
                ))),
            }),
        }
    }
}

/// The worker's backend: each model on its route, ONNX Runtime for local runs.
pub struct RoutedBackend {
    local: Arc<OnnxRuntime>,
    pool: Arc<Pool>,
    config: InferenceConfig,
    entries: HashMap<String, ModelEntry>,
}

impl RoutedBackend {
    /// `entries` are the store's models (for their declared inputs and outputs).
    pub fn new(
        local: OnnxRuntime,
        config: InferenceConfig,
        entries: Vec<ModelEntry>,
    ) -> Result<Self, String> {
        let pool = Arc::new(Pool::new(&config)?);
        Ok(RoutedBackend {
            local: Arc::new(local),
            pool,
            config,
            entries: entries.into_iter().map(|e| (e.id.clone(), e)).collect(),
        })
    }
}

impl Backend for RoutedBackend {
    fn name(&self) -> String {
        format!(
            "{} with inference servers {}",
            self.local.name(),
            self.pool.describe()
        )
    }

    fn load(&self, id: &str, path: &Path) -> Result<Box<dyn LoadedModel>, ModelError> {
        let route = self.config.route_of(id);
        let entry = match (route, self.entries.get(id)) {
            (Route::Local, _) | (_, None) => return self.local.load(id, path),
            _ if self.pool.servers.is_empty() => return self.local.load(id, path),
            (_, Some(entry)) => entry,
        };
        let remote = RemoteModel::new(entry, self.pool.clone());
        let model = RoutedModel {
            inputs: RemoteModel::ports(&entry.inputs),
            outputs: RemoteModel::ports(&entry.outputs),
            remote,
            route,
            path: path.to_path_buf(),
            local_backend: self.local.clone(),
            local: Mutex::new(None),
        };
        if entry.inputs.is_empty() || entry.outputs.is_empty() {
            // Without a declaration the ports come from the file.
            let local = model.local()?;
            let (inputs, outputs) = (local.inputs().to_vec(), local.outputs().to_vec());
            return Ok(Box::new(RoutedModel {
                inputs,
                outputs,
                ..model
            }));
        }
        log::info!(
            "model `{id}` is routed {route:?} ({})",
            self.pool.describe()
        );
        Ok(Box::new(model))
    }
}

/// The worker's model store: plain ONNX Runtime without `inference` (or when it routes
/// nothing remotely), else [`RoutedBackend`] with the `[inference]` configuration given as JSON.
pub fn routed_store(
    config: ModelStoreConfig,
    inference: Option<&str>,
) -> Result<ModelStore, String> {
    let inference = match inference {
        Some(text) => InferenceConfig::from_json(text)?,
        None => InferenceConfig::default(),
    };
    if !inference.uses_remote() {
        return ModelStore::new(config).map_err(|e| e.to_string());
    }
    let plain = ModelStore::new(config.clone()).map_err(|e| e.to_string())?;
    let local = OnnxRuntime::new(config.onnxruntime.clone(), config.intra_threads)
        .with_providers(config.providers.clone());
    let backend = RoutedBackend::new(local, inference, plain.entries())?;
    ModelStore::with_backend(config, Arc::new(backend)).map_err(|e| e.to_string())
}

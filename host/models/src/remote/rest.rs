//! The Open Inference Protocol over HTTP (ureq): readiness, metadata, and inference with
//! Triton's binary tensor extension (`binary_data_size`, `Inference-Header-Content-Length`) or
//! with JSON numbers (any v2 server). A call runs on a thread of its own so that a cancelled
//! job returns at once; the abandoned request ends with its answer or its time-out.

use super::config::Endpoint;
use super::wire::{self, ServerModel, ServerTensor};
use super::{CallError, Transport, WireInput};
use easel_sdk::Tensor;
use serde_json::{json, Value};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Largest answer read (a 4096² RGB f32 tensor is 200 MB).
const MAX_BODY: u64 = 1 << 31;

const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

pub(crate) struct Rest {
    endpoint: Endpoint,
    agent: ureq::Agent,
    binary: bool,
}

impl Rest {
    pub fn new(
        endpoint: Endpoint,
        binary: bool,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Rest, String> {
        let mut builder = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0);
        if let Some(pem) = &endpoint.ca_pem {
            let certs = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect::<Vec<_>>();
            if certs.is_empty() {
                return Err(format!(
                    "inference endpoint `{}`: its ca_file holds no PEM certificate",
                    endpoint.url
                ));
            }
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build(),
            );
        }
        Ok(Rest {
            agent: builder.build().into(),
            endpoint,
            binary,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base)
    }

    fn auth(
        &self,
        mut req: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        if let Some(t) = &self.endpoint.token {
            req = req.header("Authorization", format!("Bearer {}", t.expose()));
        }
        req
    }

    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), CallError> {
        let response = self.auth(self.agent.get(self.url(path))).call();
        self.read(response)
    }

    fn read(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let mut response = response.map_err(|e| self.classify(e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| CallError::Failed(self.endpoint.redact(&e.to_string())))?;
        Ok((status, body))
    }

    /// Connection refused, a name that does not resolve, a connect time-out: the request was
    /// not sent. Anything else happened after it may have been.
    fn classify(&self, e: ureq::Error) -> CallError {
        let message = self.endpoint.redact(&e.to_string());
        match &e {
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::AddrNotAvailable
                        | ErrorKind::NotConnected
                ) =>
            {
                CallError::NotSent(message)
            }
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
                CallError::NotSent(message)
            }
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                CallError::NotSent(message)
            }
            _ => CallError::Failed(message),
        }
    }

    /// The server's own words for a failed call: its `error` field, else the body.
    fn status_error(&self, status: u16, body: &[u8]) -> CallError {
        let text = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned());
        let message = self.endpoint.redact(&format!("HTTP {status}: {text}"));
        match status {
            503 => CallError::Unavailable(message),
            400..=499 => CallError::Rejected(message),
            _ => CallError::Failed(message),
        }
    }

    fn ready(&self, path: &str) -> Result<bool, CallError> {
        let (status, body) = self.get(path)?;
        match status {
            200 => Ok(true),
            503 | 400 | 404 => Ok(false),
            _ => Err(self.status_error(status, &body)),
        }
    }

    fn infer_now(
        &self,
        model: &str,
        inputs: &[WireInput],
        outputs: &[String],
    ) -> Result<Vec<Tensor>, CallError> {
        let reject = CallError::Rejected;
        let mut header_inputs = Vec::with_capacity(inputs.len());
        let mut blobs = Vec::new();
        for input in inputs {
            if self.binary {
                let raw = wire::to_raw(&input.datatype, &input.data).map_err(reject)?;
                header_inputs.push(json!({
                    "name": input.name, "shape": input.shape, "datatype": input.datatype,
                    "parameters": {"binary_data_size": raw.len()},
                }));
                blobs.push(raw);
            } else {
                let data = wire::to_json(&input.datatype, &input.data).map_err(reject)?;
                header_inputs.push(json!({
                    "name": input.name, "shape": input.shape, "datatype": input.datatype,
                    "data": data,
                }));
            }
        }
        let header_outputs: Vec<Value> = outputs
            .iter()
            .map(|name| {
                if self.binary {
                    json!({"name": name, "parameters": {"binary_data": true}})
                } else {
                    json!({"name": name})
                }
            })
            .collect();
        let mut header = json!({"inputs": header_inputs});
        if !header_outputs.is_empty() {
            header["outputs"] = Value::Array(header_outputs);
        }
        let header = serde_json::to_vec(&header)
            .map_err(|e| CallError::Rejected(format!("the request could not be written: {e}")))?;
        let path = format!("/v2/models/{model}/infer");
        let mut req = self.agent.post(self.url(&path));
        if let Some(t) = &self.endpoint.token {
            req = req.header("Authorization", format!("Bearer {}", t.expose()));
        }
        let response = if self.binary {
            let mut body = header.clone();
            blobs.iter().for_each(|b| body.extend_from_slice(b));
            req.header(HEADER_LENGTH, header.len().to_string())
                .content_type("application/octet-stream")
                .send(&body[..])
        } else {
            req.content_type("application/json").send(&header[..])
        };
        let mut response = response.map_err(|e| self.classify(e))?;
        let status = response.status().as_u16();
        let json_length = response
            .headers()
            .get(HEADER_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| CallError::Failed(self.endpoint.redact(&e.to_string())))?;
        if status != 200 {
            return Err(self.status_error(status, &body));
        }
        self.parse_answer(&body, json_length)
    }

    fn parse_answer(
        &self,
        body: &[u8],
        json_length: Option<usize>,
    ) -> Result<Vec<Tensor>, CallError> {
        let bad = |m: String| CallError::Failed(format!("the server's answer: {m}"));
        let split = json_length.unwrap_or(body.len());
        if split > body.len() {
            return Err(bad("its JSON header is longer than the answer".into()));
        }
        let (head, mut rest) = body.split_at(split);
        let answer: Value = serde_json::from_slice(head).map_err(|e| bad(e.to_string()))?;
        let outputs = answer
            .get("outputs")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no `outputs`".into()))?;
        let mut tensors = Vec::with_capacity(outputs.len());
        for o in outputs {
            let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
            let datatype = o.get("datatype").and_then(Value::as_str).unwrap_or("FP32");
            let shape: Vec<i64> = o
                .get("shape")
                .and_then(Value::as_array)
                .map(|s| s.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            let binary_size = o
                .pointer("/parameters/binary_data_size")
                .and_then(Value::as_u64);
            let data = match binary_size {
                Some(n) => {
                    let n = usize::try_from(n).map_err(|_| bad("a huge tensor".into()))?;
                    if n > rest.len() {
                        return Err(bad(format!("output `{name}` is cut short")));
                    }
                    let (blob, tail) = rest.split_at(n);
                    rest = tail;
                    wire::from_raw(datatype, blob).map_err(bad)?
                }
                None => wire::from_json(o.get("data").unwrap_or(&Value::Null)).map_err(bad)?,
            };
            let expected: i64 = shape.iter().product();
            if expected < 0 || expected as usize != data.len() {
                return Err(bad(format!(
                    "output `{name}` has {} values for shape {shape:?}",
                    data.len()
                )));
            }
            tensors.push(Tensor::new(name, &shape, data));
        }
        Ok(tensors)
    }
}

impl Transport for Rest {
    fn server_ready(&self) -> Result<bool, CallError> {
        self.ready("/v2/health/ready")
    }

    fn model_ready(&self, model: &str) -> Result<bool, CallError> {
        self.ready(&format!("/v2/models/{model}/ready"))
    }

    fn metadata(&self, model: &str) -> Result<ServerModel, CallError> {
        let (status, body) = self.get(&format!("/v2/models/{model}"))?;
        if status != 200 {
            return Err(self.status_error(status, &body));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| CallError::Failed(format!("the server's model metadata: {e}")))?;
        let tensors = |key: &str| -> Vec<ServerTensor> {
            v.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|t| ServerTensor {
                            name: t
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .into(),
                            datatype: t
                                .get("datatype")
                                .and_then(Value::as_str)
                                .unwrap_or("FP32")
                                .into(),
                            shape: t
                                .get("shape")
                                .and_then(Value::as_array)
                                .map(|s| s.iter().filter_map(Value::as_i64).collect()),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(ServerModel {
            inputs: tensors("inputs"),
            outputs: tensors("outputs"),
        })
    }

    fn infer(
        self: std::sync::Arc<Self>,
        model: &str,
        inputs: Vec<WireInput>,
        outputs: &[String],
        cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, CallError> {
        let (tx, rx) = mpsc::channel();
        let (model, outputs) = (model.to_string(), outputs.to_vec());
        let me = self.clone();
        std::thread::Builder::new()
            .name("easel-remote-rest".into())
            .spawn(move || {
                let _ = tx.send(me.infer_now(&model, &inputs, &outputs));
            })
            .map_err(|e| CallError::NotSent(format!("no thread for the request: {e}")))?;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(CallError::Cancelled);
            }
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(result) => return result,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(CallError::Failed("the request's thread ended".into()))
                }
            }
        }
    }
}

//! The Open Inference Protocol over gRPC (tonic, generated from `proto/grpc_predict_v2.proto`):
//! tensors travel as raw contents. A call that is cancelled is dropped, which resets its HTTP/2
//! stream, so the server sees the cancellation.

use super::config::Endpoint;
use super::wire::{self, ServerModel, ServerTensor};
use super::{CallError, Transport, WireInput};
use easel_sdk::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[allow(clippy::all, clippy::pedantic)]
mod pb {
    tonic::include_proto!("inference");
}

use pb::grpc_inference_service_client::GrpcInferenceServiceClient;
use pb::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};

/// Largest message either way (a 4096² RGB f32 tensor is 200 MB).
const MAX_MESSAGE: usize = 1 << 31;

pub(crate) struct Grpc {
    endpoint: Endpoint,
    runtime: tokio::runtime::Runtime,
    client: GrpcInferenceServiceClient<tonic::transport::Channel>,
}

impl Grpc {
    pub fn new(
        endpoint: Endpoint,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Grpc, String> {
        let bad = |m: String| format!("inference endpoint `{}`: {m}", endpoint.url);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("easel-remote-grpc")
            .enable_all()
            .build()
            .map_err(|e| bad(format!("no async runtime: {e}")))?;
        let mut channel = tonic::transport::Endpoint::from_shared(endpoint.base.clone())
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .tcp_nodelay(true);
        if endpoint.tls {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
            if let Some(pem) = &endpoint.ca_pem {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            channel = channel
                .tls_config(tls)
                .map_err(|e| bad(format!("TLS: {e}")))?;
        }
        let channel = {
            let _inside = runtime.enter();
            channel.connect_lazy()
        };
        let client = GrpcInferenceServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(Grpc {
            endpoint,
            runtime,
            client,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = &self.endpoint.token {
            if let Ok(mut value) =
                tonic::metadata::MetadataValue::try_from(format!("Bearer {}", token.expose()))
            {
                value.set_sensitive(true);
                request.metadata_mut().insert("authorization", value);
            }
        }
        request
    }

    /// Refused or failed connections mean the request was not sent; an UNAVAILABLE status the
    /// server itself sent means it did not run it; anything else may have run.
    fn classify(&self, status: tonic::Status) -> CallError {
        let message = self
            .endpoint
            .redact(&format!("{:?}: {}", status.code(), status.message()));
        if not_sent(&status) {
            return CallError::NotSent(message);
        }
        use tonic::Code;
        match status.code() {
            Code::Unavailable if std::error::Error::source(&status).is_none() => {
                CallError::Unavailable(message)
            }
            Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Unauthenticated
            | Code::PermissionDenied => CallError::Rejected(message),
            _ => CallError::Failed(message),
        }
    }

    fn call<F, R>(&self, f: F) -> Result<R, CallError>
    where
        F: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        self.runtime
            .block_on(f)
            .map(tonic::Response::into_inner)
            .map_err(|s| self.classify(s))
    }
}

/// Whether a status comes from a connection that was never made.
fn not_sent(status: &tonic::Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            ) {
                return true;
            }
        }
        let text = e.to_string();
        if text.contains("tcp connect error")
            || text.contains("error trying to connect")
            || text.contains("dns error")
        {
            return true;
        }
        source = e.source();
    }
    let text = status.message();
    text.contains("tcp connect error") || text.contains("error trying to connect")
}

impl Transport for Grpc {
    fn server_ready(&self) -> Result<bool, CallError> {
        let mut client = self.client.clone();
        let request = self.request(pb::ServerReadyRequest {});
        self.call(client.server_ready(request)).map(|r| r.ready)
    }

    fn model_ready(&self, model: &str) -> Result<bool, CallError> {
        let mut client = self.client.clone();
        let request = self.request(pb::ModelReadyRequest {
            name: model.to_string(),
            version: String::new(),
        });
        match self.call(client.model_ready(request)) {
            Ok(r) => Ok(r.ready),
            // Triton answers an unknown model with an error, not `ready: false`.
            Err(CallError::Rejected(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn metadata(&self, model: &str) -> Result<ServerModel, CallError> {
        let mut client = self.client.clone();
        let request = self.request(pb::ModelMetadataRequest {
            name: model.to_string(),
            version: String::new(),
        });
        let m = self.call(client.model_metadata(request))?;
        let tensors = |t: Vec<pb::model_metadata_response::TensorMetadata>| {
            t.into_iter()
                .map(|t| ServerTensor {
                    name: t.name,
                    datatype: t.datatype,
                    shape: Some(t.shape),
                })
                .collect()
        };
        Ok(ServerModel {
            inputs: tensors(m.inputs),
            outputs: tensors(m.outputs),
        })
    }

    fn infer(
        self: Arc<Self>,
        model: &str,
        inputs: Vec<WireInput>,
        outputs: &[String],
        cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, CallError> {
        let mut tensors = Vec::with_capacity(inputs.len());
        let mut raw = Vec::with_capacity(inputs.len());
        for input in inputs {
            raw.push(wire::to_raw(&input.datatype, &input.data).map_err(CallError::Rejected)?);
            tensors.push(InferInputTensor {
                name: input.name,
                datatype: input.datatype,
                shape: input.shape,
                parameters: Default::default(),
                contents: None,
            });
        }
        let request = self.request(pb::ModelInferRequest {
            model_name: model.to_string(),
            model_version: String::new(),
            id: String::new(),
            parameters: Default::default(),
            inputs: tensors,
            outputs: outputs
                .iter()
                .map(|name| InferRequestedOutputTensor {
                    name: name.clone(),
                    parameters: Default::default(),
                })
                .collect(),
            raw_input_contents: raw,
        });
        let mut client = self.client.clone();
        let answer = self.runtime.block_on(async {
            let call = client.model_infer(request);
            tokio::pin!(call);
            loop {
                tokio::select! {
                    result = &mut call => return Some(result),
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {
                        if cancel.load(Ordering::Relaxed) {
                            // Dropping the call resets its stream: the server is told.
                            return None;
                        }
                    }
                }
            }
        });
        let response = match answer {
            None => return Err(CallError::Cancelled),
            Some(r) => r.map_err(|s| self.classify(s))?.into_inner(),
        };
        let bad = |m: String| CallError::Failed(format!("the server's answer: {m}"));
        let mut result = Vec::with_capacity(response.outputs.len());
        for (i, o) in response.outputs.into_iter().enumerate() {
            let data = match response.raw_output_contents.get(i) {
                Some(raw) => wire::from_raw(&o.datatype, raw).map_err(bad)?,
                None => typed_contents(o.contents.unwrap_or_default()),
            };
            let expected: i64 = o.shape.iter().product();
            if expected < 0 || expected as usize != data.len() {
                return Err(bad(format!(
                    "output `{}` has {} values for shape {:?}",
                    o.name,
                    data.len(),
                    o.shape
                )));
            }
            result.push(Tensor::new(&o.name, &o.shape, data));
        }
        Ok(result)
    }
}

/// Values from typed contents (servers that answer without raw contents).
fn typed_contents(c: pb::InferTensorContents) -> Vec<f32> {
    if !c.fp32_contents.is_empty() {
        return c.fp32_contents;
    }
    let mut out: Vec<f32> = c.fp64_contents.iter().map(|&x| x as f32).collect();
    out.extend(c.int_contents.iter().map(|&x| x as f32));
    out.extend(c.int64_contents.iter().map(|&x| x as f32));
    out.extend(c.uint_contents.iter().map(|&x| x as f32));
    out.extend(c.uint64_contents.iter().map(|&x| x as f32));
    out.extend(c.bool_contents.iter().map(|&x| if x { 1.0 } else { 0.0 }));
    out
}

//! `easel models triton-repo DIR`: a Triton Inference Server model repository for the store's
//! models — one folder per model id with `config.pbtxt` (the model's tensor names, types and
//! shapes; dynamic batching where the model allows it) and `1/` holding the model file, for
//! Triton's onnxruntime backend, or with `--python-backend` for its python backend (a
//! `model.py` that runs ONNX Runtime).

use crate::error::CliError;
use easel_models::{Backend, ModelEntry, ModelStore, OnnxRuntime, Port};
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Requests Triton may gather into one batch.
const MAX_BATCH: u32 = 8;

#[derive(clap::Args, Debug)]
pub struct TritonRepoArgs {
    /// The repository folder (created; model folders in it are replaced).
    pub dir: PathBuf,
    /// For Triton's python backend (a model.py running ONNX Runtime) instead of onnxruntime.
    #[arg(long = "python-backend")]
    pub python_backend: bool,
    /// Only these models (default: every model whose file is here).
    #[arg(long = "model")]
    pub models: Vec<String>,
}

/// One model as Triton is told about it.
struct TritonModel {
    id: String,
    file_name: String,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    /// The leading dimension is the batch: Triton's `max_batch_size` and `dims` without it.
    batch: Batching,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batching {
    /// Shapes as they are; no batching.
    None,
    /// The model's first dimension is free: Triton batches, the model runs batches.
    Free,
    /// The first dimension is 1 (python backend only): Triton queues and gathers requests,
    /// model.py runs them one at a time.
    One,
}

/// Writes the repository; prints (or returns as JSON) what was written.
pub fn triton_repo(
    store: &ModelStore,
    args: &TritonRepoArgs,
    json_out: bool,
) -> Result<(), CliError> {
    let entries: Vec<ModelEntry> = if args.models.is_empty() {
        store
            .entries()
            .into_iter()
            .filter(|e| e.path.is_some())
            .collect()
    } else {
        args.models
            .iter()
            .map(|id| store.entry(id).map_err(|e| CliError::Model(e.to_string())))
            .collect::<Result<_, _>>()?
    };
    if entries.is_empty() {
        return Err(CliError::Model(
            "no model file is here to export: `easel models fetch --defaults` gets some".into(),
        ));
    }
    let ort = OnnxRuntime::new(store.config().onnxruntime.clone(), 1);
    std::fs::create_dir_all(&args.dir).map_err(|e| io(&args.dir, e))?;
    let mut written = Vec::new();
    for entry in &entries {
        let path = store
            .verify(&entry.id)
            .map_err(|e| CliError::Model(e.to_string()))?;
        let loaded = ort
            .load(&entry.id, &path)
            .map_err(|e| CliError::Model(e.to_string()))?;
        let outputs: Vec<Port> = if entry.outputs.is_empty() {
            loaded.outputs().to_vec()
        } else {
            // Only the declared outputs (e.g. isnet's `output`, not its 11 side outputs).
            loaded
                .outputs()
                .iter()
                .filter(|p| entry.outputs.iter().any(|d| d.name == p.name))
                .cloned()
                .collect()
        };
        let inputs = loaded.inputs().to_vec();
        let extension = if path.extension().is_some_and(|e| e == "ort") {
            "ort"
        } else {
            "onnx"
        };
        let model = TritonModel {
            id: entry.id.clone(),
            file_name: format!("model.{extension}"),
            batch: batching(&inputs, &outputs, args.python_backend),
            inputs,
            outputs,
        };
        let folder = args.dir.join(&model.id);
        if folder.exists() {
            std::fs::remove_dir_all(&folder).map_err(|e| io(&folder, e))?;
        }
        let version = folder.join("1");
        std::fs::create_dir_all(&version).map_err(|e| io(&version, e))?;
        let config = config_pbtxt(&model, args.python_backend)?;
        write(&folder.join("config.pbtxt"), config.as_bytes())?;
        let target = version.join(&model.file_name);
        std::fs::copy(&path, &target).map_err(|e| io(&target, e))?;
        if args.python_backend {
            write(&version.join("model.py"), model_py(&model).as_bytes())?;
        }
        if !json_out {
            println!(
                "{}: {} ({})",
                model.id,
                folder.display(),
                match model.batch {
                    Batching::None => "no batching: fixed batch size".to_string(),
                    Batching::Free => format!("dynamic batching up to {MAX_BATCH}"),
                    Batching::One => format!("dynamic batching up to {MAX_BATCH}, run one by one"),
                }
            );
        }
        written.push(json!({"id": model.id, "folder": folder, "batching": format!("{:?}", model.batch).to_lowercase()}));
    }
    let serve = format!("tritonserver --model-repository={}", args.dir.display());
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"models": written, "serve": serve}))
                .unwrap_or_default()
        );
    } else {
        println!("serve it with: {serve}");
    }
    Ok(())
}

fn batching(inputs: &[Port], outputs: &[Port], python: bool) -> Batching {
    let all = |f: &dyn Fn(i64) -> bool| {
        inputs
            .iter()
            .chain(outputs)
            .all(|p| p.shape.first().is_some_and(|&d| f(d)) && p.shape.len() > 1)
    };
    if all(&|d| d < 0) {
        Batching::Free
    } else if python && all(&|d| d == 1 || d < 0) {
        Batching::One
    } else {
        Batching::None
    }
}

/// Triton's name of an element type as ONNX Runtime names it.
fn triton_type(element: Option<&str>) -> Option<&'static str> {
    Some(match element? {
        "float32" => "TYPE_FP32",
        "float16" => "TYPE_FP16",
        "float64" => "TYPE_FP64",
        "uint8" => "TYPE_UINT8",
        "int8" => "TYPE_INT8",
        "uint16" => "TYPE_UINT16",
        "int16" => "TYPE_INT16",
        "uint32" => "TYPE_UINT32",
        "int32" => "TYPE_INT32",
        "uint64" => "TYPE_UINT64",
        "int64" => "TYPE_INT64",
        "bool" => "TYPE_BOOL",
        _ => return None,
    })
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn config_pbtxt(model: &TritonModel, python: bool) -> Result<String, CliError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `easel models triton-repo` from Easel's model manifest."
    );
    let _ = writeln!(out, "name: {}", quoted(&model.id));
    if python {
        let _ = writeln!(out, "backend: \"python\"");
    } else {
        let _ = writeln!(out, "backend: \"onnxruntime\"");
        let _ = writeln!(out, "default_model_filename: {}", quoted(&model.file_name));
    }
    let batched = model.batch != Batching::None;
    let _ = writeln!(
        out,
        "max_batch_size: {}",
        if batched { MAX_BATCH } else { 0 }
    );
    for (key, ports) in [("input", &model.inputs), ("output", &model.outputs)] {
        let _ = writeln!(out, "{key} [");
        for (i, p) in ports.iter().enumerate() {
            let ty = triton_type(p.element.as_deref()).ok_or_else(|| {
                CliError::Model(format!(
                    "model `{}`: {key} `{}` holds {} values, which Triton's config cannot name",
                    model.id,
                    p.name,
                    p.element.as_deref().unwrap_or("non-tensor")
                ))
            })?;
            let dims: &[i64] = if batched { &p.shape[1..] } else { &p.shape };
            let dims = dims
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let comma = if i + 1 < ports.len() { "," } else { "" };
            let _ = writeln!(
                out,
                "  {{ name: {} data_type: {ty} dims: [ {dims} ] }}{comma}",
                quoted(&p.name)
            );
        }
        let _ = writeln!(out, "]");
    }
    if batched {
        let _ = writeln!(
            out,
            "dynamic_batching {{ max_queue_delay_microseconds: 2000 }}"
        );
    }
    if python {
        let _ = writeln!(out, "instance_group [ {{ kind: KIND_CPU count: 1 }} ]");
    }
    Ok(out)
}

fn model_py(model: &TritonModel) -> String {
    MODEL_PY.replace("@MODEL_FILE@", &model.file_name).replace(
        "@FREE_BATCH@",
        if model.batch == Batching::Free {
            "True"
        } else {
            "False"
        },
    )
}

const MODEL_PY: &str = r#"# Written by `easel models triton-repo --python-backend`: runs the model file next to it with
# ONNX Runtime inside Triton's python backend. Requests Triton gathers into one batch run as one
# ONNX Runtime call when the model's batch dimension is free, else one by one.
import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

MODEL_FILE = "@MODEL_FILE@"
FREE_BATCH = @FREE_BATCH@


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        threads = int(os.environ.get("EASEL_TRITON_THREADS", "0"))
        if threads > 0:
            options.intra_op_num_threads = threads
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(os.path.join(folder, MODEL_FILE), options,
                                            providers=providers)
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]

    def execute(self, requests):
        feeds = []
        for request in requests:
            feeds.append({name: pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                          for name in self.inputs})
        try:
            if FREE_BATCH and len(feeds) > 1:
                sizes = [f[self.inputs[0]].shape[0] for f in feeds]
                joined = {n: np.concatenate([f[n] for f in feeds]) for n in self.inputs}
                outs = self.session.run(self.outputs, joined)
                results, start = [], 0
                for size in sizes:
                    results.append([o[start:start + size] for o in outs])
                    start += size
            else:
                results = [self.session.run(self.outputs, f) for f in feeds]
        except Exception as e:  # the client gets the reason
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(str(e)))
                    for _ in requests]
        return [pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor(n, np.ascontiguousarray(o)) for n, o in zip(self.outputs, r)])
            for r in results]

    def finalize(self):
        self.session = None
"#;

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| io(path, e))
}

fn io(path: &Path, e: std::io::Error) -> CliError {
    CliError::Other(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, element: &str, shape: &[i64]) -> Port {
        Port {
            name: name.into(),
            shape: shape.to_vec(),
            element: Some(element.into()),
        }
    }

    #[test]
    fn a_fixed_model_gets_its_shapes_and_no_batching() {
        let model = TritonModel {
            id: "u2netp".into(),
            file_name: "model.onnx".into(),
            inputs: vec![port("input.1", "float32", &[1, 3, 320, 320])],
            outputs: vec![port("1959", "float32", &[1, 1, 320, 320])],
            batch: Batching::None,
        };
        let text = config_pbtxt(&model, false).unwrap();
        assert!(text.contains("backend: \"onnxruntime\""), "{text}");
        assert!(text.contains("max_batch_size: 0"), "{text}");
        assert!(
            text.contains("{ name: \"input.1\" data_type: TYPE_FP32 dims: [ 1, 3, 320, 320 ] }"),
            "{text}"
        );
        assert!(!text.contains("dynamic_batching"), "{text}");
    }

    #[test]
    fn a_free_batch_dimension_gets_dynamic_batching() {
        let inputs = vec![port("pixel_values", "float32", &[-1, 3, -1, -1])];
        let outputs = vec![port("reconstruction", "float16", &[-1, 3, -1, -1])];
        assert_eq!(batching(&inputs, &outputs, false), Batching::Free);
        let model = TritonModel {
            id: "swin2sr-x2".into(),
            file_name: "model.ort".into(),
            inputs,
            outputs,
            batch: Batching::Free,
        };
        let text = config_pbtxt(&model, true).unwrap();
        assert!(text.contains("max_batch_size: 8"), "{text}");
        assert!(text.contains("dims: [ 3, -1, -1 ]"), "{text}");
        assert!(
            text.contains("TYPE_FP16") && text.contains("dynamic_batching"),
            "{text}"
        );
        assert!(text.contains("backend: \"python\""), "{text}");
        let py = model_py(&model);
        assert!(py.contains("MODEL_FILE = \"model.ort\"") && py.contains("FREE_BATCH = True"));
        // Batch 1 is a batch dimension only where model.py runs requests one by one.
        let one = [port("x", "float32", &[1, 3, 8, 8])];
        assert_eq!(batching(&one, &one, true), Batching::One);
        assert_eq!(batching(&one, &one, false), Batching::None);
        let unknown = TritonModel {
            inputs: vec![port("s", "string", &[1])],
            ..model
        };
        assert!(config_pbtxt(&unknown, false).is_err());
    }
}

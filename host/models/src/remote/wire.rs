//! Tensor data on the Open Inference Protocol: f32 to and from the datatypes a server declares
//! ("FP32", "FP16", "UINT8", ...), as raw little-endian bytes (gRPC raw contents, REST binary
//! extension) or JSON numbers (REST JSON), and the checks of a server's metadata against the
//! manifest.

use crate::TensorDecl;

/// One input or output as a server's metadata declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerTensor {
    pub name: String,
    pub datatype: String,
    /// `None` when the server declares no shape (MLServer without model settings).
    pub shape: Option<Vec<i64>>,
}

/// A model's metadata as a server reports it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerModel {
    pub inputs: Vec<ServerTensor>,
    pub outputs: Vec<ServerTensor>,
}

/// Bytes per element of a datatype the store can convert, `None` for others.
pub(crate) fn element_size(datatype: &str) -> Option<usize> {
    Some(match datatype {
        "BOOL" | "UINT8" | "INT8" => 1,
        "FP16" | "UINT16" | "INT16" => 2,
        "FP32" | "UINT32" | "INT32" => 4,
        "FP64" | "UINT64" | "INT64" => 8,
        _ => return None,
    })
}

/// f32 values as raw little-endian bytes of `datatype` (rounded and clamped for integers, like
/// the ONNX Runtime backend does).
pub(crate) fn to_raw(datatype: &str, data: &[f32]) -> Result<Vec<u8>, String> {
    let size = element_size(datatype).ok_or_else(|| unsupported(datatype))?;
    let mut out = Vec::with_capacity(data.len() * size);
    macro_rules! put {
        ($f:expr) => {
            for &x in data {
                out.extend_from_slice(&$f(x).to_le_bytes());
            }
        };
    }
    match datatype {
        "FP32" => put!(|x: f32| x),
        "FP64" => put!(f64::from),
        "FP16" => put!(|x: f32| half::f16::from_f32(x).to_bits()),
        "UINT8" => put!(|x: f32| x.round().clamp(0.0, 255.0) as u8),
        "INT8" => put!(|x: f32| x.round().clamp(-128.0, 127.0) as i8),
        "UINT16" => put!(|x: f32| x.round().clamp(0.0, 65535.0) as u16),
        "INT16" => put!(|x: f32| x.round().clamp(-32768.0, 32767.0) as i16),
        "UINT32" => put!(|x: f32| x.round().max(0.0) as u32),
        "INT32" => put!(|x: f32| x.round() as i32),
        "UINT64" => put!(|x: f32| x.round().max(0.0) as u64),
        "INT64" => put!(|x: f32| x.round() as i64),
        "BOOL" => put!(|x: f32| u8::from(x != 0.0)),
        _ => return Err(unsupported(datatype)),
    }
    Ok(out)
}

/// Raw little-endian bytes of `datatype` as f32 values.
pub(crate) fn from_raw(datatype: &str, raw: &[u8]) -> Result<Vec<f32>, String> {
    let size = element_size(datatype).ok_or_else(|| unsupported(datatype))?;
    if !raw.len().is_multiple_of(size) {
        return Err(format!(
            "{} bytes are not a whole number of {datatype} values",
            raw.len()
        ));
    }
    macro_rules! get {
        ($t:ty, $f:expr) => {
            raw.chunks_exact(size)
                .map(|c| {
                    let mut b = [0u8; std::mem::size_of::<$t>()];
                    b.copy_from_slice(c);
                    $f(<$t>::from_le_bytes(b))
                })
                .collect()
        };
    }
    Ok(match datatype {
        "FP32" => get!(f32, |x| x),
        "FP64" => get!(f64, |x| x as f32),
        "FP16" => get!(u16, |x| half::f16::from_bits(x).to_f32()),
        "UINT8" => get!(u8, f32::from),
        "INT8" => get!(i8, f32::from),
        "UINT16" => get!(u16, f32::from),
        "INT16" => get!(i16, f32::from),
        "UINT32" => get!(u32, |x| x as f32),
        "INT32" => get!(i32, |x| x as f32),
        "UINT64" => get!(u64, |x| x as f32),
        "INT64" => get!(i64, |x| x as f32),
        "BOOL" => get!(u8, |x| if x != 0 { 1.0 } else { 0.0 }),
        _ => return Err(unsupported(datatype)),
    })
}

/// f32 values as JSON numbers of `datatype` (integers rounded, booleans as true/false).
pub(crate) fn to_json(datatype: &str, data: &[f32]) -> Result<Vec<serde_json::Value>, String> {
    use serde_json::Value;
    let int = |x: f32| Value::from(x.round() as i64);
    Ok(match datatype {
        "FP32" | "FP64" => data.iter().map(|&x| Value::from(f64::from(x))).collect(),
        "UINT8" => data
            .iter()
            .map(|&x| int(x.round().clamp(0.0, 255.0)))
            .collect(),
        "INT8" | "UINT16" | "INT16" | "UINT32" | "INT32" | "UINT64" | "INT64" => {
            data.iter().map(|&x| int(x)).collect()
        }
        "BOOL" => data.iter().map(|&x| Value::from(x != 0.0)).collect(),
        "FP16" => {
            return Err(
                "FP16 tensors cannot travel as JSON; use protocol \"grpc\" or \"rest\"".into(),
            )
        }
        _ => return Err(unsupported(datatype)),
    })
}

/// JSON `data` (flat or nested) as f32 values.
pub(crate) fn from_json(data: &serde_json::Value) -> Result<Vec<f32>, String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<f32>) -> Result<(), String> {
        match v {
            serde_json::Value::Array(items) => items.iter().try_for_each(|i| walk(i, out)),
            serde_json::Value::Number(n) => {
                out.push(n.as_f64().ok_or("a number out of range")? as f32);
                Ok(())
            }
            serde_json::Value::Bool(b) => {
                out.push(if *b { 1.0 } else { 0.0 });
                Ok(())
            }
            other => Err(format!("a tensor value that is not a number: {other}")),
        }
    }
    let mut out = Vec::new();
    walk(data, &mut out)?;
    Ok(out)
}

fn unsupported(datatype: &str) -> String {
    format!("the store cannot convert {datatype} tensors to or from f32")
}

/// Checks a server's metadata of a model against the manifest's declaration: every declared
/// tensor exists with the same rank and compatible sizes (a free size on either side matches),
/// every server input is declared, and every datatype can be converted. The message names
/// both sides.
pub(crate) fn check_metadata(
    declared_inputs: &[TensorDecl],
    declared_outputs: &[TensorDecl],
    server: &ServerModel,
) -> Result<(), String> {
    let check = |what: &str, decl: &[TensorDecl], served: &[ServerTensor]| {
        for d in decl {
            let Some(s) = served.iter().find(|s| s.name == d.name) else {
                return Err(format!(
                    "it has no {what} `{}` (the server's {what}s are {}); the manifest declares \
                     {what} `{}` {:?}",
                    d.name,
                    describe(served),
                    d.name,
                    d.shape
                ));
            };
            if element_size(&s.datatype).is_none() {
                return Err(format!(
                    "its {what} `{}` is {}, which the store cannot convert",
                    s.name, s.datatype
                ));
            }
            if let Some(shape) = &s.shape {
                let fits = shape.len() == d.shape.len()
                    && shape
                        .iter()
                        .zip(&d.shape)
                        .all(|(&a, &b)| a < 0 || b < 0 || a == b);
                if !fits {
                    return Err(format!(
                        "its {what} `{}` has shape {shape:?} but the manifest declares {:?} \
                         (-1 = any size): the server runs a different model",
                        s.name, d.shape
                    ));
                }
            }
        }
        Ok(())
    };
    check("input", declared_inputs, &server.inputs)?;
    check("output", declared_outputs, &server.outputs)?;
    if !declared_inputs.is_empty() {
        if let Some(extra) = server
            .inputs
            .iter()
            .find(|s| !declared_inputs.iter().any(|d| d.name == s.name))
        {
            return Err(format!(
                "it takes input `{}`, which the manifest does not declare",
                extra.name
            ));
        }
    }
    Ok(())
}

/// Checks one plugin tensor against its declaration (rank, fixed sizes, element count).
pub(crate) fn check_input(tensor: &easel_sdk::Tensor, decl: &TensorDecl) -> Result<(), String> {
    let name = &decl.name;
    let shape: &[i64] = &tensor.shape;
    let fits = shape.len() == decl.shape.len()
        && shape
            .iter()
            .zip(&decl.shape)
            .all(|(&got, &want)| got >= 0 && (want < 0 || got == want));
    if !fits {
        return Err(format!(
            "input `{name}` has shape {shape:?} but the model expects {:?} (-1 = any size)",
            decl.shape
        ));
    }
    let elements = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize));
    if elements != Some(tensor.data.len()) {
        return Err(format!(
            "input `{name}` has {} values but its shape {shape:?} needs {}",
            tensor.data.len(),
            elements.map_or_else(|| "too many".to_string(), |n| n.to_string())
        ));
    }
    Ok(())
}

fn describe(tensors: &[ServerTensor]) -> String {
    if tensors.is_empty() {
        return "none".into();
    }
    tensors
        .iter()
        .map(|t| match &t.shape {
            Some(s) => format!("`{}` {} {s:?}", t.name, t.datatype),
            None => format!("`{}` {}", t.name, t.datatype),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trips_every_datatype() {
        let data = [0.0f32, 1.0, 2.5, 255.0, -3.0];
        for dt in [
            "FP32", "FP64", "FP16", "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32",
            "UINT64", "INT64", "BOOL",
        ] {
            let raw = to_raw(dt, &data).unwrap();
            assert_eq!(raw.len(), data.len() * element_size(dt).unwrap(), "{dt}");
            let back = from_raw(dt, &raw).unwrap();
            assert_eq!(back.len(), data.len(), "{dt}");
            match dt {
                "FP32" | "FP64" | "FP16" | "INT16" | "INT32" | "INT64" => {
                    assert_eq!(
                        back[2],
                        if dt.starts_with("FP") { 2.5 } else { 3.0 },
                        "{dt}"
                    );
                    assert_eq!(back[4], -3.0, "{dt}");
                }
                "UINT8" | "UINT16" | "UINT32" | "UINT64" => assert_eq!(back[4], 0.0, "{dt}"),
                "BOOL" => assert_eq!(back, [0.0, 1.0, 1.0, 1.0, 1.0]),
                _ => {}
            }
        }
        assert!(to_raw("BYTES", &data).is_err());
        assert!(from_raw("FP32", &[0u8; 3]).is_err());
    }

    #[test]
    fn json_flattens_nested_arrays() {
        let v = serde_json::json!([[1, 2.5], [true, -1]]);
        assert_eq!(from_json(&v).unwrap(), [1.0, 2.5, 1.0, -1.0]);
        assert!(from_json(&serde_json::json!(["x"])).is_err());
        assert!(to_json("FP16", &[1.0]).is_err());
    }

    fn decl(name: &str, shape: &[i64]) -> TensorDecl {
        TensorDecl {
            name: name.into(),
            shape: shape.to_vec(),
        }
    }

    fn served(name: &str, shape: &[i64]) -> ServerTensor {
        ServerTensor {
            name: name.into(),
            datatype: "FP32".into(),
            shape: Some(shape.to_vec()),
        }
    }

    #[test]
    fn metadata_is_compared_with_the_manifest() {
        let inputs = [decl("input.1", &[1, 3, 320, 320])];
        let outputs = [decl("1959", &[1, 1, 320, 320])];
        let ok = ServerModel {
            // A batching server reports the batch dimension as free.
            inputs: vec![served("input.1", &[-1, 3, 320, 320])],
            outputs: vec![served("1959", &[-1, 1, 320, 320]), served("side", &[1])],
        };
        check_metadata(&inputs, &outputs, &ok).unwrap();
        let wrong = ServerModel {
            inputs: vec![served("input.1", &[1, 3, 256, 256])],
            outputs: ok.outputs.clone(),
        };
        let e = check_metadata(&inputs, &outputs, &wrong).unwrap_err();
        assert!(
            e.contains("[1, 3, 256, 256]") && e.contains("input.1"),
            "{e}"
        );
        let renamed = ServerModel {
            inputs: vec![served("x", &[1, 3, 320, 320])],
            outputs: ok.outputs.clone(),
        };
        let e = check_metadata(&inputs, &outputs, &renamed).unwrap_err();
        assert!(e.contains("no input `input.1`") && e.contains("`x`"), "{e}");
    }
}

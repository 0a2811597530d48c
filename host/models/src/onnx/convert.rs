//! Checking plugin tensors against a session's inputs, and converting between SDK f32 tensors and
//! ORT values of the element types models use.

use ort::memory::Allocator;
use ort::session::Session;
use ort::value::{DynTensor, DynTensorValueType, DynValue, Tensor, TensorElementType, ValueType};

/// One input or output of a loaded session.
#[derive(Debug, Clone)]
pub(crate) struct Port {
    pub name: String,
    /// `None` for a value that is not a tensor (a sequence or map).
    pub ty: Option<TensorElementType>,
    /// -1 for free dimensions.
    pub shape: Vec<i64>,
}

impl Port {
    fn from_outlet(outlet: &ort::value::Outlet) -> Port {
        match outlet.dtype() {
            ValueType::Tensor { ty, shape, .. } => Port {
                name: outlet.name().to_string(),
                ty: Some(*ty),
                shape: shape.iter().copied().collect(),
            },
            _ => Port {
                name: outlet.name().to_string(),
                ty: None,
                shape: Vec::new(),
            },
        }
    }

    pub fn describe(&self) -> String {
        format!("`{}` {:?}", self.name, self.shape)
    }

    /// The backend-independent description of this port.
    pub fn public(&self) -> crate::Port {
        crate::Port {
            name: self.name.clone(),
            shape: self.shape.clone(),
            element: self.ty.map(|t| format!("{t:?}").to_lowercase()),
        }
    }
}

pub(crate) fn ports(session: &Session) -> (Vec<Port>, Vec<Port>) {
    (
        session.inputs().iter().map(Port::from_outlet).collect(),
        session.outputs().iter().map(Port::from_outlet).collect(),
    )
}

pub(crate) fn describe_all(ports: &[Port]) -> String {
    ports
        .iter()
        .map(Port::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks one plugin tensor against the session input it names; the message says what is wrong.
pub(crate) fn check_input(tensor: &easel_sdk::Tensor, port: &Port) -> Result<(), String> {
    let name = &port.name;
    let shape: &[i64] = &tensor.shape;
    if shape.len() != port.shape.len() {
        return Err(format!(
            "input `{name}` has rank {} (shape {shape:?}) but the model expects rank {} \
             (shape {:?}, -1 = any size)",
            shape.len(),
            port.shape.len(),
            port.shape
        ));
    }
    if shape.iter().any(|&d| d < 0) {
        return Err(format!(
            "input `{name}` has a negative size in its shape {shape:?}"
        ));
    }
    if shape
        .iter()
        .zip(&port.shape)
        .any(|(&got, &want)| want >= 0 && got != want)
    {
        return Err(format!(
            "input `{name}` has shape {shape:?} but the model expects {:?} (-1 = any size)",
            port.shape
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

/// Makes the ORT value for a checked input, converting f32 to the element type the model takes.
pub(crate) fn to_value(tensor: easel_sdk::Tensor, port: &Port) -> Result<DynValue, ConvertError> {
    let shape: Vec<i64> = tensor.shape.to_vec();
    let data = tensor.data.into_vec();
    let value = match port.ty {
        Some(TensorElementType::Float32) => Tensor::from_array((shape, data))?.into_dyn(),
        Some(TensorElementType::Float64) => {
            let v: Vec<f64> = data.into_iter().map(f64::from).collect();
            Tensor::from_array((shape, v))?.into_dyn()
        }
        Some(TensorElementType::Float16) => {
            let mut t = DynTensor::new(&Allocator::default(), TensorElementType::Float16, shape)?;
            let ptr = t.data_ptr_mut().cast::<u16>();
            if !ptr.is_null() {
                // SAFETY: a CPU tensor just allocated by ORT for exactly data.len() f16 values
                // (check_input matched the shape to the data), and nothing else refers to it.
                let out = unsafe { std::slice::from_raw_parts_mut(ptr, data.len()) };
                for (o, &x) in out.iter_mut().zip(&data) {
                    *o = f32_to_f16(x);
                }
            }
            t.into_dyn()
        }
        Some(TensorElementType::Uint8) => {
            let v: Vec<u8> = data
                .iter()
                .map(|&x| x.round().clamp(0.0, 255.0) as u8)
                .collect();
            Tensor::from_array((shape, v))?.into_dyn()
        }
        Some(TensorElementType::Int32) => {
            let v: Vec<i32> = data.iter().map(|&x| x.round() as i32).collect();
            Tensor::from_array((shape, v))?.into_dyn()
        }
        Some(TensorElementType::Int64) => {
            let v: Vec<i64> = data.iter().map(|&x| x.round() as i64).collect();
            Tensor::from_array((shape, v))?.into_dyn()
        }
        other => {
            return Err(ConvertError::Unsupported(format!(
                "input `{}` takes {} values, which the store cannot make from f32",
                port.name,
                other.map_or_else(|| "non-tensor".to_string(), |t| format!("{t:?}"))
            )))
        }
    };
    Ok(value)
}

/// Converts one output to an f32 SDK tensor.
pub(crate) fn to_tensor(name: &str, value: DynValue) -> Result<easel_sdk::Tensor, ConvertError> {
    let ty = match value.dtype() {
        ValueType::Tensor { ty, .. } => *ty,
        other => {
            return Err(ConvertError::Unsupported(format!(
                "output `{name}` is a {other}, not a tensor"
            )))
        }
    };
    macro_rules! cast {
        ($t:ty, $f:expr) => {{
            let (shape, data) = value.try_extract_tensor::<$t>()?;
            let shape: Vec<i64> = shape.iter().copied().collect();
            (shape, data.iter().map($f).collect::<Vec<f32>>())
        }};
    }
    let (shape, data) = match ty {
        TensorElementType::Float32 => {
            let (shape, data) = value.try_extract_tensor::<f32>()?;
            (shape.iter().copied().collect(), data.to_vec())
        }
        TensorElementType::Float16 => {
            let tensor = value.downcast::<DynTensorValueType>()?;
            let shape: Vec<i64> = tensor.shape().iter().copied().collect();
            let n = tensor.shape().num_elements();
            let ptr = tensor.data_ptr().cast::<u16>();
            let data = if n == 0 || ptr.is_null() {
                Vec::new()
            } else {
                // SAFETY: an f16 output of a CPU session holds `n` u16-sized values at `ptr`,
                // alive while `tensor` is.
                let raw = unsafe { std::slice::from_raw_parts(ptr, n) };
                raw.iter().map(|&h| f16_to_f32(h)).collect()
            };
            (shape, data)
        }
        TensorElementType::Float64 => cast!(f64, |&x| x as f32),
        TensorElementType::Uint8 => cast!(u8, |&x| f32::from(x)),
        TensorElementType::Int8 => cast!(i8, |&x| f32::from(x)),
        TensorElementType::Uint16 => cast!(u16, |&x| f32::from(x)),
        TensorElementType::Int16 => cast!(i16, |&x| f32::from(x)),
        TensorElementType::Int32 => cast!(i32, |&x| x as f32),
        TensorElementType::Uint32 => cast!(u32, |&x| x as f32),
        TensorElementType::Int64 => cast!(i64, |&x| x as f32),
        TensorElementType::Uint64 => cast!(u64, |&x| x as f32),
        TensorElementType::Bool => cast!(bool, |&x| if x { 1.0 } else { 0.0 }),
        other => {
            return Err(ConvertError::Unsupported(format!(
                "output `{name}` holds {other:?} values, which the store cannot turn into f32"
            )))
        }
    };
    Ok(easel_sdk::Tensor::new(name, &shape, data))
}

/// A conversion failure: ORT refused, or the element type has no f32 mapping.
#[derive(Debug)]
pub(crate) enum ConvertError {
    Ort(ort::Error),
    Unsupported(String),
}

impl From<ort::Error> for ConvertError {
    fn from(e: ort::Error) -> Self {
        ConvertError::Ort(e)
    }
}

/// IEEE 754 half to single precision (exact).
fn f16_to_f32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// Single to half precision, rounding to nearest even; overflow gives infinity.
fn f32_to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

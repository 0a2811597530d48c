//! The model store: a manifest of verified ONNX models, loaded through ort and kept resident.

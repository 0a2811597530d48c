//! Parameter values: the typed value of each parameter, checked against its declaration, with
//! errors that name the parameter and say what it takes.

use crate::error::{Code, ProtocolError};
use crate::ops::{OperationInfo, ParamInfo, ParamKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A parameter's value as the daemon hands it to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Choice(String),
    Seed(u64),
    Text(String),
}

/// A named value; a job carries every parameter of its operation, defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedParam {
    pub name: String,
    pub value: ParamValue,
}

fn invalid(msg: String) -> ProtocolError {
    ProtocolError::new(Code::InvalidParams, msg)
}

impl ParamInfo {
    pub fn default_value(&self) -> ParamValue {
        match &self.kind {
            ParamKind::Int { default, .. } => ParamValue::Int(*default),
            ParamKind::Float { default, .. } => ParamValue::Float(*default),
            ParamKind::Bool { default } => ParamValue::Bool(*default),
            ParamKind::Choice { default, .. } => ParamValue::Choice(default.clone()),
            ParamKind::Seed { default } => ParamValue::Seed(*default),
            ParamKind::Text { default, .. } => ParamValue::Text(default.clone()),
        }
    }

    /// What a value of this kind looks like, for error messages.
    fn wants(&self) -> String {
        match &self.kind {
            ParamKind::Int { min, max, .. } => format!("an integer in {min}..={max}"),
            ParamKind::Float { min, max, .. } => format!("a number in {min}..={max}"),
            ParamKind::Bool { .. } => "true or false".into(),
            ParamKind::Choice { options, .. } => format!("one of {}", options.join(", ")),
            ParamKind::Seed { .. } => "a non-negative integer seed".into(),
            ParamKind::Text { max_len, .. } => format!("a string of at most {max_len} characters"),
        }
    }

    /// A client's JSON value for this parameter, as a typed value in range.
    pub fn from_json(&self, value: &Value) -> Result<ParamValue, ProtocolError> {
        let name = &self.name;
        let wrong = || {
            invalid(format!(
                "parameter '{name}' takes {}, got {value}",
                self.wants()
            ))
        };
        let out_of_range = |v: &dyn std::fmt::Display, range: String| {
            invalid(format!("parameter '{name}' is {v}, outside {range}"))
        };
        match (&self.kind, value) {
            (ParamKind::Int { min, max, .. }, Value::Number(n)) => {
                let i = match n.as_i64() {
                    Some(i) => i,
                    None => match n.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
                        _ => return Err(wrong()),
                    },
                };
                if i < *min || i > *max {
                    return Err(out_of_range(&i, format!("{min}..={max}")));
                }
                Ok(ParamValue::Int(i))
            }
            (ParamKind::Float { min, max, .. }, Value::Number(n)) => {
                let f = n.as_f64().ok_or_else(wrong)?;
                if !f.is_finite() || f < *min || f > *max {
                    return Err(out_of_range(&f, format!("{min}..={max}")));
                }
                Ok(ParamValue::Float(f))
            }
            (ParamKind::Bool { .. }, Value::Bool(b)) => Ok(ParamValue::Bool(*b)),
            (ParamKind::Choice { options, .. }, Value::String(s)) => {
                if options.iter().any(|o| o == s) {
                    Ok(ParamValue::Choice(s.clone()))
                } else {
                    Err(invalid(format!(
                        "parameter '{name}' is '{s}', not one of {}",
                        options.join(", ")
                    )))
                }
            }
            (ParamKind::Seed { .. }, Value::Number(n)) => {
                n.as_u64().map(ParamValue::Seed).ok_or_else(wrong)
            }
            (ParamKind::Text { max_len, .. }, Value::String(s)) => {
                let chars = s.chars().count();
                if chars > *max_len as usize {
                    return Err(invalid(format!(
                        "parameter '{name}' is {chars} characters long, over its limit of {max_len}"
                    )));
                }
                Ok(ParamValue::Text(s.clone()))
            }
            _ => Err(wrong()),
        }
    }
}

/// Fills defaults and checks every parameter; unknown names are refused.
pub fn resolve_params(
    op: &OperationInfo,
    given: &BTreeMap<String, Value>,
) -> Result<Vec<ResolvedParam>, ProtocolError> {
    if let Some(name) = given
        .keys()
        .find(|name| !op.params.iter().any(|p| &p.name == *name))
    {
        let known: Vec<&str> = op.params.iter().map(|p| p.name.as_str()).collect();
        return Err(invalid(format!(
            "operation '{}' has no parameter '{name}'; it takes: {}",
            op.id,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    op.params
        .iter()
        .map(|spec| {
            let value = match given.get(&spec.name) {
                Some(v) => spec.from_json(v)?,
                None => spec.default_value(),
            };
            Ok(ResolvedParam {
                name: spec.name.clone(),
                value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MaskUse, OpFlag, PixelFormat};
    use serde_json::json;

    fn param(name: &str, kind: ParamKind) -> ParamInfo {
        ParamInfo {
            name: name.into(),
            title: name.into(),
            description: String::new(),
            kind,
            applies_when: None,
        }
    }

    pub(crate) fn sample() -> OperationInfo {
        OperationInfo {
            id: "x-op".into(),
            title: "X".into(),
            category: "Test".into(),
            description: "does x".into(),
            plugin: "p".into(),
            mask: MaskUse::Required,
            min_references: 0,
            max_references: 2,
            flags: vec![OpFlag::Tileable, OpFlag::CompositeThroughMask],
            working_format: PixelFormat::Rgba32F,
            output_scale: 2,
            models: vec!["m1".into()],
            params: vec![
                param(
                    "radius",
                    ParamKind::Int {
                        min: 1,
                        max: 64,
                        default: 8,
                    },
                ),
                param(
                    "strength",
                    ParamKind::Float {
                        min: 0.0,
                        max: 1.0,
                        default: 0.5,
                        step: 0.05,
                    },
                ),
                param("fast", ParamKind::Bool { default: true }),
                param(
                    "model",
                    ParamKind::Choice {
                        options: vec!["a".into(), "b".into()],
                        option_titles: vec!["A".into(), "B".into()],
                        default: "a".into(),
                    },
                ),
                param("seed", ParamKind::Seed { default: 0 }),
                param(
                    "prompt",
                    ParamKind::Text {
                        default: String::new(),
                        max_len: 10,
                        multiline: true,
                    },
                ),
            ],
        }
    }

    #[test]
    fn params_get_defaults_and_clear_errors() {
        let op = sample();
        let mut given = BTreeMap::new();
        given.insert("radius".to_string(), json!(3));
        let resolved = resolve_params(&op, &given).unwrap();
        assert_eq!(resolved[0].value, ParamValue::Int(3));
        assert_eq!(resolved[1].value, ParamValue::Float(0.5));
        given.insert("radius".to_string(), json!(100));
        let err = resolve_params(&op, &given).unwrap_err();
        assert_eq!(err.code, Code::InvalidParams);
        assert!(
            err.message.contains("radius") && err.message.contains("1..=64"),
            "{err}"
        );
        given.clear();
        given.insert("radiuss".to_string(), json!(1));
        let err = resolve_params(&op, &given).unwrap_err();
        assert!(err.message.contains("no parameter 'radiuss'"), "{err}");
        given.clear();
        given.insert("model".to_string(), json!(3));
        let err = resolve_params(&op, &given).unwrap_err();
        assert!(err.message.contains("'model' takes one of a, b"), "{err}");
        given.clear();
        given.insert("prompt".to_string(), json!("much too long"));
        let err = resolve_params(&op, &given).unwrap_err();
        assert!(err.message.contains("over its limit of 10"), "{err}");
        given.clear();
        given.insert("seed".to_string(), json!(-1));
        let err = resolve_params(&op, &given).unwrap_err();
        assert!(
            err.message.contains("'seed' takes a non-negative integer"),
            "{err}"
        );
    }

    #[test]
    fn descriptors_round_trip_through_json() {
        let op = sample();
        let v = serde_json::to_value(&op).unwrap();
        assert_eq!(v["params"][3]["kind"], "choice");
        assert_eq!(v["params"][3]["option_titles"][1], "B");
        assert_eq!(
            v["params"][4],
            json!({"name": "seed", "title": "seed", "description": "", "kind": "seed", "default": 0})
        );
        let back: OperationInfo = serde_json::from_value(v).unwrap();
        assert_eq!(back, op);
    }

    #[test]
    fn values_on_the_worker_wire_are_tagged() {
        let v = serde_json::to_value(ParamValue::Choice("a".into())).unwrap();
        assert_eq!(v, json!({"kind": "choice", "value": "a"}));
        let back: ParamValue = serde_json::from_value(v).unwrap();
        assert_eq!(back, ParamValue::Choice("a".into()));
    }
}

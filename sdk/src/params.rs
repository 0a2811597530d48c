//! The typed parameter schema an operation declares, and the values a job carries.

use crate::error::PluginError;
use abi_stable::{
    std_types::{RSlice, RString, RVec},
    StableAbi,
};

/// What kind of value a parameter takes, with its range and default.
#[repr(C, u8)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub enum ParamKind {
    Int {
        min: i64,
        max: i64,
        default: i64,
    },
    Float {
        min: f64,
        max: f64,
        default: f64,
        step: f64,
    },
    Bool {
        default: bool,
    },
    /// One of `options` (stable ids); `default` is one of them.
    Choice {
        options: RVec<RString>,
        default: RString,
    },
    /// A random seed; 0 asks the host to pick one.
    Seed,
}

/// One parameter of an operation, as adapters show it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Stable id used in requests (`snake_case`).
    pub name: RString,
    /// Short label for a form.
    pub title: RString,
    /// One-sentence help text.
    pub description: RString,
    pub kind: ParamKind,
}

impl ParamSpec {
    fn new(name: &str, title: &str, description: &str, kind: ParamKind) -> Self {
        ParamSpec {
            name: name.into(),
            title: title.into(),
            description: description.into(),
            kind,
        }
    }
    pub fn int(
        name: &str,
        title: &str,
        description: &str,
        min: i64,
        max: i64,
        default: i64,
    ) -> Self {
        Self::new(
            name,
            title,
            description,
            ParamKind::Int { min, max, default },
        )
    }
    pub fn float(
        name: &str,
        title: &str,
        description: &str,
        (min, max): (f64, f64),
        default: f64,
        step: f64,
    ) -> Self {
        Self::new(
            name,
            title,
            description,
            ParamKind::Float {
                min,
                max,
                default,
                step,
            },
        )
    }
    pub fn boolean(name: &str, title: &str, description: &str, default: bool) -> Self {
        Self::new(name, title, description, ParamKind::Bool { default })
    }
    pub fn choice(
        name: &str,
        title: &str,
        description: &str,
        options: &[&str],
        default: &str,
    ) -> Self {
        Self::new(
            name,
            title,
            description,
            ParamKind::Choice {
                options: options.iter().map(|o| RString::from(*o)).collect(),
                default: default.into(),
            },
        )
    }
    pub fn seed(name: &str, title: &str, description: &str) -> Self {
        Self::new(name, title, description, ParamKind::Seed)
    }

    /// The value used when a request leaves this parameter out.
    pub fn default_value(&self) -> ParamValue {
        match &self.kind {
            ParamKind::Int { default, .. } => ParamValue::Int(*default),
            ParamKind::Float { default, .. } => ParamValue::Float(*default),
            ParamKind::Bool { default } => ParamValue::Bool(*default),
            ParamKind::Choice { default, .. } => ParamValue::Choice(default.clone()),
            ParamKind::Seed => ParamValue::Seed(0),
        }
    }

    /// Checks a value against this parameter's kind and range; ints are accepted for floats.
    pub fn check(&self, value: &ParamValue) -> Result<ParamValue, PluginError> {
        let name = self.name.as_str();
        let wrong = |want: &str| {
            PluginError::invalid_input(format!("parameter '{name}' takes {want}, got {value:?}"))
        };
        match (&self.kind, value) {
            (ParamKind::Int { min, max, .. }, ParamValue::Int(v)) => {
                if v < min || v > max {
                    return Err(PluginError::invalid_input(format!(
                        "parameter '{name}' is {v}, outside {min}..={max}"
                    )));
                }
                Ok(value.clone())
            }
            (ParamKind::Float { min, max, .. }, ParamValue::Float(_) | ParamValue::Int(_)) => {
                let v = match value {
                    ParamValue::Float(f) => *f,
                    ParamValue::Int(i) => *i as f64,
                    _ => unreachable!(),
                };
                if !v.is_finite() || v < *min || v > *max {
                    return Err(PluginError::invalid_input(format!(
                        "parameter '{name}' is {v}, outside {min}..={max}"
                    )));
                }
                Ok(ParamValue::Float(v))
            }
            (ParamKind::Bool { .. }, ParamValue::Bool(_)) => Ok(value.clone()),
            (ParamKind::Choice { options, .. }, ParamValue::Choice(v)) => {
                if options.iter().any(|o| o == v) {
                    Ok(value.clone())
                } else {
                    let list: Vec<&str> = options.iter().map(|o| o.as_str()).collect();
                    Err(PluginError::invalid_input(format!(
                        "parameter '{name}' is '{v}', not one of {}",
                        list.join(", ")
                    )))
                }
            }
            (ParamKind::Seed, ParamValue::Seed(_)) => Ok(value.clone()),
            (ParamKind::Seed, ParamValue::Int(i)) if *i >= 0 => Ok(ParamValue::Seed(*i as u64)),
            (ParamKind::Int { .. }, _) => Err(wrong("an integer")),
            (ParamKind::Float { .. }, _) => Err(wrong("a number")),
            (ParamKind::Bool { .. }, _) => Err(wrong("true or false")),
            (ParamKind::Choice { .. }, _) => Err(wrong("one of its options")),
            (ParamKind::Seed, _) => Err(wrong("a non-negative integer seed")),
        }
    }
}

/// A parameter value in a job.
#[repr(C, u8)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Choice(RString),
    Seed(u64),
}

/// A named value; a job carries every parameter of its operation, defaults filled in by the host.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct Param {
    pub name: RString,
    pub value: ParamValue,
}

/// Typed look-ups over a job's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub RSlice<'a, Param>);

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Result<&'a ParamValue, PluginError> {
        let slice: &'a [Param] = self.0.as_slice();
        slice
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
            .ok_or_else(|| PluginError::plugin(format!("job has no parameter '{name}'")))
    }
    pub fn int(&self, name: &str) -> Result<i64, PluginError> {
        match self.get(name)? {
            ParamValue::Int(v) => Ok(*v),
            other => Err(PluginError::plugin(format!(
                "parameter '{name}' is {other:?}, not an integer"
            ))),
        }
    }
    pub fn float(&self, name: &str) -> Result<f64, PluginError> {
        match self.get(name)? {
            ParamValue::Float(v) => Ok(*v),
            ParamValue::Int(v) => Ok(*v as f64),
            other => Err(PluginError::plugin(format!(
                "parameter '{name}' is {other:?}, not a number"
            ))),
        }
    }
    pub fn boolean(&self, name: &str) -> Result<bool, PluginError> {
        match self.get(name)? {
            ParamValue::Bool(v) => Ok(*v),
            other => Err(PluginError::plugin(format!(
                "parameter '{name}' is {other:?}, not a boolean"
            ))),
        }
    }
    pub fn choice(&self, name: &str) -> Result<&'a str, PluginError> {
        match self.get(name)? {
            ParamValue::Choice(v) => Ok(v.as_str()),
            other => Err(PluginError::plugin(format!(
                "parameter '{name}' is {other:?}, not a choice"
            ))),
        }
    }
    pub fn seed(&self, name: &str) -> Result<u64, PluginError> {
        match self.get(name)? {
            ParamValue::Seed(v) => Ok(*v),
            other => Err(PluginError::plugin(format!(
                "parameter '{name}' is {other:?}, not a seed"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_choices_are_enforced() {
        let strength = ParamSpec::float("strength", "Strength", "", (0.0, 1.0), 0.5, 0.05);
        assert_eq!(
            strength.check(&ParamValue::Int(1)).unwrap(),
            ParamValue::Float(1.0)
        );
        assert!(strength.check(&ParamValue::Float(1.5)).is_err());
        assert!(strength.check(&ParamValue::Float(f64::NAN)).is_err());
        assert!(strength.check(&ParamValue::Bool(true)).is_err());
        let model = ParamSpec::choice("model", "Model", "", &["a", "b"], "a");
        assert!(model.check(&ParamValue::Choice("b".into())).is_ok());
        let err = model.check(&ParamValue::Choice("c".into())).unwrap_err();
        assert!(err.message.contains("not one of a, b"), "{err}");
    }
}

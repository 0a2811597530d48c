//! The typed parameter schema an operation declares, and the values a job carries.
//!
//! Both cross the plugin boundary as plain structs — a [`ParamType`] tag (a `u8` newtype) and
//! fixed fields — never as Rust enums, so that a later SDK can add kinds without changing the
//! layout. Code reads them through the [`Kind`] and [`Value`] views, whose `Unknown` arm is a
//! kind this SDK does not name.

use crate::error::PluginError;
use abi_stable::{
    std_types::{RSlice, RString, RVec},
    StableAbi,
};
use std::fmt;

/// Which kind of parameter (or value) this is. New kinds are new constants; the layout of
/// [`ParamKind`] and [`ParamValue`] stays the same.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParamType(pub u8);

#[allow(non_upper_case_globals)] // named like the enum variants they replaced
impl ParamType {
    pub const Int: ParamType = ParamType(0);
    pub const Float: ParamType = ParamType(1);
    pub const Bool: ParamType = ParamType(2);
    pub const Choice: ParamType = ParamType(3);
    pub const Seed: ParamType = ParamType(4);
    /// Free text, such as a prompt (added in ABI 2).
    pub const Text: ParamType = ParamType(5);
    /// An RGBA colour (a later kind): the default in the float fields.
    pub const Color: ParamType = ParamType(6);

    /// Stable lower-case name; `unknown` for a kind this SDK does not name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Choice => "choice",
            ParamType::Seed => "seed",
            ParamType::Text => "text",
            _ => "unknown",
        }
    }
}

/// What kind of value a parameter takes, with its range and default: a [`ParamType`] tag and
/// fixed fields whose meaning depends on it. Build one with the [`ParamSpec`] constructors and
/// read it with [`ParamKind::get`].
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq)]
pub struct ParamKind {
    kind: ParamType,
    /// Bool: the default. Text: multiline.
    flag: bool,
    /// Text: the most characters.
    max_len: u32,
    /// Int: min, max, default.
    ints: [i64; 3],
    /// Float: min, max, default, step.
    floats: [f64; 4],
    /// Choice and Text: the default.
    text: RString,
    /// Choice: the option ids.
    options: RVec<RString>,
}

/// A [`ParamKind`] as Rust code reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Kind<'a> {
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
        options: &'a [RString],
        default: &'a str,
    },
    /// A random seed; 0 asks the host to pick one.
    Seed,
    /// Free text (a prompt) of at most `max_len` characters; `multiline` asks for a text box.
    Text {
        default: &'a str,
        max_len: u32,
        multiline: bool,
    },
    /// A kind this SDK does not name (declared by a newer plugin or host).
    Unknown(ParamType),
}

impl ParamKind {
    fn blank(kind: ParamType) -> Self {
        ParamKind {
            kind,
            flag: false,
            max_len: 0,
            ints: [0; 3],
            floats: [0.0; 4],
            text: RString::new(),
            options: RVec::new(),
        }
    }
    pub fn int(min: i64, max: i64, default: i64) -> Self {
        ParamKind {
            ints: [min, max, default],
            ..Self::blank(ParamType::Int)
        }
    }
    pub fn float(min: f64, max: f64, default: f64, step: f64) -> Self {
        ParamKind {
            floats: [min, max, default, step],
            ..Self::blank(ParamType::Float)
        }
    }
    pub fn boolean(default: bool) -> Self {
        ParamKind {
            flag: default,
            ..Self::blank(ParamType::Bool)
        }
    }
    pub fn choice(options: &[&str], default: &str) -> Self {
        ParamKind {
            options: options.iter().map(|o| RString::from(*o)).collect(),
            text: default.into(),
            ..Self::blank(ParamType::Choice)
        }
    }
    pub fn seed() -> Self {
        Self::blank(ParamType::Seed)
    }
    pub fn text(default: &str, max_len: u32, multiline: bool) -> Self {
        ParamKind {
            text: default.into(),
            max_len,
            flag: multiline,
            ..Self::blank(ParamType::Text)
        }
    }

    /// A kind with only its tag set: what this SDK sees of a kind a newer SDK added (for
    /// testing how hosts handle unknown kinds).
    pub fn with_tag(kind: ParamType) -> Self {
        Self::blank(kind)
    }

    /// A colour parameter (a later kind).
    pub fn color(default: [f64; 4]) -> Self {
        ParamKind {
            floats: default,
            ..Self::blank(ParamType::Color)
        }
    }

    /// The tag, also for kinds this SDK does not name.
    pub fn param_type(&self) -> ParamType {
        self.kind
    }

    /// This kind as Rust code reads it.
    pub fn get(&self) -> Kind<'_> {
        let [imin, imax, idefault] = self.ints;
        let [fmin, fmax, fdefault, step] = self.floats;
        match self.kind {
            ParamType::Int => Kind::Int {
                min: imin,
                max: imax,
                default: idefault,
            },
            ParamType::Float => Kind::Float {
                min: fmin,
                max: fmax,
                default: fdefault,
                step,
            },
            ParamType::Bool => Kind::Bool { default: self.flag },
            ParamType::Choice => Kind::Choice {
                options: self.options.as_slice(),
                default: self.text.as_str(),
            },
            ParamType::Seed => Kind::Seed,
            ParamType::Text => Kind::Text {
                default: self.text.as_str(),
                max_len: self.max_len,
                multiline: self.flag,
            },
            other => Kind::Unknown(other),
        }
    }
}

impl fmt::Debug for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// A parameter value in a job: a [`ParamType`] tag and fixed fields. Build one with the
/// constructors ([`ParamValue::int`], …) and read it with [`ParamValue::get`].
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq)]
pub struct ParamValue {
    kind: ParamType,
    /// Int, Seed (as its bits) and Bool (0 or 1).
    int: i64,
    float: f64,
    /// Choice and Text.
    text: RString,
}

/// A [`ParamValue`] as Rust code reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    Int(i64),
    Float(f64),
    Bool(bool),
    Choice(&'a str),
    Seed(u64),
    Text(&'a str),
    /// A kind this SDK does not name.
    Unknown(ParamType),
}

impl ParamValue {
    fn blank(kind: ParamType) -> Self {
        ParamValue {
            kind,
            int: 0,
            float: 0.0,
            text: RString::new(),
        }
    }
    pub fn int(v: i64) -> Self {
        ParamValue {
            int: v,
            ..Self::blank(ParamType::Int)
        }
    }
    pub fn float(v: f64) -> Self {
        ParamValue {
            float: v,
            ..Self::blank(ParamType::Float)
        }
    }
    pub fn boolean(v: bool) -> Self {
        ParamValue {
            int: i64::from(v),
            ..Self::blank(ParamType::Bool)
        }
    }
    pub fn choice(v: &str) -> Self {
        ParamValue {
            text: v.into(),
            ..Self::blank(ParamType::Choice)
        }
    }
    pub fn seed(v: u64) -> Self {
        ParamValue {
            int: v as i64,
            ..Self::blank(ParamType::Seed)
        }
    }
    pub fn text(v: &str) -> Self {
        ParamValue {
            text: v.into(),
            ..Self::blank(ParamType::Text)
        }
    }
    /// A value with only its tag set (see [`ParamKind::with_tag`]).
    pub fn with_tag(kind: ParamType) -> Self {
        Self::blank(kind)
    }
    /// The tag, also for kinds this SDK does not name.
    pub fn param_type(&self) -> ParamType {
        self.kind
    }
    /// This value as Rust code reads it.
    pub fn get(&self) -> Value<'_> {
        match self.kind {
            ParamType::Int => Value::Int(self.int),
            ParamType::Float => Value::Float(self.float),
            ParamType::Bool => Value::Bool(self.int != 0),
            ParamType::Choice => Value::Choice(self.text.as_str()),
            ParamType::Seed => Value::Seed(self.int as u64),
            ParamType::Text => Value::Text(self.text.as_str()),
            other => Value::Unknown(other),
        }
    }
}

impl fmt::Debug for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
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
    /// A parameter of any kind.
    pub fn new(name: &str, title: &str, description: &str, kind: ParamKind) -> Self {
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
        Self::new(name, title, description, ParamKind::int(min, max, default))
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
            ParamKind::float(min, max, default, step),
        )
    }
    pub fn boolean(name: &str, title: &str, description: &str, default: bool) -> Self {
        Self::new(name, title, description, ParamKind::boolean(default))
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
            ParamKind::choice(options, default),
        )
    }
    pub fn seed(name: &str, title: &str, description: &str) -> Self {
        Self::new(name, title, description, ParamKind::seed())
    }
    /// Free text (a prompt) of at most `max_len` characters; `multiline` asks adapters for a
    /// text box rather than a line.
    pub fn text(
        name: &str,
        title: &str,
        description: &str,
        default: &str,
        max_len: u32,
        multiline: bool,
    ) -> Self {
        Self::new(
            name,
            title,
            description,
            ParamKind::text(default, max_len, multiline),
        )
    }

    /// The value used when a request leaves this parameter out; `None` for a kind this SDK
    /// does not name.
    pub fn default_value(&self) -> Option<ParamValue> {
        Some(match self.kind.get() {
            Kind::Int { default, .. } => ParamValue::int(default),
            Kind::Float { default, .. } => ParamValue::float(default),
            Kind::Bool { default } => ParamValue::boolean(default),
            Kind::Choice { default, .. } => ParamValue::choice(default),
            Kind::Seed => ParamValue::seed(0),
            Kind::Text { default, .. } => ParamValue::text(default),
            Kind::Unknown(_) => return None,
        })
    }

    /// Checks a value against this parameter's kind and range; ints are accepted for floats.
    pub fn check(&self, value: &ParamValue) -> Result<ParamValue, PluginError> {
        let name = self.name.as_str();
        let wrong = |want: &str| {
            PluginError::invalid_input(format!("parameter '{name}' takes {want}, got {value:?}"))
        };
        let range = |v: f64, min: f64, max: f64| {
            PluginError::invalid_input(format!("parameter '{name}' is {v}, outside {min}..={max}"))
        };
        match (self.kind.get(), value.get()) {
            (Kind::Int { min, max, .. }, Value::Int(v)) => {
                if v < min || v > max {
                    return Err(PluginError::invalid_input(format!(
                        "parameter '{name}' is {v}, outside {min}..={max}"
                    )));
                }
                Ok(value.clone())
            }
            (Kind::Float { min, max, .. }, Value::Float(v)) => {
                if !v.is_finite() || v < min || v > max {
                    return Err(range(v, min, max));
                }
                Ok(value.clone())
            }
            (Kind::Float { min, max, .. }, Value::Int(i)) => {
                let v = i as f64;
                if v < min || v > max {
                    return Err(range(v, min, max));
                }
                Ok(ParamValue::float(v))
            }
            (Kind::Bool { .. }, Value::Bool(_)) => Ok(value.clone()),
            (Kind::Choice { options, .. }, Value::Choice(v)) => {
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
            (Kind::Seed, Value::Seed(_)) => Ok(value.clone()),
            (Kind::Seed, Value::Int(i)) if i >= 0 => Ok(ParamValue::seed(i as u64)),
            (Kind::Text { max_len, .. }, Value::Text(v)) => {
                let chars = v.chars().count();
                if chars > max_len as usize {
                    return Err(PluginError::invalid_input(format!(
                        "parameter '{name}' is {chars} characters long, over its limit of {max_len}"
                    )));
                }
                Ok(value.clone())
            }
            (Kind::Int { .. }, _) => Err(wrong("an integer")),
            (Kind::Float { .. }, _) => Err(wrong("a number")),
            (Kind::Bool { .. }, _) => Err(wrong("true or false")),
            (Kind::Choice { .. }, _) => Err(wrong("one of its options")),
            (Kind::Seed, _) => Err(wrong("a non-negative integer seed")),
            (Kind::Text { .. }, _) => Err(wrong("text")),
            (kind, _) => Err(PluginError::invalid_input(format!(
                "parameter '{name}' is of a kind this SDK does not know ({kind:?})"
            ))),
        }
    }
}

/// When a parameter applies: only while the parameter `param` has one of `values` (for
/// example low light's `exposure` only for `model` = `uretinex`). Adapters may hide or grey
/// out a parameter that does not apply; the job still carries it. Declared through
/// [`Operation::applies_when`](crate::Operation::applies_when).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct AppliesWhen {
    pub param: RString,
    pub values: RVec<ParamValue>,
}

impl AppliesWhen {
    /// `param` is a choice and has one of these option ids.
    pub fn choice(param: &str, options: &[&str]) -> Self {
        AppliesWhen {
            param: param.into(),
            values: options.iter().map(|o| ParamValue::choice(o)).collect(),
        }
    }
    /// `param` is a boolean with this value.
    pub fn boolean(param: &str, value: bool) -> Self {
        AppliesWhen {
            param: param.into(),
            values: vec![ParamValue::boolean(value)].into(),
        }
    }
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
    /// A parameter's value, whatever its kind.
    pub fn get(&self, name: &str) -> Result<Value<'a>, PluginError> {
        let slice: &'a [Param] = self.0.as_slice();
        slice
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.get())
            .ok_or_else(|| PluginError::plugin(format!("job has no parameter '{name}'")))
    }
    fn wrong(name: &str, other: Value<'_>, want: &str) -> PluginError {
        PluginError::plugin(format!("parameter '{name}' is {other:?}, not {want}"))
    }
    pub fn int(&self, name: &str) -> Result<i64, PluginError> {
        match self.get(name)? {
            Value::Int(v) => Ok(v),
            other => Err(Self::wrong(name, other, "an integer")),
        }
    }
    pub fn float(&self, name: &str) -> Result<f64, PluginError> {
        match self.get(name)? {
            Value::Float(v) => Ok(v),
            Value::Int(v) => Ok(v as f64),
            other => Err(Self::wrong(name, other, "a number")),
        }
    }
    pub fn boolean(&self, name: &str) -> Result<bool, PluginError> {
        match self.get(name)? {
            Value::Bool(v) => Ok(v),
            other => Err(Self::wrong(name, other, "a boolean")),
        }
    }
    pub fn choice(&self, name: &str) -> Result<&'a str, PluginError> {
        match self.get(name)? {
            Value::Choice(v) => Ok(v),
            other => Err(Self::wrong(name, other, "a choice")),
        }
    }
    pub fn seed(&self, name: &str) -> Result<u64, PluginError> {
        match self.get(name)? {
            Value::Seed(v) => Ok(v),
            other => Err(Self::wrong(name, other, "a seed")),
        }
    }
    pub fn text(&self, name: &str) -> Result<&'a str, PluginError> {
        match self.get(name)? {
            Value::Text(v) => Ok(v),
            other => Err(Self::wrong(name, other, "text")),
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
            strength.check(&ParamValue::int(1)).unwrap(),
            ParamValue::float(1.0)
        );
        assert!(strength.check(&ParamValue::float(1.5)).is_err());
        assert!(strength.check(&ParamValue::float(f64::NAN)).is_err());
        assert!(strength.check(&ParamValue::boolean(true)).is_err());
        let model = ParamSpec::choice("model", "Model", "", &["a", "b"], "a");
        assert!(model.check(&ParamValue::choice("b")).is_ok());
        let err = model.check(&ParamValue::choice("c")).unwrap_err();
        assert!(err.message.contains("not one of a, b"), "{err}");
    }

    #[test]
    fn text_is_limited_in_characters_not_bytes() {
        let prompt = ParamSpec::text("prompt", "Prompt", "", "a cat", 4, true);
        assert_eq!(prompt.default_value(), Some(ParamValue::text("a cat")));
        assert!(prompt.check(&ParamValue::text("äöüß")).is_ok());
        let err = prompt.check(&ParamValue::text("hello")).unwrap_err();
        assert!(err.message.contains("over its limit of 4"), "{err}");
        assert!(prompt.check(&ParamValue::choice("x")).is_err());
        assert_eq!(
            prompt.kind.get(),
            Kind::Text {
                default: "a cat",
                max_len: 4,
                multiline: true
            }
        );
    }

    #[test]
    fn values_keep_their_kind_and_read_back() {
        let values = [
            (ParamValue::int(-3), Value::Int(-3)),
            (ParamValue::float(0.25), Value::Float(0.25)),
            (ParamValue::boolean(true), Value::Bool(true)),
            (ParamValue::choice("x"), Value::Choice("x")),
            (ParamValue::seed(u64::MAX), Value::Seed(u64::MAX)),
            (ParamValue::text("hi"), Value::Text("hi")),
        ];
        for (v, want) in values {
            assert_eq!(v.get(), want);
        }
    }

    #[test]
    fn an_unknown_kind_is_reported_not_guessed() {
        let future = ParamSpec::new(
            "tint",
            "Tint",
            "",
            ParamKind {
                kind: ParamType(200),
                ..ParamKind::seed()
            },
        );
        assert_eq!(future.kind.get(), Kind::Unknown(ParamType(200)));
        assert_eq!(future.default_value(), None);
        let err = future.check(&ParamValue::int(1)).unwrap_err();
        assert!(err.message.contains("does not know"), "{err}");
        let value = ParamValue {
            kind: ParamType(200),
            ..ParamValue::int(0)
        };
        let params = [Param {
            name: "tint".into(),
            value,
        }];
        let params = Params(RSlice::from_slice(&params));
        assert_eq!(params.get("tint").unwrap(), Value::Unknown(ParamType(200)));
        assert!(params.int("tint").is_err());
    }
}

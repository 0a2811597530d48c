//! Between the SDK's boundary types and the protocol's: what a plugin declares becomes what
//! clients see, and the daemon's typed values become what a plugin receives.
//!
//! A plugin may be built against a newer SDK than this worker's and declare values this worker
//! does not name (a pixel format, a parameter kind, a mask use, an error kind). None of them
//! panics here: an operation that needs an unknown value to be understood is refused with a
//! reason that names the value, and an unknown error kind is reported as the plugin's fault.

use easel_protocol as wire;
use easel_sdk as sdk;
use sdk::{Kind, Operation, Value};

/// A protocol pixel format as the SDK's.
pub fn sdk_format(f: wire::PixelFormat) -> sdk::PixelFormat {
    match f {
        wire::PixelFormat::Rgba8 => sdk::PixelFormat::Rgba8,
        wire::PixelFormat::Rgba16 => sdk::PixelFormat::Rgba16,
        wire::PixelFormat::Rgba16F => sdk::PixelFormat::Rgba16F,
        wire::PixelFormat::Rgba32F => sdk::PixelFormat::Rgba32F,
        wire::PixelFormat::Gray8 => sdk::PixelFormat::Gray8,
        wire::PixelFormat::Gray32F => sdk::PixelFormat::Gray32F,
    }
}

/// An SDK pixel format as the protocol's; an error that names a format this worker does not
/// know (from a plugin built against a newer SDK).
pub fn wire_format(f: sdk::PixelFormat) -> Result<wire::PixelFormat, String> {
    Ok(match f {
        sdk::PixelFormat::Rgba8 => wire::PixelFormat::Rgba8,
        sdk::PixelFormat::Rgba16 => wire::PixelFormat::Rgba16,
        sdk::PixelFormat::Rgba16F => wire::PixelFormat::Rgba16F,
        sdk::PixelFormat::Rgba32F => wire::PixelFormat::Rgba32F,
        sdk::PixelFormat::Gray8 => wire::PixelFormat::Gray8,
        sdk::PixelFormat::Gray32F => wire::PixelFormat::Gray32F,
        other => {
            return Err(format!(
                "pixel format {} is not one this daemon knows",
                other.0
            ))
        }
    })
}

/// A protocol layout as the SDK's, checked.
pub fn sdk_layout(l: &wire::ImageLayout) -> Result<sdk::ImageLayout, sdk::PluginError> {
    sdk::ImageLayout::new(
        l.width,
        l.height,
        sdk_format(l.format),
        l.pixel_stride,
        l.row_stride,
    )
}

/// An SDK layout as the protocol's.
pub fn wire_layout(l: &sdk::ImageLayout) -> Result<wire::ImageLayout, String> {
    Ok(wire::ImageLayout {
        width: l.width(),
        height: l.height(),
        format: wire_format(l.format())?,
        pixel_stride: l.pixel_stride(),
        row_stride: l.row_stride(),
    })
}

const FLAGS: [(u32, wire::OpFlag); 5] = [
    (sdk::flags::TILEABLE, wire::OpFlag::Tileable),
    (sdk::flags::STREAMS_VIDEO, wire::OpFlag::StreamsVideo),
    (sdk::flags::DETERMINISTIC, wire::OpFlag::Deterministic),
    (
        sdk::flags::COMPOSITE_THROUGH_MASK,
        wire::OpFlag::CompositeThroughMask,
    ),
    (
        sdk::flags::ALIGNED_REFERENCES,
        wire::OpFlag::AlignedReferences,
    ),
];

/// A parameter value as the JSON a client sends for it.
fn json_value(v: &sdk::ParamValue) -> Result<serde_json::Value, String> {
    Ok(match v.get() {
        Value::Int(i) => i.into(),
        Value::Float(f) => f.into(),
        Value::Bool(b) => b.into(),
        Value::Choice(s) | Value::Text(s) => s.into(),
        Value::Seed(s) => s.into(),
        other => {
            return Err(format!(
                "a value of a kind this daemon does not know ({other:?})"
            ))
        }
    })
}

fn param_info<O: Operation + ?Sized>(
    op: &O,
    p: &sdk::ParamSpec,
    all: &[sdk::ParamSpec],
) -> Result<wire::ParamInfo, String> {
    let name = p.name.as_str();
    let kind = match p.kind.get() {
        Kind::Int { min, max, default } => wire::ParamKind::Int { min, max, default },
        Kind::Float {
            min,
            max,
            default,
            step,
        } => wire::ParamKind::Float {
            min,
            max,
            default,
            step,
        },
        Kind::Bool { default } => wire::ParamKind::Bool { default },
        Kind::Choice { options, default } => {
            let titles: Vec<String> = op
                .option_titles(name.into())
                .iter()
                .map(|t| t.to_string())
                .collect();
            if !titles.is_empty() && titles.len() != options.len() {
                return Err(format!(
                    "parameter '{name}' has {} options but {} option titles",
                    options.len(),
                    titles.len()
                ));
            }
            wire::ParamKind::Choice {
                options: options.iter().map(|o| o.to_string()).collect(),
                option_titles: titles,
                default: default.to_string(),
            }
        }
        Kind::Seed => wire::ParamKind::Seed { default: 0 },
        Kind::Text {
            default,
            max_len,
            multiline,
        } => wire::ParamKind::Text {
            default: default.to_string(),
            max_len,
            multiline,
        },
        _ => {
            return Err(format!(
                "parameter '{name}' is of kind {}, which this daemon does not know",
                p.kind.param_type().0
            ))
        }
    };
    let applies_when = match op.applies_when(name.into()).into_option() {
        None => None,
        Some(w) => {
            if !all.iter().any(|q| q.name == w.param && q.name != name) {
                return Err(format!(
                    "parameter '{name}' applies when '{}' has certain values, but the operation has no other parameter '{}'",
                    w.param, w.param
                ));
            }
            let values = w
                .values
                .iter()
                .map(json_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("parameter '{name}' applies when '{}' is {e}", w.param))?;
            Some(wire::AppliesWhen {
                param: w.param.to_string(),
                values,
            })
        }
    };
    Ok(wire::ParamInfo {
        name: name.to_string(),
        title: p.title.to_string(),
        description: p.description.to_string(),
        kind,
        applies_when,
    })
}

/// What a plugin declares about `op` (its descriptor `d`, and what its later trait methods
/// add), as clients see it; an error that says why when the operation needs a value this daemon
/// does not know to be offered safely.
pub fn operation_info<O: Operation + ?Sized>(
    op: &O,
    d: &sdk::OperationDescriptor,
    plugin: &str,
) -> Result<wire::OperationInfo, String> {
    let fail = |why: String| format!("operation '{}' is not offered: {why}", d.id);
    let mask = match d.mask {
        sdk::MaskUse::Ignored => wire::MaskUse::Ignored,
        sdk::MaskUse::Optional => wire::MaskUse::Optional,
        sdk::MaskUse::Required => wire::MaskUse::Required,
        other => {
            return Err(fail(format!(
                "its mask use {} is not one this daemon knows",
                other.0
            )))
        }
    };
    let working_format =
        wire_format(d.working_format).map_err(|e| fail(format!("its working format: {e}")))?;
    let params = d
        .params
        .iter()
        .map(|p| param_info(op, p, &d.params))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    Ok(wire::OperationInfo {
        id: d.id.to_string(),
        title: d.title.to_string(),
        category: d.category.to_string(),
        description: d.description.to_string(),
        plugin: plugin.to_string(),
        mask,
        min_references: d.min_references,
        max_references: d.max_references,
        // Flag bits this daemon does not name are ignored: a flag only ever asks the daemon
        // for something extra.
        flags: FLAGS
            .iter()
            .filter(|(bit, _)| d.flags & bit != 0)
            .map(|(_, f)| *f)
            .collect(),
        working_format,
        output_scale: d.output_scale.max(1),
        models: d.models.iter().map(|m| m.to_string()).collect(),
        params,
    })
}

/// A resolved parameter as the plugin receives it.
pub fn sdk_param(p: &wire::ResolvedParam) -> sdk::Param {
    let value = match &p.value {
        wire::ParamValue::Int(i) => sdk::ParamValue::int(*i),
        wire::ParamValue::Float(f) => sdk::ParamValue::float(*f),
        wire::ParamValue::Bool(b) => sdk::ParamValue::boolean(*b),
        wire::ParamValue::Choice(c) => sdk::ParamValue::choice(c),
        wire::ParamValue::Seed(s) => sdk::ParamValue::seed(*s),
        wire::ParamValue::Text(t) => sdk::ParamValue::text(t),
    };
    sdk::Param {
        name: p.name.as_str().into(),
        value,
    }
}

/// A plugin's error as the worker wire's kind and message; a kind this worker does not know is
/// the plugin's fault, and the message says which kind it was.
pub fn failure(e: &sdk::PluginError) -> (wire::worker::FailureKind, String) {
    use wire::worker::FailureKind as F;
    let kind = match e.kind {
        sdk::ErrorKind::InvalidInput => F::InvalidInput,
        sdk::ErrorKind::Plugin => F::Plugin,
        sdk::ErrorKind::Model => F::Model,
        sdk::ErrorKind::Limits => F::Limits,
        sdk::ErrorKind::Environment => F::Environment,
        sdk::ErrorKind::Cancelled => F::Cancelled,
        other => {
            return (
                F::Plugin,
                format!(
                    "{} (the plugin reported error kind {}, which this daemon does not know)",
                    e.message, other.0
                ),
            )
        }
    };
    (kind, e.message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdk::abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};
    use sdk::{
        flags, AppliesWhen, Host, ImageBuf, Job, MaskUse, OperationDescriptor, ParamKind,
        ParamSpec, ParamType, PluginError,
    };

    /// An operation whose descriptor and later methods are given.
    struct Declares {
        d: OperationDescriptor,
        titles: Vec<&'static str>,
        when: Option<AppliesWhen>,
    }

    impl Operation for Declares {
        fn descriptor(&self) -> OperationDescriptor {
            self.d.clone()
        }
        fn run(&self, _: &Job<'_>, _: &Host<'_>) -> RResult<ImageBuf, PluginError> {
            RResult::RErr(PluginError::plugin("not run in these tests"))
        }
        fn option_titles(&self, param: RStr<'_>) -> RVec<RString> {
            if param == "model" {
                self.titles.iter().map(|t| RString::from(*t)).collect()
            } else {
                RVec::new()
            }
        }
        fn applies_when(&self, param: RStr<'_>) -> ROption<AppliesWhen> {
            match &self.when {
                Some(w) if param == "radius" => ROption::RSome(w.clone()),
                _ => ROption::RNone,
            }
        }
    }

    fn declares(d: OperationDescriptor) -> Declares {
        Declares {
            d,
            titles: Vec::new(),
            when: None,
        }
    }

    fn info(op: &Declares) -> Result<wire::OperationInfo, String> {
        let boxed = sdk::boxed_operation(Declares {
            d: op.d.clone(),
            titles: op.titles.clone(),
            when: op.when.clone(),
        });
        operation_info(&boxed, &boxed.descriptor(), "p")
    }

    fn base() -> OperationDescriptor {
        OperationDescriptor::new("x-op", "X", "Test", "does x")
            .param(ParamSpec::int("radius", "Radius", "", 1, 64, 8))
            .param(ParamSpec::choice("model", "Model", "", &["a", "b"], "a"))
            .param(ParamSpec::seed("seed", "Seed", ""))
            .param(ParamSpec::text("prompt", "Prompt", "", "a cat", 200, true))
    }

    #[test]
    fn a_descriptor_becomes_the_operation_clients_see() {
        let d = base()
            .mask(MaskUse::Required)
            .references(0, 2)
            .flags(flags::TILEABLE | flags::COMPOSITE_THROUGH_MASK | 1 << 30)
            .output_scale(2)
            .model("m1");
        let mut op = declares(d);
        op.titles = vec!["Model A", "Model B"];
        op.when = Some(AppliesWhen::choice("model", &["b"]));
        let info = info(&op).unwrap();
        assert_eq!(info.plugin, "p");
        assert_eq!(info.mask, wire::MaskUse::Required);
        assert_eq!(
            info.flags,
            vec![wire::OpFlag::Tileable, wire::OpFlag::CompositeThroughMask]
        );
        assert_eq!(info.output_scale, 2);
        assert_eq!(info.params[2].kind, wire::ParamKind::Seed { default: 0 });
        assert_eq!(
            info.params[1].kind,
            wire::ParamKind::Choice {
                options: vec!["a".into(), "b".into()],
                option_titles: vec!["Model A".into(), "Model B".into()],
                default: "a".into()
            }
        );
        assert_eq!(
            info.params[3].kind,
            wire::ParamKind::Text {
                default: "a cat".into(),
                max_len: 200,
                multiline: true
            }
        );
        assert_eq!(
            info.params[0].applies_when,
            Some(wire::AppliesWhen {
                param: "model".into(),
                values: vec![serde_json::json!("b")]
            })
        );
        assert_eq!(info.params[1].applies_when, None);
        for f in wire::PixelFormat::ALL {
            assert_eq!(wire_format(sdk_format(f)), Ok(f));
        }
    }

    #[test]
    fn unknown_values_from_a_newer_plugin_refuse_the_operation_with_a_reason() {
        let future_kind = ParamSpec::new("tint", "Tint", "", unknown_kind());
        let err = info(&declares(base().param(future_kind))).unwrap_err();
        assert!(err.contains("operation 'x-op' is not offered"), "{err}");
        assert!(err.contains("parameter 'tint' is of kind 77"), "{err}");

        let err = info(&declares(base().working_format(sdk::PixelFormat(9)))).unwrap_err();
        assert!(
            err.contains("pixel format 9 is not one this daemon knows"),
            "{err}"
        );

        let err = info(&declares(base().mask(MaskUse(5)))).unwrap_err();
        assert!(err.contains("mask use 5"), "{err}");

        let mut op = declares(base());
        op.titles = vec!["only one"];
        assert!(info(&op)
            .unwrap_err()
            .contains("2 options but 1 option titles"));

        let mut op = declares(base());
        op.when = Some(AppliesWhen::choice("nope", &["b"]));
        assert!(info(&op).unwrap_err().contains("no other parameter 'nope'"));
    }

    /// A kind with a tag this SDK does not name, as a newer plugin would declare it.
    fn unknown_kind() -> ParamKind {
        ParamKind::with_tag(ParamType(77))
    }

    #[test]
    fn an_unknown_error_kind_is_the_plugins_fault_and_says_so() {
        let (kind, message) = failure(&PluginError::new(sdk::ErrorKind(12), "it broke"));
        assert_eq!(kind, wire::worker::FailureKind::Plugin);
        assert!(message.starts_with("it broke"), "{message}");
        assert!(message.contains("error kind 12"), "{message}");
        let (kind, message) = failure(&PluginError::limits("too big"));
        assert_eq!(kind, wire::worker::FailureKind::Limits);
        assert_eq!(message, "too big");
    }

    #[test]
    fn every_wire_value_reaches_the_plugin() {
        let p = |value| wire::ResolvedParam {
            name: "p".into(),
            value,
        };
        assert_eq!(
            sdk_param(&p(wire::ParamValue::Text("hi".into()))).value,
            sdk::ParamValue::text("hi")
        );
        assert_eq!(
            sdk_param(&p(wire::ParamValue::Seed(7))).value,
            sdk::ParamValue::seed(7)
        );
    }
}

//! Between the SDK's boundary types and the protocol's: what a plugin declares becomes what
//! clients see, and the daemon's typed values become what a plugin receives.

use easel_protocol as wire;
use easel_sdk as sdk;

/// A protocol pixel format as the SDK's; `None` for formats plugins never receive.
pub fn sdk_format(f: wire::PixelFormat) -> Option<sdk::PixelFormat> {
    Some(match f {
        wire::PixelFormat::Rgba8 => sdk::PixelFormat::Rgba8,
        wire::PixelFormat::Rgba16 => sdk::PixelFormat::Rgba16,
        wire::PixelFormat::Rgba32F => sdk::PixelFormat::Rgba32F,
        wire::PixelFormat::Gray8 => sdk::PixelFormat::Gray8,
        wire::PixelFormat::Gray32F => sdk::PixelFormat::Gray32F,
        wire::PixelFormat::Rgba16F => return None,
    })
}

/// An SDK pixel format as the protocol's.
pub fn wire_format(f: sdk::PixelFormat) -> wire::PixelFormat {
    match f {
        sdk::PixelFormat::Rgba8 => wire::PixelFormat::Rgba8,
        sdk::PixelFormat::Rgba16 => wire::PixelFormat::Rgba16,
        sdk::PixelFormat::Rgba32F => wire::PixelFormat::Rgba32F,
        sdk::PixelFormat::Gray8 => wire::PixelFormat::Gray8,
        sdk::PixelFormat::Gray32F => wire::PixelFormat::Gray32F,
    }
}

/// A protocol layout as the SDK's.
pub fn sdk_layout(l: &wire::ImageLayout) -> Option<sdk::ImageLayout> {
    Some(sdk::ImageLayout {
        width: l.width,
        height: l.height,
        format: sdk_format(l.format)?,
        pixel_stride: l.pixel_stride,
        row_stride: l.row_stride,
    })
}

/// An SDK layout as the protocol's.
pub fn wire_layout(l: &sdk::ImageLayout) -> wire::ImageLayout {
    wire::ImageLayout {
        width: l.width,
        height: l.height,
        format: wire_format(l.format),
        pixel_stride: l.pixel_stride,
        row_stride: l.row_stride,
    }
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

fn param_info(p: &sdk::ParamSpec) -> wire::ParamInfo {
    let kind = match &p.kind {
        sdk::ParamKind::Int { min, max, default } => wire::ParamKind::Int {
            min: *min,
            max: *max,
            default: *default,
        },
        sdk::ParamKind::Float {
            min,
            max,
            default,
            step,
        } => wire::ParamKind::Float {
            min: *min,
            max: *max,
            default: *default,
            step: *step,
        },
        sdk::ParamKind::Bool { default } => wire::ParamKind::Bool { default: *default },
        sdk::ParamKind::Choice { options, default } => wire::ParamKind::Choice {
            options: options.iter().map(|o| o.to_string()).collect(),
            option_titles: Vec::new(),
            default: default.to_string(),
        },
        sdk::ParamKind::Seed => wire::ParamKind::Seed { default: 0 },
    };
    wire::ParamInfo {
        name: p.name.to_string(),
        title: p.title.to_string(),
        description: p.description.to_string(),
        kind,
    }
}

/// What a plugin declares, as clients see it.
pub fn operation_info(op: &sdk::OperationDescriptor, plugin: &str) -> wire::OperationInfo {
    wire::OperationInfo {
        id: op.id.to_string(),
        title: op.title.to_string(),
        category: op.category.to_string(),
        description: op.description.to_string(),
        plugin: plugin.to_string(),
        mask: match op.mask {
            sdk::MaskUse::Ignored => wire::MaskUse::Ignored,
            sdk::MaskUse::Optional => wire::MaskUse::Optional,
            sdk::MaskUse::Required => wire::MaskUse::Required,
        },
        min_references: op.min_references,
        max_references: op.max_references,
        flags: FLAGS
            .iter()
            .filter(|(bit, _)| op.flags & bit != 0)
            .map(|(_, f)| *f)
            .collect(),
        working_format: wire_format(op.working_format),
        output_scale: op.output_scale.max(1),
        models: op.models.iter().map(|m| m.to_string()).collect(),
        params: op.params.iter().map(param_info).collect(),
    }
}

/// A resolved parameter as the plugin receives it; `None` for a kind the SDK cannot carry.
pub fn sdk_param(p: &wire::ResolvedParam) -> Option<sdk::Param> {
    let value = match &p.value {
        wire::ParamValue::Int(i) => sdk::ParamValue::Int(*i),
        wire::ParamValue::Float(f) => sdk::ParamValue::Float(*f),
        wire::ParamValue::Bool(b) => sdk::ParamValue::Bool(*b),
        wire::ParamValue::Choice(c) => sdk::ParamValue::Choice(c.as_str().into()),
        wire::ParamValue::Seed(s) => sdk::ParamValue::Seed(*s),
        wire::ParamValue::Text(_) => return None,
    };
    Some(sdk::Param {
        name: p.name.as_str().into(),
        value,
    })
}

/// An SDK error kind as the worker wire's.
pub fn failure_kind(kind: sdk::ErrorKind) -> wire::worker::FailureKind {
    use wire::worker::FailureKind as F;
    match kind {
        sdk::ErrorKind::InvalidInput => F::InvalidInput,
        sdk::ErrorKind::Plugin => F::Plugin,
        sdk::ErrorKind::Model => F::Model,
        sdk::ErrorKind::Limits => F::Limits,
        sdk::ErrorKind::Environment => F::Environment,
        sdk::ErrorKind::Cancelled => F::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdk::{flags, MaskUse, OperationDescriptor, ParamSpec};

    #[test]
    fn a_descriptor_becomes_the_operation_clients_see() {
        let op = OperationDescriptor::new("x-op", "X", "Test", "does x")
            .param(ParamSpec::int("radius", "Radius", "", 1, 64, 8))
            .param(ParamSpec::choice("model", "Model", "", &["a", "b"], "a"))
            .param(ParamSpec::seed("seed", "Seed", ""))
            .mask(MaskUse::Required)
            .references(0, 2)
            .flags(flags::TILEABLE | flags::COMPOSITE_THROUGH_MASK)
            .output_scale(2)
            .model("m1");
        let info = operation_info(&op, "p");
        assert_eq!(info.plugin, "p");
        assert_eq!(info.mask, wire::MaskUse::Required);
        assert_eq!(
            info.flags,
            vec![wire::OpFlag::Tileable, wire::OpFlag::CompositeThroughMask]
        );
        assert_eq!(info.output_scale, 2);
        assert_eq!(info.params[2].kind, wire::ParamKind::Seed { default: 0 });
        for f in wire::PixelFormat::ALL {
            if let Some(s) = sdk_format(f) {
                assert_eq!(wire_format(s), f);
            }
        }
    }
}

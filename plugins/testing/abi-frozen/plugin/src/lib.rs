//! Test plugin built against the frozen copy of easel-sdk ABI 2.0 in `../sdk`, which lacks
//! `Operation::option_titles` and `Operation::applies_when`. The daemon (live SDK) must load
//! it, list its operation (the missing methods answer with their defaults) and run it.

use easel_sdk::prelude::*;

/// Inverts RGB by a choice of amounts.
pub struct FrozenInvert;

impl FrozenInvert {
    fn invert(&self, job: &Job<'_>, host: &Host<'_>) -> Result<ImageBuf, PluginError> {
        let amount = match job.params().choice("amount")? {
            "half" => 0.5,
            _ => 1.0,
        };
        host.check_cancelled()?;
        host.progress(0.5, "inverting".into());
        let image = job.image;
        let mut rgba = image.to_rgba_f32();
        for p in rgba.chunks_exact_mut(4) {
            for v in &mut p[..3] {
                *v += amount * (1.0 - 2.0 * *v);
            }
        }
        ImageBuf::from_rgba_f32(image.width(), image.height(), &rgba, image.format())
    }
}

impl Operation for FrozenInvert {
    fn descriptor(&self) -> OperationDescriptor {
        OperationDescriptor::new(
            "frozen-invert",
            "Invert (ABI 2.0 plugin)",
            "Testing",
            "Inverts colors; built against the frozen ABI 2.0 SDK",
        )
        .param(ParamSpec::choice(
            "amount",
            "Amount",
            "How far to invert",
            &["full", "half"],
            "full",
        ))
        .working_format(PixelFormat::Rgba8)
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        self.invert(job, host).into()
    }
}

easel_sdk::export_plugin! {
    name: "testing-abi-frozen",
    version: env!("CARGO_PKG_VERSION"),
    operations: || vec![easel_sdk::boxed_operation(FrozenInvert)],
}

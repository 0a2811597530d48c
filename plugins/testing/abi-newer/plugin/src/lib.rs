//! Test plugin built against `../sdk-newer`, whose `Operation` trait has one more method
//! (`preview_size`) than this daemon's. Its vtable is longer than the daemon knows how to
//! describe, so the daemon refuses the library with a reason (the layout check).

use easel_sdk::prelude::*;

/// Returns its input.
pub struct NewerEcho;

impl Operation for NewerEcho {
    fn descriptor(&self) -> OperationDescriptor {
        OperationDescriptor::new(
            "newer-echo",
            "Echo (newer plugin)",
            "Testing",
            "Built against an SDK with one more Operation method",
        )
    }

    fn run(&self, job: &Job<'_>, _host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        RResult::ROk(job.image.to_packed())
    }

    fn preview_size(&self) -> u32 {
        256
    }
}

easel_sdk::export_plugin! {
    name: "testing-abi-newer",
    version: env!("CARGO_PKG_VERSION"),
    operations: || vec![easel_sdk::boxed_operation(NewerEcho)],
}

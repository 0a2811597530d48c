//! Test plugin built against another Easel ABI version: the host must refuse it.
//!
//! Its root module has the right layout (it is built from the SDK's own types), so abi_stable
//! accepts it; only `PluginInfo::abi_version` (999) tells the host it speaks another Easel ABI.
//! The root module is written out by hand because `export_plugin!` always reports the SDK's
//! `ABI_VERSION`.

use abi_stable::{export_root_module, prefix_type::PrefixTypeTrait, std_types::RResult};
use easel_sdk::{
    boxed_operation, Host, ImageBuf, Job, Operation, OperationBox, OperationDescriptor,
    PluginError, PluginInfo, PluginMod, PluginModRef,
};

/// The ABI version this plugin claims; no host supports it.
pub const CLAIMED_ABI_VERSION: u32 = 999;

/// An operation the host must never list or run.
pub struct WrongAbiOp;

impl Operation for WrongAbiOp {
    fn descriptor(&self) -> OperationDescriptor {
        OperationDescriptor::new(
            "wrong-abi-op",
            "Wrong ABI",
            "Testing",
            "Belongs to a plugin that claims another ABI version; never listed",
        )
    }

    fn run(&self, _job: &Job<'_>, _host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        RResult::RErr(PluginError::plugin(
            "testing-wrong-abi was run although it claims ABI version 999",
        ))
    }
}

extern "C" fn info() -> PluginInfo {
    PluginInfo {
        name: "testing-wrong-abi".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        abi_version: CLAIMED_ABI_VERSION,
    }
}

extern "C" fn operations() -> RResult<abi_stable::std_types::RVec<OperationBox>, PluginError> {
    RResult::ROk(vec![boxed_operation(WrongAbiOp)].into())
}

#[export_root_module]
fn easel_plugin_root_module() -> PluginModRef {
    PluginMod { info, operations }.leak_into_prefix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_another_abi_version() {
        assert_ne!(info().abi_version, easel_sdk::ABI_VERSION);
        assert_eq!(info().abi_version, 999);
        let ops = operations().unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].descriptor().id, "wrong-abi-op");
    }
}

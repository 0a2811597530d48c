//! Test plugin whose root module has a different layout: the host must refuse it.
//!
//! It does not use the SDK. It declares its own prefix-type root module, named `PluginMod` like
//! the SDK's, under the same abi_stable name (`easel_plugin`) and root-module version as easel-sdk, so the
//! library header and the version check pass and only abi_stable's layout check can tell it
//! apart. That check is nominal as well as structural: it reports the defining package
//! (`easel-testing-wrong-layout`, not `easel-sdk`) first, and its message shows both layouts
//! (`fn()->u64` against `fn()->PluginInfo`).

use abi_stable::{
    declare_root_module_statics, export_root_module, library::RootModule,
    prefix_type::PrefixTypeTrait, sabi_types::VersionStrings, StableAbi,
};

/// The root-module version the host's `PluginModRef` reports as its `VERSION_STRINGS`
/// (easel-sdk's `ABI_VERSION_STR`), so that the version check passes.
pub const SDK_VERSION: &str = "2.0.0";

/// A root module named like Easel's but laid out differently.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(option))]
pub struct PluginMod {
    pub info: extern "C" fn() -> u64,
    #[sabi(last_prefix_field)]
    pub operations: extern "C" fn(u32) -> u32,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "easel_plugin";
    const NAME: &'static str = "easel_plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(SDK_VERSION);
}

extern "C" fn info() -> u64 {
    0xEA5E1
}

extern "C" fn operations(n: u32) -> u32 {
    n.wrapping_add(1)
}

#[export_root_module]
fn easel_plugin_root_module() -> PluginModRef {
    PluginMod { info, operations }.leak_into_prefix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_easels_name_and_version() {
        assert_eq!(PluginModRef::NAME, "easel_plugin");
        assert_eq!(PluginModRef::BASE_NAME, "easel_plugin");
        assert_eq!(PluginModRef::VERSION_STRINGS.version, SDK_VERSION);
        assert_eq!(SDK_VERSION, easel_sdk::ABI_VERSION_STR);
        let m = easel_plugin_root_module();
        assert_eq!(m.info()(), 0xEA5E1);
        assert_eq!(m.operations()(1), 2);
    }
}

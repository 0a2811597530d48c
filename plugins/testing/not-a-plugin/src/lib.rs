//! A shared library that is not an Easel plugin: the host must refuse it.
//!
//! It exports one ordinary C function and no abi_stable root module, like any unrelated `.so`
//! a user might drop into the plugin folder.

/// The only symbol this library exports.
#[no_mangle]
pub extern "C" fn not_an_easel_plugin() -> i32 {
    42
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers() {
        assert_eq!(super::not_an_easel_plugin(), 42);
    }
}

//! Generates the libobs bindings from the installed headers (`/usr/include/obs`, from
//! `libobs-dev`), so they match the OBS the module runs in; links against `libobs`.

fn main() {
    let include = std::env::var("OBS_INCLUDE").unwrap_or_else(|_| "/usr/include/obs".into());
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-env-changed=OBS_INCLUDE");
    println!("cargo:rustc-link-lib=dylib=obs");
    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_arg(format!("-I{include}"))
        .allowlist_function("(obs|gs|os|text_lookup|vec4|calldata)_.*")
        .allowlist_function("(blog|bfree|bmalloc|bzalloc|bstrdup)")
        .allowlist_type("(obs|gs|video|gs_image_file)_.*")
        .allowlist_var("(OBS|GS|LOG|LIBOBS)_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("generate libobs bindings (needs libobs-dev and libclang-dev)");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    bindings
        .write_to_file(out.join("obs.rs"))
        .expect("write bindings");
}

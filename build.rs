//! Emits pyo3's `Py_3_x` cfgs so version-specific C API use can be gated,
//! and records the Python executable the crate is built against.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    let executable = config
        .executable()
        .map(str::to_owned)
        .unwrap_or_else(|| "/usr/bin/python3".to_owned());
    println!("cargo:rustc-env=WSGIRT_BUILD_PYTHON={executable}");
    // SONAME = ABI version (keep in step with WSGIRT_ABI_VERSION; see docs/c-api.md).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwsgirt.so.1");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}

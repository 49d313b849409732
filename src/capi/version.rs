//! Library and ABI versions.

/// Major version of the library.
pub const WSGIRT_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const WSGIRT_VERSION_MINOR: u32 = 1;
/// Patch version of the library.
pub const WSGIRT_VERSION_PATCH: u32 = 0;
/// `MAJOR * 10000 + MINOR * 100 + PATCH`.
pub const WSGIRT_VERSION_NUMBER: u32 =
    WSGIRT_VERSION_MAJOR * 10000 + WSGIRT_VERSION_MINOR * 100 + WSGIRT_VERSION_PATCH;
/// ABI version: bumped on any incompatible change to the C API. Hosts pass
/// the value they were compiled with to `wsgirt_runtime_new`.
pub const WSGIRT_ABI_VERSION: u32 = 1;

/// The library's version number (`WSGIRT_VERSION_NUMBER` of the build).
///
/// Threading: any thread, any time.
#[unsafe(no_mangle)]
pub extern "C" fn wsgirt_version() -> u32 {
    WSGIRT_VERSION_NUMBER
}

/// The library's ABI version (`WSGIRT_ABI_VERSION` of the build).
///
/// Threading: any thread, any time.
#[unsafe(no_mangle)]
pub extern "C" fn wsgirt_abi_version() -> u32 {
    WSGIRT_ABI_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_cargo() {
        assert_eq!(
            WSGIRT_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            WSGIRT_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            WSGIRT_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        assert_eq!(WSGIRT_VERSION_NUMBER, 100);
    }
}

//! The shared library exports the C API and nothing else: every defined
//! dynamic text symbol of libwsgirt.so starts with `wsgirt_`, and the set
//! matches the functions declared in include/wsgirt.h.
//!
//! Uses the libwsgirt.so of the profile this test was built in
//! (target/<profile>/, next to the test's deps/ directory); cargo builds
//! it with the library's other crate types.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/exports-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps");
    let lib = profile_dir.join("libwsgirt.so");
    assert!(
        lib.exists(),
        "{} is missing: build it with `cargo build` (same profile as the tests)",
        lib.display()
    );
    lib
}

fn dynamic_text_symbols(lib: &Path) -> BTreeSet<String> {
    let output = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib)
        .output()
        .expect("run nm (binutils)");
    assert!(output.status.success(), "nm failed: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace().rev();
            let name = parts.next()?;
            let kind = parts.next()?;
            // Text (code) symbols: T/t, weak W/w, indirect functions i.
            matches!(kind, "T" | "t" | "W" | "w" | "i").then(|| name.to_owned())
        })
        .collect()
}

fn header_functions() -> BTreeSet<String> {
    let header = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/wsgirt.h");
    let text = std::fs::read_to_string(header).unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        // Declarations look like `<type> wsgirt_name(args...` at column 0.
        if line.starts_with(' ') || line.starts_with('#') || line.starts_with("typedef") {
            continue;
        }
        if let Some(open) = line.find('(') {
            let before = &line[..open];
            if let Some(name) = before.split_whitespace().last() {
                let name = name.trim_start_matches('*');
                if name.starts_with("wsgirt_") {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn only_wsgirt_symbols_are_exported() {
    let lib = library();
    let symbols = dynamic_text_symbols(&lib);
    assert!(
        !symbols.is_empty(),
        "no exported text symbols in {}",
        lib.display()
    );
    let foreign: Vec<&String> = symbols
        .iter()
        .filter(|s| !s.starts_with("wsgirt_"))
        .collect();
    assert!(
        foreign.is_empty(),
        "{} exports non-API symbols: {foreign:?}",
        lib.display()
    );
}

#[test]
fn exports_match_the_header() {
    let symbols = dynamic_text_symbols(&library());
    let declared = header_functions();
    assert!(declared.len() >= 19, "header parse found only {declared:?}");
    let missing: Vec<_> = declared.difference(&symbols).collect();
    let undeclared: Vec<_> = symbols.difference(&declared).collect();
    assert!(missing.is_empty(), "declared but not exported: {missing:?}");
    assert!(
        undeclared.is_empty(),
        "exported but not in include/wsgirt.h: {undeclared:?}"
    );
}

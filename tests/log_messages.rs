//! Every log-message id in the code (`WSGIRT` and four digits, from Rust,
//! Python and C sources) is documented in `docs/log-messages.md`, and every
//! documented id is still used (or marked retired), so the reference
//! cannot drift from what the logs say.

use std::collections::BTreeSet;
use std::path::Path;

/// The ids in `text`: `WSGIRT1234` or `WSGIRT_LOGNO(1234)`.
fn ids_in(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (prefix, skip) in [("WSGIRT_LOGNO(", 13), ("WSGIRT", 6)] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let digits: String = rest[at + skip..].chars().take(4).collect();
            if digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit()) {
                ids.insert(format!("WSGIRT{digits}"));
            }
            rest = &rest[at + skip..];
        }
    }
    ids
}

fn sources(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("rs" | "c" | "h" | "py")
        ) {
            out.extend(ids_in(&std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn every_log_message_id_is_documented_and_every_documented_id_is_used() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut in_code = BTreeSet::new();
    sources(&root.join("src"), &mut in_code);
    sources(&root.join("apache"), &mut in_code);
    assert!(in_code.len() > 20, "ids found in code: {in_code:?}");

    let docs = std::fs::read_to_string(root.join("docs/log-messages.md")).unwrap();
    let mut documented = BTreeSet::new();
    let mut retired = BTreeSet::new();
    for line in docs.lines().filter(|l| l.starts_with("| WSGIRT")) {
        let id = line[2..12].to_owned();
        assert!(documented.insert(id.clone()), "{id} listed twice");
        if line.contains("retired") {
            retired.insert(id);
        }
    }
    let undocumented: Vec<_> = in_code.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "ids missing from docs/log-messages.md: {undocumented:?}"
    );
    let unused: Vec<_> = documented
        .difference(&in_code)
        .filter(|id| !retired.contains(*id))
        .collect();
    assert!(
        unused.is_empty(),
        "documented ids no longer in the code: {unused:?}"
    );
}

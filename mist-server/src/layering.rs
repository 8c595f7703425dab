//! The workspace's layering rule, checked: no two top-level modules of a
//! crate import each other (`crate::a` uses `crate::b` and `crate::b` uses
//! `crate::a`), in any of the three crates. A cycle means neither module can
//! be read, tested or moved without the other; where two modules need each
//! other, what they share belongs in a third (docs/architecture.md).
//!
//! Read from the sources: `crate::name` paths (and `crate::{a, b}` groups)
//! outside comments and outside each file's trailing `#[cfg(test)] mod
//! tests` (tests may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of the crate at `src` and the others each one names.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src dir") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        if path.is_dir() {
            files.entry(name).or_default().extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.entry(name).or_default().push(path);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(module, paths)| {
            let mut named = BTreeSet::new();
            for path in paths {
                let text = std::fs::read_to_string(path).expect("source");
                let code = without_comments(&text);
                for name in crate_paths(without_tests(&code)) {
                    if modules.contains(&name) && &name != module {
                        named.insert(name);
                    }
                }
            }
            (module.clone(), named)
        })
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn without_tests(code: &str) -> &str {
    match code.find("#[cfg(test)]\nmod tests") {
        Some(i) => &code[..i],
        None => code,
    }
}

/// The first segment after every `crate::`, and every name in `crate::{…}`.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut names = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            names.extend(group.split(',').map(|part| ident(part.trim())));
        } else {
            names.push(ident(rest));
        }
    }
    names
}

fn cycles(src: &Path) -> Vec<String> {
    let graph = imports(src);
    let mut found = Vec::new();
    for (a, named) in &graph {
        for b in named {
            if a < b && graph.get(b).is_some_and(|back| back.contains(a)) {
                found.push(format!("{a} <-> {b}"));
            }
        }
    }
    found
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in ["mist-core", "mist-server", "mist-tui"] {
        let found = cycles(&workspace.join(krate).join("src"));
        assert!(found.is_empty(), "{krate}: modules that import each other: {found:?}");
    }
}

#[test]
fn the_check_sees_a_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.rs"), "use crate::b::X;\n// crate::c in a comment\n").expect("write");
    std::fs::create_dir(dir.path().join("b")).expect("mkdir");
    std::fs::write(dir.path().join("b").join("mod.rs"), "use crate::{a, c};\n").expect("write");
    std::fs::write(
        dir.path().join("c.rs"),
        "pub struct X;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n",
    )
    .expect("write");
    assert_eq!(cycles(dir.path()), ["a <-> b"]);
}

//! The import rules written in `src/lib.rs`, checked on the source tree:
//! - only `src/ffi/` knows the C ABI (`crate::ffi`, `extern "C"`, `#[no_mangle]`);
//! - the protocol cores import neither `comm`, `node`, `deliver`, `ffi` nor tokio;
//! - only `src/node/` combines transport, delivery and cores: nothing below it imports it
//!   (`ffi` drives it, `metrics` reads its snapshot);
//! - `config` owns plain config values: it imports none of the parts that use them (they
//!   convert what they need).

use std::fs;
use std::path::{Path, PathBuf};

/// The sans-IO protocol cores (a directory or a single file under `src/`).
const CORES: &[&str] = &[
    "channel",
    "channelconfig",
    "discovery",
    "election",
    "identity",
    "message.rs",
    "msgstore",
    "msp",
    "privdata",
    "pull",
    "push",
    "state",
];

/// What the cores must not use.
const IO_PARTS: &[&str] = &[
    "crate::comm",
    "crate::node",
    "crate::deliver",
    "crate::ffi",
    "tokio",
];

/// What `config` must not import: the parts that read its values. (Its tests check that
/// `peer.tls` paths load through `deliver`'s TLS loader, so `deliver` is not listed.)
const CONFIG_USERS: &[&str] = &[
    "crate::comm",
    "crate::push",
    "crate::pull",
    "crate::node",
    "crate::ffi",
    "crate::metrics",
    "tokio",
];

/// The parts allowed to import `crate::node`.
const ABOVE_NODE: &[&str] = &["node", "ffi", "metrics"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
        return;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return;
    };
    for e in entries.flatten() {
        rust_files(&e.path(), out);
    }
}

/// The code of a file (comments dropped) by line number; a `use` statement spread over
/// several lines is one entry, grouped imports flattened (`crate::{comm, x}` gives
/// `crate::comm` and `crate::x`).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open_use: Option<(usize, String)> = None;
    for (i, l) in text.lines().enumerate() {
        let code = l.split("//").next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        if let Some((n, mut stmt)) = open_use.take() {
            stmt.push(' ');
            stmt.push_str(code);
            if code.ends_with(';') {
                out.push((n, flatten_groups(&stmt)));
            } else {
                open_use = Some((n, stmt));
            }
            continue;
        }
        let is_use = code.starts_with("use ")
            || code.starts_with("pub use ")
            || code.starts_with("pub(crate) use ");
        if is_use && !code.ends_with(';') {
            open_use = Some((i + 1, code.to_string()));
        } else {
            out.push((i + 1, flatten_groups(code)));
        }
    }
    out
}

/// `crate::{a::X, b}` → `crate::{a::X, b} crate::a crate::b`.
fn flatten_groups(stmt: &str) -> String {
    let Some(start) = stmt.find("crate::{") else {
        return stmt.to_string();
    };
    let inner = &stmt[start + "crate::{".len()..];
    let mut out = stmt.to_string();
    let mut depth = 0;
    let mut item = String::new();
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push_str(&format!(" crate::{}", item.trim()));
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    if !item.trim().is_empty() {
        out.push_str(&format!(" crate::{}", item.trim()));
    }
    out
}

/// Every use of one of `needles` in the files under `part`, as `path:line: code`.
fn uses(part: &Path, needles: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(part, &mut files);
    let mut found = Vec::new();
    for f in files {
        for (n, line) in code_lines(&f) {
            if needles.iter().any(|needle| mentions(&line, needle)) {
                let rel = f.strip_prefix(src()).unwrap_or(&f).display().to_string();
                found.push(format!("src/{rel}:{n}: {line}"));
            }
        }
    }
    found
}

/// Whether `line` names the module path `needle` (`crate::comm` but not `crate::commit`).
fn mentions(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + needle.len()..].chars().next();
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

fn parts() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(src())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lib.rs")
        .collect();
    names.sort();
    names
}

#[test]
fn only_ffi_knows_the_c_abi() {
    let mut found = Vec::new();
    for part in parts().iter().filter(|p| p.as_str() != "ffi") {
        found.extend(uses(
            &src().join(part),
            &["crate::ffi", "extern \"C\"", "no_mangle"],
        ));
    }
    assert!(
        found.is_empty(),
        "C ABI outside src/ffi/:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_protocol_cores_do_no_io() {
    let mut found = Vec::new();
    for core in CORES {
        // A renamed core must be renamed here too, or its rules silently stop applying.
        let path = src().join(core);
        assert!(
            path.exists(),
            "{} is listed as a core but is not in src/",
            path.display()
        );
        found.extend(uses(&path, IO_PARTS));
    }
    assert!(
        found.is_empty(),
        "a core imports transport, node, delivery, the C ABI or tokio:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_parts_above_the_node_import_it() {
    let mut found = Vec::new();
    for part in parts().iter().filter(|p| !ABOVE_NODE.contains(&p.as_str())) {
        found.extend(uses(&src().join(part), &["crate::node"]));
    }
    assert!(
        found.is_empty(),
        "imports of the node from below it:\n{}",
        found.join("\n")
    );
}

#[test]
fn config_imports_none_of_its_users() {
    let mut found = uses(&src().join("config.rs"), CONFIG_USERS);
    found.extend(uses(&src().join("config"), CONFIG_USERS));
    assert!(
        found.is_empty(),
        "config imports a part that reads it (own the plain type in config and convert):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_sees_a_violation() {
    assert!(mentions("use crate::comm::ConnectionInfo;", "crate::comm"));
    assert!(mentions(
        &flatten_groups("use crate::{comm, ffi::x};"),
        "crate::ffi"
    ));
    assert!(mentions(
        &flatten_groups("use crate::{types, comm::{A, B}};"),
        "crate::comm"
    ));
    assert!(!mentions("use crate::commit::X;", "crate::comm"));
    assert!(mentions("tokio::spawn(f)", "tokio"));
    assert!(!mentions("my_tokio_thing", "tokio"));
}

//! The committed header must equal what cbindgen generates from `src/ffi/`, and its version
//! macros must equal the crate version. `FG_BLESS_HEADER=1` rewrites the header instead.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root().join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

#[test]
fn header_matches_cbindgen_output() {
    let path = root().join("include/fabgossip.h");
    let fresh = generate();
    if std::env::var_os("FG_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
    }
    let committed = std::fs::read_to_string(&path).expect("include/fabgossip.h exists");
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()) + 1);
        panic!(
            "include/fabgossip.h differs from cbindgen output from line {line}; \
             run `FG_BLESS_HEADER=1 cargo test --test header` and commit the result"
        );
    }
}

fn macro_value(header: &str, name: &str) -> String {
    header
        .lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("#define") && it.next() == Some(name)).then(|| it.next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| panic!("{name} is not defined in the header"))
}

#[test]
fn version_macros_equal_crate_version() {
    let header = std::fs::read_to_string(root().join("include/fabgossip.h")).unwrap();
    assert_eq!(macro_value(&header, "FG_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(macro_value(&header, "FG_VERSION_MINOR"), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(macro_value(&header, "FG_VERSION_PATCH"), env!("CARGO_PKG_VERSION_PATCH"));
    let v = unsafe { std::ffi::CStr::from_ptr(fabgossip::ffi::fg_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_exported_item_is_documented() {
    // A declaration line (function, typedef, #define of a constant) must follow a comment.
    let header = std::fs::read_to_string(root().join("include/fabgossip.h")).unwrap();
    let lines: Vec<&str> = header.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let is_item = (t.starts_with("#define FG_") && !t.starts_with("#define FG_VERSION"))
            || (t.starts_with("typedef ") && !lines.get(i.wrapping_sub(1)).is_some_and(|p| p.trim() == "}"))
            || (t.starts_with("fg_status fg_") || t.starts_with("const char *fg_") || t.starts_with("void fg_"));
        if !is_item {
            continue;
        }
        let prev = lines[..i].iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim()).unwrap_or("");
        assert!(prev.ends_with("*/"), "undocumented item at line {}: {line}", i + 1);
    }
}

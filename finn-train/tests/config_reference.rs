//! `docs/config.md` is the config reference: every TOML block in it parses as a config, every
//! key its tables list is used by a block, and every key a block uses is in a table.

use finn_train::config::Job;
use std::collections::BTreeSet;
use std::path::Path;

fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    std::fs::read_to_string(path).unwrap()
}

/// The contents of the ```toml blocks.
fn toml_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The first cell of every table row that names a key in backticks.
fn documented_keys(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(k, _)| k.to_string()))
        .filter(|k| !k.starts_with('"'))
        .collect()
}

/// Dotted key paths of a parsed block: leaves, and nested (not top-level) tables and arrays;
/// array elements add `[]`.
fn key_paths(prefix: &str, value: &toml::Value, top: bool, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(t) => {
            if !top && !prefix.is_empty() && prefix.contains('.') {
                out.insert(prefix.to_string());
            }
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                key_paths(&path, v, false, out);
            }
        }
        toml::Value::Array(items) if items.iter().any(|v| v.is_table()) => {
            out.insert(prefix.to_string());
            for item in items {
                key_paths(&format!("{prefix}[]"), item, true, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

#[test]
fn every_block_parses() {
    let doc = reference();
    let blocks = toml_blocks(&doc);
    assert!(blocks.len() >= 5, "{} blocks", blocks.len());
    for block in &blocks {
        Job::from_toml_str(block.clone(), "/tmp/finn-doc/config.toml")
            .unwrap_or_else(|e| panic!("{e}\n{block}"));
    }
}

#[test]
fn tables_and_blocks_name_the_same_keys() {
    let doc = reference();
    let documented = documented_keys(&doc);
    let mut used = BTreeSet::new();
    for block in toml_blocks(&doc) {
        let value: toml::Value = toml::from_str(&block).unwrap();
        key_paths("", &value, true, &mut used);
    }
    let undocumented: Vec<_> = used.difference(&documented).collect();
    let unused: Vec<_> = documented.difference(&used).collect();
    assert!(
        undocumented.is_empty(),
        "used but not in a table: {undocumented:?}"
    );
    assert!(unused.is_empty(), "in a table but in no block: {unused:?}");
}

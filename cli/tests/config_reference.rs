//! docs/config.md against the parser: every key, layer type and value the
//! parser knows is in the reference, and every one the reference lists is
//! known to the parser. The parser is asked through the binary: a config
//! with an unknown key is refused with the list of the keys that section
//! knows, an unknown value with the list of the values.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod common;
use common::{scratch, stderr, tinyreg};

/// The smallest config the parser takes, a section at a time, so that a
/// probe can add or replace one key.
const SECTIONS: [(&str, &str); 12] = [
    ("", "seed = 0\n"),
    (
        "data",
        "format = \"icls\"\ntrain = \"none.bin\"\nvalidation = 1\n",
    ),
    ("network", "layers = [{ type = \"dense\", units = 2 }]\n"),
    (
        "train",
        "epochs = 1\nbatch = 2\noptimizer = \"sgd\"\nlr = 0.1\n",
    ),
    ("augment", "hflip = true\n"),
    ("mix", "kind = \"mixup\"\nalpha = 0.2\n"),
    ("early_stopping", "patience = 2\n"),
    ("plateau", "factor = 0.5\n"),
    ("average", "kind = \"exponential\"\n"),
    ("test_time", "views = \"ten_crop\"\n"),
    ("snapshot_ensemble", "snapshots = 2\n"),
    (
        "search",
        "sampler = \"random\"\ntrials = 1\nparams = [{ name = \"lr\", low = 0.1, high = 1.0 }]\n",
    ),
];

/// Where a probe goes: a section's table, one layer, or one search parameter.
#[derive(Clone, Copy)]
enum Place<'a> {
    Section(&'a str),
    Layer(&'a str),
    Param,
}

/// The config with `key = value` set at `place`, replacing what the
/// smallest config has there.
fn config_with(place: Place, key: &str, value: &str) -> String {
    let mut text = String::new();
    for (name, body) in SECTIONS {
        if !name.is_empty() {
            text.push_str(&format!("[{name}]\n"));
        }
        match place {
            Place::Section(s) if s == name => {
                for line in body.lines() {
                    if line.split(" = ").next() != Some(key) {
                        text.push_str(line);
                        text.push('\n');
                    }
                }
                text.push_str(&format!("{key} = {value}\n"));
            }
            Place::Layer(kind) if name == "network" => {
                text.push_str(&format!(
                    "layers = [{{ type = \"{kind}\", {key} = {value} }}]\n"
                ));
            }
            Place::Param if name == "search" => {
                text.push_str("sampler = \"random\"\ntrials = 1\n");
                text.push_str(&format!(
                    "params = [{{ name = \"lr\", {key} = {value} }}]\n"
                ));
            }
            _ => text.push_str(body),
        }
    }
    text
}

/// What `check` says of the config. Every probe fails: with status 2 where
/// the parser refuses it, with 3 where a value it took names no file.
fn refusal(dir: &Path, text: &str) -> String {
    let file = dir.join("probe.toml");
    std::fs::write(&file, text).unwrap();
    let out = tinyreg(&["check", file.to_str().unwrap()]);
    assert!(!out.status.success(), "{text}\nwas taken");
    stderr(&out)
}

/// The backticked names after `expected` in serde's "unknown field" or
/// "unknown variant" message; empty where it says there are none.
fn expected_names(message: &str, what: &str) -> Option<BTreeSet<String>> {
    let first = message.lines().next().unwrap_or("");
    let at = first.find(what)?;
    let rest = &first[at..];
    if rest.contains("there are no fields") {
        return Some(BTreeSet::new());
    }
    let list = &rest[rest.find("expected")?..];
    Some(
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
    )
}

/// The names a place knows, asked with an unknown key.
fn parser_keys(dir: &Path, place: Place) -> BTreeSet<String> {
    let message = refusal(dir, &config_with(place, "zz_unknown", "1"));
    expected_names(&message, "unknown field `zz_unknown`").unwrap_or_else(|| {
        panic!(
            "no list of known keys for {:?} in: {message}",
            config_with(place, "zz_unknown", "1")
        )
    })
}

/// The values a key takes, if it takes a fixed set of names.
fn parser_values(dir: &Path, place: Place, key: &str) -> Option<BTreeSet<String>> {
    let message = refusal(dir, &config_with(place, key, "\"zz_unknown\""));
    expected_names(&message, "unknown variant `zz_unknown`")
}

/// One row of a reference table: its cells with the outer pipes removed.
fn cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

/// The first backticked word of a cell.
fn code(cell: &str) -> Option<&str> {
    cell.split('`').nth(1)
}

/// The reference: for every heading, the rows of the first table under it.
fn reference() -> BTreeMap<String, Vec<Vec<String>>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut tables: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    let mut heading = String::new();
    let mut in_table = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('#') {
            heading = h.trim_start_matches('#').trim().to_owned();
            in_table = false;
        } else if line.starts_with('|') {
            let row = cells(line);
            let rule = row
                .iter()
                .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'));
            let table = tables.entry(heading.clone()).or_default();
            if !in_table && !table.is_empty() {
                continue; // a second table under one heading is not the reference
            }
            if !rule {
                table.push(row.into_iter().map(str::to_owned).collect());
            }
            in_table = true;
        } else {
            in_table = false;
        }
    }
    // Drop each table's header row.
    for rows in tables.values_mut() {
        if !rows.is_empty() {
            rows.remove(0);
        }
    }
    tables
}

/// The keys of a section's table and, for each, its type cell.
fn documented(
    tables: &BTreeMap<String, Vec<Vec<String>>>,
    heading: &str,
) -> BTreeMap<String, String> {
    let rows = tables
        .get(heading)
        .unwrap_or_else(|| panic!("docs/config.md has no table under `{heading}`"));
    rows.iter()
        .map(|row| {
            (
                code(&row[0]).expect("a backticked key").to_owned(),
                row[1].clone(),
            )
        })
        .collect()
}

/// The values a type cell lists, as `"name"` in backticks.
fn documented_values(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|v| v.strip_prefix('"')?.strip_suffix('"').map(str::to_owned))
        .collect()
}

fn check_place(dir: &Path, place: Place, name: &str, keys: &BTreeMap<String, String>) {
    let known = parser_keys(dir, place);
    let written: BTreeSet<String> = keys.keys().cloned().collect();
    assert_eq!(
        known, written,
        "{name}: the parser's keys (left) and docs/config.md's (right) differ"
    );
    for (key, cell) in keys {
        if let Some(values) = parser_values(dir, place, key) {
            assert_eq!(
                values,
                documented_values(cell),
                "{name}.{key}: the parser's values (left) and docs/config.md's (right) differ"
            );
        }
    }
}

#[test]
fn config_reference_lists_every_key_and_value_of_the_parser() {
    let dir = scratch("config_reference");
    let tables = reference();
    let sections = [
        (Place::Section(""), "Top level"),
        (Place::Section("data"), "`[data]`"),
        (Place::Section("network"), "`[network]`"),
        (Place::Section("train"), "`[train]`"),
        (Place::Section("augment"), "`[augment]`"),
        (Place::Section("mix"), "`[mix]`"),
        (Place::Section("early_stopping"), "`[early_stopping]`"),
        (Place::Section("plateau"), "`[plateau]`"),
        (Place::Section("average"), "`[average]`"),
        (Place::Section("test_time"), "`[test_time]`"),
        (Place::Section("snapshot_ensemble"), "`[snapshot_ensemble]`"),
        (Place::Section("search"), "`[search]`"),
        (Place::Param, "`[[search.params]]`"),
    ];
    for (place, heading) in sections {
        check_place(&dir, place, heading, &documented(&tables, heading));
    }

    // Layer types: the table has a row per (type, key), `—` for no keys.
    let rows = tables
        .get("Layer types")
        .expect("docs/config.md has a Layer types table");
    let mut layers: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows {
        let kind = code(&row[0]).expect("a backticked layer type").to_owned();
        let keys = layers.entry(kind).or_default();
        if let Some(key) = code(&row[1]) {
            keys.insert(key.to_owned(), row[2].clone());
        }
    }
    let message = refusal(&dir, &config_with(Place::Layer("zz_unknown"), "units", "2"));
    let kinds = expected_names(&message, "unknown variant `zz_unknown`")
        .unwrap_or_else(|| panic!("no list of layer types in: {message}"));
    let written: BTreeSet<String> = layers.keys().cloned().collect();
    assert_eq!(
        kinds, written,
        "the parser's layer types (left) and docs/config.md's (right) differ"
    );
    for (kind, keys) in &layers {
        check_place(&dir, Place::Layer(kind), kind, keys);
    }
}

#[test]
fn a_key_missing_from_the_reference_is_noticed() {
    // The check itself: a section the parser knows more of than a table
    // lists must differ, or the test above could never fail.
    let dir = scratch("config_reference_negative");
    let mut keys = documented(&reference(), "`[train]`");
    keys.remove("clip_norm");
    assert_ne!(
        parser_keys(&dir, Place::Section("train")),
        keys.keys().cloned().collect()
    );
    assert_eq!(
        parser_values(&dir, Place::Section("train"), "optimizer").map(|v| v.len()),
        Some(5)
    );
}

//! `docs/topology.schema.json` against the loader, with an independent validator (the
//! `jsonschema` crate, draft 2020-12):
//!
//! - the committed file is exactly what `json_schema::generate` gives (bless a change
//!   with `OVSNET_BLESS=1 cargo test --test topology_schema`), is a valid 2020-12 schema,
//!   and describes every field the loader accepts;
//! - every topology of the test suite the loader accepts, the schema accepts. The suite's
//!   topologies are found, not listed: every `.yaml` under `topologies/` and `tests/`, and
//!   every string literal in `src/` and `tests/` that reads as a topology, so one added
//!   by any later test is checked too;
//! - a file the loader refuses only for structural reasons, the schema refuses too;
//! - structural mistakes made on purpose in every example (unknown and misspelt fields
//!   in every mapping, wrong types, numbers out of range, unknown words, fields that
//!   do not go together) are refused by both.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use jsonschema::Validator;
use ovsnet::topology::{json_schema, load, Problem, Severity};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const SCHEMA_FILE: &str = "docs/topology.schema.json";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> Validator {
    jsonschema::draft202012::new(&json_schema::generate()).expect("the schema compiles")
}

/// The file as a JSON value; `None` when it is not YAML a JSON value can hold.
fn to_json(text: &str) -> Option<Value> {
    serde_saphyr::from_str::<Value>(text).ok()
}

fn schema_errors(validator: &Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_what_the_code_generates() {
    let generated =
        serde_json::to_string_pretty(&json_schema::generate()).expect("serializes") + "\n";
    let path = root().join(SCHEMA_FILE);
    if std::env::var_os("OVSNET_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{SCHEMA_FILE} is not what the code generates; regenerate it with \
         `OVSNET_BLESS=1 cargo test --test topology_schema` and commit it"
    );
}

#[test]
fn the_schema_is_valid_draft_2020_12_and_describes_every_field() {
    let schema = json_schema::generate();
    jsonschema::meta::validate(&schema).expect("a valid 2020-12 schema");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let undescribed = json_schema::undescribed();
    assert!(
        undescribed.is_empty(),
        "the loader accepts {undescribed:?}, which src/topology/json_schema.rs does not describe"
    );
    // Every mapping is closed and every property says what it is.
    let mut mappings = vec![&schema];
    mappings.extend(schema["$defs"].as_object().expect("$defs").values());
    for mapping in mappings {
        assert_eq!(mapping["additionalProperties"], false, "{mapping}");
        for (name, property) in mapping["properties"].as_object().expect("properties") {
            let text = property["description"].as_str().unwrap_or_default();
            let referenced = property.get("$ref").is_some();
            assert!(
                referenced || text.len() > 10,
                "`{name}` lacks a description"
            );
        }
    }
}

/// Rust files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A string literal's value.
fn string_value(token: &proc_macro2::TokenTree) -> Option<String> {
    match token {
        proc_macro2::TokenTree::Literal(literal) => {
            syn::parse_str::<syn::LitStr>(&literal.to_string())
                .ok()
                .map(|l| l.value())
        }
        _ => None,
    }
}

/// What the scan of one source file found.
#[derive(Default)]
struct Found {
    /// Every string literal, macro arguments included.
    literals: Vec<String>,
    /// The `(from, to)` pairs of each `edit(&[(from, to), ...])` call (topology_errors'
    /// way of making a file from its `BASE`).
    edits: Vec<Vec<(String, String)>>,
}

fn scan(tokens: proc_macro2::TokenStream, found: &mut Found) {
    let tokens: Vec<_> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        if let Some(text) = string_value(token) {
            found.literals.push(text);
        }
        let proc_macro2::TokenTree::Group(group) = token else {
            continue;
        };
        let after_edit =
            i > 0 && matches!(&tokens[i - 1], proc_macro2::TokenTree::Ident(id) if id == "edit");
        if after_edit {
            let mut pairs = Vec::new();
            pairs_in(group.stream(), &mut pairs);
            found.edits.push(pairs);
        }
        scan(group.stream(), found);
    }
}

/// Every `("from", "to")` tuple nested in `tokens`.
fn pairs_in(tokens: proc_macro2::TokenStream, out: &mut Vec<(String, String)>) {
    for token in tokens {
        let proc_macro2::TokenTree::Group(group) = token else {
            continue;
        };
        let inner: Vec<_> = group.stream().into_iter().collect();
        match (
            inner.len(),
            inner.first().and_then(string_value),
            inner.last().and_then(string_value),
        ) {
            (3, Some(from), Some(to)) => out.push((from, to)),
            _ => pairs_in(group.stream(), out),
        }
    }
}

/// Every topology-looking text of the suite, named by where it was found.
fn corpus() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for dir in ["topologies", "tests", "tests/invalid"] {
        for entry in std::fs::read_dir(root().join(dir))
            .expect("read dir")
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("read yaml");
                found.push((path.display().to_string(), text));
            }
        }
    }
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read source");
        let Ok(tokens) = source.parse::<proc_macro2::TokenStream>() else {
            continue;
        };
        let mut scanned = Found::default();
        scan(tokens, &mut scanned);
        let name = file.display().to_string();
        let topologies: Vec<String> = scanned
            .literals
            .into_iter()
            .filter(|t| t.contains("version:") && t.contains("hosts"))
            .collect();
        for (i, edits) in scanned.edits.iter().enumerate() {
            for base in &topologies {
                if edits.iter().all(|(from, _)| base.contains(from.as_str())) {
                    let text = edits.iter().fold(base.clone(), |text, (from, to)| {
                        text.replacen(from.as_str(), to, 1)
                    });
                    found.push((format!("{name} edit {i}"), text));
                }
            }
        }
        for (i, text) in topologies.into_iter().enumerate() {
            found.push((format!("{name} literal {i}"), text));
        }
    }
    for tunnel in [
        "  type: vxlan\n  topology: mesh\n",
        "  type: gre\n  topology: chain\n  key: 7\n",
        "  type: geneve\n  topology: star\n  hub: host-00000\n",
    ] {
        found.push((
            format!("generated {tunnel:?}"),
            common::generated(12, tunnel),
        ));
    }
    found
}

/// Problems a JSON Schema can see: names, types, ranges, words, fields that go together.
fn structural(problem: &Problem) -> bool {
    use Problem::*;
    matches!(
        problem,
        UnknownField { .. }
            | WrongType { .. }
            | Missing { .. }
            | UnsupportedVersion { .. }
            | NotOneOf { .. }
            | BadName { .. }
            | OutOfRange { .. }
            | EmptyFile
            | NoHosts
            | NoVlans
            | NeedsGateway { .. }
            | FieldNotForShape { .. }
            | ShapeNeedsField { .. }
            | KeyTooLarge { .. }
            | DstPortWithGre
    )
}

#[test]
fn the_schema_agrees_with_the_loader_on_every_topology_of_the_suite() {
    let validator = validator();
    let (mut valid, mut refused) = (0, 0);
    for (name, text) in corpus() {
        let Some(value) = to_json(&text) else {
            continue;
        };
        let errors = schema_errors(&validator, &value);
        match load(&name, &text) {
            Ok(_) => {
                valid += 1;
                assert!(
                    errors.is_empty(),
                    "{name}: the loader accepts it, the schema refuses:\n{errors:#?}\n{text}"
                );
            }
            Err(diagnostics) => {
                let problems: Vec<&Problem> = diagnostics
                    .items
                    .iter()
                    .filter(|d| d.problem.severity() == Severity::Error)
                    .map(|d| &d.problem)
                    .collect();
                if problems.iter().all(|p| structural(p)) {
                    refused += 1;
                    assert!(!errors.is_empty(), "{name}: refused by the loader ({problems:?}), accepted by the schema:\n{text}");
                }
            }
        }
    }
    // The corpus is found by scanning: make sure the scan found what it should.
    eprintln!("{valid} valid and {refused} structurally refused topologies checked");
    assert!(valid >= 10, "only {valid} valid topologies found");
    assert!(
        refused >= 10,
        "only {refused} structurally refused topologies found"
    );
}

/// The examples, as JSON.
fn examples() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("topologies"))
        .expect("read dir")
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).expect("read");
        let value = to_json(&text).expect("an example is YAML");
        out.push((entry.path().display().to_string(), value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 4);
    out
}

/// Every mapping of a topology value, by a path like `/vlans/0`.
fn mappings(topology: &Value) -> Vec<String> {
    let mut paths = vec![String::new()];
    for section in ["bridge", "tunnel", "underlay"] {
        if topology.get(section).is_some() {
            paths.push(format!("/{section}"));
        }
    }
    for list in ["vlans", "hosts"] {
        for i in 0..topology[list].as_array().map_or(0, Vec::len) {
            paths.push(format!("/{list}/{i}"));
        }
    }
    paths
}

/// The structural mistakes to make in `topology`, each as (what, the mistaken value).
fn mistakes(topology: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut edit = |what: String, change: &dyn Fn(&mut Value)| {
        let mut v = topology.clone();
        change(&mut v);
        out.push((what, v));
    };
    for path in mappings(topology) {
        edit(format!("unknown field in `{path}`"), &|v| {
            v.pointer_mut(&path).expect("mapping")["colour"] = json!("blue");
        });
        let keys: Vec<String> = topology
            .pointer(&path)
            .and_then(Value::as_object)
            .expect("mapping")
            .keys()
            .cloned()
            .collect();
        for key in keys {
            // A misspelling: the last letter dropped (`gateway` -> `gatewa`).
            let misspelt = key[..key.len() - 1].to_string();
            edit(format!("`{path}/{key}` misspelt `{misspelt}`"), &|v| {
                let map = v
                    .pointer_mut(&path)
                    .and_then(Value::as_object_mut)
                    .expect("mapping");
                let value = map.remove(&key).expect("key");
                map.insert(misspelt.clone(), value);
            });
            let field = format!("{path}/{key}");
            let wrong = match &topology.pointer(&field).expect("field") {
                Value::String(_) => json!(42),
                Value::Number(_) => json!("ten"),
                Value::Bool(_) => json!("yes please"),
                _ => json!("a string"),
            };
            edit(format!("`{field}` of the wrong type"), &|v| {
                *v.pointer_mut(&field).expect("field") = wrong.clone();
            });
        }
    }
    let set = |path: &str, value: Value| {
        let path = path.to_string();
        move |v: &mut Value| {
            let (parent, key) = path.rsplit_once('/').expect("a path");
            v.pointer_mut(parent).expect("parent")[key] = value.clone();
        }
    };
    let changes: Vec<(&str, Value)> = vec![
        ("/version", json!(2)),
        ("/vlans/0/id", json!(0)),
        ("/vlans/0/id", json!(4095)),
        ("/tunnel/dst_port", json!(0)),
        ("/tunnel/dst_port", json!(65536)),
        ("/tunnel/key", json!(-1)),
        ("/tunnel/key", json!(1u64 << 32)),
        ("/underlay/mtu", json!(67)),
        ("/underlay/mtu", json!(65536)),
        ("/tunnel/type", json!("vxlan6")),
        ("/tunnel/topology", json!("ring")),
        ("/tunnel/loop_protection", json!("stp")),
        ("/bridge/datapath", json!("dpdk")),
        ("/bridge/name", json!("a-bridge-name-too-long")),
        ("/cluster", json!("Demo")),
        ("/vlans/0/subnet", json!("10.0.0.0/33")),
        ("/hosts/0/underlay_ip", json!("198.18.0.256")),
        ("/vlans/0/dhcp", json!(true)),
    ];
    for (path, value) in changes {
        let parent = path.rsplit_once('/').map_or("", |p| p.0);
        if topology.pointer(parent).is_some() {
            edit(
                format!("`{path}` set to {value}"),
                &set(path, value.clone()),
            );
        }
    }
    let kind = topology["tunnel"]["type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if kind == "gre" {
        edit(
            "`dst_port` with GRE".into(),
            &set("/tunnel/dst_port", json!(4789)),
        );
    } else {
        edit(
            format!("a 25-bit key with {kind}"),
            &set("/tunnel/key", json!(1u32 << 24)),
        );
    }
    if topology["tunnel"]["topology"] != "star" {
        edit(
            "`hub` without `topology: star`".into(),
            &set("/tunnel/hub", json!("x")),
        );
    }
    out
}

#[test]
fn structural_mistakes_are_refused_by_the_schema_and_the_loader() {
    let validator = validator();
    let mut checked = 0;
    for (name, example) in examples() {
        assert!(
            validator.is_valid(&example),
            "{name}: {:?}",
            schema_errors(&validator, &example)
        );
        for (what, mistaken) in mistakes(&example) {
            if mistaken["vlans"][0].get("gateway").is_some() && what.contains("dhcp") {
                continue; // dhcp with a gateway is no mistake
            }
            // JSON is YAML: the loader reads the mistaken value as written here.
            let text = serde_json::to_string_pretty(&mistaken).expect("serializes");
            let loaded = load(&name, &text);
            assert!(
                loaded.is_err(),
                "{name}: {what}: the loader accepts it:\n{text}"
            );
            assert!(
                !validator.is_valid(&mistaken),
                "{name}: {what}: the schema accepts it:\n{text}"
            );
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} mistakes checked");
}

#[test]
fn every_example_names_the_schema_for_editors() {
    for entry in std::fs::read_dir(root().join("topologies"))
        .expect("read dir")
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).expect("read");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "# yaml-language-server: $schema=../docs/topology.schema.json",
            "{}",
            entry.path().display()
        );
    }
}

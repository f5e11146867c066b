//! `rewind schema`: the JSON Schema editors check incident files with accepts every
//! bundled incident (variants included) and every benchmark model, refuses an unknown
//! field at the top and deep inside and a value of the wrong type, reads durations as
//! rewind does, and names every field the raw types accept.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};

/// The schema as `rewind schema` prints it.
fn printed_schema() -> String {
    let out = Command::cargo_bin("rewind")
        .expect("binary")
        .arg("schema")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn schema() -> Value {
    serde_json::from_str(&printed_schema()).expect("the schema is JSON")
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft7::new(schema).expect("the schema is a valid draft-7 schema")
}

/// A YAML incident file as the JSON value an editor's schema check sees: YAML 1.2,
/// where `off` and `no` are words (yaml-language-server's default, and rewind's).
fn yaml(text: &str) -> Value {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).expect("YAML")
}

/// What the validator says about `instance`: one line per error, with its place.
fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn yaml_files(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bundled_incident_and_benchmark_model_is_valid() {
    let v = validator(&schema());
    let files: Vec<_> = yaml_files("incidents")
        .into_iter()
        .chain(yaml_files("bench"))
        .collect();
    assert!(files.len() >= 14, "{files:?}");
    for file in files {
        let instance = yaml(&fs::read_to_string(&file).expect("read"));
        let errs = errors(&v, &instance);
        assert!(errs.is_empty(), "{}:\n{}", file.display(), errs.join("\n"));
    }
}

fn leaky() -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("incidents/leaky-batch-loop.yaml");
    yaml(&fs::read_to_string(file).expect("read"))
}

/// `change` applied to leaky-batch-loop must be refused, with an error at `at` or at
/// the optional field that holds it (`/services/0/memory` for a bad memory limit: an
/// optional field is "this, or nothing").
fn refused(v: &jsonschema::Validator, what: &str, at: &str, change: impl FnOnce(&mut Value)) {
    let mut instance = leaky();
    assert!(
        errors(v, &instance).is_empty(),
        "the unchanged file is valid"
    );
    change(&mut instance);
    let errs = errors(v, &instance);
    let located = |e: &String| {
        e.split_once(": ").is_some_and(|(path, _)| {
            path == at || (!path.is_empty() && at.starts_with(&format!("{path}/")))
        })
    };
    assert!(
        errs.iter().any(located),
        "{what}: no error at {at}; errors: {errs:?}"
    );
}

fn object(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    v.as_object_mut().expect("an object")
}

#[test]
fn an_unknown_field_fails_at_the_top_and_deep_inside() {
    let v = validator(&schema());
    refused(&v, "a typo at the top", "", |i| {
        object(i).insert("duraton".into(), json!("2h"));
    });
    refused(&v, "a typo in a service", "/services/0", |i| {
        object(&mut i["services"][0]).insert("replcas".into(), json!(2));
    });
    refused(&v, "a typo in a pool", "/services/0/pools/0", |i| {
        object(&mut i["services"][0]["pools"][0]).insert("max_opne".into(), json!(20));
    });
    refused(
        &v,
        "a typo in a timeline action",
        "/timeline/0/deploy",
        |i| {
            object(&mut i["timeline"][0]["deploy"]).insert("servce".into(), json!("x"));
        },
    );
    refused(&v, "a typo in a latency", "/databases/0/latency", |i| {
        object(&mut i["databases"][0]["latency"]).insert("weibull".into(), json!({}));
    });
    refused(&v, "a typo in a variant", "/variants/0", |i| {
        object(&mut i["variants"][0]).insert("sett".into(), json!({}));
    });
}

#[test]
fn a_value_of_the_wrong_type_fails() {
    let v = validator(&schema());
    refused(&v, "a duration without a unit", "/duration", |i| {
        i["duration"] = json!(9000);
    });
    refused(
        &v,
        "a duration in a unit rewind does not read",
        "/duration",
        |i| {
            i["duration"] = json!("2 days");
        },
    );
    refused(&v, "a count in words", "/services/0/replicas", |i| {
        i["services"][0]["replicas"] = json!("two");
    });
    refused(&v, "zero replicas", "/services/0/replicas", |i| {
        i["services"][0]["replicas"] = json!(0);
    });
    refused(
        &v,
        "Kubernetes' Mi, not MiB",
        "/services/0/memory/limit",
        |i| {
            i["services"][0]["memory"]["limit"] = json!("512Mi");
        },
    );
    refused(&v, "a rate without its time unit", "/clients/0/rate", |i| {
        i["clients"][0]["rate"] = json!("40");
    });
    refused(
        &v,
        "a word no enum has",
        "/services/0/pools/0/profile",
        |i| {
            i["services"][0]["pools"][0]["profile"] = json!("pgbouncer");
        },
    );
    refused(&v, "a list where a map goes", "/services/0/handler", |i| {
        i["services"][0]["handler"] = json!([]);
    });
}

/// The `Duration` definition alone, as a schema of its own.
fn duration_validator(schema: &Value) -> jsonschema::Validator {
    let definition = schema["definitions"]["Duration"].clone();
    assert!(definition.is_object(), "a Duration definition");
    jsonschema::draft7::new(&definition).expect("schema")
}

#[test]
fn the_duration_pattern_agrees_with_rewind_on_what_a_duration_is() {
    let v = duration_validator(&schema());
    let samples = [
        "30s",
        "250ms",
        "5m",
        "1h 30m",
        "1h30m",
        "1h 30m 15s",
        "2 hours, 30 minutes",
        "2 hours 30 mins",
        "1.5s",
        "1,5s",
        "1.5h",
        "1.123456789s",
        "1.1234567891s",
        "+5s",
        "  30s  ",
        "0s",
        "5 secs",
        "10us",
        "10µs",
        "100ns",
        "3 nanoseconds",
        "1ms 500us",
        "01:02:03",
        "1:2:3.5",
        "PT1H30M",
        "pt1.5s",
        "PT90S",
        "5",
        "s",
        "",
        "5 s",
        "5S",
        "-5s",
        "5s ago",
        "1d",
        "1 day",
        "1w",
        "P1D",
        "PT",
        "1h 1h",
        "30m 1h",
        "1.5h 30m",
        "5m30",
        "1e3s",
        "five seconds",
        "5 seconds,",
        "5h, 30m",
        "5h,30m",
    ];
    let mut disagreements = Vec::new();
    for s in samples {
        let rewind_reads = rewind::human::parse_duration(s).is_ok();
        let schema_reads = v.is_valid(&json!(s));
        if rewind_reads != schema_reads {
            disagreements.push(format!(
                "{s:?}: rewind {}, schema {}",
                if rewind_reads {
                    "reads it"
                } else {
                    "refuses it"
                },
                if schema_reads {
                    "accepts it"
                } else {
                    "refuses it"
                }
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // A number is never a duration: the unit is required.
    assert!(!v.is_valid(&json!(30)));
}

/// Every property name anywhere in the schema.
fn property_names(v: &Value, into: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                into.extend(props.keys().cloned());
            }
            map.values().for_each(|x| property_names(x, into));
        }
        Value::Array(xs) => xs.iter().for_each(|x| property_names(x, into)),
        _ => {}
    }
}

/// The YAML names of the raw types' fields (`pub name:`, or its `#[serde(rename)]`).
fn raw_field_names() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/incident");
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(dir).expect("src/incident") {
        let path = entry.expect("entry").path();
        let is_raw = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("raw") && n.ends_with(".rs"));
        if !is_raw {
            continue;
        }
        let text = fs::read_to_string(&path).expect("read");
        let mut rename: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if let Some(r) = line
                .strip_prefix("#[serde(rename = \"")
                .and_then(|r| r.split('"').next())
            {
                rename = Some(r.to_string());
                continue;
            }
            if line.starts_with("#[") || line.starts_with("///") || line.starts_with("//") {
                continue;
            }
            if let Some((name, _)) = line.strip_prefix("pub ").and_then(|l| l.split_once(':')) {
                if name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
                {
                    names.insert(rename.take().unwrap_or_else(|| name.to_string()));
                }
            }
            rename = None;
        }
    }
    names
}

#[test]
fn every_field_the_raw_types_accept_is_named_in_the_schema() {
    let mut in_schema = BTreeSet::new();
    property_names(&schema(), &mut in_schema);
    let raw = raw_field_names();
    assert!(raw.len() > 150, "the raw types were found: {raw:?}");
    let missing: Vec<_> = raw.difference(&in_schema).collect();
    assert!(missing.is_empty(), "fields not in the schema: {missing:?}");
    // `for` is a keyword in Rust: the field is `hold`, the file's name `for`.
    assert!(in_schema.contains("for") && !in_schema.contains("hold"));
}

#[test]
fn the_schema_is_draft_7_deterministic_and_describes_what_it_checks() {
    let first = printed_schema();
    assert_eq!(first, printed_schema(), "two prints differ");
    let s: Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(s["title"], "rewind incident file");
    assert_eq!(s["additionalProperties"], false);
    let required: Vec<&str> = s["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["name", "duration"]);
    // Help on hover: the units' descriptions, and the doc comments of the raw types.
    let described = |d: &str| {
        s["definitions"][d]["description"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    };
    for d in [
        "Duration",
        "Rate",
        "Memory",
        "Count",
        "RawTimelineEntry",
        "RawCache",
    ] {
        assert!(described(d), "{d} has no description");
    }
}

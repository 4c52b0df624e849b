//! Every Kubernetes manifest in the user's notes (shared/seeds), applied with kubectl and read
//! back: each field the manifest sets must come back as written.

mod common;

use std::path::PathBuf;

use common::Cluster;
use serde_json::Value;

fn seeds_dir() -> PathBuf {
    let dir = std::env::var("BOSUN_SEEDS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds")
        });
    assert!(
        dir.is_dir(),
        "the seed notes are expected at {} (set BOSUN_SEEDS)",
        dir.display()
    );
    dir
}

/// Whether a line can continue a YAML document: a list item, a comment, or a `key:` with a
/// plain ASCII key, at any indentation. The notes run prose on right after some manifests.
fn yaml_line(l: &str) -> bool {
    if l.starts_with("---") {
        return false;
    }
    let t = l.trim_start();
    if t.starts_with("- ") || t == "-" || t.starts_with('#') {
        return true;
    }
    match t.split_once(':') {
        Some((k, _)) => {
            let k = k.trim_matches('"');
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        }
        None => false,
    }
}

/// Cuts every `apiVersion:`-led document out of a note, wherever it stands: fenced blocks,
/// heredocs of `kubectl create -f -`, or bare text.
fn documents(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut docs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with("apiVersion:") {
            i += 1;
            continue;
        }
        let mut doc = vec![lines[i]];
        let mut j = i + 1;
        while j < lines.len() {
            let l = lines[j];
            if l.starts_with("apiVersion:") {
                break;
            }
            if l.trim().is_empty() {
                let next = lines[j..].iter().find(|l| !l.trim().is_empty());
                if next.is_some_and(|n| {
                    yaml_line(n) && !n.starts_with("apiVersion:") && !n.starts_with('#')
                }) {
                    doc.push(l);
                    j += 1;
                    continue;
                }
                break;
            }
            if !yaml_line(l) {
                break;
            }
            doc.push(l);
            j += 1;
        }
        docs.push(doc.join("\n"));
        i = j;
    }
    docs
}

/// Asserts that every leaf `want` sets is in `got` with the same value.
fn assert_contains(want: &Value, got: &Value, path: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => assert_contains(v, gv, &p),
                    None if v.is_null() || v == &Value::Object(Default::default()) => {}
                    None => panic!("{p} was not stored: wanted {v}"),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            // Admission may append (a pod's token volume and its mounts, default
            // tolerations): what the manifest lists comes first, in order.
            assert!(
                w.len() <= g.len(),
                "{path}: list length {} < {}",
                g.len(),
                w.len()
            );
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                assert_contains(a, b, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            assert_eq!(a.to_string(), *b, "{path}")
        }
        (w, g) => assert_eq!(w, g, "{path}"),
    }
}

#[test]
fn every_seed_manifest_applies_and_reads_back() {
    let c = Cluster::start();
    let served = c.ok(&["api-resources", "--no-headers", "-o", "wide"]);
    let mut applied = 0;
    let mut skipped = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(seeds_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "txt"))
    {
        let text = std::fs::read_to_string(file).unwrap();
        for doc in documents(&text) {
            let obj: Value = match serde_yaml::from_str(&doc) {
                Ok(v) => v,
                Err(e) => {
                    skipped.push(format!(
                        "not valid YAML ({e}): {}",
                        doc.lines().take(4).collect::<Vec<_>>().join(" | ")
                    ));
                    continue;
                }
            };
            let kind = obj["kind"].as_str().unwrap_or_default().to_string();
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if kind.is_empty() || name.is_empty() {
                skipped.push(format!(
                    "no kind or metadata.name: {}",
                    doc.lines().take(4).collect::<Vec<_>>().join(" | ")
                ));
                continue;
            }
            if !served
                .lines()
                .any(|l| l.split_whitespace().any(|w| w == kind))
            {
                skipped.push(format!(
                    "{kind} {name}: a custom resource whose definition the notes do not include"
                ));
                continue;
            }
            let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
            if let Some(ns) = &ns
                && !c.kubectl(&["get", "ns", ns]).status.success()
            {
                c.ok(&["create", "namespace", ns]);
            }
            let out = c.ok_stdin(&["apply", "-f", "-"], &doc);
            assert!(
                out.contains("created") || out.contains("configured") || out.contains("unchanged"),
                "{out}"
            );
            let mut get = vec![
                "get".to_string(),
                kind.clone(),
                name.clone(),
                "-o".into(),
                "json".into(),
            ];
            if let Some(ns) = &ns {
                get.extend(["-n".to_string(), ns.clone()]);
            }
            let args: Vec<&str> = get.iter().map(String::as_str).collect();
            let back: Value = serde_json::from_str(&c.ok(&args)).unwrap();
            assert_contains(&obj, &back, &format!("{kind}/{name}"));
            applied += 1;
        }
    }
    eprintln!(
        "applied {applied} seed manifests; skipped {}:",
        skipped.len()
    );
    for s in &skipped {
        eprintln!("  - {s}");
    }
    assert!(applied >= 40, "only {applied} seed manifests were applied");
}

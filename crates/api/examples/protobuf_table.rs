//! Generates `src/protobuf/fields.json`, the table the protobuf decoder walks.
//!
//! Usage: `protobuf_table <k8s-pb src dir> <k8s-openapi src/v1_34 dir> <output file>`
//! (`scripts/gen-protobuf-table` finds both directories). Field numbers and wire types come
//! from k8s-pb's generated message definitions; JSON field names come from k8s-openapi's
//! serde code. The two are joined on package, type name (case-insensitively: prost writes
//! `CsiDriver` where upstream writes `CSIDriver`) and Rust field name.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn package_of(parts: &[String]) -> String {
    let mut p = vec!["io".to_string(), "k8s".to_string()];
    p.extend(parts.iter().map(|s| s.replace('_', "-")));
    p.join(".")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn norm_field(f: &str) -> String {
    f.trim_start_matches("r#").trim_end_matches('_').to_string()
}

/// (package, lowercase type) → (upstream type name, rust field → json name).
type Names = HashMap<(String, String), (String, HashMap<String, String>)>;

fn openapi_names(root: &Path) -> Names {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut out = Names::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap();
        let mut parts: Vec<String> = rel
            .iter()
            .map(|s| s.to_string_lossy().to_string())
            .collect();
        parts.pop();
        let text = std::fs::read_to_string(&f).unwrap();
        let Some(ty) = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("pub struct ")
                    .or_else(|| l.strip_prefix("pub enum "))
            })
            .map(|r| r.split([' ', '{', '(', '<']).next().unwrap().to_string())
        else {
            continue;
        };
        let mut fields = HashMap::new();
        for l in text.lines() {
            let l = l.trim();
            if let Some((json, rest)) = l
                .strip_prefix('"')
                .and_then(|r| r.split_once("\" => Field::Key_"))
            {
                let rust = rest.trim_end_matches(',');
                fields.insert(norm_field(rust), json.to_string());
            }
        }
        out.insert((package_of(&parts), ty.to_lowercase()), (ty, fields));
    }
    out
}

struct PbField {
    tag: u32,
    rust: String,
    kind: String,
    repeated: bool,
    target: Option<(String, String)>,
}

fn resolve_type(module: &[String], path: &str) -> (String, String) {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut m: Vec<String> = module.to_vec();
    let mut rest = Vec::new();
    for s in segs {
        match s {
            "super" => {
                m.pop();
            }
            "crate" => m.clear(),
            s => rest.push(s.to_string()),
        }
    }
    let name = rest.pop().unwrap();
    m.extend(rest);
    (package_of(&m), name)
}

/// The innermost generic argument naming a message type, e.g. `super::X` in `Option<Box<super::X>>`.
fn message_path(ty: &str) -> String {
    let compact: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    let inner = match compact.rfind('<') {
        Some(i) => &compact[i + 1..],
        None => compact.as_str(),
    };
    // Maps: BTreeMap<String, X> — the value type is the last non-empty argument.
    inner
        .split([',', '>'])
        .rfind(|s| !s.is_empty())
        .unwrap_or_default()
        .to_string()
}

fn pb_messages(root: &Path) -> BTreeMap<(String, String), Vec<PbField>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        if f.file_name().is_none_or(|n| n != "mod.rs") {
            continue;
        }
        let rel = f.strip_prefix(root).unwrap();
        let mut module: Vec<String> = rel
            .iter()
            .map(|s| s.to_string_lossy().to_string())
            .collect();
        module.pop();
        if module.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut current: Option<(String, Vec<PbField>)> = None;
        let mut i = 0;
        while i < lines.len() {
            let l = lines[i].trim();
            if let Some(rest) = l.strip_prefix("pub struct ") {
                if let Some((name, fields)) = current.take() {
                    out.insert((package_of(&module), name), fields);
                }
                current = Some((
                    rest.split([' ', '{']).next().unwrap().to_string(),
                    Vec::new(),
                ));
            } else if let Some(attrs) = l
                .strip_prefix("#[prost(")
                .and_then(|r| r.strip_suffix(")]"))
            {
                let mut decl = String::new();
                let mut j = i + 1;
                while j < lines.len() {
                    decl.push_str(lines[j].trim());
                    decl.push(' ');
                    let open = decl.matches('<').count();
                    let close = decl.matches('>').count();
                    if open == close && lines[j].trim_end().ends_with(',') {
                        break;
                    }
                    j += 1;
                }
                i = j;
                let Some((name, ty)) = decl
                    .trim()
                    .strip_prefix("pub ")
                    .and_then(|d| d.split_once(':'))
                else {
                    i += 1;
                    continue;
                };
                let tag: u32 = attrs
                    .split("tag = \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|t| t.parse().ok())
                    .expect("every prost field has a tag");
                let repeated = attrs.contains("repeated");
                let first = attrs.split([',', ' ', '=']).next().unwrap();
                let (kind, target) = if first == "btree_map" || first == "map" {
                    let value = attrs
                        .split('"')
                        .nth(1)
                        .unwrap()
                        .split(',')
                        .nth(1)
                        .unwrap()
                        .trim()
                        .to_string();
                    let target = if value == "message" {
                        Some(resolve_type(&module, &message_path(ty)))
                    } else {
                        Some((String::new(), value))
                    };
                    ("map".to_string(), target)
                } else if first == "message" {
                    (
                        "message".to_string(),
                        Some(resolve_type(&module, &message_path(ty))),
                    )
                } else {
                    (first.to_string(), None)
                };
                if let Some((_, fields)) = current.as_mut() {
                    fields.push(PbField {
                        tag,
                        rust: norm_field(name.trim()),
                        kind,
                        repeated,
                        target,
                    });
                }
            }
            i += 1;
        }
        if let Some((name, fields)) = current.take() {
            out.insert((package_of(&module), name), fields);
        }
    }
    out
}

/// Whether a message field is a Go struct embedded inline in its parent's JSON: its type has
/// no definition of its own, or every JSON field of it is a JSON field of the parent.
fn inlined(names: &Names, parent: Option<&HashMap<String, String>>, f: &PbField) -> bool {
    let (Some(parent), Some((pkg, ty))) = (parent, &f.target) else {
        return false;
    };
    // Types only ever embedded inline have no OpenAPI definition of their own.
    let Some((_, child)) = names.get(&(pkg.clone(), ty.to_lowercase())) else {
        return true;
    };
    let parent_json: Vec<&String> = parent.values().collect();
    !child.is_empty() && child.values().all(|j| parent_json.contains(&j))
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, pb, openapi, output] = args.as_slice() else {
        eprintln!("usage: protobuf_table <k8s-pb src> <k8s-openapi src/v1_34> <output>");
        std::process::exit(2);
    };
    let names = openapi_names(Path::new(openapi));
    // Every JSON name k8s-openapi knows, by its Rust name without underscores: names the fields
    // of types that have no definition of their own (`downward_api` → `downwardAPI`).
    // Several JSON names can share a Rust name (`schema` and `$schema`): take the most common
    // plain one, then the first in order, so the table is the same on every run.
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (_, fields) in names.values() {
        for (rust, json) in fields {
            *counts
                .entry(rust.replace('_', ""))
                .or_default()
                .entry(json.clone())
                .or_default() += 1;
        }
    }
    let global: HashMap<String, String> = counts
        .into_iter()
        .map(|(rust, candidates)| {
            let best = candidates
                .iter()
                .max_by_key(|(json, n)| {
                    (
                        json.chars().all(|c| c.is_ascii_alphanumeric()),
                        **n,
                        std::cmp::Reverse((*json).clone()),
                    )
                })
                .map(|(json, _)| json.clone())
                .unwrap_or_default();
            (rust, best)
        })
        .collect();
    let messages = pb_messages(Path::new(pb));
    let upstream = |pkg: &str, ty: &str| -> String {
        match names.get(&(pkg.to_string(), ty.to_lowercase())) {
            Some((name, _)) => format!("{pkg}.{name}"),
            None => format!("{pkg}.{ty}"),
        }
    };
    let mut lines = Vec::new();
    for ((pkg, ty), fields) in &messages {
        let json_names = names.get(&(pkg.clone(), ty.to_lowercase())).map(|(_, f)| f);
        let cols: Vec<serde_json::Value> = fields
            .iter()
            .map(|f| {
                // A message field the JSON form does not name is an embedded Go struct inlined
                // in JSON (`json:",inline"`): written as "" so the decoder merges it.
                let json = match json_names.map(|n| n.get(&f.rust)) {
                    Some(Some(name)) => name.clone(),
                    Some(None) if f.kind == "message" && inlined(&names, json_names, f) => {
                        String::new()
                    }
                    _ => global
                        .get(&f.rust.replace('_', ""))
                        .cloned()
                        .unwrap_or_else(|| camel(&f.rust)),
                };
                let target = match &f.target {
                    Some((p, t)) if p.is_empty() => serde_json::Value::String(t.clone()),
                    Some((p, t)) => serde_json::Value::String(upstream(p, t)),
                    None => serde_json::Value::Null,
                };
                serde_json::json!([f.tag, json, f.kind, target, f.repeated])
            })
            .collect();
        lines.push(format!(
            "{}: {}",
            serde_json::to_string(&upstream(pkg, ty)).unwrap(),
            serde_json::to_string(&cols).unwrap()
        ));
    }
    lines.sort();
    let text = format!("{{\n{}\n}}\n", lines.join(",\n"));
    std::fs::write(output, text).unwrap();
    eprintln!("wrote {} messages to {output}", lines.len());
}

//! The JSONPath subset printer columns use: `.a.b`, `.list[0]`, `.list[*].x` and filters such
//! as `.status.conditions[?(@.type=="Ready")].status`.

use serde_json::Value;

/// Evaluates `path` against `obj`, returning every value it selects.
pub fn select<'a>(obj: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    let mut current = vec![obj];
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let field = &r[..end];
            current = current.into_iter().filter_map(|v| v.get(field)).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Vec::new();
            };
            let inner = &r[..end];
            rest = &r[end + 1..];
            current = current
                .into_iter()
                .filter_map(Value::as_array)
                .flat_map(|items| -> Vec<&Value> {
                    if inner == "*" {
                        items.iter().collect()
                    } else if let Ok(i) = inner.parse::<usize>() {
                        items.get(i).into_iter().collect()
                    } else if let Some(f) =
                        inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
                    {
                        let (field, want) = f.split_once("==").unwrap_or((f, ""));
                        let want = want.trim().trim_matches(['"', '\'']);
                        items
                            .iter()
                            .filter(|i| {
                                i.get(field.trim()).is_some_and(|v| {
                                    v.as_str() == Some(want)
                                        || serde_json::to_string(v).is_ok_and(|s| s == want)
                                })
                            })
                            .collect()
                    } else {
                        Vec::new()
                    }
                })
                .collect();
        } else {
            return Vec::new();
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printer_column_paths_select_what_upstream_selects() {
        let o = json!({"spec": {"replicas": 3, "list": [{"n": 1}, {"n": 2}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}});
        assert_eq!(select(&o, ".spec.replicas"), vec![&json!(3)]);
        assert_eq!(select(&o, ".spec.list[1].n"), vec![&json!(2)]);
        assert_eq!(select(&o, ".spec.list[*].n").len(), 2);
        assert_eq!(
            select(&o, r#".status.conditions[?(@.type=="Ready")].status"#),
            vec![&json!("True")]
        );
        assert!(select(&o, ".spec.missing").is_empty());
    }
}

//! CustomResourceDefinitions: their own defaults and validation, and the resource-table rows
//! that serve their custom resources.

pub mod jsonpath;
pub mod schema;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::resources::{ResourceDef, STANDARD_VERBS, Scope};
use crate::status::FieldError;
use crate::strategy::set_default;

/// A printer column of a custom resource (`additionalPrinterColumns`).
#[derive(Clone, Debug)]
pub struct PrinterColumn {
    /// Header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: String,
    /// The JSONPath of the value.
    pub json_path: String,
    /// 0 always shown, more only with `-o wide`.
    pub priority: u8,
    /// The column's description.
    pub description: String,
}

/// The finalizer that makes a CRD's deletion wait until its custom resources are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Upstream's defaults for a CRD.
pub fn default(crd: &mut Value) {
    if let Some(kind) = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        set_default(
            crd,
            &["spec", "names", "singular"],
            json!(kind.to_lowercase()),
        );
        set_default(
            crd,
            &["spec", "names", "listKind"],
            json!(format!("{kind}List")),
        );
    }
    set_default(crd, &["spec", "conversion", "strategy"], json!("None"));
}

/// Validates a CRD as upstream does, for the cases users meet.
pub fn validate(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    }
    if crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    match crd.pointer("/spec/scope").and_then(Value::as_str) {
        Some("Namespaced" | "Cluster") => {}
        Some(s) => errs.push(FieldError::not_supported(
            "spec.scope",
            &json!(s),
            &["Cluster", "Namespaced"],
        )),
        None => errs.push(FieldError::required("spec.scope", "")),
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!([]),
            "must have exactly one version marked as storage version",
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage") == Some(&Value::Bool(true)))
        .count();
    if !versions.is_empty() && storage != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!(format!("{storage} storage versions")),
            "must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.pointer("/schema/openAPIV3Schema").is_none() {
            errs.push(FieldError::required(
                format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "schemas are required",
            ));
        }
    }
    errs
}

/// The rows that serve a CRD's custom resources: one per served version.
pub fn resource_defs(crd: &Value) -> Vec<ResourceDef> {
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let strings = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let group = s("/spec/group");
    let plural = s("/spec/names/plural");
    let kind = s("/spec/names/kind");
    let scope = if s("/spec/scope") == "Cluster" {
        Scope::Cluster
    } else {
        Scope::Namespaced
    };
    let mut rows = Vec::new();
    for v in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("served") != Some(&Value::Bool(true)) {
            continue;
        }
        let version = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let schema = v
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        let mut subresources = Vec::new();
        if v.pointer("/subresources/status").is_some() {
            subresources.push("status".to_string());
        }
        if v.pointer("/subresources/scale").is_some() {
            subresources.push("scale".to_string());
        }
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: c
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        kind: c
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("string")
                            .to_string(),
                        json_path: c
                            .get("jsonPath")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        priority: c.get("priority").and_then(Value::as_u64).unwrap_or(0) as u8,
                        description: c
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        rows.push(ResourceDef {
            group: group.clone(),
            version,
            kind: kind.clone(),
            list_kind: s("/spec/names/listKind"),
            plural: plural.clone(),
            singular: s("/spec/names/singular"),
            scope,
            short_names: strings("/spec/names/shortNames"),
            categories: strings("/spec/names/categories"),
            verbs: STANDARD_VERBS.iter().map(|v| v.to_string()).collect(),
            subresources,
            storage_prefix: format!("{group}/{plural}"),
            codec: Arc::new(schema::CrdCodec {
                schema: schema.clone(),
            }),
            schema: None,
            schema_name: format!(
                "{}.{}.{kind}",
                group.split('.').rev().collect::<Vec<_>>().join("."),
                v.get("name").and_then(Value::as_str).unwrap_or_default()
            ),
            conversion: None,
            custom: Some(crate::resources::CustomResource {
                schema,
                printer_columns: columns,
                scale: v.pointer("/subresources/scale").cloned(),
            }),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wg"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}},
                     "subresources": {"status": {}}, "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]},
                    {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v0", "served": false, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}
                ]}
        })
    }

    #[test]
    fn a_crd_serves_each_served_version_from_one_storage_prefix() {
        let mut c = crd();
        default(&mut c);
        assert!(validate(&c).is_empty(), "{:?}", validate(&c));
        let rows = resource_defs(&c);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].kind.as_str(),
                rows[0].list_kind.as_str(),
                rows[0].singular.as_str()
            ),
            ("Widget", "WidgetList", "widget")
        );
        assert_eq!(rows[0].storage_prefix, rows[1].storage_prefix);
        assert!(rows[0].has_subresource("status") && !rows[1].has_subresource("status"));
        assert_eq!(
            rows[0].custom.as_ref().unwrap().printer_columns[0].json_path,
            ".spec.size"
        );
        assert_eq!(rows[0].schema_name, "com.example.v1.Widget");
    }

    #[test]
    fn a_crd_must_be_named_for_its_plural_and_group() {
        let mut c = crd();
        c["metadata"]["name"] = json!("widgets");
        let errs = validate(&c);
        assert_eq!(
            errs[0].message(),
            "metadata.name: Invalid value: \"widgets\": must be spec.names.plural+\".\"+spec.group"
        );
    }
}

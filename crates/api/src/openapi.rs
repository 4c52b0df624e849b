//! OpenAPI v3 documents, one per group version, generated from the resource table.
//!
//! Schemas come from k8s-openapi (upstream's schemas, with their descriptions); each kind's
//! schema is tagged with `x-kubernetes-group-version-kind`, which `kubectl explain` looks for.
//! Paths list each resource's operations with upstream's query parameters: kubectl decides
//! whether the server validates fields itself by finding `fieldValidation` among the
//! parameters of the kind's PATCH operation.

use serde_json::{Map, Value, json};

use crate::resources::{ResourceDef, ResourceTable};

/// The path of a group version in the index: `api/v1`, `apis/apps/v1`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn camel(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Upstream's operation-id prefix for a group version: `CoreV1`, `AppsV1`, `RbacAuthorizationV1`.
fn gv_camel(group: &str, version: &str) -> String {
    let g = if group.is_empty() {
        "Core".to_string()
    } else {
        group
            .trim_end_matches(".k8s.io")
            .split(['.', '-'])
            .map(camel)
            .collect()
    };
    format!("{g}{}", camel(version))
}

fn param(name: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": true}})
}

fn write_params(patch: bool) -> Vec<Value> {
    let mut p = vec![
        param(
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
        ),
        param(
            "fieldManager",
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        param(
            "fieldValidation",
            "string",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore, - Warn, - Strict.",
        ),
    ];
    if patch {
        p.push(param("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people."));
    }
    p
}

fn list_params() -> Vec<Value> {
    vec![
        param(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
        ),
        param(
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        param(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        param(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        param(
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        param(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
        ),
        param(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        param(
            "sendInitialEvents",
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`.",
        ),
        param(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call.",
        ),
        param(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        ),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        param(
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted.",
        ),
        param(
            "gracePeriodSeconds",
            "integer",
            "The duration in seconds before the object should be deleted.",
        ),
        param(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
        ),
    ]
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn content(schema: Value, types: &[&str]) -> Value {
    let mut m = Map::new();
    for t in types {
        m.insert(t.to_string(), json!({"schema": schema}));
    }
    Value::Object(m)
}

/// One operation of a path; `(action, verb)` are upstream's `x-kubernetes-action` and the verb
/// its operation id starts with (`("get", "read")`).
fn operation(
    def: &ResourceDef,
    (action, verb): (&str, &str),
    namespaced: bool,
    suffix: &str,
    params: Vec<Value>,
    body: Option<Value>,
    response: Value,
) -> Value {
    let ns = if namespaced { "Namespaced" } else { "" };
    let mut op = json!({
        "operationId": format!("{verb}{}{ns}{}{suffix}", gv_camel(&def.group, &def.version), def.kind),
        "tags": [gv_path(&def.group, &def.version).replace('/', "_")],
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": content(response, &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"])}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": def.group, "version": def.version, "kind": def.kind},
    });
    if let Some(b) = body {
        op["requestBody"] = b;
    }
    op
}

fn path_params(namespaced: bool, named: bool) -> Vec<Value> {
    let mut p = Vec::new();
    if named {
        p.push(json!({"name": "name", "in": "path", "description": format!("name of the object"), "required": true, "schema": {"type": "string", "uniqueItems": true}}));
    }
    if namespaced {
        p.push(json!({"name": "namespace", "in": "path", "description": "object name and auth scope, such as for teams and projects", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
    }
    p.push(param(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed.",
    ));
    p
}

fn resource_paths(def: &ResourceDef, paths: &mut Map<String, Value>) {
    let base = format!("/{}", gv_path(&def.group, &def.version));
    let ns = def.namespaced();
    let collection = if ns {
        format!("{base}/namespaces/{{namespace}}/{}", def.plural)
    } else {
        format!("{base}/{}", def.plural)
    };
    let item = format!("{collection}/{{name}}");
    let kind_ref = reference(&def.schema_name);
    let body = |schema: Value, types: &[&str]| json!({"content": content(schema, types), "required": true});
    let patch_body = body(
        reference("io.k8s.apimachinery.pkg.apis.meta.v1.Patch"),
        &[
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ],
    );

    let mut coll = Map::new();
    coll.insert("parameters".into(), json!(path_params(ns, false)));
    if def.allows("list") {
        coll.insert(
            "get".into(),
            operation(
                def,
                ("list", "list"),
                ns,
                "",
                list_params(),
                None,
                json!({"type": "object"}),
            ),
        );
    }
    if def.allows("create") {
        coll.insert(
            "post".into(),
            operation(
                def,
                ("post", "create"),
                ns,
                "",
                write_params(false),
                Some(body(kind_ref.clone(), &["*/*"])),
                kind_ref.clone(),
            ),
        );
    }
    if def.allows("deletecollection") {
        let mut p = list_params();
        p.extend(delete_params());
        coll.insert(
            "delete".into(),
            operation(
                def,
                ("deletecollection", "deleteCollection"),
                ns,
                "",
                p,
                None,
                reference("io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
            ),
        );
    }
    paths.insert(collection.clone(), Value::Object(coll));

    if def.plural == "bindings" {
        return;
    }
    let mut it = Map::new();
    it.insert("parameters".into(), json!(path_params(ns, true)));
    if def.allows("get") {
        it.insert(
            "get".into(),
            operation(def, ("get", "read"), ns, "", vec![], None, kind_ref.clone()),
        );
    }
    if def.allows("update") {
        it.insert(
            "put".into(),
            operation(
                def,
                ("put", "replace"),
                ns,
                "",
                write_params(false),
                Some(body(kind_ref.clone(), &["*/*"])),
                kind_ref.clone(),
            ),
        );
    }
    if def.allows("patch") {
        it.insert(
            "patch".into(),
            operation(
                def,
                ("patch", "patch"),
                ns,
                "",
                write_params(true),
                Some(patch_body.clone()),
                kind_ref.clone(),
            ),
        );
    }
    if def.allows("delete") {
        it.insert(
            "delete".into(),
            operation(
                def,
                ("delete", "delete"),
                ns,
                "",
                delete_params(),
                None,
                reference("io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
            ),
        );
    }
    paths.insert(item.clone(), Value::Object(it));

    if def.has_subresource("status") {
        let mut st = Map::new();
        st.insert("parameters".into(), json!(path_params(ns, true)));
        st.insert(
            "get".into(),
            operation(
                def,
                ("get", "read"),
                ns,
                "Status",
                vec![],
                None,
                kind_ref.clone(),
            ),
        );
        st.insert(
            "put".into(),
            operation(
                def,
                ("put", "replace"),
                ns,
                "Status",
                write_params(false),
                Some(body(kind_ref.clone(), &["*/*"])),
                kind_ref.clone(),
            ),
        );
        st.insert(
            "patch".into(),
            operation(
                def,
                ("patch", "patch"),
                ns,
                "Status",
                write_params(true),
                Some(patch_body),
                kind_ref.clone(),
            ),
        );
        paths.insert(format!("{item}/status"), Value::Object(st));
    }
    if def.namespaced() && def.allows("list") {
        let mut all = Map::new();
        all.insert("parameters".into(), json!(path_params(false, false)));
        all.insert(
            "get".into(),
            operation(
                def,
                ("list", "list"),
                false,
                "ForAllNamespaces",
                list_params(),
                None,
                json!({"type": "object"}),
            ),
        );
        paths.insert(format!("{base}/{}", def.plural), Value::Object(all));
    }
}

/// OpenAPI 3.0 forbids siblings next to `$ref`; upstream keeps a field's own description by
/// wrapping the reference in `allOf`, and so does this.
fn wrap_ref_siblings(v: &mut Value) {
    match v {
        Value::Object(m) => {
            // A reference is a string `$ref`; JSONSchemaProps also has a *property* named `$ref`.
            if m.get("$ref").is_some_and(Value::is_string) && m.len() > 1 {
                let r = m.remove("$ref").expect("checked");
                m.insert("allOf".into(), json!([{"$ref": r}]));
            }
            for child in m.values_mut() {
                wrap_ref_siblings(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(wrap_ref_siblings),
        _ => {}
    }
}

/// The OpenAPI v3 document of one group version, or `None` if it serves nothing.
pub fn document(
    table: &ResourceTable,
    group: &str,
    version: &str,
    server_version: &str,
) -> Option<Value> {
    let rows = table.in_group_version(group, version);
    if rows.is_empty() {
        return None;
    }
    let settings = schemars::generate::SchemaSettings::openapi3().with(|s| {
        s.transforms.clear();
        s.meta_schema = None;
    });
    let mut generator = settings.into_generator();
    for def in &rows {
        if let Some(f) = def.schema {
            f(&mut generator);
        }
    }
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
    if rows.iter().any(|d| d.custom.is_some()) {
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>();
    }
    let mut schemas = generator.take_definitions(false);
    for def in rows.iter().filter(|d| d.custom.is_some()) {
        let mut schema = def.custom.as_ref().expect("filtered").schema.clone();
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("metadata".into(), json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]}));
            props
                .entry("apiVersion")
                .or_insert_with(|| json!({"type": "string"}));
            props
                .entry("kind")
                .or_insert_with(|| json!({"type": "string"}));
        }
        schemas.insert(def.schema_name.clone(), schema);
    }
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(),
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
    );
    for def in &rows {
        if let Some(s) = schemas.get_mut(&def.schema_name) {
            s["x-kubernetes-group-version-kind"] =
                json!([{"group": def.group, "kind": def.kind, "version": def.version}]);
            // k8s-openapi's types hold metadata as a plain field, so its schemas call it
            // required; upstream's schemas do not.
            if let Some(Value::Array(required)) = s.get_mut("required") {
                required.retain(|r| r.as_str() != Some("metadata"));
                if required.is_empty() {
                    s.as_object_mut()
                        .expect("schemas are objects")
                        .remove("required");
                }
            }
        }
    }
    let mut schemas = Value::Object(schemas);
    wrap_ref_siblings(&mut schemas);
    let mut paths = Map::new();
    for def in &rows {
        resource_paths(def, &mut paths);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": server_version},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_operation_of_each_kind_offers_field_validation() {
        let t = ResourceTable::builtin();
        let doc = document(&t, "apps", "v1", "v1.34.1").unwrap();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    }

    #[test]
    fn kind_schemas_carry_their_group_version_kind_and_descriptions() {
        let t = ResourceTable::builtin();
        let doc = document(&t, "", "v1", "v1.34.1").unwrap();
        let pv = &doc["components"]["schemas"]["io.k8s.api.core.v1.PersistentVolume"];
        assert_eq!(
            pv["x-kubernetes-group-version-kind"][0]["kind"],
            "PersistentVolume"
        );
        assert!(
            pv["description"]
                .as_str()
                .unwrap()
                .contains("PersistentVolume")
        );
        assert!(
            pv.get("required").is_none(),
            "metadata is not required upstream"
        );
        let meta = &pv["properties"]["metadata"];
        assert!(
            meta["allOf"][0]["$ref"]
                .as_str()
                .unwrap()
                .ends_with("ObjectMeta"),
            "{meta}"
        );
        assert!(
            doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
                .is_object()
        );
    }

    #[test]
    fn a_property_named_ref_is_not_taken_for_a_reference() {
        let t = ResourceTable::builtin();
        let doc = document(&t, "apiextensions.k8s.io", "v1", "v1.34.1").unwrap();
        let props = &doc["components"]["schemas"]["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"]
            ["properties"];
        assert_eq!(props["$ref"], json!({"type": "string"}));
    }

    #[test]
    fn operation_ids_follow_upstreams_naming() {
        assert_eq!(gv_camel("", "v1"), "CoreV1");
        assert_eq!(
            gv_camel("rbac.authorization.k8s.io", "v1"),
            "RbacAuthorizationV1"
        );
        assert_eq!(gv_camel("apps", "v1"), "AppsV1");
    }
}

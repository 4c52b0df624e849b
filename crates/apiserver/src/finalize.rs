//! The namespace `finalize` subresource (`PUT /api/v1/namespaces/<name>/finalize`): how the
//! namespace controller, having removed everything in a terminating namespace, takes its
//! `kubernetes` finalizer off `spec.finalizers`; a terminating namespace left with no
//! finalizers is then removed (upstream's `FinalizeREST` and namespace deletion).

use bosun_api::ApiError;
use serde_json::{Value, json};

use crate::registry::{DeleteOptions, Registry, WriteOptions};

/// Attempts before a finalize racing other writes of the namespace gives up.
const ATTEMPTS: usize = 10;

/// Sets the namespace's `spec.finalizers` to the body's; answers the namespace as written.
pub async fn finalize(
    registry: &Registry,
    name: &str,
    body: Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let named = body["metadata"]["name"].as_str().unwrap_or(name);
    if named != name {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    let finalizers = body["spec"]["finalizers"].clone();
    let def = registry
        .table
        .lookup("", "v1", "namespaces")
        .expect("namespaces are served");
    for _ in 0..ATTEMPTS {
        let mut namespace = registry.get(&def, None, name).await?;
        match finalizers.as_array().filter(|f| !f.is_empty()) {
            Some(list) => namespace["spec"]["finalizers"] = json!(list),
            None => {
                if let Some(spec) = namespace.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("finalizers");
                }
            }
        }
        if opts.dry_run {
            return Ok(namespace);
        }
        let revision = match registry.replace_unchecked(&def, None, &namespace).await {
            Ok(revision) => revision,
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e),
        };
        bosun_api::meta::set_resource_version(&mut namespace, revision);
        let done = namespace["metadata"]["deletionTimestamp"].is_string()
            && namespace
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if done {
            let (deleted, _) = registry
                .delete(&def, None, name, &DeleteOptions::default(), opts)
                .await?;
            return Ok(deleted);
        }
        return Ok(namespace);
    }
    Err(ApiError::conflict(
        "",
        "namespaces",
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    ))
}

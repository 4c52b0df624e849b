//! DefaultStorageClass: a new claim that names no class at all gets the cluster's default
//! StorageClass (the newest one annotated `storageclass.kubernetes.io/is-default-class`); a
//! claim asking for `""` keeps asking for no class.

use bosun_api::ApiError;
use serde_json::Value;

use super::{Operation, Request};
use crate::registry::Registry;

const DEFAULT_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];
const BETA_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// Sets the default class on a claim that names none.
pub async fn admit(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if req.operation != Operation::Create || !req.is_core("persistentvolumeclaims") {
        return Ok(());
    }
    if !obj["spec"]["storageClassName"].is_null()
        || !obj["metadata"]["annotations"][BETA_CLASS_ANNOTATION].is_null()
    {
        return Ok(());
    }
    let classes = registry
        .list_all("storage.k8s.io", "v1", "storageclasses", None, false)
        .await?;
    let default = classes
        .iter()
        .filter(|c| {
            DEFAULT_ANNOTATIONS
                .iter()
                .any(|a| c["metadata"]["annotations"][*a] == "true")
        })
        .max_by_key(|c| {
            (
                c["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        });
    if let Some(class) = default {
        obj["spec"]["storageClassName"] = class["metadata"]["name"].clone();
    }
    Ok(())
}

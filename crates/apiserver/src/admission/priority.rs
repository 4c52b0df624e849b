//! Priority: a new pod's `priority` and `preemptionPolicy` come from its PriorityClass (or the
//! cluster's global default class), never from the pod itself; PriorityClasses allow one
//! global default (upstream's `plugin/pkg/admission/priority`).

use bosun_api::ApiError;
use serde_json::{Value, json};

use super::{Operation, Request, names};
use crate::registry::Registry;

const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";

async fn classes(registry: &Registry) -> Result<Vec<Value>, ApiError> {
    registry
        .list_all("scheduling.k8s.io", "v1", "priorityclasses", None, false)
        .await
}

/// The global default class: the newest one marked `globalDefault` (there should be one).
fn global_default(classes: &[Value]) -> Option<&Value> {
    classes
        .iter()
        .filter(|c| c["globalDefault"] == true)
        .max_by(|a, b| {
            let created = |c: &Value| {
                c["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            created(a).cmp(&created(b))
        })
}

/// Resolves a new pod's priority from its class.
pub async fn admit(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if req.operation != Operation::Create || !req.is_core("pods") {
        return Ok(());
    }
    let (_, pod_name) = names(obj);
    let forbidden = |reason: String| ApiError::forbidden_object("", "pods", pod_name, &reason);
    let named = obj["spec"]["priorityClassName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let all = classes(registry).await?;
    let (class_name, priority, policy) = if named.is_empty() {
        match global_default(&all) {
            Some(class) => (
                class["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                class["value"].as_i64().unwrap_or(0),
                class["preemptionPolicy"]
                    .as_str()
                    .unwrap_or(PREEMPT_LOWER_PRIORITY)
                    .to_string(),
            ),
            None => (String::new(), 0, PREEMPT_LOWER_PRIORITY.to_string()),
        }
    } else {
        let class = all
            .iter()
            .find(|c| c["metadata"]["name"] == named.as_str())
            .ok_or_else(|| forbidden(format!("no PriorityClass with name {named} was found")))?;
        (
            named.clone(),
            class["value"].as_i64().unwrap_or(0),
            class["preemptionPolicy"]
                .as_str()
                .unwrap_or(PREEMPT_LOWER_PRIORITY)
                .to_string(),
        )
    };
    if let Some(given) = obj["spec"]["priority"].as_i64()
        && given != priority
    {
        return Err(forbidden(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
        )));
    }
    if let Some(given) = obj["spec"]["preemptionPolicy"].as_str()
        && given != policy
    {
        return Err(forbidden(format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
        )));
    }
    if !class_name.is_empty() {
        obj["spec"]["priorityClassName"] = json!(class_name);
    }
    obj["spec"]["priority"] = json!(priority);
    obj["spec"]["preemptionPolicy"] = json!(policy);
    Ok(())
}

/// Refuses a second global default PriorityClass.
pub async fn validate(registry: &Registry, req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    let is_class = req.def.group == "scheduling.k8s.io" && req.def.plural == "priorityclasses";
    if !is_class || req.subresource.is_some() || obj["globalDefault"] != true {
        return Ok(());
    }
    let (_, name) = names(obj);
    let others = classes(registry).await?;
    if let Some(existing) = others
        .iter()
        .find(|c| c["globalDefault"] == true && c["metadata"]["name"] != name)
    {
        let existing = existing["metadata"]["name"].as_str().unwrap_or_default();
        return Err(ApiError::forbidden_object(
            "scheduling.k8s.io",
            "priorityclasses",
            name,
            &format!(
                "PriorityClass {existing} is already marked as default. Only one default can exist"
            ),
        ));
    }
    Ok(())
}

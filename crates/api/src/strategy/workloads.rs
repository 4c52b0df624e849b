//! Workload kinds (apps, batch, ReplicationController): defaults, selectors, validation.

use serde_json::{Map, Value, json};

use super::{set_default, str_at};
use crate::resources::ResourceDef;
use crate::selectors::LabelSelector;
use crate::status::FieldError;

pub(super) fn default(def: &ResourceDef, obj: &mut Value) {
    match def.plural.as_str() {
        "deployments" => {
            set_default(obj, &["spec", "replicas"], json!(1));
            set_default(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
            if str_at(obj, &["spec", "strategy", "type"]) == Some("RollingUpdate") {
                set_default(
                    obj,
                    &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
                    json!("25%"),
                );
                set_default(
                    obj,
                    &["spec", "strategy", "rollingUpdate", "maxSurge"],
                    json!("25%"),
                );
            }
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
            set_default(obj, &["spec", "progressDeadlineSeconds"], json!(600));
        }
        "replicasets" => set_default(obj, &["spec", "replicas"], json!(1)),
        "statefulsets" => {
            set_default(obj, &["spec", "replicas"], json!(1));
            set_default(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
            set_default(
                obj,
                &["spec", "updateStrategy", "type"],
                json!("RollingUpdate"),
            );
            if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("RollingUpdate") {
                set_default(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate", "partition"],
                    json!(0),
                );
            }
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
            set_default(
                obj,
                &[
                    "spec",
                    "persistentVolumeClaimRetentionPolicy",
                    "whenDeleted",
                ],
                json!("Retain"),
            );
            set_default(
                obj,
                &["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"],
                json!("Retain"),
            );
            for t in obj
                .pointer_mut("/spec/volumeClaimTemplates")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                set_default(t, &["spec", "volumeMode"], json!("Filesystem"));
            }
        }
        "daemonsets" => {
            set_default(
                obj,
                &["spec", "updateStrategy", "type"],
                json!("RollingUpdate"),
            );
            if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("RollingUpdate") {
                set_default(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
                    json!(1),
                );
                set_default(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
                    json!(0),
                );
            }
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
        }
        "jobs" => default_job(obj),
        "cronjobs" => {
            set_default(obj, &["spec", "concurrencyPolicy"], json!("Allow"));
            set_default(obj, &["spec", "suspend"], json!(false));
            set_default(obj, &["spec", "successfulJobsHistoryLimit"], json!(3));
            set_default(obj, &["spec", "failedJobsHistoryLimit"], json!(1));
        }
        _ => {}
    }
}

/// Job defaults, and the selector upstream generates from the job's uid so that its pods are
/// its own: `batch.kubernetes.io/controller-uid` and `job-name` labels on the template.
fn default_job(job: &mut Value) {
    let parallelism_unset = job.pointer("/spec/parallelism").is_none_or(Value::is_null);
    if parallelism_unset && job.pointer("/spec/completions").is_none_or(Value::is_null) {
        set_default(job, &["spec", "completions"], json!(1));
    }
    set_default(job, &["spec", "parallelism"], json!(1));
    set_default(job, &["spec", "backoffLimit"], json!(6));
    set_default(job, &["spec", "completionMode"], json!("NonIndexed"));
    set_default(job, &["spec", "suspend"], json!(false));
    if job.pointer("/spec/podFailurePolicy").is_none() {
        set_default(
            job,
            &["spec", "podReplacementPolicy"],
            json!("TerminatingOrFailed"),
        );
    }
    let manual = job.pointer("/spec/manualSelector") == Some(&Value::Bool(true));
    let uid = job
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = job
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (false, Some(uid), Some(name)) = (manual, uid, name)
        && job.pointer("/spec/selector").is_none()
    {
        job["spec"]["selector"] =
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            set_default(
                job,
                &["spec", "template", "metadata", "labels", k],
                json!(v),
            );
        }
    }
}

/// A ReplicationController's selector and labels default to its template's labels.
pub(super) fn default_replication_controller(rc: &mut Value) {
    set_default(rc, &["spec", "replicas"], json!(1));
    if let Some(labels) = rc.pointer("/spec/template/metadata/labels").cloned() {
        set_default(rc, &["spec", "selector"], labels.clone());
        set_default(rc, &["metadata", "labels"], labels);
    }
}

/// Go's `%#v` of a string map, as upstream prints template labels in this error.
fn go_map(m: &Map<String, Value>) -> String {
    let inner: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default()))
        .collect();
    format!("map[string]string{{{}}}", inner.join(", "))
}

/// Whether a `LabelSelector` object selects the given labels: its text form (as tables print
/// it) parsed as a selector.
fn selects(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let text = crate::table::label_selector_string(Some(selector));
    let text = if text == "<none>" { "" } else { text.as_str() };
    LabelSelector::parse(text).is_ok_and(|s| s.matches(labels))
}

pub(super) fn validate(def: &ResourceDef, obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
        && r < 0
    {
        errs.push(FieldError::invalid(
            "spec.replicas",
            &json!(r),
            "must be greater than or equal to 0",
        ));
    }
    let template_labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    match def.plural.as_str() {
        "deployments" | "replicasets" | "statefulsets" | "daemonsets" => {
            match obj.pointer("/spec/selector") {
                None | Some(Value::Null) => errs.push(FieldError::required("spec.selector", "")),
                Some(sel)
                    if sel.get("matchLabels").is_none()
                        && sel.get("matchExpressions").is_none() =>
                {
                    errs.push(FieldError::invalid(
                        "spec.selector",
                        sel,
                        "empty selector is invalid for deployment",
                    ))
                }
                Some(sel) if !selects(sel, template_labels) => {
                    errs.push(FieldError::invalid_shown(
                        "spec.template.metadata.labels",
                        &go_map(template_labels.unwrap_or(&Map::new())),
                        "`selector` does not match template `labels`",
                    ))
                }
                _ => {}
            }
            if let Some(p) = str_at(obj, &["spec", "template", "spec", "restartPolicy"])
                && p != "Always"
            {
                errs.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    &json!(p),
                    &["Always"],
                ));
            }
            if def.plural == "deployments"
                && let Some(t) = str_at(obj, &["spec", "strategy", "type"])
                && !["Recreate", "RollingUpdate"].contains(&t)
            {
                errs.push(FieldError::not_supported(
                    "spec.strategy.type",
                    &json!(t),
                    &["Recreate", "RollingUpdate"],
                ));
            }
        }
        "jobs" => {
            if let Some(p) = str_at(obj, &["spec", "template", "spec", "restartPolicy"])
                && !["OnFailure", "Never"].contains(&p)
            {
                errs.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    &json!(p),
                    &["OnFailure", "Never"],
                ));
            }
        }
        "cronjobs" => {
            if str_at(obj, &["spec", "schedule"]).is_none_or(|s| s.trim().is_empty()) {
                errs.push(FieldError::required("spec.schedule", ""));
            }
            if let Some(p) = str_at(
                obj,
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "restartPolicy",
                ],
            ) && !["OnFailure", "Never"].contains(&p)
            {
                errs.push(FieldError::not_supported(
                    "spec.jobTemplate.spec.template.spec.restartPolicy",
                    &json!(p),
                    &["OnFailure", "Never"],
                ));
            }
        }
        _ => {}
    }
}

pub(super) fn validate_update(
    def: &ResourceDef,
    new: &Value,
    old: &Value,
    errs: &mut Vec<FieldError>,
) {
    let immutable_selector = matches!(
        def.plural.as_str(),
        "deployments" | "replicasets" | "statefulsets" | "daemonsets" | "jobs"
    );
    if immutable_selector && new.pointer("/spec/selector") != old.pointer("/spec/selector") {
        errs.push(FieldError::invalid(
            "spec.selector",
            new.pointer("/spec/selector").unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
    if def.plural == "jobs" && new.pointer("/spec/template") != old.pointer("/spec/template") {
        let suspended = old.pointer("/spec/suspend") == Some(&Value::Bool(true));
        if !suspended {
            errs.push(FieldError::invalid(
                "spec.template",
                new.pointer("/spec/template").unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
    }
    if def.plural == "statefulsets" {
        let strip = |o: &Value| {
            let mut s = o.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = s.as_object_mut() {
                for f in [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                ] {
                    m.remove(f);
                }
            }
            s
        };
        if strip(new) != strip(old) {
            errs.push(FieldError::forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ResourceTable;

    fn def(group: &str, plural: &str) -> std::sync::Arc<ResourceDef> {
        ResourceTable::builtin()
            .lookup(group, "v1", plural)
            .unwrap()
    }

    #[test]
    fn a_deployment_gets_a_rolling_update_strategy() {
        let mut d = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}}});
        default(&def("apps", "deployments"), &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    }

    #[test]
    fn a_selector_that_misses_the_template_is_refused_as_upstream_words_it() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}}}});
        let mut errs = Vec::new();
        validate(&def("apps", "deployments"), &d, &mut errs);
        assert_eq!(
            errs[0].message(),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn a_job_selects_its_own_pods_by_uid() {
        let mut j =
            json!({"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": {"spec": {}}}});
        default(&def("batch", "jobs"), &mut j);
        assert_eq!(
            j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        assert_eq!(j["spec"]["template"]["metadata"]["labels"]["job-name"], "j");
        assert_eq!(
            (
                j["spec"]["completions"].clone(),
                j["spec"]["backoffLimit"].clone()
            ),
            (json!(1), json!(6))
        );
    }
}

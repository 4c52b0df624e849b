//! The audit log, end to end with the real kubectl: each request's user, verb and object,
//! at the level the upstream-format Policy gives it.

mod common;

use common::Cluster;
use serde_json::Value;

const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  userGroups: ["system:serviceaccounts:kube-system", "system:nodes"]
- level: None
  users: ["system:kube-controller-manager", "system:kube-scheduler"]
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps"]
  omitManagedFields: true
- level: None
  nonResourceURLs: ["/api*", "/version", "/openapi*"]
- level: Metadata
"#;

fn events(path: &std::path::Path) -> Vec<Value> {
    // The writer flushes as soon as it has drained its queue.
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_audit_log_records_each_requests_user_verb_and_object_at_the_policys_level() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let log = dir.path().join("logs/audit.log");
    let c = Cluster::start_with(&[
        &format!("--audit-log-path={}", log.display()),
        &format!("--audit-policy-file={}", policy.display()),
        "--audit-log-maxsize=10",
        "--audit-log-maxbackup=3",
    ]);
    c.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
    ]);
    c.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=hunter2",
    ]);
    c.ok(&["get", "secret", "creds"]);
    let refused = c.fails(&["get", "pods", "--as=intruder"]);
    assert!(refused.contains("(Forbidden)"), "{refused}");
    c.ok(&["delete", "configmap", "settings"]);
    c.ok(&["run", "web", "--image=nginx"]);

    let all = events(&log);
    assert!(
        all.iter()
            .all(|e| e["apiVersion"] == "audit.k8s.io/v1" && e["kind"] == "Event")
    );
    assert!(
        all.iter().all(|e| e["stage"] != "RequestReceived"),
        "omitted stage recorded"
    );
    let find = |verb: &str, resource: &str, name: &str| -> Value {
        all.iter()
            .find(|e| {
                e["verb"] == verb
                    && e["objectRef"]["resource"] == resource
                    && (name.is_empty() || e["objectRef"]["name"] == name)
            })
            .unwrap_or_else(|| panic!("no {verb} {resource} {name} event in {all:#?}"))
            .clone()
    };

    let created = find("create", "configmaps", "");
    assert_eq!(created["level"], "RequestResponse");
    assert_eq!(created["stage"], "ResponseComplete");
    assert_eq!(created["user"]["username"], "system:admin");
    assert!(
        created["user"]["groups"]
            .as_array()
            .unwrap()
            .contains(&"system:masters".into())
    );
    assert_eq!(created["objectRef"]["namespace"], "default");
    assert_eq!(created["objectRef"]["apiVersion"], "v1");
    assert_eq!(created["responseStatus"]["code"], 201);
    assert_eq!(created["requestObject"]["data"]["mode"], "fast");
    assert_eq!(created["responseObject"]["metadata"]["name"], "settings");
    assert!(created["responseObject"]["metadata"]["managedFields"].is_null());
    assert_eq!(
        created["annotations"]["authorization.k8s.io/decision"],
        "allow"
    );
    assert_eq!(created["sourceIPs"][0], "127.0.0.1");
    assert!(
        created["userAgent"]
            .as_str()
            .unwrap()
            .starts_with("kubectl")
    );
    assert!(created["auditID"].as_str().is_some_and(|id| id.len() == 36));

    // Secrets at Metadata: who and what, never the value.
    let read = find("get", "secrets", "creds");
    assert_eq!(read["level"], "Metadata");
    assert!(read.get("responseObject").is_none() && read.get("requestObject").is_none());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("aHVudGVyMg=="),
        "a secret leaked into the log"
    );

    let denied = find("list", "pods", "");
    assert_eq!(denied["user"]["username"], "system:admin");
    assert_eq!(denied["impersonatedUser"]["username"], "intruder");
    assert_eq!(denied["responseStatus"]["code"], 403);
    assert_eq!(denied["responseStatus"]["reason"], "Forbidden");
    assert_eq!(
        denied["annotations"]["authorization.k8s.io/decision"],
        "forbid"
    );

    let deleted = find("delete", "configmaps", "settings");
    assert_eq!(deleted["responseStatus"]["code"], 200);

    // Admission's own notes: PodSecurity records the policy a pod was admitted under.
    let pod = find("create", "pods", "");
    assert_eq!(
        pod["annotations"]["pod-security.kubernetes.io/enforce-policy"],
        "privileged:latest"
    );

    // Discovery was set to None by the policy; the server's own controllers too.
    assert!(
        all.iter()
            .all(|e| !e["requestURI"].as_str().unwrap().starts_with("/api?")
                && e["requestURI"] != "/api")
    );
    assert!(all.iter().all(|e| {
        !e["user"]["username"]
            .as_str()
            .unwrap()
            .starts_with("system:serviceaccount:kube-system:")
    }));
}

#[test]
fn a_bad_audit_policy_stops_the_server_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(["server", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--https-listen-port",
            "0",
            "--bind-address",
            "127.0.0.1",
            "-o",
        ])
        .arg(dir.path().join("kc"))
        .arg(format!(
            "--audit-log-path={}",
            dir.path().join("audit.log").display()
        ))
        .arg(format!("--audit-policy-file={}", policy.display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"unknown audit level "Everything""#), "{err}");
}

//! PodSecurity admission with the real kubectl: namespace labels choose the Pod Security
//! Standard; `enforce` refuses pods (and stores nothing), `warn` warns, workloads only warn,
//! bad labels are refused, and tightening a namespace names the pods already in violation.

mod common;

use common::Cluster;

fn pod(name: &str, namespace: &str, security: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  containers:\n  - name: {name}\n    image: nginx\n{security}"
    )
}

const RESTRICTED_OK: &str = "    securityContext:
      allowPrivilegeEscalation: false
      runAsNonRoot: true
      capabilities: {drop: [ALL]}
      seccompProfile: {type: RuntimeDefault}
";

const PRIVILEGED: &str = "    securityContext: {privileged: true}\n";

#[test]
fn an_enforcing_namespace_refuses_pods_below_its_level_and_stores_nothing() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "secure"]);
    c.ok(&[
        "label",
        "namespace",
        "secure",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    ]);
    let err = c.fails_stdin(&["apply", "-f", "-"], &pod("web", "secure", ""));
    assert!(
        err.contains(
            r#"pods "web" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "web" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "web" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "web" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "web" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        ),
        "{err}"
    );
    let err = c.fails(&["get", "pod", "web", "-n", "secure"]);
    assert!(err.contains("NotFound"), "{err}");
    c.ok_stdin(&["apply", "-f", "-"], &pod("good", "secure", RESTRICTED_OK));

    // A workload below the level is stored (enforce is for pods), with the warn mode's warning
    // for its template.
    let out = c.kubectl(&[
        "create",
        "deployment",
        "web",
        "-n",
        "secure",
        "--image=nginx",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains(r#"Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false)"#),
        "{warning}"
    );
}

#[test]
fn a_warning_namespace_admits_with_a_warning_and_bad_labels_are_refused() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "warned"]);
    c.ok(&[
        "label",
        "namespace",
        "warned",
        "pod-security.kubernetes.io/warn=baseline",
    ]);
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &pod("root", "warned", PRIVILEGED));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            r#"Warning: would violate PodSecurity "baseline:latest": privileged (container "root" must not set securityContext.privileged=true)"#
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = c.fails(&[
        "label",
        "namespace",
        "warned",
        "pod-security.kubernetes.io/enforce=strict",
    ]);
    assert!(
        err.contains(r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#),
        "{err}"
    );

    // Tightening the namespace names the pods that would now be refused, and keeps them.
    let out = c.kubectl(&[
        "label",
        "namespace",
        "warned",
        "pod-security.kubernetes.io/enforce=baseline",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"Warning: existing pods in namespace "warned" violate the new PodSecurity enforce level "baseline:latest""#),
        "{stderr}"
    );
    assert!(stderr.contains("Warning: root: privileged"), "{stderr}");
    c.ok(&["get", "pod", "root", "-n", "warned"]);
    let err = c.fails_stdin(&["apply", "-f", "-"], &pod("root2", "warned", PRIVILEGED));
    assert!(
        err.contains(r#"violates PodSecurity "baseline:latest": privileged"#),
        "{err}"
    );
}

//! The Python `kubernetes` client against `bosun server` (tests/python/client_check.py and
//! tests/python/auth_check.py).

mod common;

use std::process::Command;

use common::Cluster;

/// Runs one of the Python scripts against a fresh cluster and returns what it printed.
fn run_script(name: &str) -> String {
    let c = Cluster::start();
    let script = format!("{}/tests/python/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(script)
        .arg(&c.kubeconfig)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_python_client_creates_lists_pages_and_watches() {
    assert!(run_script("client_check.py").contains("python client: ok"));
}

#[test]
fn the_python_client_with_a_service_account_token_is_held_to_rbac() {
    assert!(run_script("auth_check.py").contains("python auth: ok"));
}

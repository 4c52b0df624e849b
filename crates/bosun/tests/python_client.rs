//! The Python `kubernetes` client against `bosun server` (tests/python/client_check.py).

mod common;

use std::process::Command;

use common::Cluster;

#[test]
fn the_python_client_creates_lists_pages_and_watches() {
    let c = Cluster::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_check.py");
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
    assert!(String::from_utf8_lossy(&out.stdout).contains("python client: ok"));
}

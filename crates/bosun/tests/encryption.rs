//! Secrets encryption at rest (`--secrets-encryption`, `--encryption-provider-config`,
//! `bosun secrets-encrypt`), driven through the real binary and kubectl.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Cluster;

/// A password no other test or run uses.
fn unique_password() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut out = String::from("pw-");
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(nanos ^ i ^ u64::from(std::process::id()));
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Every file below `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

fn bosun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(args)
        .output()
        .unwrap()
}

fn bosun_ok(args: &[&str]) -> String {
    let out = bosun(args);
    assert!(
        out.status.success(),
        "bosun {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The secret's `password` as the API returns it: base64, and decoded.
fn password_of(c: &Cluster, name: &str) -> (String, String) {
    let b64 = c.ok(&["get", "secret", name, "-o", "jsonpath={.data.password}"]);
    let plain = c.ok(&[
        "get",
        "secret",
        name,
        "-o",
        "go-template={{.data.password | base64decode}}",
    ]);
    (b64, plain)
}

/// How many values `rotate-keys` says it rewrote.
fn rewritten(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("Rewrote "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of rewritten values in:\n{out}"))
}

fn config_path(c: &Cluster) -> PathBuf {
    c.data_dir()
        .join("server")
        .join("cred")
        .join("encryption-config.json")
}

/// The names of the first provider's keys in the data dir's configuration.
fn aesgcm_keys(c: &Cluster) -> Vec<String> {
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config_path(c)).unwrap()).unwrap();
    assert_eq!(config["apiVersion"], "apiserver.config.k8s.io/v1");
    assert_eq!(config["kind"], "EncryptionConfiguration");
    assert_eq!(config["resources"][0]["resources"][0], "secrets");
    assert_eq!(
        config["resources"][0]["providers"][1],
        serde_json::json!({"identity": {}})
    );
    config["resources"][0]["providers"][0]["aesgcm"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn secrets_are_stored_encrypted_and_still_read_after_an_offline_key_rotation() {
    let mut c = Cluster::start_with(&["--secrets-encryption"]);
    let data_dir = c.data_dir();
    let data_dir_arg = data_dir.to_str().unwrap().to_string();
    let keys = aesgcm_keys(&c);
    assert_eq!(keys.len(), 1);
    let first_key = keys[0].clone();
    assert!(first_key.starts_with("aesgcmkey-"), "{first_key}");

    let password = unique_password();
    c.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        &format!("--from-literal=password={password}"),
    ]);
    let (b64, plain) = password_of(&c, "s");
    assert_eq!(plain, password);
    assert_ne!(b64, password);

    // Neither the password nor its base64 form is anywhere in the data dir (database and WAL
    // included); the value there is under upstream's prefix for the key.
    assert_eq!(
        files_containing(&data_dir, password.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        files_containing(&data_dir, b64.as_bytes()),
        Vec::<PathBuf>::new()
    );
    let first_prefix = format!("k8s:enc:aesgcm:v1:{first_key}:");
    assert!(!files_containing(&data_dir, first_prefix.as_bytes()).is_empty());

    let status = bosun_ok(&["secrets-encrypt", "status", "--data-dir", &data_dir_arg]);
    assert!(status.contains("Encryption Status: Enabled"), "{status}");
    assert!(
        status.contains(&format!("Active Key: {first_key} (aesgcm)")),
        "{status}"
    );
    assert!(status.contains("Identity"), "{status}");

    // The embedded database is locked by the running server: rotation refuses to start and
    // leaves the configuration alone.
    let refused = bosun(&[
        "secrets-encrypt",
        "rotate-keys",
        "--data-dir",
        &data_dir_arg,
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("server stopped"), "{stderr}");
    assert_eq!(aesgcm_keys(&c), vec![first_key.clone()]);

    assert!(c.stop(), "the server did not exit cleanly:\n{}", c.log());
    let out = bosun_ok(&[
        "secrets-encrypt",
        "rotate-keys",
        "--data-dir",
        &data_dir_arg,
    ]);
    // The Secret, and any a controller made.
    assert!(rewritten(&out) >= 1, "{out}");
    let keys = aesgcm_keys(&c);
    assert_eq!(keys.len(), 1, "the old key is dropped: {keys:?}");
    let new_key = keys[0].clone();
    assert_ne!(new_key, first_key);
    let new_prefix = format!("k8s:enc:aesgcm:v1:{new_key}:");
    assert!(!files_containing(&data_dir, new_prefix.as_bytes()).is_empty());

    c.restart();
    let (_, plain) = password_of(&c, "s");
    assert_eq!(plain, password);
    let status = bosun_ok(&["secrets-encrypt", "status", "--data-dir", &data_dir_arg]);
    assert!(
        status.contains(&format!("Active Key: {new_key}")),
        "{status}"
    );
    assert!(!status.contains(&first_key), "{status}");
}

#[test]
fn an_encryption_provider_config_file_moves_secrets_from_the_clear_to_secretbox() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("encryption.yaml");
    let write_config = |providers: &str| {
        std::fs::write(
            &config,
            format!(
                "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n\
                 resources:\n  - resources: [secrets]\n    providers:\n{providers}"
            ),
        )
        .unwrap();
    };
    let identity = "      - identity: {}\n";
    let secretbox = "      - secretbox:\n          keys:\n            - name: key1\n\
                     \x20             secret: YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=\n";
    // Identity first: written in the clear, the secretbox key only reads.
    write_config(&format!("{identity}{secretbox}"));
    let config_arg = config.to_str().unwrap().to_string();
    let mut c = Cluster::start_with(&["--encryption-provider-config", &config_arg]);
    let data_dir = c.data_dir();
    let data_dir_arg = data_dir.to_str().unwrap().to_string();
    let before = unique_password();
    c.ok(&[
        "create",
        "secret",
        "generic",
        "before",
        &format!("--from-literal=password={before}"),
    ]);
    let (before_b64, _) = password_of(&c, "before");
    assert!(!files_containing(&data_dir, before_b64.as_bytes()).is_empty());
    let status = bosun_ok(&[
        "secrets-encrypt",
        "status",
        "--encryption-provider-config",
        &config_arg,
    ]);
    assert!(
        status.contains("Disabled, identity is the first provider"),
        "{status}"
    );

    // Secretbox first: new Secrets are encrypted, the one in the clear still reads.
    assert!(c.stop(), "the server did not exit cleanly:\n{}", c.log());
    write_config(&format!("{secretbox}{identity}"));
    c.restart();
    assert_eq!(password_of(&c, "before").1, before);
    let after = unique_password();
    c.ok(&[
        "create",
        "secret",
        "generic",
        "after",
        &format!("--from-literal=password={after}"),
    ]);
    let (after_b64, _) = password_of(&c, "after");
    assert_eq!(
        files_containing(&data_dir, after.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        files_containing(&data_dir, after_b64.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert!(!files_containing(&data_dir, b"k8s:enc:secretbox:v1:key1:").is_empty());

    // Rotation rewrites both, the one in the clear too, with a new secretbox key.
    assert!(c.stop(), "the server did not exit cleanly:\n{}", c.log());
    let out = bosun_ok(&[
        "secrets-encrypt",
        "rotate-keys",
        "--data-dir",
        &data_dir_arg,
        "--encryption-provider-config",
        &config_arg,
    ]);
    assert!(rewritten(&out) >= 2, "{out}");
    let rotated = std::fs::read_to_string(&config).unwrap();
    assert!(rotated.contains("secretboxkey-"), "{rotated}");
    assert!(!rotated.contains("\"key1\""), "{rotated}");
    c.restart();
    assert_eq!(password_of(&c, "before").1, before);
    assert_eq!(password_of(&c, "after").1, after);
}

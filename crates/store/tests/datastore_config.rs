//! Opening a datastore from the server's `--datastore-*` flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bosun_store::etcd_process::{EtcdProcess, EtcdServerTls};
use bosun_store::{DatastoreConfig, EtcdTls, KeyRange, StoreError, open};
use bytes::Bytes;
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM files of a test PKI: a CA, a server certificate for 127.0.0.1, a client certificate.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn write(dir: &Path, name: &str, pem: String) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

fn make_pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "bosun-test-etcd-ca");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |cn: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        "etcd",
        vec!["127.0.0.1".into(), "localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        "bosun-apiserver",
        vec![],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca: write(dir, "ca.crt", ca_cert.pem()),
        server_cert: write(dir, "server.crt", server_cert),
        server_key: write(dir, "server.key", server_key),
        client_cert: write(dir, "client.crt", client_cert),
        client_key: write(dir, "client.key", client_key),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_endpoint_opens_embedded_sqlite_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = DatastoreConfig {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let ds = open(&config).await.unwrap();
    ds.store()
        .create("/registry/namespaces/default", Bytes::from("{}"), None)
        .await
        .unwrap();
    assert!(dir.path().join("server/db/state.db").exists());
}

#[tokio::test]
async fn an_unsupported_endpoint_is_refused_with_a_clear_error() {
    let config = DatastoreConfig {
        endpoint: "mysql://db:3306/k".into(),
        ..Default::default()
    };
    match open(&config).await {
        Err(StoreError::InvalidArgument(msg)) => {
            assert!(msg.contains("mysql://db:3306/k"), "{msg}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a mysql endpoint must be refused"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_with_client_certificates_is_reached_through_the_datastore_flags() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let client = EtcdTls {
        ca_pem: Some(std::fs::read(&pki.ca).unwrap()),
        identity_pem: Some((
            std::fs::read(&pki.client_cert).unwrap(),
            std::fs::read(&pki.client_key).unwrap(),
        )),
    };
    let etcd = EtcdProcess::start_tls(
        dir.path(),
        EtcdServerTls {
            cert_file: pki.server_cert.clone(),
            key_file: pki.server_key.clone(),
            client_ca_file: pki.ca.clone(),
            client,
        },
    )
    .await
    .unwrap();
    assert!(etcd.endpoint().starts_with("https://"));

    let config = DatastoreConfig {
        endpoint: etcd.endpoint().to_string(),
        ca_file: Some(pki.ca.clone()),
        cert_file: Some(pki.client_cert.clone()),
        key_file: Some(pki.client_key.clone()),
        ..Default::default()
    };
    let ds = open(&config).await.unwrap();
    let store = ds.store();
    let mut w = store
        .watch(KeyRange::Prefix("/registry/pods".into()), None)
        .await
        .unwrap();
    let rev = store
        .create("/registry/pods/default/p", Bytes::from("{}"), None)
        .await
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(e.revision(), rev);

    // Without a client certificate the server refuses us.
    let no_identity = DatastoreConfig {
        cert_file: None,
        key_file: None,
        ..config.clone()
    };
    let refused = match open(&no_identity).await {
        Err(e) => Some(e),
        Ok(ds) => ds
            .store()
            .create("/registry/pods/default/q", Bytes::from("{}"), None)
            .await
            .err(),
    };
    assert!(
        matches!(refused, Some(StoreError::Unavailable(_))),
        "{refused:?}"
    );

    // A certificate without its key is a configuration error.
    let half = DatastoreConfig {
        key_file: None,
        ..config
    };
    assert!(matches!(
        open(&half).await,
        Err(StoreError::InvalidArgument(_))
    ));
}

//! Encryption at rest, in kube-apiserver's configuration and on-disk formats.
//!
//! The configuration is upstream's `apiserver.config.k8s.io/v1` `EncryptionConfiguration`
//! (YAML, or JSON as k3s writes it): for each list of resources, an ordered list of providers.
//! The first provider encrypts every write; all of them are tried on reads, so a key that is no
//! longer first still decrypts what it wrote. An `identity` provider reads values stored in the
//! clear (written before encryption was turned on).
//!
//! A stored value is upstream's: `k8s:enc:<provider>:v1:<key name>:` followed by the provider's
//! ciphertext, so a store written by Bosun can be read by kube-apiserver with the same
//! configuration and the other way round:
//! - `aesgcm`: a random 12-byte nonce, then the AES-GCM ciphertext with its 16-byte tag, the
//!   store key (`/registry/secrets/<ns>/<name>`) authenticated as additional data, so a value
//!   copied to another key does not decrypt (upstream's `aes.NewGCMTransformer`).
//! - `secretbox`: a random 24-byte nonce, then NaCl's `crypto_secretbox` (XSalsa20-Poly1305)
//!   sealed box (upstream's `secretbox.NewSecretboxTransformer`).
//!
//! The ciphers are RustCrypto's `aes-gcm` and `crypto_secretbox`; nonces and keys come from the
//! operating system's random source. [`EncryptionTransformer`] is the [`ValueTransformer`] that
//! [`crate::Transformed`] applies; [`rewrite`] re-encrypts stored values after a key rotation.
//!
//! Not supported: the `aescbc` and `kms` providers (a configuration naming them is refused),
//! and group-qualified resource names other than `*.*` (Bosun stores built-in groups under
//! historical key names, so a name like `deployments.apps` does not map to one key prefix).

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use crypto_secretbox::XSalsa20Poly1305;
use rand::TryRngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::store::{KeyValue, ListOptions, Store};
use crate::transform::ValueTransformer;

/// The configuration's `apiVersion`.
pub const API_VERSION: &str = "apiserver.config.k8s.io/v1";
/// The configuration's `kind`.
pub const KIND: &str = "EncryptionConfiguration";
/// What every encrypted value starts with.
pub const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";

type Aes192Gcm = AesGcm<aes_gcm::aes::Aes192, U12>;

const GCM_NONCE: usize = 12;
const SECRETBOX_NONCE: usize = 24;
/// Poly1305's tag, which a sealed box starts with.
const SECRETBOX_TAG: usize = 16;

// ---------------------------------------------------------------------------------------------
// The configuration file.

/// An `EncryptionConfiguration`: which resources are encrypted, and with which providers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionConfig {
    /// Always [`KIND`].
    #[serde(default)]
    pub kind: String,
    /// Always [`API_VERSION`].
    #[serde(default)]
    pub api_version: String,
    /// The resource lists, earlier ones taking precedence.
    pub resources: Vec<ResourceConfig>,
}

/// One resource list and the providers that encrypt it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceConfig {
    /// Resource names: `secrets`, `configmaps`, ... (core group), or `*.*` for everything.
    pub resources: Vec<String>,
    /// The providers: the first encrypts writes, all are tried on reads.
    pub providers: Vec<ProviderConfig>,
}

/// One provider; exactly one field is set, as upstream requires.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// AES-GCM with 16-, 24- or 32-byte keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aesgcm: Option<KeysConfig>,
    /// AES-CBC: upstream's, not supported by Bosun (kept so the error can name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aescbc: Option<KeysConfig>,
    /// XSalsa20-Poly1305 with 32-byte keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secretbox: Option<KeysConfig>,
    /// No encryption: reads values stored in the clear, and writes them so if first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityConfig>,
    /// A KMS plugin: upstream's, not supported by Bosun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<serde_json::Value>,
}

/// The keys of a keyed provider, the first one encrypting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeysConfig {
    /// The keys.
    pub keys: Vec<KeyConfig>,
}

/// One named key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyConfig {
    /// The key's name, recorded in every value it encrypts.
    pub name: String,
    /// The key material, base64.
    pub secret: String,
}

impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("name", &self.name)
            .field("secret", &"REDACTED")
            .finish()
    }
}

/// The `identity` provider's (empty) settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityConfig {}

/// The providers Bosun can encrypt with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// `aesgcm`: AES-GCM, the default.
    AesGcm,
    /// `secretbox`: XSalsa20-Poly1305.
    Secretbox,
}

impl ProviderKind {
    /// The provider's name in the configuration and in stored values.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::AesGcm => "aesgcm",
            ProviderKind::Secretbox => "secretbox",
        }
    }

    /// The stored-value prefix of one of this provider's keys.
    pub fn value_prefix(self, key_name: &str) -> String {
        format!("k8s:enc:{}:v1:{key_name}:", self.name())
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ProviderConfig {
    /// An `identity` provider.
    pub fn identity() -> Self {
        ProviderConfig {
            identity: Some(IdentityConfig {}),
            ..Default::default()
        }
    }

    /// A keyed provider of `kind` with `keys`.
    pub fn keyed(kind: ProviderKind, keys: Vec<KeyConfig>) -> Self {
        let keys = Some(KeysConfig { keys });
        match kind {
            ProviderKind::AesGcm => ProviderConfig {
                aesgcm: keys,
                ..Default::default()
            },
            ProviderKind::Secretbox => ProviderConfig {
                secretbox: keys,
                ..Default::default()
            },
        }
    }

    /// The provider's name (`aesgcm`, `identity`, ...), or `""` when no field is set.
    pub fn name(&self) -> &'static str {
        if self.aesgcm.is_some() {
            "aesgcm"
        } else if self.secretbox.is_some() {
            "secretbox"
        } else if self.aescbc.is_some() {
            "aescbc"
        } else if self.identity.is_some() {
            "identity"
        } else if self.kms.is_some() {
            "kms"
        } else {
            ""
        }
    }

    fn count_set(&self) -> usize {
        [
            self.aesgcm.is_some(),
            self.aescbc.is_some(),
            self.secretbox.is_some(),
            self.identity.is_some(),
            self.kms.is_some(),
        ]
        .into_iter()
        .filter(|s| *s)
        .count()
    }

    /// The supported keyed provider this is, with its keys.
    pub fn keys(&self) -> Option<(ProviderKind, &[KeyConfig])> {
        if let Some(k) = &self.aesgcm {
            Some((ProviderKind::AesGcm, &k.keys))
        } else {
            self.secretbox
                .as_ref()
                .map(|k| (ProviderKind::Secretbox, k.keys.as_slice()))
        }
    }

    fn keys_mut(&mut self) -> Option<&mut Vec<KeyConfig>> {
        if let Some(k) = &mut self.aesgcm {
            Some(&mut k.keys)
        } else {
            self.secretbox.as_mut().map(|k| &mut k.keys)
        }
    }
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::InvalidArgument(msg.into())
}

fn random_bytes(buf: &mut [u8]) -> std::result::Result<(), String> {
    rand::rngs::OsRng
        .try_fill_bytes(buf)
        .map_err(|e| format!("reading the system's random source: {e}"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A fresh random 32-byte key named `<provider>key-<unix time>`, as k3s names its keys.
pub fn generate_key(kind: ProviderKind) -> Result<KeyConfig> {
    let mut secret = [0u8; 32];
    random_bytes(&mut secret).map_err(StoreError::Unavailable)?;
    Ok(KeyConfig {
        name: format!("{}key-{}", kind.name(), unix_now()),
        secret: BASE64.encode(secret),
    })
}

impl EncryptionConfig {
    /// The configuration `--secrets-encryption` creates: Secrets encrypted by `kind` with one
    /// fresh key, and `identity` so Secrets written before encryption was on still read.
    pub fn generate(kind: ProviderKind) -> Result<Self> {
        Ok(EncryptionConfig {
            kind: KIND.into(),
            api_version: API_VERSION.into(),
            resources: vec![ResourceConfig {
                resources: vec!["secrets".into()],
                providers: vec![
                    ProviderConfig::keyed(kind, vec![generate_key(kind)?]),
                    ProviderConfig::identity(),
                ],
            }],
        })
    }

    /// Parses a configuration (YAML or JSON) and checks it as [`EncryptionConfig::validate`]
    /// does.
    pub fn parse(text: &str) -> Result<Self> {
        let config: EncryptionConfig = serde_yaml::from_str(text)
            .map_err(|e| invalid(format!("parsing the encryption configuration: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("reading {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| match e {
            StoreError::InvalidArgument(m) => invalid(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// Writes the configuration as JSON, readable by its owner only, replacing any file at
    /// `path` atomically (a crash leaves the old file or the new one, never half of one).
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let err = |what: &str, p: &Path, e: std::io::Error| {
            StoreError::Unavailable(format!("{what} {}: {e}", p.display()))
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| err("creating", dir, e))?;
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| invalid(e.to_string()))?;
        json.push(b'\n');
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "encryption-config".into());
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err("creating", &tmp, e))?;
        file.write_all(&json)
            .and_then(|_| file.sync_all())
            .map_err(|e| err("writing", &tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| err("replacing", path, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Checks the configuration as upstream does (one provider per entry, keys present, named
    /// and of the right length) and refuses what Bosun does not support.
    pub fn validate(&self) -> Result<()> {
        EncryptionTransformer::new(self).map(|_| ())
    }

    /// Whether any resource list encrypts its writes (its first provider is not `identity`).
    pub fn encrypts(&self) -> bool {
        self.resources
            .iter()
            .any(|r| r.providers.first().and_then(|p| p.keys()).is_some())
    }

    /// The key that encrypts writes of the first resource list that encrypts: its provider and
    /// name.
    pub fn active_key(&self) -> Option<(ProviderKind, &str)> {
        self.resources.iter().find_map(|r| {
            let (kind, keys) = r.providers.first()?.keys()?;
            keys.first().map(|k| (kind, k.name.as_str()))
        })
    }

    /// Key rotation, step one: a copy with a fresh key of the same provider put first in every
    /// resource list that encrypts, the old keys kept behind it for reading. Returns the copy
    /// and the new key's name.
    pub fn with_new_key(&self) -> Result<(Self, String)> {
        let mut next = self.clone();
        let taken: Vec<String> = self
            .resources
            .iter()
            .flat_map(|r| r.providers.iter())
            .filter_map(|p| p.keys())
            .flat_map(|(_, keys)| keys.iter().map(|k| k.name.clone()))
            .collect();
        let mut new_name = None;
        for list in &mut next.resources {
            let Some((kind, _)) = list.providers.first().and_then(|p| p.keys()) else {
                continue;
            };
            let mut key = match &new_name {
                Some(name) => KeyConfig {
                    name: String::clone(name),
                    secret: generate_key(kind)?.secret,
                },
                None => generate_key(kind)?,
            };
            if new_name.is_none() {
                let base = key.name.clone();
                let mut n = 2;
                while taken.contains(&key.name) {
                    key.name = format!("{base}-{n}");
                    n += 1;
                }
                new_name = Some(key.name.clone());
            }
            if let Some(keys) = list.providers[0].keys_mut() {
                keys.insert(0, key);
            }
        }
        let name = new_name.ok_or_else(|| {
            invalid(
                "the encryption configuration encrypts nothing (every resource list starts with \
                 the identity provider): there is no key to rotate",
            )
        })?;
        next.validate()?;
        Ok((next, name))
    }

    /// Key rotation, last step (after every value was rewritten with the first key): a copy
    /// keeping in each resource list only the key that encrypts, and `identity` if listed.
    pub fn without_old_keys(&self) -> Self {
        let mut next = self.clone();
        for list in &mut next.resources {
            let Some(first) = list.providers.first().cloned() else {
                continue;
            };
            if first.keys().is_none() {
                continue;
            }
            let mut first = first;
            if let Some(keys) = first.keys_mut() {
                keys.truncate(1);
            }
            let identity = list.providers.iter().any(|p| p.identity.is_some());
            list.providers = vec![first];
            if identity {
                list.providers.push(ProviderConfig::identity());
            }
        }
        next
    }
}

// ---------------------------------------------------------------------------------------------
// The transformer.

enum Cipher {
    Gcm128(Box<Aes128Gcm>),
    Gcm192(Box<Aes192Gcm>),
    Gcm256(Box<Aes256Gcm>),
    Secretbox(Box<XSalsa20Poly1305>),
}

struct Key {
    kind: ProviderKind,
    name: String,
    prefix: Vec<u8>,
    cipher: Cipher,
}

enum Provider {
    Identity,
    Key(Key),
}

struct Rule {
    /// Store key prefixes (`/registry/secrets/`) the rule covers.
    prefixes: Vec<String>,
    providers: Vec<Provider>,
}

/// Encrypts and decrypts values as an [`EncryptionConfig`] says: a [`ValueTransformer`] for
/// [`crate::Transformed`]. Keys no resource list covers pass through untouched.
pub struct EncryptionTransformer {
    rules: Vec<Rule>,
}

impl fmt::Debug for EncryptionTransformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for r in &self.rules {
            let providers: Vec<String> = r
                .providers
                .iter()
                .map(|p| match p {
                    Provider::Identity => "identity".to_string(),
                    Provider::Key(k) => format!("{}:{}", k.kind, k.name),
                })
                .collect();
            list.entry(&(&r.prefixes, providers));
        }
        list.finish()
    }
}

/// The store key prefix of a resource name from the configuration.
fn resource_prefix(resource: &str) -> Result<String> {
    match resource {
        "*.*" => Ok("/registry/".into()),
        r if r.is_empty() || r.contains('/') || r.contains('*') => Err(invalid(format!(
            "resource {r:?}: name a resource (\"secrets\") or \"*.*\""
        ))),
        r if r.contains('.') && !r.ends_with('.') => Err(invalid(format!(
            "resource {r:?}: group-qualified resources are not supported; name core resources \
             (\"secrets\", \"configmaps\") or \"*.*\""
        ))),
        r => Ok(format!("/registry/{}/", r.trim_end_matches('.'))),
    }
}

fn key_cipher(kind: ProviderKind, key: &KeyConfig, at: &str) -> Result<Key> {
    if key.name.is_empty() {
        return Err(invalid(format!(
            "{at}: name is a mandatory field for a key"
        )));
    }
    if key.secret.is_empty() {
        return Err(invalid(format!(
            "{at} ({}): secret is a mandatory field for a key",
            key.name
        )));
    }
    let secret = BASE64.decode(key.secret.trim()).map_err(|_| {
        invalid(format!(
            "{at} ({}): secrets must be base64 encoded",
            key.name
        ))
    })?;
    let bad_len = |expected: &str| {
        invalid(format!(
            "{at} ({}): secret is not of the expected length, got {}, expected {expected}",
            key.name,
            secret.len()
        ))
    };
    let cipher = match (kind, secret.len()) {
        (ProviderKind::AesGcm, 16) => Cipher::Gcm128(Box::new(
            Aes128Gcm::new_from_slice(&secret).map_err(|_| bad_len("16, 24 or 32"))?,
        )),
        (ProviderKind::AesGcm, 24) => Cipher::Gcm192(Box::new(
            Aes192Gcm::new_from_slice(&secret).map_err(|_| bad_len("16, 24 or 32"))?,
        )),
        (ProviderKind::AesGcm, 32) => Cipher::Gcm256(Box::new(
            Aes256Gcm::new_from_slice(&secret).map_err(|_| bad_len("16, 24 or 32"))?,
        )),
        (ProviderKind::AesGcm, _) => return Err(bad_len("16, 24 or 32")),
        (ProviderKind::Secretbox, 32) => Cipher::Secretbox(Box::new(
            XSalsa20Poly1305::new_from_slice(&secret).map_err(|_| bad_len("32"))?,
        )),
        (ProviderKind::Secretbox, _) => return Err(bad_len("32")),
    };
    Ok(Key {
        kind,
        name: key.name.clone(),
        prefix: kind.value_prefix(&key.name).into_bytes(),
        cipher,
    })
}

impl Key {
    fn nonce_len(&self) -> usize {
        match self.cipher {
            Cipher::Secretbox(_) => SECRETBOX_NONCE,
            _ => GCM_NONCE,
        }
    }

    /// `prefix || nonce || ciphertext`, upstream's layout; AES-GCM authenticates `key` too.
    fn seal(&self, key: &str, plain: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let mut nonce = vec![0u8; self.nonce_len()];
        random_bytes(&mut nonce)?;
        let gcm = Payload {
            msg: plain,
            aad: key.as_bytes(),
        };
        let gcm_nonce = || aes_gcm::Nonce::<U12>::from_slice(&nonce);
        let sealed = match &self.cipher {
            Cipher::Gcm128(c) => c.encrypt(gcm_nonce(), gcm),
            Cipher::Gcm192(c) => c.encrypt(gcm_nonce(), gcm),
            Cipher::Gcm256(c) => c.encrypt(gcm_nonce(), gcm),
            Cipher::Secretbox(c) => c.encrypt(crypto_secretbox::Nonce::from_slice(&nonce), plain),
        }
        .map_err(|_| format!("{} encryption failed", self.kind))?;
        let mut out = Vec::with_capacity(self.prefix.len() + nonce.len() + sealed.len());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plain value of `data`, the stored value without its prefix.
    fn open(&self, key: &str, data: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let min = match self.cipher {
            Cipher::Secretbox(_) => SECRETBOX_NONCE + SECRETBOX_TAG,
            _ => GCM_NONCE,
        };
        if data.len() < min {
            return Err(format!(
                "the stored {} data was shorter than the required size",
                self.kind
            ));
        }
        let (nonce, sealed) = data.split_at(self.nonce_len());
        let gcm = Payload {
            msg: sealed,
            aad: key.as_bytes(),
        };
        let gcm_nonce = || aes_gcm::Nonce::<U12>::from_slice(nonce);
        match &self.cipher {
            Cipher::Gcm128(c) => c.decrypt(gcm_nonce(), gcm),
            Cipher::Gcm192(c) => c.decrypt(gcm_nonce(), gcm),
            Cipher::Gcm256(c) => c.decrypt(gcm_nonce(), gcm),
            Cipher::Secretbox(c) => c.decrypt(crypto_secretbox::Nonce::from_slice(nonce), sealed),
        }
        .map_err(|_| {
            format!(
                "{} key {:?} could not decrypt the value (wrong key material, a corrupted value, \
                 or a value copied from another key)",
                self.kind, self.name
            )
        })
    }
}

/// Names the provider and key an encrypted value's prefix claims, for error messages.
fn describe_prefix(stored: &[u8]) -> String {
    let rest = &stored[ENCRYPTED_PREFIX.len()..];
    let head = String::from_utf8_lossy(&rest[..rest.len().min(200)]).into_owned();
    let mut parts = head.splitn(4, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(provider), Some(version), Some(name), Some(_)) => {
            format!("{provider} ({version}) key {name:?}")
        }
        _ => "an unrecognised provider".into(),
    }
}

impl EncryptionTransformer {
    /// Checks `config` and builds the ciphers it names.
    pub fn new(config: &EncryptionConfig) -> Result<Self> {
        if !config.api_version.is_empty() && config.api_version != API_VERSION {
            return Err(invalid(format!(
                "unsupported apiVersion {:?}: expected {API_VERSION:?}",
                config.api_version
            )));
        }
        if !config.kind.is_empty() && config.kind != KIND {
            return Err(invalid(format!(
                "unsupported kind {:?}: expected {KIND:?}",
                config.kind
            )));
        }
        if config.resources.is_empty() {
            return Err(invalid("at least one resources entry is required"));
        }
        let mut rules = Vec::new();
        for (i, list) in config.resources.iter().enumerate() {
            if list.resources.is_empty() {
                return Err(invalid(format!(
                    "resources[{i}].resources: at least one resource is required"
                )));
            }
            if list.providers.is_empty() {
                return Err(invalid(format!(
                    "resources[{i}].providers: at least one provider is required"
                )));
            }
            let prefixes = list
                .resources
                .iter()
                .map(|r| resource_prefix(r))
                .collect::<Result<Vec<_>>>()?;
            let mut providers = Vec::new();
            for (j, p) in list.providers.iter().enumerate() {
                let at = format!("resources[{i}].providers[{j}]");
                match p.count_set() {
                    0 => {
                        return Err(invalid(format!(
                            "{at}: provider does not contain any of the expected providers: \
                             aesgcm, secretbox, identity"
                        )));
                    }
                    1 => {}
                    _ => {
                        return Err(invalid(format!(
                            "{at}: more than one provider specified in a single element, should \
                             split into different list elements"
                        )));
                    }
                }
                if p.identity.is_some() {
                    providers.push(Provider::Identity);
                    continue;
                }
                let Some((kind, keys)) = p.keys() else {
                    return Err(invalid(format!(
                        "{at}: the {} provider is not supported by Bosun; use aesgcm or secretbox",
                        p.name()
                    )));
                };
                if keys.is_empty() {
                    return Err(invalid(format!(
                        "{at}.{kind}.keys: at least one key is required"
                    )));
                }
                for (k, key) in keys.iter().enumerate() {
                    let at = format!("{at}.{kind}.keys[{k}]");
                    if keys[..k].iter().any(|o| o.name == key.name) {
                        return Err(invalid(format!("{at}: duplicate key name {:?}", key.name)));
                    }
                    providers.push(Provider::Key(key_cipher(kind, key, &at)?));
                }
            }
            rules.push(Rule {
                prefixes,
                providers,
            });
        }
        Ok(EncryptionTransformer { rules })
    }

    fn rule(&self, key: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.prefixes.iter().any(|p| key.starts_with(p.as_str())))
    }

    /// The store key prefixes the configuration covers, each a directory (`/registry/secrets/`).
    pub fn prefixes(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for p in self.rules.iter().flat_map(|r| r.prefixes.iter()) {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        all
    }

    /// Whether `stored`, the stored value of `key`, is in the form a write would produce now
    /// (encrypted with the first key, or in the clear where `identity` is first), so that a
    /// rewrite after rotation can skip it.
    pub fn is_current(&self, key: &str, stored: &[u8]) -> bool {
        match self.rule(key).and_then(|r| r.providers.first()) {
            None | Some(Provider::Identity) => !stored.starts_with(ENCRYPTED_PREFIX),
            Some(Provider::Key(k)) => stored.starts_with(&k.prefix),
        }
    }

    fn failure(key: &str, reason: String) -> StoreError {
        StoreError::Transform {
            key: key.to_string(),
            reason,
        }
    }
}

impl ValueTransformer for EncryptionTransformer {
    fn encode(&self, key: &str, plain: Bytes) -> Result<Bytes> {
        match self.rule(key).and_then(|r| r.providers.first()) {
            None | Some(Provider::Identity) => Ok(plain),
            Some(Provider::Key(k)) => k
                .seal(key, &plain)
                .map(Bytes::from)
                .map_err(|e| Self::failure(key, e)),
        }
    }

    fn decode(&self, key: &str, stored: Bytes) -> Result<Bytes> {
        let Some(rule) = self.rule(key) else {
            return Ok(stored);
        };
        for p in &rule.providers {
            if let Provider::Key(k) = p
                && stored.starts_with(&k.prefix)
            {
                return k
                    .open(key, &stored[k.prefix.len()..])
                    .map(Bytes::from)
                    .map_err(|e| Self::failure(key, e));
            }
        }
        if stored.starts_with(ENCRYPTED_PREFIX) {
            return Err(Self::failure(
                key,
                format!(
                    "the value is encrypted with {}, which the encryption configuration does \
                     not list",
                    describe_prefix(&stored)
                ),
            ));
        }
        if rule
            .providers
            .iter()
            .any(|p| matches!(p, Provider::Identity))
        {
            return Ok(stored);
        }
        Err(Self::failure(
            key,
            "the value is not encrypted and the encryption configuration does not list the \
             identity provider"
                .into(),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Rewriting stored values.

/// What [`rewrite`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewriteStats {
    /// Values re-encrypted with the first key.
    pub rewritten: u64,
    /// Values already in their current form.
    pub unchanged: u64,
}

/// Rewrites every value under the configuration's resources that is not in its current form
/// (see [`EncryptionTransformer::is_current`]): decrypts it with whichever configured key wrote
/// it and writes it back encrypted with the first key. `store` is the backend itself, not a
/// [`crate::Transformed`] wrapper; each write is a compare-and-swap on the mod revision read,
/// retried on the fresh value if the key changed in between, so concurrent writers lose
/// nothing.
pub async fn rewrite(
    store: &dyn Store,
    transformer: &EncryptionTransformer,
) -> Result<RewriteStats> {
    let mut stats = RewriteStats::default();
    for prefix in transformer.prefixes() {
        let mut start = None;
        let mut revision = None;
        loop {
            let page = store
                .list(
                    &prefix,
                    ListOptions {
                        revision,
                        limit: Some(500),
                        start_key: start.take(),
                    },
                )
                .await?;
            revision = Some(page.revision);
            start = page.kvs.last().map(|kv| format!("{}\0", kv.key));
            for kv in page.kvs {
                if rewrite_one(store, transformer, kv).await? {
                    stats.rewritten += 1;
                } else {
                    stats.unchanged += 1;
                }
            }
            if !page.more {
                break;
            }
        }
    }
    Ok(stats)
}

async fn rewrite_one(
    store: &dyn Store,
    transformer: &EncryptionTransformer,
    mut kv: KeyValue,
) -> Result<bool> {
    loop {
        if transformer.is_current(&kv.key, &kv.value) {
            return Ok(false);
        }
        let plain = transformer.decode(&kv.key, kv.value.clone())?;
        let stored = transformer.encode(&kv.key, plain)?;
        let lease = (kv.lease != 0).then_some(kv.lease);
        match store.update(&kv.key, stored, kv.mod_revision, lease).await {
            Ok(_) => return Ok(true),
            Err(StoreError::Conflict { current, .. }) => kv = *current,
            Err(StoreError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_KEY: &str = "/registry/secrets/default/s";
    const PLAIN: &[u8] = br#"{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}"#;
    /// Bytes 0..32, base64.
    const FIXED_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn config(providers: Vec<ProviderConfig>) -> EncryptionConfig {
        EncryptionConfig {
            kind: KIND.into(),
            api_version: API_VERSION.into(),
            resources: vec![ResourceConfig {
                resources: vec!["secrets".into()],
                providers,
            }],
        }
    }

    fn key(name: &str, kind: ProviderKind) -> KeyConfig {
        KeyConfig {
            name: name.into(),
            ..generate_key(kind).unwrap()
        }
    }

    fn transformer(providers: Vec<ProviderConfig>) -> EncryptionTransformer {
        EncryptionTransformer::new(&config(providers)).unwrap()
    }

    fn reason(e: StoreError) -> String {
        match e {
            StoreError::Transform { reason, .. } => reason,
            e => panic!("expected a transform error, got {e}"),
        }
    }

    #[test]
    fn every_provider_round_trips_a_value_under_upstreams_prefix() {
        for kind in [ProviderKind::AesGcm, ProviderKind::Secretbox] {
            let t = transformer(vec![
                ProviderConfig::keyed(kind, vec![key("k1", kind)]),
                ProviderConfig::identity(),
            ]);
            let stored = t.encode(SECRET_KEY, Bytes::from_static(PLAIN)).unwrap();
            let prefix = format!("k8s:enc:{kind}:v1:k1:");
            assert!(stored.starts_with(prefix.as_bytes()), "{kind}");
            let nonce = if kind == ProviderKind::AesGcm { 12 } else { 24 };
            assert_eq!(stored.len(), prefix.len() + nonce + 16 + PLAIN.len());
            assert!(!stored.windows(PLAIN.len()).any(|w| w == PLAIN));
            assert_eq!(t.decode(SECRET_KEY, stored).unwrap(), PLAIN, "{kind}");
        }
    }

    #[test]
    fn aes_gcm_keys_of_every_aes_size_round_trip() {
        for len in [16, 24, 32] {
            let k = KeyConfig {
                name: "k".into(),
                secret: BASE64.encode(vec![7u8; len]),
            };
            let t = transformer(vec![ProviderConfig::keyed(ProviderKind::AesGcm, vec![k])]);
            let stored = t.encode(SECRET_KEY, Bytes::from_static(PLAIN)).unwrap();
            assert_eq!(t.decode(SECRET_KEY, stored).unwrap(), PLAIN, "{len}");
        }
    }

    #[test]
    fn values_sealed_by_other_implementations_of_upstreams_format_decrypt() {
        // Made with pyca/cryptography's AESGCM (OpenSSL) and PyNaCl's SecretBox (libsodium)
        // from FIXED_KEY, fixed nonces, PLAIN and SECRET_KEY as additional data: the layout
        // kube-apiserver writes.
        let gcm = "azhzOmVuYzphZXNnY206djE6a2V5MTpkZWZnaGlqa2xtbm8zObUPF410pBwxOouoAB7fbuBia/8N0\
                   Ujc89wpiNDSJ+aNYvpuc9NSiJc/aYQPrfImeeWacRXcpdrP39Z6lXPWL+paTw==";
        let sbox = "azhzOmVuYzpzZWNyZXRib3g6djE6a2V5MTrIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t9z53MNLAqcHP\
                    Unz+rZ6YeKgXAEHC5Wc/ivu+ag3FjLLckx+vR33Ae7HQXt//rAVZnt8pdxyLkT201Bq4C7njyM9Lq\
                    Xmw==";
        for (kind, stored) in [(ProviderKind::AesGcm, gcm), (ProviderKind::Secretbox, sbox)] {
            let fixed = KeyConfig {
                name: "key1".into(),
                secret: FIXED_KEY.into(),
            };
            let t = transformer(vec![ProviderConfig::keyed(kind, vec![fixed])]);
            let stored = Bytes::from(BASE64.decode(stored).unwrap());
            assert_eq!(t.decode(SECRET_KEY, stored).unwrap(), PLAIN, "{kind}");
        }
    }

    #[test]
    fn an_aes_gcm_value_moved_to_another_key_does_not_decrypt() {
        let t = transformer(vec![ProviderConfig::keyed(
            ProviderKind::AesGcm,
            vec![key("k1", ProviderKind::AesGcm)],
        )]);
        let stored = t.encode(SECRET_KEY, Bytes::from_static(PLAIN)).unwrap();
        let e = t
            .decode("/registry/secrets/default/other", stored)
            .unwrap_err();
        assert!(reason(e).contains("could not decrypt"));
    }

    #[test]
    fn values_written_before_encryption_read_back_as_they_are() {
        let t = transformer(vec![
            ProviderConfig::keyed(ProviderKind::AesGcm, vec![key("k1", ProviderKind::AesGcm)]),
            ProviderConfig::identity(),
        ]);
        assert_eq!(
            t.decode(SECRET_KEY, Bytes::from_static(PLAIN)).unwrap(),
            PLAIN
        );
        assert!(!t.is_current(SECRET_KEY, PLAIN));
    }

    #[test]
    fn values_in_the_clear_are_refused_when_identity_is_not_listed() {
        let t = transformer(vec![ProviderConfig::keyed(
            ProviderKind::AesGcm,
            vec![key("k1", ProviderKind::AesGcm)],
        )]);
        let e = t.decode(SECRET_KEY, Bytes::from_static(PLAIN)).unwrap_err();
        assert!(reason(e).contains("identity"));
    }

    #[test]
    fn a_value_encrypted_with_an_unknown_key_is_an_error_naming_the_key() {
        let old = transformer(vec![ProviderConfig::keyed(
            ProviderKind::AesGcm,
            vec![key("gone", ProviderKind::AesGcm)],
        )]);
        let stored = old.encode(SECRET_KEY, Bytes::from_static(PLAIN)).unwrap();
        let t = transformer(vec![
            ProviderConfig::keyed(ProviderKind::AesGcm, vec![key("k1", ProviderKind::AesGcm)]),
            ProviderConfig::identity(),
        ]);
        let msg = reason(t.decode(SECRET_KEY, stored).unwrap_err());
        assert!(msg.contains("aesgcm (v1) key \"gone\""), "{msg}");
        assert!(msg.contains("does not list"), "{msg}");
    }

    #[test]
    fn the_first_key_encrypts_and_older_keys_still_decrypt() {
        let old = key("old", ProviderKind::AesGcm);
        let sbox = key("box", ProviderKind::Secretbox);
        let before = transformer(vec![ProviderConfig::keyed(
            ProviderKind::Secretbox,
            vec![sbox.clone()],
        )]);
        let by_box = before
            .encode(SECRET_KEY, Bytes::from_static(PLAIN))
            .unwrap();
        let before = transformer(vec![ProviderConfig::keyed(
            ProviderKind::AesGcm,
            vec![old.clone()],
        )]);
        let by_old = before
            .encode(SECRET_KEY, Bytes::from_static(PLAIN))
            .unwrap();

        let t = transformer(vec![
            ProviderConfig::keyed(
                ProviderKind::AesGcm,
                vec![key("new", ProviderKind::AesGcm), old],
            ),
            ProviderConfig::keyed(ProviderKind::Secretbox, vec![sbox]),
        ]);
        let by_new = t.encode(SECRET_KEY, Bytes::from_static(PLAIN)).unwrap();
        assert!(by_new.starts_with(b"k8s:enc:aesgcm:v1:new:"));
        assert!(t.is_current(SECRET_KEY, &by_new));
        assert!(!t.is_current(SECRET_KEY, &by_old));
        for stored in [by_new, by_old, by_box] {
            assert_eq!(t.decode(SECRET_KEY, stored).unwrap(), PLAIN);
        }
    }

    #[test]
    fn keys_outside_the_configured_resources_pass_through() {
        let t = transformer(vec![ProviderConfig::keyed(
            ProviderKind::AesGcm,
            vec![key("k1", ProviderKind::AesGcm)],
        )]);
        for k in ["/registry/configmaps/default/c", "/registry/secretsx/a"] {
            let v = t.encode(k, Bytes::from_static(PLAIN)).unwrap();
            assert_eq!(v, PLAIN);
            assert_eq!(t.decode(k, v).unwrap(), PLAIN);
        }
        assert_eq!(t.prefixes(), vec!["/registry/secrets/".to_string()]);
    }

    #[test]
    fn a_k3s_style_json_configuration_parses_and_saves_back_the_same() {
        let json = format!(
            r#"{{"kind":"EncryptionConfiguration","apiVersion":"apiserver.config.k8s.io/v1",
               "resources":[{{"resources":["secrets"],"providers":[
                 {{"aesgcm":{{"keys":[{{"name":"aesgcmkey","secret":"{FIXED_KEY}"}}]}}}},
                 {{"identity":{{}}}}]}}]}}"#
        );
        let c = EncryptionConfig::parse(&json).unwrap();
        assert_eq!(c.active_key(), Some((ProviderKind::AesGcm, "aesgcmkey")));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cred").join("encryption-config.json");
        c.save(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(EncryptionConfig::load(&path).unwrap(), c);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""identity": {}"#), "{text}");
    }

    #[test]
    fn an_upstream_yaml_configuration_parses() {
        let yaml = format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n\
             resources:\n  - resources:\n      - secrets\n      - configmaps\n    providers:\n\
             \x20     - secretbox:\n          keys:\n            - name: key1\n\
             \x20             secret: {FIXED_KEY}\n      - identity: {{}}\n"
        );
        let c = EncryptionConfig::parse(&yaml).unwrap();
        let t = EncryptionTransformer::new(&c).unwrap();
        assert_eq!(
            t.prefixes(),
            vec!["/registry/secrets/", "/registry/configmaps/"]
        );
        assert_eq!(c.active_key(), Some((ProviderKind::Secretbox, "key1")));
    }

    #[test]
    fn invalid_or_unsupported_configurations_are_refused_with_the_reason() {
        let cases = [
            (
                ProviderConfig {
                    aescbc: Some(KeysConfig {
                        keys: vec![key("k", ProviderKind::AesGcm)],
                    }),
                    ..Default::default()
                },
                "aescbc provider is not supported",
            ),
            (ProviderConfig::default(), "does not contain any"),
            (
                ProviderConfig {
                    identity: Some(IdentityConfig {}),
                    ..ProviderConfig::keyed(ProviderKind::AesGcm, vec![])
                },
                "more than one provider",
            ),
            (
                ProviderConfig::keyed(ProviderKind::AesGcm, vec![]),
                "at least one key",
            ),
            (
                ProviderConfig::keyed(
                    ProviderKind::Secretbox,
                    vec![KeyConfig {
                        name: "k".into(),
                        secret: BASE64.encode([1u8; 16]),
                    }],
                ),
                "expected length, got 16",
            ),
            (
                ProviderConfig::keyed(
                    ProviderKind::AesGcm,
                    vec![KeyConfig {
                        name: "k".into(),
                        secret: "P@ssword".into(),
                    }],
                ),
                "base64",
            ),
        ];
        for (provider, want) in cases {
            let e = EncryptionTransformer::new(&config(vec![provider])).unwrap_err();
            assert!(e.to_string().contains(want), "{e} should say {want}");
        }
        let mut c = config(vec![ProviderConfig::identity()]);
        c.resources[0].resources = vec!["deployments.apps".into()];
        assert!(c.validate().unwrap_err().to_string().contains("group"));
    }

    #[test]
    fn rotation_puts_a_new_key_first_then_drops_the_old_ones() {
        let c = EncryptionConfig::generate(ProviderKind::AesGcm).unwrap();
        let (old_kind, old_name) = c.active_key().unwrap();
        assert_eq!(old_kind, ProviderKind::AesGcm);
        assert!(old_name.starts_with("aesgcmkey-"));
        let (rotated, new_name) = c.with_new_key().unwrap();
        assert_ne!(new_name, old_name);
        assert_eq!(
            rotated.active_key(),
            Some((ProviderKind::AesGcm, new_name.as_str()))
        );
        let keys = rotated.resources[0].providers[0].keys().unwrap().1;
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].name, old_name);
        let done = rotated.without_old_keys();
        let keys = done.resources[0].providers[0].keys().unwrap().1;
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].name, new_name);
        assert_eq!(done.resources[0].providers[1], ProviderConfig::identity());
        let off = config(vec![ProviderConfig::identity()]);
        assert!(off.with_new_key().is_err());
    }

    #[tokio::test]
    async fn rewriting_re_encrypts_every_stale_value_with_the_first_key() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::SqliteStore::open(crate::SqliteOptions::new(dir.path().join("db"))).unwrap();
        let old = key("old", ProviderKind::AesGcm);
        let before = transformer(vec![
            ProviderConfig::keyed(ProviderKind::AesGcm, vec![old.clone()]),
            ProviderConfig::identity(),
        ]);
        for i in 0..3 {
            let k = format!("/registry/secrets/default/s{i}");
            let v = before.encode(&k, Bytes::from_static(PLAIN)).unwrap();
            store.create(&k, v, None).await.unwrap();
        }
        store
            .create(
                "/registry/secrets/default/plain",
                Bytes::from_static(PLAIN),
                None,
            )
            .await
            .unwrap();
        store
            .create(
                "/registry/configmaps/default/c",
                Bytes::from_static(PLAIN),
                None,
            )
            .await
            .unwrap();

        let t = transformer(vec![
            ProviderConfig::keyed(
                ProviderKind::AesGcm,
                vec![key("new", ProviderKind::AesGcm), old],
            ),
            ProviderConfig::identity(),
        ]);
        let stats = rewrite(&store, &t).await.unwrap();
        assert_eq!(
            stats,
            RewriteStats {
                rewritten: 4,
                unchanged: 0
            }
        );
        let again = rewrite(&store, &t).await.unwrap();
        assert_eq!(again.unchanged, 4);
        let all = store
            .list("/registry/secrets/", ListOptions::default())
            .await
            .unwrap();
        for kv in all.kvs {
            assert!(
                kv.value.starts_with(b"k8s:enc:aesgcm:v1:new:"),
                "{}",
                kv.key
            );
            assert_eq!(t.decode(&kv.key, kv.value).unwrap(), PLAIN);
        }
        let cm = store
            .get("/registry/configmaps/default/c", None)
            .await
            .unwrap();
        assert_eq!(cm.kv.unwrap().value, PLAIN);
    }
}

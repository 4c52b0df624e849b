//! The request being admitted, described the way upstream's `admission.Attributes` describes it
//! to the webhook dispatchers.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A resource in one API version, e.g. `apps/v1 deployments`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupVersionResource {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Plural resource name, e.g. `deployments`.
    pub resource: String,
}

impl GroupVersionResource {
    /// Builds one from its parts.
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        GroupVersionResource {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }
}

/// A kind in one API version, e.g. `apps/v1 Deployment`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupVersionKind {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

impl GroupVersionKind {
    /// Builds one from its parts.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        GroupVersionKind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }
}

/// The admission operation, as webhooks see it in `request.operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `CREATE`
    Create,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
    /// `CONNECT` (exec, attach, port-forward, proxy).
    Connect,
}

impl Operation {
    /// The wire name: `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// The requesting user, sent to webhooks as `request.userInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user's name.
    pub username: String,
    /// The user's uid, if the authenticator knows one.
    pub uid: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// Extra attributes from the authenticator.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// One admission request as the API server describes it.
///
/// Objects are full JSON objects in the request's version, with `apiVersion` and `kind` set,
/// because webhooks receive them exactly as given here.
#[derive(Clone, Debug)]
pub struct Attributes {
    /// The resource addressed (`request.resource` and `request.requestResource`).
    pub resource: GroupVersionResource,
    /// The subresource addressed, empty for the main resource.
    pub subresource: String,
    /// The kind of `object` (`request.kind` and `request.requestKind`).
    pub kind: GroupVersionKind,
    /// The object's name; may be empty on create with `generateName`.
    pub name: String,
    /// The request's namespace. As upstream's request info does, requests addressing one
    /// Namespace (`/api/v1/namespaces/foo`) carry that namespace's name here.
    pub namespace: String,
    /// The operation.
    pub operation: Operation,
    /// Who is asking.
    pub user: UserInfo,
    /// The new object: absent on DELETE; the connect options on CONNECT. Mutating webhooks
    /// replace it with their patched copy.
    pub object: Option<Value>,
    /// The existing object on UPDATE and DELETE.
    pub old_object: Option<Value>,
    /// Whether the request is a dry run.
    pub dry_run: bool,
    /// The operation's options object (`CreateOptions`, `UpdateOptions`, `DeleteOptions`, or
    /// the connect options), sent as `request.options`.
    pub options: Option<Value>,
}

impl Attributes {
    /// The labels of `obj`, as string pairs; `None` when `obj` is absent or not an object.
    pub(crate) fn labels_of(obj: Option<&Value>) -> Option<BTreeMap<String, String>> {
        let obj = obj.filter(|o| o.is_object())?;
        let labels = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(string_pairs)
            .unwrap_or_default();
        Some(labels)
    }
}

/// The string values of a JSON object, skipping anything that is not a string.
pub(crate) fn string_pairs(map: &Map<String, Value>) -> BTreeMap<String, String> {
    map.iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect()
}

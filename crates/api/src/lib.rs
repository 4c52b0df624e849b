//! Bosun's API machinery: what the API server knows about Kubernetes objects, independent of
//! HTTP and of storage.
//!
//! Layout, top-down:
//! - [`resources`]: the resource table. One row per served resource (group, version, kind,
//!   plural, scope, verbs, subresources, short names, storage prefix, codec); the API server's
//!   handlers are generic and driven entirely by these rows.
//! - [`apply`]: server-side apply and field ownership (`managedFields`).
//! - [`crd`]: CustomResourceDefinitions and the rows that serve their resources.
//! - [`convert`]: conversion between versions of a kind that share storage.
//! - [`codec`]: decoding a request body into an object the way upstream does, including strict
//!   field validation against the kind's schema (k8s-openapi's types).
//! - [`meta`]: object metadata rules shared by every kind (names, generateName, uid,
//!   timestamps, resourceVersion, labels and annotations).
//! - [`openapi`]: OpenAPI v3 documents per group version, from the resource table.
//! - [`patch`]: strategic merge patch with upstream's merge keys.
//! - [`pod_refs`]: the secrets, config maps, claims and account a pod refers to.
//! - [`protobuf`]: decoding Kubernetes protobuf request bodies into JSON objects.
//! - [`quota`]: what objects use of ResourceQuota resources, and quota scopes.
//! - [`quantity`]: resource quantities (`resource.Quantity`) with upstream's parsing, rounding,
//!   arithmetic and canonical form, and resource lists.
//! - [`status`]: errors as upstream's `Status` objects, with upstream's reasons and wording.
//! - [`selectors`]: label and field selectors.
//! - [`strategy`]: upstream's defaulting and validation of each built-in kind.
//! - [`table`]: server-side tables (`kubectl get` columns), per kind as upstream prints them.

pub mod apply;
pub mod codec;
pub mod convert;
pub mod crd;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod pod_refs;
pub mod protobuf;
pub mod quantity;
pub mod quota;
pub mod resources;
pub mod selectors;
pub mod status;
pub mod strategy;
pub mod table;

pub use quantity::Quantity;
pub use resources::{ResourceDef, ResourceTable, Scope};
pub use status::{ApiError, FieldError};

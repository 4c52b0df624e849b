//! Authentication results and authorization decisions for the API server.
//!
//! A request passes authn → authz → admission before it reaches the registry. This crate holds the
//! parts of that path that do not depend on HTTP or storage, so they can be tested on their own:
//! - [`user`]: the identity an authenticator produces ([`UserInfo`]) and upstream's well-known
//!   user and group names;
//! - [`attributes`]: what a request asks to do ([`Attributes`]) and upstream's wording when it is
//!   refused;
//! - [`authorizer`]: the [`Authorizer`] trait, the chain that asks each authorizer in turn, and
//!   the `system:masters` short cut upstream places first;
//! - [`node`]: the Node authorizer, which confines kubelets to their own node's objects;
//! - [`bootstrap_token`]: bootstrap tokens (`<id>.<secret>` kept in kube-system Secrets) that
//!   joining nodes authenticate with;
//! - [`token_file`]: static bearer tokens from `--token-auth-file`;
//! - [`service_account`]: signing and checking ServiceAccount tokens (bound and legacy JWTs);
//! - [`rbac`]: the RBAC authorizer, evaluating Roles, ClusterRoles and their bindings read from a
//!   [`rbac::PolicySource`] (the API server backs it with its watch cache).

pub mod attributes;
pub mod authorizer;
pub mod bootstrap_token;
pub mod node;
pub mod rbac;
pub mod service_account;
pub mod token_file;
pub mod user;

pub use attributes::Attributes;
pub use authorizer::{Authorizer, AuthorizerChain, Decision, PrivilegedGroups};
pub use user::UserInfo;

//! Dynamic admission webhooks, as upstream's kube-apiserver calls them
//! (k8s.io/apiserver/pkg/admission/plugin/webhook and k8s.io/apiserver/pkg/util/webhook), and
//! the defaulting and validation of their admissionregistration.k8s.io/v1 configurations
//! (pkg/apis/admissionregistration).
//!
//! Layout:
//! - [`config`]: defaults and validation of Mutating-/ValidatingWebhookConfiguration objects,
//!   returning upstream's field errors for a 422 answer.
//! - [`attributes`]: the request being admitted, as the API server describes it.
//! - [`matching`]: which webhooks a request reaches (rules, matchPolicy, namespace and object
//!   selectors) and the admissionregistration kinds that never reach any.
//! - [`review`]: the AdmissionReview JSON sent and received, the checks on a webhook's answer,
//!   the `Status` of a refusal, and upstream's `Warning` header rules.
//! - `client` (private): HTTPS calls with per-configuration TLS and Go's error wording. One
//!   pooled hyper-util client per distinct client configuration (as upstream caches one REST
//!   client each), so connections to a webhook are reused; idle ones close after 90 seconds.
//! - [`dispatch`]: the [`Dispatcher`] running mutating webhooks in order (with reinvocation)
//!   and validating webhooks concurrently, and the [`WebhookHost`] trait for what only the API
//!   server knows (namespace labels, where a service lives).
//!
//! Limits: CEL `matchConditions` are not evaluated (treated as matching); matchPolicy
//! `Equivalent` treats every version of the same group and resource as equivalent and sends the
//! request's own version, since objects cannot be converted here; webhooks are called without
//! client credentials (upstream's admission kubeconfig is not supported).

pub mod attributes;
mod client;
pub mod config;
pub mod dispatch;
pub mod matching;
pub mod review;
mod url;

pub use attributes::{Attributes, GroupVersionKind, GroupVersionResource, Operation, UserInfo};
pub use config::{
    WebhookKind, default_configuration, validate_configuration, validate_configuration_update,
};
pub use dispatch::{Dispatcher, Effects, Reinvocation, WebhookHost};
pub use review::warning_headers;

//! What a request asks to do, in the terms authorizers decide on.

use crate::user::UserInfo;

/// A request as the authorizers see it: upstream's `authorizer.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Who is asking.
    pub user: UserInfo,
    /// The API verb (get, list, watch, create, update, patch, delete, deletecollection, or a
    /// special verb such as impersonate, bind, escalate), or the lower-case HTTP method for
    /// non-resource requests.
    pub verb: String,
    /// Whether this is a request for an API resource (as opposed to a path such as /healthz).
    pub resource_request: bool,
    /// The namespace of the object, empty for cluster-scoped requests.
    pub namespace: String,
    /// The API group, empty for the core group.
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The resource (plural, lower case).
    pub resource: String,
    /// The subresource, e.g. `status` or `log`.
    pub subresource: String,
    /// The object's name, empty for lists and creates.
    pub name: String,
    /// The request path, for non-resource requests.
    pub path: String,
    /// The equality requirements of a list or watch's field selector (`spec.nodeName=n1`).
    pub field_selector: Vec<(String, String)>,
}

impl Attributes {
    /// A resource request.
    pub fn resource(
        user: UserInfo,
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Attributes {
            user,
            verb: verb.to_string(),
            resource_request: true,
            namespace: namespace.to_string(),
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// A non-resource request such as `GET /healthz`.
    pub fn non_resource(user: UserInfo, verb: &str, path: &str) -> Self {
        Attributes {
            user,
            verb: verb.to_string(),
            path: path.to_string(),
            ..Default::default()
        }
    }

    /// The same request for a subresource.
    pub fn with_subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.to_string();
        self
    }

    /// The value the field selector requires `field` to equal, if it does.
    pub fn field_requires(&self, field: &str) -> Option<&str> {
        self.field_selector
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.as_str())
    }

    /// `resource/subresource`, or the resource alone: the form RBAC rules name.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// Why the request is refused, worded as upstream's `forbiddenMessage`:
    /// `User "x" cannot list resource "pods" in API group "" in the namespace "y"`.
    pub fn denial(&self) -> String {
        let user = &self.user.name;
        let verb = &self.verb;
        if !self.resource_request {
            return format!("User {user:?} cannot {verb} path {:?}", self.path);
        }
        let resource = self.combined_resource();
        let group = &self.api_group;
        if self.namespace.is_empty() {
            format!(
                "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} at the cluster scope"
            )
        } else {
            format!(
                "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} in the namespace {:?}",
                self.namespace
            )
        }
    }

    /// The message of the 403 Status upstream answers with, e.g.
    /// `pods "web" is forbidden: User "x" cannot get resource "pods" ...`, with the authorizer's
    /// reason appended when it gave one.
    pub fn forbidden_message(&self, reason: &str) -> String {
        let mut denial = self.denial();
        if !reason.is_empty() {
            denial.push_str(": ");
            denial.push_str(reason);
        }
        if !self.resource_request {
            return format!("forbidden: {denial}");
        }
        let qualified = if self.api_group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.api_group)
        };
        if self.name.is_empty() {
            format!("{qualified} is forbidden: {denial}")
        } else {
            format!("{qualified} {:?} is forbidden: {denial}", self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserInfo {
        UserInfo::new("alice", &[])
    }

    #[test]
    fn namespaced_denials_name_the_namespace() {
        let attrs = Attributes::resource(alice(), "list", "", "pods", "dev", "");
        assert_eq!(
            attrs.forbidden_message(""),
            r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "dev""#
        );
    }

    #[test]
    fn cluster_scoped_denials_say_cluster_scope_and_qualify_the_resource() {
        let attrs = Attributes::resource(
            alice(),
            "get",
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            "admin",
        );
        assert_eq!(
            attrs.forbidden_message(""),
            r#"clusterroles.rbac.authorization.k8s.io "admin" is forbidden: User "alice" cannot get resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope"#
        );
    }

    #[test]
    fn subresources_and_reasons_are_included() {
        let attrs =
            Attributes::resource(alice(), "get", "", "pods", "dev", "web").with_subresource("log");
        assert_eq!(
            attrs.forbidden_message(r#"RBAC: role.rbac.authorization.k8s.io "r" not found"#),
            r#"pods "web" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "dev": RBAC: role.rbac.authorization.k8s.io "r" not found"#
        );
    }

    #[test]
    fn non_resource_denials_name_the_path() {
        let attrs = Attributes::non_resource(alice(), "get", "/metrics");
        assert_eq!(
            attrs.forbidden_message(""),
            r#"forbidden: User "alice" cannot get path "/metrics""#
        );
    }
}

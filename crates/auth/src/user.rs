//! The identity behind a request, as authenticators report it.

use std::collections::BTreeMap;

/// The group every authenticated user belongs to.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// The group of requests that carried no credentials.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The user name given to requests that carried no credentials.
pub const ANONYMOUS: &str = "system:anonymous";
/// The group whose members may do anything, without consulting RBAC.
pub const SYSTEM_PRIVILEGED_GROUP: &str = "system:masters";
/// The group of every service account.
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// The group of every node (kubelet) identity.
pub const NODES_GROUP: &str = "system:nodes";

const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";
const NODE_PREFIX: &str = "system:node:";

/// Who is making a request: upstream's `user.Info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, unique among users.
    pub name: String,
    /// A stable identifier, when the authenticator knows one (service accounts do).
    pub uid: String,
    /// The groups the user belongs to.
    pub groups: Vec<String>,
    /// Additional authenticator-specific information (e.g. a bound token's pod).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name and groups, and no uid or extra.
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    /// The anonymous user, for requests without credentials.
    pub fn anonymous() -> Self {
        UserInfo::new(ANONYMOUS, &[ALL_UNAUTHENTICATED])
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Adds `system:authenticated` unless the user is anonymous or already has it, as upstream's
    /// authentication wrapper does for every successful authenticator.
    pub fn with_authenticated_group(mut self) -> Self {
        if self.name != ANONYMOUS && !self.in_group(ALL_AUTHENTICATED) {
            self.groups.push(ALL_AUTHENTICATED.to_string());
        }
        self
    }

    /// The namespace and name of the service account this user is, if it is one.
    pub fn service_account(&self) -> Option<(&str, &str)> {
        split_service_account_username(&self.name)
    }

    /// The node this user acts for, if it is a kubelet identity (`system:node:<name>` in
    /// `system:nodes`).
    pub fn node_name(&self) -> Option<&str> {
        if !self.in_group(NODES_GROUP) {
            return None;
        }
        self.name
            .strip_prefix(NODE_PREFIX)
            .filter(|n| !n.is_empty())
    }
}

/// The user name of a service account: `system:serviceaccount:<namespace>:<name>`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// The group of the service accounts of one namespace: `system:serviceaccounts:<namespace>`.
pub fn service_account_namespace_group(namespace: &str) -> String {
    format!("{ALL_SERVICE_ACCOUNTS}:{namespace}")
}

/// Splits a service account user name into namespace and name; `None` for any other name.
pub fn split_service_account_username(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (namespace, name) = rest.split_once(':')?;
    if namespace.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_names_round_trip() {
        let name = service_account_username("dev", "builder");
        assert_eq!(name, "system:serviceaccount:dev:builder");
        assert_eq!(
            split_service_account_username(&name),
            Some(("dev", "builder"))
        );
    }

    #[test]
    fn names_that_are_not_service_accounts_are_rejected() {
        for name in [
            "alice",
            "system:serviceaccount:",
            "system:serviceaccount:dev",
            "system:serviceaccount::x",
            "system:serviceaccount:dev:",
            "system:serviceaccount:a:b:c",
        ] {
            assert_eq!(split_service_account_username(name), None, "{name}");
        }
    }

    #[test]
    fn authenticated_group_is_added_once_and_never_to_anonymous() {
        let user = UserInfo::new("alice", &["dev"]).with_authenticated_group();
        assert_eq!(user.groups, ["dev", ALL_AUTHENTICATED]);
        assert_eq!(user.clone().with_authenticated_group(), user);
        let anon = UserInfo::anonymous().with_authenticated_group();
        assert!(!anon.in_group(ALL_AUTHENTICATED));
    }

    #[test]
    fn node_name_needs_the_nodes_group() {
        assert_eq!(
            UserInfo::new("system:node:n1", &[NODES_GROUP]).node_name(),
            Some("n1")
        );
        assert_eq!(UserInfo::new("system:node:n1", &[]).node_name(), None);
        assert_eq!(
            UserInfo::new("system:node:", &[NODES_GROUP]).node_name(),
            None
        );
    }
}

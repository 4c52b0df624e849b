//! The authorizer interface and the chain the API server consults.

use crate::attributes::Attributes;
use crate::user::SYSTEM_PRIVILEGED_GROUP;

/// An authorizer's answer: upstream's `authorizer.Decision` with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request is allowed; no later authorizer is asked.
    Allow,
    /// The request is refused outright; no later authorizer is asked.
    Deny(String),
    /// This authorizer has nothing to say; the next one is asked. The reason (possibly empty)
    /// explains it and ends up in the 403 message if nobody allows the request.
    NoOpinion(String),
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// The reason to report with a refusal.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow => "",
            Decision::Deny(reason) | Decision::NoOpinion(reason) => reason,
        }
    }
}

/// Decides whether a request may proceed.
pub trait Authorizer: Send + Sync {
    /// The decision for one request.
    fn authorize(&self, attributes: &Attributes) -> Decision;
}

/// Allows any member of `system:masters` (or other configured groups) without consulting
/// anything else, as upstream's first authorizer does; the cluster admin keeps working even when
/// RBAC objects are broken.
#[derive(Debug, Clone)]
pub struct PrivilegedGroups {
    groups: Vec<String>,
}

impl Default for PrivilegedGroups {
    fn default() -> Self {
        PrivilegedGroups {
            groups: vec![SYSTEM_PRIVILEGED_GROUP.to_string()],
        }
    }
}

impl Authorizer for PrivilegedGroups {
    fn authorize(&self, attributes: &Attributes) -> Decision {
        if self.groups.iter().any(|g| attributes.user.in_group(g)) {
            Decision::Allow
        } else {
            Decision::NoOpinion(String::new())
        }
    }
}

/// Asks each authorizer in order; the first Allow or Deny wins. When all have no opinion the
/// request is refused with their reasons joined, as upstream's union authorizer does.
#[derive(Default)]
pub struct AuthorizerChain {
    authorizers: Vec<Box<dyn Authorizer>>,
}

impl AuthorizerChain {
    /// An empty chain, which refuses everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an authorizer to the chain.
    pub fn with(mut self, authorizer: impl Authorizer + 'static) -> Self {
        self.authorizers.push(Box::new(authorizer));
        self
    }
}

impl Authorizer for AuthorizerChain {
    fn authorize(&self, attributes: &Attributes) -> Decision {
        let mut reasons = Vec::new();
        for authorizer in &self.authorizers {
            match authorizer.authorize(attributes) {
                Decision::NoOpinion(reason) => {
                    if !reason.is_empty() {
                        reasons.push(reason);
                    }
                }
                decided => return decided,
            }
        }
        Decision::NoOpinion(reasons.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::UserInfo;

    struct Fixed(Decision);
    impl Authorizer for Fixed {
        fn authorize(&self, _: &Attributes) -> Decision {
            self.0.clone()
        }
    }

    fn request(groups: &[&str]) -> Attributes {
        Attributes::resource(
            UserInfo::new("u", groups),
            "get",
            "",
            "pods",
            "default",
            "p",
        )
    }

    #[test]
    fn masters_are_allowed_and_others_fall_through() {
        let chain = AuthorizerChain::new().with(PrivilegedGroups::default());
        assert!(chain.authorize(&request(&["system:masters"])).allowed());
        assert_eq!(
            chain.authorize(&request(&["dev"])),
            Decision::NoOpinion(String::new())
        );
    }

    #[test]
    fn the_first_decision_wins_and_reasons_are_collected() {
        let chain = AuthorizerChain::new()
            .with(Fixed(Decision::NoOpinion("a".into())))
            .with(Fixed(Decision::NoOpinion("b".into())));
        assert_eq!(
            chain.authorize(&request(&[])),
            Decision::NoOpinion("a, b".into())
        );
        let chain = AuthorizerChain::new()
            .with(Fixed(Decision::Deny("no".into())))
            .with(Fixed(Decision::Allow));
        assert_eq!(chain.authorize(&request(&[])), Decision::Deny("no".into()));
    }

    #[test]
    fn an_empty_chain_refuses() {
        assert!(!AuthorizerChain::new().authorize(&request(&[])).allowed());
    }
}

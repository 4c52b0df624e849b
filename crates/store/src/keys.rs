//! Upstream's key layout and the store's prefix rule.
//!
//! Kubernetes keeps an object at `/registry/<resource>/<namespace>/<name>` (cluster-scoped
//! objects drop the namespace) and puts the API group in front of the resource for most
//! non-core groups, e.g. `/registry/deployments/default/web` (apps keeps upstream's historical
//! bare name) or `/registry/example.com/widgets/default/w1` for custom resources. The store
//! itself only sees strings; this module is where both sides agree on them.

/// The key of one object: `/registry/<resource-prefix>/<namespace>/<name>`, or without the
/// namespace for cluster-scoped objects. `resource_prefix` is the resource's storage prefix, such
/// as `pods` or `example.com/widgets`.
pub fn object_key(resource_prefix: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("/registry/{resource_prefix}/{ns}/{name}"),
        None => format!("/registry/{resource_prefix}/{name}"),
    }
}

/// The directory holding every object of a resource, optionally within one namespace.
pub fn collection_prefix(resource_prefix: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("/registry/{resource_prefix}/{ns}/"),
        None => format!("/registry/{resource_prefix}/"),
    }
}

/// Normalises a prefix to a directory: a prefix that does not end in `/` gets one, so `/a`
/// covers `/a/x` but never `/ab`.
pub fn dir_prefix(prefix: &str) -> String {
    if prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// The smallest key greater than every key starting with `prefix` (etcd's range end).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // An all-0xff prefix has no end: etcd spells "to the end of the keyspace" as a NUL byte.
    vec![0]
}

/// [`prefix_end`] as a string, valid when the prefix ends in an ASCII character (as every
/// directory prefix does, ending in `/`).
pub fn prefix_end_string(prefix: &str) -> String {
    String::from_utf8(prefix_end(prefix)).expect("directory prefixes end in ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_and_cluster_keys_follow_upstream_layout() {
        assert_eq!(
            object_key("pods", Some("default"), "web"),
            "/registry/pods/default/web"
        );
        assert_eq!(object_key("nodes", None, "n1"), "/registry/nodes/n1");
        assert_eq!(
            collection_prefix("pods", Some("kube-system")),
            "/registry/pods/kube-system/"
        );
        assert_eq!(
            collection_prefix("example.com/widgets", None),
            "/registry/example.com/widgets/"
        );
    }

    #[test]
    fn a_prefix_is_always_a_directory() {
        assert_eq!(dir_prefix("/a"), "/a/");
        assert_eq!(dir_prefix("/a/"), "/a/");
    }

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end_string("/a/"), "/a0");
        assert_eq!(prefix_end("\u{7f}"), vec![0x80]);
        assert_eq!(prefix_end(""), vec![0]);
    }
}

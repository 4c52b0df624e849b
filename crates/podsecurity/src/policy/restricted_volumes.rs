//! Restricted: volumes may only be of the core, non-host types (configMap, csi, downwardAPI,
//! emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret). Replaces the
//! baseline hostPath check at restricted.

use std::collections::BTreeSet;

use super::{Violation, join_quote, pluralize};
use crate::pod::{PodParts, array, field, name};

/// Volume sources allowed at restricted.
const ALLOWED: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Known restricted sources, in upstream's order of precedence; anything else is `unknown`.
const RESTRICTED: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

/// `restrictedVolumes` from v1.0.
pub(super) fn restricted_volumes_1_0(pod: &PodParts) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for volume in array(pod.spec, &["volumes"]) {
        if ALLOWED
            .iter()
            .any(|source| field(volume, &[source]).is_some())
        {
            continue;
        }
        bad.push(name(volume));
        let kind = RESTRICTED
            .iter()
            .find(|source| field(volume, &[source]).is_some())
            .copied()
            .unwrap_or("unknown");
        types.insert(kind);
    }
    if bad.is_empty() {
        return None;
    }
    let types: Vec<&str> = types.into_iter().collect();
    Violation::new(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn core_volume_types_are_allowed() {
        let volumes: Vec<_> = ALLOWED
            .iter()
            .map(|source| json!({"name": source, source.to_string(): {}}))
            .collect();
        assert_table(
            restricted_volumes_1_0,
            vec![("allowed", json!({"volumes": volumes}), None)],
        );
    }

    #[test]
    fn other_volume_types_are_named_with_their_sorted_types() {
        assert_table(
            restricted_volumes_1_0,
            vec![
                (
                    "one",
                    json!({"volumes": [{"name": "a", "hostPath": {"path": "/"}}]}),
                    Some((
                        "restricted volume types",
                        r#"volume "a" uses restricted volume type "hostPath""#,
                    )),
                ),
                (
                    "several",
                    json!({"volumes": [
                        {"name": "b", "nfs": {}},
                        {"name": "ok", "secret": {}},
                        {"name": "c", "hostPath": {}},
                        {"name": "d", "nfs": {}},
                        {"name": "e", "somethingNew": {}},
                        {"name": "f"},
                    ]}),
                    Some((
                        "restricted volume types",
                        r#"volumes "b", "c", "d", "e", "f" use restricted volume types "hostPath", "nfs", "unknown""#,
                    )),
                ),
                (
                    "each known type is named",
                    json!({"volumes": RESTRICTED.iter().map(|s| json!({"name": s, s.to_string(): {}})).collect::<Vec<_>>()}),
                    Some((
                        "restricted volume types",
                        r#"volumes "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi", "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos" use restricted volume types "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "hostPath", "iscsi", "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume""#,
                    )),
                ),
            ],
        );
    }
}

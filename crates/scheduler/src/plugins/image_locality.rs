//! ImageLocality: prefers nodes that already have the pod's container images, weighing each
//! image by its size and by how widely it is spread (to avoid piling pods onto the few nodes
//! that have an image).

use crate::framework::{
    CycleState, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, ScorePlugin, Snapshot, Status,
};

/// The plugin's name.
pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// The ImageLocality plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageLocality;

/// Appends the default `:latest` tag when an image reference has none (upstream's
/// `normalizedImageName`).
pub fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':').map_or(-1, |i| i as i64);
    let slash = name.rfind('/').map_or(-1, |i| i as i64);
    if colon <= slash {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

/// Maps the summed image scores to `0..=100` between 23MB and 1000MB per container (upstream's
/// `calculatePriority`).
pub fn calculate_priority(sum: i64, num_containers: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD * num_containers as i64;
    let sum = if sum < MIN_THRESHOLD {
        MIN_THRESHOLD
    } else {
        sum.min(max_threshold)
    };
    if max_threshold == MIN_THRESHOLD {
        return 0;
    }
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for ImageLocality {
    fn score(
        &self,
        _state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let Some(spec) = pod.pod().spec.as_ref() else {
            return Ok(0);
        };
        let total = snapshot.num_nodes().max(1) as f64;
        let init = spec.init_containers.as_deref().unwrap_or_default();
        let mut sum = 0i64;
        for c in init.iter().chain(spec.containers.iter()) {
            let Some(image) = c.image.as_deref() else {
                continue;
            };
            let name = normalized_image_name(image);
            if let Some(size) = node.image_size(&name) {
                let spread = snapshot.image_num_nodes(&name) as f64 / total;
                sum += (size as f64 * spread) as i64;
            }
        }
        Ok(calculate_priority(sum, init.len() + spec.containers.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, pod};

    #[test]
    fn image_names_get_the_latest_tag_when_untagged() {
        let cases = [
            ("nginx", "nginx:latest"),
            ("nginx:1.25", "nginx:1.25"),
            ("localhost:5000/nginx", "localhost:5000/nginx:latest"),
            ("registry.io/a/b:v1", "registry.io/a/b:v1"),
        ];
        for (input, want) in cases {
            assert_eq!(normalized_image_name(input), want);
        }
    }

    #[test]
    fn nodes_holding_large_widely_spread_images_score_higher() {
        let mut snap = Snapshot::new();
        snap.upsert_node(node("a").image(&["big:1"], 500 * MB).build());
        snap.upsert_node(node("b").image(&["big:1"], 500 * MB).build());
        snap.upsert_node(node("c").build());
        let p = pod("p").image("big:1").info();
        let st = CycleState::new();
        let score = |n: &str| {
            ImageLocality
                .score(&st, &p, snap.node_info(n).unwrap(), &snap)
                .unwrap()
        };
        // 500MB × 2/3 = 333.33MB → (333.33-23)/(1000-23)×100 = 31
        assert_eq!(score("a"), 31);
        assert_eq!(score("c"), 0);
    }
}

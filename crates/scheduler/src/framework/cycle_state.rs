//! Per-pod scheduling-cycle state (upstream's `CycleState`): data written by PreFilter/PreScore
//! and read by Filter/Score, plus the plugins to skip.

use std::any::Any;

/// Data a plugin keeps in the [`CycleState`]. Any `Clone + Send + Sync + 'static` type is state
/// data; cloning is what preemption's dry runs use to simulate removing pods.
pub trait StateData: Any + Send + Sync {
    /// A boxed copy of the data (upstream's `Clone`).
    fn clone_state(&self) -> Box<dyn StateData>;
    /// The data as `Any`, for downcasting.
    fn as_any(&self) -> &dyn Any;
    /// The data as mutable `Any`, for downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_state(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The state of one scheduling cycle. Keys are the plugins' state keys (upstream uses
/// `"PreFilter" + name` and the like); a handful of entries, so a vector beats a hash map.
#[derive(Default)]
pub struct CycleState {
    entries: Vec<(&'static str, Box<dyn StateData>)>,
    skip_filter: Vec<&'static str>,
    skip_score: Vec<&'static str>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            entries: self
                .entries
                .iter()
                .map(|(k, v)| (*k, (**v).clone_state()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
        }
    }
}

impl CycleState {
    /// An empty state.
    pub fn new() -> CycleState {
        CycleState::default()
    }

    /// Stores `data` under `key`, replacing what was there.
    pub fn write<T: StateData>(&mut self, key: &'static str, data: T) {
        if let Some(entry) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            entry.1 = Box::new(data);
        } else {
            self.entries.push((key, Box::new(data)));
        }
    }

    /// The data under `key`, if present and of type `T`.
    pub fn read<T: 'static>(&self, key: &'static str) -> Option<&T> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| (**v).as_any().downcast_ref::<T>())
    }

    /// The data under `key` for in-place updates (PreFilter extensions), if present.
    pub fn read_mut<T: 'static>(&mut self, key: &'static str) -> Option<&mut T> {
        self.entries
            .iter_mut()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| (**v).as_any_mut().downcast_mut::<T>())
    }

    /// Marks a plugin's Filter (and PreFilter extensions) as skipped for this cycle.
    pub fn skip_filter(&mut self, plugin: &'static str) {
        if !self.skip_filter.contains(&plugin) {
            self.skip_filter.push(plugin);
        }
    }

    /// Whether a plugin's Filter is skipped.
    pub fn is_filter_skipped(&self, plugin: &str) -> bool {
        self.skip_filter.contains(&plugin)
    }

    /// Marks a plugin's Score as skipped for this cycle.
    pub fn skip_score(&mut self, plugin: &'static str) {
        if !self.skip_score.contains(&plugin) {
            self.skip_score.push(plugin);
        }
    }

    /// Whether a plugin's Score is skipped.
    pub fn is_score_skipped(&self, plugin: &str) -> bool {
        self.skip_score.contains(&plugin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Counter(i64);

    #[test]
    fn written_data_reads_back_by_key_and_type() {
        let mut s = CycleState::new();
        s.write("PreFilterX", Counter(3));
        assert_eq!(s.read::<Counter>("PreFilterX"), Some(&Counter(3)));
        assert_eq!(s.read::<String>("PreFilterX"), None);
        assert_eq!(s.read::<Counter>("PreFilterY"), None);
    }

    #[test]
    fn clones_are_independent() {
        let mut s = CycleState::new();
        s.write("k", Counter(1));
        let mut c = s.clone();
        c.read_mut::<Counter>("k").unwrap().0 = 5;
        assert_eq!(s.read::<Counter>("k"), Some(&Counter(1)));
        assert_eq!(c.read::<Counter>("k"), Some(&Counter(5)));
    }
}

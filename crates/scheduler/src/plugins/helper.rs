//! Helpers shared by plugins (upstream's `plugins/helper`).

use crate::framework::MAX_NODE_SCORE;

/// Scales scores to `0..=max_priority` relative to the highest one, optionally reversed
/// (upstream's `DefaultNormalizeScore`). With all scores zero, reversed scores become the
/// maximum and plain ones stay zero.
pub fn default_normalize_score(max_priority: i64, reverse: bool, scores: &mut [i64]) {
    let max = scores.iter().copied().max().unwrap_or(0).max(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = max_priority);
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = max_priority * *s / max;
        if reverse {
            v = max_priority - v;
        }
        *s = v;
    }
}

/// [`default_normalize_score`] with the framework's maximum score.
pub fn normalize(reverse: bool, scores: &mut [i64]) {
    default_normalize_score(MAX_NODE_SCORE, reverse, scores);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_scale_relative_to_the_highest() {
        let cases: [(&[i64], bool, &[i64]); 4] = [
            (&[1, 2, 4], false, &[25, 50, 100]),
            (&[1, 2, 4], true, &[75, 50, 0]),
            (&[0, 0], false, &[0, 0]),
            (&[0, 0], true, &[100, 100]),
        ];
        for (input, reverse, want) in cases {
            let mut s = input.to_vec();
            default_normalize_score(100, reverse, &mut s);
            assert_eq!(s, want, "{input:?} reverse={reverse}");
        }
    }
}

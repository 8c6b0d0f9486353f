//! The state-family sample lines of one subscription, rendered once per
//! published snapshot (kube-state-metrics' approach: the text of a series is
//! made when its data changes, and a scrape concatenates).
//!
//! A [`Published`] snapshot is immutable, so everything its state-family
//! samples say (labels and counts) is fixed when it is published. The first
//! scrape that sees a snapshot sorts its series by label values and renders
//! their lines ([`SeriesLines::build`]); the subscription keeps the result
//! next to the snapshot (`SubscriptionState::series_lines`), and every later
//! scrape of the same snapshot copies the lines in one `push_str`. An idle
//! exporter thus sorts and escapes nothing per scrape. The work is done at
//! the first scrape rather than inside `publish`, so a subscription that
//! publishes after every frame pays nothing for snapshots no scrape sees.
//!
//! The lines are written by the same [`write_sample`] as every other sample,
//! and sample lines are the same in both formats, so one rendering serves
//! text 0.0.4 and OpenMetrics alike.

use std::sync::Arc;

use smc_fold::{LabelValues, Published};

use super::exposition::{Value, write_sample};
use crate::labels::StateFamily;
use crate::state::SubscriptionState;

/// The rendered state-family samples of one snapshot of one subscription.
#[derive(Debug)]
pub struct SeriesLines {
    /// The snapshot the lines were rendered from.
    source: Arc<Published>,
    /// `smc`, the target label and its value, and the group label names.
    smc: Arc<str>,
    target_label: &'static str,
    target: Arc<str>,
    group_labels: Arc<[&'static str]>,
    /// The sample lines, sorted by label values.
    text: String,
}

impl SeriesLines {
    /// Sort the series of `source` and render their lines.
    pub fn build(sub: &SubscriptionState, source: Arc<Published>) -> Self {
        let mut lines = SeriesLines {
            source,
            smc: sub.smc.clone(),
            target_label: sub.definition.target_label(),
            target: sub.target.clone(),
            group_labels: sub.group_labels.clone(),
            text: String::new(),
        };
        let name = sub.definition.family();
        let text = {
            let groups = lines.sorted();
            // About the length of a connections line with short names.
            let mut text = String::with_capacity(groups.len() * 96);
            lines.for_each_in(&groups, |labels, value| {
                write_sample(&mut text, name, labels, value);
            });
            // Kept until the next snapshot is scraped: no slack.
            text.shrink_to_fit();
            text
        };
        lines.text = text;
        lines
    }

    /// The snapshot these lines were rendered from.
    pub fn source(&self) -> &Arc<Published> {
        &self.source
    }

    /// The sample lines, each ending in a newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Call `f` with the labels and value of each sample, in line order
    /// (sorts again: for sinks that need the labels, such as tests).
    pub fn for_each_sample(&self, f: impl FnMut(&[(&str, &str)], Value)) {
        self.for_each_in(&self.sorted(), f);
    }

    /// Series with one value per group label (a snapshot of a table with
    /// other labels is skipped), sorted by their label values.
    fn sorted(&self) -> Vec<&(LabelValues, u64)> {
        let arity = self.group_labels.len();
        let mut groups: Vec<_> = self
            .source
            .groups
            .iter()
            .filter(|(values, _)| values.len() == arity)
            .collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        groups
    }

    fn for_each_in(
        &self,
        groups: &[&(LabelValues, u64)],
        mut f: impl FnMut(&[(&str, &str)], Value),
    ) {
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(2 + self.group_labels.len());
        for (values, count) in groups {
            labels.clear();
            labels.push(("smc", &self.smc));
            labels.push((self.target_label, &self.target));
            labels.extend(
                self.group_labels
                    .iter()
                    .copied()
                    .zip(values.iter().map(|v| &**v)),
            );
            f(&labels, Value::Int(*count));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smc_protocol::Definition;

    fn published(groups: &[(&[&str], u64)]) -> Published {
        Published {
            groups: groups
                .iter()
                .map(|(v, n)| (v.iter().map(|s| Arc::from(*s)).collect(), *n))
                .collect(),
            entries: 9,
        }
    }

    fn sub() -> SubscriptionState {
        SubscriptionState::new(
            "smc-a".into(),
            "fw \"1\"".into(),
            Definition::Connections,
            vec!["node", "protocol"].into(),
        )
    }

    #[test]
    fn lines_are_sorted_escaped_and_skip_other_arities() {
        let s = sub();
        s.publish(published(&[
            (&["n2", "TCP"], 5),
            (&["n1", "UDP\nx"], 7),
            (&["n1"], 4),
            (&["n1", "TCP"], 1),
        ]));
        assert_eq!(
            s.series_lines().text(),
            "smc_connections{smc=\"smc-a\",engine=\"fw \\\"1\\\"\",node=\"n1\",protocol=\"TCP\"} 1\n\
             smc_connections{smc=\"smc-a\",engine=\"fw \\\"1\\\"\",node=\"n1\",protocol=\"UDP\\nx\"} 7\n\
             smc_connections{smc=\"smc-a\",engine=\"fw \\\"1\\\"\",node=\"n2\",protocol=\"TCP\"} 5\n"
        );
    }

    #[test]
    fn a_snapshot_is_rendered_once_and_a_new_one_again() {
        let s = sub();
        s.publish(published(&[(&["n1", "TCP"], 1)]));
        let first = s.series_lines();
        assert!(Arc::ptr_eq(&first, &s.series_lines()), "rendered twice");
        assert!(Arc::ptr_eq(first.source(), &s.published()));
        // Same series, new count: a new snapshot, so new lines.
        s.publish(published(&[(&["n1", "TCP"], 2)]));
        let second = s.series_lines();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(
            second.text(),
            "smc_connections{smc=\"smc-a\",engine=\"fw \\\"1\\\"\",node=\"n1\",protocol=\"TCP\"} 2\n"
        );
        assert!(Arc::ptr_eq(&second, &s.series_lines()));
        // The old lines still say what their own snapshot said.
        assert!(first.text().ends_with("} 1\n"));
    }

    #[test]
    fn the_replayed_samples_are_the_rendered_lines() {
        let s = sub();
        s.publish(published(&[
            (&["b", "x"], 3),
            (&["a\\", "y"], 8),
            (&["a", "z"], 1),
        ]));
        let lines = s.series_lines();
        let mut replayed = String::new();
        let mut seen = Vec::new();
        lines.for_each_sample(|labels, value| {
            write_sample(&mut replayed, "smc_connections", labels, value);
            seen.push((labels[2].1.to_owned(), value));
        });
        assert_eq!(replayed, lines.text());
        let order: Vec<(&str, Value)> = seen.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert_eq!(
            order,
            [
                ("a", Value::Int(1)),
                ("a\\", Value::Int(8)),
                ("b", Value::Int(3))
            ]
        );
    }

    #[test]
    fn an_empty_snapshot_has_no_lines() {
        let s = sub();
        assert_eq!(s.series_lines().text(), "");
    }
}

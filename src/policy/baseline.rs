//! Approved baselines: a target's config recorded as approved at a moment, and how an
//! `equals_baseline` rule compares an observation with the one in force.
//!
//! The comparison is top-level field by top-level field, on normalized JSON, so value equality
//! is the comparison: a list in another order or an image with another digest differs. A field
//! present on one side only differs (`null` counts as absent). Status fields (`LastScanTime`,
//! `ScanResult`) never count: they describe the last scan, not the configuration.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::ops::TimeCtx;
use crate::task::fields;

/// The op word of a rule that compares the config with its approved baseline.
pub(crate) const OP: &str = "equals_baseline";

/// A config recorded as approved for a target at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The journal entry that approved it: of two dated at or before a moment, the greater is in
    /// force (see [`crate::task::in_force`]).
    pub entry: i64,
    /// When it was approved: it is in force from then until a newer one is approved.
    pub approved_at: DateTime<Utc>,
    /// The snapshot whose config was approved, when the approval came from one.
    pub snapshot: Option<i64>,
    /// The identity of `config`, as the store computed it (lower-case hex SHA-256).
    pub config_hash: String,
    /// The approved config, normalized, without status fields.
    pub config: Map<String, Value>,
}

impl Baseline {
    /// The baseline in force at `now` among `baselines`, by the one rule of
    /// [`crate::task::in_force`]: the greatest entry approved at or before `now`; `None` when
    /// none was approved by then.
    pub fn in_force(baselines: &[Baseline], now: DateTime<Utc>) -> Option<&Baseline> {
        crate::task::in_force::in_force(baselines, |b| (b.entry, b.approved_at), now)
    }

    /// The first 12 hex digits of the config hash, as findings show it.
    pub fn short_hash(&self) -> &str {
        let end = self.config_hash.floor_char_boundary(12);
        &self.config_hash[..end]
    }

    /// The top-level config fields of `view` (a config with its status fields) that differ from
    /// this baseline, in sorted order, leaving out the fields in `ignore` and the status fields.
    pub fn differing_fields(&self, view: &Map<String, Value>, ignore: &[String]) -> Vec<String> {
        let compared = |k: &&String| !fields::is_status(k) && !ignore.contains(k);
        let names: BTreeSet<&String> = view
            .keys()
            .chain(self.config.keys())
            .filter(compared)
            .collect();
        names
            .into_iter()
            .filter(|k| present(view, k) != present(&self.config, k))
            .cloned()
            .collect()
    }

    /// The baseline in words, for findings: when it was approved (in the zone findings show times
    /// in), from which snapshot when known, and its config hash:
    /// `the baseline approved at 2026-10-01T03:00:00+00:00 (snapshot 7, config hash 0123456789ab)`.
    pub(crate) fn describe(&self, t: &TimeCtx) -> String {
        let snapshot = self
            .snapshot
            .map_or_else(String::new, |s| format!("snapshot {s}, "));
        format!(
            "the baseline approved at {} ({snapshot}config hash {})",
            t.show(self.approved_at),
            self.short_hash()
        )
    }
}

/// The value of `key` in `map`, `null` counting as absent.
fn present<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key).filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::at;
    use serde_json::json;

    fn approved(when: &str, snapshot: i64, config: Value) -> Baseline {
        Baseline {
            entry: snapshot,
            approved_at: at(when),
            snapshot: Some(snapshot),
            config_hash: format!("{snapshot:0>64}"),
            config: config.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn the_baseline_in_force_is_the_newest_approved_at_or_before_now() {
        let list = [
            approved("2026-10-01T00:00:00Z", 1, json!({})),
            approved("2026-10-10T00:00:00Z", 2, json!({})),
            approved("2026-10-10T00:00:00Z", 3, json!({})),
        ];
        let snap = |now: &str| Baseline::in_force(&list, at(now)).and_then(|b| b.snapshot);
        assert_eq!(snap("2026-09-30T23:59:59Z"), None);
        assert_eq!(snap("2026-10-01T00:00:00Z"), Some(1));
        assert_eq!(snap("2026-10-09T23:59:59Z"), Some(1));
        // Two approved at the same moment: the later entry.
        assert_eq!(snap("2026-10-10T00:00:00Z"), Some(3));
        assert_eq!(snap("2027-01-01T00:00:00Z"), Some(3));
        assert_eq!(Baseline::in_force(&[], at("2027-01-01T00:00:00Z")), None);
    }

    #[test]
    fn differing_fields_are_sorted_and_count_either_side_but_never_status() {
        let b = approved(
            "2026-10-01T00:00:00Z",
            1,
            json!({"Enable": true, "ScanPeriod": 1, "Latest": false, "ScanResult": "Success",
                   "ScanTime": "03:00:00", "Namespace": null}),
        );
        let view = json!({"Enable": true, "ScanPeriod": 7, "ExcludeImageAssetIds": [4],
                          "ScanTime": "04:00:00", "ScanResult": "InternalError",
                          "LastScanTime": "2026-10-01 03:00:00"});
        let view = view.as_object().unwrap();
        assert_eq!(
            b.differing_fields(view, &[]),
            ["ExcludeImageAssetIds", "Latest", "ScanPeriod", "ScanTime"]
        );
        assert_eq!(
            b.differing_fields(view, &["ScanTime".into(), "Latest".into()]),
            ["ExcludeImageAssetIds", "ScanPeriod"]
        );
        let same = json!({"Enable": true, "ScanPeriod": 1, "Latest": false,
                          "ScanTime": "03:00:00"});
        assert!(
            b.differing_fields(same.as_object().unwrap(), &[])
                .is_empty()
        );
        assert_eq!(b.short_hash(), "000000000000");
    }
}

//! Which approval is in force at a moment: the one rule that `baseline show`, `restore`,
//! `check`, reports and `diff --from baseline` all share.
//!
//! The approval in force at a moment M is the one with the greatest journal id whose time is at
//! or before M. The id, not the time, orders approvals: the journal's order is what the chain
//! proves, while a time is only what the clock said, so an approval recorded later wins even
//! when its time is earlier than another's.

use chrono::{DateTime, Utc};

/// Of `approvals` (in any order), the one in force at `at`: the greatest id among those whose
/// time is at or before `at`; `None` when none was approved by then. `key` gives an approval's
/// journal id and time.
pub fn in_force<T>(
    approvals: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> (i64, DateTime<Utc>),
    at: DateTime<Utc>,
) -> Option<T> {
    approvals
        .into_iter()
        .filter(|a| key(a).1 <= at)
        .max_by_key(|a| key(a).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_greatest_id_at_or_before_the_moment_is_in_force() {
        // Entry 3 was recorded after entry 2 but dated before it (a backdated approval).
        let list = [
            (1, t("2026-10-01T00:00:00Z")),
            (2, t("2026-10-10T00:00:00Z")),
            (3, t("2026-10-05T00:00:00Z")),
        ];
        let at = |m: &str| in_force(list.iter(), |a| **a, t(m)).map(|a| a.0);
        assert_eq!(at("2026-09-30T23:59:59Z"), None);
        assert_eq!(at("2026-10-01T00:00:00Z"), Some(1));
        assert_eq!(at("2026-10-04T23:59:59Z"), Some(1));
        assert_eq!(at("2026-10-05T00:00:00Z"), Some(3));
        // Entry 2 is dated at or before M too, but 3 was approved after it.
        assert_eq!(at("2026-10-10T00:00:00Z"), Some(3));
        assert_eq!(
            in_force(
                Vec::<(i64, DateTime<Utc>)>::new(),
                |a| *a,
                t("2030-01-01T00:00:00Z")
            ),
            None
        );
    }

    #[test]
    fn the_order_given_does_not_matter() {
        let list = [
            (2, t("2026-10-02T00:00:00Z")),
            (1, t("2026-10-01T00:00:00Z")),
        ];
        assert_eq!(
            in_force(list.iter(), |a| **a, t("2026-10-03T00:00:00Z")).map(|a| a.0),
            Some(2)
        );
    }
}

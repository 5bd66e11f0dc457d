//! When a journal entry may be dated: not before the entry before it, nor before the newest
//! snapshot recorded before it, nor after the first snapshot that links it, each with 300 s of
//! tolerance (TC3's clock rule, so clocks that TC3 accepts pass). Without it, an approval dated
//! years ahead would come into force by itself one day, and one dated back would rewrite which
//! baseline was in force for past reports.

use chrono::{DateTime, Duration, Utc};

use super::when::fmt_utc;

/// How far an entry's time may stray past what bounds it.
pub const TOLERANCE: Duration = Duration::seconds(300);

/// What bounds an entry's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The journal entry before it (its id): an entry is not dated before it.
    EntryBefore(i64),
    /// The newest snapshot recorded before the entry (its id): the entry is not dated before
    /// its `recorded_at`.
    SnapshotBefore(i64),
    /// The first snapshot that links the entry (its id): the entry is not dated after its
    /// `recorded_at`.
    FirstLinking(i64),
}

/// The times around one entry, each with what it is; `None`: there is none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Around {
    pub entry_before: Option<(i64, DateTime<Utc>)>,
    pub snapshot_before: Option<(i64, DateTime<Utc>)>,
    pub first_linking: Option<(i64, DateTime<Utc>)>,
}

/// An entry's time that breaks the rule: the time, and the bound it breaks with its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfOrder {
    pub at: DateTime<Utc>,
    pub bound: Bound,
    pub bound_at: DateTime<Utc>,
}

impl std::fmt::Display for OutOfOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, side) = match self.bound {
            Bound::EntryBefore(id) => (format!("journal entry {id}"), "before"),
            Bound::SnapshotBefore(id) => (format!("snapshot {id} (recorded before it)"), "before"),
            Bound::FirstLinking(id) => {
                (format!("snapshot {id} (the first that links it)"), "after")
            }
        };
        write!(
            f,
            "its time {} is {side} the time of {what}, {}, by more than {} s",
            fmt_utc(self.at),
            fmt_utc(self.bound_at),
            TOLERANCE.num_seconds()
        )
    }
}

/// Checks an entry dated `at` against the times `around` it (rule in the module's comment);
/// gives the first bound it breaks, in the order entry before, snapshot before, first linking.
pub fn check(at: DateTime<Utc>, around: &Around) -> Result<(), OutOfOrder> {
    let lower = [
        around
            .entry_before
            .map(|(id, t)| (Bound::EntryBefore(id), t)),
        around
            .snapshot_before
            .map(|(id, t)| (Bound::SnapshotBefore(id), t)),
    ];
    if let Some((bound, bound_at)) = lower
        .into_iter()
        .flatten()
        .find(|(_, t)| at < *t - TOLERANCE)
    {
        return Err(OutOfOrder {
            at,
            bound,
            bound_at,
        });
    }
    match around.first_linking {
        Some((id, t)) if at > t + TOLERANCE => Err(OutOfOrder {
            at,
            bound: Bound::FirstLinking(id),
            bound_at: t,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn around() -> Around {
        Around {
            entry_before: Some((4, t("2026-10-01T10:00:00Z"))),
            snapshot_before: Some((7, t("2026-10-01T11:00:00Z"))),
            first_linking: Some((8, t("2026-10-02T03:00:00Z"))),
        }
    }

    #[test]
    fn a_time_between_its_bounds_holds_with_300_s_either_side() {
        for ok in [
            "2026-10-01T12:00:00Z",
            "2026-10-01T10:55:00Z",
            "2026-10-02T03:05:00Z",
        ] {
            assert_eq!(check(t(ok), &around()), Ok(()), "{ok}");
        }
        assert_eq!(check(t("1970-01-01T00:00:00Z"), &Around::default()), Ok(()));
    }

    #[test]
    fn a_backdated_entry_breaks_the_nearest_lower_bound() {
        let e = check(t("2026-10-01T10:54:59Z"), &around()).unwrap_err();
        assert_eq!(e.bound, Bound::SnapshotBefore(7));
        let e = check(t("2026-10-01T09:54:59Z"), &around()).unwrap_err();
        assert_eq!(e.bound, Bound::EntryBefore(4));
        assert!(
            e.to_string()
                .contains("journal entry 4, 2026-10-01T10:00:00"),
            "{e}"
        );
    }

    #[test]
    fn a_future_dated_entry_breaks_the_first_snapshot_that_links_it() {
        let e = check(t("2029-01-01T00:00:00Z"), &around()).unwrap_err();
        assert_eq!(e.bound, Bound::FirstLinking(8));
        assert!(
            e.to_string().contains("after the time of snapshot 8"),
            "{e}"
        );
        // Not linked yet: nothing bounds it above.
        let open = Around {
            first_linking: None,
            ..around()
        };
        assert_eq!(check(t("2029-01-01T00:00:00Z"), &open), Ok(()));
    }
}

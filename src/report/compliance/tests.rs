//! The report's days and shares, from plain inputs.

use chrono_tz::Tz;

use super::markdown::share;
use super::*;
use crate::task::when::parse_zone;
use crate::test_support::{at, date};

fn shanghai() -> Tz {
    parse_zone("Asia/Shanghai").unwrap()
}

#[test]
fn days_are_calendar_days_of_the_zone() {
    // The nightly job at 03:00 in Shanghai runs at 19:00 UTC the day before.
    assert_eq!(
        day_of(at("2026-11-04T19:00:00Z"), shanghai()),
        date("2026-11-05")
    );
    assert_eq!(
        day_of(at("2026-11-04T19:00:00Z"), Tz::UTC),
        date("2026-11-04")
    );
    assert_eq!(
        day_of(at("2026-11-04T15:59:59Z"), shanghai()),
        date("2026-11-04")
    );
    let since = at("2026-11-01T00:00:00+08:00");
    let until = at("2026-11-03T23:59:59+08:00");
    assert_eq!(
        window_days(since, until, shanghai()),
        [date("2026-11-01"), date("2026-11-02"), date("2026-11-03")]
    );
    // The same instants touch four UTC days: 31 October from 16:00 on.
    assert_eq!(window_days(since, until, Tz::UTC).len(), 4);
    assert_eq!(window_days(since, since, Tz::UTC), [date("2026-10-31")]);
}

#[test]
fn shares_round_half_up() {
    assert_eq!(share(8, 21), "8/21 (38%)");
    assert_eq!(share(1, 2), "1/2 (50%)");
    assert_eq!(share(2, 3), "2/3 (67%)");
    assert_eq!(share(0, 0), "0/0");
}

//! WHEN: naming a moment (`latest`, a snapshot id, a date, an RFC 3339 time, an age) and showing one.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed WHEN, before it is matched against a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The newest snapshot.
    Latest,
    /// A snapshot by its id.
    Snapshot(i64),
    /// A calendar day in the display zone; as a point it is the end of that day.
    Day(NaiveDate),
    /// An exact instant (an RFC 3339 time, or now less an age).
    Instant(DateTime<Utc>),
}

/// A WHEN that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a moment: {reason}; use `latest`, a snapshot id (42), a date (2026-11-28), an RFC 3339 time (2026-11-28T03:00:00+08:00) or an age (7d, 36h)"
)]
pub struct WhenError {
    pub text: String,
    pub reason: String,
}

fn err(text: &str, reason: impl Into<String>) -> WhenError {
    WhenError {
        text: text.to_string(),
        reason: reason.into(),
    }
}

/// The longest age accepted, so that `now - age` cannot overflow.
const MAX_AGE_DAYS: i64 = 365 * 1000;

impl When {
    pub fn parse(text: &str, now: DateTime<Utc>) -> Result<When, WhenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(err(text, "it is empty"));
        }
        if t.len() > 64 {
            return Err(err(&text[..text.floor_char_boundary(64)], "it is too long"));
        }
        if t.eq_ignore_ascii_case("latest") {
            return Ok(When::Latest);
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse::<i64>()
                .map(When::Snapshot)
                .map_err(|_| err(text, "the snapshot id is too large"));
        }
        if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(When::Day(day));
        }
        if let Ok(at) = DateTime::parse_from_rfc3339(t) {
            return Ok(When::Instant(at.with_timezone(&Utc)));
        }
        if t.starts_with(|c: char| c.is_ascii_digit())
            && t.ends_with(|c: char| c.is_ascii_alphabetic())
        {
            let age =
                humantime::parse_duration(t).map_err(|e| err(text, format!("bad age: {e}")))?;
            let age = Duration::from_std(age)
                .ok()
                .filter(|d| *d <= Duration::days(MAX_AGE_DAYS))
                .ok_or_else(|| err(text, "the age is too large"))?;
            return Ok(When::Instant(now - age));
        }
        // `get`, not indexing: byte 10 may fall inside a multi-byte character.
        if t.get(..10)
            .is_some_and(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok())
        {
            return Err(err(
                text,
                "a time needs an offset, as in 2026-11-28T03:00:00Z",
            ));
        }
        Err(err(text, "not a form this tool knows"))
    }

    /// The instant this WHEN names when it stands for a point or an upper bound: a day means its end.
    /// `None` for `latest` and snapshot ids, which the history resolves.
    pub fn upper_instant(&self, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            When::Latest | When::Snapshot(_) => None,
            When::Day(day) => {
                Some(start_of_day(day.succ_opt().unwrap_or(*day), tz) - Duration::milliseconds(1))
            }
            When::Instant(at) => Some(*at),
        }
    }

    /// The instant this WHEN names as a lower bound (`--since`): a day means its start.
    pub fn lower_instant(&self, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            When::Latest | When::Snapshot(_) => None,
            When::Day(day) => Some(start_of_day(*day, tz)),
            When::Instant(at) => Some(*at),
        }
    }
}

/// Midnight at the start of `day` in `tz`, in UTC (the earliest valid time where a zone skips midnight).
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut t = NaiveDateTime::new(day, NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(at) = tz.from_local_datetime(&t).earliest() {
            return at.with_timezone(&Utc);
        }
        t += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&NaiveDateTime::new(day, NaiveTime::MIN))
}

/// Parses a time for `--at`: an RFC 3339 time, a date (its start in `tz`), or an age.
pub fn parse_instant(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, WhenError> {
    match When::parse(text, now)? {
        When::Latest | When::Snapshot(_) => Err(err(text, "a time is needed here, not a snapshot")),
        w => Ok(w
            .lower_instant(tz)
            .expect("days and instants have an instant")),
    }
}

/// Parses an IANA zone name (`Asia/Shanghai`, `UTC`).
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("{name:?} is not an IANA time zone (for example UTC or Asia/Shanghai)")
    })
}

/// An instant as people read it: in `tz`, to the second, with its offset.
pub fn fmt_time(at: DateTime<Utc>, tz: Tz) -> String {
    // RFC 3339 to the second with a numeric offset (`%Y-%m-%dT%H:%M:%S%:z`), without parsing
    // a format string each time: a fleet's log writes one a change.
    at.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// An instant as JSON documents carry it: UTC, to the second, `Z`. One shape everywhere.
pub fn fmt_utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An instant exactly, for a backup that must give it back: UTC, with its fraction when it has
/// one (the history keeps milliseconds).
pub fn fmt_utc_exact(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn every_form_parses() {
        assert_eq!(When::parse("latest", now()).unwrap(), When::Latest);
        assert_eq!(When::parse("42", now()).unwrap(), When::Snapshot(42));
        assert_eq!(
            When::parse("2026-11-01", now()).unwrap(),
            When::Day(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap())
        );
        assert_eq!(
            When::parse("7d", now()).unwrap(),
            When::Instant(now() - Duration::days(7))
        );
        assert_eq!(
            When::parse("36h", now()).unwrap(),
            When::Instant(now() - Duration::hours(36))
        );
        assert_eq!(
            When::parse("2026-11-28T03:00:00+08:00", now()).unwrap(),
            When::Instant(
                DateTime::parse_from_rfc3339("2026-11-27T19:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
    }

    #[test]
    fn a_day_ends_at_midnight_of_its_zone() {
        let day = When::parse("2026-11-01", now()).unwrap();
        let utc_end = day.upper_instant(Tz::UTC).unwrap();
        assert_eq!(fmt_utc_exact(utc_end), "2026-11-01T23:59:59.999Z");
        let sh = parse_zone("Asia/Shanghai").unwrap();
        let sh_end = day.upper_instant(sh).unwrap();
        assert_eq!(fmt_utc_exact(sh_end), "2026-11-01T15:59:59.999Z");
        assert_eq!(
            fmt_utc(day.lower_instant(sh).unwrap()),
            "2026-10-31T16:00:00Z"
        );
    }

    #[test]
    fn bad_moments_say_why() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-28T03:00:00",
            "-3d",
            "99999999999999999999999",
            "5x",
        ] {
            let e = When::parse(bad, now()).unwrap_err();
            assert!(e.to_string().contains("latest"), "{bad}: {e}");
        }
        let e = When::parse("2026-11-28T03:00:00", now()).unwrap_err();
        assert!(e.reason.contains("offset"), "{e}");
    }

    #[test]
    fn a_multibyte_character_across_byte_ten_is_an_error_not_a_panic() {
        // Found by fuzzing: the offset check sliced the text at byte 10.
        for text in ["\0\0k1ye\x02\x02\x02\u{2df}", "123456789é", "2026-11-2€x"] {
            let e = When::parse(text, now()).unwrap_err();
            assert!(e.to_string().contains("RFC 3339"), "{text}: {e}");
        }
    }

    #[test]
    fn times_show_with_their_offset() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T19:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            fmt_time(at, parse_zone("Asia/Shanghai").unwrap()),
            "2026-11-28T03:00:00+08:00"
        );
        assert_eq!(fmt_time(at, Tz::UTC), "2026-11-27T19:00:00+00:00");
        assert!(parse_zone("Mars/Olympus").is_err());
    }
}

//! Fuzzes the WHEN parser and the instants a WHEN stands for.
//!
//! Input: one byte picks the display zone, eight bytes pick `now` (somewhere in 1970-2199), the
//! rest is the WHEN text. Asserts: `When::parse` and `parse_instant` never panic; every error names
//! the accepted forms; an accepted age lies between now and 1000 years before it; a day's start
//! comes before its end; `parse_instant` agrees with `When::parse`.

#![no_main]

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use tcss_audit::task::when::{When, parse_instant};

/// Zones with odd offsets, a skipped day (Apia, 2011) and midnights that do not exist (Sao Paulo).
const ZONES: [Tz; 8] = [
    Tz::UTC,
    Tz::Asia__Shanghai,
    Tz::America__St_Johns,
    Tz::Pacific__Kiritimati,
    Tz::Pacific__Apia,
    Tz::America__Sao_Paulo,
    Tz::Asia__Kathmandu,
    Tz::Etc__GMTPlus12,
];

const FORMS: [&str; 5] = ["latest", "snapshot id", "date", "RFC 3339", "age"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let tz = ZONES[usize::from(data[0]) % ZONES.len()];
    let secs = u64::from_le_bytes(data[1..9].try_into().unwrap()) % (230 * 365 * 86_400);
    let now = DateTime::<Utc>::from_timestamp(secs as i64, 0).unwrap();
    let Ok(text) = std::str::from_utf8(&data[9..]) else {
        return;
    };

    let parsed = When::parse(text, now);
    let instant = parse_instant(text, now, tz);
    match parsed {
        Err(e) => {
            let message = e.to_string();
            for form in FORMS {
                assert!(
                    message.contains(form),
                    "{message:?} does not mention {form}"
                );
            }
            assert!(instant.is_err());
        }
        Ok(when) => {
            let t = text.trim();
            let is_rfc3339 = DateTime::parse_from_rfc3339(t).is_ok();
            if let When::Instant(at) = when
                && !is_rfc3339
            {
                assert!(at <= now, "an age lies in the future: {text:?}");
                assert!(
                    now - at <= Duration::days(365 * 1000),
                    "an age beyond the cap: {text:?}"
                );
            }
            let (lower, upper) = (when.lower_instant(tz), when.upper_instant(tz));
            match when {
                When::Latest | When::Snapshot(_) => {
                    assert!(lower.is_none() && upper.is_none());
                    assert!(instant.is_err());
                }
                When::Day(_) => {
                    let (lower, upper) = (lower.unwrap(), upper.unwrap());
                    assert!(
                        lower <= upper,
                        "{text:?} in {tz}: starts {lower} after it ends {upper}"
                    );
                    assert_eq!(instant.ok(), Some(lower));
                }
                When::Instant(at) => {
                    assert_eq!((lower, upper), (Some(at), Some(at)));
                    assert_eq!(instant.ok(), Some(at));
                }
            }
        }
    }
});

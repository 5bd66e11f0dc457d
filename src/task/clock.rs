//! Where "now" comes from: the system clock, or a settable one for tests, the demo and reports.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// A source of the current time. Everything that needs "now" takes one of these.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is set or advanced; shared by clones.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The environment variable that pins "now" (RFC 3339) for reproducible runs and tests.
pub const NOW_ENV: &str = "TCSS_AUDIT_NOW";

/// The system clock, unless `TCSS_AUDIT_NOW` pins the time.
pub fn from_env() -> Result<Arc<dyn Clock>, String> {
    match std::env::var(NOW_ENV) {
        Ok(text) if !text.trim().is_empty() => {
            let at = DateTime::parse_from_rfc3339(text.trim())
                .map_err(|e| format!("{NOW_ENV}={text:?} is not an RFC 3339 time: {e}"))?;
            Ok(Arc::new(ManualClock::new(at.with_timezone(&Utc))))
        }
        _ => Ok(Arc::new(SystemClock)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(chrono::Duration::hours(26));
        assert_eq!(clock.now(), start + chrono::Duration::hours(26));
    }
}

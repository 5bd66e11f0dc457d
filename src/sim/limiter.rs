//! The per-SecretId request limit: a sliding window over the arrival times of accepted requests.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window is one second less this allowance, so that a client spacing its requests 50 ms
/// apart is not refused because of scheduling jitter between its clock and ours.
pub const JITTER_ALLOWANCE: Duration = Duration::from_millis(20);
const WINDOW: Duration = Duration::from_secs(1);

/// At most `limit` accepted requests per SecretId in any window; refused ones do not count, as a
/// refused request does no work. A limit of 0 means no limit.
#[derive(Debug)]
pub struct Limiter {
    limit: u32,
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Records a request by `secret_id` arriving at `now` and says whether it is allowed.
    pub fn admit(&self, secret_id: &str, now: Instant) -> bool {
        if self.limit == 0 {
            return true;
        }
        let window = WINDOW - JITTER_ALLOWANCE;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let times = seen.entry(secret_id.to_string()).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            times.pop_front();
        }
        if times.len() >= self.limit as usize {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twenty_first_in_a_second_is_refused_and_others_are_not_affected() {
        let limiter = Limiter::new(20);
        let t0 = Instant::now();
        for i in 0..20 {
            assert!(
                limiter.admit("A", t0 + Duration::from_millis(i)),
                "request {i}"
            );
        }
        assert!(!limiter.admit("A", t0 + Duration::from_millis(500)));
        assert!(limiter.admit("B", t0 + Duration::from_millis(500)));
        // The window is one second less the jitter allowance: at 980 ms the first request leaves
        // it, so exactly one more is allowed.
        assert!(!limiter.admit("A", t0 + Duration::from_millis(979)));
        assert!(limiter.admit("A", t0 + Duration::from_millis(980)));
        assert!(!limiter.admit("A", t0 + Duration::from_millis(980)));
    }

    #[test]
    fn a_client_pacing_itself_at_the_limit_is_never_refused() {
        let limiter = Limiter::new(20);
        let t0 = Instant::now();
        // 50 ms apart, each arriving up to 9 ms late or early; a period of 3 does not divide 20,
        // so requests 20 apart see every combination of early and late.
        for i in 0..400u64 {
            let jitter = [0i64, 9, -9][(i % 3) as usize];
            let at = t0 + Duration::from_millis(100 + i * 50) - Duration::from_millis(50);
            let at = if jitter >= 0 {
                at + Duration::from_millis(jitter as u64)
            } else {
                at - Duration::from_millis((-jitter) as u64)
            };
            assert!(limiter.admit("A", at), "request {i}");
        }
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = Limiter::new(0);
        let t0 = Instant::now();
        assert!((0..1000).all(|_| limiter.admit("A", t0)));
    }
}

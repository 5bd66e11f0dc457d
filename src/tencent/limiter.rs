//! Client-side pacing: never more than the API's limit of requests a second per credential, across
//! every target in this process that shares the credential.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// The API's documented limit for this action.
pub const REQUESTS_PER_SECOND: usize = 20;

/// The window is a little longer than a second: requests sent at the edge of one window can
/// arrive bunched, and the server counts arrivals.
const WINDOW: Duration = Duration::from_millis(1050);

/// A sliding-window limiter: at most `limit` starts in any `WINDOW`.
#[derive(Debug)]
pub struct Limiter {
    limit: usize,
    starts: tokio::sync::Mutex<VecDeque<Instant>>,
}

impl Limiter {
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            starts: tokio::sync::Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request may start, and counts it.
    pub async fn acquire(&self) {
        // Holding the lock while sleeping makes waiters queue in order, which is what pacing wants.
        let mut starts = self.starts.lock().await;
        loop {
            let now = Instant::now();
            while starts
                .front()
                .is_some_and(|t| now.duration_since(*t) >= WINDOW)
            {
                starts.pop_front();
            }
            if starts.len() < self.limit {
                starts.push_back(now);
                return;
            }
            let oldest = *starts.front().expect("the window is full, so not empty");
            tokio::time::sleep_until(oldest + WINDOW).await;
        }
    }
}

/// The limiter shared by every client of one SecretId in this process.
pub fn for_secret_id(secret_id: &str) -> Arc<Limiter> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Limiter>>>> = OnceLock::new();
    let mut all = ALL
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    all.entry(secret_id.to_string())
        .or_insert_with(|| Arc::new(Limiter::new(REQUESTS_PER_SECOND)))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_limit() {
        let limiter = Arc::new(Limiter::new(20));
        let mut handles = Vec::new();
        for _ in 0..100 {
            let l = limiter.clone();
            handles.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.unwrap());
        }
        times.sort();
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
                .count();
            assert!(in_window <= 20, "{in_window} starts within one second");
        }
        // 100 requests at 20 per window take at least four full windows.
        assert!(times[99].duration_since(times[0]) >= WINDOW * 4);
    }

    #[test]
    fn one_limiter_per_secret_id() {
        assert!(Arc::ptr_eq(
            &for_secret_id("AKIDa"),
            &for_secret_id("AKIDa")
        ));
        assert!(!Arc::ptr_eq(
            &for_secret_id("AKIDa"),
            &for_secret_id("AKIDb")
        ));
    }
}

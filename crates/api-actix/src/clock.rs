use chrono::{DateTime, Utc};
use domain::Clock;

/// The machine's clock, truncated to microseconds as both databases keep it.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

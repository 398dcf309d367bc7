//! The bounded queue: requests admitted at once (running in the scheduler or
//! waiting for it). Beyond it a request is refused with 429 rather than left to
//! wait without end, and told when a place is likely to be free (`Retry-After`),
//! from the requests in flight and how long recent ones took.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Completed requests whose times the estimate averages.
const RECENT: usize = 32;
/// A request's time in flight before any has completed: an article's summary on
/// a CPU takes several seconds.
const FIRST_GUESS: Duration = Duration::from_secs(10);
/// `Retry-After` bounds, in seconds.
const RETRY_AFTER: (u64, u64) = (1, 120);

pub struct Slots {
    max: usize,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// The requests in flight by id (so, oldest first): when each was admitted.
    admitted: BTreeMap<u64, Instant>,
    /// Times in flight of the last completed requests.
    recent: VecDeque<Duration>,
}

/// An admitted request's place; freed when dropped (the work ended or was cancelled).
pub struct Slot {
    inner: Arc<Mutex<Inner>>,
    id: u64,
    admitted: Instant,
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.inner).admitted.remove(&self.id);
    }
}

impl Slot {
    /// The request's answer is complete: its time in flight goes into the
    /// estimate (cancelled and failed requests say little of it).
    pub fn completed(&self) {
        let mut inner = lock(&self.inner);
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back(self.admitted.elapsed());
    }
}

impl Slots {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            inner: Arc::default(),
        }
    }

    pub fn in_flight(&self) -> usize {
        lock(&self.inner).admitted.len()
    }

    /// A place, or `None` when all are taken.
    pub fn try_take(&self) -> Option<Slot> {
        let mut inner = lock(&self.inner);
        if inner.admitted.len() >= self.max {
            return None;
        }
        let (id, admitted) = (inner.next_id, Instant::now());
        inner.next_id += 1;
        inner.admitted.insert(id, admitted);
        Some(Slot {
            inner: self.inner.clone(),
            id,
            admitted,
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Seconds until a place is likely to be free, for `Retry-After`.
    pub fn retry_after(&self) -> u64 {
        let inner = lock(&self.inner);
        let mean = match inner.recent.len() {
            0 => FIRST_GUESS,
            n => inner.recent.iter().sum::<Duration>() / n as u32,
        };
        let oldest = inner
            .admitted
            .values()
            .next()
            .map_or(Duration::ZERO, Instant::elapsed);
        wait(mean, oldest, inner.admitted.len())
    }
}

/// The wait for a place, in whole seconds. The oldest request in flight likely
/// ends once it has been in flight for the `mean` time; but with `in_flight`
/// requests one ends every `mean / in_flight` on average (Little's law), maybe
/// sooner than the oldest; and past the mean, that average is all there is.
fn wait(mean: Duration, oldest: Duration, in_flight: usize) -> u64 {
    let left = mean.saturating_sub(oldest);
    let spacing = mean / u32::try_from(in_flight.max(1)).unwrap_or(u32::MAX);
    let wait = if left.is_zero() {
        spacing
    } else {
        left.min(spacing)
    };
    let (least, most) = RETRY_AFTER;
    (wait.as_secs_f64().ceil() as u64).clamp(least, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_freed_on_drop() {
        let slots = Slots::new(2);
        let a = slots.try_take().unwrap();
        let _b = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        drop(a);
        assert_eq!(slots.in_flight(), 1);
        assert!(slots.try_take().is_some());
    }

    #[test]
    fn the_wait_follows_the_requests_in_flight_and_recent_times() {
        let s = Duration::from_secs;
        // One place, requests of 10 s: the one in flight for 3 s has 7 s left.
        assert_eq!(wait(s(10), s(3), 1), 7);
        // Past its time it may end any moment, but one ends every 10 s.
        assert_eq!(wait(s(10), s(30), 1), 10);
        // 16 in flight of 8 s each: one ends every half second.
        assert_eq!(wait(s(8), s(2), 16), 1);
        assert_eq!(wait(s(8), s(9), 16), 1);
        // 4 of 20 s: every 5 s, unless the oldest is due sooner.
        assert_eq!(wait(s(20), s(1), 4), 5);
        assert_eq!(wait(s(20), s(18), 4), 2);
        // Bounded both ways.
        assert_eq!(wait(Duration::ZERO, Duration::ZERO, 4), 1);
        assert_eq!(wait(s(900), s(0), 1), 120);
    }

    #[test]
    fn retry_after_uses_completed_requests_only() {
        let slots = Slots::new(1);
        // Nothing known yet: the first guess.
        let a = slots.try_take().unwrap();
        assert_eq!(slots.retry_after(), FIRST_GUESS.as_secs());
        drop(a);
        // A request that took ~1.1 s: the next is expected to take as long.
        let b = slots.try_take().unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        b.completed();
        drop(b);
        let cancelled = slots.try_take().unwrap();
        drop(cancelled);
        let _c = slots.try_take().unwrap();
        assert_eq!(slots.retry_after(), 2);
    }
}

//! The connections' places: at most [`super::MAX_CONNECTIONS`] open at once. A
//! client's keep-alive connection holds its place while idle, until the header
//! timeout; so once every place is held, the connection idle longest is closed
//! for a new one (HTTP lets a server close an idle connection at any time, and
//! clients open another when they need it), rather than the newcomer waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

pub(in crate::serve) struct Places {
    free: Arc<Semaphore>,
    size: usize,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
}

/// One open connection, as its place sees it.
pub(in crate::serve) struct Conn {
    /// Requests whose answer is not yet all written.
    active: AtomicUsize,
    /// Since when it has had none, once it has answered one (`None` before).
    idle_since: Mutex<Option<Instant>>,
    /// Told when it should close once idle.
    pub close: Notify,
}

/// A request in progress on its connection; dropped when its answer is written
/// (or abandoned).
pub(in crate::serve) struct Busy(Arc<Conn>);

/// A connection's entry among the open ones, removed when dropped.
pub(in crate::serve) struct Entry {
    places: Arc<Places>,
    id: u64,
    pub conn: Arc<Conn>,
}

impl Places {
    pub fn new(size: usize) -> Self {
        Self {
            free: Arc::new(Semaphore::new(size)),
            size,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// A place at once, if one is free.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.free.clone().try_acquire_owned().ok()
    }

    /// A place once one is freed, after asking the connection idle longest to
    /// close (if any is idle).
    pub async fn take(&self) -> Option<OwnedSemaphorePermit> {
        if let Some(place) = self.try_take() {
            return Some(place);
        }
        self.close_idlest();
        self.free.clone().acquire_owned().await.ok()
    }

    /// Waits until every place is free: all connections have ended.
    pub async fn all_free(&self) {
        let _ = self.free.acquire_many(self.size as u32).await;
    }

    pub fn enter(self: &Arc<Self>) -> Entry {
        let conn = Arc::new(Conn {
            active: AtomicUsize::new(0),
            idle_since: Mutex::new(None),
            close: Notify::new(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, conn.clone());
        Entry {
            places: self.clone(),
            id,
            conn,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the connection idle longest to close; false if none is idle.
    fn close_idlest(&self) -> bool {
        let open = self.lock();
        let idlest = open
            .values()
            .filter_map(|c| Some((c.idle_since()?, c)))
            .min_by_key(|(since, _)| *since);
        let Some((_, conn)) = idlest else {
            return false;
        };
        // Not chosen twice while it closes.
        *conn.idle() = None;
        conn.close.notify_one();
        true
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.places.lock().remove(&self.id);
    }
}

impl Conn {
    fn idle(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.idle_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn idle_since(&self) -> Option<Instant> {
        *self.idle()
    }

    /// A request has arrived.
    pub fn busy(self: &Arc<Self>) -> Busy {
        let mut idle = self.idle();
        self.active.fetch_add(1, Ordering::AcqRel);
        *idle = None;
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut idle = self.0.idle();
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            *idle = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_connection_idle_longest_is_asked_to_close() {
        let places = Arc::new(Places::new(3));
        let held: Vec<_> = (0..3).map(|_| places.try_take().unwrap()).collect();
        let (fresh, older, newer) = (places.enter(), places.enter(), places.enter());
        // `fresh` has answered nothing yet; `older` went idle before `newer`.
        drop(older.conn.busy());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let busy = newer.conn.busy();
        drop(busy);
        let working = newer.conn.busy();
        assert!(places.try_take().is_none());
        assert!(places.close_idlest());
        // Only `older` is told; then nothing else is idle.
        tokio::time::timeout(
            std::time::Duration::from_secs(1),
            older.conn.close.notified(),
        )
        .await
        .unwrap();
        assert!(!places.close_idlest());
        drop(working);
        assert!(places.close_idlest(), "`newer` is idle again");
        // When its connection ends the place is free.
        drop(held);
        assert!(places.take().await.is_some());
        drop((fresh, older, newer));
        assert!(places.lock().is_empty());
    }
}

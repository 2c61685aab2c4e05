//! Open WebSocket connections: the `--max-connections` count, shutdown and keepalive.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::conn::ConnIo;

#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
    changed: Condvar,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Slots taken by routed upgrades, counted before their thread even starts.
    reserved: usize,
    open: HashMap<u64, Arc<ConnIo>>,
}

/// Holds one reserved slot; dropping it frees the slot and forgets the connection.
pub struct Slot {
    registry: Arc<Registry>,
    id: Option<u64>,
}

impl Registry {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot unless `max` (0 = unlimited) are taken already.
    pub fn reserve(self: &Arc<Self>, max: usize) -> Option<Slot> {
        let mut inner = self.inner();
        if max > 0 && inner.reserved >= max {
            return None;
        }
        inner.reserved += 1;
        Some(Slot {
            registry: Arc::clone(self),
            id: None,
        })
    }

    pub fn active(&self) -> usize {
        self.inner().reserved
    }

    pub fn snapshot(&self) -> Vec<Arc<ConnIo>> {
        self.inner().open.values().cloned().collect()
    }

    /// Waits until no slot is taken; false when `timeout` passed first.
    pub fn wait_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.inner();
        while inner.reserved > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            inner = match self.changed.wait_timeout(inner, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

impl Slot {
    pub fn attach(&mut self, conn: Arc<ConnIo>) {
        let mut inner = self.registry.inner();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.open.insert(id, conn);
        self.id = Some(id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.registry.inner();
        if let Some(id) = self.id {
            inner.open.remove(&id);
        }
        inner.reserved -= 1;
        drop(inner);
        self.registry.changed.notify_all();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_and_released() {
        let registry = Arc::new(Registry::default());
        let first = registry.reserve(2).unwrap();
        let _second = registry.reserve(2).unwrap();
        assert!(registry.reserve(2).is_none());
        assert_eq!(registry.active(), 2);
        drop(first);
        assert!(registry.reserve(2).is_some());
        assert!(registry.reserve(0).is_some());
        assert!(!registry.wait_empty(Duration::from_millis(10)));
    }

    #[test]
    fn wait_empty_wakes_when_the_last_slot_goes() {
        let registry = Arc::new(Registry::default());
        let slot = registry.reserve(0).unwrap();
        let waiter = {
            let registry = Arc::clone(&registry);
            std::thread::spawn(move || registry.wait_empty(Duration::from_secs(5)))
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(slot);
        assert!(waiter.join().unwrap());
    }
}

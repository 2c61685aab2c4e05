//! Connections the acceptor hands to a runner on the Python side (the greenlet hub, the
//! asyncio loop): queued until the runner takes them, refused once it has closed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::conn::ConnIo;
use crate::http_head::HttpRequest;

pub type Item = (Arc<ConnIo>, HttpRequest);

#[derive(Default)]
pub struct ConnQueue {
    items: Mutex<VecDeque<Item>>,
    closed: AtomicBool,
}

impl ConnQueue {
    fn items(&self) -> MutexGuard<'_, VecDeque<Item>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item` (the caller then wakes the runner); gives it back once closed.
    pub fn push(&self, item: Item) -> Option<Item> {
        // Checked under the lock, so `close` cannot miss an item queued meanwhile.
        let mut items = self.items();
        if self.is_closed() {
            return Some(item);
        }
        items.push_back(item);
        None
    }

    /// Everything queued so far.
    pub fn take(&self) -> Vec<Item> {
        self.items().drain(..).collect()
    }

    /// Refuses later pushes; returns what was still queued, for the caller to end.
    pub fn close(&self) -> Vec<Item> {
        let mut items = self.items();
        self.closed.store(true, Ordering::Release);
        items.drain(..).collect()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

//! Named in-process message queues (spec §3.14): many producers, many consumers, each
//! message delivered exactly once, FIFO. Shared by Lua and Rust-native services.
//!
//! A queue is a bounded [`VecDeque`] behind a mutex, plus a semaphore that holds one permit
//! per message a receiver may take. A receiver takes a permit first and pops second, so a
//! permit always stands for a message that is already in the deque: two receivers can never
//! take the same message, and a receiver that gives up (timeout, stop, a dropped future)
//! leaves its permit, and so the message, to the next one. Waiting on the semaphore is fair:
//! receivers are served in the order they started waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::{StopSignal, Value};

/// The default capacity of a queue, in messages.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Every queue of one server, by exact name.
#[derive(Debug, Default)]
pub struct Queues {
    by_name: Mutex<HashMap<String, Arc<Queue>>>,
}

/// One queue.
#[derive(Debug)]
pub struct Queue {
    name: String,
    capacity: usize,
    /// The messages, oldest first.
    items: Mutex<VecDeque<Value>>,
    /// One permit per message no receiver has claimed yet; added after the push.
    ready: Semaphore,
    /// `items.len()`, kept beside it so the metrics read it without the lock.
    len: AtomicUsize,
}

/// Why `post` failed.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum PostError {
    /// The queue holds `capacity` messages.
    #[error("queue full")]
    Full,
}

/// Why `recv` returned without a message.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum RecvError {
    /// The timeout expired.
    #[error("timeout")]
    Timeout,
    /// The receiving instance was asked to stop.
    #[error("stopped")]
    Stopped,
}

/// Why `create` failed.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum CreateError {
    /// An empty name.
    #[error("invalid queue name")]
    EmptyName,
    /// A capacity of 0.
    #[error("invalid capacity")]
    ZeroCapacity,
}

impl Queues {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates the queue `name` with `capacity` (default [`DEFAULT_CAPACITY`]), or returns
    /// the existing one (whose capacity stays).
    ///
    /// # Errors
    ///
    /// An empty name or a zero capacity.
    pub fn create(&self, name: &str, capacity: Option<usize>) -> Result<Arc<Queue>, CreateError> {
        if name.is_empty() {
            return Err(CreateError::EmptyName);
        }
        // Checked even when the queue exists: a zero capacity is a mistake in the caller
        // whichever call happens to come first.
        let capacity = capacity.unwrap_or(DEFAULT_CAPACITY);
        if capacity == 0 {
            return Err(CreateError::ZeroCapacity);
        }
        let mut by_name = lock(&self.by_name);
        let queue = by_name
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Queue::new(name, capacity)));
        Ok(Arc::clone(queue))
    }

    /// The queue `name`, if it was created.
    pub fn get(&self, name: &str) -> Option<Arc<Queue>> {
        lock(&self.by_name).get(name).cloned()
    }

    /// The name and depth of every queue, sorted by name (the queue-depth metrics).
    pub fn depths(&self) -> Vec<(String, usize)> {
        let mut depths: Vec<_> = lock(&self.by_name)
            .values()
            .map(|queue| (queue.name.clone(), queue.len()))
            .collect();
        depths.sort_unstable();
        depths
    }
}

impl Queue {
    fn new(name: &str, capacity: usize) -> Self {
        Self {
            name: name.to_owned(),
            capacity,
            // Not preallocated: most queues never come near their capacity.
            items: Mutex::new(VecDeque::new()),
            ready: Semaphore::new(0),
            len: AtomicUsize::new(0),
        }
    }

    /// Enqueues `value` without blocking.
    ///
    /// # Errors
    ///
    /// [`PostError::Full`] at capacity.
    pub fn post(&self, value: Value) -> Result<(), PostError> {
        {
            let mut items = lock(&self.items);
            if items.len() >= self.capacity {
                return Err(PostError::Full);
            }
            items.push_back(value);
            self.len.store(items.len(), Ordering::Relaxed);
        }
        // After the push, so that a permit always stands for a message in the deque.
        self.ready.add_permits(1);
        Ok(())
    }

    /// Takes the oldest message, if any.
    pub fn try_recv(&self) -> Option<Value> {
        let permit = self.ready.try_acquire().ok()?;
        permit.forget();
        self.pop()
    }

    /// Waits for a message: forever with `None`, up to `timeout` otherwise (zero: do not
    /// wait), and never past `stop`.
    ///
    /// A stop that has already fired wins over a queued message, which stays for another
    /// receiver. Dropping the future never loses a message.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`] or [`RecvError::Stopped`].
    pub async fn recv(
        &self,
        timeout: Option<Duration>,
        stop: &StopSignal,
    ) -> Result<Value, RecvError> {
        if stop.is_stopped() {
            return Err(RecvError::Stopped);
        }
        if timeout == Some(Duration::ZERO) {
            return self.try_recv().ok_or(RecvError::Timeout);
        }
        let expiry = async {
            match timeout {
                Some(timeout) => tokio::time::sleep(timeout).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                biased;
                () = stop.stopped() => return Err(RecvError::Stopped),
                permit = self.ready.acquire() => {
                    // The semaphore is never closed, so `acquire` cannot fail.
                    if let Ok(permit) = permit {
                        permit.forget();
                        if let Some(value) = self.pop() {
                            return Ok(value);
                        }
                    }
                }
                () = &mut expiry => return Err(RecvError::Timeout),
            }
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages waiting now (the queue-depth metric).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when no message waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity, in messages.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Pops the oldest message; the caller holds (and has forgotten) its permit.
    fn pop(&self) -> Option<Value> {
        let mut items = lock(&self.items);
        let value = items.pop_front();
        self.len.store(items.len(), Ordering::Relaxed);
        value
    }
}

/// Locks `mutex`, ignoring poisoning: every critical section here is a single push, pop or
/// map lookup, so a panic elsewhere cannot leave the data half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Number;

    fn int(n: i64) -> Value {
        Value::Number(Number::Int(n))
    }

    #[test]
    fn fifo_and_len() {
        let queues = Queues::new();
        let queue = queues.create("q", Some(3)).unwrap();
        assert_eq!(queue.capacity(), 3);
        assert!(queue.is_empty());
        for n in 1..=3 {
            queue.post(int(n)).unwrap();
        }
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.post(int(4)), Err(PostError::Full));
        assert_eq!(queue.try_recv(), Some(int(1)));
        assert_eq!(queue.len(), 2);
        queue.post(int(4)).unwrap();
        assert_eq!(queue.try_recv(), Some(int(2)));
        assert_eq!(queue.try_recv(), Some(int(3)));
        assert_eq!(queue.try_recv(), Some(int(4)));
        assert_eq!(queue.try_recv(), None);
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn depths_are_sorted_by_name() {
        let queues = Queues::new();
        let b = queues.create("b", None).unwrap();
        queues.create("a", None).unwrap();
        b.post(Value::Null).unwrap();
        assert_eq!(
            queues.depths(),
            vec![("a".to_owned(), 0), ("b".to_owned(), 1)]
        );
        assert_eq!(
            queues.get("b").map(|q| q.name().to_owned()),
            Some("b".to_owned())
        );
        assert!(queues.get("c").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_recv_leaves_the_message() {
        let queues = Queues::new();
        let queue = queues.create("q", None).unwrap();
        let stop = StopSignal::new();
        // A receive that is waiting when it is dropped must not swallow a later message.
        {
            let recv = queue.recv(None, &stop);
            tokio::pin!(recv);
            assert!(futures_poll_once(recv.as_mut()).await.is_none());
            queue.post(int(7)).unwrap();
        }
        let got = queue.recv(Some(Duration::from_secs(1)), &stop).await;
        assert_eq!(got, Ok(int(7)));
    }

    /// Polls `fut` once, returning its output if it was ready.
    async fn futures_poll_once<F: Future + Unpin>(mut fut: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
                std::task::Poll::Ready(out) => Some(out),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::{
    Accept, AttemptRecord, Cursor, DEFAULT_CAPACITY, DEFAULT_RETAIN, Inbox, InboxError, InboxStats,
    Lease, Leased, MAX_ATTEMPT_LOG, Page, Record, Replay, State,
};
use crate::background::event::Delivery;
use crate::future::BoxFuture;
use crate::lock::{Mutex, MutexGuard};
use crate::store::{Claim, ClaimToken, MemoryStore};

/// How long a held key's claim lasts in the done set: as long as the
/// delivery is in the inbox (it is completed, with the retention, when the
/// delivery is done).
const HELD: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
/// How many done deliveries are kept whole, for [`Inbox::get`] and
/// [`Inbox::list`]; older ones are remembered by key only.
const RECENT_DONE: usize = 256;

/// The default inbox: bounded, in memory, for one process.
///
/// The same semantics as the durable inboxes within one process; an
/// acknowledged delivery not yet handled when the process exits is lost
/// (a graceful shutdown reports how many). Done keys are remembered in a
/// bounded [`MemoryStore`] for the retention window (the oldest are
/// forgotten first when it fills), so a redelivery is still answered
/// `Duplicate`; the last 256 done deliveries are kept whole.
///
/// Times are tokio's, so tests on a paused clock see retries on schedule.
///
/// ```
/// use hookwarden::event::Delivery;
/// use hookwarden::inbox::{Accept, AttemptOutcome, AttemptRecord, Inbox, MemoryInbox};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), hookwarden::inbox::InboxError> {
/// let inbox = MemoryInbox::builder().capacity(2).build();
/// let delivery = Delivery::new("evt_1", "ping", "1", r#"{}"#.into());
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Accepted);
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Duplicate);
///
/// let leased = inbox.lease(10, Duration::from_secs(30)).await?;
/// assert_eq!(leased[0].attempt, 1);
/// let handled = AttemptRecord::new(1, AttemptOutcome::Handled, Duration::from_millis(3));
/// assert!(inbox.complete(&leased[0].lease, &handled).await?);
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Duplicate, "remembered once done");
/// let record = inbox.get("evt_1").await?.expect("the last done deliveries are kept whole");
/// assert_eq!(record.attempt_log(), [handled]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryInbox {
    shared: Arc<Shared>,
}

/// Configures a [`MemoryInbox`]; from [`MemoryInbox::builder`].
#[derive(Debug, Clone)]
pub struct MemoryInboxBuilder {
    capacity: usize,
    retain: Duration,
    max_done: usize,
}

struct Shared {
    slots: Mutex<Slots>,
    done: MemoryStore,
    capacity: usize,
    retain: Duration,
}

#[derive(Default)]
struct Slots {
    by_key: HashMap<Arc<str>, Slot>,
    /// Event id → the dedupe key of the latest delivery with it.
    by_id: HashMap<Arc<str>, Arc<str>>,
    /// Pending, retrying and leased deliveries by when they are due (for a
    /// leased one, when its lease runs out), then by arrival.
    due: BTreeSet<(Instant, u64, Arc<str>)>,
    active: usize,
    next_seq: u64,
    recent_done: VecDeque<Record>,
}

struct Slot {
    delivery: Arc<Delivery>,
    key: Arc<str>,
    claim: ClaimToken,
    state: State,
    attempts: u32,
    last_error: Option<String>,
    log: VecDeque<AttemptRecord>,
    due: Instant,
    seq: u64,
    token: u128,
    accepted: Instant,
    updated_at: SystemTime,
}

impl Default for MemoryInboxBuilder {
    fn default() -> Self {
        Self { capacity: DEFAULT_CAPACITY, retain: DEFAULT_RETAIN, max_done: 1_000_000 }
    }
}

impl MemoryInboxBuilder {
    /// How many pending, leased and retrying deliveries it holds (default
    /// 1024, at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How long done keys are remembered (default 7 days).
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = retain;
        self
    }

    /// The most keys remembered at once, held and done (default
    /// 1,000,000, about 67 MB when full); the done keys closest to the end
    /// of their retention are forgotten first.
    pub fn max_remembered(mut self, keys: usize) -> Self {
        self.max_done = keys.max(self.capacity);
        self
    }

    /// Builds the inbox.
    pub fn build(self) -> MemoryInbox {
        let done = MemoryStore::builder().max_entries(self.max_done.max(self.capacity * 2)).build();
        MemoryInbox {
            shared: Arc::new(Shared {
                slots: Mutex::new(Slots::default()),
                done,
                capacity: self.capacity,
                retain: self.retain,
            }),
        }
    }
}

impl MemoryInbox {
    /// An inbox with the default settings: 1024 deliveries, 7 days'
    /// retention.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures an inbox.
    pub fn builder() -> MemoryInboxBuilder {
        MemoryInboxBuilder::default()
    }

    /// An inbox holding at most `capacity` deliveries, otherwise default.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::builder().capacity(capacity).build()
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // Every change below keeps the maps consistent before it can panic.
        self.shared.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn accept_now(&self, delivery: &Delivery) -> Result<Accept, InboxError> {
        let shared = &*self.shared;
        let key = delivery.dedupe_key();
        let mut slots = self.slots();
        if slots.by_key.contains_key(key) {
            return Ok(Accept::Duplicate);
        }
        let claim = match shared.done.claim_now(key, HELD) {
            Ok(Claim::Claimed(token)) => token,
            Ok(Claim::InFlight | Claim::Done) => return Ok(Accept::Duplicate),
            Err(error) => return Err(InboxError::new(error.to_string())),
        };
        if slots.active >= shared.capacity {
            shared.done.release_now(key, &claim);
            return Ok(Accept::Full);
        }
        let now = Instant::now();
        let key: Arc<str> = key.into();
        let seq = slots.next_seq;
        slots.next_seq += 1;
        slots.due.insert((now, seq, key.clone()));
        slots.by_id.insert(delivery.id().into(), key.clone());
        slots.active += 1;
        let slot = Slot {
            delivery: Arc::new(delivery.clone()),
            key: key.clone(),
            claim,
            state: State::Pending,
            attempts: 0,
            last_error: None,
            log: VecDeque::new(),
            due: now,
            seq,
            token: 0,
            accepted: now,
            updated_at: SystemTime::now(),
        };
        slots.by_key.insert(key, slot);
        Ok(Accept::Accepted)
    }

    fn lease_now(&self, max: usize, lease_for: Duration) -> Vec<Leased> {
        // The clock is read under the lock: what is due is judged in the
        // order the lock is taken.
        let mut slots = self.slots();
        let now = Instant::now();
        let mut out = Vec::new();
        while out.len() < max {
            let Some(first) = slots.due.first() else { break };
            if first.0 > now {
                break;
            }
            let (_, seq, key) = slots.due.pop_first().expect("peeked");
            let until = now + lease_for;
            slots.due.insert((until, seq, key.clone()));
            let slot = slots.by_key.get_mut(&key).expect("a due key has a slot");
            if slot.state == State::Leased {
                // Its lease ran out before its worker reported.
                let late = now.saturating_duration_since(slot.due);
                let ran_out = SystemTime::now().checked_sub(late).unwrap_or(UNIX_EPOCH);
                slot.log_attempt(AttemptRecord::lost(slot.attempts, ran_out));
            }
            slot.state = State::Leased;
            slot.attempts += 1;
            slot.due = until;
            slot.token = crate::random::random_u128();
            slot.updated_at = SystemTime::now();
            out.push(Leased {
                delivery: slot.delivery.clone(),
                attempt: slot.attempts,
                lease: Lease::new(key, slot.token),
            });
        }
        out
    }

    /// Applies `change` to the leased slot if `lease` still holds it.
    fn finish(&self, lease: &Lease, change: impl FnOnce(&mut Slots, Arc<str>)) -> bool {
        let mut slots = self.slots();
        let key = match slots.by_key.get(lease.key()) {
            Some(slot) if slot.state == State::Leased && slot.token == lease.token() => {
                slot.key.clone()
            }
            _ => return false,
        };
        change(&mut slots, key);
        true
    }

    fn record(slot: &Slot) -> Record {
        let due_at = matches!(slot.state, State::Retrying | State::Leased)
            .then(|| SystemTime::now() + slot.due.saturating_duration_since(Instant::now()));
        Record::new(slot.delivery.clone(), slot.state, slot.attempts)
            .with_last_error(slot.last_error.clone())
            .with_due_at(due_at)
            .with_updated_at(slot.updated_at)
            .with_attempt_log(slot.log.iter().cloned().collect())
    }
}

impl Slot {
    /// Adds `attempt` to the log, forgetting the oldest past the bound.
    fn log_attempt(&mut self, attempt: AttemptRecord) {
        if self.log.len() >= MAX_ATTEMPT_LOG {
            self.log.pop_front();
        }
        self.log.push_back(attempt);
    }
}

impl Slots {
    /// Moves `key`'s entry in the due order to `due`.
    fn reschedule(&mut self, key: &Arc<str>, due: Option<Instant>) {
        let slot = self.by_key.get_mut(key).expect("a held key");
        self.due.remove(&(slot.due, slot.seq, key.clone()));
        if let Some(due) = due {
            slot.due = due;
            self.due.insert((due, slot.seq, key.clone()));
        }
    }

    fn slot(&mut self, key: &Arc<str>) -> &mut Slot {
        self.by_key.get_mut(key).expect("a held key")
    }
}

impl Default for MemoryInbox {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.slots();
        f.debug_struct("MemoryInbox")
            .field("held", &slots.by_key.len())
            .field("active", &slots.active)
            .field("capacity", &self.shared.capacity)
            .field("retain", &self.shared.retain)
            .finish()
    }
}

impl Inbox for MemoryInbox {
    fn accept<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<Accept, InboxError>> {
        Box::pin(std::future::ready(self.accept_now(delivery)))
    }

    fn lease(
        &self,
        max: usize,
        lease_for: Duration,
    ) -> BoxFuture<'_, Result<Vec<Leased>, InboxError>> {
        Box::pin(std::future::ready(Ok(self.lease_now(max, lease_for))))
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        lease_for: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let renewed = self.finish(lease, |slots, key| {
            slots.reschedule(&key, Some(Instant::now() + lease_for));
        });
        Box::pin(std::future::ready(Ok(renewed)))
    }

    fn complete<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let shared = &*self.shared;
        let done = self.finish(lease, |slots, key| {
            slots.reschedule(&key, None);
            let mut slot = slots.by_key.remove(&key).expect("a held key");
            slots.active -= 1;
            shared.done.complete_now(&key, &slot.claim, shared.retain);
            if slots.by_id.get(slot.delivery.id()) == Some(&key) {
                slots.by_id.remove(slot.delivery.id());
            }
            slot.state = State::Done;
            slot.updated_at = SystemTime::now();
            slot.log_attempt(attempt.clone());
            if slots.recent_done.len() == RECENT_DONE {
                slots.recent_done.pop_front();
            }
            slots.recent_done.push_back(Self::record(&slot));
        });
        Box::pin(std::future::ready(Ok(done)))
    }

    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let retried = self.finish(lease, |slots, key| {
            slots.reschedule(&key, Some(Instant::now() + delay));
            let slot = slots.slot(&key);
            slot.state = State::Retrying;
            slot.last_error = attempt.error().map(str::to_owned);
            slot.updated_at = SystemTime::now();
            slot.log_attempt(attempt.clone());
        });
        Box::pin(std::future::ready(Ok(retried)))
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let dead = self.finish(lease, |slots, key| {
            slots.reschedule(&key, None);
            slots.active -= 1;
            let slot = slots.slot(&key);
            slot.state = State::Dead;
            slot.last_error = attempt.error().map(str::to_owned);
            slot.updated_at = SystemTime::now();
            slot.log_attempt(attempt.clone());
        });
        Box::pin(std::future::ready(Ok(dead)))
    }

    fn abandon<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: Option<&'a AttemptRecord>,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let handed_back = self.finish(lease, |slots, key| {
            slots.reschedule(&key, Some(Instant::now()));
            let slot = slots.slot(&key);
            slot.state = State::Pending;
            slot.attempts = slot.attempts.saturating_sub(1);
            slot.token = 0;
            slot.updated_at = SystemTime::now();
            if let Some(attempt) = attempt {
                slot.log_attempt(attempt.clone());
            }
        });
        Box::pin(std::future::ready(Ok(handed_back)))
    }

    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>> {
        let mut slots = self.slots();
        let outcome = match slots.by_id.get(id).cloned() {
            // A done delivery still remembered is not dead, as `get` shows.
            None if slots.recent_done.iter().any(|r| r.delivery.id() == id) => Replay::NotDead,
            None => Replay::NotFound,
            Some(key) if slots.slot(&key).state != State::Dead => Replay::NotDead,
            Some(key) => {
                slots.active += 1;
                let now = Instant::now();
                let slot = slots.slot(&key);
                slot.state = State::Pending;
                slot.attempts = 0;
                slot.updated_at = SystemTime::now();
                slot.due = now;
                let entry = (now, slot.seq, key);
                slots.due.insert(entry);
                Replay::Replayed
            }
        };
        Box::pin(std::future::ready(Ok(outcome)))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        let slots = self.slots();
        let record = match slots.by_id.get(id).and_then(|key| slots.by_key.get(key)) {
            Some(slot) => Some(Self::record(slot)),
            None => slots.recent_done.iter().rev().find(|r| r.delivery.id() == id).cloned(),
        };
        Box::pin(std::future::ready(Ok(record)))
    }

    fn list<'a>(
        &'a self,
        state: State,
        limit: usize,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, InboxError>> {
        let after = match cursor.map(|c| c.as_str().parse::<u64>()) {
            None => None,
            Some(Ok(position)) => Some(position),
            Some(Err(_)) => {
                return Box::pin(std::future::ready(Err(InboxError::new("malformed cursor"))));
            }
        };
        let slots = self.slots();
        // Done records are numbered by their place in the recent list.
        let mut numbered: Vec<(u64, Record)> = if state == State::Done {
            slots.recent_done.iter().cloned().enumerate().map(|(i, r)| (i as u64, r)).collect()
        } else {
            let mut held: Vec<&Slot> =
                slots.by_key.values().filter(|slot| slot.state == state).collect();
            held.sort_unstable_by_key(|slot| slot.seq);
            held.into_iter().map(|slot| (slot.seq, Self::record(slot))).collect()
        };
        numbered.retain(|(position, _)| after.is_none_or(|after| *position > after));
        let more = numbered.len() > limit;
        numbered.truncate(limit);
        let next = more.then(|| numbered.last().map(|(p, _)| Cursor::new(p.to_string()))).flatten();
        let page = Page::new(numbered.into_iter().map(|(_, r)| r).collect(), next);
        Box::pin(std::future::ready(Ok(page)))
    }

    fn stats(&self) -> BoxFuture<'_, Result<InboxStats, InboxError>> {
        let slots = self.slots();
        let mut stats = InboxStats::default();
        let mut oldest: Option<Instant> = None;
        for slot in slots.by_key.values() {
            stats.set(slot.state, stats.count(slot.state) + 1);
            if slot.state == State::Pending {
                oldest = Some(oldest.map_or(slot.accepted, |o| o.min(slot.accepted)));
            }
        }
        stats.done = (self.shared.done.len().saturating_sub(slots.by_key.len())) as u64;
        stats.oldest_pending = oldest.map(|at| at.elapsed());
        Box::pin(std::future::ready(Ok(stats)))
    }

    fn purge(&self) -> BoxFuture<'_, Result<u64, InboxError>> {
        // The done set forgets expired keys by itself.
        Box::pin(std::future::ready(Ok(0)))
    }

    fn is_durable(&self) -> bool {
        false
    }
}

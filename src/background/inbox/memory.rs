use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hashbrown::HashTable;
use tokio::time::Instant;

use super::{
    Accept, AttemptRecord, Cursor, DEFAULT_CAPACITY, DEFAULT_RETAIN, Inbox, InboxError, InboxStats,
    Lease, Leased, MAX_ATTEMPT_LOG, Page, Record, Replay, State,
};
use crate::background::event::Delivery;
use crate::future::BoxFuture;
use crate::lock::{Mutex, MutexGuard};
use crate::store::MemoryStore;
use crate::store::memory::Digest;
/// How many done deliveries are kept whole, for [`Inbox::get`] and
/// [`Inbox::list`]; older ones are remembered by key only. Few, so that
/// what they hold stays in the CPU's caches: a done delivery is freed
/// while its memory is still warm, and the next delivery reuses it. With
/// 256, each new delivery's body was copied into memory last touched 256
/// deliveries earlier, and the receiver spent about 4% more CPU.
const RECENT_DONE: usize = 64;

/// The default inbox: bounded, in memory, for one process.
///
/// The same semantics as the durable inboxes within one process; an
/// acknowledged delivery not yet handled when the process exits is lost
/// (a graceful shutdown reports how many). Held deliveries are found by a
/// keyed 128-bit digest of their dedupe key; done keys are remembered, as
/// that digest only, in a bounded [`MemoryStore`] for the retention window
/// (those closest to expiry are forgotten first when it fills), so a
/// redelivery is still answered `Duplicate`; the last 64 done deliveries
/// are kept whole.
///
/// Times are tokio's, so tests on a paused clock see retries on schedule.
///
/// ```
/// use hookwarden::event::Delivery;
/// use hookwarden::inbox::{Accept, AttemptOutcome, AttemptRecord, Inbox, MemoryInbox};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), hookwarden::inbox::InboxError> {
/// let inbox = MemoryInbox::builder().capacity(2).build();
/// let delivery = Arc::new(Delivery::new("evt_1", "ping", "1", r#"{}"#.into()));
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
    /// Held deliveries (pending, leased, retrying, dead), by the digest of
    /// their dedupe key.
    by_key: HashTable<Slot>,
    /// Deliveries accepted and not yet leased, in arrival order (so also
    /// by when they became due): a queue, cheaper than `due` for the
    /// common path.
    fresh: VecDeque<(Instant, u64, Digest)>,
    /// The other pending, retrying and leased deliveries by when they are
    /// due (for a leased one, when its lease runs out), then by arrival.
    due: BTreeSet<(Instant, u64, Digest)>,
    active: usize,
    next_seq: u64,
    /// The last lease token handed out: each lease gets the next (0 is no
    /// lease; wrapping past it takes 2^128 leases). Tokens never leave the
    /// process, so a counter suffices.
    last_token: u128,
    /// The last done deliveries, kept as they were (their records are
    /// built when asked for).
    recent_done: VecDeque<Slot>,
}

struct Slot {
    /// The delivery as accepted (its dedupe key included).
    delivery: Arc<Delivery>,
    /// The digest of its dedupe key.
    digest: Digest,
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

    /// The most done keys remembered at once (default 1,000,000, about
    /// 40 to 75 MB when full); the done keys closest to the end of their
    /// retention are forgotten first.
    pub fn max_remembered(mut self, keys: usize) -> Self {
        self.max_done = keys.max(1);
        self
    }

    /// Builds the inbox.
    pub fn build(self) -> MemoryInbox {
        let done = MemoryStore::builder().max_entries(self.max_done).build();
        MemoryInbox {
            shared: Arc::new(Shared {
                // Tokens start at a random point, so a lease of another
                // inbox never matches one of this one's.
                slots: Mutex::new(Slots {
                    last_token: crate::random::random_u128(),
                    ..Slots::default()
                }),
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

    fn accept_now(&self, delivery: &Arc<Delivery>) -> Result<Accept, InboxError> {
        let shared = &*self.shared;
        let digest = shared.done.digest(delivery.dedupe_key());
        let mut slots = self.slots();
        if slots.find(digest).is_some() || shared.done.is_done(digest) {
            return Ok(Accept::Duplicate);
        }
        if slots.active >= shared.capacity {
            return Ok(Accept::Full);
        }
        let now = Instant::now();
        let seq = slots.next_seq;
        slots.next_seq += 1;
        slots.fresh.push_back((now, seq, digest));
        slots.active += 1;
        let slot = Slot {
            delivery: delivery.clone(),
            digest,
            state: State::Pending,
            attempts: 0,
            last_error: None,
            log: VecDeque::new(),
            due: now,
            seq,
            token: 0,
            accepted: now,
            // Read when the delivery was made, just before.
            updated_at: delivery.received_at(),
        };
        slots.by_key.insert_unique(digest.hash(), slot, Slot::hash);
        Ok(Accept::Accepted)
    }

    fn lease_now(&self, max: usize, lease_for: Duration) -> Vec<Leased> {
        // The clock is read under the lock: what is due is judged in the
        // order the lock is taken.
        let mut slots = self.slots();
        if slots.fresh.is_empty() && slots.due.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        let mut wall = None;
        let mut out = Vec::new();
        while out.len() < max {
            let Some((_, seq, digest)) = slots.next_due(now) else { break };
            let until = now + lease_for;
            slots.due.insert((until, seq, digest));
            slots.last_token = slots.last_token.wrapping_add(1).max(1);
            let token = slots.last_token;
            let slot = slots.find(digest).expect("a due key has a slot");
            if slot.state == State::Leased {
                // Its lease ran out before its worker reported.
                let late = now.saturating_duration_since(slot.due);
                let ran_out = SystemTime::now().checked_sub(late).unwrap_or(UNIX_EPOCH);
                slot.log_attempt(AttemptRecord::lost(slot.attempts, ran_out));
            }
            slot.state = State::Leased;
            slot.attempts += 1;
            slot.due = until;
            slot.token = token;
            slot.updated_at = *wall.get_or_insert_with(SystemTime::now);
            out.push(Leased {
                delivery: slot.delivery.clone(),
                attempt: slot.attempts,
                lease: Lease::new(slot.delivery.shared_dedupe_key(), slot.token),
            });
        }
        out
    }

    /// Applies `change` to the leased slot if `lease` still holds it, and
    /// gives what it returns once the lock is released (`None`: the lease
    /// was lost).
    fn finish<R>(&self, lease: &Lease, change: impl FnOnce(&mut Slots, Digest) -> R) -> Option<R> {
        let digest = self.shared.done.digest(lease.key());
        let mut slots = self.slots();
        match slots.find(digest) {
            Some(slot) if slot.state == State::Leased && slot.token == lease.token() => {}
            _ => return None,
        }
        Some(change(&mut slots, digest))
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
    fn hash(&self) -> u64 {
        self.digest.hash()
    }

    /// Adds `attempt` to the log, forgetting the oldest past the bound.
    fn log_attempt(&mut self, attempt: AttemptRecord) {
        if self.log.len() >= MAX_ATTEMPT_LOG {
            self.log.pop_front();
        }
        self.log.push_back(attempt);
    }
}

impl Slots {
    /// Takes the first entry due by `now`, from `fresh` or `due`, whichever
    /// comes first in the (due, arrival) order.
    fn next_due(&mut self, now: Instant) -> Option<(Instant, u64, Digest)> {
        let fresh = self.fresh.front().filter(|entry| entry.0 <= now);
        let due = self.due.first().filter(|entry| entry.0 <= now);
        match (fresh, due) {
            (Some(fresh), Some(due)) if due < fresh => self.due.pop_first(),
            (Some(_), _) => self.fresh.pop_front(),
            (None, Some(_)) => self.due.pop_first(),
            (None, None) => None,
        }
    }

    fn find(&mut self, digest: Digest) -> Option<&mut Slot> {
        self.by_key.find_mut(digest.hash(), |slot| slot.digest == digest)
    }

    /// Moves `digest`'s entry in the due order to `due`.
    fn reschedule(&mut self, digest: Digest, due: Option<Instant>) {
        let slot = self.find(digest).expect("a held key");
        let (old, seq) = (slot.due, slot.seq);
        if let Some(due) = due {
            slot.due = due;
        }
        self.due.remove(&(old, seq, digest));
        if let Some(due) = due {
            self.due.insert((due, seq, digest));
        }
    }

    fn slot(&mut self, digest: Digest) -> &mut Slot {
        self.find(digest).expect("a held key")
    }

    fn remove(&mut self, digest: Digest) -> Slot {
        let entry = self.by_key.find_entry(digest.hash(), |slot| slot.digest == digest);
        entry.ok().expect("a held key").remove().0
    }

    /// The latest held delivery with this event id.
    fn by_id(&mut self, id: &str) -> Option<&mut Slot> {
        self.by_key.iter_mut().filter(|slot| slot.delivery.id() == id).max_by_key(|slot| slot.seq)
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
    fn accept<'a>(
        &'a self,
        delivery: &'a Arc<Delivery>,
    ) -> BoxFuture<'a, Result<Accept, InboxError>> {
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
        let renewed = self.finish(lease, |slots, digest| {
            slots.reschedule(digest, Some(Instant::now() + lease_for));
        });
        Box::pin(std::future::ready(Ok(renewed.is_some())))
    }

    fn complete<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let shared = &*self.shared;
        let done = self.finish(lease, |slots, digest| {
            slots.reschedule(digest, None);
            let mut slot = slots.remove(digest);
            slots.active -= 1;
            shared.done.remember_done(digest, shared.retain);
            slot.state = State::Done;
            slot.updated_at = attempt.finished_at();
            slot.log_attempt(attempt.clone());
            let forgotten =
                (slots.recent_done.len() == RECENT_DONE).then(|| slots.recent_done.pop_front());
            slots.recent_done.push_back(slot);
            forgotten
        });
        // The oldest done delivery is freed here, not under the lock.
        Box::pin(std::future::ready(Ok(done.is_some())))
    }

    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let retried = self.finish(lease, |slots, digest| {
            slots.reschedule(digest, Some(Instant::now() + delay));
            let slot = slots.slot(digest);
            slot.state = State::Retrying;
            slot.last_error = attempt.error().map(str::to_owned);
            slot.updated_at = attempt.finished_at();
            slot.log_attempt(attempt.clone());
        });
        Box::pin(std::future::ready(Ok(retried.is_some())))
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let dead = self.finish(lease, |slots, digest| {
            slots.reschedule(digest, None);
            slots.active -= 1;
            let slot = slots.slot(digest);
            slot.state = State::Dead;
            slot.last_error = attempt.error().map(str::to_owned);
            slot.updated_at = attempt.finished_at();
            slot.log_attempt(attempt.clone());
        });
        Box::pin(std::future::ready(Ok(dead.is_some())))
    }

    fn abandon<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: Option<&'a AttemptRecord>,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let handed_back = self.finish(lease, |slots, digest| {
            slots.reschedule(digest, Some(Instant::now()));
            let slot = slots.slot(digest);
            slot.state = State::Pending;
            slot.attempts = slot.attempts.saturating_sub(1);
            slot.token = 0;
            slot.updated_at = SystemTime::now();
            if let Some(attempt) = attempt {
                slot.log_attempt(attempt.clone());
            }
        });
        Box::pin(std::future::ready(Ok(handed_back.is_some())))
    }

    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>> {
        let mut slots = self.slots();
        let held = slots.by_id(id).map(|slot| (slot.digest, slot.state));
        let outcome = match held {
            // A done delivery still remembered is not dead, as `get` shows.
            None if slots.recent_done.iter().any(|done| done.delivery.id() == id) => {
                Replay::NotDead
            }
            None => Replay::NotFound,
            Some((_, state)) if state != State::Dead => Replay::NotDead,
            Some((digest, _)) => {
                let now = Instant::now();
                let slot = slots.slot(digest);
                slot.state = State::Pending;
                slot.attempts = 0;
                slot.updated_at = SystemTime::now();
                slot.due = now;
                let entry = (now, slot.seq, digest);
                slots.active += 1;
                slots.due.insert(entry);
                Replay::Replayed
            }
        };
        Box::pin(std::future::ready(Ok(outcome)))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        let mut slots = self.slots();
        let record = match slots.by_id(id) {
            Some(slot) => Some(Self::record(slot)),
            None => slots
                .recent_done
                .iter()
                .rev()
                .find(|done| done.delivery.id() == id)
                .map(Self::record),
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
            let records = slots.recent_done.iter().map(Self::record);
            records.enumerate().map(|(i, r)| (i as u64, r)).collect()
        } else {
            let mut held: Vec<&Slot> =
                slots.by_key.iter().filter(|slot| slot.state == state).collect();
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
        for slot in &slots.by_key {
            stats.set(slot.state, stats.count(slot.state) + 1);
            if slot.state == State::Pending {
                oldest = Some(oldest.map_or(slot.accepted, |o| o.min(slot.accepted)));
            }
        }
        stats.done = self.shared.done.len() as u64;
        stats.oldest_pending = oldest.map(|at| at.elapsed());
        Box::pin(std::future::ready(Ok(stats)))
    }

    fn purge(&self) -> BoxFuture<'_, Result<u64, InboxError>> {
        // The done set also forgets expired keys by itself, a shard at a
        // time, as keys arrive.
        Box::pin(std::future::ready(Ok(self.shared.done.purge_expired() as u64)))
    }

    fn is_durable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::inbox::AttemptOutcome;

    #[tokio::test]
    async fn only_the_last_done_deliveries_are_kept_whole() {
        let inbox = MemoryInbox::new();
        let total = RECENT_DONE + 3;
        for n in 0..total {
            let delivery = Delivery::new(format!("evt_{n}"), "ping", "1", "{}".into());
            assert_eq!(inbox.accept(&delivery.into()).await.unwrap(), Accept::Accepted);
            let leased = inbox.lease(1, Duration::from_secs(30)).await.unwrap();
            let handled = AttemptRecord::new(1, AttemptOutcome::Handled, Duration::ZERO);
            assert!(inbox.complete(&leased[0].lease, &handled).await.unwrap());
        }
        let done = inbox.list(State::Done, total, None).await.unwrap();
        let ids: Vec<&str> = done.records.iter().map(|r| r.delivery.id()).collect();
        let expected: Vec<String> =
            (total - RECENT_DONE..total).map(|n| format!("evt_{n}")).collect();
        assert_eq!(ids, expected, "the newest, oldest first");
        for n in 0..3 {
            let id = format!("evt_{n}");
            assert!(inbox.get(&id).await.unwrap().is_none(), "{id} is no longer kept whole");
            let again = Delivery::new(id, "ping", "1", "{}".into());
            assert_eq!(
                inbox.accept(&again.into()).await.unwrap(),
                Accept::Duplicate,
                "but remembered"
            );
        }
        assert!(inbox.get("evt_3").await.unwrap().is_some());
    }
}

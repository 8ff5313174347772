//! The in-memory idempotency store.

use std::fmt;
use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::{Claim, ClaimToken, IdempotencyStore, StoreError};
use crate::future::BoxFuture;
use crate::lock::{Mutex, MutexGuard};

const DEFAULT_MAX_ENTRIES: usize = 1_000_000;
const DEFAULT_SHARDS: usize = 64;
const DEFAULT_NAMESPACE: &str = "default";
/// How often (at most) a shard drops its expired entries, in milliseconds.
const SWEEP_EVERY_MS: u64 = 1_000;
/// How often (at most) a full store says so in the log, in milliseconds.
const WARN_EVERY_MS: u64 = 10_000;

/// An idempotency store in this process's memory: sharded, bounded, with
/// expiry. The default store.
///
/// **It dedupes within one process only.** Two replicas behind a load
/// balancer each have their own `MemoryStore`, so a retry that lands on the
/// other replica is processed again, and a restart forgets every key. Use a
/// shared store (`RedisStore`, `PostgresStore`) to dedupe across processes
/// and restarts.
///
/// * **Sharded**: keys are spread over independently locked shards, so
///   concurrent claims of different keys rarely wait for each other; claims
///   of one key are serialised by its shard's lock, so exactly one wins.
/// * **Small keys**: each key is kept as a 128-bit digest of the namespace
///   and the key (SipHash with a random key of the store's own, so digests
///   cannot be predicted or made to collide from outside), never as the
///   string; a claim keeps a 64-bit digest of its token. An entry is 32
///   bytes, key and state side by side, in a table kept between 3/8 and
///   3/4 full: 43 to 85 bytes per key whatever its length (about 67 at
///   1,000,000 keys).
/// * **Bounded**: at most [`max_entries`](MemoryStoreBuilder::max_entries)
///   entries (default 1,000,000), split evenly between the shards. A full
///   shard first drops its expired entries, then evicts the completed keys
///   closest to expiry (logged as a warning: dedupe is then shorter than
///   the retention asked for). Claims in flight are never evicted; a shard
///   full of them refuses new claims with a [`StoreError`].
/// * **Expiry**: expired claims and retained keys are claimable again at
///   once, and their memory is reclaimed by a sweep at most once a second
///   per shard, on the next claim.
///
/// Clones share the same entries and namespace; [`with_namespace`]
/// gives a handle on the same entries under another namespace.
///
/// ```
/// use std::time::Duration;
/// use hookwarden::store::{Claim, ClaimToken, IdempotencyStore, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hookwarden::store::StoreError> {
/// let orders = MemoryStore::builder().namespace("orders").max_entries(100_000).build();
/// let billing = orders.with_namespace("billing");
///
/// let lease = Duration::from_secs(30);
/// let token = ClaimToken::random();
/// assert_eq!(orders.claim("evt_1", &token, lease).await?, Claim::Claimed(token.clone()));
/// assert_eq!(orders.claim("evt_1", &ClaimToken::random(), lease).await?, Claim::InFlight);
/// // Another namespace is another key space.
/// let other = ClaimToken::random();
/// assert_eq!(billing.claim("evt_1", &other, lease).await?, Claim::Claimed(other));
///
/// assert!(orders.complete("evt_1", &token, Duration::from_secs(86_400)).await?);
/// assert_eq!(orders.claim("evt_1", &ClaimToken::random(), lease).await?, Claim::Done);
/// # Ok(())
/// # }
/// ```
///
/// [`with_namespace`]: MemoryStore::with_namespace
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
    namespace: Arc<str>,
    /// The two digest halves' states after the namespace: cloned per key.
    prefix: [DefaultHasher; 2],
}

/// Configures a [`MemoryStore`]; from [`MemoryStore::builder`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    namespace: String,
    max_entries: usize,
    shards: usize,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            max_entries: DEFAULT_MAX_ENTRIES,
            shards: DEFAULT_SHARDS,
        }
    }
}

impl MemoryStoreBuilder {
    /// The namespace of the built store's keys (default `"default"`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The most entries (claims in flight and retained keys, across every
    /// namespace of the store) kept at once; default 1,000,000, about 67 MB
    /// when full.
    ///
    /// The bound is split evenly between the shards, so eviction may begin
    /// a little before the store as a whole is full.
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries.max(1);
        self
    }

    /// The number of shards, rounded up to a power of two (default 64), and
    /// lowered if needed so that every shard can hold at least one entry.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let mut shards = self.shards.next_power_of_two();
        while shards > self.max_entries {
            shards /= 2;
        }
        let shards = shards.max(1);
        let shared = Shared {
            shards: (0..shards).map(|_| Shard::default()).collect(),
            shard_mask: shards - 1,
            per_shard: self.max_entries / shards,
            max_entries: self.max_entries,
            epoch: Instant::now(),
            seed: RandomState::new(),
            last_warning: AtomicU64::new(0),
        };
        MemoryStore::on(Arc::new(shared), &self.namespace)
    }
}

impl MemoryStore {
    /// A store with the default settings: namespace `"default"`, at most
    /// 1,000,000 entries, 64 shards.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a store.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    /// A handle on the same entries (and bound) under another namespace.
    pub fn with_namespace(&self, namespace: impl AsRef<str>) -> Self {
        Self::on(self.shared.clone(), namespace.as_ref())
    }

    /// This handle's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The number of entries held, across every namespace, including
    /// expired ones not yet swept.
    pub fn len(&self) -> usize {
        self.shared.shards.iter().map(|s| s.lock().table.len()).sum()
    }

    /// Whether the store holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An estimate of the memory the store's tables take, in bytes (for
    /// metrics and for sizing [`max_entries`](MemoryStoreBuilder::max_entries)).
    pub fn memory_usage(&self) -> usize {
        self.shared.shards.iter().map(|s| s.lock().table.heap_bytes()).sum::<usize>()
            + self.shared.shards.len() * size_of::<Shard>()
    }

    fn on(shared: Arc<Shared>, namespace: &str) -> Self {
        // Two halves: one keyed function over two domains.
        let prefix = [0_u8, 1].map(|half| {
            let mut state = shared.seed.build_hasher();
            state.write_u8(half);
            state.write_u64(namespace.len() as u64);
            state.write(namespace.as_bytes());
            state
        });
        Self { shared, namespace: namespace.into(), prefix }
    }

    fn key(&self, key: &str) -> Key {
        let [a, b] = self.prefix.clone().map(|mut state| {
            state.write(key.as_bytes());
            state.finish()
        });
        // An all-zero first word marks an empty slot: never a key's.
        Key(a | 1, b)
    }

    /// Claims `key` with a fresh token (for the in-memory inbox).
    pub(crate) fn claim_now(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        self.claim_with(key, &ClaimToken::random(), lease)
    }

    fn claim_with(
        &self,
        key: &str,
        token: &ClaimToken,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let key = self.key(key);
        let tag = tag(token);
        let shared = &*self.shared;
        let mut shard = shared.shard(key);
        // The clock is read under the lock, so that the order of claims is
        // the order of their times: read before, a claim that waited for
        // the lock would judge an entry written since by an earlier time,
        // and see a claim that already ran out as still held.
        let now = shared.now_ms();
        let until = now.saturating_add(millis(lease));
        if now >= shard.next_sweep {
            shard.table.retain(|slot| slot.until > now);
            shard.next_sweep = now + SWEEP_EVERY_MS;
        }
        let fresh = Slot { until, tag };
        match shard.table.find(key) {
            Some(i) => {
                let slot = shard.table.slot_mut(i);
                if slot.until > now {
                    return Ok(match slot.tag {
                        DONE => Claim::Done,
                        held if held == tag => Claim::Claimed(token.clone()),
                        _ => Claim::InFlight,
                    });
                }
                *slot = fresh;
            }
            None => {
                if shard.table.len() >= shared.per_shard {
                    shared.make_room(&mut shard, now)?;
                }
                shard.table.insert_new(key, fresh);
            }
        }
        Ok(Claim::Claimed(token.clone()))
    }

    pub(crate) fn complete_now(&self, key: &str, token: &ClaimToken, retain: Duration) -> bool {
        let key = self.key(key);
        let shared = &*self.shared;
        let mut shard = shared.shard(key);
        let now = shared.now_ms();
        let Some(i) = shard.table.find(key) else { return false };
        let slot = shard.table.slot_mut(i);
        if !holds(slot, token, now) {
            return false;
        }
        if retain.is_zero() {
            shard.table.remove_at(i);
        } else {
            *slot = Slot { until: now.saturating_add(millis(retain)), tag: DONE };
        }
        true
    }

    pub(crate) fn release_now(&self, key: &str, token: &ClaimToken) -> bool {
        let key = self.key(key);
        let shared = &*self.shared;
        let mut shard = shared.shard(key);
        let now = shared.now_ms();
        let Some(i) = shard.table.find(key) else { return false };
        let held = holds(shard.table.slot_mut(i), token, now);
        if held {
            shard.table.remove_at(i);
        }
        held
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("namespace", &self.namespace)
            .field("max_entries", &self.shared.max_entries)
            .field("shards", &self.shared.shards.len())
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore for MemoryStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move { self.claim_with(key, token, lease) })
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.complete_now(key, token, retain)) })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.release_now(key, token)) })
    }
}

/// What every handle of one store shares.
struct Shared {
    shards: Box<[Shard]>,
    shard_mask: usize,
    /// The most entries one shard holds.
    per_shard: usize,
    max_entries: usize,
    /// Times are kept as milliseconds since this instant.
    epoch: Instant,
    /// The digest's key: random, so digests cannot be predicted from
    /// outside (no crafted collisions in the shard tables).
    seed: RandomState,
    last_warning: AtomicU64,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    fn shard(&self, key: Key) -> MutexGuard<'_, ShardState> {
        self.shards[(key.1 as usize) & self.shard_mask].lock()
    }

    /// Makes room for one entry in a full shard: drops expired entries,
    /// and if that is not enough, evicts about an eighth of the shard's
    /// completed keys, those closest to expiry.
    ///
    /// Usually one pass over the table: the eviction threshold is estimated
    /// from a sample of entries spread over it; an exact pass is the
    /// fallback when the sample says nothing.
    fn make_room(&self, shard: &mut ShardState, now: u64) -> Result<(), StoreError> {
        shard.next_sweep = now + SWEEP_EVERY_MS;
        let (mut sample, expired, seen) = shard.table.sample(now, 64);
        let evicted = if seen > 0 && expired * 8 < seen && !sample.is_empty() {
            sample.sort_unstable();
            let threshold = sample[(sample.len() - 1) / 8];
            shard
                .table
                .retain(|slot| slot.until > now && (slot.tag != DONE || slot.until > threshold))
        } else {
            shard.table.retain(|slot| slot.until > now);
            if shard.table.len() < self.per_shard {
                return Ok(());
            }
            let mut done: Vec<u64> = shard
                .table
                .slots()
                .filter(|slot| slot.tag == DONE)
                .map(|slot| slot.until)
                .collect();
            if done.is_empty() {
                return Err(StoreError::new(format!(
                    "in-memory store full: {} claims in flight in one shard (raise max_entries)",
                    shard.table.len()
                )));
            }
            let evict = (self.per_shard / 8).clamp(1, done.len());
            let (_, &mut threshold, _) = done.select_nth_unstable(evict - 1);
            shard.table.retain(|slot| slot.tag != DONE || slot.until > threshold)
        };
        let last = self.last_warning.load(Ordering::Relaxed);
        if (last == 0 || now >= last + WARN_EVERY_MS)
            && self
                .last_warning
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                target: "hookwarden::store",
                evicted,
                max_entries = self.max_entries,
                "in-memory idempotency store full: evicted the completed keys closest to \
                 expiry, so they are deduped for less than their retention; raise max_entries"
            );
        }
        Ok(())
    }
}

/// One lock's worth of entries, on its own cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<ShardState>);

impl Shard {
    fn lock(&self) -> MutexGuard<'_, ShardState> {
        // Nothing panics while the lock is held; a poisoned lock still
        // guards consistent entries.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct ShardState {
    table: Table,
    next_sweep: u64,
}

/// A key's 128-bit digest; the first word is never 0. Already uniformly
/// distributed: the first word places it in its table, the second picks
/// its shard.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Key(u64, u64);

/// The tag of a completed key; never a token's.
const DONE: u64 = 0;

/// A key's state: claimed (the [`tag`] of the claim's token) or done,
/// until a time in milliseconds since the store's epoch.
#[derive(Clone, Copy, Default)]
struct Slot {
    until: u64,
    tag: u64,
}

/// A token's 64-bit digest, never [`DONE`]: what a claim keeps of its
/// token. Two random tokens share one with a chance of about 1 in 2^64.
fn tag(token: &ClaimToken) -> u64 {
    let value = token.as_u128();
    match mix((value as u64) ^ mix((value >> 64) as u64)) {
        DONE => 1,
        tag => tag,
    }
}

/// Whether `token` holds the live claim in `slot`.
fn holds(slot: &Slot, token: &ClaimToken, now: u64) -> bool {
    slot.tag != DONE && slot.until > now && slot.tag == tag(token)
}

/// A key and its state, side by side: a lookup touches one cache line.
#[derive(Clone, Copy, Default)]
struct Entry {
    key: Key,
    slot: Slot,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.key.0 == 0
    }
}

/// An open-addressing hash table of entries: linear probing, at most 3/4
/// full, backward-shift deletion (no tombstones).
#[derive(Default)]
struct Table {
    /// A power of two in length, or empty.
    entries: Box<[Entry]>,
    len: usize,
}

impl Table {
    const MIN_CAPACITY: usize = 16;

    fn len(&self) -> usize {
        self.len
    }

    fn heap_bytes(&self) -> usize {
        self.entries.len() * size_of::<Entry>()
    }

    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    fn home(&self, key: Key) -> usize {
        (key.0 >> 1) as usize & self.mask()
    }

    /// Where `key` is, if it is here.
    fn find(&self, key: Key) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mut i = self.home(key);
        loop {
            let entry = &self.entries[i];
            if entry.key == key {
                return Some(i);
            }
            if entry.is_empty() {
                return None;
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Looks at up to `positions` entries spread evenly over the table:
    /// returns the expiry times of the live completed ones, how many were
    /// expired, and how many were looked at.
    fn sample(&self, now: u64, positions: usize) -> (Vec<u64>, usize, usize) {
        let mut done = Vec::with_capacity(positions);
        let (mut expired, mut seen) = (0, 0);
        let stride = (self.entries.len() / positions).max(1);
        for entry in self.entries.iter().step_by(stride).filter(|e| !e.is_empty()) {
            seen += 1;
            if entry.slot.until <= now {
                expired += 1;
            } else if entry.slot.tag == DONE {
                done.push(entry.slot.until);
            }
        }
        (done, expired, seen)
    }

    fn slot_mut(&mut self, i: usize) -> &mut Slot {
        &mut self.entries[i].slot
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.entries.iter().filter(|e| !e.is_empty()).map(|e| &e.slot)
    }

    /// Adds a key that is not here.
    fn insert_new(&mut self, key: Key, slot: Slot) {
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            self.resize((self.entries.len() * 2).max(Self::MIN_CAPACITY));
        }
        self.place(Entry { key, slot });
        self.len += 1;
    }

    fn place(&mut self, entry: Entry) {
        let mut i = self.home(entry.key);
        while !self.entries[i].is_empty() {
            i = (i + 1) & self.mask();
        }
        self.entries[i] = entry;
    }

    /// Removes the entry at `i`, moving later entries of its run back so
    /// that every entry stays reachable from its home.
    fn remove_at(&mut self, i: usize) {
        let mask = self.mask();
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let entry = self.entries[j];
            if entry.is_empty() {
                break;
            }
            // The entry may move to the hole if the hole is on its probe
            // path: no further from its home than where it is now.
            let home = self.home(entry.key);
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.entries[hole] = entry;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.entries[hole] = Entry::default();
        self.len -= 1;
    }

    /// Keeps the entries whose state passes `keep`; returns how many went.
    /// In place; shrinks the table if it became mostly empty.
    fn retain(&mut self, keep: impl Fn(&Slot) -> bool) -> usize {
        let before = self.len;
        let mut i = 0;
        while i < self.entries.len() {
            let entry = &self.entries[i];
            if !entry.is_empty() && !keep(&entry.slot) {
                // Later entries may shift into `i`: look at it again. An
                // entry can only shift back from later in its run, so none
                // is skipped (one that wrapped around may be seen twice).
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
        if self.len * 8 < self.entries.len() && self.entries.len() > Self::MIN_CAPACITY {
            self.resize((self.len * 2).next_power_of_two().max(Self::MIN_CAPACITY));
        }
        before - self.len
    }

    fn resize(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.entries, vec![Entry::default(); capacity].into());
        for entry in old.iter().filter(|e| !e.is_empty()) {
            self.place(*entry);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A bijective 64-bit mixer (the SplitMix64 finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(store: &MemoryStore, key: &str, lease: Duration) -> ClaimToken {
        match store.claim_now(key, lease).unwrap() {
            Claim::Claimed(token) => token,
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    #[test]
    fn entries_are_small() {
        assert_eq!(size_of::<Entry>(), 32);
    }

    /// The table against a `HashMap`, through inserts, removals (which
    /// shift runs back), takeovers and rebuilds, with clustered keys.
    #[test]
    fn table_agrees_with_a_map() {
        use std::collections::HashMap;
        let mut table = Table::default();
        let mut model: HashMap<(u64, u64), u64> = HashMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for step in 0..50_000_u64 {
            state = mix(state.wrapping_add(step));
            // Few distinct keys, many sharing a home: long runs.
            let key = Key(((state % 512) << 1) | 1 | ((state % 7) << 20), state % 3);
            let model_key = (key.0, key.1);
            match state >> 58 {
                0..=35 => match (table.find(key), model.get(&model_key)) {
                    (Some(i), Some(_)) => {
                        *table.slot_mut(i) = Slot { until: step, tag: step };
                        model.insert(model_key, step);
                    }
                    (None, None) => {
                        table.insert_new(key, Slot { until: step, tag: step });
                        model.insert(model_key, step);
                    }
                    (found, expected) => panic!("step {step}: {found:?} vs {expected:?}"),
                },
                36..=62 => match table.find(key) {
                    Some(i) => {
                        table.remove_at(i);
                        assert!(model.remove(&model_key).is_some(), "step {step}");
                    }
                    None => assert!(!model.contains_key(&model_key), "step {step}"),
                },
                _ => {
                    let cut = step.saturating_sub(2_000);
                    table.retain(|slot| slot.until > cut);
                    model.retain(|_, until| *until > cut);
                }
            }
            assert_eq!(table.len(), model.len());
        }
        for (&(a, b), &until) in &model {
            let i = table.find(Key(a, b)).expect("present");
            assert_eq!(table.slot_mut(i).until, until);
        }
        assert_eq!(table.slots().count(), model.len());
    }

    #[test]
    fn a_claim_holds_its_own_token_only() {
        let store = MemoryStore::new();
        let lease = Duration::from_secs(60);
        let a = claimed(&store, "a", lease);
        let b = claimed(&store, "b", lease);
        assert!(!store.complete_now("a", &b, lease));
        assert!(!store.release_now("b", &a));
        // Tokens that differ in one bit of either half.
        for bit in [0, 1, 63, 64, 127] {
            let near = ClaimToken::from_u128(a.as_u128() ^ (1 << bit));
            assert!(!store.complete_now("a", &near, lease), "bit {bit}");
        }
        // The same token again: still ours, the lease unchanged.
        assert_eq!(store.claim_with("a", &a, lease).unwrap(), Claim::Claimed(a.clone()));
        assert!(store.complete_now("a", &a, lease));
        assert_eq!(store.claim_with("a", &a, lease).unwrap(), Claim::Done);
    }

    #[test]
    fn small_tokens_get_distinct_tags() {
        let tags: std::collections::HashSet<u64> = (0..100_000_u128)
            .flat_map(|n| [n, n << 64])
            .map(|n| tag(&ClaimToken::from_u128(n)))
            .collect();
        assert_eq!(tags.len(), 200_000 - 1, "0 and 0 << 64 are one token");
        assert!(!tags.contains(&DONE));
    }

    #[test]
    fn a_full_shard_evicts_completed_keys_but_never_claims() {
        let store = MemoryStore::builder().max_entries(16).shards(1).build();
        let lease = Duration::from_secs(60);
        for i in 0..16 {
            let token = claimed(&store, &format!("done-{i}"), lease);
            assert!(store.complete_now(&format!("done-{i}"), &token, Duration::from_secs(60 + i)));
        }
        assert_eq!(store.len(), 16);
        // Evicts the two completed keys closest to expiry.
        claimed(&store, "new", lease);
        assert_eq!(store.len(), 15);
        assert!(matches!(store.claim_now("done-0", lease).unwrap(), Claim::Claimed(_)));
        assert_eq!(store.claim_now("done-15", lease).unwrap(), Claim::Done);

        let full = MemoryStore::builder().max_entries(4).shards(1).build();
        for i in 0..4 {
            claimed(&full, &format!("k{i}"), lease);
        }
        assert!(full.claim_now("one more", lease).is_err());
        assert_eq!(full.claim_now("k0", lease).unwrap(), Claim::InFlight);
    }

    #[test]
    fn shards_never_exceed_the_bound() {
        let store = MemoryStore::builder().max_entries(5).shards(64).build();
        assert_eq!(store.shared.shards.len(), 4);
        assert_eq!(store.shared.per_shard, 1);
    }

    #[test]
    fn debug_shows_no_seed() {
        let text = format!("{:?}", MemoryStore::builder().namespace("orders").build());
        assert!(text.contains("orders"), "{text}");
        assert!(!text.contains("seed") && !text.contains("secret"), "{text}");
    }
}

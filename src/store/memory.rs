//! The in-memory idempotency store.

use std::fmt;
use std::hash::Hasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use siphasher::sip128::{Hasher128 as _, SipHasher13};

use super::{Claim, ClaimToken, IdempotencyStore, StoreError};
use crate::future::BoxFuture;
use crate::lock::{Mutex, MutexGuard};

const DEFAULT_MAX_ENTRIES: usize = 1_000_000;
/// Many small shards: a table grows by rehashing all its entries at once,
/// under its shard's lock, so the shards are kept small enough that this
/// stays short (about 900 entries each at the default bound, where 64
/// shards of 15,000 took up to a millisecond each).
const MAX_DEFAULT_SHARDS: usize = 1024;
/// The default number of shards leaves at least this many entries to each.
const MIN_DEFAULT_SHARE: usize = 512;
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
///   and the key (SipHash-1-3 with a random key of the store's own, one
///   pass, so digests cannot be predicted or made to collide from outside),
///   never as the string; a claim keeps a 64-bit digest of its token. An
///   entry is 32 bytes, key and state side by side, in a
///   [`hashbrown`](https://docs.rs/hashbrown) table: 37 to 73 bytes per
///   key whatever its length.
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
    /// The digest's state after the namespace: copied per key.
    prefix: SipHasher13,
}

/// Configures a [`MemoryStore`]; from [`MemoryStore::builder`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    namespace: String,
    max_entries: usize,
    /// `None`: as many as suit `max_entries`.
    shards: Option<usize>,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            max_entries: DEFAULT_MAX_ENTRIES,
            shards: None,
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
    /// namespace of the store) kept at once; default 1,000,000, about 73 MB
    /// when full.
    ///
    /// The bound is split between the shards, each allowed a margin over its
    /// even share (four standard deviations of how uniform keys spread: 13%
    /// at the default) so that `max_entries` keys fit before any shard
    /// evicts; the store may then hold up to that much more.
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries.max(1);
        self
    }

    /// The number of shards, rounded up to a power of two, and lowered if
    /// needed so that every shard can hold at least one entry. The default
    /// suits `max_entries`: up to 1024, with at least 512 entries each (1024
    /// at the default bound), so that growing one shard's table stays short.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards.max(1));
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let mut shards = match self.shards {
            Some(shards) => shards.next_power_of_two(),
            // The largest power of two that leaves each its minimum share.
            None => {
                1 << (self.max_entries / MIN_DEFAULT_SHARE).clamp(1, MAX_DEFAULT_SHARDS).ilog2()
            }
        };
        while shards > self.max_entries {
            shards /= 2;
        }
        let shards = shards.max(1);
        let shared = Shared {
            shards: (0..shards).map(|_| Shard::default()).collect(),
            shard_mask: shards - 1,
            per_shard: per_shard(self.max_entries, shards),
            max_entries: self.max_entries,
            epoch: Instant::now(),
            seed: (crate::random::random_u64(), crate::random::random_u64()),
            last_warning: AtomicU64::new(0),
        };
        MemoryStore::on(Arc::new(shared), &self.namespace)
    }
}

impl MemoryStore {
    /// A store with the default settings: namespace `"default"`, at most
    /// 1,000,000 entries, 1024 shards.
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
        self.shared.shards.iter().map(|s| s.lock().table.allocation_size()).sum::<usize>()
            + self.shared.shards.len() * size_of::<Shard>()
    }

    fn on(shared: Arc<Shared>, namespace: &str) -> Self {
        let mut prefix = SipHasher13::new_with_keys(shared.seed.0, shared.seed.1);
        prefix.write_u64(namespace.len() as u64);
        prefix.write(namespace.as_bytes());
        Self { shared, namespace: namespace.into(), prefix }
    }

    /// The key's digest under this handle's namespace: one pass of
    /// SipHash-1-3 with 128 bits out.
    pub(crate) fn digest(&self, key: &str) -> Digest {
        let mut state = self.prefix;
        state.write(key.as_bytes());
        let hash = state.finish128();
        Digest(hash.h1, hash.h2)
    }

    /// Claims `key` with a fresh token.
    #[cfg(test)]
    fn claim_now(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        self.claim_with(key, &ClaimToken::random(), lease)
    }

    fn claim_with(
        &self,
        key: &str,
        token: &ClaimToken,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let key = self.digest(key);
        let tag = tag(token);
        let shared = &*self.shared;
        let mut shard = shared.shard(key);
        // The clock is read under the lock, so that the order of claims is
        // the order of their times: read before, a claim that waited for
        // the lock would judge an entry written since by an earlier time,
        // and see a claim that already ran out as still held.
        let now = shared.now_ms();
        let until = now.saturating_add(millis(lease));
        shard.sweep_if_due(now);
        let fresh = Slot { until, tag };
        if let Some(slot) = shard.find_mut(key) {
            if slot.until > now {
                return Ok(match slot.tag {
                    DONE => Claim::Done,
                    held if held == tag => Claim::Claimed(token.clone()),
                    _ => Claim::InFlight,
                });
            }
            *slot = fresh;
        } else {
            if shard.table.len() >= shared.per_shard {
                shared.make_room(&mut shard, now)?;
            }
            shard.insert_new(key, fresh);
        }
        Ok(Claim::Claimed(token.clone()))
    }

    fn complete_with(&self, key: &str, token: &ClaimToken, retain: Duration) -> bool {
        let key = self.digest(key);
        let shared = &*self.shared;
        let mut shard = shared.shard(key);
        let now = shared.now_ms();
        let Some(slot) = shard.find_mut(key) else { return false };
        if !holds(slot, token, now) {
            return false;
        }
        if retain.is_zero() {
            shard.remove(key);
        } else {
            *slot = Slot { until: now.saturating_add(millis(retain)), tag: DONE };
        }
        true
    }

    fn release_with(&self, key: &str, token: &ClaimToken) -> bool {
        let key = self.digest(key);
        let shared = &*self.shared;
        let mut shard = shared.shard(key);
        let now = shared.now_ms();
        let held = shard.find_mut(key).is_some_and(|slot| holds(slot, token, now));
        if held {
            shard.remove(key);
        }
        held
    }

    /// Whether the key with this digest is remembered as done (for the
    /// in-memory inbox, which holds its pending keys itself).
    pub(crate) fn is_done(&self, key: Digest) -> bool {
        let shared = &*self.shared;
        let mut shard = shared.shard(key);
        // The clock is read only for a key that is here (new keys are not).
        shard.find_mut(key).is_some_and(|slot| slot.tag == DONE && slot.until > shared.now_ms())
    }

    /// Forgets every expired entry now; returns how many went.
    pub(crate) fn purge_expired(&self) -> usize {
        let now = self.shared.now_ms();
        let mut purged = 0;
        for shard in &self.shared.shards {
            let mut shard = shard.lock();
            purged += shard.retain(|slot| slot.until > now);
            shard.next_sweep = now + SWEEP_EVERY_MS;
        }
        purged
    }

    /// Remembers the key with this digest as done for `retain` (for the
    /// in-memory inbox): makes room by forgetting the done keys closest to
    /// expiry when the shard is full.
    pub(crate) fn remember_done(&self, key: Digest, retain: Duration) {
        if retain.is_zero() {
            return;
        }
        let shared = &*self.shared;
        let mut shard = shared.shard(key);
        let now = shared.now_ms();
        shard.sweep_if_due(now);
        let done = Slot { until: now.saturating_add(millis(retain)), tag: DONE };
        if let Some(slot) = shard.find_mut(key) {
            *slot = done;
            return;
        }
        if shard.table.len() >= shared.per_shard && shared.make_room(&mut shard, now).is_err() {
            // Only claims in flight fill the shard, and the inbox makes
            // none: unreachable there, and forgetting is the bounded answer.
            return;
        }
        shard.insert_new(key, done);
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
        Box::pin(async move { Ok(self.complete_with(key, token, retain)) })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.release_with(key, token)) })
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
    seed: (u64, u64),
    last_warning: AtomicU64,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    fn shard(&self, key: Digest) -> MutexGuard<'_, ShardState> {
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
        let (mut sample, expired, seen) = shard.sample(now, 64);
        let evicted = if seen > 0 && expired * 8 < seen && !sample.is_empty() {
            sample.sort_unstable();
            let threshold = sample[(sample.len() - 1) / 8];
            shard.retain(|slot| slot.until > now && (slot.tag != DONE || slot.until > threshold))
        } else {
            shard.retain(|slot| slot.until > now);
            if shard.table.len() < self.per_shard {
                return Ok(());
            }
            let mut done: Vec<u64> = shard
                .table
                .iter()
                .filter(|entry| entry.slot.tag == DONE)
                .map(|entry| entry.slot.until)
                .collect();
            if done.is_empty() {
                return Err(StoreError::new(format!(
                    "in-memory store full: {} claims in flight in one shard (raise max_entries)",
                    shard.table.len()
                )));
            }
            let evict = (self.per_shard / 8).clamp(1, done.len());
            let (_, &mut threshold, _) = done.select_nth_unstable(evict - 1);
            shard.retain(|slot| slot.tag != DONE || slot.until > threshold)
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

/// One shard's entries: a key and its state side by side, so a lookup
/// touches one cache line. The digest is already uniform: its first word is
/// the table's hash, its second picks the shard.
#[derive(Default)]
struct ShardState {
    table: HashTable<Entry>,
    next_sweep: u64,
}

impl ShardState {
    fn find_mut(&mut self, key: Digest) -> Option<&mut Slot> {
        self.table.find_mut(key.0, |entry| entry.key == key).map(|entry| &mut entry.slot)
    }

    /// Adds a key that is not here.
    fn insert_new(&mut self, key: Digest, slot: Slot) {
        self.table.insert_unique(key.0, Entry { key, slot }, Entry::hash);
    }

    fn remove(&mut self, key: Digest) {
        if let Ok(entry) = self.table.find_entry(key.0, |entry| entry.key == key) {
            entry.remove();
        }
    }

    /// Drops expired entries, at most once a second.
    fn sweep_if_due(&mut self, now: u64) {
        if now >= self.next_sweep {
            self.retain(|slot| slot.until > now);
            self.next_sweep = now + SWEEP_EVERY_MS;
        }
    }

    /// Keeps the entries whose state passes `keep`; returns how many went.
    /// Shrinks the table if it became mostly empty.
    fn retain(&mut self, keep: impl Fn(&Slot) -> bool) -> usize {
        let before = self.table.len();
        self.table.retain(|entry| keep(&entry.slot));
        if self.table.len() * 8 < self.table.capacity() && self.table.capacity() > 64 {
            self.table.shrink_to(self.table.len() * 2, Entry::hash);
        }
        before - self.table.len()
    }

    /// Looks at up to `count` entries spread evenly over the table: returns
    /// the expiry times of the live completed ones, how many were expired,
    /// and how many were looked at.
    fn sample(&self, now: u64, count: usize) -> (Vec<u64>, usize, usize) {
        let mut done = Vec::with_capacity(count);
        let (mut expired, mut seen) = (0, 0);
        let stride = (self.table.len() / count).max(1);
        for entry in self.table.iter().step_by(stride) {
            seen += 1;
            if entry.slot.until <= now {
                expired += 1;
            } else if entry.slot.tag == DONE {
                done.push(entry.slot.until);
            }
        }
        (done, expired, seen)
    }
}

/// A key's 128-bit keyed digest (see [`MemoryStore::digest`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Digest(u64, u64);

impl Digest {
    /// A well-mixed 64-bit hash of the key, for tables of the caller's.
    pub(crate) fn hash(self) -> u64 {
        self.0
    }
}

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

/// A key and its state.
#[derive(Clone, Copy)]
struct Entry {
    key: Digest,
    slot: Slot,
}

impl Entry {
    fn hash(&self) -> u64 {
        self.key.0
    }
}

/// Each shard's bound: an even share of `max_entries`, plus, for shares
/// large enough to tell, four standard deviations of how evenly uniform
/// keys spread, so that the store holds `max_entries` keys before any shard
/// evicts (a share of 976 gets 124 more).
fn per_shard(max_entries: usize, shards: usize) -> usize {
    let share = max_entries / shards;
    if shards == 1 || share < 256 { share } else { share + 4 * share.isqrt() }
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

    #[test]
    fn a_claim_holds_its_own_token_only() {
        let store = MemoryStore::new();
        let lease = Duration::from_secs(60);
        let a = claimed(&store, "a", lease);
        let b = claimed(&store, "b", lease);
        assert!(!store.complete_with("a", &b, lease));
        assert!(!store.release_with("b", &a));
        // Tokens that differ in one bit of either half.
        for bit in [0, 1, 63, 64, 127] {
            let near = ClaimToken::from_u128(a.as_u128() ^ (1 << bit));
            assert!(!store.complete_with("a", &near, lease), "bit {bit}");
        }
        // The same token again: still ours, the lease unchanged.
        assert_eq!(store.claim_with("a", &a, lease).unwrap(), Claim::Claimed(a.clone()));
        assert!(store.complete_with("a", &a, lease));
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
            assert!(store.complete_with(&format!("done-{i}"), &token, Duration::from_secs(60 + i)));
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
    fn each_shard_gets_a_margin_over_its_even_share() {
        let store = MemoryStore::new();
        assert_eq!(store.shared.shards.len(), 1024);
        assert_eq!(store.shared.per_shard, 976 + 124);
        assert_eq!(per_shard(1_000_000, 64), 16_125);
        assert_eq!(per_shard(16, 1), 16);
        assert_eq!(per_shard(1000, 4), 250);
    }

    #[test]
    fn small_stores_get_fewer_shards() {
        let shards = |max| MemoryStore::builder().max_entries(max).build().shared.shards.len();
        assert_eq!(shards(10_000), 16);
        assert_eq!(shards(100), 1);
        assert_eq!(shards(600_000), 1024);
        assert_eq!(shards(100_000_000), 1024);
        let explicit = MemoryStore::builder().max_entries(10_000).shards(64).build();
        assert_eq!(explicit.shared.shards.len(), 64);
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

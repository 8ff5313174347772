//! The Redis inbox (feature `redis`).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::ConnectionManager;
use ::redis::{FromRedisValue, Script, ScriptInvocation};
use bytes::Bytes;

use super::attempt::parse_lines;
use super::{
    Accept, AttemptRecord, Cursor, DEFAULT_CAPACITY, DEFAULT_RETAIN, Inbox, InboxError, InboxStats,
    Lease, Leased, Page, Record, Replay, State,
};
use crate::backend::redis::{
    DEFAULT_KEY_PREFIX, DEFAULT_NAMESPACE, DEFAULT_TIMEOUT, Source, bounded, digest_hex, ping,
};
use crate::backend::whole_millis;
use crate::background::event::Delivery;
use crate::future::BoxFuture;

/// The most deliveries one [`Inbox::lease`] call hands out.
const MAX_LEASE: usize = 1000;
/// Connections opened from a URL, by default.
const DEFAULT_CONNECTIONS: usize = 4;
/// The most done deliveries one purge script forgets.
const PURGE_BATCH: usize = 500;
/// The longest delay, lease or retention in milliseconds (about 100
/// years), so that times stay exact in Lua's numbers.
const MAX_MILLIS: i64 = 100 * 365 * 24 * 60 * 60 * 1000;

/// The keys every script gets, after the namespace's base, in this order
/// (`KEYS[1]` to `KEYS[9]`); a script about one delivery gets its hash as
/// `KEYS[10]`.
const FIXED_KEYS: [&str; 9] =
    ["due", "pending", "leased", "retrying", "dead", "done", "ids", "done-ids", "seq"];

/// Names the keys, reads the server's clock, moves a delivery between the
/// per-state sets, and adds to its attempt log. `ARGV[1]` is the prefix of
/// the delivery hashes.
///
/// The attempt log is the hash's `log` field: one JSON record a line,
/// oldest first, the last `MAX_LOG` ([`MAX_ATTEMPT_LOG`](super::MAX_ATTEMPT_LOG));
/// a line is added, and the first dropped, without parsing the JSON.
const PRELUDE: &str = r"
local MAX_LOG = 20
local DUE, DONE, IDS, DONE_IDS, SEQ = KEYS[1], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local SETS = { pending = KEYS[2], leased = KEYS[3], retrying = KEYS[4], dead = KEYS[5] }
local PREFIX = ARGV[1]
local function n(x) return string.format('%d', x) end
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function slot(seq, digest) return string.format('%016x', tonumber(seq)) .. digest end
local function move(digest, seq, from, to)
    if SETS[from] then redis.call('ZREM', SETS[from], digest) end
    if SETS[to] then redis.call('ZADD', SETS[to], seq, digest) end
end
local function held(d, token)
    local f = redis.call('HMGET', d, 'state', 'token')
    return f[1] == 'leased' and f[2] == token
end
local function log_attempt(d, line)
    if line == nil or line == '' then return end
    local log = redis.call('HGET', d, 'log')
    if not log or log == '' then
        log = line
    else
        local _, lines = string.gsub(log, '\n', '')
        if lines >= MAX_LOG - 1 then
            log = string.sub(log, string.find(log, '\n', 1, true) + 1)
        end
        log = log .. '\n' .. line
    end
    redis.call('HSET', d, 'log', log)
end
";

/// The dedupe check and the write, in one step. `ARGV`: 2 digest, 3 key,
/// 4 id, 5 type, 6 version, 7 ts, 8 received_at, 9 client_ip, 10 body,
/// 11 capacity, 12 scheme.
static ACCEPT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local d, digest, id = KEYS[10], ARGV[2], ARGV[4]
if redis.call('EXISTS', d) == 1 then return 'duplicate' end
if redis.call('ZCARD', DUE) >= tonumber(ARGV[11]) then return 'full' end
local old = redis.call('HGET', DONE_IDS, digest)
if old then
    if redis.call('HGET', IDS, old) == digest then redis.call('HDEL', IDS, old) end
    redis.call('HDEL', DONE_IDS, digest)
end
redis.call('ZREM', DONE, digest)
local now = n(now_ms())
local seq = redis.call('INCR', SEQ)
-- The hash last: a script cut short never leaves a duplicate without a delivery.
redis.call('ZADD', DUE, now, slot(seq, digest))
redis.call('ZADD', SETS.pending, seq, digest)
redis.call('HSET', d, 'id', id, 'key', ARGV[3], 'type', ARGV[5], 'version', ARGV[6],
    'ts', ARGV[7], 'received_at', ARGV[8], 'client_ip', ARGV[9], 'body', ARGV[10],
    'state', 'pending', 'attempts', '0', 'due', now, 'seq', n(seq), 'accepted', now,
    'updated', now, 'scheme', ARGV[12])
redis.call('HSET', IDS, id, digest)
return 'accepted'
",
    )
});

/// Leases what is due, oldest first. `ARGV`: 2 max, 3 lease ms, 4… one
/// fresh token per delivery. One still leased lost its lease: that
/// attempt is logged as lost, when its lease ran out.
static LEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local expiry = n(now + tonumber(ARGV[3]))
local due = redis.call('ZRANGEBYSCORE', DUE, '-inf', n(now), 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i, member in ipairs(due) do
    local digest = string.sub(member, 17)
    local d = PREFIX .. digest
    local f = redis.call('HMGET', d, 'state', 'seq', 'attempts', 'due')
    if f[1] == 'pending' or f[1] == 'retrying' or f[1] == 'leased' then
        if f[1] == 'leased' then
            log_attempt(d, string.format('{"n":%d,"at":%d,"outcome":"lost"}',
                tonumber(f[3]), tonumber(f[4])))
        end
        move(digest, f[2], f[1], 'leased')
        redis.call('ZADD', DUE, expiry, member)
        redis.call('HINCRBY', d, 'attempts', 1)
        redis.call('HSET', d, 'state', 'leased', 'token', ARGV[3 + i], 'due', expiry,
            'updated', n(now))
        out[#out + 1] = redis.call('HGETALL', d)
    else
        redis.call('ZREM', DUE, member)
    end
end
return out
"#,
    )
});

/// `ARGV`: 2 token, 3 lease ms.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local d = KEYS[10]
if not held(d, ARGV[2]) then return 0 end
local expiry = n(now_ms() + tonumber(ARGV[3]))
redis.call('ZADD', DUE, expiry, slot(redis.call('HGET', d, 'seq'), string.sub(d, #PREFIX + 1)))
redis.call('HSET', d, 'due', expiry)
return 1
",
    )
});

/// Done: out of the due set, remembered (without its body) for the
/// retention. `ARGV`: 2 token, 3 retain ms, 4 the attempt's log line.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local d = KEYS[10]
if not held(d, ARGV[2]) then return 0 end
local now = n(now_ms())
local digest = string.sub(d, #PREFIX + 1)
local f = redis.call('HMGET', d, 'seq', 'id')
redis.call('ZREM', DUE, slot(f[1], digest))
move(digest, f[1], 'leased', 'done')
redis.call('HDEL', d, 'body', 'token')
redis.call('HSET', d, 'state', 'done', 'due', now, 'updated', now)
log_attempt(d, ARGV[4])
redis.call('PEXPIRE', d, ARGV[3])
redis.call('ZADD', DONE, now, digest)
redis.call('HSET', DONE_IDS, digest, f[2])
return 1
",
    )
});

/// `ARGV`: 2 token, 3 delay ms, 4 error (empty for none), 5 the attempt's
/// log line.
static RETRY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local d = KEYS[10]
if not held(d, ARGV[2]) then return 0 end
local now = now_ms()
local due = n(now + tonumber(ARGV[3]))
local digest = string.sub(d, #PREFIX + 1)
local seq = redis.call('HGET', d, 'seq')
redis.call('ZADD', DUE, due, slot(seq, digest))
move(digest, seq, 'leased', 'retrying')
redis.call('HDEL', d, 'token')
redis.call('HSET', d, 'state', 'retrying', 'due', due, 'updated', n(now), 'last_error', ARGV[4])
log_attempt(d, ARGV[5])
return 1
",
    )
});

/// `ARGV`: 2 token, 3 error (empty for none), 4 the attempt's log line.
static DEAD_LETTER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local d = KEYS[10]
if not held(d, ARGV[2]) then return 0 end
local now = n(now_ms())
local digest = string.sub(d, #PREFIX + 1)
local seq = redis.call('HGET', d, 'seq')
redis.call('ZREM', DUE, slot(seq, digest))
move(digest, seq, 'leased', 'dead')
redis.call('HDEL', d, 'token')
redis.call('HSET', d, 'state', 'dead', 'due', now, 'updated', now, 'last_error', ARGV[3])
log_attempt(d, ARGV[4])
return 1
",
    )
});

/// `ARGV`: 2 token, 3 the attempt's log line (empty for one never
/// started).
static ABANDON: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local d = KEYS[10]
if not held(d, ARGV[2]) then return 0 end
local now = n(now_ms())
local digest = string.sub(d, #PREFIX + 1)
local f = redis.call('HMGET', d, 'seq', 'attempts')
redis.call('ZADD', DUE, now, slot(f[1], digest))
move(digest, f[1], 'leased', 'pending')
redis.call('HDEL', d, 'token')
redis.call('HSET', d, 'state', 'pending', 'due', now, 'updated', now,
    'attempts', n(math.max(0, tonumber(f[2]) - 1)))
log_attempt(d, ARGV[3])
return 1
",
    )
});

/// `ARGV`: 2 event id.
static REPLAY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local digest = redis.call('HGET', IDS, ARGV[2])
if not digest then return 'not_found' end
local d = PREFIX .. digest
local f = redis.call('HMGET', d, 'state', 'id', 'seq')
if f[2] ~= ARGV[2] then return 'not_found' end
if f[1] ~= 'dead' then return 'not_dead' end
local now = n(now_ms())
redis.call('ZADD', DUE, now, slot(f[3], digest))
move(digest, f[3], 'dead', 'pending')
redis.call('HSET', d, 'state', 'pending', 'attempts', '0', 'due', now, 'updated', now)
return 'replayed'
",
    )
});

/// The latest delivery with event id `ARGV[2]`, as `HGETALL` pairs (none
/// if it is gone).
static GET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local digest = redis.call('HGET', IDS, ARGV[2])
if not digest then return {} end
local d = PREFIX .. digest
if redis.call('HGET', d, 'id') ~= ARGV[2] then return {} end
return redis.call('HGETALL', d)
",
    )
});

/// One page of a state's set, after the cursor `ARGV[4]:ARGV[5]` (score,
/// member; empty for the first page). `ARGV`: 2 state, 3 limit, 6 retain
/// ms. Returns the next cursor (or nil) and the records.
static LIST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local state, limit = ARGV[2], tonumber(ARGV[3])
local set = SETS[state] or DONE
local after, after_member = nil, ARGV[5]
if ARGV[4] ~= '' then after = tonumber(ARGV[4]) end
local floor = nil
if set == DONE then floor = now_ms() - tonumber(ARGV[6]) end
local min = after or floor
if after and floor then min = math.max(after, floor) end
local min_arg = '-inf'
if min then min_arg = n(min) end
local out, next_cursor, last, full = {}, false, false, false
local offset = 0
while not full do
    local batch = redis.call('ZRANGEBYSCORE', set, min_arg, '+inf', 'WITHSCORES', 'LIMIT', offset, 64)
    if #batch == 0 then break end
    offset = offset + #batch / 2
    for i = 1, #batch, 2 do
        local member, score = batch[i], tonumber(batch[i + 1])
        local skip = (after and score == after and member <= after_member)
            or (floor and score <= floor)
        if not skip then
            local d = PREFIX .. member
            if redis.call('HGET', d, 'state') == state then
                if #out == limit then
                    full, next_cursor = true, last
                    break
                end
                out[#out + 1] = redis.call('HGETALL', d)
                last = n(score) .. ':' .. member
            end
        end
    end
end
return { next_cursor, out }
",
    )
});

/// Counts by state, the server's time and the oldest pending delivery's
/// acceptance time. `ARGV`: 2 retain ms.
static STATS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local now = now_ms()
local oldest = redis.call('ZRANGE', SETS.pending, 0, 0)
local accepted = false
if oldest[1] then accepted = redis.call('HGET', PREFIX .. oldest[1], 'accepted') end
return {
    redis.call('ZCARD', SETS.pending), redis.call('ZCARD', SETS.leased),
    redis.call('ZCARD', SETS.retrying), redis.call('ZCARD', SETS.dead),
    redis.call('ZCOUNT', DONE, '(' .. n(now - tonumber(ARGV[2])), '+inf'),
    n(now), accepted,
}
",
    )
});

/// Forgets up to `ARGV[3]` done deliveries older than the retention
/// (`ARGV[2]` ms), and their event ids; returns how many.
static PURGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local floor = now_ms() - tonumber(ARGV[2])
local gone = redis.call('ZRANGEBYSCORE', DONE, '-inf', n(floor), 'LIMIT', 0, tonumber(ARGV[3]))
for _, digest in ipairs(gone) do
    local d = PREFIX .. digest
    if redis.call('HGET', d, 'state') == 'done' then redis.call('DEL', d) end
    local id = redis.call('HGET', DONE_IDS, digest)
    if id and redis.call('HGET', IDS, id) == digest and redis.call('EXISTS', d) == 0 then
        redis.call('HDEL', IDS, id)
    end
    redis.call('HDEL', DONE_IDS, digest)
    redis.call('ZREM', DONE, digest)
end
return #gone
",
    )
});

fn script(body: &str) -> Script {
    Script::new(&[PRELUDE, body].concat())
}

/// A duration in whole milliseconds for the scripts: at least 1, at most
/// about 100 years.
fn millis(d: Duration) -> i64 {
    whole_millis(d).min(MAX_MILLIS)
}

/// A shared, durable inbox in Redis (feature `redis`): every replica of a
/// receiver that uses the same server and namespace shares its deliveries.
///
/// * [`accept`](Inbox::accept) is one Lua script: the dedupe check (the
///   delivery's hash exists, whatever its state, or it is remembered as
///   done), the capacity check, and the write. Redis runs a script
///   atomically, so of any number of concurrent accepts of one key, on any
///   number of replicas, exactly one is accepted; and a call that times out
///   has either written the whole delivery or nothing.
/// * Each delivery is a hash (its fields, the raw body, state, attempts,
///   last error, lease token). Pending, retrying and leased deliveries sit
///   in one sorted set by when they are due (acceptance, retry, or lease
///   expiry); a lease takes what is due, oldest first. Every other change
///   is a script that first compares the stored lease token.
/// * Times are the Redis server's (`TIME` inside the scripts), so replicas'
///   clocks do not matter. This needs Redis 5 or later (scripts replicated
///   by their effects).
/// * A done delivery is remembered without its body: its hash expires after
///   the retention (default 7 days), so redeliveries are answered
///   `Duplicate` for that long, and [`get`](Inbox::get) or
///   [`list`](Inbox::list) show it with an empty body. The retention costs
///   memory per event, not per byte received. [`purge`](Inbox::purge)
///   forgets the index entries of those past it.
/// * Keys are `{prefix}{{namespace}}:…`: the prefix (default
///   `hookwarden:`), then the namespace in braces, a hash tag that keeps all
///   of one inbox's keys in one Redis Cluster slot (the scripts touch
///   several keys; an empty namespace would defeat it).
/// * Built from a URL, the inbox opens a few connections (default 4, see
///   [`connections`](RedisInboxBuilder::connections)) and spreads its calls
///   over them: Redis reads at most 16 KiB of each connection's commands
///   per turn of its event loop and, with `appendfsync always`, syncs the
///   append-only file once per turn, so several connections let one sync
///   serve more accepts. Each is a [`ConnectionManager`], which reconnects
///   on its own; every call is bounded by the timeout (default 2 s) and
///   fails with an [`InboxError`] past it.
///
/// # Durability
///
/// An acknowledged delivery survives a crash of the Redis server only if
/// the server is configured with `appendonly yes` and `appendfsync always`:
/// with the default `everysec` the last second of writes can be lost, and
/// without the append-only file everything since the last snapshot. Use
/// `maxmemory-policy noeviction` too: any other policy lets Redis evict
/// deliveries (or the done keys that answer duplicates) when memory runs
/// out. The inbox cannot enforce either;
/// [`check_persistence`](Self::check_persistence) reads the settings and
/// says what is missing. Replication to a replica is asynchronous, so a
/// failover can lose the latest deliveries as well.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hookwarden::event::Delivery;
/// use hookwarden::inbox::{Accept, Inbox, RedisInbox};
///
/// # async fn run() -> Result<(), hookwarden::inbox::InboxError> {
/// let inbox = RedisInbox::builder("redis://127.0.0.1:6379/")
///     .namespace("orders")
///     .capacity(10_000)
///     .timeout(Duration::from_secs(1))
///     .connect()
///     .await?;
/// if let Some(warning) = inbox.check_persistence().await? {
///     eprintln!("{warning}");
/// }
/// let delivery = Arc::new(Delivery::new("evt_1", "ping", "1", r#"{}"#.into()));
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Accepted);
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Duplicate);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisInbox {
    conns: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
    keys: Arc<Keys>,
    namespace: Arc<str>,
    key_prefix: Arc<str>,
    capacity: usize,
    retain: Duration,
    timeout: Duration,
}

/// Configures a [`RedisInbox`]; from [`RedisInbox::builder`] or
/// [`RedisInbox::builder_with_manager`].
pub struct RedisInboxBuilder {
    source: Source,
    connections: usize,
    namespace: String,
    key_prefix: String,
    capacity: usize,
    retain: Duration,
    timeout: Duration,
}

/// The names of one inbox's keys.
struct Keys {
    /// [`FIXED_KEYS`], each after the base.
    fixed: Vec<String>,
    /// What a delivery's hash is named after: `{base}d:`.
    delivery: String,
}

impl Keys {
    fn new(key_prefix: &str, namespace: &str) -> Self {
        let base = format!("{key_prefix}{{{namespace}}}:");
        Self {
            fixed: FIXED_KEYS.iter().map(|name| format!("{base}{name}")).collect(),
            delivery: format!("{base}d:"),
        }
    }

    fn delivery(&self, key: &str) -> String {
        format!("{}{}", self.delivery, digest_hex(key))
    }
}

impl RedisInbox {
    /// The next connection, round robin.
    fn conn(&self) -> &ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        &self.conns[i]
    }

    /// Configures an inbox that connects to `url`
    /// (`redis://[user:pass@]host[:port][/db]`, or `rediss://` where the
    /// `redis` crate was built with TLS).
    pub fn builder(url: impl Into<String>) -> RedisInboxBuilder {
        RedisInboxBuilder::new(Source::Url(url.into()))
    }

    /// Configures an inbox over a connection manager you built (for TLS,
    /// credentials providers, or your own reconnect settings).
    pub fn builder_with_manager(manager: ConnectionManager) -> RedisInboxBuilder {
        RedisInboxBuilder::new(Source::Manager(manager))
    }

    /// This inbox's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Checks that the server answers, within the timeout.
    pub async fn ping(&self) -> Result<(), InboxError> {
        ping(self.conn(), self.timeout).await.map_err(InboxError::new)
    }

    /// Reads the server's persistence and eviction settings (`CONFIG GET`):
    /// `None` when acknowledged deliveries survive a server crash and are
    /// never evicted (`appendonly yes`, `appendfsync always`,
    /// `maxmemory-policy noeviction`), otherwise a warning that says what
    /// is missing.
    ///
    /// Fails where `CONFIG` is not allowed (many hosted services rename or
    /// forbid it): ask the provider how it persists writes.
    pub async fn check_persistence(&self) -> Result<Option<String>, InboxError> {
        let mut conn = self.conn().clone();
        let (append, eviction): (HashMap<String, String>, HashMap<String, String>) =
            bounded(self.timeout, "config get", async move {
                ::redis::pipe()
                    .cmd("CONFIG")
                    .arg("GET")
                    .arg("append*")
                    .cmd("CONFIG")
                    .arg("GET")
                    .arg("maxmemory-policy")
                    .query_async(&mut conn)
                    .await
            })
            .await
            .map_err(InboxError::new)?;
        let setting = |config: &HashMap<String, String>, name: &str| {
            config.get(name).cloned().unwrap_or_else(|| "unknown".to_owned())
        };
        let appendonly = setting(&append, "appendonly");
        let appendfsync = setting(&append, "appendfsync");
        let policy = setting(&eviction, "maxmemory-policy");
        let mut warnings = Vec::new();
        if appendonly != "yes" || appendfsync != "always" {
            warnings.push(format!(
                "Redis has appendonly {appendonly} and appendfsync {appendfsync}: acknowledged \
                 deliveries survive a server crash only with appendonly yes and appendfsync always"
            ));
        }
        if policy != "noeviction" {
            warnings.push(format!(
                "Redis has maxmemory-policy {policy}: when memory runs out it may evict \
                 deliveries or done keys; use noeviction"
            ));
        }
        Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
    }

    /// A script call with the inbox's keys (and `delivery`'s hash, if any)
    /// and the prefix of the delivery hashes as its first argument.
    fn invocation<'s>(&self, script: &'s Script, delivery: Option<&str>) -> ScriptInvocation<'s> {
        let mut call = script.prepare_invoke();
        for key in &self.keys.fixed {
            call.key(key);
        }
        if let Some(key) = delivery {
            call.key(self.keys.delivery(key));
        }
        call.arg(&self.keys.delivery);
        call
    }

    async fn run<T: FromRedisValue>(
        &self,
        op: &'static str,
        call: &ScriptInvocation<'_>,
    ) -> Result<T, InboxError> {
        let mut conn = self.conn().clone();
        bounded(self.timeout, op, call.invoke_async(&mut conn)).await.map_err(InboxError::new)
    }

    /// Runs a script about the leased delivery that acts only if `lease`
    /// still holds it; `args` follow the token.
    async fn finish(
        &self,
        op: &'static str,
        script: &Script,
        lease: &Lease,
        args: &[&str],
    ) -> Result<bool, InboxError> {
        let mut call = self.invocation(script, Some(lease.key()));
        call.arg(token_hex(lease.token()));
        for arg in args {
            call.arg(*arg);
        }
        Ok(self.run::<i64>(op, &call).await? == 1)
    }

    async fn accept_now(&self, delivery: &Delivery) -> Result<Accept, InboxError> {
        let key = delivery.dedupe_key();
        let received =
            delivery.received_at().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let mut call = self.invocation(&ACCEPT, Some(key));
        call.arg(digest_hex(key))
            .arg(key)
            .arg(delivery.id())
            .arg(delivery.event_type())
            .arg(delivery.version())
            .arg(delivery.timestamp().map(|ts| ts.to_string()).unwrap_or_default())
            .arg(received.to_string())
            .arg(delivery.client_ip().map(|ip| ip.to_string()).unwrap_or_default())
            .arg(delivery.body().as_ref())
            .arg(self.capacity)
            .arg(delivery.scheme().unwrap_or_default());
        let outcome: String = self.run("accept", &call).await?;
        match outcome.as_str() {
            "accepted" => Ok(Accept::Accepted),
            "duplicate" => Ok(Accept::Duplicate),
            "full" => Ok(Accept::Full),
            other => Err(InboxError::new(format!("redis accept answered {other:?}"))),
        }
    }

    async fn lease_now(&self, max: usize, lease_for: Duration) -> Result<Vec<Leased>, InboxError> {
        let max = max.min(MAX_LEASE);
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut call = self.invocation(&LEASE, None);
        call.arg(max).arg(millis(lease_for));
        for _ in 0..max {
            call.arg(token_hex(crate::random::random_u128()));
        }
        let rows: Vec<Vec<Vec<u8>>> = self.run("lease", &call).await?;
        rows.into_iter()
            .map(|row| {
                let mut fields = Fields::new(row)?;
                let token = fields.text("token")?;
                let token = u128::from_str_radix(token, 16)
                    .map_err(|_| InboxError::new("malformed lease token in redis"))?;
                let attempt = fields.number("attempts")?;
                let delivery = fields.take_delivery()?;
                let lease = Lease::new(delivery.dedupe_key(), token);
                Ok(Leased { delivery: Arc::new(delivery), attempt, lease })
            })
            .collect()
    }

    async fn list_now(
        &self,
        state: State,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page, InboxError> {
        let (score, member) = match cursor {
            None => (String::new(), String::new()),
            Some(cursor) => {
                parse_cursor(cursor.as_str()).ok_or_else(|| InboxError::new("malformed cursor"))?
            }
        };
        let mut call = self.invocation(&LIST, None);
        call.arg(state.as_str()).arg(limit).arg(score).arg(member).arg(millis(self.retain));
        let (next, rows): (Option<String>, Vec<Vec<Vec<u8>>>) = self.run("list", &call).await?;
        let records = rows
            .into_iter()
            .map(|row| Fields::new(row)?.take_record())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::new(records, next.map(Cursor::new)))
    }

    async fn stats_now(&self) -> Result<InboxStats, InboxError> {
        let mut call = self.invocation(&STATS, None);
        call.arg(millis(self.retain));
        let (pending, leased, retrying, dead, done, now, accepted): (
            u64,
            u64,
            u64,
            u64,
            u64,
            u64,
            Option<u64>,
        ) = self.run("stats", &call).await?;
        let mut stats = InboxStats::default();
        for (state, count) in [
            (State::Pending, pending),
            (State::Leased, leased),
            (State::Retrying, retrying),
            (State::Dead, dead),
            (State::Done, done),
        ] {
            stats.set(state, count);
        }
        stats.oldest_pending =
            accepted.map(|accepted| Duration::from_millis(now.saturating_sub(accepted)));
        Ok(stats)
    }

    async fn purge_now(&self) -> Result<u64, InboxError> {
        let mut total = 0;
        loop {
            let mut call = self.invocation(&PURGE, None);
            call.arg(millis(self.retain)).arg(PURGE_BATCH);
            let purged: u64 = self.run("purge", &call).await?;
            total += purged;
            if purged < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

fn token_hex(token: u128) -> String {
    format!("{token:032x}")
}

/// A cursor is `{score}:{member}`: a whole number, then a key digest.
fn parse_cursor(cursor: &str) -> Option<(String, String)> {
    let (score, member) = cursor.split_once(':')?;
    score.parse::<u64>().ok()?;
    let digest = member.len() == 32 && member.bytes().all(|b| b.is_ascii_hexdigit());
    digest.then(|| (score.to_owned(), member.to_owned()))
}

fn time_from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A delivery's hash, from `HGETALL`.
struct Fields(HashMap<String, Vec<u8>>);

impl Fields {
    fn new(pairs: Vec<Vec<u8>>) -> Result<Self, InboxError> {
        let mut map = HashMap::with_capacity(pairs.len() / 2);
        let mut pairs = pairs.into_iter();
        while let (Some(name), Some(value)) = (pairs.next(), pairs.next()) {
            let name =
                String::from_utf8(name).map_err(|_| InboxError::new("malformed field in redis"))?;
            map.insert(name, value);
        }
        Ok(Self(map))
    }

    /// An optional field: absent or empty is `None`.
    fn optional(&self, name: &str) -> Result<Option<&str>, InboxError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(value) if value.is_empty() => Ok(None),
            Some(value) => std::str::from_utf8(value)
                .map(Some)
                .map_err(|_| InboxError::new(format!("malformed {name} in redis"))),
        }
    }

    fn text(&self, name: &str) -> Result<&str, InboxError> {
        match self.0.get(name) {
            None => Err(InboxError::new(format!("a delivery in redis has no {name}"))),
            Some(value) => std::str::from_utf8(value)
                .map_err(|_| InboxError::new(format!("malformed {name} in redis"))),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, InboxError> {
        self.text(name)?.parse().map_err(|_| InboxError::new(format!("malformed {name} in redis")))
    }

    /// Rebuilds the delivery; takes the body out.
    fn take_delivery(&mut self) -> Result<Delivery, InboxError> {
        let body = Bytes::from(self.0.remove("body").unwrap_or_default());
        let timestamp = self.optional("ts")?.map(str::parse::<u64>).transpose();
        let timestamp = timestamp.map_err(|_| InboxError::new("malformed ts in redis"))?;
        let client_ip = self.optional("client_ip")?.map(str::parse::<IpAddr>).transpose();
        let client_ip = client_ip.map_err(|_| InboxError::new("malformed client_ip in redis"))?;
        let received_at = time_from_millis(self.number("received_at")?);
        let delivery =
            Delivery::new(self.text("id")?, self.text("type")?, self.text("version")?, body)
                .with_dedupe_key(self.text("key")?)
                .with_timestamp(timestamp)
                .with_client_ip(client_ip)
                .with_received_at(received_at);
        Ok(match self.optional("scheme")? {
            Some(scheme) => delivery.with_scheme(scheme.to_owned()),
            None => delivery,
        })
    }

    fn take_record(&mut self) -> Result<Record, InboxError> {
        let delivery = self.take_delivery()?;
        let state: State = self.text("state")?.parse()?;
        let due_at = matches!(state, State::Retrying | State::Leased)
            .then(|| self.number("due").map(time_from_millis))
            .transpose()?;
        let last_error = self
            .0
            .get("last_error")
            .filter(|e| !e.is_empty())
            .map(|e| String::from_utf8_lossy(e).into_owned());
        let log = match self.optional("log")? {
            Some(lines) => parse_lines(lines)?,
            None => Vec::new(),
        };
        Ok(Record::new(Arc::new(delivery), state, self.number("attempts")?)
            .with_last_error(last_error)
            .with_due_at(due_at)
            .with_updated_at(time_from_millis(self.number("updated")?))
            .with_attempt_log(log))
    }
}

impl fmt::Debug for RedisInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection: its address could carry credentials.
        f.debug_struct("RedisInbox")
            .field("namespace", &self.namespace)
            .field("key_prefix", &self.key_prefix)
            .field("capacity", &self.capacity)
            .field("retain", &self.retain)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisInboxBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            capacity: DEFAULT_CAPACITY,
            retain: DEFAULT_RETAIN,
            timeout: DEFAULT_TIMEOUT,
            connections: DEFAULT_CONNECTIONS,
        }
    }

    /// How many connections the inbox opens when built from a URL (default
    /// 4, at least 1); ignored with
    /// [`builder_with_manager`](RedisInbox::builder_with_manager).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections.max(1);
        self
    }

    /// The namespace of the inbox's keys (default `"default"`): receivers
    /// sharing a server see only the deliveries of their own namespace.
    /// Should not be empty on Redis Cluster (it is the keys' hash tag).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// What every key starts with (default `"hookwarden:"`), to keep them
    /// apart from the rest of a shared Redis.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How many pending, leased and retrying deliveries it holds (default
    /// 1024, at least 1), across every replica sharing the namespace.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How long done deliveries are remembered (default 7 days).
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = retain;
        self
    }

    /// The most time one inbox call may take, connecting included
    /// (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the inbox and checks that the server answers (one `PING`,
    /// within the timeout). Must run inside a Tokio runtime.
    ///
    /// Fails on a malformed URL, or when the server does not answer; after
    /// that, the inbox reconnects by itself whenever the server comes back.
    pub async fn connect(self) -> Result<RedisInbox, InboxError> {
        let conns =
            self.source.into_managers(self.timeout, self.connections).map_err(InboxError::new)?;
        let inbox = RedisInbox {
            conns: conns.into(),
            next: Arc::new(AtomicUsize::new(0)),
            keys: Arc::new(Keys::new(&self.key_prefix, &self.namespace)),
            namespace: self.namespace.into(),
            key_prefix: self.key_prefix.into(),
            capacity: self.capacity,
            retain: self.retain,
            timeout: self.timeout,
        };
        inbox.ping().await?;
        Ok(inbox)
    }
}

impl fmt::Debug for RedisInboxBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInboxBuilder")
            .field("source", &self.source.describe())
            .field("namespace", &self.namespace)
            .field("key_prefix", &self.key_prefix)
            .field("capacity", &self.capacity)
            .field("retain", &self.retain)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Inbox for RedisInbox {
    fn accept<'a>(
        &'a self,
        delivery: &'a Arc<Delivery>,
    ) -> BoxFuture<'a, Result<Accept, InboxError>> {
        Box::pin(self.accept_now(delivery))
    }

    fn lease(
        &self,
        max: usize,
        lease_for: Duration,
    ) -> BoxFuture<'_, Result<Vec<Leased>, InboxError>> {
        Box::pin(self.lease_now(max, lease_for))
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        lease_for: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            self.finish("renew", &RENEW, lease, &[&millis(lease_for).to_string()]).await
        })
    }

    fn complete<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let (retain, line) = (millis(self.retain).to_string(), attempt.to_json());
            self.finish("complete", &COMPLETE, lease, &[&retain, &line]).await
        })
    }

    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let (delay, line) = (millis(delay).to_string(), attempt.to_json());
            let error = attempt.error().unwrap_or_default();
            self.finish("retry", &RETRY, lease, &[&delay, error, &line]).await
        })
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let (error, line) = (attempt.error().unwrap_or_default(), attempt.to_json());
            self.finish("dead letter", &DEAD_LETTER, lease, &[error, &line]).await
        })
    }

    fn abandon<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: Option<&'a AttemptRecord>,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let line = attempt.map(AttemptRecord::to_json).unwrap_or_default();
            self.finish("abandon", &ABANDON, lease, &[&line]).await
        })
    }

    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>> {
        Box::pin(async move {
            let mut call = self.invocation(&REPLAY, None);
            call.arg(id);
            let outcome: String = self.run("replay", &call).await?;
            match outcome.as_str() {
                "replayed" => Ok(Replay::Replayed),
                "not_found" => Ok(Replay::NotFound),
                "not_dead" => Ok(Replay::NotDead),
                other => Err(InboxError::new(format!("redis replay answered {other:?}"))),
            }
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        Box::pin(async move {
            let mut call = self.invocation(&GET, None);
            call.arg(id);
            let row: Vec<Vec<u8>> = self.run("get", &call).await?;
            if row.is_empty() {
                return Ok(None);
            }
            Fields::new(row)?.take_record().map(Some)
        })
    }

    fn list<'a>(
        &'a self,
        state: State,
        limit: usize,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, InboxError>> {
        Box::pin(self.list_now(state, limit, cursor))
    }

    fn stats(&self) -> BoxFuture<'_, Result<InboxStats, InboxError>> {
        Box::pin(self.stats_now())
    }

    fn purge(&self) -> BoxFuture<'_, Result<u64, InboxError>> {
        Box::pin(self.purge_now())
    }

    fn is_durable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_keep_as_many_attempts_as_the_inbox_promises() {
        let bound = format!("local MAX_LOG = {}\n", super::super::MAX_ATTEMPT_LOG);
        assert!(PRELUDE.contains(&bound), "{PRELUDE}");
    }
}

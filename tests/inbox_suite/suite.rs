//! The checks every inbox must pass, and `inbox_suite!`, which runs them
//! against one backend.
//!
//! A backend module defines `fn make() -> Option<Make>` (`None`, after
//! saying why with `common::skip`, when its server is not configured) and
//! invokes `inbox_suite!(make());`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::event::Delivery;
use hookwarden::inbox::{Accept, BoxFuture, Inbox, Lease, Leased, Replay, State};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio::time::sleep;

/// What a test asks of a fresh inbox.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Pending + leased + retrying deliveries it holds.
    pub(crate) capacity: usize,
    /// How long done deliveries are remembered.
    pub(crate) retain: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { capacity: 10_000, retain: Duration::from_secs(3600) }
    }
}

/// Builds a fresh, empty inbox (its own namespace or file) for one test.
pub(crate) type Make = Arc<dyn Fn(Options) -> BoxFuture<'static, Arc<dyn Inbox>> + Send + Sync>;

/// Runs every check against the backend `$make` builds (an `Option<Make>`).
#[macro_export]
macro_rules! inbox_suite {
    ($make:expr) => {
        $crate::inbox_suite!(@tests $make;
            accept_is_atomic_under_concurrent_accepts_of_one_key,
            accept_keeps_every_field_and_the_exact_bytes,
            capacity_counts_leased_and_retrying_not_dead_or_done,
            an_expired_lease_goes_to_another_worker_and_the_stale_holder_is_refused,
            renewal_keeps_a_long_handlers_lease,
            the_retry_schedule_is_honoured,
            dead_letter_and_replay,
            abandon_hands_back_without_counting_the_attempt,
            done_is_remembered_for_the_retention_then_forgotten,
            stats_count_by_state_and_age_the_oldest_pending,
            list_pages_through_a_state_oldest_first,
            lease_hands_out_the_oldest_due_first_and_at_most_max,
        );
    };
    (@tests $make:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                if let Some(make) = $make {
                    $crate::suite::$test(make).await;
                }
            }
        )*
    };
}

const LONG: Duration = Duration::from_secs(3600);

fn unique(test: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{test}-{}-{nanos:x}", std::process::id())
}

fn delivery(id: &str) -> Delivery {
    Delivery::new(id, "ping", "1", Bytes::from(format!(r#"{{"id":"{id}"}}"#)))
}

async fn accept(inbox: &Arc<dyn Inbox>, delivery: &Delivery) -> Accept {
    inbox.accept(delivery).await.expect("accept")
}

async fn lease_one(inbox: &Arc<dyn Inbox>, lease_for: Duration) -> Leased {
    let mut leased = inbox.lease(1, lease_for).await.expect("lease");
    assert_eq!(leased.len(), 1, "one delivery is due");
    leased.pop().unwrap()
}

async fn nothing_due(inbox: &Arc<dyn Inbox>) {
    let leased = inbox.lease(10, LONG).await.expect("lease");
    assert!(leased.is_empty(), "nothing should be due, got {leased:?}");
}

async fn state_of(inbox: &Arc<dyn Inbox>, id: &str) -> State {
    inbox.get(id).await.expect("get").unwrap_or_else(|| panic!("{id} is kept")).state
}

/// 1,000 concurrent accepts of one key: exactly one is accepted, and the
/// inbox holds exactly one delivery.
pub(crate) async fn accept_is_atomic_under_concurrent_accepts_of_one_key(make: Make) {
    let inbox = make(Options::default()).await;
    let id = unique("atomic");
    const N: usize = 1000;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = JoinSet::new();
    for _ in 0..N {
        let (inbox, barrier, delivery) = (inbox.clone(), barrier.clone(), delivery(&id));
        tasks.spawn(async move {
            barrier.wait().await;
            inbox.accept(&delivery).await.expect("accept")
        });
    }
    let (mut accepted, mut duplicates) = (0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Accept::Accepted => accepted += 1,
            Accept::Duplicate => duplicates += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((accepted, duplicates), (1, N - 1));
    let stats = inbox.stats().await.unwrap();
    assert_eq!(stats.pending, 1, "{stats:?}");
    let leased = inbox.lease(10, LONG).await.unwrap();
    assert_eq!(leased.len(), 1, "one delivery kept");
}

/// Every field comes back as accepted, and the body byte for byte (not
/// UTF-8, not JSON); the dedupe key is the envelope's, not the id.
pub(crate) async fn accept_keeps_every_field_and_the_exact_bytes(make: Make) {
    let inbox = make(Options::default()).await;
    let id = unique("fields");
    let body = Bytes::from_static(&[0xff, 0x00, b'{', 0xfe, b'\n', 0x80]);
    let received = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let ip: IpAddr = "2001:db8::7".parse().unwrap();
    let original = Delivery::new(id.as_str(), "user.registered", "2", body.clone())
        .with_dedupe_key(format!("digest:{id}"))
        .with_timestamp(Some(1_700_000_000))
        .with_client_ip(Some(ip))
        .with_received_at(received);
    assert_eq!(accept(&inbox, &original).await, Accept::Accepted);
    // Same id, another key: another delivery. Same key, another id: a duplicate.
    let other_key = Delivery::new(id.as_str(), "user.registered", "2", Bytes::from_static(b"{}"))
        .with_dedupe_key(format!("digest2:{id}"));
    assert_eq!(accept(&inbox, &other_key).await, Accept::Accepted);
    let same_key = delivery(&unique("other-id")).with_dedupe_key(format!("digest:{id}"));
    assert_eq!(accept(&inbox, &same_key).await, Accept::Duplicate);

    let leased = inbox.lease(10, LONG).await.unwrap();
    assert_eq!(leased.len(), 2);
    let first = leased.iter().find(|l| l.delivery.dedupe_key() == format!("digest:{id}")).unwrap();
    let d = &first.delivery;
    assert_eq!(d.id(), id);
    assert_eq!(d.event_type(), "user.registered");
    assert_eq!(d.version(), "2");
    assert_eq!(d.body(), &body);
    assert_eq!(d.timestamp(), Some(1_700_000_000));
    assert_eq!(d.client_ip(), Some(ip));
    assert_eq!(d.received_at(), received, "received time kept to the millisecond");
    assert_eq!(first.attempt, 1);
    assert_eq!(first.lease.key(), d.dedupe_key());
}

/// Capacity counts pending, leased and retrying deliveries: a delivery
/// waiting for its retry still takes room. Dead and done ones do not.
pub(crate) async fn capacity_counts_leased_and_retrying_not_dead_or_done(make: Make) {
    let inbox = make(Options { capacity: 2, ..Options::default() }).await;
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| delivery(&unique(n)));
    assert_eq!(accept(&inbox, &a).await, Accept::Accepted);
    assert_eq!(accept(&inbox, &b).await, Accept::Accepted);
    assert_eq!(accept(&inbox, &c).await, Accept::Full, "two pending fill it");
    assert_eq!(accept(&inbox, &a).await, Accept::Duplicate, "a duplicate is not refused as full");

    let first = lease_one(&inbox, LONG).await;
    assert_eq!(accept(&inbox, &c).await, Accept::Full, "leased still counts");
    assert!(inbox.retry(&first.lease, LONG, "downstream failing").await.unwrap());
    assert_eq!(accept(&inbox, &c).await, Accept::Full, "retrying still counts");
    assert!(inbox.get(c.id()).await.unwrap().is_none(), "a refused delivery is not kept");

    let second = lease_one(&inbox, LONG).await;
    assert!(inbox.dead_letter(&second.lease, "gave up").await.unwrap());
    assert_eq!(accept(&inbox, &c).await, Accept::Accepted, "a dead letter frees its room");
    assert_eq!(accept(&inbox, &d).await, Accept::Full);
    let third = lease_one(&inbox, LONG).await;
    assert_eq!(third.delivery.id(), c.id());
    assert!(inbox.complete(&third.lease).await.unwrap());
    assert_eq!(accept(&inbox, &d).await, Accept::Accepted, "done frees its room");
    let stats = inbox.stats().await.unwrap();
    assert_eq!((stats.pending, stats.retrying, stats.dead), (1, 1, 1), "{stats:?}");
}

/// A worker that stops renewing loses its lease: the delivery goes to the
/// next worker as the next attempt, and the first worker can no longer
/// finish it in any way.
pub(crate) async fn an_expired_lease_goes_to_another_worker_and_the_stale_holder_is_refused(
    make: Make,
) {
    let inbox = make(Options::default()).await;
    let d = delivery(&unique("expiry"));
    accept(&inbox, &d).await;
    let stale = lease_one(&inbox, Duration::from_millis(300)).await;
    nothing_due(&inbox).await;
    sleep(Duration::from_millis(700)).await;
    let fresh = lease_one(&inbox, LONG).await;
    assert_eq!(fresh.delivery.id(), d.id());
    assert_eq!(fresh.attempt, 2, "the lost attempt counts");
    assert_ne!(fresh.lease, stale.lease, "a new lease has a new token");

    assert!(!inbox.complete(&stale.lease).await.unwrap(), "stale complete refused");
    assert!(!inbox.retry(&stale.lease, LONG, "late").await.unwrap(), "stale retry refused");
    assert!(!inbox.dead_letter(&stale.lease, "late").await.unwrap(), "stale dead letter refused");
    assert!(!inbox.abandon(&stale.lease).await.unwrap(), "stale abandon refused");
    assert!(!inbox.renew(&stale.lease, LONG).await.unwrap(), "stale renew refused");
    assert_eq!(state_of(&inbox, d.id()).await, State::Leased, "the fresh lease is untouched");

    let forged = Lease::new(fresh.lease.key(), fresh.lease.token() ^ 1);
    assert!(!inbox.complete(&forged).await.unwrap(), "a wrong token is refused");
    assert!(inbox.complete(&fresh.lease).await.unwrap());
    assert_eq!(state_of(&inbox, d.id()).await, State::Done);
    assert_eq!(accept(&inbox, &d).await, Accept::Duplicate);
}

/// Renewed every 150 ms, a 400 ms lease outlives 1.5 s: nobody else gets
/// the delivery, and the holder completes it.
pub(crate) async fn renewal_keeps_a_long_handlers_lease(make: Make) {
    let inbox = make(Options::default()).await;
    let d = delivery(&unique("renew"));
    accept(&inbox, &d).await;
    let held = lease_one(&inbox, Duration::from_millis(400)).await;
    for _ in 0..10 {
        sleep(Duration::from_millis(150)).await;
        assert!(inbox.renew(&held.lease, Duration::from_millis(400)).await.unwrap());
        nothing_due(&inbox).await;
    }
    assert!(inbox.complete(&held.lease).await.unwrap());
    nothing_due(&inbox).await;
}

/// A retry is not handed out before its delay, and is after it, as the
/// next attempt, with the error recorded meanwhile.
pub(crate) async fn the_retry_schedule_is_honoured(make: Make) {
    let inbox = make(Options::default()).await;
    let d = delivery(&unique("retry"));
    accept(&inbox, &d).await;
    let first = lease_one(&inbox, LONG).await;
    assert!(
        inbox.retry(&first.lease, Duration::from_millis(800), "503 from downstream").await.unwrap()
    );
    let record = inbox.get(d.id()).await.unwrap().unwrap();
    assert_eq!(record.state, State::Retrying);
    assert_eq!(record.last_error.as_deref(), Some("503 from downstream"));
    assert_eq!(record.attempts, 1);
    let due = record.due_at.expect("a retry has a due time");
    let from_now = due.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        from_now > Duration::from_millis(300) && from_now <= Duration::from_millis(900),
        "{from_now:?}"
    );
    assert!(!inbox.complete(&first.lease).await.unwrap(), "a retry ends the lease");
    sleep(Duration::from_millis(300)).await;
    nothing_due(&inbox).await;
    sleep(Duration::from_millis(800)).await;
    let second = lease_one(&inbox, LONG).await;
    assert_eq!(second.attempt, 2);
    assert_eq!(second.delivery.id(), d.id());
}

/// A dead letter stays (listed, with its error) until replayed; replay
/// gives it fresh attempts; a duplicate is answered as such throughout.
pub(crate) async fn dead_letter_and_replay(make: Make) {
    let inbox = make(Options::default()).await;
    let d = delivery(&unique("dead"));
    accept(&inbox, &d).await;
    let leased = lease_one(&inbox, LONG).await;
    assert_eq!(inbox.replay(d.id()).await.unwrap(), Replay::NotDead);
    assert!(inbox.dead_letter(&leased.lease, "payload does not fit").await.unwrap());
    nothing_due(&inbox).await;
    assert_eq!(accept(&inbox, &d).await, Accept::Duplicate);

    let page = inbox.list(State::Dead, 10, None).await.unwrap();
    let letter = page.records.iter().find(|r| r.delivery.id() == d.id()).expect("listed");
    assert_eq!(letter.last_error.as_deref(), Some("payload does not fit"));
    assert_eq!(letter.attempts, 1);
    assert_eq!(letter.delivery.body(), d.body());

    assert_eq!(inbox.replay(&unique("missing")).await.unwrap(), Replay::NotFound);
    assert_eq!(inbox.replay(d.id()).await.unwrap(), Replay::Replayed);
    assert_eq!(inbox.replay(d.id()).await.unwrap(), Replay::NotDead);
    assert!(inbox.list(State::Dead, 10, None).await.unwrap().records.is_empty());
    let again = lease_one(&inbox, LONG).await;
    assert_eq!(again.attempt, 1, "fresh attempts");
    assert_eq!(accept(&inbox, &d).await, Accept::Duplicate);
    assert!(inbox.complete(&again.lease).await.unwrap());
}

/// A lease handed back is due at once, and its attempt does not count.
pub(crate) async fn abandon_hands_back_without_counting_the_attempt(make: Make) {
    let inbox = make(Options::default()).await;
    let d = delivery(&unique("abandon"));
    accept(&inbox, &d).await;
    let first = lease_one(&inbox, LONG).await;
    assert!(inbox.abandon(&first.lease).await.unwrap());
    assert_eq!(state_of(&inbox, d.id()).await, State::Pending);
    assert!(!inbox.complete(&first.lease).await.unwrap(), "handed back: the lease is over");
    let second = lease_one(&inbox, LONG).await;
    assert_eq!(second.attempt, 1);
}

/// A done delivery answers duplicates for the retention window; after it,
/// purge forgets it and the key is new again.
pub(crate) async fn done_is_remembered_for_the_retention_then_forgotten(make: Make) {
    let inbox = make(Options { retain: Duration::from_millis(1500), ..Options::default() }).await;
    let d = delivery(&unique("retain"));
    let kept = delivery(&unique("kept"));
    accept(&inbox, &d).await;
    let leased = lease_one(&inbox, LONG).await;
    assert!(inbox.complete(&leased.lease).await.unwrap());
    accept(&inbox, &kept).await;
    assert_eq!(accept(&inbox, &d).await, Accept::Duplicate);
    assert_eq!(inbox.stats().await.unwrap().done, 1);
    sleep(Duration::from_millis(400)).await;
    inbox.purge().await.unwrap();
    assert_eq!(accept(&inbox, &d).await, Accept::Duplicate, "still within the retention");
    sleep(Duration::from_millis(1600)).await;
    inbox.purge().await.unwrap();
    assert_eq!(accept(&inbox, &d).await, Accept::Accepted, "forgotten after the retention");
    assert_eq!(accept(&inbox, &kept).await, Accept::Duplicate, "pending ones are never purged");
    assert_eq!(inbox.stats().await.unwrap().done, 0);
}

/// Stats count each state, and age the oldest pending delivery.
pub(crate) async fn stats_count_by_state_and_age_the_oldest_pending(make: Make) {
    let inbox = make(Options::default()).await;
    let empty = inbox.stats().await.unwrap();
    assert_eq!(empty.active() + empty.dead + empty.done, 0, "{empty:?}");
    assert_eq!(empty.oldest_pending, None);
    for name in ["s1", "s2", "s3", "s4", "s5"] {
        accept(&inbox, &delivery(&unique(name))).await;
        sleep(Duration::from_millis(20)).await;
    }
    let leased = inbox.lease(4, LONG).await.unwrap();
    assert_eq!(leased.len(), 4);
    assert!(inbox.retry(&leased[0].lease, LONG, "e").await.unwrap());
    assert!(inbox.dead_letter(&leased[1].lease, "e").await.unwrap());
    assert!(inbox.complete(&leased[2].lease).await.unwrap());
    sleep(Duration::from_millis(300)).await;
    let stats = inbox.stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.leased, stats.retrying, stats.dead, stats.done),
        (1, 1, 1, 1, 1),
        "{stats:?}"
    );
    let age = stats.oldest_pending.expect("one is pending");
    assert!(age >= Duration::from_millis(250) && age < Duration::from_secs(30), "{age:?}");
}

/// `list` pages through one state, oldest first, without repeats.
pub(crate) async fn list_pages_through_a_state_oldest_first(make: Make) {
    let inbox = make(Options::default()).await;
    let ids: Vec<String> = (0..5).map(|i| unique(&format!("list{i}"))).collect();
    for id in &ids {
        accept(&inbox, &delivery(id)).await;
        sleep(Duration::from_millis(5)).await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = inbox.list(State::Pending, 2, cursor.as_ref()).await.unwrap();
        assert!(page.records.len() <= 2);
        assert!(page.records.iter().all(|r| r.state == State::Pending));
        seen.extend(page.records.iter().map(|r| r.delivery.id().to_owned()));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ids, "every pending delivery once, oldest first");
    assert!(inbox.list(State::Dead, 10, None).await.unwrap().records.is_empty());
}

/// Leases go oldest due first, at most `max` at a time, each once.
pub(crate) async fn lease_hands_out_the_oldest_due_first_and_at_most_max(make: Make) {
    let inbox = make(Options::default()).await;
    let ids: Vec<String> = (0..5).map(|i| unique(&format!("order{i}"))).collect();
    for id in &ids {
        accept(&inbox, &delivery(id)).await;
        sleep(Duration::from_millis(5)).await;
    }
    let first = inbox.lease(2, LONG).await.unwrap();
    let rest = inbox.lease(10, LONG).await.unwrap();
    let order: Vec<&str> = first.iter().chain(&rest).map(|l| l.delivery.id()).collect();
    assert_eq!(first.len(), 2);
    assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>());
    nothing_due(&inbox).await;
}

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
use hookwarden::inbox::{
    Accept, AttemptOutcome, AttemptRecord, BoxFuture, Inbox, Lease, Leased, MAX_ATTEMPT_LOG,
    MAX_ERROR_LEN, Replay, State,
};
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
            retries_and_new_deliveries_go_out_in_the_order_they_fell_due,
            records_keep_the_delivery_and_each_attempt,
            the_attempt_log_is_bounded,
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

/// The record of a handled attempt at `leased` (ended now, after 3 ms).
pub(crate) fn handled(leased: &Leased) -> AttemptRecord {
    AttemptRecord::new(leased.attempt, AttemptOutcome::Handled, Duration::from_millis(3))
}

/// The record of a failed attempt at `leased` (ended now, after 5 ms).
pub(crate) fn failed(leased: &Leased, error: &str) -> AttemptRecord {
    AttemptRecord::new(leased.attempt, AttemptOutcome::Failed, Duration::from_millis(5))
        .with_error(error)
}

async fn accept(inbox: &Arc<dyn Inbox>, delivery: &Delivery) -> Accept {
    inbox.accept(&Arc::new(delivery.clone())).await.expect("accept")
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
        let (inbox, barrier, delivery) = (inbox.clone(), barrier.clone(), Arc::new(delivery(&id)));
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
    assert!(inbox.retry(&first.lease, LONG, &failed(&first, "downstream failing")).await.unwrap());
    assert_eq!(accept(&inbox, &c).await, Accept::Full, "retrying still counts");
    assert!(inbox.get(c.id()).await.unwrap().is_none(), "a refused delivery is not kept");

    let second = lease_one(&inbox, LONG).await;
    assert!(inbox.dead_letter(&second.lease, &failed(&second, "gave up")).await.unwrap());
    assert_eq!(accept(&inbox, &c).await, Accept::Accepted, "a dead letter frees its room");
    assert_eq!(accept(&inbox, &d).await, Accept::Full);
    let third = lease_one(&inbox, LONG).await;
    assert_eq!(third.delivery.id(), c.id());
    assert!(inbox.complete(&third.lease, &handled(&third)).await.unwrap());
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

    assert!(
        !inbox.complete(&stale.lease, &handled(&stale)).await.unwrap(),
        "stale complete refused"
    );
    assert!(
        !inbox.retry(&stale.lease, LONG, &failed(&stale, "late")).await.unwrap(),
        "stale retry refused"
    );
    assert!(
        !inbox.dead_letter(&stale.lease, &failed(&stale, "late")).await.unwrap(),
        "stale dead letter refused"
    );
    assert!(!inbox.abandon(&stale.lease, None).await.unwrap(), "stale abandon refused");
    assert!(!inbox.renew(&stale.lease, LONG).await.unwrap(), "stale renew refused");
    assert_eq!(state_of(&inbox, d.id()).await, State::Leased, "the fresh lease is untouched");

    let forged = Lease::new(fresh.lease.key(), fresh.lease.token() ^ 1);
    assert!(!inbox.complete(&forged, &handled(&fresh)).await.unwrap(), "a wrong token is refused");
    let done = handled(&fresh);
    assert!(inbox.complete(&fresh.lease, &done).await.unwrap());
    assert_eq!(state_of(&inbox, d.id()).await, State::Done);
    assert_eq!(accept(&inbox, &d).await, Accept::Duplicate);

    // The attempt whose lease ran out is logged as lost; the stale
    // holder's refused calls logged nothing.
    let log = inbox.get(d.id()).await.unwrap().unwrap().attempt_log;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0].attempt(), log[0].outcome()), (1, AttemptOutcome::Lost));
    assert_eq!((log[0].duration(), log[0].error()), (None, None));
    let since = SystemTime::now().duration_since(log[0].finished_at()).unwrap_or_default();
    assert!(since < Duration::from_secs(30), "lost {since:?} ago");
    assert_eq!(log[1], done);
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
    assert!(inbox.complete(&held.lease, &handled(&held)).await.unwrap());
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
        inbox
            .retry(&first.lease, Duration::from_millis(800), &failed(&first, "503 from downstream"))
            .await
            .unwrap()
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
    assert!(
        !inbox.complete(&first.lease, &handled(&first)).await.unwrap(),
        "a retry ends the lease"
    );
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
    assert!(
        inbox.dead_letter(&leased.lease, &failed(&leased, "payload does not fit")).await.unwrap()
    );
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
    assert!(inbox.complete(&again.lease, &handled(&again)).await.unwrap());
    // Done and still remembered: not dead, on every backend.
    assert_eq!(inbox.get(d.id()).await.unwrap().map(|r| r.state), Some(State::Done));
    assert_eq!(inbox.replay(d.id()).await.unwrap(), Replay::NotDead);
}

/// A lease handed back is due at once, and its attempt does not count.
pub(crate) async fn abandon_hands_back_without_counting_the_attempt(make: Make) {
    let inbox = make(Options::default()).await;
    let d = delivery(&unique("abandon"));
    accept(&inbox, &d).await;
    let first = lease_one(&inbox, LONG).await;
    let cut_off = AttemptRecord::new(1, AttemptOutcome::Abandoned, Duration::from_millis(250));
    assert!(inbox.abandon(&first.lease, Some(&cut_off)).await.unwrap());
    assert_eq!(state_of(&inbox, d.id()).await, State::Pending);
    assert!(
        !inbox.complete(&first.lease, &handled(&first)).await.unwrap(),
        "handed back: the lease is over"
    );
    let second = lease_one(&inbox, LONG).await;
    assert_eq!(second.attempt, 1);
    // Handed back before it started: nothing more is logged.
    assert!(inbox.abandon(&second.lease, None).await.unwrap());
    let third = lease_one(&inbox, LONG).await;
    assert_eq!(third.attempt, 1);
    let record = inbox.get(d.id()).await.unwrap().unwrap();
    assert_eq!(record.attempt_log, [cut_off]);
    assert_eq!(record.attempts, 1);
}

/// A done delivery answers duplicates for the retention window; after it,
/// purge forgets it and the key is new again.
pub(crate) async fn done_is_remembered_for_the_retention_then_forgotten(make: Make) {
    let inbox = make(Options { retain: Duration::from_millis(1500), ..Options::default() }).await;
    let d = delivery(&unique("retain"));
    let kept = delivery(&unique("kept"));
    accept(&inbox, &d).await;
    let leased = lease_one(&inbox, LONG).await;
    assert!(inbox.complete(&leased.lease, &handled(&leased)).await.unwrap());
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
    assert!(inbox.retry(&leased[0].lease, LONG, &failed(&leased[0], "e")).await.unwrap());
    assert!(inbox.dead_letter(&leased[1].lease, &failed(&leased[1], "e")).await.unwrap());
    assert!(inbox.complete(&leased[2].lease, &handled(&leased[2])).await.unwrap());
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

/// A retry falls due among new deliveries: it is leased after those
/// accepted before it fell due and before those accepted after.
pub(crate) async fn retries_and_new_deliveries_go_out_in_the_order_they_fell_due(make: Make) {
    let inbox = make(Options::default()).await;
    let retried = delivery(&unique("due-retried"));
    accept(&inbox, &retried).await;
    let first = lease_one(&inbox, LONG).await;
    let again = failed(&first, "try again");
    assert!(inbox.retry(&first.lease, Duration::from_millis(300), &again).await.unwrap());
    let before = delivery(&unique("due-before"));
    accept(&inbox, &before).await;
    sleep(Duration::from_millis(800)).await;
    let after = delivery(&unique("due-after"));
    accept(&inbox, &after).await;
    let leased = inbox.lease(10, LONG).await.unwrap();
    let order: Vec<&str> = leased.iter().map(|l| l.delivery.id()).collect();
    assert_eq!(order, [before.id(), retried.id(), after.id()]);
    assert_eq!(leased[1].attempt, 2);
    nothing_due(&inbox).await;
}

/// A delivery's record keeps what it arrived as (id, type, version,
/// scheme, client IP, received time) and each attempt (number, end,
/// duration, outcome, error), and its state; the dead-letter list shows
/// the same. A replay keeps the log, its attempts counting from 1 again.
pub(crate) async fn records_keep_the_delivery_and_each_attempt(make: Make) {
    let inbox = make(Options::default()).await;

    // A delivery submitted without a scheme has none.
    let plain = delivery(&unique("plain"));
    accept(&inbox, &plain).await;
    let record = inbox.get(plain.id()).await.unwrap().unwrap();
    assert_eq!(record.delivery.scheme(), None);
    assert!(record.attempt_log.is_empty());
    let held = lease_one(&inbox, LONG).await;
    assert!(inbox.complete(&held.lease, &handled(&held)).await.unwrap());

    let id = unique("record");
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    let received = UNIX_EPOCH + Duration::from_millis(1_700_000_000_321);
    let d = Delivery::new(id.as_str(), "invoice.paid", "2024-06-20", Bytes::from_static(b"{}"))
        .with_scheme("stripe")
        .with_dedupe_key(format!("stripe:id:{id}"))
        .with_client_ip(Some(ip))
        .with_received_at(received);
    assert_eq!(accept(&inbox, &d).await, Accept::Accepted);
    let record = inbox.get(&id).await.unwrap().expect("kept");
    let kept = &record.delivery;
    assert_eq!(
        (kept.id(), kept.event_type(), kept.version()),
        (id.as_str(), "invoice.paid", "2024-06-20")
    );
    assert_eq!(kept.scheme(), Some("stripe"));
    assert_eq!(kept.client_ip(), Some(ip));
    assert_eq!(kept.received_at(), received);
    assert_eq!(
        (record.state, record.attempts, record.last_error.as_deref()),
        (State::Pending, 0, None)
    );
    assert!(record.attempt_log().is_empty(), "nothing is logged on accept");

    let ended = UNIX_EPOCH + Duration::from_millis(1_700_000_100_000);
    let first = lease_one(&inbox, LONG).await;
    assert_eq!(first.delivery.scheme(), Some("stripe"), "a leased delivery has its scheme");
    let failed = AttemptRecord::new(1, AttemptOutcome::Failed, Duration::from_micros(15_250))
        .with_error("503 from downstream")
        .with_finished_at(ended);
    assert!(inbox.retry(&first.lease, Duration::ZERO, &failed).await.unwrap());
    sleep(Duration::from_millis(20)).await;
    let second = lease_one(&inbox, LONG).await;
    assert_eq!(second.attempt, 2);
    let timed_out = AttemptRecord::new(2, AttemptOutcome::TimedOut, Duration::from_secs(30))
        .with_error("timed out after 30s")
        .with_finished_at(ended + Duration::from_secs(40));
    assert!(inbox.retry(&second.lease, Duration::ZERO, &timed_out).await.unwrap());
    sleep(Duration::from_millis(20)).await;
    let third = lease_one(&inbox, LONG).await;
    let panicked = AttemptRecord::new(3, AttemptOutcome::Panicked, Duration::from_millis(2))
        .with_error("panic: boom \"quoted\"\nsecond line")
        .with_finished_at(ended + Duration::from_secs(80));
    assert!(inbox.dead_letter(&third.lease, &panicked).await.unwrap());

    let record = inbox.get(&id).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (State::Dead, 3));
    assert_eq!(record.last_error.as_deref(), panicked.error());
    let expected = [failed.clone(), timed_out.clone(), panicked.clone()];
    assert_eq!(record.attempt_log, expected);
    assert_eq!(record.last_attempt(), Some(&panicked));
    let first_logged = &record.attempt_log[0];
    assert_eq!(first_logged.duration(), Some(Duration::from_micros(15_250)));
    assert_eq!(first_logged.started_at(), Some(ended - Duration::from_micros(15_250)));
    let page = inbox.list(State::Dead, 10, None).await.unwrap();
    let letter = page.records.iter().find(|r| r.delivery.id() == id).expect("listed");
    assert_eq!(letter.attempt_log, expected);
    assert_eq!(letter.delivery.scheme(), Some("stripe"));

    assert_eq!(inbox.replay(&id).await.unwrap(), Replay::Replayed);
    let again = lease_one(&inbox, LONG).await;
    assert_eq!(again.attempt, 1);
    let done = AttemptRecord::new(1, AttemptOutcome::Handled, Duration::from_millis(4));
    assert!(inbox.complete(&again.lease, &done).await.unwrap());
    let record = inbox.get(&id).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (State::Done, 1));
    assert_eq!(record.attempt_log.len(), 4);
    assert_eq!(record.attempt_log[..3], expected, "the log outlives the replay");
    assert_eq!(record.attempt_log[3], done);
    assert_eq!(record.delivery.scheme(), Some("stripe"));
    assert_eq!(record.delivery.client_ip(), Some(ip));
    assert_eq!(record.delivery.received_at(), received);
}

/// The log keeps the last [`MAX_ATTEMPT_LOG`] attempts, oldest first, and
/// no error longer than [`MAX_ERROR_LEN`] bytes.
pub(crate) async fn the_attempt_log_is_bounded(make: Make) {
    let inbox = make(Options::default()).await;
    let d = delivery(&unique("bounded"));
    accept(&inbox, &d).await;
    let tries = MAX_ATTEMPT_LOG as u32 + 5;
    for n in 1..=tries {
        let held = lease_one(&inbox, LONG).await;
        assert_eq!(held.attempt, n);
        let error = format!("attempt {n}: {}", "é".repeat(4000));
        assert!(inbox.retry(&held.lease, Duration::ZERO, &failed(&held, &error)).await.unwrap());
        sleep(Duration::from_millis(5)).await;
    }
    let record = inbox.get(d.id()).await.unwrap().unwrap();
    assert_eq!(record.attempts, tries);
    let numbers: Vec<u32> = record.attempt_log.iter().map(AttemptRecord::attempt).collect();
    assert_eq!(numbers, (6..=tries).collect::<Vec<_>>(), "the last {MAX_ATTEMPT_LOG}");
    for attempt in &record.attempt_log {
        let error = attempt.error().expect("kept");
        assert!(error.len() <= MAX_ERROR_LEN && error.ends_with('…'), "{}", error.len());
        assert!(error.starts_with(&format!("attempt {}: ", attempt.attempt())));
    }
    let last_error = record.last_error.expect("the last error");
    assert!(last_error.len() <= MAX_ERROR_LEN, "{}", last_error.len());
}

//! Workers, retries, timeouts, panics, dead letters and draining, on
//! tokio's paused clock: backoff schedules are checked without sleeping.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwarden::dispatch::{Dispatcher, RetryPolicy, SubmitError, Submitted};
use hookwarden::event::{Delivery, Event, EventType};
use hookwarden::inbox::{AttemptOutcome, Record, State};
use hookwarden::router::EventRouter;
use serde::Deserialize;
use tokio::time::Instant;

#[derive(Debug, Deserialize)]
struct Ping {
    n: u32,
}

impl EventType for Ping {
    const TYPE: &'static str = "ping";
    const VERSION: &'static str = "1";
}

/// The record of `id`, and its attempt log as (number, outcome, error).
async fn record_of(
    dispatcher: &Dispatcher,
    id: &str,
) -> (Record, Vec<(u32, AttemptOutcome, Option<String>)>) {
    let record = dispatcher.inbox().get(id).await.unwrap().unwrap_or_else(|| panic!("{id} kept"));
    let log = record
        .attempt_log()
        .iter()
        .map(|a| (a.attempt(), a.outcome(), a.error().map(str::to_owned)))
        .collect();
    (record, log)
}

fn ping(id: &str, n: u32) -> Delivery {
    Delivery::new(id, "ping", "1", format!(r#"{{"n":{n}}}"#).into())
}

/// Records the instant of every attempt, failing the first `fail` of each.
fn flaky(fail: u32, log: Arc<Mutex<Vec<(u32, Instant)>>>) -> EventRouter {
    EventRouter::new().on(move |event: Event<Ping>| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push((event.attempt(), Instant::now()));
            if event.attempt() <= fail {
                Err(format!("attempt {} of event {} fails on purpose", event.attempt(), event.n))
            } else {
                Ok(())
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn retries_follow_the_backoff_schedule_until_success() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::default()
        .with_max_attempts(5)
        .initial_backoff(Duration::from_secs(1))
        .max_backoff(Duration::from_secs(60));
    let dispatcher = Dispatcher::builder(flaky(3, log.clone())).retry(policy).start();
    dispatcher.submit(ping("evt_1", 1)).await.unwrap();
    let report = dispatcher.shutdown(Duration::from_secs(600)).await;
    assert!(report.drained);

    let log = log.lock().unwrap();
    let attempts: Vec<u32> = log.iter().map(|(a, _)| *a).collect();
    assert_eq!(attempts, [1, 2, 3, 4], "three failures, then success on the fourth");
    for (i, pair) in log.windows(2).enumerate() {
        let gap = pair[1].1 - pair[0].1;
        let nominal = Duration::from_secs(1 << i);
        assert!(
            gap >= nominal / 2 && gap <= nominal + Duration::from_millis(5),
            "retry {i}: {gap:?}"
        );
    }
    let stats = dispatcher.stats();
    assert_eq!((stats.handled, stats.retries, stats.dead_lettered), (1, 3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_is_retried_and_the_worker_survives() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let router = EventRouter::new().on(move |event: Event<Ping>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if event.attempt() == 1 {
                panic!("handler bug");
            }
            Ok::<_, std::io::Error>(())
        }
    });
    // One worker: if the panic killed it, nothing else would run.
    let dispatcher = Dispatcher::builder(router).workers(1).start();
    dispatcher.submit(ping("a", 1)).await.unwrap();
    dispatcher.submit(ping("b", 2)).await.unwrap();
    assert!(dispatcher.shutdown(Duration::from_secs(60)).await.drained);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(dispatcher.stats().handled, 2);
    let (record, log) = record_of(&dispatcher, "a").await;
    assert_eq!(record.state, State::Done);
    assert_eq!(
        log,
        [
            (1, AttemptOutcome::Panicked, Some("panic: handler bug".to_owned())),
            (2, AttemptOutcome::Handled, None)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_panics_before_returning_its_future_is_caught_too() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let router = EventRouter::new().on(move |event: Event<Ping>| {
        counter.fetch_add(1, Ordering::SeqCst);
        if event.attempt() == 1 {
            panic!("panics while being called, not while polled");
        }
        async { Ok::<_, std::io::Error>(()) }
    });
    let dispatcher = Dispatcher::builder(router).workers(1).start();
    dispatcher.submit(ping("a", 1)).await.unwrap();
    dispatcher.submit(ping("b", 2)).await.unwrap();
    assert!(dispatcher.shutdown(Duration::from_secs(60)).await.drained);
    assert_eq!(dispatcher.stats().handled, 2, "the only worker survived");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let (_, log) = record_of(&dispatcher, "b").await;
    let outcomes: Vec<_> = log.iter().map(|(n, outcome, _)| (*n, *outcome)).collect();
    assert_eq!(outcomes, [(1, AttemptOutcome::Panicked), (2, AttemptOutcome::Handled)]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_times_out_and_counts_as_failed() {
    let router = EventRouter::new().on(|event: Event<Ping>| async move {
        if event.attempt() == 1 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok::<_, std::io::Error>(())
    });
    let dispatcher = Dispatcher::builder(router).attempt_timeout(Duration::from_secs(5)).start();
    dispatcher.submit(ping("slow", 1)).await.unwrap();
    let started = Instant::now();
    assert!(dispatcher.shutdown(Duration::from_secs(600)).await.drained);
    assert!(started.elapsed() < Duration::from_secs(60), "the hour-long attempt was cut off");
    let stats = dispatcher.stats();
    assert_eq!((stats.handled, stats.retries), (1, 1));
    let (record, log) = record_of(&dispatcher, "slow").await;
    assert_eq!(
        log,
        [
            (1, AttemptOutcome::TimedOut, Some("timed out after 5s".to_owned())),
            (2, AttemptOutcome::Handled, None)
        ]
    );
    assert_eq!(
        record.attempt_log[0].duration(),
        Some(Duration::from_secs(5)),
        "on the paused clock"
    );
}

#[tokio::test(start_paused = true)]
async fn exhausted_events_are_dead_lettered_then_replayed() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let sink = hooked.clone();
    let dispatcher = Dispatcher::builder(flaky(3, log.clone()))
        .retry(RetryPolicy::default().with_max_attempts(3))
        .on_dead_letter(move |letter| sink.lock().unwrap().push(letter.delivery.id().to_owned()))
        .start();
    dispatcher.submit(ping("doomed", 7)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;

    let letters = dispatcher.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts, 3);
    assert!(letters[0].error.contains("attempt 3 of event 7 fails"), "{}", letters[0].error);
    assert_eq!(*hooked.lock().unwrap(), ["doomed"]);

    // A replay starts over at attempt 1; this handler fails attempts 1..=3,
    // so the replay runs three attempts and is dead-lettered again.
    log.lock().unwrap().clear();
    assert!(dispatcher.replay("missing").await.is_err());
    dispatcher.replay("doomed").await.unwrap();
    assert!(dispatcher.dead_letters().await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(log.lock().unwrap().len(), 3, "the replay ran its own three attempts");
    assert_eq!(dispatcher.dead_letters().await.unwrap().len(), 1, "and failed them all again");
    let (record, log) = record_of(&dispatcher, "doomed").await;
    assert_eq!((record.state, record.attempts), (State::Dead, 3));
    let numbers: Vec<u32> = log.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(numbers, [1, 2, 3, 1, 2, 3], "both rounds are logged");
    assert!(log.iter().all(|(_, outcome, _)| *outcome == AttemptOutcome::Failed));
    assert!(log[5].2.as_deref().unwrap().contains("attempt 3 of event 7 fails"), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn replay_reaches_a_fixed_handler() {
    let fixed = Arc::new(AtomicU32::new(0));
    let flag = fixed.clone();
    let router = EventRouter::new().on(move |_: Event<Ping>| {
        let ok = flag.load(Ordering::SeqCst) == 1;
        async move { if ok { Ok(()) } else { Err("downstream is down") } }
    });
    let dispatcher =
        Dispatcher::builder(router).retry(RetryPolicy::default().with_max_attempts(2)).start();
    dispatcher.submit(ping("evt_9", 9)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(dispatcher.dead_letters().await.unwrap().len(), 1);
    fixed.store(1, Ordering::SeqCst);
    dispatcher.replay("evt_9").await.unwrap();
    assert!(dispatcher.shutdown(Duration::from_secs(30)).await.drained);
    assert_eq!(dispatcher.stats().handled, 1);
    assert!(dispatcher.dead_letters().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_payload_that_does_not_fit_is_dead_lettered_at_once_with_the_serde_error() {
    let dispatcher = Dispatcher::builder(flaky(0, Arc::default())).start();
    dispatcher
        .submit(Delivery::new("bad", "ping", "1", r#"{"n":"not a number"}"#.into()))
        .await
        .unwrap();
    assert!(dispatcher.shutdown(Duration::from_secs(10)).await.drained);
    let letters = dispatcher.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts, 1, "not retried: it cannot start fitting");
    assert!(letters[0].error.contains("invalid type"), "{}", letters[0].error);
    assert_eq!(dispatcher.stats().retries, 0);
    let (_, log) = record_of(&dispatcher, "bad").await;
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].0, log[0].1), (1, AttemptOutcome::Unprocessable));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_and_shutdown_drains_everything_accepted() {
    let handled = Arc::new(AtomicU32::new(0));
    let counter = handled.clone();
    let router = EventRouter::new().on(move |_: Event<Ping>| {
        let counter = counter.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        }
    });
    let dispatcher = Dispatcher::builder(router).workers(1).capacity(3).start();
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..10 {
        match dispatcher.submit(ping(&format!("e{i}"), i)).await {
            Ok(Submitted::Accepted) => accepted += 1,
            Err(SubmitError::Full) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Nothing ran yet (the worker only starts once this task yields), so
    // exactly the capacity was taken.
    assert_eq!((accepted, refused), (3, 7), "an inbox of 3 takes 3 of a burst of 10");
    let report = dispatcher.shutdown(Duration::from_secs(60)).await;
    assert_eq!((report.left, report.drained), (0, true));
    assert_eq!(handled.load(Ordering::SeqCst), accepted, "every accepted event was handled");
    assert!(
        matches!(dispatcher.submit(ping("late", 0)).await, Err(SubmitError::Closed)),
        "closed after shutdown"
    );
}

/// Draining the memory inbox at shutdown moves on as attempts end and
/// workers stop, not on the idle workers' poll timer: with the timer an
/// hour away (on tokio's paused clock, which jumps to the next timer when
/// nothing else can run), a worker left waiting by a missed wake-up would
/// show as an hour gone.
#[tokio::test(start_paused = true)]
async fn shutdown_drains_without_waiting_for_the_poll_timer() {
    const POLL: Duration = Duration::from_secs(3600);
    let handled = Arc::new(AtomicU32::new(0));
    let counter = handled.clone();
    let router = EventRouter::new().on(move |event: Event<Ping>| {
        let counter = counter.clone();
        async move {
            // Uneven lengths, so the two workers finish at different times
            // and one waits, closing, for the other's outcomes.
            tokio::time::sleep(Duration::from_millis(1 + u64::from(event.n % 7) * 3)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        }
    });
    let dispatcher = Dispatcher::builder(router).workers(2).poll_interval(POLL).start();
    for i in 0..40 {
        dispatcher.submit(ping(&format!("e{i}"), i)).await.unwrap();
    }
    let started = Instant::now();
    let report = dispatcher.shutdown(2 * POLL).await;
    assert_eq!((report.left, report.drained), (0, true));
    assert_eq!(handled.load(Ordering::SeqCst), 40, "every accepted event was handled");
    assert!(
        started.elapsed() < POLL,
        "shutdown took {:?}: a worker waited for its poll timer",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_reports_what_the_deadline_left() {
    let router = EventRouter::new().on(|_: Event<Ping>| async {
        tokio::time::sleep(Duration::from_secs(20)).await;
        Ok::<_, std::io::Error>(())
    });
    let dispatcher =
        Dispatcher::builder(router).workers(1).attempt_timeout(Duration::from_secs(60)).start();
    for i in 0..3 {
        dispatcher.submit(ping(&format!("e{i}"), i)).await.unwrap();
    }
    tokio::task::yield_now().await;
    let report = dispatcher.shutdown(Duration::from_secs(30)).await;
    assert!(!report.drained);
    assert_eq!(report.left, 2, "one finished, one running, one queued");

    // The running attempt was cut off and logged as abandoned, not
    // counted; the queued one never started.
    let (done, _) = record_of(&dispatcher, "e0").await;
    let handled = &done.attempt_log[..];
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].outcome(), AttemptOutcome::Handled);
    assert_eq!(handled[0].duration(), Some(Duration::from_secs(20)));
    let (cut, log) = record_of(&dispatcher, "e1").await;
    assert_eq!((cut.state, cut.attempts), (State::Pending, 0));
    assert_eq!(log, [(1, AttemptOutcome::Abandoned, None)]);
    assert_eq!(cut.attempt_log[0].duration(), Some(Duration::from_secs(10)));
    let (queued, log) = record_of(&dispatcher, "e2").await;
    assert_eq!((queued.state, log.len()), (State::Pending, 0));
}

/// Records every (id, attempt) a handler sees, taking `delay` per attempt.
fn recording(delay: Duration, seen: Arc<Mutex<Vec<(String, u32)>>>) -> EventRouter {
    EventRouter::new().on(move |event: Event<Ping>| {
        let seen = seen.clone();
        async move {
            tokio::time::sleep(delay).await;
            seen.lock().unwrap().push((event.id().to_owned(), event.attempt()));
            Ok::<_, std::io::Error>(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_handler_longer_than_its_lease_keeps_it_by_renewal() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    // Each handler runs 20 leases long; two idle workers would take the
    // delivery over if the lease were not renewed.
    let dispatcher = Dispatcher::builder(recording(Duration::from_secs(20), seen.clone()))
        .workers(3)
        .lease(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(100))
        .attempt_timeout(Duration::from_secs(60))
        .start();
    dispatcher.submit(ping("long", 1)).await.unwrap();
    assert!(dispatcher.shutdown(Duration::from_secs(120)).await.drained);
    assert_eq!(*seen.lock().unwrap(), [("long".to_owned(), 1)], "handled once, by one worker");
    assert_eq!(dispatcher.stats().handled, 1);
}

#[tokio::test(start_paused = true)]
async fn time_spent_waiting_for_a_worker_does_not_eat_the_lease() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    // One worker, 30 s per event, a 2 s lease: the last of 12 events waits
    // five and a half minutes, far past any lease, and is still handled
    // once, at its first attempt.
    let dispatcher = Dispatcher::builder(recording(Duration::from_secs(30), seen.clone()))
        .workers(1)
        .lease(Duration::from_secs(2))
        .attempt_timeout(Duration::from_secs(60))
        .start();
    for i in 0..12 {
        dispatcher.submit(ping(&format!("e{i}"), i)).await.unwrap();
    }
    assert!(dispatcher.shutdown(Duration::from_secs(3600)).await.drained);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert!(seen.iter().all(|(_, attempt)| *attempt == 1), "{seen:?}");
    // Redelivered after being handled: a duplicate, not a second run.
    assert!(matches!(dispatcher.submit(ping("e11", 11)).await, Err(SubmitError::Closed)));
    assert_eq!(
        dispatcher.inbox().accept(&ping("e11", 11).into()).await.unwrap(),
        hookwarden::inbox::Accept::Duplicate
    );
}

#[tokio::test(start_paused = true)]
async fn deliveries_waiting_to_retry_keep_their_place_in_the_capacity() {
    // A downstream that fails every first and second attempt: the inbox
    // holds at most 2 deliveries, retries included, so a burst is refused
    // instead of piling up behind the retries.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let router = EventRouter::new().on(move |event: Event<Ping>| {
        let log = log.clone();
        async move {
            if event.attempt() <= 2 {
                return Err(format!("attempt {} fails", event.attempt()));
            }
            log.lock().unwrap().push(event.id().to_owned());
            Ok(())
        }
    });
    let dispatcher = Dispatcher::builder(router)
        .workers(1)
        .capacity(2)
        .retry(RetryPolicy::default().initial_backoff(Duration::from_secs(1)))
        .start();
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for i in 0..200 {
        match dispatcher.submit(ping(&format!("e{i}"), i)).await {
            Ok(Submitted::Accepted) => accepted.push(format!("e{i}")),
            Err(SubmitError::Full) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
        // Senders arrive over time; meanwhile attempts fail and wait.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let held = dispatcher.inbox().stats().await.unwrap().active();
        assert!(held <= 2, "the inbox holds {held} > 2");
    }
    // Each accepted delivery holds its slot through two failed attempts and
    // their backoffs (equal jitter: 0.5–1 s, then 1–2 s), so over the 10 s
    // of arrivals two slots take at most 2 + 2 × 10 / 1.5 ≈ 14 deliveries
    // and at least 2 × 10 / 3 ≈ 6: every other one is refused as `Full`.
    assert_eq!(accepted.len() + refused, 200);
    assert!(refused >= 180, "backpressure while the downstream fails: {refused} refused");
    assert!(accepted.len() >= 6, "the slots free up as deliveries finish: {accepted:?}");
    assert!(dispatcher.shutdown(Duration::from_secs(600)).await.drained);
    let mut handled = seen.lock().unwrap().clone();
    handled.sort();
    accepted.sort();
    assert_eq!(handled, accepted, "every accepted delivery handled once");
}

#[tokio::test(start_paused = true)]
async fn a_leased_batch_keeps_its_waiting_leases_while_the_first_runs() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    // The first worker leases all three; each takes 5 leases' time. The
    // second worker would take over the waiting ones if their leases were
    // not renewed with the running one's.
    let dispatcher = Dispatcher::builder(recording(Duration::from_secs(5), seen.clone()))
        .workers(2)
        .lease_batch(3)
        .lease(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(100))
        .start();
    for i in 0..3 {
        dispatcher.submit(ping(&format!("b{i}"), i)).await.unwrap();
    }
    assert!(dispatcher.shutdown(Duration::from_secs(120)).await.drained);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let once: Vec<(String, u32)> = (0..3).map(|i| (format!("b{i}"), 1)).collect();
    assert_eq!(seen, once, "each handled once, at its first attempt");
}

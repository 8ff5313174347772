//! Races in the in-memory idempotency store and the in-memory inbox,
//! explored with shuttle: a few threads race on one key or one delivery,
//! under shuttle's randomised schedulers, many times over, and each run
//! checks what must hold whatever the interleaving.
//!
//! In an ordinary build the store's and inbox's locks are std's, so
//! shuttle interleaves whole operations (each thread yields between two).
//! Built with their locks under shuttle's scheduler, every lock taken is a
//! point where another thread may run, so the interleavings inside the
//! critical sections are explored too, and a deadlock fails the test:
//!
//! ```text
//! RUSTFLAGS="--cfg hookwarden_shuttle" CARGO_TARGET_DIR=target/shuttle \
//!     cargo test --features testing --test races
//! ```
//!
//! (That build is for this test alone: shuttle's locks work only inside
//! shuttle.) A failure prints the schedule that produced it, which
//! `shuttle::replay` runs again.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hookwarden::event::Delivery;
use hookwarden::inbox::{Accept, AttemptOutcome, AttemptRecord, Inbox, MemoryInbox, State};
use hookwarden::store::{Claim, ClaimToken, IdempotencyStore, MemoryStore};
use shuttle::thread;

/// Runs per scheduler and test: a few seconds in all in an ordinary build,
/// about a minute with shuttle's locks.
const RUNS: usize = if cfg!(hookwarden_shuttle) { 5_000 } else { 1_000 };
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// Runs `race` under a uniformly random scheduler, then under PCT (which
/// favours the few preemptions most races need).
fn explore(race: impl Fn() + Send + Sync + 'static) {
    let race = Arc::new(race);
    let again = race.clone();
    shuttle::check_random(move || race(), RUNS);
    shuttle::check_pct(move || again(), RUNS, 3);
}

/// The store's and inbox's futures are ready at once (their work is done
/// under a lock, not across an await).
fn now<F: Future>(future: F) -> F::Output {
    shuttle::future::block_on(future)
}

/// Where another thread may run, in an ordinary build.
fn step() {
    thread::yield_now();
}

/// A small store: one key is raced on, so one shard is enough.
fn store() -> MemoryStore {
    MemoryStore::builder().shards(1).max_entries(64).build()
}

fn inbox(capacity: usize) -> MemoryInbox {
    MemoryInbox::with_capacity(capacity)
}

fn delivery(id: &str) -> Delivery {
    Delivery::new(id, "order.paid", "1", format!(r#"{{"id":"{id}"}}"#).into())
}

#[test]
fn of_three_claims_of_one_key_exactly_one_wins() {
    explore(|| {
        let store = store();
        let racers: Vec<_> = (0..3)
            .map(|_| {
                let store = store.clone();
                thread::spawn(move || {
                    let token = ClaimToken::random();
                    step();
                    match now(store.claim("evt_1", &token, HOUR)).unwrap() {
                        Claim::Claimed(_) => {
                            step();
                            assert!(now(store.complete("evt_1", &token, DAY)).unwrap());
                            1
                        }
                        Claim::InFlight | Claim::Done => 0,
                    }
                })
            })
            .collect();
        let winners: usize = racers.into_iter().map(|racer| racer.join().unwrap()).sum();
        assert_eq!(winners, 1);
        assert_eq!(now(store.claim("evt_1", &ClaimToken::random(), HOUR)).unwrap(), Claim::Done);
    });
}

#[test]
fn a_claim_is_held_by_one_token_at_a_time_across_releases() {
    explore(|| {
        let store = store();
        let holders = Arc::new(AtomicUsize::new(0));
        let racers: Vec<_> = (0..3)
            .map(|_| {
                let (store, holders) = (store.clone(), holders.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        let token = ClaimToken::random();
                        if let Claim::Claimed(_) = now(store.claim("evt_1", &token, HOUR)).unwrap()
                        {
                            assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                            step();
                            holders.fetch_sub(1, Ordering::SeqCst);
                            assert!(now(store.release("evt_1", &token)).unwrap());
                        }
                        step();
                    }
                })
            })
            .collect();
        for racer in racers {
            racer.join().unwrap();
        }
        let token = ClaimToken::random();
        assert_eq!(now(store.claim("evt_1", &token, HOUR)).unwrap(), Claim::Claimed(token));
    });
}

#[test]
fn an_expired_claim_neither_blocks_a_new_one_nor_completes() {
    explore(|| {
        let store = store();
        let expired = {
            let store = store.clone();
            thread::spawn(move || {
                // A lease of zero has run out as soon as it is taken
                // (claimed, or in flight or done by the other thread).
                let token = ClaimToken::random();
                // The store's clock counts milliseconds: let one pass, so
                // that the other thread, if it read the clock and then
                // waited for the lock, would judge this claim by an
                // earlier time than its own (as it once did).
                if cfg!(hookwarden_shuttle) {
                    std::thread::sleep(Duration::from_micros(1100));
                }
                now(store.claim("evt_1", &token, Duration::ZERO)).unwrap();
                step();
                assert!(!now(store.complete("evt_1", &token, DAY)).unwrap(), "completed expired");
                assert!(!now(store.release("evt_1", &token)).unwrap(), "released expired");
            })
        };
        let live = {
            let store = store.clone();
            thread::spawn(move || {
                let token = ClaimToken::random();
                step();
                let claim = now(store.claim("evt_1", &token, HOUR)).unwrap();
                assert_eq!(claim, Claim::Claimed(token.clone()), "blocked by an expired claim");
                step();
                assert!(now(store.complete("evt_1", &token, DAY)).unwrap());
            })
        };
        expired.join().unwrap();
        live.join().unwrap();
        assert_eq!(now(store.claim("evt_1", &ClaimToken::random(), HOUR)).unwrap(), Claim::Done);
    });
}

#[test]
fn one_delivery_accepted_twice_at_once_is_kept_once() {
    explore(|| {
        let inbox = inbox(4);
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let inbox = inbox.clone();
                thread::spawn(move || {
                    step();
                    now(inbox.accept(&delivery("evt_1").into())).unwrap()
                })
            })
            .collect();
        let mut answers: Vec<Accept> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        answers.sort_by_key(|answer| format!("{answer:?}"));
        assert_eq!(answers, [Accept::Accepted, Accept::Duplicate]);
        let leased = now(inbox.lease(10, HOUR)).unwrap();
        assert_eq!(leased.len(), 1, "kept once");
    });
}

#[test]
fn a_full_inbox_takes_exactly_its_capacity() {
    explore(|| {
        let inbox = inbox(2);
        let racers: Vec<_> = (0..3)
            .map(|i| {
                let inbox = inbox.clone();
                thread::spawn(move || {
                    step();
                    now(inbox.accept(&delivery(&format!("evt_{i}")).into())).unwrap()
                })
            })
            .collect();
        let answers: Vec<Accept> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(answers.iter().filter(|a| **a == Accept::Accepted).count(), 2, "{answers:?}");
        assert_eq!(answers.iter().filter(|a| **a == Accept::Full).count(), 1, "{answers:?}");
        assert_eq!(now(inbox.lease(10, HOUR)).unwrap().len(), 2);
    });
}

#[test]
fn accept_lease_and_complete_lose_nothing_and_hand_nothing_out_twice() {
    explore(|| {
        let inbox = inbox(4);
        let handed_out = Arc::new(AtomicUsize::new(0));
        let sender = {
            let inbox = inbox.clone();
            thread::spawn(move || {
                step();
                assert_eq!(now(inbox.accept(&delivery("evt_1").into())).unwrap(), Accept::Accepted);
            })
        };
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (inbox, handed_out) = (inbox.clone(), handed_out.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        step();
                        for leased in now(inbox.lease(1, HOUR)).unwrap() {
                            handed_out.fetch_add(1, Ordering::SeqCst);
                            assert_eq!(leased.attempt, 1);
                            step();
                            assert!(
                                now(inbox.complete(&leased.lease, &handled(leased.attempt)))
                                    .unwrap(),
                                "lease lost"
                            );
                        }
                    }
                })
            })
            .collect();
        sender.join().unwrap();
        for worker in workers {
            worker.join().unwrap();
        }
        // Never handed out twice under a live lease; and if the workers
        // looked before it arrived, it is still there: nothing is lost.
        match handed_out.load(Ordering::SeqCst) {
            0 => assert_eq!(now(inbox.lease(10, HOUR)).unwrap().len(), 1, "lost"),
            1 => {
                let record = now(inbox.get("evt_1")).unwrap().expect("remembered");
                assert_eq!(record.state, State::Done);
            }
            twice => panic!("handed out {twice} times under a live lease"),
        }
        assert_eq!(now(inbox.accept(&delivery("evt_1").into())).unwrap(), Accept::Duplicate);
    });
}

#[test]
fn after_a_lease_runs_out_only_the_new_lease_can_finish_the_delivery() {
    explore(|| {
        let inbox = inbox(4);
        assert_eq!(now(inbox.accept(&delivery("evt_1").into())).unwrap(), Accept::Accepted);
        // One worker's lease runs out at once; the other's lasts.
        let workers: Vec<_> = [Duration::ZERO, HOUR]
            .into_iter()
            .map(|lease_for| {
                let inbox = inbox.clone();
                thread::spawn(move || {
                    step();
                    let leased = now(inbox.lease(1, lease_for)).unwrap().pop()?;
                    step();
                    Some((
                        leased.attempt,
                        now(inbox.complete(&leased.lease, &handled(leased.attempt))).unwrap(),
                    ))
                })
            })
            .collect();
        let mut outcomes: Vec<(u32, bool)> =
            workers.into_iter().filter_map(|worker| worker.join().unwrap()).collect();
        outcomes.sort_unstable();
        // Handed out once, it is finished by that lease (even if it ran
        // out: nobody took it since). Handed out again, only the second
        // lease can finish it, whoever tries first.
        match outcomes.as_slice() {
            [(1, true)] => {}
            [(1, false), (2, true)] => {}
            other => panic!("attempts and completions: {other:?}"),
        }
        let record = now(inbox.get("evt_1")).unwrap().expect("remembered");
        assert_eq!(record.state, State::Done);
        assert!(now(inbox.lease(10, HOUR)).unwrap().is_empty());
    });
}

/// The record of a successful attempt.
fn handled(attempt: u32) -> AttemptRecord {
    AttemptRecord::new(attempt, AttemptOutcome::Handled, Duration::from_millis(1))
}

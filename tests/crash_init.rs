//! Crashes around creation and cleanup, at exact steps (`--cfg ipcring_test`).
//!
//! - A creator killed at each `init.*` failpoint leaves an object that an opener reports
//!   with a typed error: `CreatorDied` at once (well before a 30 s open timeout) when the
//!   object has a size and its init lock is free, `NotReady` after the timeout when it has
//!   none yet (a creator between `shm_open` and its lock looks the same); `Ring::remove`
//!   without force removes it, and nothing is left in /dev/shm.
//! - A creator stopped (alive) before READY keeps its init lock: openers time out, `remove`
//!   refuses (`InUse`), `force` removes.
//! - `remove` refuses live endpoints (another process's, this one's, a SIGSTOPped one's), and
//!   removes once their holders are SIGKILLed; `force` removes while they live.
//! - Two cleaners racing for a stale ring while a creator makes a new one under the name:
//!   exactly one removes the stale ring and the new one survives. Half of the rounds force
//!   the dangerous interleaving with `sigstop` failpoints (cleaner B has the old object open,
//!   cleaner A removes it, a new ring takes the name, then B checks): B must say NotFound.
//! - A cleaner killed at each `cleanup.*` failpoint leaves the object (or, past the unlink,
//!   nothing) and the next cleaner works.
//! - A creator between `shm_open` and its init lock loses its fresh object to a cleaner and
//!   fails with `Busy(cleaner)`, leaving nothing.
//! - `ipcring::remove` on `mq://`; failpoints armed from `IPCRING_FAILPOINTS` in a spawned
//!   process; `wait.before_park`.
//!
//! Children are forked (common::fork) and arm their failpoints themselves after the fork;
//! results come back as exit codes. Only hang bounds are asserted, plus "before the open
//! timeout" for CreatorDied. `IPCRING_CLEANER_ROUNDS` sets the racing rounds (default 50).

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;

use common::*;
use ipcring::failpoint::{self, Action};
use ipcring::{Create, Error, Kind, Receiver, Ring, RingOptions, Sender, WakeBackend};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(60);

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        // Armed from the environment by the parent (IPCRING_FAILPOINTS).
        "create" => {
            let _ = Ring::create(&param("RING"), &opts(Kind::Spsc, WakeBackend::Futex));
            panic!("the failpoint did not fire");
        }
        other => panic!("unknown role {other:?}"),
    });
}

fn opts(kind: Kind, wake: WakeBackend) -> RingOptions {
    RingOptions::new().kind(kind).wake(wake).capacity(8).msg_size(64)
}

fn exists(name: &ShmName) -> bool {
    name.path().symlink_metadata().is_ok()
}

/// Exit codes a forked child reports a `remove` or `create` result with.
fn code(r: &ipcring::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(Error::NotFound { .. }) => 1,
        Err(Error::Busy { role: "cleaner" }) => 2,
        Err(Error::InUse { .. }) => 3,
        Err(Error::AlreadyExists { .. }) => 4,
        Err(e) => {
            raw_stderr(&format!("unexpected: {e:?}\n"));
            9
        }
    }
}

fn code_name(c: i32) -> &'static str {
    match c {
        0 => "Ok",
        1 => "NotFound",
        2 => "Busy(cleaner)",
        3 => "InUse",
        4 => "AlreadyExists",
        _ => "other",
    }
}

/// Runs `f` in the child and leaves with its code (`_exit`, no harness, no destructors).
fn exit_with(c: i32) -> ! {
    // SAFETY: _exit ends the forked child at once.
    unsafe { libc::_exit(c) }
}

/// How a forked child ended: `Ok(code)` for an exit, `Err(signal)` for a signal.
fn outcome(child: Forked) -> Result<i32, i32> {
    let e = child.wait(HANG);
    assert!(!e.timed_out, "{}", e.describe());
    if libc::WIFEXITED(e.status) {
        Ok(libc::WEXITSTATUS(e.status))
    } else if libc::WIFSIGNALED(e.status) {
        Err(libc::WTERMSIG(e.status))
    } else {
        panic!("{}", e.describe())
    }
}

fn expect_killed(child: Forked) {
    let e = child.wait(HANG);
    assert!(
        !e.timed_out && libc::WIFSIGNALED(e.status) && libc::WTERMSIG(e.status) == libc::SIGKILL,
        "expected death by SIGKILL at the failpoint: {}",
        e.describe()
    );
}

/// The process state letter from /proc/PID/stat (`T` stopped, `Z` exited, ...).
fn proc_state(pid: libc::pid_t) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .unwrap_or('?')
}

/// Waits (bounded) until `pid` is stopped (`true`) or has exited (`false`).
fn wait_stopped(pid: libc::pid_t) -> bool {
    let start = Instant::now();
    loop {
        match proc_state(pid) {
            'T' | 't' => return true,
            'Z' | 'X' | '?' => return false,
            _ => {}
        }
        assert!(start.elapsed() < HANG, "pid {pid} neither stopped nor exited");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Waits (bounded) until `cond`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < HANG, "{what}: not within {HANG:?}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A ring whose only endpoints were held by a process that was then SIGKILLed.
fn stale_ring(name: &ShmName, kind: Kind) {
    let ring = Ring::create(name.as_str(), &opts(kind, WakeBackend::Futex)).expect("create");
    let pipe = Pipe::new();
    let child = fork("endpoint holder", || {
        let r = Ring::open(name.as_str()).unwrap();
        let _tx = r.sender().unwrap();
        let _rx = r.receiver().unwrap();
        pipe.write(b"a");
        std::thread::sleep(HANG * 2);
    });
    assert!(pipe.read_exact(&mut [0u8], HANG), "the endpoint holder never attached");
    assert!(matches!(
        Ring::remove(name.as_str(), false),
        Err(Error::InUse { endpoints: 2, .. })
    ));
    child.signal(libc::SIGKILL);
    expect_killed(child);
    drop(ring);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[test]
fn failpoint_names_and_arming() {
    let _s = serial(); // arms a point of this process: keep forks of other tests away
    for p in failpoint::ALL {
        assert!(failpoint::ALL.iter().filter(|q| *q == p).count() == 1, "{p} twice");
    }
    assert!(matches!(
        failpoint::arm("init.no_such_step", Action::Kill, 0),
        Err(Error::InvalidName { .. })
    ));
    // Sleep fires on the third hit (skip 2) and every hit after it.
    failpoint::arm(failpoint::SEND_AFTER_CLAIM, Action::Sleep(200), 2).unwrap();
    let t = Instant::now();
    failpoint::hit(failpoint::SEND_AFTER_CLAIM);
    failpoint::hit(failpoint::SEND_AFTER_CLAIM);
    let before = t.elapsed();
    failpoint::hit(failpoint::SEND_AFTER_CLAIM);
    assert!(t.elapsed() >= Duration::from_millis(200), "the third hit did not sleep");
    failpoint::disarm_all();
    let t2 = Instant::now();
    failpoint::hit(failpoint::SEND_AFTER_CLAIM);
    println!(
        "[crash_init] unarmed hits {:.3} ms, armed third hit slept, disarmed hit {:.3} ms",
        ms(before),
        ms(t2.elapsed())
    );
}

#[test]
fn creator_killed_at_each_init_point() {
    let _s = serial();
    let points: Vec<&str> = failpoint::ALL
        .iter()
        .copied()
        .filter(|p| p.starts_with("init."))
        .collect();
    assert_eq!(points.len(), 5);
    for (kind, wake) in [(Kind::Spsc, WakeBackend::Futex), (Kind::Mpmc, WakeBackend::Sem)] {
        for &point in &points {
            let name = ShmName::new("crash-init");
            let child = fork("creator", || {
                failpoint::arm(point, Action::Kill, 0).unwrap();
                let r = Ring::create(name.as_str(), &opts(kind, wake));
                raw_stderr(&format!("create returned {r:?} past {point}\n"));
            });
            expect_killed(child);
            assert!(exists(&name), "{point}: the object never appeared");
            let size = name.path().metadata().unwrap().len();
            let (timeout, want_died) = if size == 0 {
                (Duration::from_millis(300), false)
            } else {
                (Duration::from_secs(30), true)
            };
            let t = Instant::now();
            let r = Ring::open_with(name.as_str(), &RingOptions::new().open_timeout(timeout));
            let took = t.elapsed();
            match (&r, want_died) {
                (Err(Error::CreatorDied), true) => {
                    assert!(took < Duration::from_secs(10), "{point}: CreatorDied after {took:?}")
                }
                (Err(Error::NotReady), false) => assert!(took >= timeout, "{point}: NotReady after {took:?}"),
                _ => panic!("{point} (size {size}): open gave {r:?}"),
            }
            // The C ABI says the same, with the address and the cause in last_error.
            let err = r.unwrap_err().to_string();
            if want_died {
                assert!(err.contains("died"), "{err}");
            }
            println!(
                "[crash_init] {:?}/{:?} creator killed at {point}: size {size}, open -> {} in {:.1} ms",
                kind,
                wake,
                if want_died { "CreatorDied" } else { "NotReady" },
                ms(took)
            );
            Ring::remove(name.as_str(), false).unwrap_or_else(|e| panic!("{point}: remove: {e:?}"));
            assert!(!exists(&name), "{point}: left behind");
        }
    }
}

#[test]
fn creator_stopped_before_ready_is_alive() {
    let _s = serial();
    let name = ShmName::new("crash-stop");
    let child = fork("creator", || {
        failpoint::arm(failpoint::INIT_BEFORE_READY, Action::Stop, 0).unwrap();
        let _ = Ring::create(name.as_str(), &opts(Kind::Spsc, WakeBackend::Futex));
        raw_stderr("create returned past a Stop failpoint\n");
    });
    wait_until("the creator reserved the object", || {
        name.path().metadata().map(|m| m.len() > 0).unwrap_or(false)
    });
    let timeout = Duration::from_millis(300);
    let t = Instant::now();
    let r = Ring::open_with(name.as_str(), &RingOptions::new().open_timeout(timeout));
    let took = t.elapsed();
    assert!(matches!(r, Err(Error::NotReady)), "{r:?}");
    assert!(took >= timeout, "NotReady after {took:?}");
    match Ring::remove(name.as_str(), false) {
        Err(Error::InUse {
            endpoints: 0,
            initialising: true,
        }) => {}
        other => panic!("remove of an initialising ring: {other:?}"),
    }
    assert!(exists(&name));
    Ring::remove(name.as_str(), true).expect("forced remove");
    assert!(!exists(&name));
    assert!(child.try_wait_alive(), "the stopped creator died");
    child.signal(libc::SIGKILL);
    expect_killed(child);
    println!(
        "[crash_init] creator stopped before READY: open NotReady after {:.1} ms",
        ms(took)
    );
}

/// `Forked::try_wait` would reap; this only asks /proc.
trait Alive {
    fn try_wait_alive(&self) -> bool;
}
impl Alive for Forked {
    fn try_wait_alive(&self) -> bool {
        !matches!(proc_state(self.pid()), 'Z' | 'X' | '?')
    }
}

#[test]
fn remove_refuses_live_endpoints() {
    let _s = serial();
    let name = ShmName::new("crash-live");
    let ring = Ring::create(name.as_str(), &opts(Kind::Mpmc, WakeBackend::Futex)).unwrap();
    let pipe = Pipe::new();
    let child = fork("endpoints", || {
        let r = Ring::open(name.as_str()).unwrap();
        let _a = r.sender().unwrap();
        let _b = r.sender().unwrap();
        let _c = r.receiver().unwrap();
        pipe.write(b"a");
        std::thread::sleep(HANG * 2);
    });
    assert!(pipe.read_exact(&mut [0u8], HANG));
    let in_use = |n: u32| match Ring::remove(name.as_str(), false) {
        Err(Error::InUse {
            endpoints,
            initialising: false,
        }) if endpoints == n => {}
        other => panic!("expected InUse with {n} endpoints: {other:?}"),
    };
    in_use(3);
    // This process's own endpoints count too.
    let rx = ring.receiver().unwrap();
    in_use(4);
    drop(rx);
    in_use(3);
    // A stopped process is alive.
    child.signal(libc::SIGSTOP);
    assert!(wait_stopped(child.pid()));
    in_use(3);
    // Dead ones are not.
    child.signal(libc::SIGKILL);
    expect_killed(child);
    let tx = ring.sender().unwrap();
    in_use(1);
    drop(tx);
    Ring::remove(name.as_str(), false).expect("remove after the holders died");
    assert!(!exists(&name));
    assert!(matches!(
        Ring::remove(name.as_str(), false),
        Err(Error::NotFound { .. })
    ));

    // force: removed while a receiver lives; the live ends keep working with each other.
    let name = ShmName::new("crash-force");
    let ring = Ring::create(name.as_str(), &opts(Kind::Spsc, WakeBackend::Futex)).unwrap();
    let child = fork("receiver", || {
        let mut rx = Ring::open(name.as_str()).unwrap().receiver().unwrap();
        pipe.write(b"a");
        assert_eq!(rx.recv_vec_timeout(HANG).unwrap(), b"after the remove");
    });
    assert!(pipe.read_exact(&mut [0u8], HANG));
    in_use_of(&name, 1);
    Ring::remove(name.as_str(), true).expect("forced remove");
    assert!(!exists(&name));
    ring.sender().unwrap().send(b"after the remove").unwrap();
    child.expect_success(HANG);
}

fn in_use_of(name: &ShmName, n: u32) {
    match Ring::remove(name.as_str(), false) {
        Err(Error::InUse { endpoints, .. }) if endpoints == n => {}
        other => panic!("expected InUse with {n} endpoints: {other:?}"),
    }
}

/// One free race: two cleaners released together; as soon as the stale ring's name is free,
/// a forked creator makes a new ring and stops (SIGSTOP) just before READY, holding its init
/// lock. Returns (cleaner codes, whether the creator got its object).
fn free_race(name: &ShmName) -> ([i32; 2], bool) {
    let go = Pipe::new();
    let cleaner = |label| {
        fork(label, || {
            assert!(go.read_exact(&mut [0u8], HANG));
            exit_with(code(&Ring::remove(name.as_str(), false)));
        })
    };
    let (a, b) = (cleaner("cleaner A"), cleaner("cleaner B"));
    go.write(b"ab");
    let (pa, pb) = (a.pid(), b.pid());
    wait_until("the stale ring removed or both cleaners done", || {
        !exists(name) || (proc_state(pa) == 'Z' && proc_state(pb) == 'Z')
    });
    let creator = fork("creator", || {
        failpoint::arm(failpoint::INIT_BEFORE_READY, Action::SigStop, 0).unwrap();
        let r = Ring::create(name.as_str(), &opts(Kind::Spsc, WakeBackend::Futex));
        exit_with(10 + code(&r.map(drop)) % 10);
    });
    let codes = [
        outcome(a).expect("cleaner A killed"),
        outcome(b).expect("cleaner B killed"),
    ];
    let created = wait_stopped(creator.pid());
    if created {
        // It holds the init lock: no cleaner may have removed its object.
        assert!(
            exists(name),
            "a cleaner removed a ring whose creator is initialising it"
        );
        creator.signal(libc::SIGCONT);
        assert_eq!(outcome(creator), Ok(10), "the creator failed after SIGCONT");
        let ring = Ring::open(name.as_str()).expect("the new ring opens");
        drop(ring);
    } else {
        // Lost its fresh object to the loser cleaner, which took the init lock first.
        assert_eq!(outcome(creator), Ok(12), "creator: expected Busy(cleaner)");
        assert!(!exists(name));
    }
    (codes, created)
}

/// The forced interleaving: B has the stale ring open (stopped at cleanup.after_open), A
/// checks it (stopped at cleanup.after_check), removes it (stopped at cleanup.after_unlink,
/// still holding the cleanup lock), a new ring with a live receiver takes the name, then B
/// goes on and A exits. B must not remove the new ring.
fn forced_race(name: &ShmName) -> [i32; 2] {
    let b = fork("cleaner B", || {
        failpoint::arm(failpoint::CLEANUP_AFTER_OPEN, Action::SigStop, 0).unwrap();
        exit_with(code(&Ring::remove(name.as_str(), false)));
    });
    assert!(wait_stopped(b.pid()), "B exited before its failpoint");
    let a = fork("cleaner A", || {
        failpoint::arm(failpoint::CLEANUP_AFTER_CHECK, Action::SigStop, 0).unwrap();
        failpoint::arm(failpoint::CLEANUP_AFTER_UNLINK, Action::SigStop, 0).unwrap();
        exit_with(code(&Ring::remove(name.as_str(), false)));
    });
    assert!(wait_stopped(a.pid()), "A exited before cleanup.after_check");
    assert!(exists(name), "A removed the ring before its check failpoint");
    a.signal(libc::SIGCONT);
    wait_until("A unlinked the stale ring", || !exists(name));
    assert!(wait_stopped(a.pid()), "A exited before cleanup.after_unlink");
    let ring = Ring::create(name.as_str(), &opts(Kind::Spsc, WakeBackend::Futex)).expect("the new ring");
    let rx = ring.receiver().unwrap();
    b.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(5)); // let B meet A's cleanup lock, usually
    a.signal(libc::SIGCONT);
    let codes = [outcome(a).expect("A killed"), outcome(b).expect("B killed")];
    assert!(exists(name), "the new ring was removed");
    let mut tx = Ring::open(name.as_str()).unwrap().sender().unwrap();
    tx.send(b"still here").unwrap();
    drop(tx);
    drop(rx);
    codes
}

#[test]
fn concurrent_cleaners_never_remove_a_new_ring() {
    let _s = serial();
    let rounds = env_u64("IPCRING_CLEANER_ROUNDS", 50);
    let mut tally = std::collections::BTreeMap::new();
    let mut creator_lost = 0;
    let start = Instant::now();
    for round in 0..rounds {
        let name = ShmName::new("crash-race");
        stale_ring(&name, Kind::Spsc);
        if round % 2 == 0 {
            let [a, b] = forced_race(&name);
            assert_eq!(
                (code_name(a), code_name(b)),
                ("Ok", "NotFound"),
                "round {round} (forced)"
            );
            *tally.entry("forced: A Ok, B NotFound").or_insert(0) += 1;
        } else {
            let (codes, created) = free_race(&name);
            let oks = codes.iter().filter(|&&c| c == 0).count();
            let mut sorted = codes.map(code_name);
            sorted.sort();
            if created {
                // One cleaner removed the stale ring. The other may also report Ok: it can
                // find the ring already gone but its doorbells not yet (the first removes the
                // ring, then its bells) and remove those, as `remove` does for leftover
                // bells. What must hold is that the new ring survives (checked in
                // `free_race`).
                assert!((1..=2).contains(&oks), "round {round}: {sorted:?}");
                assert!(
                    codes.iter().all(|&c| c == 0 || c == 1 || c == 3),
                    "round {round}: {sorted:?}"
                );
            } else {
                // The loser took the new creator's fresh object (before its init lock) and
                // removed it; the creator failed cleanly with Busy(cleaner).
                assert!(oks >= 1, "round {round}: {sorted:?}");
                creator_lost += 1;
            }
            *tally
                .entry(if sorted == ["NotFound", "Ok"] {
                    "free: Ok + NotFound"
                } else if sorted == ["InUse", "Ok"] {
                    "free: Ok + InUse (met the new ring initialising)"
                } else if created && sorted == ["Ok", "Ok"] {
                    "free: Ok + Ok (the second removed the first's doorbells)"
                } else {
                    "free: other (creator lost its fresh object)"
                })
                .or_insert(0) += 1;
        }
        // Nothing left once the round's ring is gone.
        let _ = Ring::remove(name.as_str(), true);
        assert!(!exists(&name));
    }
    println!(
        "[crash_init] {rounds} cleaner rounds in {:.1} s: {tally:?}; creator lost its fresh object {creator_lost} times",
        start.elapsed().as_secs_f64()
    );
}

/// A cleaner that meets a creator between `shm_open` and its init lock (stopped at
/// `init.after_open`) removes the fresh, empty object; the creator then fails with
/// `Busy(cleaner)` and leaves nothing, whether the cleaner still holds the init lock when the
/// creator goes on (stopped at `cleanup.after_check`) or has already finished.
#[test]
fn creator_loses_its_fresh_object_to_a_cleaner() {
    let _s = serial();
    for cleaner_done in [false, true] {
        let name = ShmName::new("crash-lost");
        let creator = fork("creator", || {
            failpoint::arm(failpoint::INIT_AFTER_OPEN, Action::SigStop, 0).unwrap();
            let r = Ring::create(name.as_str(), &opts(Kind::Spsc, WakeBackend::Futex));
            exit_with(10 + code(&r.map(drop)) % 10);
        });
        assert!(wait_stopped(creator.pid()), "the creator exited before init.after_open");
        let cleaner = fork("cleaner", || {
            failpoint::arm(failpoint::CLEANUP_AFTER_CHECK, Action::SigStop, 0).unwrap();
            exit_with(code(&Ring::remove(name.as_str(), false)));
        });
        assert!(
            wait_stopped(cleaner.pid()),
            "the cleaner exited before cleanup.after_check"
        );
        if cleaner_done {
            cleaner.signal(libc::SIGCONT);
            assert_eq!(outcome(cleaner), Ok(0), "the cleaner");
            creator.signal(libc::SIGCONT);
            assert_eq!(outcome(creator), Ok(12), "the creator: expected Busy(cleaner)");
        } else {
            creator.signal(libc::SIGCONT);
            assert_eq!(outcome(creator), Ok(12), "the creator: expected Busy(cleaner)");
            cleaner.signal(libc::SIGCONT);
            assert_eq!(outcome(cleaner), Ok(0), "the cleaner");
        }
        assert!(!exists(&name), "left behind (cleaner done first: {cleaner_done})");
    }
}

#[test]
fn cleaner_killed_at_each_cleanup_point() {
    let _s = serial();
    let points: Vec<&str> = failpoint::ALL
        .iter()
        .copied()
        .filter(|p| p.starts_with("cleanup."))
        .collect();
    assert_eq!(points.len(), 4);
    for &point in &points {
        let name = ShmName::new("crash-clean");
        stale_ring(&name, Kind::Mpmc);
        let child = fork("cleaner", || {
            failpoint::arm(point, Action::Kill, 0).unwrap();
            let r = Ring::remove(name.as_str(), false);
            raw_stderr(&format!("remove returned {r:?} past {point}\n"));
        });
        expect_killed(child);
        let unlinked = point == failpoint::CLEANUP_AFTER_UNLINK;
        assert_eq!(exists(&name), !unlinked, "{point}");
        let next = Ring::remove(name.as_str(), false);
        if unlinked {
            // The ring is gone; the next cleaner removes the doorbells the killed one left
            // (Ok), or finds nothing at all.
            assert!(
                matches!(next, Ok(()) | Err(Error::NotFound { .. })),
                "{point}: {next:?}"
            );
            for bell in [".bell-rx", ".bell-tx"] {
                assert!(
                    !common::shm_path(&format!("{}{bell}", name.as_str())).exists(),
                    "{point}: {bell} left"
                );
            }
        } else {
            // Intact: it still opens, then the next cleaner removes it.
            next.unwrap_or_else(|e| panic!("{point}: the next cleaner: {e:?}"));
        }
        assert!(!exists(&name), "{point}");
    }
}

#[test]
fn creator_armed_from_the_environment() {
    let _s = serial();
    let name = ShmName::new("crash-env");
    let child = spawn(
        "create",
        &[
            ("RING", name.as_str().to_string()),
            ("IPCRING_FAILPOINTS", "init.after_map=kill".to_string()),
        ],
    );
    let exits = wait_all(vec![child], HANG);
    {
        use std::os::unix::process::ExitStatusExt;
        let st = exits[0].status.expect("a status");
        assert_eq!(st.signal(), Some(libc::SIGKILL), "{}", exits[0].describe());
    }
    let r = Ring::open_with(name.as_str(), &RingOptions::new().open_timeout(Duration::from_secs(30)));
    assert!(matches!(r, Err(Error::CreatorDied)), "{r:?}");
    assert!(matches!(
        ipcring::remove(&format!("shm://{}", name.as_str()), false),
        Ok(())
    ));
    assert!(!exists(&name));
}

#[test]
fn blocked_receiver_killed_before_park() {
    let _s = serial();
    let name = ShmName::new("crash-park");
    let ring = Ring::create(name.as_str(), &opts(Kind::Spsc, WakeBackend::Futex)).unwrap();
    let child = fork("receiver", || {
        let mut rx = Ring::open(name.as_str()).unwrap().receiver().unwrap();
        failpoint::arm(failpoint::WAIT_BEFORE_PARK, Action::Kill, 0).unwrap();
        let _ = rx.recv_vec_timeout(HANG);
    });
    expect_killed(child);
    // The receiver died before our sender attached: it was not this sender's receiver, so
    // the sender fills the ring (a receiver may yet come) and then would wait.
    let mut tx = ring.sender().unwrap();
    let r = (0..1024).map(|_| tx.try_send(b"x")).find(|r| r.is_err());
    assert!(matches!(r, Some(Err(Error::WouldBlock))), "{r:?}");
    in_use_of(&name, 1); // our sender
    drop(tx);
    // A sender that attaches to a full ring whose receivers have all gone is Disconnected:
    // nobody will make room unless a receiver comes.
    let mut tx = ring.sender().unwrap();
    let r = tx.send_timeout(b"x", HANG);
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
    drop(tx);
    Ring::remove(name.as_str(), false).unwrap();
}

#[test]
fn remove_mq_refuses_live_endpoints() {
    let _s = serial();
    let name = unique_name("crash-mq");
    let addr = format!("mq://{name}?capacity=8&msg_size=64");
    let bare = format!("mq://{name}");
    let guard = MqGuard(name.clone());
    let rx = Receiver::open(&addr, Create::Exclusive).expect("mq receiver");
    match ipcring::remove(&bare, false) {
        Err(Error::InUse { endpoints: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    let tx = Sender::open(&bare, Create::No).expect("mq sender");
    match ipcring::remove(&bare, false) {
        Err(Error::InUse { endpoints: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
    drop(tx);
    drop(rx);
    ipcring::remove(&bare, false).expect("remove an idle queue");
    assert!(!ipcring::transport::mq::companion_path(&name).exists());
    assert!(matches!(ipcring::remove(&bare, false), Err(Error::NotFound { .. })));
    // Forced while a receiver lives.
    let rx = Receiver::open(&addr, Create::Exclusive).expect("mq receiver");
    ipcring::remove(&bare, true).expect("forced remove");
    assert!(matches!(ipcring::remove(&bare, false), Err(Error::NotFound { .. })));
    drop(rx);
    drop(guard);
}

struct MqGuard(String);
impl Drop for MqGuard {
    fn drop(&mut self) {
        let _ = ipcring::transport::mq::unlink(&self.0);
    }
}

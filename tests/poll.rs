//! `ipcring::poll`: many handles and plain descriptors in one wait, with peers in other
//! processes; 64 rings in one call; timeouts; senders waiting for room; end of stream.

mod common;

use common::{fork, serial, ShmName};
use ipcring::{poll, Create, Error, Events, PollItem, Receiver, Sender, Timeout};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::Duration;

const HANG: Duration = Duration::from_secs(20);

fn addr(name: &str, i: usize) -> String {
    let mode = if i % 2 == 0 { "spsc" } else { "mpmc" };
    format!("shm://{name}-{i}?mode={mode}&capacity=8&msg_size=64")
}

/// 64 rings in one poll: a child sends checked messages to rings chosen at random, with
/// pauses; the parent waits on all 64 at once and receives whatever is ready. Every message
/// arrives once, in order per ring.
#[test]
fn sixty_four_rings_in_one_poll() {
    let _g = serial();
    const RINGS: usize = 64;
    const PER: u64 = 40;
    let name = ShmName::new("poll64");
    let _guards: Vec<ShmName> = (0..RINGS)
        .map(|i| ShmName::from_name(format!("{}-{i}", name.as_str())))
        .collect();
    let mut rxs: Vec<Receiver> = (0..RINGS)
        .map(|i| Receiver::open(&addr(name.as_str(), i), Create::IfMissing).unwrap())
        .collect();
    let child = fork("sender64", || {
        let mut txs: Vec<Sender> = (0..RINGS)
            .map(|i| Sender::open(&addr(name.as_str(), i), Create::No).unwrap())
            .collect();
        let mut next = vec![0u64; RINGS];
        let mut rng = common::rng::Rng::new(7, 1);
        let mut left = RINGS as u64 * PER;
        while left > 0 {
            let i = rng.below(RINGS as u64) as usize;
            if next[i] == PER {
                continue;
            }
            txs[i]
                .send_with_timeout(&common::encode_vec(i as u32, next[i], 40), Timeout::after(HANG))
                .unwrap();
            next[i] += 1;
            left -= 1;
            if left % 97 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let mut check = common::SeqChecker::new(RINGS, Some(40));
    let mut got = 0u64;
    let mut polls = 0u64;
    while got < RINGS as u64 * PER {
        let ready: Vec<usize> = {
            let mut items: Vec<PollItem<'_>> = rxs.iter_mut().map(PollItem::receiver).collect();
            let n = poll(&mut items, Timeout::after(HANG)).unwrap();
            assert!(n > 0, "poll timed out with {got} received");
            polls += 1;
            let ready: Vec<usize> = (0..RINGS).filter(|&i| items[i].is_ready()).collect();
            assert_eq!(ready.len(), n);
            assert!(ready.iter().all(|&i| items[i].revents() == Events::IN));
            ready
        };
        for i in ready {
            loop {
                match rxs[i].try_recv_vec() {
                    Ok(m) => {
                        check.check_or_panic(&m);
                        got += 1;
                    }
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("ring {i}: {e}"),
                }
            }
        }
    }
    check.assert_complete(PER);
    child.expect_success(HANG);
    println!("[poll64] {got} messages over {RINGS} rings in {polls} polls");
    // Every sender is gone: every ring reports end of stream through the poll.
    let mut items: Vec<PollItem<'_>> = rxs.iter_mut().map(PollItem::receiver).collect();
    let mut ended = 0;
    for _ in 0..100 {
        ended = poll(&mut items, Timeout::after(HANG)).unwrap();
        if ended == RINGS {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ended, RINGS);
    for rx in &mut rxs {
        assert!(matches!(rx.try_recv_vec(), Err(Error::EndOfStream)));
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Plain descriptors beside handles: a pipe's readability is reported as `IN`, the ring's
/// message as the ring's; a timeout with nothing ready is 0; `NonBlocking` looks once.
#[test]
fn handles_and_plain_descriptors() {
    let _g = serial();
    let (mut tx, mut rx) = ipcring::pair_at("shm://?capacity=4&msg_size=64").unwrap();
    let (r, w) = pipe();
    {
        let mut items = [PollItem::receiver(&mut rx), PollItem::fd(r.as_fd(), Events::IN)];
        assert_eq!(poll(&mut items, Timeout::NonBlocking).unwrap(), 0);
        assert_eq!(poll(&mut items, Timeout::after(Duration::from_millis(30))).unwrap(), 0);
    }
    let wfd = std::os::fd::AsRawFd::as_raw_fd(&w);
    // SAFETY: one byte from a static string to our own pipe.
    let wrote = unsafe { libc::write(wfd, b"x".as_ptr().cast(), 1) };
    assert_eq!(wrote, 1);
    {
        let mut items = [PollItem::receiver(&mut rx), PollItem::fd(r.as_fd(), Events::IN)];
        assert_eq!(poll(&mut items, Timeout::after(HANG)).unwrap(), 1);
        assert!(!items[0].is_ready());
        assert_eq!(items[1].revents(), Events::IN);
    }
    tx.send(b"ring").unwrap();
    let mut items = [PollItem::receiver(&mut rx), PollItem::fd(r.as_fd(), Events::IN)];
    assert_eq!(poll(&mut items, Timeout::after(HANG)).unwrap(), 2);
    assert_eq!(items[0].revents(), Events::IN);
    assert_eq!(rx.try_recv_vec().unwrap(), b"ring");
}

/// A sender in a poll: not ready on a full ring, ready once a receiving process takes one,
/// and ready (then `Disconnected`) once that process is gone.
#[test]
fn sender_waits_for_room_in_a_poll() {
    let _g = serial();
    let name = ShmName::new("poll-tx");
    let a = format!("shm://{}?capacity=4&msg_size=64", name.as_str());
    let mut tx = Sender::open(&a, Create::IfMissing).unwrap();
    let child = fork("taker", || {
        let mut rx = Receiver::open(&a, Create::No).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let mut check = common::SeqChecker::new(1, Some(30));
        check.check_or_panic(&rx.recv_vec_timeout(HANG).unwrap());
        std::thread::sleep(Duration::from_millis(100));
    });
    let mut seq = 0;
    while tx.try_send(&common::encode_vec(0, seq, 30)).is_ok() {
        seq += 1;
    }
    {
        let mut items = [PollItem::sender(&mut tx)];
        assert_eq!(
            poll(&mut items, Timeout::NonBlocking).unwrap(),
            0,
            "a full ring is not ready"
        );
        assert_eq!(poll(&mut items, Timeout::after(HANG)).unwrap(), 1);
        assert_eq!(items[0].revents(), Events::OUT);
    }
    tx.try_send(&common::encode_vec(0, seq, 30)).unwrap();
    child.expect_success(HANG);
    let mut items = [PollItem::sender(&mut tx)];
    assert_eq!(poll(&mut items, Timeout::after(HANG)).unwrap(), 1);
    assert!(matches!(tx.try_send(b"x"), Err(Error::Disconnected)));
}

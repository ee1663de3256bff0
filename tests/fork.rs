//! After fork() the child starts with empty pools and never reuses the
//! parent's connections; the parent's pool is untouched.

mod common;

use std::io::IoSlice;
use std::time::Duration;

use common::peer::Peer;
use cosocket::pool;
use cosocket::receive::Pattern;
use cosocket::tcp::{ConnectOpts, ReadOutcome, ReadRequest, Tcp};

fn roundtrip(t: &Tcp) -> bool {
    t.send(&[IoSlice::new(b"hi\n")]).is_ok()
        && matches!(
            t.receive(ReadRequest::Pattern(Pattern::Line)),
            ReadOutcome::Data(_, 2)
        )
}

#[test]
fn forked_child_gets_fresh_pools() {
    let peer = Peer::start(&["--mode", "lineecho", "--quiet"]);
    let key = format!("127.0.0.1:{}", peer.port());
    let t = Tcp::new();
    t.set_timeout(5000).unwrap();
    t.connect(b"127.0.0.1", Some(peer.port()), &ConnectOpts::default())
        .unwrap();
    assert!(roundtrip(&t));
    t.set_keepalive(None, None).unwrap();
    assert_eq!(pool::stats(&key).unwrap().idle, 1);

    // SAFETY: the child only uses cosocket (which resets itself) and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = (|| {
            if pool::stats(&key).is_some() {
                return 10; // inherited pool visible in the child
            }
            let c = Tcp::new();
            if c.connect(b"127.0.0.1", Some(peer.port()), &ConnectOpts::default())
                .is_err()
            {
                return 11;
            }
            if c.reused_times() != Ok(0) {
                return 12; // reused the parent's connection
            }
            if !roundtrip(&c) {
                return 13;
            }
            0
        })();
        // SAFETY: leave the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child crashed");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child failed a check");

    // The parent's idle connection is intact and reusable.
    std::thread::sleep(Duration::from_millis(20));
    let p = Tcp::new();
    p.connect(b"127.0.0.1", Some(peer.port()), &ConnectOpts::default())
        .unwrap();
    assert_eq!(p.reused_times().unwrap(), 1);
    assert!(roundtrip(&p));
}

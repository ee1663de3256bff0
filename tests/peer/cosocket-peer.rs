//! `cosocket-peer`: a scripted TCP / unix-socket peer for the cosocket test
//! suites (Rust, C and LuaJIT).
//!
//! Only the standard library is used, plus three hand-declared libc calls
//! (`setsockopt`, `listen`, `poll`, see `mod sys`) for what `std` cannot do:
//! `SO_LINGER` 0 (RST on close), `SO_RCVBUF`/`SO_SNDBUF`, backlog 0 and
//! `POLLRDHUP`.  Linux and the BSDs/macOS are supported.
//!
//! ```text
//! cosocket-peer [--listen ADDR] [--unix PATH] [--conns N] [--mode MODE]
//!               [--rcvbuf BYTES] [--sndbuf BYTES] [--quiet]
//!               [--stdin-exit | --no-stdin-exit] [--parent-exit] [SCRIPT]
//! ```
//!
//! Options (`--opt VALUE` or `--opt=VALUE`):
//! * `--listen ADDR`   TCP address to bind, default `127.0.0.1:0` (`[::1]:0`
//!   for IPv6).
//! * `--unix PATH`     listen on a unix stream socket instead (a stale file at
//!   PATH is removed first, and removed again on a clean exit).
//! * `--conns N`       accept N connections, close the listener, wait for the
//!   N to finish, exit 0.  Default: serve forever.
//! * `--mode MODE`     `script` (default), `echo`, `lineecho`, `refuse`,
//!   `blackhole` (see below).
//! * `--rcvbuf BYTES`  `SO_RCVBUF` on the listener (inherited by accepted
//!   sockets).  Default: untouched, except 4096 when the script uses `noread`.
//! * `--sndbuf BYTES`  `SO_SNDBUF` on the listener.
//! * `--quiet`         do not print `recv` lines (benchmarks).
//! * stdin exit, on by default whenever stdin is a pipe or a socket: exit 0
//!   as soon as stdin reaches EOF (or fails), so a parent that dies does not
//!   leak the peer.  Spawn the peer with a pipe on stdin and keep its write
//!   end open; close it (or die) to stop the peer.  `--stdin-exit` forces it
//!   on for any stdin (a /dev/null stdin then exits at once),
//!   `--no-stdin-exit` turns it off.  Without a pipe on stdin (e.g. started
//!   by `popen(..., "r")`, which inherits the caller's stdin) it is off.
//! * `--parent-exit`   exit 0 when the parent process goes away (the parent
//!   PID, recorded at startup, changes; polled every 100 ms).  For `popen`:
//!   use `exec cosocket-peer ...` so the caller is the direct parent.  A
//!   shell that backgrounds the peer (`peer &`) and exits at once may be gone
//!   before the PID is recorded, and gives the peer /dev/null as stdin.
//!
//! Startup: prints exactly one line, `port N` (TCP) or `unix PATH`, flushes,
//! then serves.  Every accepted connection runs SCRIPT in its own thread.
//!
//! Modes:
//! * `script`    run SCRIPT on each connection (empty SCRIPT: close at once).
//! * `echo`      same as SCRIPT `echo`.
//! * `lineecho`  same as SCRIPT `lineecho`.
//! * `refuse`    bind a port, close it, print `port N`, stay alive (until stdin
//!   EOF): connecting gives ECONNREFUSED.  With `--unix`, the socket file is
//!   left behind without a listener, which also gives ECONNREFUSED.
//! * `blackhole` listen with backlog 0, never accept, and fill the accept
//!   queue with the peer's own connections until a probe `connect` times out;
//!   then print `port N`.  Further connects hang in SYN-SENT (connect-timeout
//!   tests).  TCP only.
//!
//! SCRIPT: steps separated by `;` (a literal `;` is `\;`).  Leading blanks of
//! a step are skipped; TEXT runs verbatim from after the single space that
//! follows the keyword (or MS) up to the `;`.  TEXT escapes: `\r \n \t \\ \0`
//! (one NUL byte, not octal), `\xHH`, `\;`, `\|`.
//! * `send TEXT`          write TEXT.
//! * `recv N`             read exactly N bytes.
//! * `line`               read up to and including LF (never reads past it).
//! * `expect TEXT`        read len(TEXT) bytes; on a mismatch print an
//!   `error` event and close.
//! * `sleep MS`           sleep MS milliseconds.
//! * `drip MS TEXT`       write TEXT one byte at a time, MS ms between bytes.
//! * `chunks MS A|B|C`    write the pieces, MS ms between pieces (`\|` is a
//!   literal `|`).
//! * `big N`              write N bytes of pattern data: byte i of the step is
//!   `b'a' + (i % 26)`.
//! * `shutdown`           shutdown(SHUT_WR): send FIN, keep reading possible.
//! * `close`              close now (the rest of the script is skipped).  If
//!   unread input is pending the kernel sends RST instead of FIN.
//! * `reset`              SO_LINGER {1, 0} then close: RST.
//! * `hold`, `drain`      read and discard until EOF (the client closes).
//! * `wait_eof`           read until EOF; any data is an `error` event.
//! * `echo`               write back everything read, until EOF.
//! * `lineecho`           write back each complete line, until EOF (a final
//!   partial line is written back at EOF).
//! * `noread`             never read; keep the connection open until the
//!   client's FIN/RST is noticed (poll, POLLRDHUP on Linux) or the process
//!   ends.  Note a FIN cannot arrive while our receive window is zero.
//!
//! The end of SCRIPT closes the connection (like `close`).  TCP_NODELAY is set
//! on every accepted TCP connection.
//!
//! Events, one per line on stdout, each flushed at once (C = connection
//! number, from 1 in accept order):
//! * `port N` / `unix PATH`   first line.
//! * `accept C`
//! * `recv C ESCAPED`  bytes as they were read (one line per read call);
//!   ESCAPED is everything after the second space, printable ASCII verbatim
//!   (spaces too), else `\r \n \t \\ \0 \xHH`.
//! * `eof C`           the client's FIN was read (read returned 0).
//! * `reset C`         a read or write failed with ECONNRESET/EPIPE; the
//!   script stops.
//! * `error C MESSAGE` a step failed (expect mismatch, early EOF, I/O error);
//!   the script stops.
//! * `closed C`        our side of the socket is closed.
//!
//! Whoever reads stdout must keep draining it (or pass `--quiet`), otherwise
//! a full pipe stalls the connection threads.
//!
//! Exit status: 0 on a normal exit, 2 on a usage / script error, 1 if the
//! socket setup failed.  Never panics on client misbehaviour.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

const USAGE: &str = "usage: cosocket-peer [--listen ADDR] [--unix PATH] [--conns N] \
[--mode script|echo|lineecho|refuse|blackhole] [--rcvbuf BYTES] [--sndbuf BYTES] [--quiet] \
[--stdin-exit|--no-stdin-exit] [--parent-exit] [SCRIPT]
SCRIPT steps (separated by ';'): send TEXT | recv N | line | expect TEXT | sleep MS | \
drip MS TEXT | chunks MS A|B|C | big N | shutdown | close | reset | hold | drain | wait_eof | \
echo | lineecho | noread
see tests/peer/README.md";

static QUIET: AtomicBool = AtomicBool::new(false);
static UNIX_PATH: OnceLock<PathBuf> = OnceLock::new();

/// Minimal libc bindings for what std lacks.
mod sys {
    use std::io;
    use std::os::raw::{c_int, c_short, c_void};

    #[repr(C)]
    struct Linger {
        l_onoff: c_int,
        l_linger: c_int,
    }

    #[repr(C)]
    struct PollFd {
        fd: c_int,
        events: c_short,
        revents: c_short,
    }

    #[cfg(target_os = "linux")]
    type NFds = std::os::raw::c_ulong;
    #[cfg(not(target_os = "linux"))]
    type NFds = std::os::raw::c_uint;

    unsafe extern "C" {
        fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
        fn listen(fd: c_int, backlog: c_int) -> c_int;
        fn poll(fds: *mut PollFd, nfds: NFds, timeout: c_int) -> c_int;
    }

    // Generic Linux values (not mips/sparc/alpha/parisc).
    #[cfg(target_os = "linux")]
    mod c {
        pub const SOL_SOCKET: i32 = 1;
        pub const SO_SNDBUF: i32 = 7;
        pub const SO_RCVBUF: i32 = 8;
        pub const SO_LINGER: i32 = 13;
        pub const POLLRDHUP: i16 = 0x2000;
    }
    #[cfg(not(target_os = "linux"))]
    mod c {
        pub const SOL_SOCKET: i32 = 0xffff;
        pub const SO_LINGER: i32 = 0x0080;
        pub const SO_SNDBUF: i32 = 0x1001;
        pub const SO_RCVBUF: i32 = 0x1002;
        pub const POLLRDHUP: i16 = 0;
    }
    const POLLERR: i16 = 0x8;
    const POLLHUP: i16 = 0x10;

    fn check(rc: c_int) -> io::Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn set_int(fd: c_int, name: c_int, v: c_int) -> io::Result<()> {
        // SAFETY: valid pointer to a c_int of the given length.
        check(unsafe {
            setsockopt(
                fd,
                c::SOL_SOCKET,
                name,
                &v as *const c_int as *const c_void,
                std::mem::size_of::<c_int>() as u32,
            )
        })
    }

    pub fn set_rcvbuf(fd: c_int, n: c_int) -> io::Result<()> {
        set_int(fd, c::SO_RCVBUF, n)
    }

    pub fn set_sndbuf(fd: c_int, n: c_int) -> io::Result<()> {
        set_int(fd, c::SO_SNDBUF, n)
    }

    /// SO_LINGER {on, 0}: close() then sends RST.
    pub fn set_linger_zero(fd: c_int) -> io::Result<()> {
        let l = Linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: valid pointer to a struct linger of the given length.
        check(unsafe {
            setsockopt(
                fd,
                c::SOL_SOCKET,
                c::SO_LINGER,
                &l as *const Linger as *const c_void,
                std::mem::size_of::<Linger>() as u32,
            )
        })
    }

    /// (Re-)listen with a new backlog; Linux and BSD accept this on a socket
    /// that is already listening.
    pub fn relisten(fd: c_int, backlog: c_int) -> io::Result<()> {
        // SAFETY: plain syscall on an fd we own.
        check(unsafe { listen(fd, backlog) })
    }

    /// Block until the peer hangs up (FIN seen on Linux via POLLRDHUP, RST or
    /// full hangup elsewhere).  Never reads.
    pub fn wait_hangup(fd: c_int) {
        loop {
            let mut p = PollFd {
                fd,
                events: c::POLLRDHUP,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let rc = unsafe { poll(&mut p, 1, -1) };
            if rc < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            if p.revents & (c::POLLRDHUP | POLLHUP | POLLERR) != 0 {
                return;
            }
            if rc == 0 || p.revents == 0 {
                continue;
            }
            // Some other bit (e.g. POLLNVAL): give up rather than spin.
            return;
        }
    }
}

// ---------------------------------------------------------------- output

fn emit(line: &str) {
    let out = io::stdout();
    let mut out = out.lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

fn die(msg: &str, code: i32) -> ! {
    eprintln!("cosocket-peer: {msg}");
    cleanup();
    process::exit(code);
}

fn cleanup() {
    if let Some(p) = UNIX_PATH.get() {
        let _ = std::fs::remove_file(p);
    }
}

// ---------------------------------------------------------------- script

#[derive(Debug, Clone)]
enum Step {
    Send(Vec<u8>),
    Recv(usize),
    Line,
    Expect(Vec<u8>),
    Sleep(u64),
    Drip(u64, Vec<u8>),
    Chunks(u64, Vec<Vec<u8>>),
    Big(u64),
    Shutdown,
    Close,
    Reset,
    Drain,
    WaitEof,
    Echo,
    LineEcho,
    NoRead,
}

/// Split on `sep` except where it is escaped with a backslash; escapes are
/// kept as they are (unescape handles them later).
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let Some(&e) = b.get(i + 1) else {
            return Err(format!("trailing backslash in {s:?}"));
        };
        i += 2;
        match e {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'\\' | b';' | b'|' => out.push(e),
            b'x' => {
                let hex = b
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad \\x escape in {s:?}"))?;
                out.push(hex);
                i += 2;
            }
            _ => return Err(format!("unknown escape \\{} in {s:?}", e as char)),
        }
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(kw: &str, s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{kw}: bad number {:?}", s.trim()))
}

/// "MS REST" -> (MS, REST verbatim)
fn ms_and_text<'a>(kw: &str, arg: &'a str) -> Result<(u64, &'a str), String> {
    let arg = arg.trim_start();
    let (ms, text) = arg.split_once(' ').unwrap_or((arg, ""));
    Ok((num(kw, ms)?, text))
}

fn parse_script(script: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for raw in split_unescaped(script, ';') {
        let raw = raw.trim_start();
        if raw.trim().is_empty() {
            continue;
        }
        let (kw, arg) = match raw.split_once(' ') {
            Some((k, a)) => (k, Some(a)),
            None => (raw.trim_end(), None),
        };
        let need = |what: &str| arg.ok_or_else(|| format!("{kw}: missing {what}"));
        let no_arg = |step: Step| match arg {
            Some(a) if !a.trim().is_empty() => Err(format!("{kw}: takes no argument")),
            _ => Ok(step),
        };
        let step = match kw {
            "send" => Step::Send(unescape(arg.unwrap_or(""))?),
            "recv" => Step::Recv(num(kw, need("N")?)?),
            "line" => no_arg(Step::Line)?,
            "expect" => Step::Expect(unescape(need("TEXT")?)?),
            "sleep" => Step::Sleep(num(kw, need("MS")?)?),
            "drip" => {
                let (ms, text) = ms_and_text(kw, need("MS TEXT")?)?;
                Step::Drip(ms, unescape(text)?)
            }
            "chunks" => {
                let (ms, text) = ms_and_text(kw, need("MS A|B|C")?)?;
                let pieces = split_unescaped(text, '|')
                    .iter()
                    .map(|p| unescape(p))
                    .collect::<Result<Vec<_>, _>>()?;
                Step::Chunks(ms, pieces)
            }
            "big" => Step::Big(num(kw, need("N")?)?),
            "shutdown" => no_arg(Step::Shutdown)?,
            "close" => no_arg(Step::Close)?,
            "reset" => no_arg(Step::Reset)?,
            "hold" | "drain" => no_arg(Step::Drain)?,
            "wait_eof" => no_arg(Step::WaitEof)?,
            "echo" => no_arg(Step::Echo)?,
            "lineecho" => no_arg(Step::LineEcho)?,
            "noread" => no_arg(Step::NoRead)?,
            _ => return Err(format!("unknown step {kw:?}")),
        };
        steps.push(step);
    }
    Ok(steps)
}

// ---------------------------------------------------------------- connections

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    /// MSG_PEEK; None when unsupported (unix sockets on stable std).
    fn peek(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => Some(s.peek(buf)),
            Stream::Unix(_) => None,
        }
    }
    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }
}

/// Why a script stopped early.
enum Stop {
    /// `close` / `reset` / end of a step that ends the connection.
    Done,
    /// Client reset / broken pipe: already reported as `reset C`.
    Reset,
    /// Step failure, reported as `error C MSG`.
    Error(String),
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

struct Conn {
    id: u64,
    s: Stream,
    eof_reported: bool,
}

impl Conn {
    fn io_err(&self, what: &str, e: io::Error) -> Stop {
        if is_reset(&e) {
            emit(&format!("reset {}", self.id));
            Stop::Reset
        } else {
            Stop::Error(format!("{what}: {e}"))
        }
    }

    /// One read call; reports `recv` / `eof`.
    fn read_some(&mut self, what: &str, buf: &mut [u8]) -> Result<usize, Stop> {
        loop {
            match self.s.read(buf) {
                Ok(0) => {
                    if !self.eof_reported {
                        self.eof_reported = true;
                        emit(&format!("eof {}", self.id));
                    }
                    return Ok(0);
                }
                Ok(n) => {
                    if !QUIET.load(Ordering::Relaxed) {
                        emit(&format!("recv {} {}", self.id, escape(&buf[..n])));
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_err(what, e)),
            }
        }
    }

    /// Read exactly `n` bytes, never more.
    fn read_exact(&mut self, what: &str, n: usize) -> Result<Vec<u8>, Stop> {
        let mut buf = vec![0u8; n];
        let mut have = 0;
        while have < n {
            let got = self.read_some(what, &mut buf[have..])?;
            if got == 0 {
                return Err(Stop::Error(format!(
                    "{what}: eof after {have} of {n} bytes"
                )));
            }
            have += got;
        }
        Ok(buf)
    }

    fn write_all(&mut self, what: &str, mut data: &[u8]) -> Result<(), Stop> {
        while !data.is_empty() {
            match self.s.write(data) {
                Ok(0) => return Err(Stop::Error(format!("{what}: write returned 0"))),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_err(what, e)),
            }
        }
        Ok(())
    }

    fn read_line(&mut self) -> Result<Vec<u8>, Stop> {
        let mut line = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let want = match self.s.peek(&mut buf) {
                Some(Ok(0)) => 1, // let read_some report the EOF
                Some(Ok(n)) => match buf[..n].iter().position(|&b| b == b'\n') {
                    Some(i) => i + 1,
                    None => n,
                },
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Some(Err(e)) => return Err(self.io_err("line", e)),
                None => 1,
            };
            let got = self.read_some("line", &mut buf[..want])?;
            if got == 0 {
                return Err(Stop::Error(format!(
                    "line: eof after {} bytes without LF",
                    line.len()
                )));
            }
            line.extend_from_slice(&buf[..got]);
            if line.last() == Some(&b'\n') {
                return Ok(line);
            }
        }
    }

    /// Read until EOF; returns the number of bytes read.
    fn read_to_eof(&mut self, what: &str) -> Result<u64, Stop> {
        let mut buf = vec![0u8; 65536];
        let mut total = 0u64;
        loop {
            let n = self.read_some(what, &mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), Stop> {
        match step {
            Step::Send(t) => self.write_all("send", t),
            Step::Recv(n) => self.read_exact("recv", *n).map(drop),
            Step::Line => self.read_line().map(drop),
            Step::Expect(want) => {
                let got = self.read_exact("expect", want.len())?;
                if &got == want {
                    Ok(())
                } else {
                    Err(Stop::Error(format!(
                        "expect: wanted \"{}\" got \"{}\"",
                        escape(want),
                        escape(&got)
                    )))
                }
            }
            Step::Sleep(ms) => {
                thread::sleep(Duration::from_millis(*ms));
                Ok(())
            }
            Step::Drip(ms, t) => {
                for (i, b) in t.iter().enumerate() {
                    if i > 0 {
                        thread::sleep(Duration::from_millis(*ms));
                    }
                    self.write_all("drip", std::slice::from_ref(b))?;
                }
                Ok(())
            }
            Step::Chunks(ms, pieces) => {
                for (i, p) in pieces.iter().enumerate() {
                    if i > 0 {
                        thread::sleep(Duration::from_millis(*ms));
                    }
                    self.write_all("chunks", p)?;
                }
                Ok(())
            }
            Step::Big(n) => {
                let block: Vec<u8> = (0..65520u32).map(|i| b'a' + (i % 26) as u8).collect();
                let mut left = *n;
                while left > 0 {
                    // 65520 is a multiple of 26, so every block starts with 'a'.
                    let k = left.min(block.len() as u64) as usize;
                    self.write_all("big", &block[..k])?;
                    left -= k as u64;
                }
                Ok(())
            }
            Step::Shutdown => self
                .s
                .shutdown_write()
                .map_err(|e| self.io_err("shutdown", e)),
            Step::Close => Err(Stop::Done),
            Step::Reset => {
                if matches!(self.s, Stream::Tcp(_)) {
                    sys::set_linger_zero(self.s.fd())
                        .map_err(|e| Stop::Error(format!("reset: SO_LINGER: {e}")))?;
                }
                Err(Stop::Done)
            }
            Step::Drain => self.read_to_eof("drain").map(drop),
            Step::WaitEof => {
                let n = self.read_to_eof("wait_eof")?;
                if n == 0 {
                    Ok(())
                } else {
                    Err(Stop::Error(format!(
                        "wait_eof: unexpected {n} bytes before eof"
                    )))
                }
            }
            Step::Echo => {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = self.read_some("echo", &mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    self.write_all("echo", &buf[..n])?;
                }
            }
            Step::LineEcho => {
                let mut buf = vec![0u8; 65536];
                let mut pending: Vec<u8> = Vec::new();
                loop {
                    let n = self.read_some("lineecho", &mut buf)?;
                    if n == 0 {
                        if !pending.is_empty() {
                            self.write_all("lineecho", &pending)?;
                        }
                        return Ok(());
                    }
                    let chunk = &buf[..n];
                    match chunk.iter().rposition(|&b| b == b'\n') {
                        None => pending.extend_from_slice(chunk),
                        Some(i) => {
                            if pending.is_empty() {
                                self.write_all("lineecho", &chunk[..=i])?;
                            } else {
                                pending.extend_from_slice(&chunk[..=i]);
                                let out = std::mem::take(&mut pending);
                                self.write_all("lineecho", &out)?;
                            }
                            pending.extend_from_slice(&chunk[i + 1..]);
                        }
                    }
                }
            }
            Step::NoRead => {
                sys::wait_hangup(self.s.fd());
                Ok(())
            }
        }
    }
}

fn serve(id: u64, s: Stream, script: &[Step]) {
    let mut c = Conn {
        id,
        s,
        eof_reported: false,
    };
    for step in script {
        match c.step(step) {
            Ok(()) => {}
            Err(Stop::Done) | Err(Stop::Reset) => break,
            Err(Stop::Error(msg)) => {
                emit(&format!("error {id} {msg}"));
                break;
            }
        }
    }
    drop(c);
    emit(&format!("closed {id}"));
}

// ---------------------------------------------------------------- main

#[derive(PartialEq, Clone, Copy)]
enum Mode {
    Script,
    Echo,
    LineEcho,
    Refuse,
    Blackhole,
}

struct Opts {
    listen: String,
    unix: Option<PathBuf>,
    conns: Option<u64>,
    mode: Mode,
    rcvbuf: Option<i32>,
    sndbuf: Option<i32>,
    /// None: auto (on when stdin is a pipe or socket).
    stdin_exit: Option<bool>,
    parent_exit: bool,
    script: Option<String>,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        listen: "127.0.0.1:0".into(),
        unix: None,
        conns: None,
        mode: Mode::Script,
        rcvbuf: None,
        sndbuf: None,
        stdin_exit: None,
        parent_exit: false,
        script: None,
    };
    let mut args = std::env::args().skip(1);
    let usage = |m: String| -> ! {
        eprintln!("cosocket-peer: {m}\n{USAGE}");
        process::exit(2)
    };
    while let Some(a) = args.next() {
        if !a.starts_with("--") {
            if o.script.is_some() {
                usage(format!("more than one SCRIPT argument: {a:?}"));
            }
            o.script = Some(a);
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || -> String {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage(format!("{name} needs a value")))
        };
        let int = |v: String| -> u64 {
            v.parse()
                .unwrap_or_else(|_| usage(format!("{name}: bad number {v:?}")))
        };
        match name.as_str() {
            "--listen" => o.listen = value(),
            "--unix" => o.unix = Some(PathBuf::from(value())),
            "--conns" => o.conns = Some(int(value())),
            "--rcvbuf" => o.rcvbuf = Some(int(value()).min(i32::MAX as u64) as i32),
            "--sndbuf" => o.sndbuf = Some(int(value()).min(i32::MAX as u64) as i32),
            "--quiet" => QUIET.store(true, Ordering::Relaxed),
            "--stdin-exit" => o.stdin_exit = Some(true),
            "--no-stdin-exit" => o.stdin_exit = Some(false),
            "--parent-exit" => o.parent_exit = true,
            "--mode" => {
                o.mode = match value().as_str() {
                    "script" => Mode::Script,
                    "echo" => Mode::Echo,
                    "lineecho" => Mode::LineEcho,
                    "refuse" => Mode::Refuse,
                    "blackhole" => Mode::Blackhole,
                    m => usage(format!("unknown mode {m:?}")),
                }
            }
            "--help" => {
                println!("{USAGE}");
                process::exit(0);
            }
            _ => usage(format!("unknown option {a:?}")),
        }
    }
    o
}

fn resolve(addr: &str) -> SocketAddr {
    match addr.to_socket_addrs().map(|mut i| i.next()) {
        Ok(Some(a)) => a,
        Ok(None) => die(&format!("{addr}: no address"), 2),
        Err(e) => die(&format!("{addr}: {e}"), 2),
    }
}

fn apply_bufs(fd: RawFd, o: &Opts) {
    if let Some(Err(e)) = o.rcvbuf.map(|n| sys::set_rcvbuf(fd, n)) {
        die(&format!("SO_RCVBUF: {e}"), 1);
    }
    if let Some(Err(e)) = o.sndbuf.map(|n| sys::set_sndbuf(fd, n)) {
        die(&format!("SO_SNDBUF: {e}"), 1);
    }
    // Listen again: the sizes are then in place "before listen" for the
    // window-scale computation of every future connection, and the accept
    // queue is deep (std's 128 overflows under a burst of connects; the
    // kernel then drops the handshake and the client retries a second later).
    let _ = sys::relisten(fd, 1024);
}

/// Is fd 0 a pipe or a socket (so that its EOF means "the parent is gone")?
fn stdin_is_pipe() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(m) => m.file_type().is_fifo() || m.file_type().is_socket(),
        Err(_) => false,
    }
}

fn park_forever() -> ! {
    loop {
        thread::park();
    }
}

/// Fill a backlog-0 listener until a probe connect times out twice in a row.
fn fill_blackhole(target: SocketAddr) -> Vec<TcpStream> {
    let mut held = Vec::new();
    let mut timeouts = 0;
    for _ in 0..64 {
        match TcpStream::connect_timeout(&target, Duration::from_millis(150)) {
            Ok(s) => {
                held.push(s);
                timeouts = 0;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                timeouts += 1;
                if timeouts == 2 {
                    return held;
                }
            }
            Err(e) => die(&format!("blackhole: filling connect failed: {e}"), 1),
        }
    }
    die("blackhole: accept queue never filled up", 1)
}

fn main() {
    let o = parse_args();
    let mut script_text = o.script.clone().unwrap_or_default();
    match o.mode {
        Mode::Echo | Mode::LineEcho if o.script.is_some() => {
            die("--mode echo/lineecho take no SCRIPT", 2)
        }
        Mode::Echo => script_text = "echo".into(),
        Mode::LineEcho => script_text = "lineecho".into(),
        _ => {}
    }
    let script = match parse_script(&script_text) {
        Ok(s) => s,
        Err(e) => die(&format!("bad script: {e}\n{USAGE}"), 2),
    };
    let mut o = o;
    if o.rcvbuf.is_none() && script.iter().any(|s| matches!(s, Step::NoRead)) {
        o.rcvbuf = Some(4096);
    }

    if o.stdin_exit.unwrap_or_else(stdin_is_pipe) {
        thread::spawn(|| {
            let mut stdin = io::stdin();
            let mut buf = [0u8; 512];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            cleanup();
            process::exit(0);
        });
    }
    if o.parent_exit {
        let parent = std::os::unix::process::parent_id();
        if parent == 1 {
            eprintln!("cosocket-peer: --parent-exit: parent is already PID 1, cannot watch it");
        }
        thread::spawn(move || {
            while std::os::unix::process::parent_id() == parent {
                thread::sleep(Duration::from_millis(100));
            }
            cleanup();
            process::exit(0);
        });
    }

    enum Listener {
        Tcp(TcpListener),
        Unix(UnixListener),
    }

    let listener = if let Some(path) = &o.unix {
        if o.mode == Mode::Blackhole {
            die("--mode blackhole needs TCP, not --unix", 2);
        }
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path)
            .unwrap_or_else(|e| die(&format!("bind {}: {e}", path.display()), 1));
        let _ = UNIX_PATH.set(path.clone());
        apply_bufs(l.as_raw_fd(), &o);
        if o.mode == Mode::Refuse {
            // The socket file stays, nobody listens: ECONNREFUSED.
            drop(l);
            emit(&format!("unix {}", path.display()));
            park_forever();
        }
        emit(&format!("unix {}", path.display()));
        Listener::Unix(l)
    } else {
        let addr = resolve(&o.listen);
        let l =
            TcpListener::bind(addr).unwrap_or_else(|e| die(&format!("bind {}: {e}", o.listen), 1));
        apply_bufs(l.as_raw_fd(), &o);
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        match o.mode {
            Mode::Refuse => {
                drop(l);
                emit(&format!("port {port}"));
                park_forever();
            }
            Mode::Blackhole => {
                if let Err(e) = sys::relisten(l.as_raw_fd(), 0) {
                    die(&format!("listen(0): {e}"), 1);
                }
                let target = l
                    .local_addr()
                    .unwrap_or_else(|e| die(&format!("local_addr: {e}"), 1));
                let held = fill_blackhole(target);
                emit(&format!("port {port}"));
                let _keep = (l, held);
                park_forever();
            }
            _ => {}
        }
        emit(&format!("port {port}"));
        Listener::Tcp(l)
    };

    let mut handles = Vec::new();
    let mut next_id = 0u64;
    loop {
        if o.conns.is_some_and(|n| next_id >= n) {
            break;
        }
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }),
            Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cosocket-peer: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        emit(&format!("accept {id}"));
        let script = script.clone();
        let h = thread::Builder::new()
            .name(format!("conn-{id}"))
            .spawn(move || serve(id, stream, &script));
        match h {
            Ok(h) if o.conns.is_some() => handles.push(h),
            Ok(_) => {}
            Err(e) => eprintln!("cosocket-peer: spawn: {e}"),
        }
    }
    // Further connects are refused rather than left in the backlog.
    drop(listener);
    for h in handles {
        let _ = h.join();
    }
    cleanup();
    process::exit(0);
}

//! receiveuntil: streaming pattern search with held bytes (OpenResty's DFA).
//!
//! A faithful port of `ngx_http_lua_socket_compile_pattern` and
//! `ngx_http_lua_socket_read_until`. The DFA state is the number of pattern
//! bytes matched so far; those bytes are "held". On a mismatch the DFA either
//! follows a recovering edge (emitting the front of the held bytes that can no
//! longer start a match) or emits everything it holds and looks at the byte
//! again from state 0. The exact emission steps matter because a sized
//! iterator returns as soon as its byte budget is spent, which is why chunks
//! can come out longer than `size`.
//!
//! Unlike nginx, nothing is copied: the unread bytes always look like
//! `[output of this call][held bytes][not yet scanned]`, so the value is a
//! prefix of the buffer and the held bytes simply stay unconsumed. That is
//! what OpenResty ≥ 0.10.26 emulates by pushing held bytes back into the
//! buffer when another reader runs (PR #2145).

use super::simple::find;
use super::{CHUNK, RecvBuf, Span, Step};

/// nginx's `cp->recovering`: for DFA state `s >= 2`, entry `s - 2` lists the
/// `(byte, new_state)` edges taken when that byte mismatches.
type Recovering = Vec<Vec<(u8, usize)>>;

/// One receiveuntil iterator: the compiled pattern and its match state.
#[derive(Debug, Clone)]
pub struct Until {
    pattern: Vec<u8>,
    inclusive: bool,
    recovering: Recovering,
    /// Pattern bytes matched, held right after the `out` output bytes.
    state: usize,
    /// Unread bytes at the front already decided to be this call's output.
    out: usize,
    /// Budget left for a sized call (nginx's `u->rest`).
    rest: usize,
    /// A call returned Pending and has not ended yet.
    in_call: bool,
    /// A sized call matched the pattern: the next call is the `nil, nil, nil`
    /// one (nginx's `cp->state == -1`). Survives other readers.
    finished: bool,
}

impl Until {
    /// `pattern` is not empty (the caller returns "pattern is empty" first).
    pub fn new(pattern: &[u8], inclusive: bool) -> Self {
        debug_assert!(!pattern.is_empty());
        Until {
            pattern: pattern.to_vec(),
            inclusive,
            recovering: compile(pattern),
            state: 0,
            out: 0,
            rest: 0,
            in_call: false,
            finished: false,
        }
    }

    /// One iterator call. `size == 0` means no size argument.
    pub fn step(&mut self, buf: &mut RecvBuf, size: usize, eof: bool) -> Step {
        // A call whose gathered bytes vanished (buffer cleared without
        // invalidate) cannot be resumed; start it over rather than panic.
        if self.in_call && self.out + self.state > buf.len() {
            self.end_call(0);
        }
        if !self.in_call {
            if self.finished {
                self.finished = false;
                return Step::Finished;
            }
            self.in_call = true;
            self.rest = size;
            self.out = 0;
            // Held bytes left by an earlier call are still at the front and
            // are a pattern prefix, so rescanning them lands in the same state
            // without emitting anything; starting over also copes with another
            // reader having consumed some of them.
            self.state = 0;
        }

        let pat = &self.pattern[..];
        let data = buf.unread();
        let mut state = self.state;
        let mut out = self.out;
        let mut rest = self.rest;
        let mut pos = out + state;

        let end = loop {
            let Some(&c) = data.get(pos) else {
                break End::NeedMore;
            };
            if c == pat[state] {
                pos += 1;
                state += 1;
                if state == pat.len() {
                    break End::Matched;
                }
                continue;
            }
            if state == 0 {
                // Every byte up to the next possible pattern start is output;
                // nginx does this one byte at a time with the same budget.
                let mut run = find(&data[pos..], pat[0]).unwrap_or(data.len() - pos);
                if size != 0 {
                    run = run.min(rest);
                    rest -= run;
                }
                out += run;
                pos += run;
                if size != 0 && rest == 0 {
                    break End::Chunk;
                }
                continue;
            }
            match recover(&self.recovering, state, c) {
                Some(new_state) => {
                    let pending = state + 1 - new_state;
                    out += pending;
                    state = new_state;
                    pos += 1;
                    if size != 0 {
                        if rest <= pending {
                            break End::Chunk;
                        }
                        rest -= pending;
                    }
                }
                None => {
                    // Everything held is output and `c` is looked at again.
                    out += state;
                    let held = state;
                    state = 0;
                    if size != 0 {
                        if rest <= held {
                            break End::Chunk;
                        }
                        rest -= held;
                    }
                }
            }
        };

        match end {
            End::Matched => {
                let span = if self.inclusive {
                    buf.consume(out + pat.len())
                } else {
                    let span = buf.consume(out);
                    buf.consume(pat.len());
                    span
                };
                self.finished = size != 0;
                self.end_call(0);
                Step::Done(span)
            }
            End::Chunk => {
                let span = buf.consume(out);
                self.end_call(state);
                Step::Done(span)
            }
            End::NeedMore if eof => {
                let span = buf.consume(out);
                // A pattern prefix cut short by EOF is neither data nor
                // pattern: OpenResty drops it from the partial.
                buf.consume(state);
                self.end_call(0);
                Step::Closed(span)
            }
            End::NeedMore => {
                self.state = state;
                self.out = out;
                self.rest = rest;
                Step::Pending
            }
        }
    }

    /// Ends the call early (read timeout or read error): consumes and returns
    /// the partial value.
    ///
    /// The held bytes stay unconsumed, as in nginx where they remain in the
    /// DFA state: the next call of this iterator resumes the match, another
    /// reader sees them.
    pub fn take_partial(&mut self, buf: &mut RecvBuf) -> Span {
        if !self.in_call {
            return buf.consume(0);
        }
        let span = buf.consume(self.out);
        self.end_call(self.state);
        span
    }

    /// Another read method consumed bytes from the buffer since this
    /// iterator's last call: forget held-match state.
    ///
    /// Every call rescans its held bytes from the buffer front anyway, so
    /// between calls this only keeps [`Until::held`] truthful. It also
    /// abandons a call left Pending (its gathered output stays unread), which
    /// is what a socket must do when a call is cut short without
    /// [`Until::take_partial`], e.g. because the buffer was cleared. The
    /// pending `nil, nil, nil` of a sized iterator survives, as in nginx.
    pub fn invalidate(&mut self) {
        self.end_call(0);
    }

    /// How many bytes the next `recv()` should ask for.
    pub fn want(&self, buf: &RecvBuf) -> usize {
        let _ = buf;
        CHUNK
    }

    /// Unread bytes at the buffer front that this iterator holds as a
    /// possible start of the pattern (nginx keeps these outside its buffer,
    /// so e.g. its "unread data in buffer" check does not see them).
    pub fn held(&self) -> usize {
        if self.in_call { 0 } else { self.state }
    }

    /// A call returned Pending and has not ended yet.
    pub fn in_call(&self) -> bool {
        self.in_call
    }

    fn end_call(&mut self, held: usize) {
        self.in_call = false;
        self.out = 0;
        self.rest = 0;
        self.state = held;
    }
}

enum End {
    Matched,
    Chunk,
    NeedMore,
}

#[inline]
fn recover(recovering: &[Vec<(u8, usize)>], state: usize, c: u8) -> Option<usize> {
    let edges = recovering.get(state.checked_sub(2)?)?;
    edges.iter().find(|e| e.0 == c).map(|e| e.1)
}

/// `ngx_http_lua_socket_compile_pattern`, in linear time.
///
/// For each shift `i`, nginx extends `p` from 1 while `pat[..p] ==
/// pat[i..i + p]` and `p <= len - i - 1`; at the first mismatching `p` it adds
/// the edge "in state `i + p`, byte `pat[p]` leads to state `p + 1`", keeping
/// the largest target per (state, byte). That `p` is exactly the Z-function
/// value `z[i]` when `1 <= z[i] < len - i`; otherwise there is no edge.
fn compile(pat: &[u8]) -> Recovering {
    let len = pat.len();
    if len <= 2 {
        return Vec::new();
    }
    let mut recovering: Recovering = vec![Vec::new(); len - 2];
    let z = z_function(pat);
    for i in 1..len {
        let p = z[i];
        if p == 0 || p >= len - i {
            continue;
        }
        let (chr, new_state) = (pat[p], p + 1);
        let edges = &mut recovering[i + p - 2];
        match edges.iter_mut().find(|e| e.0 == chr) {
            Some(e) => e.1 = e.1.max(new_state),
            None => edges.push((chr, new_state)),
        }
    }
    recovering
}

/// `z[i]`: length of the longest common prefix of `s` and `s[i..]`.
fn z_function(s: &[u8]) -> Vec<usize> {
    let n = s.len();
    let mut z = vec![0; n];
    let (mut l, mut r) = (0, 0);
    for i in 1..n {
        if i < r {
            z[i] = (r - i).min(z[i - l]);
        }
        while i + z[i] < n && s[z[i]] == s[i + z[i]] {
            z[i] += 1;
        }
        if i + z[i] > r {
            l = i;
            r = i + z[i];
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::super::simple::{self, Pattern, ScanState};
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum R {
        Ok(Vec<u8>),
        Closed(Vec<u8>),
        /// `nil, nil, nil`.
        Finished,
    }

    fn ok(s: &str) -> R {
        R::Ok(s.as_bytes().to_vec())
    }

    fn closed(s: &str) -> R {
        R::Closed(s.as_bytes().to_vec())
    }

    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// `sock:receive(...)` / `receiveany`.
        Recv(Pattern),
        /// Call iterator `.0` with size `.1` (0 = no argument).
        Iter(usize, usize),
    }

    #[derive(Clone, Copy, Debug)]
    enum Feed {
        AllAtOnce,
        ByteByByte,
        /// Random pieces of 1..=max bytes from this seed.
        Random(u64, usize),
    }

    struct Sim<'a> {
        input: &'a [u8],
        pos: usize,
        buf: RecvBuf,
        eof: bool,
        feed: Feed,
        rng: Rng,
        iters: Vec<Until>,
        /// Call `invalidate()` when another reader ran in between.
        invalidate: bool,
        last_reader: Option<usize>,
    }

    impl<'a> Sim<'a> {
        fn new(input: &'a [u8], pats: &[(&[u8], bool)], feed: Feed, invalidate: bool) -> Self {
            let mut sim = Sim {
                input,
                pos: 0,
                buf: RecvBuf::new(),
                eof: false,
                feed,
                rng: Rng(1),
                iters: pats.iter().map(|&(p, inc)| Until::new(p, inc)).collect(),
                invalidate,
                last_reader: None,
            };
            match feed {
                Feed::AllAtOnce => {
                    sim.buf.extend(input);
                    sim.pos = input.len();
                }
                Feed::Random(seed, _) => sim.rng = Rng(seed | 1),
                Feed::ByteByByte => {}
            }
            sim
        }

        /// What the socket does on Pending: one more `recv()`, or EOF.
        fn read_more(&mut self) {
            assert!(!self.eof, "Pending after eof");
            if self.pos == self.input.len() {
                self.eof = true;
                return;
            }
            let n = match self.feed {
                Feed::AllAtOnce => unreachable!("everything was buffered"),
                Feed::ByteByByte => 1,
                Feed::Random(_, max) => self.rng.range(1, max),
            };
            let n = n.min(self.input.len() - self.pos);
            self.buf.extend(&self.input[self.pos..self.pos + n]);
            self.pos += n;
        }

        fn op(&mut self, op: Op) -> R {
            let step = match op {
                Op::Recv(pat) => {
                    self.last_reader = None;
                    let mut st = ScanState::default();
                    loop {
                        match simple::step(&mut self.buf, pat, &mut st, self.eof) {
                            Step::Pending => self.read_more(),
                            other => break other,
                        }
                    }
                }
                Op::Iter(i, size) => {
                    if self.invalidate && self.last_reader != Some(i) {
                        self.iters[i].invalidate();
                    }
                    self.last_reader = Some(i);
                    loop {
                        match self.iters[i].step(&mut self.buf, size, self.eof) {
                            Step::Pending => self.read_more(),
                            other => break other,
                        }
                    }
                }
            };
            match step {
                Step::Done(s) => R::Ok(self.buf.get(s).to_vec()),
                Step::Closed(s) => R::Closed(self.buf.get(s).to_vec()),
                Step::Finished => R::Finished,
                Step::Pending => unreachable!(),
            }
        }

        /// Runs ops until one fails with "closed" (the read half then closes).
        fn run(&mut self, ops: &[Op]) -> Vec<R> {
            let mut out = Vec::new();
            for &op in ops {
                let r = self.op(op);
                let end = matches!(r, R::Closed(_));
                out.push(r);
                if end {
                    break;
                }
            }
            out
        }
    }

    /// Runs all at once, byte by byte and in random pieces, with and without
    /// `invalidate()`; every run must give the same results.
    fn run_all(input: &[u8], pats: &[(&[u8], bool)], ops: &[Op]) -> Vec<R> {
        let base = Sim::new(input, pats, Feed::AllAtOnce, true).run(ops);
        let mut feeds = vec![Feed::ByteByByte];
        for seed in 1..=3 {
            feeds.push(Feed::Random(seed * 7919, 3));
        }
        for feed in feeds {
            for inv in [true, false] {
                let got = Sim::new(input, pats, feed, inv).run(ops);
                assert_eq!(got, base, "feed {feed:?}, invalidate {inv}");
            }
        }
        base
    }

    /// Calls one iterator `n` times without size.
    fn until(input: &str, pat: &str, inclusive: bool, n: usize) -> Vec<R> {
        let ops = vec![Op::Iter(0, 0); n];
        run_all(input.as_bytes(), &[(pat.as_bytes(), inclusive)], &ops)
    }

    /// Calls one iterator with `size` until it fails with "closed".
    fn sized(input: &str, pat: &str, inclusive: bool, size: usize) -> Vec<R> {
        let ops = vec![Op::Iter(0, size); 64];
        run_all(input.as_bytes(), &[(pat.as_bytes(), inclusive)], &ops)
    }

    const HTTP: &str = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\n\
Content-Length: 4\r\nConnection: close\r\n\r\nfoo\n";

    // §6 case 24 (t/066 TEST 2).
    #[test]
    fn as_a_line_reader() {
        assert_eq!(
            until(HTTP, "\r\n", false, 7),
            [
                ok("HTTP/1.1 200 OK"),
                ok("Server: nginx"),
                ok("Content-Type: text/plain"),
                ok("Content-Length: 4"),
                ok("Connection: close"),
                ok(""),
                closed("foo\n"),
            ]
        );
    }

    // §6 case 24 (t/066 TEST 3).
    #[test]
    fn all_headers_at_once() {
        assert_eq!(
            until(HTTP, "\r\n\r\n", false, 2),
            [ok(&HTTP[..HTTP.len() - 8]), closed("foo\n")]
        );
    }

    // §5.5, §6 case 25 (t/066 TESTS 4–14, 18; buffer sizes via run_all).
    #[test]
    fn ambiguous_patterns() {
        let cases = [
            ("abcabcabd\n", "abcabd", "abc", "\n"),
            ("abcabcaad\n", "aa", "abcabc", "d\n"),
            ("abaabcaaaef\n", "aaa", "abaabc", "ef\n"),
            ("baaaaaaaaeaaaaaaadf\n", "aaaaad", "baaaaaaaaeaa", "f\n"),
            ("abcabdabcabdabcabe\n", "abcabdabcabe", "abcabd", "\n"),
            ("abcabdabcabcabdabcabe\n", "abcabdabcabe", "abcabdabc", "\n"),
            ("abcabcabdabcabe\n", "abcabdabcabe", "abc", "\n"),
            ("ababcabdabcabe\n", "abcabdabcabe", "ab", "\n"),
            ("----abc\n", "--abc", "--", "\n"),
        ];
        for (input, pat, first, rest) in cases {
            assert_eq!(
                until(input, pat, false, 2),
                [ok(first), closed(rest)],
                "{pat:?} on {input:?}"
            );
        }
    }

    // §5.5: pattern at the very end, then EOF.
    #[test]
    fn pattern_at_end_and_at_start() {
        assert_eq!(
            until("hello, world ----abc\n", "abc\n", false, 2),
            [ok("hello, world ----"), closed("")]
        );
        assert_eq!(until("--abcX", "--abc", false, 2), [ok(""), closed("X")]);
        assert_eq!(
            sized("--abcX", "--abc", false, 4),
            [ok(""), R::Finished, closed("X")]
        );
    }

    // §6 case 26 (t/066 TESTS 15–16).
    #[test]
    fn sized_iterator() {
        assert_eq!(
            sized("hello, world ----abc\n", "--abc", false, 4),
            [
                ok("hell"),
                ok("o, w"),
                ok("orld"),
                ok(" --"),
                R::Finished,
                closed("\n")
            ]
        );
    }

    // t/066 TEST 20: the last chunk before the pattern is shorter than size.
    #[test]
    fn sized_iterator_pending_bytes() {
        assert_eq!(
            sized("-----abc\n", "--abc", false, 2),
            [ok("--"), ok("-"), R::Finished, closed("\n")]
        );
    }

    // README example of receiveuntil with a size.
    #[test]
    fn readme_example() {
        let got = sized(
            "hello, world! -agentzh\r\n--abcedhb blah blah",
            "\r\n--abcedhb",
            false,
            4,
        );
        assert_eq!(
            got,
            [
                ok("hell"),
                ok("o, w"),
                ok("orld"),
                ok("! -a"),
                ok("gent"),
                ok("zh"),
                R::Finished,
                ok(" bla"),
                ok("h bl"),
                closed("ah"),
            ]
        );
        assert_eq!(
            until(
                "hello, world! -agentzh\r\n--abcedhb blah blah",
                "\r\n--abcedhb",
                false,
                1
            ),
            [ok("hello, world! -agentzh")]
        );
    }

    // §6 case 27 (t/066 TEST 17).
    #[test]
    fn sized_interleaved_with_receive() {
        let mut ops = Vec::new();
        for _ in 0..5 {
            ops.push(Op::Iter(0, 4));
            ops.push(Op::Recv(Pattern::Size(1)));
        }
        let got = run_all(b"hello, world ----abc\n", &[(b"--abc", false)], &ops);
        assert_eq!(
            got,
            [
                ok("hell"),
                ok("o"),
                ok(", wo"),
                ok("r"),
                ok("ld -"),
                ok("-"),
                ok(""),
                ok("\n"),
                R::Finished,
                closed(""),
            ]
        );
    }

    // t/066 TESTS 21 and 23.
    #[test]
    fn receive_consumes_boundary() {
        let mut ops = Vec::new();
        for _ in 0..4 {
            ops.push(Op::Iter(0, 2));
            ops.push(Op::Recv(Pattern::Size(1)));
        }
        ops.push(Op::Iter(0, 2));
        ops.push(Op::Iter(0, 2));
        let got = run_all(b"----abc----abc-\n", &[(b"--abc", false)], &ops);
        assert_eq!(
            got,
            [
                ok("--"),
                ok("-"),
                ok("-a"),
                ok("b"),
                ok("c-"),
                ok("-"),
                ok(""),
                ok("-"),
                R::Finished,
                closed("\n"),
            ]
        );
    }

    // t/066 TESTS 22 and 24: two iterators and receive on one socket.
    #[test]
    fn two_iterators_share_held_bytes() {
        let ops = [
            Op::Iter(0, 2),
            Op::Recv(Pattern::Size(1)),
            Op::Iter(0, 1),
            Op::Iter(1, 2),
            Op::Iter(0, 0),
            Op::Iter(0, 0),
        ];
        let got = run_all(
            b"------abd----abc\n",
            &[(b"--abc", false), (b"-ab", false)],
            &ops,
        );
        assert_eq!(
            got,
            [ok("--"), ok("-"), ok("-"), ok("-"), ok("d--"), closed("\n")]
        );
    }

    // §6 case 28 (t/066 TESTS 25–26).
    #[test]
    fn held_bytes_go_to_the_next_reader() {
        let ops = [Op::Iter(0, 2), Op::Recv(Pattern::Size(3))];
        let got = run_all(b"ab1ab1\n", &[(b"ab1ab2", false)], &ops);
        assert_eq!(got, [ok("ab1"), ok("ab1")]);

        let ops = [Op::Iter(0, 2), Op::Recv(Pattern::All)];
        let got = run_all(b"ab1ab1\n", &[(b"ab1ab2", false)], &ops);
        assert_eq!(got, [ok("ab1"), ok("ab1\n")]);
    }

    // §6 case 29 (t/084 TESTS 1–6, 9).
    #[test]
    fn inclusive() {
        assert_eq!(
            until("abcabcabdabcabd\n", "abcabd", true, 3),
            [ok("abcabcabd"), ok("abcabd"), closed("\n")]
        );
        assert_eq!(
            until("ababcabdabcabe\n", "abcabdabcabe", true, 2),
            [ok("ababcabdabcabe"), closed("\n")]
        );
        assert_eq!(
            until("abcabcaad\n", "aa", true, 2),
            [ok("abcabcaa"), closed("d\n")]
        );
        assert_eq!(
            until("abcabcaad\n", "aa", false, 2),
            [ok("abcabc"), closed("d\n")]
        );
        assert_eq!(
            sized("hello, world ----abc\n", "--abc", true, 4),
            [
                ok("hell"),
                ok("o, w"),
                ok("orld"),
                ok(" ----abc"),
                R::Finished,
                closed("\n")
            ]
        );
    }

    // t/084 TEST 10.
    #[test]
    fn inclusive_sized_interleaved() {
        let mut ops = Vec::new();
        for _ in 0..5 {
            ops.push(Op::Iter(0, 4));
            ops.push(Op::Recv(Pattern::Size(1)));
        }
        let got = run_all(b"hello, world ----abc\n", &[(b"--abc", true)], &ops);
        assert_eq!(
            got,
            [
                ok("hell"),
                ok("o"),
                ok(", wo"),
                ok("r"),
                ok("ld -"),
                ok("-"),
                ok("--abc"),
                ok("\n"),
                R::Finished,
                closed(""),
            ]
        );
    }

    // §5.5, §0.1 item 9: bytes held at EOF are dropped.
    #[test]
    fn eof_drops_held_bytes() {
        assert_eq!(until("xx--ab", "--abc", false, 1), [closed("xx")]);
        assert_eq!(sized("xx--ab", "--abc", false, 4), [closed("xx")]);
        assert_eq!(
            sized("hello--ab", "--abc", false, 3),
            [ok("hel"), closed("lo")]
        );
        let mut buf = RecvBuf::new();
        buf.extend(b"xx--ab");
        let mut it = Until::new(b"--abc", false);
        assert_eq!(it.step(&mut buf, 0, false), Step::Pending);
        let Step::Closed(s) = it.step(&mut buf, 0, true) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"xx");
        assert!(buf.is_empty());
    }

    // §6 case 17 (t/058 TESTS 38–40).
    #[test]
    fn timeout_then_other_reader() {
        let mut buf = RecvBuf::new();
        buf.extend(b"2\r\nhi\r\n");
        let mut it = Until::new(b"no-such-terminator", false);
        assert_eq!(it.step(&mut buf, 0, false), Step::Pending);
        let s = it.take_partial(&mut buf);
        assert_eq!(buf.get(s), b"2\r\nhi\r\n");
        assert!(!it.in_call());

        buf.extend(b"5\r\nworld\r\n");
        let mut crlf = Until::new(b"\r\n", false);
        for want in [&b"5"[..], b"world"] {
            let Step::Done(s) = crlf.step(&mut buf, 0, false) else {
                panic!();
            };
            assert_eq!(buf.get(s), want);
        }
        assert_eq!(crlf.step(&mut buf, 0, false), Step::Pending);
    }

    // Timeout while holding: partial excludes the held bytes, which stay for
    // this iterator (match resumes) or for another reader.
    #[test]
    fn timeout_keeps_held_bytes() {
        let mut buf = RecvBuf::new();
        buf.extend(b"xx--ab");
        let mut it = Until::new(b"--abc", false);
        assert_eq!(it.step(&mut buf, 0, false), Step::Pending);
        let s = it.take_partial(&mut buf);
        assert_eq!(buf.get(s), b"xx");
        assert_eq!(it.held(), 4);
        assert_eq!(buf.unread(), b"--ab");
        buf.extend(b"c!");
        let Step::Done(s) = it.step(&mut buf, 0, false) else {
            panic!();
        };
        assert_eq!(s.len, 0);
        assert_eq!(buf.unread(), b"!");

        let mut buf = RecvBuf::new();
        buf.extend(b"yy--ab");
        let mut it = Until::new(b"--abc", false);
        assert_eq!(it.step(&mut buf, 3, false), Step::Pending);
        let s = it.take_partial(&mut buf);
        assert_eq!(buf.get(s), b"yy");
        let mut st = ScanState::default();
        let Step::Done(s) = simple::step(&mut buf, Pattern::Size(4), &mut st, false) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"--ab");
        it.invalidate();
        assert_eq!(it.held(), 0);
        assert_eq!(it.take_partial(&mut buf).len, 0);
    }

    // A call abandoned without take_partial (connection reset, buffer
    // cleared) must not poison the next one.
    #[test]
    fn abandoned_call_restarts() {
        let mut buf = RecvBuf::new();
        buf.extend(b"abcd--a");
        let mut it = Until::new(b"--abc", false);
        assert_eq!(it.step(&mut buf, 0, false), Step::Pending);
        assert!(it.in_call());
        // Only a buffer now shorter than what the call gathered is noticed;
        // otherwise the socket has to call invalidate().
        buf.clear();
        buf.extend(b"x--abc");
        let Step::Done(s) = it.step(&mut buf, 0, false) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"x");

        buf.extend(b"abc--a");
        let Step::Done(s) = it.step(&mut buf, 2, false) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"ab");
        assert_eq!(it.step(&mut buf, 9, false), Step::Pending);
        it.invalidate();
        assert!(!it.in_call());
        assert_eq!(buf.unread(), b"c--a");
        buf.extend(b"bc");
        let Step::Done(s) = it.step(&mut buf, 9, false) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"c");
        assert_eq!(it.step(&mut buf, 9, false), Step::Finished);
    }

    // A sized call whose budget ends inside a run of output.
    #[test]
    fn sized_chunks_in_long_runs() {
        let got = sized("abcdefghij--abc", "--abc", false, 3);
        assert_eq!(
            got,
            [
                ok("abc"),
                ok("def"),
                ok("ghi"),
                ok("j"),
                R::Finished,
                closed("")
            ]
        );
    }

    // The finished flag survives other readers in between (t/066 TEST 17).
    #[test]
    fn finished_survives_invalidate() {
        let mut buf = RecvBuf::new();
        buf.extend(b"ab--abcd");
        let mut it = Until::new(b"--abc", false);
        let Step::Done(s) = it.step(&mut buf, 5, false) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"ab");
        it.invalidate();
        assert_eq!(it.step(&mut buf, 5, false), Step::Finished);
        assert_eq!(it.step(&mut buf, 5, false), Step::Pending);
        let Step::Closed(s) = it.step(&mut buf, 5, true) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"d");
    }

    #[test]
    fn one_and_two_byte_patterns() {
        assert_eq!(
            until("a;b;;c", ";", false, 5),
            [ok("a"), ok("b"), ok(""), closed("c")]
        );
        assert_eq!(
            until("xaabaab", "ab", false, 3),
            [ok("xa"), ok("a"), closed("")]
        );
        assert_eq!(until("xaaa", "aa", true, 2), [ok("xaa"), closed("")]);
    }

    #[test]
    fn long_pattern() {
        let pat = "------------------------------------------- abcdefghijklmnopqrstuvwxyz";
        let input = format!("x{}{pat}y", &pat[..50]);
        assert_eq!(
            until(&input, pat, false, 2),
            [ok(&format!("x{}", &pat[..50])), closed("y")]
        );
    }

    // ---- compile_pattern fidelity -------------------------------------

    /// Literal port of nginx's `ngx_http_lua_socket_compile_pattern` loop.
    #[allow(clippy::never_loop, clippy::int_plus_one)]
    fn compile_nginx(data: &[u8]) -> Recovering {
        let len = data.len();
        if len <= 2 {
            return Vec::new();
        }
        let mut rec: Recovering = vec![Vec::new(); len - 2];
        for i in 1..len {
            let mut prefix_len = 1;
            while prefix_len <= len - i - 1 {
                if data[..prefix_len] == data[i..i + prefix_len] {
                    if data[prefix_len] == data[i + prefix_len] {
                        prefix_len += 1;
                        continue;
                    }
                    let cur_state = i + prefix_len;
                    let new_state = prefix_len + 1;
                    let edges = &mut rec[cur_state - 2];
                    match edges.iter_mut().find(|e| e.0 == data[prefix_len]) {
                        Some(e) => e.1 = e.1.max(new_state),
                        None => edges.push((data[prefix_len], new_state)),
                    }
                    break;
                }
                break;
            }
        }
        rec
    }

    #[test]
    fn compile_matches_nginx_loop() {
        let mut rng = Rng(42);
        for _ in 0..3000 {
            let len = rng.range(1, 14);
            let alpha = &b"abc"[..rng.range(1, 3)];
            let pat = rng.bytes(alpha, len);
            assert_eq!(compile(&pat), compile_nginx(&pat), "{pat:?}");
        }
        assert_eq!(compile(b"--abc"), compile_nginx(b"--abc"));
        assert_eq!(compile(b"--abc")[0], [(b'-', 2)]);
    }

    // ---- property tests -----------------------------------------------

    /// xorshift64*: deterministic randomness without a dev-dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn range(&mut self, lo: usize, hi: usize) -> usize {
            lo + (self.next() % (hi - lo + 1) as u64) as usize
        }

        fn bytes(&mut self, alphabet: &[u8], len: usize) -> Vec<u8> {
            (0..len)
                .map(|_| alphabet[self.range(0, alphabet.len() - 1)])
                .collect()
        }
    }

    /// Longest proper prefix of `pat` that is a suffix of `s` (what is held
    /// when the input ends without a match).
    fn held_at_end(s: &[u8], pat: &[u8]) -> usize {
        (1..pat.len())
            .rev()
            .find(|&k| s.ends_with(&pat[..k]))
            .unwrap_or(0)
    }

    /// Successive no-size calls by plain substring search.
    fn naive(input: &[u8], pat: &[u8], inclusive: bool) -> Vec<R> {
        let mut out = Vec::new();
        let mut rest = input;
        loop {
            match rest.windows(pat.len()).position(|w| w == pat) {
                Some(i) => {
                    let end = if inclusive { i + pat.len() } else { i };
                    out.push(R::Ok(rest[..end].to_vec()));
                    rest = &rest[i + pat.len()..];
                }
                None => {
                    let keep = rest.len() - held_at_end(rest, pat);
                    out.push(R::Closed(rest[..keep].to_vec()));
                    return out;
                }
            }
        }
    }

    fn random_case(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, bool) {
        let alpha = &b"ab\r\n"[..rng.range(2, 4)];
        let len = rng.range(0, 48);
        let input = rng.bytes(alpha, len);
        let pat = if !input.is_empty() && rng.range(0, 1) == 0 {
            let start = rng.range(0, input.len() - 1);
            let len = rng.range(1, (input.len() - start).min(7));
            input[start..start + len].to_vec()
        } else {
            let len = rng.range(1, 7);
            rng.bytes(alpha, len)
        };
        (input, pat, rng.range(0, 3) == 0)
    }

    #[test]
    fn until_matches_naive_search() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for case in 0..4000 {
            let (input, pat, inclusive) = random_case(&mut rng);
            let want = naive(&input, &pat, inclusive);
            let ops = vec![Op::Iter(0, 0); want.len()];
            let feed = Feed::Random(case + 1, rng.range(1, 6));
            let got = Sim::new(&input, &[(&pat, inclusive)], feed, true).run(&ops);
            assert_eq!(got, want, "{pat:?} on {input:?}");
        }
    }

    #[test]
    fn sized_chunks_concatenate_to_the_unsized_result() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for case in 0..4000 {
            let (input, pat, inclusive) = random_case(&mut rng);
            let size = rng.range(1, 5);
            let ops = vec![Op::Iter(0, size); 2 * input.len() + 4];
            let pats = [(&pat[..], inclusive)];
            let whole = Sim::new(&input, &pats, Feed::AllAtOnce, true).run(&ops);
            let feed = Feed::Random(case + 1, rng.range(1, 6));
            let split = Sim::new(&input, &pats, feed, true).run(&ops);
            assert_eq!(split, whole, "split-dependent: {pat:?} on {input:?}");

            // Regroup the chunks into the values of no-size calls.
            let mut joined = Vec::new();
            let mut acc = Vec::new();
            let mut chunks = whole.iter().peekable();
            while let Some(r) = chunks.next() {
                match r {
                    R::Ok(c) => {
                        let last = chunks.peek() == Some(&&R::Finished);
                        let limit = if last {
                            size - 1 + if inclusive { pat.len() } else { 0 }
                        } else {
                            size + pat.len().saturating_sub(2)
                        };
                        assert!(c.len() <= limit, "chunk {c:?} size {size}");
                        assert!(last || c.len() >= size, "short chunk {c:?}");
                        acc.extend_from_slice(c);
                    }
                    R::Finished => joined.push(R::Ok(std::mem::take(&mut acc))),
                    R::Closed(c) => {
                        assert!(c.len() < size);
                        acc.extend_from_slice(c);
                        joined.push(R::Closed(std::mem::take(&mut acc)));
                    }
                }
            }
            assert_eq!(
                joined,
                naive(&input, &pat, inclusive),
                "{pat:?} on {input:?}"
            );
        }
    }

    /// OpenResty ≥ 0.10.26 as written in C: held bytes leave the buffer and
    /// live in the DFA state, emitted bytes are copied from the pattern, and
    /// `read_prepare` pushes held bytes back when another reader takes over.
    /// All input is buffered up front; EOF follows it.
    struct Nginx {
        buf: Vec<u8>,
        pats: Vec<(Vec<u8>, bool, Recovering)>,
        /// `cp->state` per iterator (`-1`: the next call is `nil, nil, nil`).
        states: Vec<isize>,
        /// `u->input_filter_ctx`: `Some(i)` for iterator `i`.
        ctx: Option<usize>,
    }

    impl Nginx {
        fn new(input: &[u8], pats: &[(&[u8], bool)]) -> Self {
            Nginx {
                buf: input.to_vec(),
                pats: pats
                    .iter()
                    .map(|&(p, inc)| (p.to_vec(), inc, compile_nginx(p)))
                    .collect(),
                states: vec![0; pats.len()],
                ctx: None,
            }
        }

        fn read_prepare(&mut self, ctx: Option<usize>) {
            if self.ctx == ctx {
                return;
            }
            if let Some(j) = self.ctx {
                if self.states[j] > 0 {
                    let held = self.pats[j].0[..self.states[j] as usize].to_vec();
                    self.buf.splice(0..0, held);
                    self.states[j] = 0;
                }
            }
            self.ctx = ctx;
        }

        fn recv(&mut self, pat: Pattern) -> R {
            self.read_prepare(None);
            let b = &mut self.buf;
            match pat {
                Pattern::Line => match b.iter().position(|&c| c == b'\n') {
                    Some(i) => {
                        let line: Vec<u8> = b.drain(..=i).filter(|&c| c != b'\r').collect();
                        R::Ok(line[..line.len() - 1].to_vec())
                    }
                    None => R::Closed(b.drain(..).filter(|&c| c != b'\r').collect()),
                },
                Pattern::Size(n) if b.len() >= n => R::Ok(b.drain(..n).collect()),
                Pattern::Size(_) => R::Closed(std::mem::take(b)),
                Pattern::All => R::Ok(std::mem::take(b)),
                Pattern::Any(_) => unreachable!(),
            }
        }

        fn iter(&mut self, idx: usize, size: usize) -> R {
            if self.states[idx] == -1 {
                self.states[idx] = 0;
                return R::Finished;
            }
            self.read_prepare(Some(idx));
            let (pat, inclusive, rec) = &self.pats[idx];
            let mut state = self.states[idx] as usize;
            let mut rest = size;
            let mut out = Vec::new();
            let mut i = 0;
            while i < self.buf.len() {
                let c = self.buf[i];
                if c == pat[state] {
                    i += 1;
                    state += 1;
                    if state == pat.len() {
                        self.buf.drain(..i);
                        self.states[idx] = if size != 0 { -1 } else { 0 };
                        if *inclusive {
                            out.extend_from_slice(pat);
                        }
                        return R::Ok(out);
                    }
                    continue;
                }
                if state == 0 {
                    out.push(c);
                    i += 1;
                    if size != 0 {
                        rest -= 1;
                        if rest == 0 {
                            self.states[idx] = 0;
                            self.buf.drain(..i);
                            return R::Ok(out);
                        }
                    }
                    continue;
                }
                let edge = if state >= 2 && !rec.is_empty() {
                    rec[state - 2].iter().find(|e| e.0 == c).map(|e| e.1)
                } else {
                    None
                };
                let Some(new_state) = edge else {
                    out.extend_from_slice(&pat[..state]);
                    if size != 0 {
                        if rest <= state {
                            self.states[idx] = 0;
                            self.buf.drain(..i);
                            return R::Ok(out);
                        }
                        rest -= state;
                    }
                    state = 0;
                    continue;
                };
                let pending = state + 1 - new_state;
                out.extend_from_slice(&pat[..pending]);
                state = new_state;
                i += 1;
                if size != 0 {
                    if rest <= pending {
                        self.states[idx] = state as isize;
                        self.buf.drain(..i);
                        return R::Ok(out);
                    }
                    rest -= pending;
                }
            }
            self.buf.clear();
            self.states[idx] = state as isize;
            R::Closed(out)
        }

        fn run(&mut self, ops: &[Op]) -> Vec<R> {
            let mut out = Vec::new();
            for &op in ops {
                let r = match op {
                    Op::Recv(p) => self.recv(p),
                    Op::Iter(i, size) => self.iter(i, size),
                };
                let end = matches!(r, R::Closed(_));
                out.push(r);
                if end {
                    break;
                }
            }
            out
        }
    }

    fn random_ops(rng: &mut Rng) -> Vec<Op> {
        (0..rng.range(1, 12))
            .map(|_| match rng.range(0, 6) {
                0 => Op::Recv(Pattern::Line),
                1 => Op::Recv(Pattern::Size(rng.range(1, 4))),
                2 if rng.range(0, 3) == 0 => Op::Recv(Pattern::All),
                2 | 3 => Op::Iter(0, rng.range(0, 3)),
                _ => Op::Iter(1, rng.range(0, 3)),
            })
            .collect()
    }

    /// Differential test against the C algorithm, readers interleaved.
    #[test]
    fn mixed_readers_match_the_c_algorithm() {
        let mut rng = Rng(0x5eed_1e55_c0de_0001);
        let mut outcomes = [0usize; 3];
        for case in 0..3000 {
            let (input, p0, inc0) = random_case(&mut rng);
            let (_, p1, inc1) = random_case(&mut rng);
            let ops = random_ops(&mut rng);
            let pats = [(&p0[..], inc0), (&p1[..], inc1)];
            let want = Nginx::new(&input, &pats).run(&ops);
            let feed = Feed::Random(case + 1, rng.range(1, 4));
            let inv = rng.range(0, 1) == 0;
            let got = Sim::new(&input, &pats, feed, inv).run(&ops);
            assert_eq!(got, want, "{ops:?} {p0:?} {p1:?} on {input:?}");
            for r in &got {
                outcomes[match r {
                    R::Ok(_) => 0,
                    R::Finished => 1,
                    R::Closed(_) => 2,
                }] += 1;
            }
        }
        // The generator must reach every outcome often.
        assert!(outcomes.iter().all(|&n| n > 300), "{outcomes:?}");
    }

    /// Mixed readers: results must not depend on how the bytes arrive nor on
    /// whether the socket calls `invalidate()`.
    #[test]
    fn mixed_readers_do_not_depend_on_arrival() {
        let mut rng = Rng(0x0bad_5eed_0bad_5eed);
        for case in 0..1500 {
            let (input, p0, inc0) = random_case(&mut rng);
            let (_, p1, inc1) = random_case(&mut rng);
            let ops = random_ops(&mut rng);
            let pats = [(&p0[..], inc0), (&p1[..], inc1)];
            let base = Sim::new(&input, &pats, Feed::AllAtOnce, true).run(&ops);
            let feed = Feed::Random(case + 1, rng.range(1, 4));
            let inv = rng.range(0, 1) == 0;
            let got = Sim::new(&input, &pats, feed, inv).run(&ops);
            assert_eq!(got, base, "{ops:?} {p0:?} {p1:?} on {input:?}");
        }
    }
}

//! `*l`, `*a`, exact size and receiveany engines.
//!
//! Mirrors `ngx_http_lua_read_line/read_all/read_bytes/read_any` in
//! `ngx_http_lua_input_filters.c`. Unlike nginx, which copies each received
//! byte into an output chain, the value is always a prefix of the unread
//! bytes, so these engines only decide how long that prefix is.

use super::{CHUNK, RecvBuf, Span, Step};

/// The receive patterns other than receiveuntil.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `*l`: up to LF; the LF is consumed, every CR in the line dropped.
    Line,
    /// `*a`: everything until EOF (success even when empty).
    All,
    /// Exactly `n` bytes (`0` is answered before any engine runs).
    Size(usize),
    /// receiveany(max): whatever is buffered, at most `max` bytes.
    Any(usize),
}

/// Progress of one receive call across several reads (reset when it ends).
#[derive(Clone, Copy, Debug, Default)]
pub struct ScanState {
    /// Unread bytes already searched (no LF among them).
    pub scanned: usize,
}

/// Largest single `recv()` a pattern asks for: bigger reads only make the
/// buffer grow ahead of what the caller consumes.
const MAX_WANT: usize = 1 << 20;

/// Runs the engine over the buffer. `eof` says the peer closed its side and no
/// more bytes will come.
pub fn step(buf: &mut RecvBuf, pat: Pattern, st: &mut ScanState, eof: bool) -> Step {
    let res = match pat {
        Pattern::Line => step_line(buf, st, eof),
        Pattern::All => {
            if eof {
                Step::Done(buf.consume(buf.len()))
            } else {
                Step::Pending
            }
        }
        Pattern::Size(n) => {
            if buf.len() >= n {
                Step::Done(buf.consume(n))
            } else if eof {
                Step::Closed(buf.consume(buf.len()))
            } else {
                Step::Pending
            }
        }
        Pattern::Any(max) => {
            if !buf.is_empty() {
                Step::Done(buf.consume(max.min(buf.len())))
            } else if eof {
                Step::Closed(buf.consume(0))
            } else {
                Step::Pending
            }
        }
    };
    if res != Step::Pending {
        *st = ScanState::default();
    }
    res
}

fn step_line(buf: &mut RecvBuf, st: &mut ScanState, eof: bool) -> Step {
    let data = buf.unread();
    // `min` guards against a caller that forgot to reset the state after
    // another method consumed bytes: rescanning is safe, overrunning is not.
    let from = st.scanned.min(data.len());
    match find(&data[from..], b'\n') {
        Some(i) => {
            let lf = from + i;
            Step::Done(take_stripped(buf, lf, lf + 1))
        }
        None if eof => {
            let n = buf.len();
            Step::Closed(take_stripped(buf, n, n))
        }
        None => {
            st.scanned = data.len();
            Step::Pending
        }
    }
}

/// Drops the CRs of the first `line` unread bytes in place, consumes `total`
/// bytes (the line plus its LF, if any) and returns the stripped line.
fn take_stripped(buf: &mut RecvBuf, line: usize, total: usize) -> Span {
    let kept = strip_cr(&mut buf.unread_mut()[..line]);
    let span = buf.consume(total);
    Span {
        start: span.start,
        len: kept,
    }
}

/// Removes every CR (OpenResty ignores all of them in `*l`, not only the one
/// before LF) by compacting towards the front; returns the new length.
fn strip_cr(bytes: &mut [u8]) -> usize {
    let Some(first) = find(bytes, b'\r') else {
        return bytes.len();
    };
    let mut w = first;
    for r in first + 1..bytes.len() {
        let b = bytes[r];
        if b != b'\r' {
            bytes[w] = b;
            w += 1;
        }
    }
    w
}

/// The first `needle` in `hay`: libc's memchr, which scans a word or a
/// vector register at a time (a byte loop costs ~3 instructions per byte,
/// and every `*l` receive scans its line twice: for LF, then for CR).
#[inline]
pub(super) fn find(hay: &[u8], needle: u8) -> Option<usize> {
    if hay.is_empty() {
        return None;
    }
    // SAFETY: memchr reads at most hay.len() bytes from a valid slice.
    let p = unsafe { libc::memchr(hay.as_ptr().cast(), i32::from(needle), hay.len()) };
    if p.is_null() {
        None
    } else {
        Some(p as usize - hay.as_ptr() as usize)
    }
}

/// Ends the call early (read timeout or read error): consumes and returns the
/// bytes this call gathered, in the form the pattern would have returned them.
pub fn take_partial(buf: &mut RecvBuf, pat: Pattern, st: &mut ScanState) -> Span {
    *st = ScanState::default();
    match pat {
        Pattern::Line => {
            // A line that completed meanwhile is not part of this call's
            // partial: nginx would have stopped at its LF.
            let line = find(buf.unread(), b'\n').unwrap_or(buf.len());
            take_stripped(buf, line, line)
        }
        Pattern::All => buf.consume(buf.len()),
        Pattern::Size(n) => buf.consume(n.min(buf.len())),
        // receiveany only waits while the buffer is empty, so it has nothing.
        Pattern::Any(_) => buf.consume(0),
    }
}

/// How many bytes the next `recv()` should ask for.
pub fn want(buf: &RecvBuf, pat: Pattern) -> usize {
    match pat {
        Pattern::Line | Pattern::Any(_) => CHUNK,
        Pattern::All => buf.len().clamp(CHUNK, MAX_WANT),
        Pattern::Size(n) => n.saturating_sub(buf.len()).clamp(CHUNK, MAX_WANT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One result as the Lua caller would see it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum R {
        Ok(Vec<u8>),
        Closed(Vec<u8>),
    }

    fn ok(s: &str) -> R {
        R::Ok(s.as_bytes().to_vec())
    }

    fn closed(s: &str) -> R {
        R::Closed(s.as_bytes().to_vec())
    }

    /// How the simulated peer's bytes reach the buffer.
    #[derive(Clone, Copy, Debug)]
    enum Feed {
        /// Everything is buffered before the first call.
        AllAtOnce,
        /// One byte per `recv()` (`lua_socket_buffer_size 1`).
        ByteByByte,
        /// As much as `want()` asks for.
        Want,
    }

    /// Runs `calls` the way the socket does: step, and on Pending read more
    /// (or report EOF once the input is exhausted).
    fn run(input: &[u8], calls: &[Pattern], feed: Feed) -> Vec<R> {
        let mut buf = RecvBuf::new();
        let mut pos = 0;
        if let Feed::AllAtOnce = feed {
            buf.extend(input);
            pos = input.len();
        }
        let mut eof = false;
        let mut out = Vec::new();
        for &pat in calls {
            let mut st = ScanState::default();
            loop {
                match step(&mut buf, pat, &mut st, eof) {
                    Step::Pending => {
                        assert!(!eof, "Pending after eof");
                        if pos == input.len() {
                            eof = true;
                            continue;
                        }
                        let n = match feed {
                            Feed::AllAtOnce => unreachable!(),
                            Feed::ByteByByte => 1,
                            Feed::Want => want(&buf, pat),
                        };
                        let n = n.min(input.len() - pos);
                        buf.extend(&input[pos..pos + n]);
                        pos += n;
                    }
                    Step::Done(s) => {
                        out.push(R::Ok(buf.get(s).to_vec()));
                        break;
                    }
                    Step::Closed(s) => {
                        out.push(R::Closed(buf.get(s).to_vec()));
                        break;
                    }
                    Step::Finished => unreachable!(),
                }
            }
        }
        out
    }

    /// Runs under every feeding mode and checks they agree.
    fn run_all(input: &[u8], calls: &[Pattern]) -> Vec<R> {
        let a = run(input, calls, Feed::AllAtOnce);
        assert_eq!(a, run(input, calls, Feed::ByteByByte), "byte by byte");
        assert_eq!(a, run(input, calls, Feed::Want), "want-sized reads");
        a
    }

    /// The 102-byte response of t/058 (body "foo\n").
    const HTTP: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\n\
Content-Length: 4\r\nConnection: close\r\n\r\nfoo\n";

    #[test]
    fn http_response_is_102_bytes() {
        assert_eq!(HTTP.len(), 102);
    }

    // §6 case 1 (t/058 TEST 1).
    #[test]
    fn lines_to_eof() {
        let got = run_all(HTTP, &[Pattern::Line; 9]);
        assert_eq!(
            got,
            [
                ok("HTTP/1.1 200 OK"),
                ok("Server: nginx"),
                ok("Content-Type: text/plain"),
                ok("Content-Length: 4"),
                ok("Connection: close"),
                ok(""),
                ok("foo"),
                closed(""),
                closed(""),
            ]
        );
    }

    // §6 case 2 (t/058 TEST 2).
    #[test]
    fn last_line_without_lf() {
        let input = b"HTTP/1.1 200 OK\r\n\r\nfoo";
        let got = run_all(input, &[Pattern::Line; 3]);
        assert_eq!(got, [ok("HTTP/1.1 200 OK"), ok(""), closed("foo")]);
    }

    // §0.1 item 5, §5.2.
    #[test]
    fn every_cr_is_dropped() {
        let got = run_all(b"foo\rbar\nbaz\r\n\rqux\n\r\n\n", &[Pattern::Line; 6]);
        assert_eq!(
            got,
            [
                ok("foobar"),
                ok("baz"),
                ok("qux"),
                ok(""),
                ok(""),
                closed("")
            ]
        );
        let got = run_all(b"foo\r\rbar\rbaz\n", &[Pattern::Line; 2]);
        assert_eq!(got, [ok("foobarbaz"), closed("")]);
    }

    #[test]
    fn partial_line_at_eof_is_cr_stripped() {
        assert_eq!(run_all(b"last\r", &[Pattern::Line]), [closed("last")]);
        assert_eq!(run_all(b"\r", &[Pattern::Line]), [closed("")]);
        assert_eq!(run_all(b"a\rb\r", &[Pattern::Line]), [closed("ab")]);
    }

    // §6 case 3 (t/058 TEST 11).
    #[test]
    fn all_returns_everything_untranslated() {
        let got = run_all(HTTP, &[Pattern::All, Pattern::All]);
        assert_eq!(got, [R::Ok(HTTP.to_vec()), ok("")]);
        assert_eq!(run_all(b"", &[Pattern::All]), [ok("")]);
    }

    // §6 case 4 (t/058 TEST 12).
    #[test]
    fn line_then_all() {
        let got = run_all(HTTP, &[Pattern::Line, Pattern::All]);
        assert_eq!(got, [ok("HTTP/1.1 200 OK"), R::Ok(HTTP[17..].to_vec())]);
    }

    // §6 case 5 (t/058 TESTS 13, 14, 18).
    #[test]
    fn fixed_size_chunks() {
        let got = run_all(HTTP, &[Pattern::Size(10); 11]);
        let mut want: Vec<R> = HTTP.chunks(10).map(|c| R::Ok(c.to_vec())).collect();
        assert_eq!(want.pop(), Some(ok("o\n")));
        want.push(closed("o\n"));
        assert_eq!(got, want);
        assert_eq!(got[0], ok("HTTP/1.1 2"));
        assert_eq!(got[1], ok("00 OK\r\nSer"));
        assert_eq!(got[9], ok("lose\r\n\r\nfo"));
    }

    #[test]
    fn size_zero_and_size_at_eof() {
        assert_eq!(run_all(b"ab", &[Pattern::Size(0)]), [ok("")]);
        assert_eq!(
            run_all(b"ab", &[Pattern::Size(2), Pattern::Size(1)]),
            [ok("ab"), closed("")]
        );
    }

    // §6 case 20 (t/058 TEST 65, t/156 TEST 1): one value per arrival.
    #[test]
    fn any_returns_what_is_buffered() {
        let got = run(
            b"122hello world",
            &[Pattern::Any(1024); 4],
            Feed::ByteByByte,
        );
        assert_eq!(got[0], ok("1"));
        assert_eq!(got[1], ok("2"));
        let got = run(b"1", &[Pattern::Any(1024); 2], Feed::AllAtOnce);
        assert_eq!(got, [ok("1"), closed("")]);

        let mut buf = RecvBuf::new();
        let mut st = ScanState::default();
        for piece in [&b"1"[..], b"22", b"hello world"] {
            assert_eq!(
                step(&mut buf, Pattern::Any(1024), &mut st, false),
                Step::Pending
            );
            buf.extend(piece);
            let Step::Done(s) = step(&mut buf, Pattern::Any(1024), &mut st, false) else {
                panic!("not done");
            };
            assert_eq!(buf.get(s), piece);
        }
        assert!(matches!(
            step(&mut buf, Pattern::Any(1024), &mut st, true),
            Step::Closed(Span { len: 0, .. })
        ));
    }

    // §6 cases 21 and 22 (t/058 TESTS 66, 68, 69).
    #[test]
    fn any_max_smaller_than_data() {
        let all = run(b"hello world", &[Pattern::Any(128)], Feed::AllAtOnce);
        assert_eq!(all, [ok("hello world")]);
        let got = run(b"hello world", &[Pattern::Any(7); 3], Feed::AllAtOnce);
        assert_eq!(got, [ok("hello w"), ok("orld"), closed("")]);
        assert_eq!(run(b"", &[Pattern::Any(1024)], Feed::Want), [closed("")]);
    }

    // §5.6: receiveany after *l returns the buffered rest without reading.
    #[test]
    fn any_after_line_uses_buffer() {
        let mut buf = RecvBuf::new();
        let mut st = ScanState::default();
        buf.extend(b"status\r\nrest of it");
        let Step::Done(s) = step(&mut buf, Pattern::Line, &mut st, false) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"status");
        let Step::Done(s) = step(&mut buf, Pattern::Any(100), &mut st, false) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"rest of it");
    }

    // §6 case 16 (t/058 TEST 37): a timeout consumes the partial data.
    #[test]
    fn timeout_partial_is_consumed() {
        let mut buf = RecvBuf::new();
        let mut st = ScanState::default();
        buf.extend(b"2\r\nhi\r\n");
        assert_eq!(
            step(&mut buf, Pattern::Size(100), &mut st, false),
            Step::Pending
        );
        let s = take_partial(&mut buf, Pattern::Size(100), &mut st);
        assert_eq!(buf.get(s), b"2\r\nhi\r\n");
        buf.extend(b"5\r\nworld\r\n");
        let got: Vec<_> = (0..2)
            .map(|_| match step(&mut buf, Pattern::Line, &mut st, false) {
                Step::Done(s) => buf.get(s).to_vec(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, [b"5".to_vec(), b"world".to_vec()]);
    }

    #[test]
    fn line_timeout_partial_is_stripped_and_resets_scan() {
        let mut buf = RecvBuf::new();
        let mut st = ScanState::default();
        buf.extend(b"ab\rc");
        assert_eq!(step(&mut buf, Pattern::Line, &mut st, false), Step::Pending);
        assert_eq!(st.scanned, 4);
        let s = take_partial(&mut buf, Pattern::Line, &mut st);
        assert_eq!(buf.get(s), b"abc");
        assert_eq!(st.scanned, 0);
        assert!(buf.is_empty());

        buf.extend(b"x\ny");
        let s = take_partial(&mut buf, Pattern::Line, &mut st);
        assert_eq!(buf.get(s), b"x");
        assert_eq!(buf.unread(), b"\ny");

        buf.extend(b"z");
        let s = take_partial(&mut buf, Pattern::All, &mut st);
        assert_eq!(buf.get(s), b"\nyz");
        buf.extend(b"abc");
        let s = take_partial(&mut buf, Pattern::Size(2), &mut st);
        assert_eq!(buf.get(s), b"ab");
        let s = take_partial(&mut buf, Pattern::Any(9), &mut st);
        assert_eq!(s.len, 0);
        assert_eq!(buf.unread(), b"c");
    }

    #[test]
    fn line_scan_resumes_where_it_stopped() {
        let mut buf = RecvBuf::new();
        let mut st = ScanState::default();
        buf.extend(b"abc");
        assert_eq!(step(&mut buf, Pattern::Line, &mut st, false), Step::Pending);
        assert_eq!(st.scanned, 3);
        buf.extend(b"d\r");
        assert_eq!(step(&mut buf, Pattern::Line, &mut st, false), Step::Pending);
        assert_eq!(st.scanned, 5);
        buf.extend(b"\nnext");
        let Step::Done(s) = step(&mut buf, Pattern::Line, &mut st, false) else {
            panic!();
        };
        assert_eq!(buf.get(s), b"abcd");
        assert_eq!(st.scanned, 0);
        assert_eq!(buf.unread(), b"next");
    }

    #[test]
    fn want_sizes() {
        let mut buf = RecvBuf::new();
        assert_eq!(want(&buf, Pattern::Line), CHUNK);
        assert_eq!(want(&buf, Pattern::Any(1 << 30)), CHUNK);
        assert_eq!(want(&buf, Pattern::Any(1)), CHUNK);
        assert_eq!(want(&buf, Pattern::Size(10)), CHUNK);
        assert_eq!(want(&buf, Pattern::Size(100_000)), 100_000);
        assert_eq!(want(&buf, Pattern::Size(10 << 20)), MAX_WANT);
        assert_eq!(want(&buf, Pattern::All), CHUNK);
        buf.extend(&[0; 50_000]);
        assert_eq!(want(&buf, Pattern::Size(100_000)), 50_000);
        assert_eq!(want(&buf, Pattern::Size(10)), CHUNK);
        assert_eq!(want(&buf, Pattern::All), 50_000);
    }

    /// xorshift64*: deterministic randomness without a dev-dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Uniform-ish in `lo..=hi`.
        fn range(&mut self, lo: usize, hi: usize) -> usize {
            lo + (self.next() % (hi - lo + 1) as u64) as usize
        }

        fn bytes(&mut self, alphabet: &[u8], len: usize) -> Vec<u8> {
            (0..len)
                .map(|_| alphabet[self.range(0, alphabet.len() - 1)])
                .collect()
        }
    }

    /// Feeds `input` in random pieces, running `*l` until it fails.
    fn lines_random_split(input: &[u8], rng: &mut Rng) -> Vec<R> {
        let mut buf = RecvBuf::new();
        let mut pos = 0;
        let mut eof = false;
        let mut out = Vec::new();
        loop {
            let mut st = ScanState::default();
            let r = loop {
                match step(&mut buf, Pattern::Line, &mut st, eof) {
                    Step::Pending if pos == input.len() => eof = true,
                    Step::Pending => {
                        let n = rng.range(1, 5).min(input.len() - pos);
                        buf.extend(&input[pos..pos + n]);
                        pos += n;
                    }
                    Step::Done(s) => break R::Ok(buf.get(s).to_vec()),
                    Step::Closed(s) => break R::Closed(buf.get(s).to_vec()),
                    Step::Finished => unreachable!(),
                }
            };
            let end = matches!(r, R::Closed(_));
            out.push(r);
            if end {
                return out;
            }
        }
    }

    fn lines_naive(input: &[u8]) -> Vec<R> {
        let strip = |s: &[u8]| s.iter().copied().filter(|&b| b != b'\r').collect();
        let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        let last = parts.pop().unwrap();
        let mut out: Vec<R> = parts.into_iter().map(|p| R::Ok(strip(p))).collect();
        out.push(R::Closed(strip(last)));
        out
    }

    #[test]
    fn line_engine_matches_naive_reference() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let len = rng.range(0, 40);
            let input = rng.bytes(b"ab\r\n", len);
            let want = lines_naive(&input);
            assert_eq!(lines_random_split(&input, &mut rng), want, "{input:?}");
            let n = want.len();
            assert_eq!(run(&input, &vec![Pattern::Line; n], Feed::AllAtOnce), want);
        }
    }
}

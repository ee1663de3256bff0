//! The socket's own receive buffer.

/// A range of bytes inside a [`RecvBuf`]'s storage, as handed to callers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

impl Span {
    pub const EMPTY: Span = Span { start: 0, len: 0 };
}

/// Bytes read from the kernel and not yet handed out (`head..tail`).
///
/// Consumed bytes are not overwritten until the next [`RecvBuf::spare`], so a
/// [`Span`] returned by an engine stays readable until the next receive call.
///
/// Storage is never zero-filled for plain reads: `recv(2)` writes straight
/// into the uninitialized spare capacity ([`RecvBuf::spare`]) and only the
/// bytes it wrote become part of the buffer ([`RecvBuf::assume_filled`]).
/// `data.len()` counts initialized bytes (`head <= tail <= data.len()`); only
/// `head..tail` (and spans consumed from it) is ever handed out. Emptied
/// buffers go back to a small per-thread free list, so a new socket object
/// costs no allocation; a recycled buffer is truncated to length 0 first, so
/// none of its previous socket's bytes is readable through it.
#[derive(Debug, Default)]
pub struct RecvBuf {
    data: Vec<u8>,
    head: usize,
    tail: usize,
}

/// Storage kept for an idle buffer; larger ones are released when emptied.
const KEEP: usize = 64 * 1024;

/// Buffers recycled per thread, and the largest one recycled. A closed
/// socket object, or one handed to the pool, holds no buffer beyond one
/// `CHUNK` (the free list holds at most `FREE_MAX * FREE_CAP` bytes per
/// thread, shared by every socket of that thread).
const FREE_MAX: usize = 8;
const FREE_CAP: usize = 2 * super::CHUNK;

thread_local! {
    static FREE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A recycled buffer with room for `need` bytes, if the thread has one.
fn take_free(need: usize) -> Option<Vec<u8>> {
    FREE.try_with(|f| {
        let mut f = f.try_borrow_mut().ok()?;
        match f.last() {
            Some(v) if v.capacity() >= need => f.pop(),
            _ => None,
        }
    })
    .ok()
    .flatten()
}

/// Recycles `v` (emptied: none of its bytes stays readable) if it is of the
/// usual size and the thread's list has room; otherwise frees it.
fn give_free(mut v: Vec<u8>) {
    if !(super::CHUNK..=FREE_CAP).contains(&v.capacity()) {
        return;
    }
    v.clear();
    // During thread teardown the list may be gone: the buffer is just freed.
    let _ = FREE.try_with(|f| {
        if let Ok(mut f) = f.try_borrow_mut()
            && f.len() < FREE_MAX
        {
            f.push(v);
        }
    });
}

impl RecvBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// The unread bytes.
    #[inline]
    pub fn unread(&self) -> &[u8] {
        &self.data[self.head..self.tail]
    }

    /// The unread bytes, writable (the line engine drops CRs in place).
    #[inline]
    pub fn unread_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.head..self.tail]
    }

    /// Number of unread bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// Absolute index of the first unread byte (for building spans).
    #[inline]
    pub fn head(&self) -> usize {
        self.head
    }

    /// Marks `n` unread bytes as consumed and returns their span.
    #[inline]
    pub fn consume(&mut self, n: usize) -> Span {
        debug_assert!(n <= self.len());
        let span = Span {
            start: self.head,
            len: n,
        };
        self.head += n;
        span
    }

    /// The bytes of a span returned earlier (valid until the next `spare`).
    #[inline]
    pub fn get(&self, span: Span) -> &[u8] {
        &self.data[span.start..span.start + span.len]
    }

    /// Raw pointer to a span's bytes, for the C ABI.
    #[inline]
    pub fn ptr(&self, span: Span) -> *const u8 {
        if span.len == 0 {
            return b"".as_ptr();
        }
        self.data[span.start..].as_ptr()
    }

    /// Makes room for at least `want` bytes after the unread ones. Moves the
    /// unread bytes to the front first, which invalidates earlier spans.
    fn make_room(&mut self, want: usize) {
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
            if self.data.capacity() > KEEP && want <= KEEP {
                self.data = Vec::new();
            }
        } else if self.head > 0 && self.data.capacity() - self.tail < want {
            self.data.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
        let need = self.tail + want;
        if self.data.capacity() >= need {
            return;
        }
        if self.data.capacity() == 0
            && let Some(v) = take_free(need)
        {
            self.data = v;
            return;
        }
        let grown = need.max(self.data.capacity() * 2).max(super::CHUNK);
        self.data.truncate(self.tail);
        self.data.reserve_exact(grown - self.tail);
    }

    /// Room for at least `want` bytes after the unread ones, uninitialized:
    /// for `recv(2)` to write into, then [`RecvBuf::assume_filled`]. Moves
    /// the unread bytes to the front first, which invalidates earlier spans.
    pub fn spare(&mut self, want: usize) -> &mut [std::mem::MaybeUninit<u8>] {
        self.make_room(want);
        // What lies past the unread bytes is no longer part of the buffer.
        self.data.truncate(self.tail);
        self.data.spare_capacity_mut()
    }

    /// Records that the kernel wrote `n` bytes at the start of the room
    /// returned by the last [`RecvBuf::spare`].
    ///
    /// # Safety
    ///
    /// The first `n` bytes of that room must have been initialized since
    /// (and nothing called on the buffer in between).
    #[inline]
    pub unsafe fn assume_filled(&mut self, n: usize) {
        debug_assert_eq!(self.data.len(), self.tail);
        assert!(n <= self.data.capacity() - self.tail);
        self.tail += n;
        // SAFETY: `tail <= capacity` (checked above) and bytes `..tail` are
        // initialized: the old ones by the invariant, the `n` new ones by the
        // caller's contract.
        unsafe { self.data.set_len(self.tail) };
    }

    /// Writable, initialized room for at least `want` bytes after the unread
    /// ones (TLS plumbing, which needs `&mut [u8]`): storage never written
    /// before is zeroed once, then [`RecvBuf::commit`].
    pub fn spare_init(&mut self, want: usize) -> &mut [u8] {
        self.make_room(want);
        let cap = self.data.capacity();
        if self.data.len() < cap {
            self.data.resize(cap, 0);
        }
        &mut self.data[self.tail..]
    }

    /// Records that `n` bytes were written into the room given by `spare_init`.
    #[inline]
    pub fn commit(&mut self, n: usize) {
        assert!(self.tail + n <= self.data.len());
        self.tail += n;
    }

    /// Appends bytes (tests and TLS plumbing).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.make_room(bytes.len());
        self.data.truncate(self.tail);
        self.data.extend_from_slice(bytes);
        self.tail += bytes.len();
    }

    /// Forgets everything (the connection is closed or handed to the pool);
    /// the storage goes back to the thread's free list.
    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        if self.data.capacity() > 0 {
            give_free(std::mem::take(&mut self.data));
        }
    }

    /// Bytes of storage held (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        if self.data.capacity() > 0 {
            give_free(std::mem::take(&mut self.data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_survive_until_next_spare() {
        let mut b = RecvBuf::new();
        b.extend(b"hello world");
        let s = b.consume(5);
        assert_eq!(b.get(s), b"hello");
        assert_eq!(b.unread(), b" world");
        b.spare(10);
        assert_eq!(b.unread(), b" world");
    }

    /// Simulates recv(2): writes `bytes` into the spare room.
    fn fill(b: &mut RecvBuf, bytes: &[u8]) {
        let room = b.spare(bytes.len());
        assert!(room.len() >= bytes.len());
        for (d, s) in room.iter_mut().zip(bytes) {
            d.write(*s);
        }
        // SAFETY: the first bytes.len() bytes of the room were just written.
        unsafe { b.assume_filled(bytes.len()) };
    }

    #[test]
    fn uninit_room_then_filled() {
        let mut b = RecvBuf::new();
        fill(&mut b, b"abc");
        fill(&mut b, b"def\n");
        assert_eq!(b.unread(), b"abcdef\n");
        let s = b.consume(3);
        assert_eq!(b.get(s), b"abc");
        fill(&mut b, b"g");
        assert_eq!(b.unread(), b"def\ng");
    }

    #[test]
    fn recycled_buffer_exposes_nothing_of_its_previous_socket() {
        // Same thread: the first buffer's storage is recycled for the second.
        let mut a = RecvBuf::new();
        fill(&mut a, b"SECRET-OF-SOCKET-A\r\n");
        let a_ptr = a.unread().as_ptr();
        drop(a);
        let mut b = RecvBuf::new();
        assert!(b.unread().is_empty());
        let room = b.spare(1);
        assert_eq!(room.as_ptr().cast::<u8>(), a_ptr, "storage recycled");
        // Nothing is part of the buffer until written, whatever the room holds.
        assert_eq!(b.len(), 0);
        fill(&mut b, b"x");
        assert_eq!(b.unread(), b"x");
        assert_eq!(b.data.len(), 1, "only written bytes are initialized");
        let s = b.consume(1);
        assert_eq!(b.get(s), b"x");
        // Also through clear() (a socket closed or pooled) and the TLS path,
        // which zeroes recycled storage before handing it out.
        b.clear();
        let mut c = RecvBuf::new();
        let room = c.spare_init(8);
        assert!(room.iter().all(|&x| x == 0));
        room[..2].copy_from_slice(b"ok");
        c.commit(2);
        assert_eq!(c.unread(), b"ok");
    }

    #[test]
    fn free_list_is_bounded() {
        let bufs: Vec<RecvBuf> = (0..FREE_MAX + 4)
            .map(|_| {
                let mut b = RecvBuf::new();
                fill(&mut b, b"z");
                b
            })
            .collect();
        drop(bufs);
        assert!(FREE.with(|f| f.borrow().len()) <= FREE_MAX);
        // A large buffer is freed, not recycled.
        let mut big = RecvBuf::new();
        big.spare(FREE_CAP * 4);
        let before = FREE.with(|f| f.borrow().len());
        drop(big);
        assert_eq!(FREE.with(|f| f.borrow().len()), before);
    }

    #[test]
    fn compacts_when_room_is_short() {
        let mut b = RecvBuf::new();
        let cap = b.spare(1).len();
        let fill = vec![7u8; cap];
        b.extend(&fill);
        b.consume(cap - 2);
        b.spare(cap - 1);
        assert_eq!(b.unread(), &[7, 7]);
        assert_eq!(b.head(), 0);
    }
}

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
#[derive(Debug, Default)]
pub struct RecvBuf {
    data: Vec<u8>,
    head: usize,
    tail: usize,
}

/// Storage kept for an idle buffer; larger ones are released when emptied.
const KEEP: usize = 64 * 1024;

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

    /// Writable room for at least `want` bytes after the unread ones. Moves the
    /// unread bytes to the front first, which invalidates earlier spans.
    pub fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
            if self.data.len() > KEEP && want <= KEEP {
                self.data = Vec::new();
            }
        } else if self.head > 0 && self.data.len() - self.tail < want {
            self.data.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
        let need = self.tail + want;
        if self.data.len() < need {
            let grown = need.max(self.data.len() * 2).max(super::CHUNK);
            self.data.resize(grown, 0);
        }
        &mut self.data[self.tail..]
    }

    /// Records that `n` bytes were written into the room given by `spare`.
    #[inline]
    pub fn commit(&mut self, n: usize) {
        debug_assert!(self.tail + n <= self.data.len());
        self.tail += n;
    }

    /// Appends bytes (tests and TLS plumbing).
    pub fn extend(&mut self, bytes: &[u8]) {
        let room = self.spare(bytes.len());
        room[..bytes.len()].copy_from_slice(bytes);
        self.commit(bytes.len());
    }

    /// Forgets everything (the connection is closed or handed to the pool).
    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        if self.data.len() > KEEP {
            self.data = Vec::new();
        }
    }

    /// Bytes of storage held (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.data.len()
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

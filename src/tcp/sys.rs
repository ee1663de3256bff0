//! Thin wrappers over the socket syscalls used by the socket core.
//!
//! Blocking calls use plain recv/send on a blocking fd bounded by
//! SO_RCVTIMEO/SO_SNDTIMEO (two syscalls per round trip, like raw C); the
//! event loop uses MSG_DONTWAIT, so it works on either mode. A socket made
//! for an asynchronous connect is created non-blocking and stays so until a
//! blocking call first needs it blocking ([`set_blocking`], one fcntl).

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

pub fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// recv(2); Ok(0) is EOF. Retries EINTR.
#[inline]
pub fn recv(fd: RawFd, buf: &mut [u8], dontwait: bool) -> Result<usize, i32> {
    let flags = if dontwait { libc::MSG_DONTWAIT } else { 0 };
    loop {
        // SAFETY: buf is a valid writable slice for its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// recv(2) straight into `buf`'s uninitialized spare room (at least `want`
/// bytes): no zero-filling. Returns the result and how many bytes were asked
/// (a shorter read drained the socket). Ok(0) is EOF. Retries EINTR.
#[inline]
pub fn recv_into(
    fd: RawFd,
    buf: &mut crate::receive::RecvBuf,
    want: usize,
    dontwait: bool,
) -> (Result<usize, i32>, usize) {
    let flags = if dontwait { libc::MSG_DONTWAIT } else { 0 };
    let room = buf.spare(want);
    let asked = room.len();
    loop {
        // SAFETY: room is valid for writes of `asked` bytes; recv writes only
        // bytes (no reads of the uninitialized memory) and returns how many.
        let n = unsafe { libc::recv(fd, room.as_mut_ptr().cast(), asked, flags) };
        if n >= 0 {
            let n = n as usize;
            // SAFETY: the kernel initialized the first n (<= asked) bytes of
            // the room returned by the `spare` just above.
            unsafe { buf.assume_filled(n) };
            return (Ok(n), asked);
        }
        let e = errno();
        if e != libc::EINTR {
            return (Err(e), asked);
        }
    }
}

/// CLOCK_MONOTONIC_COARSE in ns: a vDSO read of the last timer tick (a few
/// ns, never a syscall), with the tick's resolution (1-10 ms by CONFIG_HZ).
#[inline]
pub fn coarse_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// send(2) with MSG_NOSIGNAL (a closed peer gives EPIPE, not SIGPIPE).
#[inline]
pub fn send(fd: RawFd, buf: &[u8], dontwait: bool) -> Result<usize, i32> {
    let mut flags = libc::MSG_NOSIGNAL;
    if dontwait {
        flags |= libc::MSG_DONTWAIT;
    }
    loop {
        // SAFETY: buf is a valid readable slice for its length.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// sendmsg(2) of a gather list.
pub fn sendv(fd: RawFd, iov: &[libc::iovec], dontwait: bool) -> Result<usize, i32> {
    let mut flags = libc::MSG_NOSIGNAL;
    if dontwait {
        flags |= libc::MSG_DONTWAIT;
    }
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len().min(libc::UIO_MAXIOV as usize) as _;
    loop {
        // SAFETY: msg points at iovecs that describe valid readable buffers.
        let n = unsafe { libc::sendmsg(fd, &msg, flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// shutdown(2) of both directions: wakes threads blocked in recv/send on
/// `fd` (they see EOF / EPIPE) while the fd number stays allocated.
pub fn shutdown(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: plain syscall on an fd we own; errors are irrelevant.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
}

pub fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: the caller owns fd and never uses it again.
        unsafe { libc::close(fd) };
    }
}

fn setsockopt_raw<T>(fd: RawFd, level: i32, name: i32, val: &T) -> Result<(), i32> {
    // SAFETY: val points at a live T of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, val: i32) -> Result<(), i32> {
    setsockopt_raw(fd, level, name, &val)
}

pub fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> Result<i32, i32> {
    let mut val: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: val and len are valid out-parameters of the right size.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&mut val as *mut i32).cast(), &mut len) };
    if rc == 0 { Ok(val) } else { Err(errno()) }
}

/// Sets SO_RCVTIMEO or SO_SNDTIMEO.
pub fn set_io_timeout(fd: RawFd, name: i32, ms: u32) -> Result<(), i32> {
    let tv = libc::timeval {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t,
    };
    setsockopt_raw(fd, libc::SOL_SOCKET, name, &tv)
}

/// Clears O_NONBLOCK with one fcntl(F_SETFL): the socket's other status
/// flags are known (none: F_SETFL ignores the access mode bits).
pub fn set_blocking(fd: RawFd) -> Result<(), i32> {
    // SAFETY: fcntl on an fd we own.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_RDWR) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// A socket address in the kernel's form.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    pub fn inet(addr: &SocketAddr) -> RawAddr {
        // SAFETY: sockaddr_storage is plain data.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
                unsafe {
                    std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin)
                };
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe {
                    std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6)
                };
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        RawAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    /// A unix socket path; Err(ENAMETOOLONG) when it does not fit.
    pub fn unix(path: &[u8]) -> Result<RawAddr, i32> {
        // SAFETY: plain data.
        let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        if path.len() >= sun.sun_path.len() {
            return Err(libc::ENAMETOOLONG);
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in sun.sun_path.iter_mut().zip(path) {
            *d = *s as libc::c_char;
        }
        // SAFETY: plain data.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        // SAFETY: sockaddr_storage is larger than sockaddr_un.
        unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sun) };
        let len = std::mem::size_of::<libc::sa_family_t>() + path.len() + 1;
        Ok(RawAddr {
            storage,
            len: len as libc::socklen_t,
        })
    }

    pub fn family(&self) -> i32 {
        self.storage.ss_family as i32
    }
}

/// Creates a stream socket (close-on-exec; non-blocking if asked).
pub fn socket(family: i32, nonblocking: bool) -> Result<RawFd, i32> {
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(family, ty, 0) };
    if fd < 0 { Err(errno()) } else { Ok(fd) }
}

/// bind(2) to a local address.
pub fn bind(fd: RawFd, addr: &RawAddr) -> Result<(), i32> {
    // SAFETY: addr holds a valid sockaddr of len bytes.
    let rc = unsafe {
        libc::bind(
            fd,
            (&addr.storage as *const libc::sockaddr_storage).cast(),
            addr.len,
        )
    };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

/// connect(2) on a blocking fd (bounded by its SO_SNDTIMEO). EINTR is
/// returned as is: the handshake then continues in the background.
pub fn connect_blocking(fd: RawFd, addr: &RawAddr) -> Result<(), i32> {
    // SAFETY: addr holds a valid sockaddr of len bytes.
    let rc = unsafe {
        libc::connect(
            fd,
            (&addr.storage as *const libc::sockaddr_storage).cast(),
            addr.len,
        )
    };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

/// Starts a connect on a non-blocking fd: Ok(true) connected, Ok(false) in
/// progress.
pub fn connect_start(fd: RawFd, addr: &RawAddr) -> Result<bool, i32> {
    loop {
        // SAFETY: addr holds a valid sockaddr of len bytes.
        let rc = unsafe {
            libc::connect(
                fd,
                (&addr.storage as *const libc::sockaddr_storage).cast(),
                addr.len,
            )
        };
        if rc == 0 {
            return Ok(true);
        }
        match errno() {
            libc::EINTR => continue,
            libc::EINPROGRESS | libc::EAGAIN => return Ok(false),
            e => return Err(e),
        }
    }
}

/// Whether a non-blocking connect that returned EINPROGRESS has already
/// completed: poll(2) with a zero timeout reports the fd writable with no
/// error or hangup. False when it is still in progress, failed (the caller
/// then learns the error the usual way) or poll itself fails.
pub fn connected_now(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    rc == 1
        && pfd.revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL)
            == libc::POLLOUT
}

/// Result of a finished non-blocking connect (SO_ERROR); the fd's mode is
/// left as it is.
pub fn connect_finish(fd: RawFd) -> Result<(), i32> {
    match getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)? {
        0 => Ok(()),
        e => Err(e),
    }
}

/// poll(2) one fd for `events`; Ok(false) on timeout. `None` waits forever.
pub fn poll_one(fd: RawFd, events: i16, timeout: Option<Duration>) -> Result<bool, i32> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                left.as_millis().min(i32::MAX as u128) as i32
                    + i32::from(left.subsec_micros() % 1000 != 0)
            }
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc > 0 {
            return Ok(true);
        }
        if rc == 0 {
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(false);
            }
            continue;
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// What an idle connection has pending, as one MSG_PEEK recv sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// Nothing: safe to pool.
    Nothing,
    /// The peer's FIN is the next thing to read.
    Fin,
    /// Data, or an error (RST): not safe for the next user.
    Data,
}

/// Peeks at an idle connection without consuming anything (one syscall).
pub fn pending(fd: RawFd) -> Pending {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: one writable byte; MSG_PEEK leaves the data in the socket.
        let n = unsafe {
            libc::recv(
                fd,
                byte.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        return match n {
            0 => Pending::Fin,
            n if n > 0 => Pending::Data,
            _ => match errno() {
                libc::EINTR => continue,
                libc::EAGAIN => Pending::Nothing,
                _ => Pending::Data,
            },
        };
    }
}

//! Datagram socket syscalls: socket, bind (and unix autobind), connect,
//! recv/send/sendmsg. The fd stays blocking: a blocking receive is one
//! recv(2) bounded by SO_RCVTIMEO; the loop and every send use MSG_DONTWAIT
//! (OpenResty's UDP send never waits).

use std::net::SocketAddr;
use std::os::fd::RawFd;

pub fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A socket address in the kernel's form.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    fn empty() -> RawAddr {
        RawAddr {
            // SAFETY: sockaddr_storage is plain data; zeroed is valid.
            storage: unsafe { std::mem::zeroed() },
            len: 0,
        }
    }

    fn write<T>(&mut self, v: T) {
        // SAFETY: every sockaddr_* fits in (and is aligned for) sockaddr_storage.
        unsafe { std::ptr::write((&mut self.storage as *mut libc::sockaddr_storage).cast(), v) };
        self.len = std::mem::size_of::<T>() as libc::socklen_t;
    }

    pub fn inet(addr: &SocketAddr) -> RawAddr {
        let mut r = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => r.write(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(a) => r.write(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
        }
        r
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
        let mut r = RawAddr::empty();
        r.write(sun);
        r.len = (std::mem::size_of::<libc::sa_family_t>() + path.len() + 1) as libc::socklen_t;
        Ok(r)
    }

    /// Linux autobind: only the family, so the kernel picks an abstract name.
    pub fn unix_autobind() -> RawAddr {
        let mut r = RawAddr::empty();
        r.storage.ss_family = libc::AF_UNIX as libc::sa_family_t;
        r.len = std::mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
        r
    }

    pub fn family(&self) -> i32 {
        self.storage.ss_family as i32
    }

    fn ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }
}

/// A datagram socket (blocking, close-on-exec).
pub fn socket(family: i32) -> Result<RawFd, i32> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 { Err(errno()) } else { Ok(fd) }
}

pub fn bind(fd: RawFd, addr: &RawAddr) -> Result<(), i32> {
    // SAFETY: addr holds a valid sockaddr of len bytes.
    if unsafe { libc::bind(fd, addr.ptr(), addr.len) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// connect(2) of a datagram socket: only sets the peer, never waits.
pub fn connect(fd: RawFd, addr: &RawAddr) -> Result<(), i32> {
    loop {
        // SAFETY: addr holds a valid sockaddr of len bytes.
        if unsafe { libc::connect(fd, addr.ptr(), addr.len) } == 0 {
            return Ok(());
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

pub fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: the caller owns fd and never uses it again.
        unsafe { libc::close(fd) };
    }
}

/// recv(2) of one datagram (truncated to `buf`, the rest discarded).
/// Retries EINTR.
#[inline]
pub fn recv(fd: RawFd, buf: &mut [u8], dontwait: bool) -> Result<usize, i32> {
    let flags = if dontwait { libc::MSG_DONTWAIT } else { 0 };
    loop {
        // SAFETY: buf is writable for its length (0 is allowed).
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

/// Sends one datagram made of the buffers in `iov` (never waits).
#[inline]
pub fn sendmsg(fd: RawFd, iov: &[libc::iovec]) -> Result<usize, i32> {
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    loop {
        let n = if iov.len() == 1 {
            // SAFETY: the iovec describes a readable buffer.
            unsafe { libc::send(fd, iov[0].iov_base, iov[0].iov_len, flags) }
        } else {
            // SAFETY: msghdr is plain data; zeroed is a valid empty header.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
            msg.msg_iovlen = iov.len() as _;
            // SAFETY: msg points at iovecs describing readable buffers.
            unsafe { libc::sendmsg(fd, &msg, flags) }
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Sets SO_RCVTIMEO to `ms` (> 0).
pub fn set_rcvtimeo(fd: RawFd, ms: i64) -> Result<(), i32> {
    let tv = libc::timeval {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t,
    };
    // SAFETY: tv is a live timeval of the right size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

/// Opens a datagram socket for `peer`: autobind (unix), bind to `local`
/// (if any), connect. On a bind/connect failure the fd is still returned
/// with the errno (nginx keeps that half-made socket).
pub fn open(peer: &RawAddr, local: Option<&RawAddr>) -> Result<RawFd, (Option<RawFd>, i32)> {
    let fd = socket(peer.family()).map_err(|e| (None, e))?;
    let r = (|| {
        if peer.family() == libc::AF_UNIX {
            bind(fd, &RawAddr::unix_autobind())?;
        }
        if let Some(l) = local {
            bind(fd, l)?;
        }
        connect(fd, peer)
    })();
    match r {
        Ok(()) => Ok(fd),
        Err(e) => Err((Some(fd), e)),
    }
}

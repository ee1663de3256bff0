//! setoption / getoption (lua-resty-core's names).

use super::{Tcp, sys};
use crate::error::{Error, Result};

/// A socket option by its OpenResty name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOption {
    Keepalive,
    ReuseAddr,
    TcpNodelay,
    SndBuf,
    RcvBuf,
    KeepIntvl,
    KeepCnt,
}

impl SockOption {
    pub fn from_name(name: &[u8]) -> Option<SockOption> {
        Some(match name {
            b"keepalive" => SockOption::Keepalive,
            b"reuseaddr" => SockOption::ReuseAddr,
            b"tcp-nodelay" => SockOption::TcpNodelay,
            b"sndbuf" => SockOption::SndBuf,
            b"rcvbuf" => SockOption::RcvBuf,
            b"keepintvl" => SockOption::KeepIntvl,
            b"keepcnt" => SockOption::KeepCnt,
            _ => return None,
        })
    }

    fn level_name(self) -> (i32, i32) {
        match self {
            SockOption::Keepalive => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            SockOption::ReuseAddr => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
            SockOption::TcpNodelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
            SockOption::SndBuf => (libc::SOL_SOCKET, libc::SO_SNDBUF),
            SockOption::RcvBuf => (libc::SOL_SOCKET, libc::SO_RCVBUF),
            SockOption::KeepIntvl => (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            SockOption::KeepCnt => (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        }
    }
}

/// OpenResty returns the raw (not lower-cased) strerror text for option failures.
fn raw_strerror(code: i32) -> Error {
    let text = std::io::Error::from_raw_os_error(code).to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    Error::op_owned(text)
}

impl Tcp {
    fn option_fd(&self) -> Result<i32> {
        let s = self.state.get();
        if s & super::state::OPEN == 0 {
            return Err(Error::CLOSED);
        }
        Ok(self.fd())
    }

    pub fn set_option(&self, opt: SockOption, value: i64) -> Result<()> {
        let fd = self.option_fd()?;
        let (level, name) = opt.level_name();
        let v = value.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        sys::setsockopt_int(fd, level, name, v).map_err(raw_strerror)?;
        // Skipped while a blocking send holds the writer: it has set
        // TCP_NODELAY already, and the flag only says "set on first send".
        if opt == SockOption::TcpNodelay
            && let Ok(mut wr) = self.wr.try_lock()
        {
            wr.set_nodelay_known(v != 0);
        }
        Ok(())
    }

    pub fn get_option(&self, opt: SockOption) -> Result<i64> {
        let fd = self.option_fd()?;
        let (level, name) = opt.level_name();
        sys::getsockopt_int(fd, level, name)
            .map(i64::from)
            .map_err(raw_strerror)
    }
}

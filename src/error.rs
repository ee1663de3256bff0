//! One error type for the core: OpenResty's exact message strings.
//!
//! The message *is* the API (Lua code compares `err == "timeout"`), so an error
//! is its text plus whether it is a caller mistake (raised in Lua) or an
//! operation failure (returned as `nil, err`).

use std::borrow::Cow;
use std::sync::OnceLock;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    msg: Cow<'static, str>,
    kind: Kind,
}

/// Who is at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The operation failed (returned to Lua as `nil, err`).
    Op,
    /// The arguments were wrong (OpenResty raises a Lua error).
    Arg,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub const CLOSED: Error = Error::op("closed");
    pub const TIMEOUT: Error = Error::op("timeout");
    pub const BUSY_READING: Error = Error::op("socket busy reading");
    pub const BUSY_WRITING: Error = Error::op("socket busy writing");
    pub const BUSY_CONNECTING: Error = Error::op("socket busy connecting");

    pub const fn op(msg: &'static str) -> Error {
        Error {
            msg: Cow::Borrowed(msg),
            kind: Kind::Op,
        }
    }

    pub const fn arg(msg: &'static str) -> Error {
        Error {
            msg: Cow::Borrowed(msg),
            kind: Kind::Arg,
        }
    }

    pub fn op_owned(msg: String) -> Error {
        Error {
            msg: Cow::Owned(msg),
            kind: Kind::Op,
        }
    }

    pub fn arg_owned(msg: String) -> Error {
        Error {
            msg: Cow::Owned(msg),
            kind: Kind::Arg,
        }
    }

    /// An OS error, as OpenResty reports it: glibc's `strerror` text, lower-cased.
    pub fn errno(code: i32) -> Error {
        Error::op(errno_text(code))
    }

    pub fn from_io(e: &std::io::Error) -> Error {
        match e.raw_os_error() {
            Some(code) => Error::errno(code),
            None if e.kind() == std::io::ErrorKind::TimedOut => Error::TIMEOUT,
            None => Error::op("error"),
        }
    }

    /// The message when it is static text (its pointer may be handed out freely).
    pub fn static_str(&self) -> Option<&'static str> {
        match self.msg {
            Cow::Borrowed(s) => Some(s),
            Cow::Owned(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.msg
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn is_timeout(&self) -> bool {
        self.msg == "timeout"
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// Lower-cased `strerror` texts, built once; indexes are errno values.
fn errno_table() -> &'static [&'static str] {
    static TABLE: OnceLock<Vec<&'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..160)
            .map(|code| {
                let mut buf = [0 as libc::c_char; 256];
                // SAFETY: buf is writable for its length; the XSI variant writes a NUL-terminated string.
                let rc = unsafe { libc::strerror_r(code, buf.as_mut_ptr(), buf.len()) };
                let text = if rc == 0 {
                    // SAFETY: strerror_r succeeded, so buf holds a NUL-terminated string.
                    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
                        .to_string_lossy()
                        .to_lowercase()
                } else {
                    format!("unknown error {code}")
                };
                &*Box::leak(text.into_boxed_str())
            })
            .collect()
    })
}

/// The text OpenResty gives for an errno value (`"connection refused"`).
pub fn errno_text(code: i32) -> &'static str {
    let table = errno_table();
    match usize::try_from(code) {
        Ok(i) if i < table.len() => table[i],
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_are_lower_case_strerror() {
        assert_eq!(errno_text(libc::ECONNREFUSED), "connection refused");
        assert_eq!(errno_text(libc::ECONNRESET), "connection reset by peer");
        assert_eq!(errno_text(libc::EPIPE), "broken pipe");
        assert_eq!(errno_text(libc::ENOENT), "no such file or directory");
        assert_eq!(errno_text(-1), "error");
    }
}

//! How a finished request wakes the event loop: a descriptor that becomes
//! readable, one kind a platform.
//!
//! - Linux: an eventfd (one descriptor, a counter that never fills up).
//! - Other unix, or Linux with `portable`: a self-pipe; the writer writes one
//!   byte, the loop reads until the pipe is empty.
//! - Elsewhere (Windows' proactor loop cannot watch a descriptor anyway):
//!   none, and `new` says so; Python then uses the generic bridge.

#[cfg(unix)]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[cfg(not(unix))]
use pyo3::exceptions::PyNotImplementedError;
#[cfg(unix)]
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

/// The wake-up descriptor of one loop queue. Uninhabited where the
/// platform has none.
pub enum Wake {
    #[cfg(target_os = "linux")]
    EventFd(OwnedFd),
    #[cfg(unix)]
    Pipe { read: OwnedFd, write: OwnedFd },
}

impl Wake {
    /// The platform's descriptor; the self-pipe when `portable`.
    #[cfg(unix)]
    pub fn new(portable: bool) -> PyResult<Self> {
        #[cfg(target_os = "linux")]
        if !portable {
            return eventfd().map(Wake::EventFd);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = portable; // only Linux has an eventfd to prefer
        let (read, write) = self_pipe()?;
        Ok(Wake::Pipe { read, write })
    }

    #[cfg(not(unix))]
    pub fn new(_portable: bool) -> PyResult<Self> {
        Err(PyNotImplementedError::new_err(
            "no wake-up descriptor on this platform; use the generic bridge",
        ))
    }

    /// The descriptor the event loop watches.
    pub fn fd(&self) -> i32 {
        match *self {
            #[cfg(target_os = "linux")]
            Wake::EventFd(ref fd) => fd.as_raw_fd(),
            #[cfg(unix)]
            Wake::Pipe { ref read, .. } => read.as_raw_fd(),
        }
    }

    pub fn mechanism(&self) -> &'static str {
        match *self {
            #[cfg(target_os = "linux")]
            Wake::EventFd(_) => "eventfd",
            #[cfg(unix)]
            Wake::Pipe { .. } => "pipe",
        }
    }

    /// Makes the descriptor readable. Never blocks: a full eventfd counter or
    /// pipe (EAGAIN) means the loop is due anyway.
    pub fn signal(&self) {
        match *self {
            #[cfg(target_os = "linux")]
            Wake::EventFd(ref fd) => {
                let one = 1u64.to_ne_bytes();
                // SAFETY: writes 8 bytes from an 8-byte buffer to our own fd.
                let _ = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
            }
            #[cfg(unix)]
            Wake::Pipe { ref write, .. } => {
                let byte = [1u8];
                // SAFETY: writes 1 byte from a 1-byte buffer to our own fd.
                let _ = unsafe { libc::write(write.as_raw_fd(), byte.as_ptr().cast(), 1) };
            }
        }
    }

    /// Consumes every wake-up so far, so the descriptor is no longer readable.
    pub fn clear(&self) {
        match *self {
            #[cfg(target_os = "linux")]
            Wake::EventFd(ref fd) => {
                let mut counter = [0u8; 8];
                // SAFETY: reads at most 8 bytes into an 8-byte buffer from our own fd.
                let _ = unsafe {
                    libc::read(fd.as_raw_fd(), counter.as_mut_ptr().cast(), counter.len())
                };
            }
            #[cfg(unix)]
            Wake::Pipe { ref read, .. } => {
                let mut bytes = [0u8; 64];
                // Until EAGAIN (or EOF, which cannot happen while we hold the
                // write end). An EINTR leaves a byte: one spurious drain later.
                loop {
                    // SAFETY: reads at most 64 bytes into a 64-byte buffer from our own fd.
                    let read = unsafe {
                        libc::read(read.as_raw_fd(), bytes.as_mut_ptr().cast(), bytes.len())
                    };
                    if read <= 0 {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn eventfd() -> PyResult<OwnedFd> {
    // SAFETY: eventfd takes no pointers; the descriptor it returns is owned here.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(os_error("an eventfd"));
    }
    // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A nonblocking, close-on-exec pipe: (read end, write end). `pipe` and
/// `fcntl` rather than `pipe2`, which macOS lacks.
#[cfg(unix)]
fn self_pipe() -> PyResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe writes two descriptors into a two-element array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(os_error("a pipe"));
    }
    let [read, write] = fds;
    // SAFETY: both are fresh, valid descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(read), OwnedFd::from_raw_fd(write)) };
    for fd in [&read, &write] {
        set_nonblocking_cloexec(fd)?;
    }
    Ok((read, write))
}

#[cfg(unix)]
fn set_nonblocking_cloexec(fd: &OwnedFd) -> PyResult<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on our own valid descriptor, with integer arguments only.
    let ok = unsafe {
        let status = libc::fcntl(fd, libc::F_GETFL);
        let flags = libc::fcntl(fd, libc::F_GETFD);
        status >= 0
            && flags >= 0
            && libc::fcntl(fd, libc::F_SETFL, status | libc::O_NONBLOCK) >= 0
            && libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) >= 0
    };
    if ok {
        Ok(())
    } else {
        Err(os_error("a nonblocking pipe"))
    }
}

#[cfg(unix)]
fn os_error(what: &str) -> PyErr {
    PyOSError::new_err(format!(
        "could not create {what}: {}",
        std::io::Error::last_os_error()
    ))
}

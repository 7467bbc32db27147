//! Byte streams with deadlines: the [`Conn`] every transport (unix, tcp, TLS, an ssh
//! pipe) offers the client, and the `poll(2)` waits they are built from.
//!
//! Deadlines never rely on socket timeouts: a TLS session can hold decrypted bytes no
//! socket timeout sees, and a pipe to `ssh` has no timeout at all. Every wait is a
//! `poll` on the descriptor with the time left, and every read or write is
//! non-blocking (`MSG_DONTWAIT` on sockets, `O_NONBLOCK` on pipes), so a stream that
//! says it is ready but then has nothing can never block past the deadline.
//! This module does no framing and knows nothing of OVSDB.

use std::io::{self, ErrorKind};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// A byte stream the client can talk over, every operation bounded by a deadline.
pub trait Conn: Send {
    /// Reads some bytes, waiting at most until `deadline` (`ErrorKind::TimedOut` then).
    /// `Ok(0)` means the peer closed the stream.
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize>;
    /// Writes all of `bytes`, waiting at most until `deadline`.
    fn write_by(&mut self, bytes: &[u8], deadline: Instant) -> io::Result<()>;
}

impl Conn for UnixStream {
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        recv_by(self.as_raw_fd(), buf, deadline)
    }

    fn write_by(&mut self, bytes: &[u8], deadline: Instant) -> io::Result<()> {
        send_by(self.as_raw_fd(), bytes, deadline)
    }
}

impl Conn for TcpStream {
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        recv_by(self.as_raw_fd(), buf, deadline)
    }

    fn write_by(&mut self, bytes: &[u8], deadline: Instant) -> io::Result<()> {
        send_by(self.as_raw_fd(), bytes, deadline)
    }
}

/// Which way a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Bytes to read (or the peer closed).
    Read,
    /// Room to write.
    Write,
}

/// Waits until `fd` is ready for `ready` or `deadline` passes (`ErrorKind::TimedOut`).
/// An error or hang-up on the descriptor counts as ready: the next read or write reports it.
pub fn wait(fd: RawFd, ready: Ready, deadline: Instant) -> io::Result<()> {
    let events = match ready {
        Ready::Read => libc::POLLIN,
        Ready::Write => libc::POLLOUT,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        // Round up so a sub-millisecond remainder still waits instead of spinning.
        let ms = i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX);
        let mut pollfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pollfd, 1, ms) };
        match n {
            0 => continue,
            n if n > 0 => return Ok(()),
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// One non-blocking `recv` from a socket: `WouldBlock` when nothing is there.
pub fn recv_now(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// One non-blocking `send` to a socket: `WouldBlock` when there is no room. Never
/// raises SIGPIPE: a closed peer is an `EPIPE` error.
pub fn send_now(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: `bytes` is valid for `bytes.len()` bytes for the duration of the call.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), flags) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Reads some bytes from a socket by `deadline`.
pub fn recv_by(fd: RawFd, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    read_with(fd, buf, deadline, recv_now)
}

/// Writes all of `bytes` to a socket by `deadline`.
pub fn send_by(fd: RawFd, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    write_with(fd, bytes, deadline, send_now)
}

/// Reads some bytes from a non-blocking descriptor (a pipe) by `deadline`.
pub fn read_fd_by(fd: RawFd, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    read_with(fd, buf, deadline, |fd, buf| {
        // SAFETY: `buf` is valid for `buf.len()` bytes for the duration of the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    })
}

/// Writes all of `bytes` to a non-blocking descriptor (a pipe) by `deadline`.
pub fn write_fd_by(fd: RawFd, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    write_with(fd, bytes, deadline, |fd, bytes| {
        // SAFETY: `bytes` is valid for `bytes.len()` bytes for the duration of the call.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    })
}

/// Puts a descriptor this process owns into non-blocking mode.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor owned by the caller; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn read_with(
    fd: RawFd,
    buf: &mut [u8],
    deadline: Instant,
    mut now: impl FnMut(RawFd, &mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        match now(fd, buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                wait(fd, Ready::Read, deadline)?;
            }
            other => return other,
        }
    }
}

fn write_with(
    fd: RawFd,
    mut bytes: &[u8],
    deadline: Instant,
    mut now: impl FnMut(RawFd, &[u8]) -> io::Result<usize>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match now(fd, bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                wait(fd, Ready::Write, deadline)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::time::Duration;

    #[test]
    fn a_read_from_a_silent_peer_times_out_at_the_deadline() {
        let (mut ours, _theirs) = UnixStream::pair().expect("socketpair");
        let started = Instant::now();
        let err = ours
            .read_by(&mut [0u8; 8], started + Duration::from_millis(50))
            .expect_err("nothing to read");
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_write_into_a_full_socket_times_out_instead_of_blocking() {
        let (mut ours, _theirs) = UnixStream::pair().expect("socketpair");
        let big = vec![0u8; 16 << 20];
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = ours.write_by(&big, deadline).expect_err("peer never reads");
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    }

    #[test]
    fn bytes_written_by_the_peer_are_read_and_a_close_reads_zero() {
        let (mut ours, mut theirs) = UnixStream::pair().expect("socketpair");
        theirs.write_all(b"abc").expect("write");
        drop(theirs);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 8];
        assert_eq!(ours.read_by(&mut buf, deadline).expect("read"), 3);
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(ours.read_by(&mut buf, deadline).expect("eof"), 0);
    }
}

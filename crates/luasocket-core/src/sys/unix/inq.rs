//! Drain tracking: knowing, with each read, whether the socket's receive queue is now
//! empty, so a scheduler can skip the read that would only say `EAGAIN`.
//!
//! Linux 4.18+ reports the bytes left with each `recvmsg` (`TCP_INQ`). Elsewhere
//! `enable_inq` answers false and callers keep reading until `EAGAIN`: one syscall
//! more per message, the same results.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use linux::{enable_inq, recv_with_inq};

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn enable_inq(_socket: &socket2::Socket) -> bool {
    false
}

/// Never called where [`enable_inq`] answers false; a plain `recv` if it were.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn recv_with_inq(
    socket: &socket2::Socket,
    buffer: &mut [u8],
) -> std::io::Result<(usize, Option<i32>)> {
    socket
        .recv(crate::socket::as_uninit(buffer))
        .map(|count| (count, None))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use std::io;
    use std::os::fd::AsRawFd;

    use socket2::Socket;

    /// Asks the kernel to report, with each read, how many bytes are left to read
    /// (`TCP_INQ`, Linux 4.18+). False where that is not supported.
    pub(crate) fn enable_inq(socket: &Socket) -> bool {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads an int of the size given from a live local.
        let set = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_TCP,
                libc::TCP_INQ,
                std::ptr::addr_of!(on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        set == 0
    }

    /// `recv(2)` through `recvmsg(2)`, also returning the `TCP_CM_INQ` hint when the
    /// kernel sent one: the bytes still queued after this read, and at least 1 once the
    /// peer's FIN is queued, so 0 means a later read would block.
    pub(crate) fn recv_with_inq(
        socket: &Socket,
        buffer: &mut [u8],
    ) -> io::Result<(usize, Option<i32>)> {
        // Room for one cmsghdr carrying an int, as CMSG_SPACE computes it.
        const CONTROL: usize = 32;
        let mut control = [0u64; CONTROL / 8];
        let mut iov = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        };
        // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control).
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = CONTROL as _;
        // SAFETY: the iovec and the control buffer point to live, writable memory of
        // the lengths given, for the duration of the call.
        let count = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut header, 0) };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut inq = None;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
        // msg_controllen; a TCP_CM_INQ message carries one int, read unaligned.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&header);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_TCP && (*cmsg).cmsg_type == libc::TCP_CM_INQ {
                    inq = Some(libc::CMSG_DATA(cmsg).cast::<i32>().read_unaligned());
                }
                cmsg = libc::CMSG_NXTHDR(&header, cmsg);
            }
        }
        Ok((count as usize, inq))
    }
}

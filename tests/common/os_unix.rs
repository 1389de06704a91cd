//! What the end-to-end tests do to processes on Unix: signals, limits,
//! and reading /proc (Linux).

use std::process::{Child, Command};

/// Asks a daemon to stop (SIGTERM: a peer leaves the network first).
pub fn terminate(child: &Child) {
    send(child, libc::SIGTERM);
}

/// Has a peer leave the network and stop, as SIGTERM does.
pub fn leave_and_stop(daemon: &mut super::Daemon) {
    daemon.terminate();
    let status = daemon.wait_exit(std::time::Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

/// Ctrl-C.
pub fn interrupt(child: &Child) {
    send(child, libc::SIGINT);
}

/// Asks a peer to rescan its folder (SIGHUP).
pub fn hang_up(child: &Child) {
    send(child, libc::SIGHUP);
}

fn send(child: &Child, signal: libc::c_int) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Starts `command` with at most `nofile` descriptors (soft and hard
/// limit, as `prlimit --nofile=N:N` sets them).
pub fn limit_descriptors(command: &mut Command, nofile: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Raises this process's soft descriptor limit to its hard limit (a test
/// that opens many sockets).
pub fn raise_own_nofile() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Whether this process runs as root (may mount a filesystem).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open descriptors of a process.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A Unix datagram socket: each datagram one write of the sender's.
pub struct Datagrams(std::os::unix::net::UnixDatagram);

impl Datagrams {
    /// Bound at `path` (a notification socket for systemd's protocol).
    pub fn bind(path: &std::path::Path) -> Datagrams {
        Datagrams(std::os::unix::net::UnixDatagram::bind(path).unwrap())
    }

    /// A connected pair: ours, and the other end as a child's standard
    /// stream.
    pub fn pair_as_stdio() -> (Datagrams, std::process::Stdio) {
        let (ours, theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let theirs = std::os::fd::OwnedFd::from(theirs);
        (Datagrams(ours), std::process::Stdio::from(theirs))
    }

    /// The next datagram as text; fails after 10 s.
    pub fn recv(&self) -> String {
        self.0
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let n = self.0.recv(&mut buf).expect("a datagram within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

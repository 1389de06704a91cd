//! Readiness on Linux: systemd's notification socket.

use sd_notify::NotifyState;

pub fn ready(status: &str) {
    // Without $NOTIFY_SOCKET this does nothing.
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

//! Telling a service manager how the daemon is: systemd's `Type=notify`
//! on Linux (through `$NOTIFY_SOCKET`, nothing when it is unset); nothing
//! elsewhere, where a service manager learns it from the process
//! (launchd, the Windows service control manager through a wrapper).

#[cfg_attr(target_os = "linux", path = "linux.rs")]
#[cfg_attr(not(target_os = "linux"), path = "other.rs")]
mod platform;

/// The daemon serves; `status` says what it does, in a few words.
pub fn ready(status: &str) {
    platform::ready(status);
}

/// The daemon is shutting down.
pub fn stopping() {
    platform::stopping();
}

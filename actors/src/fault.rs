//! Fault injection for the tests: named points in the code that panic when
//! armed.
//!
//! Compiled in only with the `fault-injection` feature, which the test
//! builds turn on (a dev-dependency of both packages); in the build users
//! run, [`point`] is an empty inline function. A test arms a point in
//! process with [`arm`], or in the real binary with the environment
//! variable `P2P_DI_FAULTS=name=times,name=times` read by [`arm_from_env`].

#[cfg(feature = "fault-injection")]
mod imp {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    static ANY: AtomicBool = AtomicBool::new(false);
    static ARMED: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

    /// Makes `name` panic the next `times` times it is reached.
    pub fn arm(name: &str, times: u32) {
        let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
        armed
            .get_or_insert_with(HashMap::new)
            .insert(name.to_owned(), times);
        ANY.store(true, Ordering::SeqCst);
    }

    /// Arms what `P2P_DI_FAULTS` names (`name=times,...`; `name` alone is once).
    pub fn arm_from_env() {
        let Ok(spec) = std::env::var("P2P_DI_FAULTS") else {
            return;
        };
        for item in spec.split(',').filter(|s| !s.is_empty()) {
            let (name, times) = item.split_once('=').unwrap_or((item, "1"));
            arm(name.trim(), times.trim().parse().unwrap_or(1));
        }
    }

    /// Whether `name` is armed; disarms one of its times.
    pub fn take(name: &str) -> bool {
        if !ANY.load(Ordering::Relaxed) {
            return false;
        }
        let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
        match armed.as_mut().and_then(|map| map.get_mut(name)) {
            Some(times) if *times > 0 => {
                *times -= 1;
                true
            }
            _ => false,
        }
    }

    /// Panics if `name` is armed.
    pub fn point(name: &str) {
        if take(name) {
            panic!("fault injected at {name}");
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use imp::{arm, arm_from_env, point, take};

/// Panics if `name` is armed (never, without the `fault-injection` feature).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// Whether `name` is armed (never, without the `fault-injection` feature).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn take(_name: &str) -> bool {
    false
}

/// Arms what `P2P_DI_FAULTS` names (nothing, without the feature).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn arm_from_env() {}

//! Stopping a digest cleanly on SIGINT or SIGTERM.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Asks a running digest to stop: no new article is started, the ones in progress
/// finish, the manifest and index are written from what is done. Set by SIGINT or
/// SIGTERM with [`Interrupt::on_signals`], or by [`Interrupt::raise`].
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    /// The signal number that asked, 0 for none.
    signal: Arc<AtomicUsize>,
    /// Set by the first signal: arms the immediate exit on the second.
    armed: Arc<AtomicBool>,
}

impl Interrupt {
    /// An interrupt raised by SIGINT or SIGTERM. A second signal ends the process at
    /// once (exit 128 + signal): what was finished is already in the manifest.
    pub fn on_signals() -> std::io::Result<Self> {
        let this = Self::default();
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            use signal_hook::flag;
            for signal in [SIGINT, SIGTERM] {
                // Actions run in the order registered: the exit only once armed.
                flag::register_conditional_shutdown(signal, 128 + signal, this.armed.clone())?;
                flag::register_usize(signal, this.signal.clone(), signal as usize)?;
                flag::register(signal, this.armed.clone())?;
            }
            let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
            std::thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    tracing::warn!(
                        "{}: finishing the articles in progress, then writing the manifest \
                         and index; signal again to stop at once (finished articles are \
                         kept either way)",
                        signal_name(signal)
                    );
                }
            });
        }
        Ok(this)
    }

    /// Asks the run to stop, as signal number `signal` would.
    pub fn raise(&self, signal: i32) {
        self.signal.store(signal.max(1) as usize, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.signal().is_some()
    }

    /// The signal number that asked for a stop.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => Some(i32::try_from(n).unwrap_or(i32::MAX)),
        }
    }
}

/// `SIGINT`, `SIGTERM`, or `signal N`.
pub fn signal_name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".to_string(),
        15 => "SIGTERM".to_string(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_records_the_signal() {
        let stop = Interrupt::default();
        assert!(!stop.requested());
        let shared = stop.clone();
        shared.raise(15);
        assert_eq!(stop.signal(), Some(15));
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(2), "SIGINT");
    }
}

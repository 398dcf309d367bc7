//! Showing a digest's progress: a bar on a terminal, one line per article in logs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::Progress;
use crate::render::{ManifestEntry, Status};

pub struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    started: Instant,
    total: AtomicUsize,
    done: AtomicUsize,
    tokens: AtomicU64,
    /// Generated tokens/s and mean batch fill (f64 bits), from the scheduler.
    generating: AtomicU64,
    fill: AtomicU64,
}

impl Reporter {
    /// A bar when `terminal` (stderr is one), plain lines otherwise; nothing but
    /// errors when `quiet`.
    pub fn new(terminal: bool, quiet: bool) -> Self {
        let bar = (terminal && !quiet).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} articles  {msg}  ETA {eta}",
                )
                .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            quiet,
            started: Instant::now(),
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            tokens: AtomicU64::new(0),
            generating: AtomicU64::new(0),
            fill: AtomicU64::new(0),
        }
    }

    /// Prints a line above the bar, or on stderr.
    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if !self.quiet => eprintln!("{text}"),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Reporter {
    fn start(&self, total: usize, skipped: usize) {
        let to_do = total - skipped;
        self.total.store(to_do, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(to_do as u64);
        }
        self.line(&format!(
            "abridge: {total} articles, {skipped} unchanged since the last run, {to_do} to do"
        ));
    }

    fn throughput(&self, tokens_per_second: f64, batch_fill: f64) {
        self.generating
            .store(tokens_per_second.to_bits(), Ordering::Relaxed);
        self.fill.store(batch_fill.to_bits(), Ordering::Relaxed);
    }

    fn finished(&self, entry: &ManifestEntry) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let tokens = self
            .tokens
            .fetch_add(entry.tokens_in + entry.tokens_out, Ordering::Relaxed)
            + entry.tokens_in
            + entry.tokens_out;
        let rate = tokens as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let generating = f64::from_bits(self.generating.load(Ordering::Relaxed));
        let fill = f64::from_bits(self.fill.load(Ordering::Relaxed));
        let speed = format!("{rate:.0} tok/s, {generating:.1} generated tok/s, batch {fill:.1}");
        let total = self.total.load(Ordering::Relaxed);
        let what = match entry.status {
            Status::Ok => format!(
                "ok      {} ({:.1} s)",
                printable(entry.title.as_deref().unwrap_or(&entry.input)),
                entry.seconds
            ),
            Status::Failed => format!("FAILED  {}", printable(&entry.failure())),
            Status::Skipped => format!("skipped {}", printable(&entry.input)),
        };
        if let Some(bar) = &self.bar {
            bar.set_message(speed);
            bar.inc(1);
            if entry.status == Status::Failed {
                bar.println(format!("abridge: {what}"));
            }
        } else {
            self.line(&format!("abridge: [{done}/{total}] {what}  ({speed})"));
        }
    }
}

/// `text` on one line of a log: control characters (a newline in a file name or
/// a title) escaped, so an input cannot forge lines of its own.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_cannot_be_forged() {
        assert_eq!(
            printable("a\nFAKE: ok\tb\u{1b}[2J"),
            "a\\nFAKE: ok\\tb\\u{1b}[2J"
        );
        assert_eq!(printable("Café ¶"), "Café ¶");
    }
}

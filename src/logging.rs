//! Log output: human text or one JSON object per line (for a log collector or SIEM),
//! always on standard error so that CLI output on standard output stays clean.
//!
//! The server writes its lines through [`Batched`]: a request formats its line and
//! appends it to a buffer in memory, and one thread of its own writes what has gathered
//! to standard error. Under load that is one system call for hundreds of lines instead
//! of one per line on the runtime's threads (~4 % of a token request's CPU), and a
//! slow reader of standard error (a full pipe to journald) holds up that thread, not
//! the requests. Nothing is dropped: past `LIMIT` unwritten bytes, a request waits.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogFormat, LogLevel};

/// Install the global subscriber, writing straight to standard error (the CLI's
/// commands, which log little); a second call (tests) keeps the first.
pub fn init(level: &LogLevel, format: LogFormat) {
    install(level, format, std::io::stderr);
}

/// Install the global subscriber for the server: lines are written by a thread of
/// its own, in batches. Dropping the returned guard writes what is left and stops
/// that thread; a panic writes what is left before its own message.
pub fn init_batched(level: &LogLevel, format: LogFormat) -> Flusher {
    let batched = Batched::start(Box::new(std::io::stderr()));
    install(level, format, batched.clone());
    let on_panic = batched.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        on_panic.flush();
        default_hook(info);
    }));
    Flusher(batched)
}

fn install<W>(level: &LogLevel, format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let directive = if level.0.contains('=') || level.0.contains(',') {
        level.0.clone()
    } else {
        // A bare level applies to Latchkey; libraries stay quieter unless asked.
        format!(
            "{},sqlx=warn,hyper=warn,hyper_util=warn,h2=warn,rustls=warn",
            level.0
        )
    };
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Unwritten bytes at which a new line waits for the writer (a burst's worth).
const LIMIT: usize = 1 << 20;
/// After the first line of a batch arrives, the writer waits this long for more.
/// It is also the most a line can lag behind the event it records.
const GATHER: Duration = Duration::from_millis(10);
/// A buffer that grew past this in a burst is not kept for the next batch.
const KEEP_CAPACITY: usize = 64 << 10;

/// Standard error, written in batches by a thread of its own (see the module).
#[derive(Clone)]
pub struct Batched(Arc<Shared>);

struct Shared {
    pending: Mutex<Pending>,
    /// The buffer was empty and is not any more, or the writer should stop.
    filled: Condvar,
    /// The writer took the buffer: there is room again.
    drained: Condvar,
    /// Standard error. Held while a batch is taken and written, so that batches
    /// reach it in order whichever thread writes them.
    out: Mutex<Box<dyn Write + Send>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    stopped: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Batched {
    fn start(out: Box<dyn Write + Send>) -> Batched {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            filled: Condvar::new(),
            drained: Condvar::new(),
            out: Mutex::new(out),
            thread: Mutex::new(None),
        });
        let batched = Batched(shared);
        let writer = batched.clone();
        match std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run())
        {
            Ok(handle) => *lock(&batched.0.thread) = Some(handle),
            // Without the thread, every line is written by the one that logs it.
            Err(_) => lock(&batched.0.pending).stopped = true,
        }
        batched
    }

    /// The writer thread: wait for a line, let more gather, write them all.
    fn run(&self) {
        loop {
            {
                let mut pending = lock(&self.0.pending);
                while pending.lines.is_empty() && !pending.stopped {
                    pending = self
                        .0
                        .filled
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if pending.stopped {
                    break;
                }
            }
            std::thread::sleep(GATHER);
            self.flush();
        }
        self.flush();
    }

    /// Write every line appended so far, from this thread.
    pub fn flush(&self) {
        let mut out = lock(&self.0.out);
        let mut batch = {
            let mut pending = lock(&self.0.pending);
            let batch = std::mem::take(&mut pending.lines);
            self.0.drained.notify_all();
            batch
        };
        if !batch.is_empty() {
            // Standard error that cannot be written has nowhere to report that.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
        }
        batch.clear();
        if batch.capacity() <= KEEP_CAPACITY {
            let mut pending = lock(&self.0.pending);
            if pending.lines.is_empty() {
                pending.lines = batch;
            }
        }
    }

    fn append(&self, line: &[u8]) {
        let mut pending = lock(&self.0.pending);
        while pending.lines.len() >= LIMIT && !pending.stopped {
            pending = self
                .0
                .drained
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if pending.stopped {
            // After shutdown (or without a writer thread) the logging thread writes.
            drop(pending);
            let mut out = lock(&self.0.out);
            let _ = out.write_all(line).and_then(|()| out.flush());
            return;
        }
        let was_empty = pending.lines.is_empty();
        pending.lines.extend_from_slice(line);
        if was_empty {
            self.0.filled.notify_one();
        }
    }

    /// Write what is left and stop the writer thread; later lines are written directly.
    fn stop(&self) {
        lock(&self.0.pending).stopped = true;
        self.0.filled.notify_one();
        self.0.drained.notify_all();
        if let Some(handle) = lock(&self.0.thread).take() {
            let _ = handle.join();
        }
        self.flush();
    }
}

impl Write for &Batched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Batched {
    type Writer = &'w Batched;

    fn make_writer(&'w self) -> &'w Batched {
        self
    }
}

/// Writes the server's remaining log lines when dropped (see [`init_batched`]).
pub struct Flusher(Batched);

impl Drop for Flusher {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that keeps what it is given.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_past_the_limit() {
        let kept = Kept::default();
        let batched = Batched::start(Box::new(kept.clone()));
        // Four threads, 3 MB in all: three times the limit, so appending must wait.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let batched = batched.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        let line = format!("{t} {i:05} {}\n", "x".repeat(60));
                        (&batched).write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(Flusher(batched.clone()));
        (&batched).write_all(b"after stop\n").unwrap();

        let text = String::from_utf8(lock(&kept.0).clone()).unwrap();
        let mut lines = text.lines().collect::<Vec<_>>();
        assert_eq!(
            lines.pop(),
            Some("after stop"),
            "written directly once stopped"
        );
        assert_eq!(lines.len(), 40_000);
        for t in 0..4 {
            let own: Vec<usize> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("{t} ")))
                .map(|l| {
                    assert_eq!(l.len(), 2 + 5 + 1 + 60, "a whole line: {l}");
                    l[2..7].parse().unwrap()
                })
                .collect();
            assert_eq!(own, (0..10_000).collect::<Vec<_>>(), "thread {t} in order");
        }
    }

    #[test]
    fn a_lone_line_is_written_without_more_coming() {
        let kept = Kept::default();
        let batched = Batched::start(Box::new(kept.clone()));
        (&batched).write_all(b"one\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&kept.0).is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&*lock(&kept.0), b"one\n");
        drop(Flusher(batched));
    }
}

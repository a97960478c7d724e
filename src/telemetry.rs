//! The detector's own logs: `RUST_LOG` (full filter syntax) wins, else `LOG_LEVEL` (the seed's
//! knob: error, warn, info, debug, trace, any case), else INFO. Text or JSON, on stderr, written with
//! any [`progress_bars`] hidden for the moment so a log line and a bar don't tear each other.

use std::io::Write;
use std::sync::OnceLock;

use indicatif::MultiProgress;
use tracing_subscriber::EnvFilter;

use crate::config::OutputFormat;

/// The filter from the environment.
pub fn filter() -> EnvFilter {
    if let Ok(f) = std::env::var("RUST_LOG") {
        if let Ok(f) = EnvFilter::try_new(f) {
            return f;
        }
    }
    let level = std::env::var("LOG_LEVEL").unwrap_or_default().to_ascii_lowercase();
    let level = match level.as_str() {
        "error" | "warn" | "info" | "debug" | "trace" => level,
        "warning" => "warn".into(),
        "critical" | "fatal" => "error".into(),
        _ => "info".into(),
    };
    EnvFilter::new(format!("{level},hyper=warn,reqwest=warn,h2=warn,rustls=warn"))
}

/// Install the global subscriber (once).
pub fn init(format: OutputFormat) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(|| BarSafeStderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        OutputFormat::Json => builder.json().flatten_event(true).try_init(),
        OutputFormat::Text => builder.try_init(),
    };
}

/// Progress bars on stderr (drawn only when it is a terminal). Add a bar here to have log lines
/// printed above it instead of through it.
pub fn progress_bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// stderr, written while [`progress_bars`] are hidden (the formatter writes each event at once).
struct BarSafeStderr;

impl Write for BarSafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        progress_bars().suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        progress_bars().suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

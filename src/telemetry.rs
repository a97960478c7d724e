//! The detector's own logs: `RUST_LOG` (full filter syntax) wins, else `LOG_LEVEL` (the seed's
//! knob: error, warn, info, debug, trace, any case), else INFO. Text or JSON, on stderr.

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
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        OutputFormat::Json => builder.json().flatten_event(true).try_init(),
        OutputFormat::Text => builder.try_init(),
    };
}

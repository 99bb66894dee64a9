//! Log output: human text or one JSON object per line (for a log collector or SIEM),
//! always on standard error so that CLI output on standard output stays clean.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogLevel};

/// Install the global subscriber; a second call (tests) keeps the first.
pub fn init(level: &LogLevel, format: LogFormat) {
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
        .with_writer(std::io::stderr);
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

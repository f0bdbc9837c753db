use tracing_subscriber::EnvFilter;

/// Logs to stdout: human-readable or JSON lines, filtered by `RUST_LOG` (default `info`).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second call (tests start many apps in one process) keeps the first subscriber.
    let _ = if format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

//! Every log line of the suite, captured at debug level, to look for secrets in.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use api_actix::config::LogFormat;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<()> = OnceLock::new();

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        Capture
    }
}

/// Sends every log line of the process, servers included, to the capture, through the subscriber
/// the server itself installs.
pub fn capture() {
    INSTALLED.get_or_init(|| {
        // The production subscriber (JSON lines, as in production), at debug level.
        let filter = tracing_subscriber::EnvFilter::new("debug");
        api_actix::telemetry::subscriber(LogFormat::Json, filter, Capture)
            .try_init()
            .expect("the first subscriber of the process");
    });
}

#[track_caller]
pub fn assert_absent(secrets: &[&str]) {
    let text = String::from_utf8_lossy(&CAPTURED.lock().unwrap()).into_owned();
    assert!(!text.is_empty(), "the capture works");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} reached the logs");
    }
}

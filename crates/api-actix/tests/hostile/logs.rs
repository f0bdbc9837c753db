//! Every log line of the suite, captured at debug level, to look for secrets in.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

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

/// Sends every log line of the process, servers included, to the capture.
pub fn capture() {
    INSTALLED.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(Capture)
            .init();
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

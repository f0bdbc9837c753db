//! The development mailer: each message becomes a file in a folder (`data/mail/` by default), so
//! the service runs with no mail server and a developer opens the links from the files. Each is
//! written twice, under a name that sorts by time and names the recipient: the `.eml` as it would
//! be sent, and a decoded `.txt` (headers, a blank line, the text part) for people and scripts.
//! The files hold the links in clear: this is for development only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use domain::{Mail, MailError, Mailer};
use lettre::message::Mailbox;

#[derive(Clone)]
pub struct FileMailer {
    from: Mailbox,
    folder: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum FileMailError {
    #[error("cannot create the mail folder {folder}: {source}")]
    Folder {
        folder: String,
        source: std::io::Error,
    },
    #[error("the sender is not a mailbox (e.g. auth-api <no-reply@example.com>)")]
    From,
}

impl FileMailer {
    /// Creates `folder` (and its parents) if needed.
    pub fn new(folder: &Path, from: &str) -> Result<Self, FileMailError> {
        std::fs::create_dir_all(folder).map_err(|source| FileMailError::Folder {
            folder: folder.display().to_string(),
            source,
        })?;
        Ok(Self {
            from: from.parse().map_err(|_| FileMailError::From)?,
            folder: folder.to_owned(),
        })
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Writes both files (the `.txt` last: a reader that sees it sees a whole message) and
    /// answers the `.eml`'s path.
    fn write(&self, mail: &Mail, eml: &[u8]) -> std::io::Result<PathBuf> {
        let now = chrono::Utc::now();
        let stem = format!(
            "{}-{:06}-{}",
            now.format("%Y%m%dT%H%M%S%.6fZ"),
            // Two messages in one microsecond still get two names, in order.
            SEQUENCE.fetch_add(1, Ordering::Relaxed) % 1_000_000,
            file_safe(&mail.to)
        );
        let text = format!(
            "To: {}\nSubject: {}\nDate: {}\n\n{}\n",
            mail.to,
            mail.subject,
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            mail.text.trim_end()
        );
        let eml_path = self.folder.join(format!("{stem}.eml"));
        write_whole(&eml_path, eml)?;
        write_whole(&self.folder.join(format!("{stem}.txt")), text.as_bytes())?;
        Ok(eml_path)
    }
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// An address as part of a file name: anything but letters, digits and `@._+-` becomes `_`,
/// and at most 64 characters of it (a name must stay under 255 bytes; an address may be 254).
fn file_safe(address: &str) -> String {
    address
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Written under a temporary name, then renamed: nobody reads half a file.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = PathBuf::from(format!("{}.partial", path.display()));
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(bytes)?;
    std::fs::rename(partial, path)
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = infra_smtp::message(mail, &self.from)?;
        let eml = message.formatted();
        // Files are written on the blocking pool, not on the server's workers.
        let (mailer, mail) = (self.clone(), mail.clone());
        let path = tokio::task::spawn_blocking(move || mailer.write(&mail, &eml))
            .await
            .map_err(|err| MailError::Transient(format!("cannot write the message: {err}")))?
            .map_err(|err| MailError::Transient(format!("cannot write the message: {err}")))?;
        tracing::info!(file = %path.display(), "mail written");
        Ok(())
    }
}

/// A message the file mailer wrote, read back from its `.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenMail {
    pub path: PathBuf,
    pub to: String,
    pub subject: String,
    /// The whole `.txt`: headers, a blank line, the text.
    pub contents: String,
}

impl WrittenMail {
    /// Every link in the text, in order.
    pub fn links(&self) -> Vec<&str> {
        self.contents
            .split_whitespace()
            .filter(|word| word.starts_with("http://") || word.starts_with("https://"))
            .collect()
    }
}

/// The newest message in `folder` to `to` (any case) whose subject contains `subject`.
pub fn newest(
    folder: &Path,
    to: Option<&str>,
    subject: Option<&str>,
) -> std::io::Result<Option<WrittenMail>> {
    let mut texts: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    // The names start with the time they were written.
    texts.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
    for path in texts {
        let contents = std::fs::read_to_string(&path)?;
        let header = |name: &str| {
            contents
                .lines()
                .take_while(|line| !line.is_empty())
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let mail = WrittenMail {
            to: header("To:"),
            subject: header("Subject:"),
            path,
            contents,
        };
        if to.is_none_or(|to| mail.to.eq_ignore_ascii_case(to))
            && subject.is_none_or(|subject| mail.subject.contains(subject))
        {
            return Ok(Some(mail));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(to: &str, subject: &str, link: &str) -> Mail {
        Mail {
            to: to.into(),
            subject: subject.into(),
            text: format!("Hello,\n\nuse this link: {link}\n\n— auth-api"),
            html: format!("<p><a href=\"{link}\">{link}</a></p>"),
        }
    }

    #[tokio::test]
    async fn each_message_is_an_eml_and_a_decoded_txt_named_by_time_and_recipient() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("mail");
        let mailer = FileMailer::new(&folder, "auth-api <no-reply@example.com>").unwrap();
        // A link long enough that quoted-printable would fold it in the .eml.
        let link = format!(
            "https://example.com/reset-password?token={}",
            "a=b".repeat(40)
        );
        mailer
            .send(&mail("alice@example.com", "Reset your password", &link))
            .await
            .unwrap();
        // The longest address there is still makes a file name.
        let domain = ["b".repeat(60), "c".repeat(60), "d".repeat(50)].join(".");
        let long = format!("{}@{domain}.example.com", "a".repeat(64));
        mailer
            .send(&mail(&long, "Reset your password", &link))
            .await
            .unwrap();
        assert_eq!(
            newest(&folder, Some(&long), None).unwrap().unwrap().to,
            long
        );
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().contains("aaaa") {
                std::fs::remove_file(path).unwrap();
            }
        }
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].ends_with("-alice@example.com.eml"), "{names:?}");
        assert!(names[1].ends_with("-alice@example.com.txt"), "{names:?}");
        let eml = std::fs::read_to_string(folder.join(&names[0])).unwrap();
        assert!(eml.contains("To: alice@example.com"), "{eml}");
        let txt = std::fs::read_to_string(folder.join(&names[1])).unwrap();
        assert!(
            txt.starts_with("To: alice@example.com\nSubject: Reset your password\nDate: "),
            "{txt}"
        );
        assert!(txt.contains(&link), "the link whole, decoded: {txt}");
    }

    #[tokio::test]
    async fn the_newest_message_is_found_by_recipient_and_subject() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(dir.path(), "auth-api <no-reply@example.com>").unwrap();
        for (to, subject, link) in [
            (
                "bob@example.com",
                "Confirm your email address",
                "https://x.test/v?token=1",
            ),
            (
                "bob@example.com",
                "Reset your password",
                "https://x.test/r?token=2",
            ),
            (
                "carol@example.com",
                "Reset your password",
                "https://x.test/r?token=3",
            ),
        ] {
            mailer.send(&mail(to, subject, link)).await.unwrap();
        }
        let newest = |to, subject| {
            newest(dir.path(), to, subject)
                .unwrap()
                .map(|m| m.links()[0].to_owned())
        };
        assert_eq!(
            newest(None, None).as_deref(),
            Some("https://x.test/r?token=3")
        );
        assert_eq!(
            newest(Some("BOB@example.com"), None).as_deref(),
            Some("https://x.test/r?token=2")
        );
        assert_eq!(
            newest(Some("bob@example.com"), Some("Confirm")).as_deref(),
            Some("https://x.test/v?token=1")
        );
        assert_eq!(newest(Some("dave@example.com"), None), None);
    }
}

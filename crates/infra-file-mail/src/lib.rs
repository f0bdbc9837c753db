//! The development mailer: each message becomes one `.eml` file in a folder (`data/mail/` by
//! default), so the service runs with no mail server and a developer opens the links from the
//! files. The files hold the links in clear: this is for development only.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use domain::{Mail, MailError, Mailer};
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};

pub struct FileMailer {
    transport: AsyncFileTransport<Tokio1Executor>,
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
            transport: AsyncFileTransport::new(folder),
            from: from.parse().map_err(|_| FileMailError::From)?,
            folder: folder.to_owned(),
        })
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = infra_smtp::message(mail, &self.from)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|err| MailError::Transient(format!("cannot write the message: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_message_is_one_eml_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("mail");
        let mailer = FileMailer::new(&folder, "auth-api <no-reply@example.com>").unwrap();
        for n in 0..2 {
            let mail = Mail {
                to: "alice@example.com".into(),
                subject: format!("message {n}"),
                text: "https://example.com/reset-password?token=abc".into(),
                html: "<p>x</p>".into(),
            };
            mailer.send(&mail).await.unwrap();
        }
        let files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2);
        for file in files {
            assert_eq!(file.extension().unwrap(), "eml");
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.contains("To: alice@example.com"), "{text}");
            assert!(text.contains("reset-password?token=abc"));
        }
    }
}

//! The JWT signing secret: configured, or in development generated once and kept on disk.

use std::io::Write;
use std::path::{Path, PathBuf};

use infra_diesel::DatabaseUrl;
use rand::RngCore;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{AppEnv, Settings};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot keep a generated JWT secret in {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "invalid configuration: JWT_SECRET_KEY: is the development secret generated in {0}; production needs its own"
    )]
    DevelopmentSecretInProduction(PathBuf),
}

/// The configured secret; else (development and test only: production refuses to start without
/// one) the one kept beside the SQLite file, generated on first use.
pub fn jwt_secret(settings: &Settings) -> Result<SecretString, SecretError> {
    let path = generated_secret_path(&settings.database.url);
    if let Some(secret) = &settings.jwt.secret {
        if settings.env == AppEnv::Production
            && std::fs::read_to_string(&path).is_ok_and(|dev| dev.trim() == secret.expose_secret())
        {
            return Err(SecretError::DevelopmentSecretInProduction(path));
        }
        return Ok(secret.clone());
    }
    debug_assert_ne!(settings.env, AppEnv::Production);
    let secret = read_or_generate(&path).map_err(|source| SecretError::File {
        path: path.clone(),
        source,
    })?;
    tracing::warn!(
        path = %path.display(),
        "no JWT secret configured (JWT_SECRET_KEY): using a generated one kept on disk; \
         configure one before going to production"
    );
    Ok(secret)
}

/// Where the secret in use comes from, for a message that must say so.
pub fn origin(settings: &Settings) -> String {
    match (&settings.jwt.secret, &settings.jwt.secret_origin) {
        (Some(_), Some(origin)) => origin.clone(),
        (Some(_), None) => "the configured JWT_SECRET_KEY".to_owned(),
        (None, _) => format!(
            "the development secret generated in {}",
            generated_secret_path(&settings.database.url).display()
        ),
    }
}

fn generated_secret_path(database_url: &DatabaseUrl) -> PathBuf {
    let folder = match database_url.sqlite_path() {
        Some(file) => Path::new(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        None => PathBuf::from("data"),
    };
    folder.join("jwt-secret")
}

fn read_or_generate(path: &Path) -> std::io::Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => {
            return Ok(SecretString::from(existing.trim()));
        }
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(secret.as_bytes())?;
    Ok(SecretString::from(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_secret_is_kept_beside_the_sqlite_file_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("db/auth.db").display().to_string();
        let path = generated_secret_path(&DatabaseUrl::parse(&url).unwrap());
        assert_eq!(path, dir.path().join("db/jwt-secret"));
        let first = read_or_generate(&path).unwrap();
        assert!(first.expose_secret().len() >= 64);
        assert_eq!(
            read_or_generate(&path).unwrap().expose_secret(),
            first.expose_secret()
        );
    }
}

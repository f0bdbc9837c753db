//! `.env`: the process's variables plus the file's (which never override a variable already
//! set), remembering which ones came from the file and from which line, so that a message about
//! a value can say where it came from.

use std::collections::HashMap;
use std::path::PathBuf;

use super::ConfigError;

/// Where each variable came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    file: Option<PathBuf>,
    /// The variables the file set, and their lines (from 1).
    lines: HashMap<String, usize>,
}

impl Origins {
    /// `the environment`, or `/path/.env line 7`.
    pub fn of(&self, variable: &str) -> String {
        match (&self.file, self.lines.get(variable)) {
            (Some(file), Some(line)) => format!("{} line {line}", file.display()),
            _ => "the environment".to_owned(),
        }
    }
}

/// The process's variables and the nearest `.env` (this folder or a parent's), as dotenvy
/// finds it; the file's variables are set in the process too (the log filter reads them).
pub fn load() -> Result<(HashMap<String, String>, Origins), ConfigError> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    let Some(file) = nearest_env_file() else {
        return Ok((vars, Origins::default()));
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|err| ConfigError::new(&file.display().to_string(), err.to_string()))?;
    let pairs = parse(&text).map_err(|(line, key)| {
        ConfigError::new(
            &format!("{} line {line}", file.display()),
            format!(
                "{key}: cannot parse this line (a value with spaces, <, > or # needs quotes: \
                 {key}=\"…\")"
            ),
        )
    })?;
    let mut lines = HashMap::new();
    for (key, value) in pairs {
        if vars.contains_key(&key) {
            continue;
        }
        lines.insert(key.clone(), line_of(&text, &key));
        vars.insert(key, value);
    }
    // Parsed above, so this only sets what is not set already.
    dotenvy::from_path(&file)
        .map_err(|err| ConfigError::new(&file.display().to_string(), err.to_string()))?;
    Ok((
        vars,
        Origins {
            file: Some(std::fs::canonicalize(&file).unwrap_or(file)),
            lines,
        },
    ))
}

fn nearest_env_file() -> Option<PathBuf> {
    let here = std::env::current_dir().ok()?;
    here.ancestors()
        .map(|folder| folder.join(".env"))
        .find(|file| file.is_file())
}

/// The file's pairs, or the first line that does not parse (from 1) and its key.
fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let whole = dotenvy::from_read_iter(text.as_bytes()).collect::<Result<Vec<_>, _>>();
    whole.map_err(|_| {
        // dotenvy names the value and a column, not the line: find the first line that fails
        // on its own.
        text.lines()
            .enumerate()
            .find(|(_, line)| dotenvy::from_read_iter(line.as_bytes()).any(|pair| pair.is_err()))
            .map(|(index, line)| (index + 1, key_of(line)))
            .unwrap_or((1, String::new()))
    })
}

/// The name a line sets: only the name's characters, so that a malformed line (`KEY value`)
/// never puts its value into a message.
fn key_of(line: &str) -> String {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line);
    line.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        .collect()
}

/// The line (from 1) that sets `key`.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| key_of(line) == key && line.contains('='))
        .map_or(0, |index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_line_that_does_not_parse_is_named_by_its_number_and_key() {
        let text = "# comment\nA=1\n\nMAIL_FROM=auth-api <no-reply@example.com>\nB=2\n";
        assert_eq!(parse(text), Err((4, "MAIL_FROM".to_owned())));
    }

    #[test]
    fn a_malformed_line_never_shows_its_value() {
        let text = "A=1\nJWT_SECRET_KEY s3cret-value\n";
        assert_eq!(parse(text), Err((2, "JWT_SECRET_KEY".to_owned())));
    }

    #[test]
    fn quoted_values_parse_and_lines_are_found() {
        let text = "# c\nexport A=1\nMAIL_FROM=\"auth-api <no-reply@example.com>\"\n";
        let pairs = parse(text).unwrap();
        assert_eq!(pairs[1].1, "auth-api <no-reply@example.com>");
        assert_eq!((line_of(text, "A"), line_of(text, "MAIL_FROM")), (2, 3));
    }

    #[test]
    fn the_shipped_example_parses() {
        let example = include_str!("../../../../.env.example");
        let pairs = parse(example).expect(".env.example parses");
        assert!(pairs.iter().any(|(key, _)| key == "JWT_SECRET_KEY"));
    }

    #[test]
    fn origins_name_the_file_and_line_or_the_environment() {
        let origins = Origins {
            file: Some(Path::new("/srv/app/.env").to_owned()),
            lines: HashMap::from([("JWT_SECRET_KEY".to_owned(), 7)]),
        };
        assert_eq!(origins.of("JWT_SECRET_KEY"), "/srv/app/.env line 7");
        assert_eq!(origins.of("APP__JWT__SECRET"), "the environment");
    }
}

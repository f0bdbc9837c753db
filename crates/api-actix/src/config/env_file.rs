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
        let message = match key {
            Some(key) => format!(
                "{key}: cannot parse this line (a value with spaces, <, > or # needs quotes: \
                 {key}=\"…\")"
            ),
            None => "this line is not KEY=value (a value on a line of its own, or a name \
                     with characters other than letters, digits, _ and .)"
                .to_owned(),
        };
        ConfigError::new(&format!("{} line {line}", file.display()), message)
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

/// A line (from 1) that does not parse, and its key if it has the shape `KEY=…`.
type BadLine = (usize, Option<String>);

/// The file's pairs, or the first line that does not parse.
fn parse(text: &str) -> Result<Vec<(String, String)>, BadLine> {
    let whole = dotenvy::from_read_iter(text.as_bytes()).collect::<Result<Vec<_>, _>>();
    whole.map_err(|_| {
        // dotenvy names the value and a column, not the line: find the first entry that fails
        // on its own, an entry being one line, or several while a quoted value is open.
        let mut entry = String::new();
        let mut first = 0;
        for (index, line) in text.lines().enumerate() {
            if entry.is_empty() {
                first = index;
            }
            entry.push_str(line);
            entry.push('\n');
            if dotenvy::from_read_iter(entry.as_bytes()).all(|pair| pair.is_ok()) {
                entry.clear();
            } else if !opens_a_quote(&entry) {
                break;
            }
        }
        let line = text.lines().nth(first).unwrap_or_default();
        (first + 1, key_of(line))
    })
}

/// Whether a single or double quote is left open (a value that goes on on the next line).
fn opens_a_quote(entry: &str) -> bool {
    let mut open: Option<char> = None;
    let mut escaped = false;
    for c in entry.chars() {
        match (open, c) {
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(quote), c) if c == quote && !escaped => open = None,
            (None, '"' | '\'') => open = Some(c),
            (None, '#') => break,
            _ => {}
        }
        escaped = false;
    }
    open.is_some()
}

/// The name a `KEY=value` line sets; nothing for a line of another shape, so that a malformed
/// line (a secret pasted on a line of its own, say) never puts its text into a message.
fn key_of(line: &str) -> Option<String> {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let name: String = line
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        .collect();
    let starts_well = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    let rest = line[name.len()..].trim_start();
    (starts_well && rest.starts_with('=')).then_some(name)
}

/// The line (from 1) that sets `key`.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| key_of(line).as_deref() == Some(key))
        .map_or(0, |index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_line_that_does_not_parse_is_named_by_its_number_and_key() {
        let text = "# comment\nA=1\n\nMAIL_FROM=auth-api <no-reply@example.com>\nB=2\n";
        assert_eq!(parse(text), Err((4, Some("MAIL_FROM".to_owned()))));
    }

    #[test]
    fn a_malformed_line_never_shows_its_value() {
        let text = "A=1\nJWT_SECRET_KEY s3cret-value\n";
        assert_eq!(parse(text), Err((2, None)));
        // A secret pasted on a line of its own after an empty KEY=.
        let text = "JWT_SECRET_KEY=\n4f9a8b7c6d5e4f3a2b1c\n";
        assert_eq!(parse(text), Err((2, None)));
        let text = "  hunter2password\n";
        assert_eq!(parse(text), Err((1, None)));
    }

    #[test]
    fn a_value_quoted_over_several_lines_does_not_hide_the_line_that_fails() {
        let text = "KEY=\"first\nsecond\"\nMAIL_FROM=a <b@c>\n";
        assert_eq!(parse(text), Err((3, Some("MAIL_FROM".to_owned()))));
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

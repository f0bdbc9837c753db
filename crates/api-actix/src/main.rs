use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use api_actix::clock::SystemClock;
use api_actix::config::{MailTransport, ServerSettings, Settings};
use api_actix::metrics::Metrics;
use api_actix::startup::{
    Application, auth_policy, build_ports, describe, key_policy, open_database,
};
use api_actix::telemetry;
use clap::{Parser, Subcommand};
use domain::{ClientInfo, KeyService, NewUser, SigningKey, UserService};

/// auth-api: registration, login and JWT sessions over HTTP.
#[derive(Parser)]
#[command(name = "auth-api", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations (unless disabled) and serve (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Exit 0 if the server on the configured port answers `GET /health` (for container
    /// health checks, where no HTTP client is installed).
    Healthcheck,
    /// Create an admin, or promote an existing user, reading the password from standard input.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Read the password as one line from standard input (required: never on the command
        /// line, where other users of the machine could see it).
        #[arg(long)]
        password_stdin: bool,
    },
    /// The signing keys: list, rotate, retire.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Development mail (APP__MAIL__TRANSPORT=file): what the server wrote.
    #[command(subcommand)]
    Mail(MailCommand),
}

#[derive(Subcommand)]
enum MailCommand {
    /// Print the newest message's text (or only its links): To, Subject, Date, a blank line,
    /// the text. Exits 1 when no message matches.
    Last {
        /// Only messages to this address.
        #[arg(long)]
        to: Option<String>,
        /// Only messages whose subject contains this.
        #[arg(long)]
        subject: Option<String>,
        /// Print only the links, one per line.
        #[arg(long)]
        links: bool,
        /// Wait up to this many seconds for a matching message (the server's outbox writes
        /// it within about a second of the request).
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Every key, oldest first: kid, algorithm, state and dates.
    List,
    /// The `next` key becomes `current`, a new `next` is made; nobody is logged out.
    Rotate,
    /// Stop publishing a key and refuse its tokens.
    Retire {
        kid: String,
        /// Retire it even though tokens it signed may still be live (they stop working).
        #[arg(long)]
        force: bool,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Healthcheck)) {
        // Only the address: a probe must not need the server's secrets.
        return healthcheck();
    }
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    if matches!(command, Command::Serve)
        && let Err(err) = settings.check_serving()
    {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    if let Command::Mail(MailCommand::Last {
        to,
        subject,
        links,
        wait,
    }) = &command
    {
        return last_mail(&settings, to.as_deref(), subject.as_deref(), *links, *wait).await;
    }
    // The server fills these in from where it listens; the other commands use the configured
    // address.
    let settings = if matches!(command, Command::Serve) {
        settings
    } else {
        settings.at_configured_address()
    };
    // The server logs to standard output; the admin commands keep it for their answer (a
    // script reads `create-admin`'s line) and log to standard error.
    if matches!(command, Command::Serve) {
        telemetry::init(settings.log.format, std::io::stdout);
    } else {
        telemetry::init(settings.log.format, std::io::stderr);
    }
    // The server's log goes to standard output, where its collector reads it; the other
    // commands log to standard error, which already gets the line below.
    let serving = matches!(command, Command::Serve);
    match run(command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if serving {
                tracing::error!("{err:#}");
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(&settings).await?;
            tracing::info!(
                host = %settings.server.host,
                port = app.port(),
                env = settings.env.as_str(),
                "auth-api listening"
            );
            app.run_until_stopped().await?;
            tracing::info!("auth-api stopped");
            Ok(())
        }
        Command::Migrate => {
            let mut settings = settings;
            settings.database.run_migrations = true;
            open_database(&settings).await?;
            Ok(())
        }
        Command::Healthcheck | Command::Mail(_) => {
            unreachable!("answered before the server's logging starts")
        }
        Command::CreateAdmin {
            username,
            email,
            password_stdin,
        } => {
            if !password_stdin {
                bail!("pass --password-stdin and give the password on standard input");
            }
            let password = read_password_line()?;
            let store = open_database(&settings).await?;
            let ports = build_ports(
                &settings,
                store.stores(),
                Arc::new(SystemClock),
                Arc::new(Metrics::new()),
            )?;
            let new_admin = NewUser {
                username: username.into(),
                email: email.into(),
                password: password.into(),
                name: None,
            };
            match UserService::new(ports, auth_policy(&settings).lockout())
                .create_admin(new_admin)
                .await
            {
                Ok((admin, true)) => println!("created admin {} ({})", admin.username, admin.id),
                Ok((admin, false)) => {
                    println!("promoted {} ({}) to admin", admin.username, admin.id)
                }
                Err(err) => bail!("cannot create the admin: {}", describe(&err)),
            }
            Ok(())
        }
        Command::Keys(command) => keys(command, &settings).await,
    }
}

async fn keys(command: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = open_database(settings).await?;
    let ports = build_ports(
        settings,
        store.stores(),
        Arc::new(SystemClock),
        Arc::new(Metrics::new()),
    )?;
    let keys = KeyService::new(ports, key_policy(settings));
    let operator = ClientInfo::default();
    let fail = |what: &str, err: domain::DomainError| anyhow::anyhow!("{what}: {}", describe(&err));
    match command {
        KeysCommand::List => {
            let listed = keys
                .list(None)
                .await
                .map_err(|e| fail("cannot list the keys", e))?;
            println!(
                "{:<34} {:<6} {:<9} {:<21} {:<21}",
                "KID", "ALG", "STATE", "CREATED", "ACTIVATED"
            );
            for key in listed {
                println!("{}", key_line(&key));
            }
        }
        KeysCommand::Rotate => {
            let current = keys
                .rotate(None, &operator)
                .await
                .map_err(|e| fail("cannot rotate", e))?;
            // A rotation within a second of another is that one (the same event).
            println!("{} now signs", current.kid);
        }
        KeysCommand::Retire { kid, force } => {
            keys.retire(&kid, force, None, &operator)
                .await
                .map_err(|e| fail(&format!("cannot retire {kid}"), e))?;
            println!("retired {kid}");
        }
    }
    Ok(())
}

fn key_line(key: &SigningKey) -> String {
    let date = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map_or_else(
            || "-".to_owned(),
            |at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    format!(
        "{:<34} {:<6} {:<9} {:<21} {:<21}",
        key.kid,
        key.algorithm.as_str(),
        key.state.as_str(),
        date(Some(key.created_at)),
        date(key.activated_at)
    )
}

/// Prints the newest development message that matches, waiting up to `wait` seconds for one.
async fn last_mail(
    settings: &Settings,
    to: Option<&str>,
    subject: Option<&str>,
    links: bool,
    wait: u64,
) -> ExitCode {
    let folder = std::path::Path::new(&settings.mail.file_dir);
    if settings.mail.transport != MailTransport::File {
        eprintln!(
            "error: mail is sent over SMTP here (APP__MAIL__TRANSPORT=smtp), not written to {}",
            folder.display()
        );
        return ExitCode::from(2);
    }
    // At most an hour: a wait that long is a mistake, not a plan.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait.min(3600));
    loop {
        match infra_file_mail::newest(folder, to, subject) {
            Ok(Some(mail)) => {
                if links {
                    mail.links().iter().for_each(|link| println!("{link}"));
                } else {
                    print!("{}", mail.contents);
                }
                return ExitCode::SUCCESS;
            }
            Ok(None) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                eprintln!("error: cannot read {}: {err}", folder.display());
                return ExitCode::FAILURE;
            }
        }
        if std::time::Instant::now() >= deadline {
            let to = to.map(|to| format!(" to {to}")).unwrap_or_default();
            let subject = subject
                .map(|s| format!(" with {s:?} in its subject"))
                .unwrap_or_default();
            eprintln!(
                "error: no message{to}{subject} in {} (APP__MAIL__FILE_DIR)",
                std::fs::canonicalize(folder)
                    .unwrap_or_else(|_| folder.to_owned())
                    .display()
            );
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Exit 0 when the server at the configured address answers `GET /health` with 200.
fn healthcheck() -> ExitCode {
    let server = match ServerSettings::load() {
        Ok(server) => server,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    // A server listening on every interface is probed on the loopback one.
    let host = match server.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        host => host,
    };
    match health_ok(host, server.port) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "error: GET /health on {host}:{} did not answer 200",
                server.port
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!(
                "error: cannot reach the server at {host}:{}: {err}",
                server.port
            );
            ExitCode::FAILURE
        }
    }
}

/// `GET /health` over plain HTTP/1.0.
fn health_ok(host: &str, port: u16) -> std::io::Result<bool> {
    use std::io::{Read, Write};
    let timeout = Some(std::time::Duration::from_secs(3));
    let mut stream = std::net::TcpStream::connect((host, port))?;
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
}

/// One line from standard input, without its line break.
fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password.to_owned())
}

//! A throwaway PostgreSQL cluster, for a test run on a machine where PostgreSQL is installed but
//! nobody said which server to use: `initdb` and `pg_ctl` from the installed server make one in a
//! temporary folder on a free port, once per test process, and it is stopped and removed when the
//! process exits. A process killed before it could (Ctrl-C, SIGKILL) leaves its cluster to the
//! next test run, which stops and removes clusters whose process is gone.
//!
//! The cluster listens on the loopback address only, with no Unix socket, and asks for a random
//! password: another user of the machine cannot use its superuser. Run as root, it belongs to the
//! `postgres` system user (PostgreSQL refuses to run as root).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// Folders of clusters are named with this and the owning process's id.
const PREFIX: &str = "auth-api-test-pg-";

struct Cluster {
    root: PathBuf,
    bin: PathBuf,
    owner: Option<Owner>,
    url: String,
}

#[derive(Clone, Copy)]
struct Owner {
    uid: u32,
    gid: u32,
}

/// The URL of this process's cluster (its superuser's, database `postgres`), started on first
/// use. A cluster that could not start fails every test that asks, with the same message.
pub(super) fn admin_url() -> String {
    match CLUSTER.get_or_init(Cluster::start) {
        Ok(cluster) => cluster.url.clone(),
        Err(why) => panic!("{why}"),
    }
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bin = server_binaries().ok_or(
            "the PostgreSQL tests need PostgreSQL's server installed (initdb and pg_ctl on PATH \
             or under /usr/lib/postgresql/*/bin; on Debian: apt-get install postgresql), or \
             TEST_POSTGRES_URL naming a running server",
        )?;
        let owner = if is_root() {
            Some(system_user("postgres").ok_or(
                "run as root, the throwaway PostgreSQL cluster needs the `postgres` system user \
                 (PostgreSQL will not run as root); or set TEST_POSTGRES_URL",
            )?)
        } else {
            None
        };
        remove_orphans(&bin, owner);
        let root = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
        // A folder of this very pid is an earlier process's that had the same number.
        stop(&bin, owner, &root);
        let made = |what: &str, err: std::io::Error| {
            format!(
                "the throwaway PostgreSQL cluster: {what} {}: {err}",
                root.display()
            )
        };
        std::fs::create_dir_all(&root).map_err(|e| made("cannot create", e))?;
        let password = uuid::Uuid::new_v4().simple().to_string();
        let password_file = root.join("password");
        std::fs::write(&password_file, &password).map_err(|e| made("cannot write in", e))?;
        for path in [&root, &password_file] {
            if let Some(owner) = owner {
                std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))
                    .map_err(|e| made("cannot give postgres", e))?;
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| made("cannot make private", e))?;
        }
        let mut cluster = Cluster {
            root,
            bin,
            owner,
            url: String::new(),
        };
        // OpenSSL (which libpq's SCRAM uses) is set up never to tear itself down at exit: the
        // stop below makes the server drop every connection, and threads still alive then
        // (the session listener) reconnect. With OpenSSL's exit handler registered before
        // this one, it ran first and such a reconnect crashed the process (seen here: SIGSEGV
        // in HMAC_Init_ex, one exit in twelve under load).
        openssl_sys::init();
        // Registered before anything runs, so that a failure below still removes the folder.
        // SAFETY: `stop_at_exit` is an `extern "C" fn()` that never unwinds out.
        unsafe { libc::atexit(stop_at_exit) };
        let data = cluster.data();
        let initdb = cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                "--pwfile",
                path_str(&password_file)?,
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        let _ = std::fs::remove_file(&password_file);
        initdb?;
        // A port found free may be taken by someone else before the server binds it: try again.
        let mut said = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            // No Unix socket (`-k ''`): no path to quote or to keep short, nothing to reach
            // but the password-protected loopback port.
            let options = format!(
                "-p {port} -k '' -c listen_addresses=127.0.0.1 -c max_connections=300 \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            );
            let log = cluster.root.join("server.log");
            let started = cluster.run(
                "pg_ctl",
                &[
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    path_str(&data)?,
                    "-l",
                    path_str(&log)?,
                    "-o",
                    &options,
                ],
            );
            match started {
                Ok(()) => {
                    cluster.url =
                        format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres");
                    return Ok(cluster);
                }
                Err(why) => {
                    said = format!(
                        "{why}\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                }
            }
        }
        Err(format!(
            "the throwaway PostgreSQL cluster did not start (set TEST_POSTGRES_URL to use a \
             running server instead): {said}"
        ))
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let output = command(&self.bin, program, self.owner)
            .current_dir(&self.root)
            .args(args)
            .output()
            .map_err(|err| format!("{program} did not run: {err}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

/// `program` from the server's folder, as the cluster's owner.
fn command(bin: &Path, program: &str, owner: Option<Owner>) -> Command {
    let mut command = Command::new(bin.join(program));
    command.env_remove("PGDATA");
    if let Some(owner) = owner {
        command.uid(owner.uid).gid(owner.gid);
    }
    command
}

extern "C" fn stop_at_exit() {
    let root = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
    match CLUSTER.get() {
        Some(Ok(cluster)) => stop(&cluster.bin, cluster.owner, &cluster.root),
        // Start failed half-way: remove what it made.
        _ => {
            if let Some(bin) = server_binaries() {
                let owner = is_root().then(|| system_user("postgres")).flatten();
                stop(&bin, owner, &root);
            }
        }
    }
}

/// Stops the cluster in `root` at once (its data is thrown away anyway), then removes the
/// folder; a cluster that did not stop keeps its folder, so that a later run finds it again.
fn stop(bin: &Path, owner: Option<Owner>, root: &Path) {
    let data = root.join("data");
    if data.join("postmaster.pid").exists() {
        let stopped = command(bin, "pg_ctl", owner)
            .current_dir(std::env::temp_dir())
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(&data)
            .output()
            .is_ok_and(|output| output.status.success());
        if !stopped && data.join("postmaster.pid").exists() {
            return;
        }
    }
    let _ = std::fs::remove_dir_all(root);
}

/// Clusters left by test processes that were killed before they could remove theirs.
fn remove_orphans(bin: &Path, owner: Option<Owner>) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() as i32 && !is_alive(pid) {
            stop(bin, owner, &entry.path());
        }
    }
}

/// Whether a process of this id exists (whoever owns it).
fn is_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let answer = unsafe { libc::kill(pid, 0) };
    answer == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The folder holding `initdb` and `pg_ctl`: on PATH, else the newest under
/// /usr/lib/postgresql (Debian's layout, not on PATH).
fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>());
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path
        .chain(debian.into_iter().map(|(_, bin)| bin))
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The user's ids, from /etc/passwd.
fn system_user(name: &str) -> Option<Owner> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let mut ids = fields.skip(1).map(|id| id.parse().ok());
        Some(Owner {
            uid: ids.next()??,
            gid: ids.next()??,
        })
    })
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| format!("no free port for PostgreSQL: {err}"))
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| {
        format!(
            "the temporary folder's path is not UTF-8: {}",
            path.display()
        )
    })
}

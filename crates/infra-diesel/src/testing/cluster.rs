//! A throwaway PostgreSQL cluster, for a test run on a machine where PostgreSQL is installed but
//! nobody said which server to use: `initdb` and `pg_ctl` from the installed server make one in a
//! temporary folder on a free port, once per test process, and it is stopped and removed when the
//! process exits. Run as root, the cluster belongs to the `postgres` system user (PostgreSQL
//! refuses to run as root).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

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

/// The URL of this process's cluster (a superuser's, database `postgres`), started on first use.
pub(super) fn admin_url() -> String {
    CLUSTER.get_or_init(Cluster::start).url.clone()
}

impl Cluster {
    fn start() -> Cluster {
        remove_orphans();
        let bin = server_binaries().unwrap_or_else(|| {
            panic!(
                "the PostgreSQL tests need PostgreSQL's server installed (initdb and pg_ctl on \
                 PATH or under /usr/lib/postgresql/*/bin; on Debian: apt install postgresql), or \
                 TEST_POSTGRES_URL naming a running server"
            )
        });
        let owner = is_root().then(|| {
            system_user("postgres").unwrap_or_else(|| {
                panic!(
                    "run as root, the throwaway PostgreSQL cluster needs the `postgres` system \
                     user (PostgreSQL will not run as root); or set TEST_POSTGRES_URL"
                )
            })
        });
        let root = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("the cluster's folder");
        if let Some(owner) = owner {
            std::os::unix::fs::chown(&root, Some(owner.uid), Some(owner.gid))
                .expect("give the cluster's folder to postgres");
        }
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
            .expect("the cluster's folder is private");
        let mut cluster = Cluster {
            root,
            bin,
            owner,
            url: String::new(),
        };
        // Registered before anything runs, so a failure below still removes the folder.
        // SAFETY: `stop_at_exit` is an `extern "C" fn()` that never unwinds out.
        unsafe { libc::atexit(stop_at_exit) };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        // A port found free may be taken by someone else before the server binds it: try again.
        for attempt in 1..=5 {
            let port = free_port();
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=300 \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                path_str(&data)
            );
            let log = cluster.root.join("server.log");
            if cluster.try_run(
                "pg_ctl",
                &[
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-o",
                    &options,
                ],
            ) {
                cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
                return cluster;
            }
            eprintln!(
                "throwaway PostgreSQL did not start on port {port} (attempt {attempt}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("the throwaway PostgreSQL cluster did not start (see above)");
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(&self.root).env_remove("PGDATA");
        if let Some(owner) = self.owner {
            command.uid(owner.uid).gid(owner.gid);
        }
        command
    }

    fn try_run(&self, program: &str, args: &[&str]) -> bool {
        match self.command(program).args(args).output() {
            Ok(output) if output.status.success() => true,
            Ok(output) => {
                eprintln!(
                    "{program} failed: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                false
            }
            Err(err) => {
                eprintln!("{program} did not run: {err}");
                false
            }
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        assert!(
            self.try_run(program, args),
            "{program} failed (see above); set TEST_POSTGRES_URL to use a running server instead"
        );
    }

    fn stop_and_remove(&self) {
        stop(&self.bin, self.owner, &self.root);
    }
}

extern "C" fn stop_at_exit() {
    if let Some(cluster) = CLUSTER.get() {
        cluster.stop_and_remove();
    } else if let Some(bin) = server_binaries() {
        // Start failed half-way: remove what it made.
        let root = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
        let owner = is_root().then(|| system_user("postgres")).flatten();
        stop(&bin, owner, &root);
    }
}

/// Stops the cluster in `root` at once (its data is thrown away anyway) and removes the folder.
fn stop(bin: &Path, owner: Option<Owner>, root: &Path) {
    let data = root.join("data");
    if data.join("postmaster.pid").exists() {
        let mut command = Command::new(bin.join("pg_ctl"));
        command
            .args(["stop", "-m", "immediate", "-w", "-D", path_str(&data)])
            .current_dir(std::env::temp_dir());
        if let Some(owner) = owner {
            command.uid(owner.uid).gid(owner.gid);
        }
        let _ = command.output();
    }
    let _ = std::fs::remove_dir_all(root);
}

/// Clusters left by test processes that were killed before they could remove theirs.
fn remove_orphans() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let Some(bin) = server_binaries() else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let owner = is_root().then(|| system_user("postgres")).flatten();
            stop(&bin, owner, &entry.path());
        }
    }
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("the temporary folder's path is UTF-8")
}

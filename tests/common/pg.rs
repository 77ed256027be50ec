//! A throwaway PostgreSQL cluster for one test binary: `initdb` in a temporary folder and
//! `pg_ctl start` on a free port (as the `postgres` user when the tests run as root: the server
//! refuses root), listening on 127.0.0.1 and on a socket in that folder, trust authentication,
//! `synchronous_commit` on. Each test gets a database of its own ([`database`]).
//!
//! The cluster is stopped and its folder removed by a watchdog process in a session of its own,
//! once the test process is gone, however it ended (a panic, a kill -9, Ctrl-C): the harness has
//! no hook at exit, and a server left behind would outlive every run. Never a shared server.
//!
//! The server's binaries are found on PATH (`initdb`, `pg_ctl`) or under
//! `/usr/lib/postgresql/*/bin`; tests fail, never skip, without them (`scripts/test.sh` installs
//! Debian's `postgresql` when they are missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The one cluster of this test binary.
pub struct Cluster {
    pub root: PathBuf,
    pub port: u16,
    pub socket_dir: PathBuf,
    pub data: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

/// Where `initdb` and `pg_ctl` are.
fn server_bin() -> PathBuf {
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v pg_ctl"])
        .output()
    {
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !path.is_empty() {
            let path = std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(&path));
            return path.parent().unwrap().to_path_buf();
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().expect(
        "PostgreSQL's server (initdb, pg_ctl) is not installed: `bash scripts/test.sh` installs Debian's `postgresql`",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// A server command, as the `postgres` user when we are root.
    fn command(&self, tool: &str) -> Command {
        let tool = self.bin.join(tool);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(tool);
            cmd
        } else {
            Command::new(tool)
        }
    }

    fn start() -> Cluster {
        Cluster::start_with("-c max_connections=300")
    }

    /// A cluster whose server takes `options` (`-c name=value ...`) beside its port, socket and
    /// `synchronous_commit` on; the server's other settings are its defaults (fsync on).
    pub fn start_with(options: &str) -> Cluster {
        let root = tempfile::Builder::new()
            .prefix("sampleflow-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let as_postgres = is_root();
        let cluster = Cluster {
            root: root.clone(),
            port: free_port(),
            socket_dir: root.join("socket"),
            data: root.join("data"),
            bin: server_bin(),
            as_postgres,
        };
        std::fs::create_dir_all(&cluster.socket_dir).unwrap();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .unwrap();
            assert!(status.success(), "chown the cluster's folder to postgres");
        }
        cluster.watch(&root);
        let out = cluster
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&cluster.data)
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {out:?}");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c synchronous_commit=on {options}",
            cluster.port,
            cluster.socket_dir.display()
        );
        let out = cluster
            .command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&cluster.data)
            .arg("-l")
            .arg(root.join("server.log"))
            .arg("-o")
            .arg(options)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {out:?}\n{}",
            std::fs::read_to_string(root.join("server.log")).unwrap_or_default()
        );
        cluster
    }

    /// A watchdog in a session of its own: once this process is gone, it stops the server and
    /// removes the folder. It outlives this process on purpose: it is never waited for.
    #[allow(clippy::zombie_processes)]
    fn watch(&self, root: &Path) {
        use std::os::unix::process::CommandExt;
        let stop = self.command("pg_ctl");
        let program = stop.get_program().to_string_lossy().into_owned();
        let args: Vec<String> = stop
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {program} {args} stop -m immediate -D '{data}' >/dev/null 2>&1; rm -rf '{root}'",
            pid = std::process::id(),
            args = args.join(" "),
            data = self.data.display(),
            root = root.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
    }

    /// A URL of the database `name` over TCP.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A URL of the database `name` over the Unix socket.
    pub fn socket_url(&self, name: &str) -> String {
        let dir: String = self.socket_dir.display().to_string().replace('/', "%2F");
        format!("postgresql://postgres@{dir}:{}/{name}", self.port)
    }

    /// A client of the database `name`.
    pub fn client(&self, name: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(name), postgres::NoTls).unwrap()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The cluster of this test binary, started at first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}

/// A new empty database of its own for one test: its URL.
pub fn database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let cluster = cluster();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    cluster
        .client("postgres")
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    cluster.url(&name)
}

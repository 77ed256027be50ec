//! Helpers shared by the integration tests.

// Test helpers fail loudly: a panic is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

pub mod browser;
pub mod cluster;
pub mod corpus;
pub mod live;
pub mod pg;
pub mod raw;
pub mod serve;
pub mod tiktok;

/// The shipped sample workflow with `edit` applied.
pub fn shipped_with(edit: impl Fn(String) -> String) -> String {
    edit(std::fs::read_to_string("workflows/sample.yaml").unwrap())
}

/// 1-based line and column (in characters) of the first `needle` in `text`.
pub fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("needle in text");
    sampleflow::Span::new(offset, needle.len()).line_col(text)
}

/// A copy of the shipped rules folder (with its tests) in a temporary folder.
pub fn shipped_rules() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(std::path::Path::new("rules"), dir.path());
    dir
}

/// Copies a folder and everything in it.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The real binary, run from the project's root on the store `db`.
pub fn bin(db: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sampleflow"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db);
    cmd
}

/// The store of a test's folder: `s.db` in it, or the PostgreSQL database whose URL its file
/// `db-url` holds ([`use_postgres`]).
pub fn db_in(dir: &std::path::Path) -> std::path::PathBuf {
    match std::fs::read_to_string(dir.join("db-url")) {
        Ok(url) => std::path::PathBuf::from(url.trim()),
        Err(_) => dir.join("s.db"),
    }
}

/// Makes the folder's store a new database of this test binary's PostgreSQL cluster.
pub fn use_postgres(dir: &std::path::Path) {
    std::fs::write(dir.join("db-url"), pg::database()).unwrap();
}

/// The shipped workflows and rules, as `run` loads them.
pub fn shipped_program() -> sampleflow::machinery::runtime::Program {
    let (graphs, report) =
        sampleflow::validate_dir(std::path::Path::new("workflows")).expect("workflows");
    assert!(!report.has_errors(), "{}", report.render(false));
    let rules = sampleflow::RuleSet::load(std::path::Path::new("rules"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    sampleflow::machinery::runtime::Program::new(graphs, rules)
}

/// Replaces the `rules` and `workflow` hashes of every record, so snapshots survive edits.
pub fn redact(mut value: serde_json::Value) -> serde_json::Value {
    for (key, name) in [("rules", "[rules]"), ("workflow", "[workflow]")] {
        if let Some(v) = value.get_mut(key) {
            if v.is_string() {
                *v = serde_json::Value::String(name.to_string());
            }
        }
    }
    value
}

/// Each line of a command's stdout as JSON.
pub fn stdout_json(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A command's stderr as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A temporary folder holding `s.db`, the store of the shipped example after `run`: s50, s51
/// and s52 wait for review; the clock is 2026-03-27T04:58:11Z.
pub fn example_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(&dir.path().join("s.db"))
        .args(["run", "examples/events.jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    dir
}

/// What one run of the binary gave.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary in the package's folder, without colour.
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = assert_cmd::Command::cargo_bin("sampleflow")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary with `--rules dir` before `args`.
pub fn with_rules(dir: &std::path::Path, args: &[&str]) -> Run {
    let mut all: Vec<&std::ffi::OsStr> = vec!["--rules".as_ref(), dir.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    run(all)
}

/// Replaces every `from` in the file with `to`; `from` must be there.
pub fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

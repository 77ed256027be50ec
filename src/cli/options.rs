//! Where an option's value may come from besides the command line: the environment
//! (`SAMPLEFLOW_` and the long name upper-cased, `-` as `_`) and an options file (`--config FILE`,
//! YAML, the long names as keys). A flag beats the environment, which beats the file, which beats
//! the default.
//!
//! Both are derived from clap's own description of the commands, so a new option is covered
//! without a list to keep: the environment through clap's `env`, the file by making its values
//! the options' defaults before the command line is parsed. Only the options that describe the
//! one event an ops command makes (and `run`'s truncating `--out`) are left out, on purpose.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Command, CommandFactory, FromArgMatches};
use miette::{Diagnostic, SourceSpan};

use super::Cli;
use crate::definition::yaml::{self, Node, NodeKind};
use crate::diagnostic::{Source, Span};

/// The id of the options file's argument (its flag is `--config`).
const OPTIONS_FILE: &str = "options_file";

/// The environment variable naming the options file.
pub const CONFIG_ENV: &str = "SAMPLEFLOW_CONFIG";

/// Options that never come from the environment or a file, by command and long name: an ops
/// command's event is said on its command line (a `SAMPLEFLOW_AT` left in a shell would date
/// every decision), `run --out` truncates its file (a `SAMPLEFLOW_OUT` meant for a service's
/// appended records would be wiped), and `connect tiktok --config` names the connector's file,
/// not this one.
const COMMAND_LINE_ONLY: &[(&str, &[&str])] = &[
    ("review", &["approve", "reject", "note", "at", "catch-up"]),
    (
        "ship",
        &["tracking", "carrier", "cost", "note", "at", "catch-up"],
    ),
    (
        "adjust",
        &["credit", "block-days", "note", "at", "catch-up"],
    ),
    ("run", &["out"]),
    ("tiktok", &["config"]),
];

/// Variables that already mean something else: no option may be read from them.
pub const RESERVED_ENV: &[&str] = &[
    "SAMPLEFLOW_NOW",
    "SAMPLEFLOW_CRASH",
    "SAMPLEFLOW_BATCH",
    "SAMPLEFLOW_EVICT_AFTER",
    "SAMPLEFLOW_TOKEN",
    "SAMPLEFLOW_WEBHOOK_SECRET_FILE",
    "SAMPLEFLOW_BENCH_",
    "SAMPLEFLOW_DIFF_PARALLEL_BELOW",
    "SAMPLEFLOW_DOCS_SCREENSHOTS",
];

/// Whether `env` already means something else (a name ending in `_` reserves a prefix).
fn reserved(env: &str) -> bool {
    RESERVED_ENV.iter().any(|r| {
        if r.ends_with('_') {
            env.starts_with(r)
        } else {
            env == *r
        }
    })
}

/// The largest options file read.
const MAX_FILE: u64 = 1 << 20;

/// The environment variable an option is read from.
pub fn env_name(long: &str) -> String {
    format!("SAMPLEFLOW_{}", long.to_ascii_uppercase().replace('-', "_"))
}

fn command_line_only(command: &str, long: &str) -> bool {
    COMMAND_LINE_ONLY
        .iter()
        .any(|(c, longs)| *c == command && longs.contains(&long))
}

/// Whether `arg` of `command` may come from the environment or a file.
fn settable(command: &str, arg: &clap::Arg) -> bool {
    let Some(long) = arg.get_long() else {
        return false;
    };
    !matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    ) && arg.get_id() != OPTIONS_FILE
        && !command_line_only(command, long)
}

/// The commands' description with the environment on every settable option and `--config FILE`
/// on the top command and every command but `connect` (whose `tiktok --config` names the
/// connector's own file).
pub fn command() -> Command {
    let top = with_env(Cli::command(), "", false);
    top.arg(options_arg().env(CONFIG_ENV))
}

fn options_arg() -> clap::Arg {
    clap::Arg::new(OPTIONS_FILE)
        .long("config")
        .value_name("FILE")
        .value_parser(clap::value_parser!(PathBuf))
        .help("Read options from this YAML file (the long names as keys); a flag or the environment beats it")
}

/// `cmd` (named `name`) and the commands under it with the environment on their options, and
/// `--config FILE` on each command that runs (none under `connect`, when `under_connect`).
fn with_env(mut cmd: Command, name: &str, under_connect: bool) -> Command {
    let ids: Vec<(clap::Id, String)> = cmd
        .get_arguments()
        .filter(|a| settable(name, a) && a.get_env().is_none())
        .filter_map(|a| Some((a.get_id().clone(), env_name(a.get_long()?))))
        // A future `--now` must not start reading the tests' clock.
        .filter(|(_, env)| !reserved(env))
        .collect();
    for (id, env) in ids {
        cmd = cmd.mut_arg(id, |a| a.env(env));
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in subs {
        let connect = under_connect || sub == "connect";
        cmd = cmd.mut_subcommand(&sub, |sc| {
            let sc = with_env(sc, &sub, connect);
            if connect || sc.has_subcommands() {
                sc
            } else {
                sc.arg(options_arg())
            }
        });
    }
    cmd
}

/// Why the options could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// clap's own: bad usage, or `--help` and `--version`, which it prints and exits with.
    Clap(clap::Error),
    /// The options file: what is wrong in it, every defect at its place.
    File(Vec<FileProblem>),
    /// The options file could not be read.
    Read(PathBuf, std::io::Error),
}

impl Failure {
    /// Says what went wrong and exits as bad usage (clap's own `--help` and `--version` exit 0).
    pub fn exit(self) -> ! {
        match self {
            Failure::Clap(e) => e.exit(),
            Failure::File(problems) => {
                super::eprint_diagnostics(&problems);
            }
            Failure::Read(path, e) => {
                eprintln!(
                    "error: cannot read the options file `{}`: {e}",
                    path.display()
                );
            }
        }
        std::process::exit(super::EXIT_USAGE.into())
    }
}

/// A defect of the options file, at its place.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(options::file))]
pub struct FileProblem {
    pub message: String,
    #[source_code]
    pub src: Source,
    #[label("{label}")]
    pub span: SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

/// The command line of this process, with the environment and the options file.
pub fn parse() -> Cli {
    parse_from(std::env::args_os()).unwrap_or_else(|f| f.exit())
}

/// `args` (the program's name first) with the environment and the options file.
pub fn parse_from<I, T>(args: I) -> Result<Cli, Failure>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = command();
    // A first, lenient look: which command runs, and which options file it names.
    let probe = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&args)
        .ok();
    if let Some((path, file)) = probe.as_ref().and_then(options_file) {
        cmd = from_file(cmd, &path, &file)?;
    }
    let mut matches = cmd.try_get_matches_from(&args).map_err(Failure::Clap)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(Failure::Clap)
}

/// The names of the commands run (the top one left out) and the options file, if one is named:
/// the one on the deepest command wins, as on the command line.
fn options_file(matches: &clap::ArgMatches) -> Option<(Vec<String>, PathBuf)> {
    let mut path = Vec::new();
    let mut file = matches.get_one::<PathBuf>(OPTIONS_FILE).cloned();
    let mut at = matches;
    while let Some((name, sub)) = at.subcommand() {
        path.push(name.to_string());
        if let Ok(Some(f)) = sub.try_get_one::<PathBuf>(OPTIONS_FILE) {
            file = Some(f.clone());
        }
        at = sub;
    }
    file.map(|f| (path, f))
}

/// What an options file says, checked against every command's options and made the defaults of
/// the ones the command run has.
fn from_file(
    mut cmd: Command,
    path: &[String],
    file: &std::path::Path,
) -> Result<Command, Failure> {
    let text = crate::diagnostic::read_bounded(file, MAX_FILE)
        .map_err(|e| Failure::Read(file.to_path_buf(), e))?;
    let src = crate::diagnostic::source(file.display().to_string(), text.clone());
    let problem = |span: Span, message: String, label: &str, help: Option<String>| FileProblem {
        message,
        src: src.clone(),
        span: span.into(),
        label: label.to_string(),
        help,
    };
    let root = yaml::parse(&text).map_err(|e| {
        Failure::File(vec![problem(
            e.span,
            format!("yaml syntax error: {}", e.message),
            "here",
            None,
        )])
    })?;
    let entries = match &root.kind {
        NodeKind::Map(entries) => entries,
        _ => {
            return Err(Failure::File(vec![problem(
            root.head_span(),
            "an options file is a mapping of option names to values".into(),
            "not a mapping",
            Some(
                "write one `name: value` per line, e.g. `db: /var/lib/sampleflow/sampleflow.db`"
                    .into(),
            ),
        )]))
        }
    };
    let known = every_option(&cmd);
    let mut problems = Vec::new();
    for d in yaml::duplicates(&root, &text)
        .into_iter()
        .filter(|d| d.path.is_empty())
    {
        problems.push(problem(
            d.again,
            format!("option `{}` is given twice", d.key),
            "again here",
            Some("only one of them would count; remove the other".into()),
        ));
    }
    let mut defaults: Vec<(Vec<String>, clap::Id, Vec<String>)> = Vec::new();
    for (key, value) in entries {
        let Some(name) = key.as_scalar() else {
            problems.push(problem(
                key.span,
                "an option's name is a plain word".into(),
                "here",
                None,
            ));
            continue;
        };
        let Some(uses) = known.iter().find(|(long, _)| long == name).map(|(_, u)| u) else {
            let help = crate::diagnostic::did_you_mean(
                name,
                known.iter().map(|(long, _)| long.as_str()),
            )
            .map(|m| format!("did you mean `{m}`?"))
            .or_else(|| Some("the keys are the long names of the options, as `sampleflow COMMAND --help` lists them".into()));
            problems.push(problem(
                key.span,
                format!("unknown option `{name}`"),
                "not an option",
                help,
            ));
            continue;
        };
        if uses.iter().all(|u| !u.settable) {
            problems.push(problem(
                key.span,
                format!("`{name}` is given on the command line only"),
                "not taken from a file",
                Some(if name == "config" {
                    "an options file names no other file".to_string()
                } else {
                    format!("`--{name}` describes one event or one run, not a setting; say it when you run the command")
                }),
            ));
            continue;
        }
        // The option as the command run has it (on itself or one of the commands above it).
        let Some(used) = uses
            .iter()
            .filter(|u| u.settable && path.starts_with(&u.path))
            .max_by_key(|u| u.path.len())
        else {
            continue;
        };
        match values(used, value) {
            Ok(values) => defaults.push((used.path.clone(), used.id.clone(), values)),
            Err(message) => problems.push(problem(value.span, message, "here", None)),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::File(problems));
    }
    for (path, id, values) in defaults {
        cmd = with_default(cmd, &path, id, values);
    }
    Ok(cmd)
}

/// One option as one command has it.
struct Use {
    /// The commands above it, the top one left out (empty for a global option).
    path: Vec<String>,
    id: clap::Id,
    action: ArgAction,
    settable: bool,
    arg: clap::Arg,
}

/// Every long option of every command, by long name.
fn every_option(cmd: &Command) -> Vec<(String, Vec<Use>)> {
    let mut found: Vec<(String, Vec<Use>)> = Vec::new();
    collect(cmd, &mut Vec::new(), &mut found);
    found
}

fn collect(cmd: &Command, path: &mut Vec<String>, found: &mut Vec<(String, Vec<Use>)>) {
    let name = path.last().map_or("", String::as_str);
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if arg.get_id() == OPTIONS_FILE
            || matches!(
                arg.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
        {
            continue;
        }
        let one = Use {
            path: path.clone(),
            id: arg.get_id().clone(),
            action: arg.get_action().clone(),
            settable: settable(name, arg),
            arg: arg.clone(),
        };
        match found.iter_mut().find(|(l, _)| l == long) {
            Some((_, uses)) => uses.push(one),
            None => found.push((long.to_string(), vec![one])),
        }
    }
    for sub in cmd.get_subcommands() {
        path.push(sub.get_name().to_string());
        collect(sub, path, found);
        path.pop();
    }
}

/// The text values a node gives an option, each checked as the command line would check it.
fn values(used: &Use, node: &Node) -> Result<Vec<String>, String> {
    let long = used.arg.get_long().unwrap_or_default();
    let texts: Vec<String> = match (&node.kind, &used.action) {
        (NodeKind::Scalar(text), ArgAction::SetTrue | ArgAction::SetFalse) => match text.as_str() {
            "true" | "false" => vec![text.clone()],
            _ => {
                return Err(format!(
                    "`{long}` is a switch: `true` or `false`, not `{text}`"
                ))
            }
        },
        (NodeKind::Scalar(text), _) if text.is_empty() || text == "~" || text == "null" => {
            return Err(format!("`{long}` has no value"))
        }
        (NodeKind::Scalar(text), _) => vec![text.clone()],
        (NodeKind::Seq(items), ArgAction::Append) => items
            .iter()
            .map(|i| {
                i.as_scalar()
                    .map(str::to_string)
                    .ok_or_else(|| format!("each value of `{long}` is a plain value"))
            })
            .collect::<Result<_, _>>()?,
        (NodeKind::Seq(_), _) => return Err(format!("`{long}` takes one value, not a list")),
        _ => return Err(format!("`{long}` takes a plain value")),
    };
    if !matches!(used.action, ArgAction::SetTrue | ArgAction::SetFalse) {
        // The option's own value parser, alone in a command of its own (its links to other
        // options left behind), checks each value as the command line would.
        let mut alone = clap::Arg::new("value")
            .long(long.to_string())
            .action(ArgAction::Set)
            .value_parser(used.arg.get_value_parser().clone());
        if let Some(names) = used.arg.get_value_names() {
            alone = alone.value_names(names.to_vec());
        }
        let check = Command::new("sampleflow").no_binary_name(true).arg(alone);
        for text in &texts {
            check
                .clone()
                .try_get_matches_from([format!("--{long}={text}")])
                .map_err(|e| {
                    let shown = e.to_string();
                    let first = shown.lines().next().unwrap_or_default();
                    first.trim_start_matches("error: ").to_string()
                })?;
        }
    }
    Ok(texts)
}

/// `cmd` with `values` as the default of option `id` of the command at `path`.
fn with_default(cmd: Command, path: &[String], id: clap::Id, values: Vec<String>) -> Command {
    match path.split_first() {
        None => cmd.mut_arg(id, |a| a.default_values(values)),
        Some((first, rest)) => {
            let rest = rest.to_vec();
            cmd.mut_subcommand(first, move |sc| with_default(sc, &rest, id, values))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_env(cmd: &Command, out: &mut Vec<(String, String)>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.push((
                    format!(
                        "{} --{}",
                        cmd.get_name(),
                        arg.get_long().unwrap_or_default()
                    ),
                    env.to_string_lossy().into_owned(),
                ));
            }
        }
        for sub in cmd.get_subcommands() {
            every_env(sub, out);
        }
    }

    #[test]
    fn no_option_reads_a_variable_that_means_something_else() {
        let mut all = Vec::new();
        every_env(&command(), &mut all);
        assert!(all.iter().any(|(_, e)| e == "SAMPLEFLOW_DB"));
        assert!(all
            .iter()
            .any(|(o, e)| o == "serve --listen" && e == "SAMPLEFLOW_LISTEN"));
        // A name that only begins as a reserved one does is an option's all the same.
        assert!(all
            .iter()
            .any(|(o, e)| o == "serve --tokens" && e == "SAMPLEFLOW_TOKENS"));
        for (option, env) in &all {
            assert!(!reserved(env), "{option} reads {env}");
        }
        // The event an ops command makes is said on its command line.
        for (option, env) in &all {
            assert!(
                ![
                    "SAMPLEFLOW_AT",
                    "SAMPLEFLOW_CATCH_UP",
                    "SAMPLEFLOW_APPROVE",
                    "SAMPLEFLOW_NOTE"
                ]
                .contains(&env.as_str()),
                "{option} reads {env}"
            );
        }
        assert!(!all.iter().any(|(o, _)| o == "run --out"));
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        std::io::Write::write_all(&mut f, text.as_bytes()).expect("write");
        f
    }

    fn parse(args: &[&str]) -> Result<Cli, Failure> {
        parse_from(std::iter::once("sampleflow").chain(args.iter().copied()))
    }

    #[test]
    fn a_file_gives_globals_switches_and_command_options_and_a_flag_beats_it() {
        let f = file(
            "db: from-file.db\npoll-ms: 777\npoll-only: true\nlisten: 127.0.0.1:9\ntick-ms: 5\n",
        );
        let path = f.path().to_str().expect("utf-8");
        let cli = parse(&["--config", path, "serve", "--tick-ms", "9"])
            .unwrap_or_else(|_| panic!("parses"));
        assert_eq!(cli.db, PathBuf::from("from-file.db"));
        let super::super::Command::Serve(args) = &cli.command else {
            panic!("serve")
        };
        assert_eq!(args.watch.poll_ms, 777);
        assert!(args.watch.poll_only);
        assert_eq!(args.listen, "127.0.0.1:9");
        assert_eq!(args.watch.tick_ms, 9);
        // After the command's name too; options of other commands are left alone.
        let cli = parse(&["queue", "--config", path]).unwrap_or_else(|_| panic!("parses"));
        assert_eq!(cli.db, PathBuf::from("from-file.db"));
    }

    #[test]
    fn an_unknown_key_is_told_at_its_place_with_a_hint() {
        let f = file("db: x.db\npol-ms: 5\n");
        let path = f.path().to_str().expect("utf-8");
        let Err(Failure::File(problems)) = parse(&["--config", path, "watch"]) else {
            panic!("refused")
        };
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].message, "unknown option `pol-ms`");
        assert_eq!(problems[0].help.as_deref(), Some("did you mean `poll-ms`?"));
        assert_eq!(
            crate::diagnostic::location(&problems[0]),
            Some(format!("{path}:2:1"))
        );
    }

    #[test]
    fn bad_values_and_event_options_are_refused_each_at_its_place() {
        let f = file("poll-ms: soon\npoll-only: maybe\nat: 2026-01-01T00:00:00Z\ndb: [a, b]\n");
        let path = f.path().to_str().expect("utf-8");
        let Err(Failure::File(problems)) = parse(&["--config", path, "watch"]) else {
            panic!("refused")
        };
        let told: Vec<(String, Option<String>)> = problems
            .iter()
            .map(|p| (p.message.clone(), crate::diagnostic::location(p)))
            .collect();
        assert_eq!(told.len(), 4, "{told:?}");
        assert!(
            told[0]
                .0
                .contains("invalid value 'soon' for '--poll-ms <MS>'"),
            "{told:?}"
        );
        assert_eq!(told[0].1, Some(format!("{path}:1:10")));
        assert_eq!(
            told[1].0,
            "`poll-only` is a switch: `true` or `false`, not `maybe`"
        );
        assert_eq!(told[2].0, "`at` is given on the command line only");
        assert_eq!(told[2].1, Some(format!("{path}:3:1")));
        assert_eq!(told[3].0, "`db` takes one value, not a list");
    }
}

//! `cargo xtask memcheck`: lua-tests files on a stock interpreter (Lua 5.4 unless
//! `--lua` names another) under valgrind's memcheck, loading our module built in
//! release mode.
//!
//! The Rust side is memory-safe by construction except where it meets Lua's C API: the
//! hand-written `lua_CFunction`s, userdata lifetimes, `longjmp`s across our frames. A
//! use-after-free there does not crash reliably; valgrind sees it on the first access.
//! Each file runs as `test-lua` runs it on that interpreter (same environment, same certificates),
//! and fails on a failed test or on any valgrind error (`--error-exitcode`). Leaks are
//! not checked: what Lua itself still holds at exit is not our concern.
//!
//! Valgrind makes a file 20 to 50 times slower in CPU time, yet the files mostly wait on
//! sockets and timers, so the whole suite runs in a few minutes on two cores (see
//! docs/DEVELOPING.md). Every file runs but those in [`SKIPPED`], whose assertions are
//! about the loop's responsiveness, which valgrind's slowness breaks by itself.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::child;
use crate::lua::{Interpreter, LuaVersion};
use crate::module::Profile;
use crate::test_lua::{self, Outcome, Tally};
use crate::workspace::{find_program, Workspace};
use crate::Result;

/// Files left out by default, with the reason; `--all` runs them too. What they reach
/// in our code, other files reach as well.
const SKIPPED: [(&str, &str); 3] = [
    (
        "copas_ticker.lua",
        "the ticker must never be 2 s late while 1,000 connections and DNS lookups run; \
         dns_resolve, copas_sockets and copas_timer cover the same calls",
    ),
    (
        "ftp_smtp_ticker.lua",
        "the ticker must never be 2 s late during FTP and SMTP transfers; ftp_transfer \
         and smtp_send cover the same calls",
    ),
    (
        "http_concurrent.lua",
        "the ticker must never pause 0.5 s during 100 concurrent HTTP requests; \
         http_local, http_nginx, http_tls and copas_limit cover the same calls",
    ),
];

/// Under valgrind a file that takes 5 s normally takes minutes; the limit is there for
/// hangs, not for speed.
const TIME_LIMIT: Duration = Duration::from_secs(900);
/// Valgrind's exit status when it reported an error, unlike any the harness uses.
const ERROR_EXIT_CODE: i32 = 97;
const FILES_AT_ONCE: usize = 2;
const SUPPRESSIONS: &str = "xtask/valgrind/ring.supp";

pub(crate) fn command(args: &[String]) -> Result {
    let mut all = false;
    let mut lua = LuaVersion::Lua54;
    let mut selection = Selection::Default;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--all" => all = true,
            "--lua" => {
                let name = args
                    .next()
                    .ok_or("memcheck: --lua needs a version, such as lua52")?;
                lua = match LuaVersion::parse_list(name)?.as_slice() {
                    [one] => *one,
                    _ => {
                        return Err(
                            format!("memcheck: --lua takes one version, not '{name}'").into()
                        )
                    }
                };
            }
            option if option.starts_with('-') => {
                return Err(format!("memcheck: unknown option '{option}'").into());
            }
            script if script.ends_with(".lua") && Path::new(script).is_file() => {
                let script = fs::canonicalize(script)?;
                match &mut selection {
                    Selection::Scripts(scripts) => scripts.push(script),
                    _ => selection = Selection::Scripts(vec![script]),
                }
            }
            filter if matches!(selection, Selection::Default) => {
                selection = Selection::Filter(filter.to_owned());
            }
            extra => return Err(format!("memcheck: unexpected argument '{extra}'").into()),
        }
    }
    run(&Workspace::locate()?, lua, all, selection)
}

/// Which files run.
#[derive(Debug)]
pub(crate) enum Selection {
    /// Every lua-tests file but those in [`SKIPPED`] (unless `--all`).
    Default,
    /// Those of the default selection whose name contains this.
    Filter(String),
    /// Scripts named on the command line, such as a reproducer outside lua-tests/.
    Scripts(Vec<PathBuf>),
}

/// Builds the release module, runs the selected files under valgrind, and fails unless
/// every file passed its tests with no valgrind error.
pub(crate) fn run(
    workspace: &Workspace,
    lua: LuaVersion,
    all: bool,
    selection: Selection,
) -> Result {
    for program in ["valgrind", lua.program()] {
        if find_program(program).is_none() {
            return Err(format!(
                "{program} is not on PATH (Debian: apt-get install valgrind {})",
                lua.program()
            )
            .into());
        }
    }
    let files = select(workspace, all, &selection)?;
    if !all && !matches!(selection, Selection::Scripts(_)) {
        for (name, reason) in SKIPPED {
            println!("skipping {name}: {reason}");
        }
    }
    let started = Instant::now();

    if files.iter().any(|file| starts_the_runner(file)) {
        test_lua::build_runner(workspace)?;
    }
    let mut setup = test_lua::prepare(workspace, Interpreter::Stock(lua), Profile::Release)?;
    let certs = test_lua::generate_certs(workspace)?;
    setup.use_certs(&certs);
    let logs = workspace.target.join("memcheck");
    fs::create_dir_all(&logs)?;
    test_lua::raise_open_file_limit();
    println!(
        "running {} file(s) under valgrind, {FILES_AT_ONCE} at a time (logs in {})",
        files.len(),
        workspace.show(&logs)
    );

    let check = |file: &PathBuf| {
        let log = logs.join(format!("{}.log", test_lua::file_name(file)));
        // A log left by an earlier run must not stand in for one valgrind failed to write.
        let _ = fs::remove_file(&log);
        let command = setup.command_under(&valgrind(workspace, &log), file);
        let outcome = Outcome::of(child::run(command, TIME_LIMIT), TIME_LIMIT);
        let report = fs::read_to_string(&log)
            .ok()
            .map(|text| Report::parse(&text));
        Checked {
            outcome,
            log,
            report,
        }
    };
    let mut files_tally = Tally::default();
    let mut broken = Vec::new();
    test_lua::run_jobs(&files, FILES_AT_ONCE, check, |file, checked| {
        let problem = checked.problem();
        let shown = problem.clone().unwrap_or_else(|| checked.outcome.shown());
        println!(
            "{}",
            test_lua::file_line(
                setup.interpreter,
                file,
                problem.is_some(),
                &shown,
                checked.outcome.elapsed()
            )
        );
        let Some(problem) = problem else {
            files_tally.passed += 1;
            return;
        };
        files_tally.failed += 1;
        test_lua::print_indented(&checked.outcome.details());
        if let Some(first) = checked.report.as_ref().and_then(|r| r.first_error.as_ref()) {
            println!("      first valgrind error:");
            test_lua::print_indented(first);
        }
        if let Some(summary) = checked
            .report
            .as_ref()
            .and_then(|r| r.summary_line.as_ref())
        {
            println!("      {summary}");
        }
        println!("      valgrind log: {}", workspace.show(&checked.log));
        let command = setup.command_under(&valgrind(workspace, &checked.log), file);
        println!("      reproduce: {}", test_lua::shell_line(&command));
        broken.push(format!("{}: {problem}", test_lua::file_name(file)));
    });

    if broken.is_empty() {
        let _ = fs::remove_dir_all(&certs);
    }
    println!();
    for problem in &broken {
        println!("failed: {problem}");
    }
    println!(
        "memcheck took {:.1} s; the line below counts files, not tests",
        started.elapsed().as_secs_f64()
    );
    println!("{files_tally}");
    if !broken.is_empty() {
        return Err(format!(
            "{} of {} files failed under valgrind",
            broken.len(),
            files.len()
        )
        .into());
    }
    Ok(())
}

fn select(workspace: &Workspace, all: bool, selection: &Selection) -> Result<Vec<PathBuf>> {
    let dir = workspace.root.join(test_lua::TESTS_DIR);
    let files = match selection {
        Selection::Scripts(scripts) => return Ok(scripts.clone()),
        Selection::Default => test_lua::test_files(&dir, None)?,
        Selection::Filter(filter) => test_lua::test_files(&dir, Some(filter))?,
    };
    if all {
        return Ok(files);
    }
    let chosen: Vec<PathBuf> = files
        .into_iter()
        .filter(|file| {
            let name = test_lua::file_name(file);
            !SKIPPED.iter().any(|(skipped, _)| *skipped == name)
        })
        .collect();
    if chosen.is_empty() {
        return Err("every matching file is one memcheck skips; --all runs them".into());
    }
    Ok(chosen)
}

/// Whether `file` starts our runner (through COPAS_RUNNER), which must then be built.
fn starts_the_runner(file: &Path) -> bool {
    fs::read_to_string(file).is_ok_and(|text| text.contains("COPAS_RUNNER"))
}

/// The valgrind command line the interpreter runs under, logging to `log`.
fn valgrind(workspace: &Workspace, log: &Path) -> Vec<OsString> {
    let mut suppressions = OsString::from("--suppressions=");
    suppressions.push(workspace.root.join(SUPPRESSIONS));
    let mut log_file = OsString::from("--log-file=");
    log_file.push(log);
    vec![
        "valgrind".into(),
        "--tool=memcheck".into(),
        format!("--error-exitcode={ERROR_EXIT_CODE}").into(),
        "--leak-check=no".into(),
        // The files start servers and runners through io.popen; until their exec the
        // forked shells are still under valgrind and would write into the same log.
        "--child-silent-after-fork=yes".into(),
        // Enough frames to get from a Rust function through mlua back to the Lua API call.
        "--num-callers=40".into(),
        suppressions,
        log_file,
    ]
}

/// One file's run and what valgrind said about it.
struct Checked {
    outcome: Outcome,
    log: PathBuf,
    /// None when valgrind wrote no log at all.
    report: Option<Report>,
}

impl Checked {
    /// Why the file counts as failed: valgrind errors first, then the test's own problems.
    fn problem(&self) -> Option<String> {
        let exited_with_errors = self
            .outcome
            .run
            .as_ref()
            .is_ok_and(|done| done.status.code() == Some(ERROR_EXIT_CODE));
        // Valgrind's exit status stands in for the harness's; it is no test failure.
        let tests = match self.outcome.problem() {
            Some(_)
                if exited_with_errors && self.outcome.summary.is_some_and(|s| s.failed == 0) =>
            {
                None
            }
            other => other,
        };
        let timed_out = self.outcome.run.as_ref().is_ok_and(|done| done.timed_out);
        let valgrind = match &self.report {
            Some(Report {
                errors: Some(errors),
                ..
            }) if *errors > 0 => Some(format!("valgrind: {errors} errors")),
            Some(Report {
                errors: Some(_), ..
            }) => None,
            _ if exited_with_errors => Some("valgrind: errors".to_owned()),
            // A run killed at the time limit never gets to its summary; that is said below.
            _ if timed_out || self.outcome.run.is_err() => None,
            _ => Some("valgrind wrote no error summary".to_owned()),
        };
        match (valgrind, tests) {
            (Some(valgrind), Some(tests)) => Some(format!("{valgrind}; {tests}")),
            (valgrind, tests) => valgrind.or(tests),
        }
    }
}

/// What a valgrind log says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Report {
    /// The count in the `ERROR SUMMARY` line, suppressed errors not included.
    errors: Option<u64>,
    summary_line: Option<String>,
    /// The first error with its stack, without valgrind's `==pid==` prefixes.
    first_error: Option<String>,
}

impl Report {
    fn parse(log: &str) -> Report {
        let lines: Vec<&str> = log.lines().map(strip_pid).collect();
        let mut report = Report::default();
        if let Some(line) = lines
            .iter()
            .rev()
            .find(|line| line.starts_with("ERROR SUMMARY: "))
        {
            report.errors = line
                .strip_prefix("ERROR SUMMARY: ")
                .and_then(|rest| rest.split_once(' '))
                .and_then(|(count, _)| count.parse().ok());
            report.summary_line = Some((*line).to_owned());
        }
        // Errors are paragraphs whose second line is the first stack frame.
        report.first_error = lines
            .split(|line| line.trim().is_empty())
            .find(|paragraph| {
                paragraph
                    .get(1)
                    .is_some_and(|line| line.trim_start().starts_with("at 0x"))
            })
            .map(|paragraph| paragraph.join("\n"));
        report
    }
}

/// A log line without valgrind's `==1234== ` prefix.
fn strip_pid(line: &str) -> &str {
    let Some(rest) = line.strip_prefix("==") else {
        return line;
    };
    match rest.split_once("==") {
        Some((pid, text)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
            text.strip_prefix(' ').unwrap_or(text)
        }
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
==4242== Memcheck, a memory error detector
==4242== Command: lua5.4 reload.lua
==4242== 
==4242== Invalid read of size 8
==4242==    at 0x4C1D2E0: copas_lua::copas_core::hot::step (hot.rs:120)
==4242==    by 0x4A3B1C0: luaD_precall (ldo.c:532)
==4242==  Address 0x5a1b040 is 16 bytes inside a block of size 64 free'd
==4242== 
==4242== Invalid read of size 4
==4242==    at 0x4C1D2F0: copas_lua::copas_core::hot::step (hot.rs:121)
==4242== 
==4242== ERROR SUMMARY: 2 errors from 2 contexts (suppressed: 5 from 1)
";

    #[test]
    fn reads_the_count_and_the_first_error() {
        let report = Report::parse(LOG);
        assert_eq!(report.errors, Some(2));
        assert_eq!(
            report.summary_line.as_deref(),
            Some("ERROR SUMMARY: 2 errors from 2 contexts (suppressed: 5 from 1)")
        );
        let first = report.first_error.unwrap();
        assert!(first.starts_with("Invalid read of size 8\n   at 0x4C1D2E0: copas_lua"));
        assert!(first.ends_with("free'd"));
    }

    #[test]
    fn a_clean_log_has_no_error() {
        let report = Report::parse(
            "==7== Command: lua5.4 x.lua\n==7== \n==7== ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 3 from 3)\n",
        );
        assert_eq!((report.errors, report.first_error), (Some(0), None));
        assert_eq!(Report::parse("").errors, None);
    }

    #[test]
    fn only_pid_prefixes_are_stripped() {
        assert_eq!(strip_pid("==12== at x"), "at x");
        assert_eq!(strip_pid("==12=="), "");
        assert_eq!(strip_pid("== not a pid =="), "== not a pid ==");
        assert_eq!(strip_pid("plain"), "plain");
    }

    #[test]
    fn skipped_files_exist() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-tests");
        for (name, _) in SKIPPED {
            assert!(dir.join(name).is_file(), "{name}");
        }
    }
}

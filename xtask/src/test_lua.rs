//! `cargo xtask test-lua`: every lua-tests/*.lua on the runner and the stock interpreters.
//!
//! Each file is a standalone script ending in the harness's `N passed, N failed` line.
//! The interpreters see only our modules: LUA_PATH holds the harness alone and
//! LUA_CPATH our module directory alone, so a system LuaSocket can never answer.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::certs;
use crate::child::{self, Finished};
use crate::lua::{Interpreter, LuaVersion};
use crate::module::{self, Profile};
use crate::workspace::{self, find_program, Workspace};
use crate::Result;

const TIME_LIMIT: Duration = Duration::from_secs(120);
const FILES_AT_ONCE: usize = 2;
pub(crate) const TESTS_DIR: &str = "lua-tests";
const LUA_PATH: &str = "lua-tests/support/?.lua";
/// Variables through which an interpreter would find other modules or run other code.
const LUA_VARIABLES: [&str; 3] = ["LUA_PATH", "LUA_CPATH", "LUA_INIT"];

pub(crate) fn command(args: &[String]) -> Result {
    let mut interpreters = None;
    let mut filter = None;
    let mut wine = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--lua" => {
                let list = args
                    .next()
                    .ok_or("--lua needs a list such as runner,lua54")?;
                interpreters = Some(Interpreter::parse_list(list)?);
            }
            "--wine" => wine = true,
            option if option.starts_with('-') => {
                return Err(format!("test-lua: unknown option '{option}'").into());
            }
            name if filter.is_none() => filter = Some(name.to_owned()),
            extra => return Err(format!("test-lua: unexpected argument '{extra}'").into()),
        }
    }
    if wine {
        if interpreters.is_some_and(|list: Vec<Interpreter>| list != [Interpreter::Runner]) {
            return Err("test-lua: --wine runs the runner only (--lua runner)".into());
        }
        return crate::wine::run(&Workspace::locate()?, filter.as_deref());
    }
    let interpreters = interpreters.unwrap_or_else(Interpreter::available);
    run(&Workspace::locate()?, &interpreters, filter.as_deref())
}

/// Builds what `interpreters` need, runs the test files whose name contains `filter`,
/// and fails unless every test ran and passed.
pub(crate) fn run(
    workspace: &Workspace,
    interpreters: &[Interpreter],
    filter: Option<&str>,
) -> Result {
    let files = test_files(&workspace.root.join(TESTS_DIR), filter)?;
    if files.is_empty() {
        return Err(format!("no {TESTS_DIR}/*.lua matches '{}'", filter.unwrap_or("")).into());
    }

    // Every interpreter needs the runner: the runner_*.lua files start it.
    build_runner(workspace)?;
    let mut setups = Vec::new();
    for &interpreter in interpreters {
        setups.push(prepare(workspace, interpreter, Profile::Debug)?);
    }
    run_setups(&mut setups, &files)
}

/// Runs every file on every setup, with fresh certificates; fails unless every test
/// ran and passed.
pub(crate) fn run_setups(setups: &mut [Setup<'_>], files: &[PathBuf]) -> Result {
    let Some(workspace) = setups.first().map(|setup| setup.workspace) else {
        return Err("no interpreter to run the tests on".into());
    };
    let certs = generate_certs(workspace)?;
    for setup in setups.iter_mut() {
        setup.certs.clone_from(&certs);
    }
    let jobs: Vec<Job> = setups
        .iter()
        .flat_map(|setup| files.iter().map(move |file| Job { setup, file }))
        .collect();
    raise_open_file_limit();

    let mut total = Tally::default();
    let mut broken = Vec::new();
    let run = |job: &Job<'_>| Outcome::of(child::run(job.command(), TIME_LIMIT), TIME_LIMIT);
    run_jobs(&jobs, FILES_AT_ONCE, run, |job, outcome| {
        total.add(outcome.tally());
        let problem = outcome.problem();
        println!(
            "{}",
            file_line(
                job.setup.interpreter,
                job.file,
                problem.is_some(),
                &outcome.shown(),
                outcome.elapsed()
            )
        );
        if let Some(problem) = problem {
            print_indented(&outcome.details());
            println!("      reproduce: {}", shell_line(&job.command()));
            broken.push(format!(
                "{} {}: {problem}",
                job.setup.interpreter,
                file_name(job.file)
            ));
        }
    });

    // After a failure they stay, for the "reproduce" command lines printed above.
    if broken.is_empty() {
        let _ = fs::remove_dir_all(&certs);
    }
    println!();
    for problem in &broken {
        println!("failed: {problem}");
    }
    println!("{total}");
    if !broken.is_empty() {
        return Err(format!("{} of {} test files failed", broken.len(), jobs.len()).into());
    }
    if total.passed == 0 {
        return Err("no test ran".into());
    }
    Ok(())
}

/// What starts the test files (and other Lua scripts of ours) on one interpreter.
pub(crate) struct Setup<'a> {
    workspace: &'a Workspace,
    pub(crate) interpreter: Interpreter,
    program: PathBuf,
    /// LUA_CPATH: our module directory for a stock interpreter, nothing for the runner
    /// (its modules are preloaded).
    cpath: String,
    /// A program (with its arguments) that starts `program`, such as Wine.
    pub(crate) wrapper: Vec<OsString>,
    /// COPAS_TEST_CERTS: the certificates generated for this run.
    certs: PathBuf,
}

impl Setup<'_> {
    /// Runs `file` (relative to the root) in the root, seeing only our modules.
    pub(crate) fn command(&self, file: &Path) -> Command {
        self.command_under(&self.wrapper, file)
    }

    /// Like [`Setup::command`], with the interpreter started by `wrapper` (a program and
    /// its arguments, such as valgrind's): the wrapper's children see the same environment.
    pub(crate) fn command_under(&self, wrapper: &[OsString], file: &Path) -> Command {
        let root = &self.workspace.root;
        let mut words = wrapper.iter().map(OsString::as_os_str);
        let mut command = Command::new(words.next().unwrap_or(self.program.as_os_str()));
        command.args(words);
        if !wrapper.is_empty() {
            command.arg(&self.program);
        }
        command.arg(file.strip_prefix(root).unwrap_or(file));
        self.environment(&mut command, root, LUA_PATH);
        command
    }

    /// The interpreter, started in `dir` with `lua_path` as LUA_PATH and this setup's
    /// LUA_CPATH; every other variable that could bring in other modules is removed.
    pub(crate) fn lua(&self, dir: &Path, lua_path: &str) -> Command {
        let mut command = Command::new(&self.program);
        self.environment(&mut command, dir, lua_path);
        command
    }

    fn environment(&self, command: &mut Command, dir: &Path, lua_path: &str) {
        command.current_dir(dir);
        for (name, _) in std::env::vars_os() {
            let lua_variable = name
                .to_str()
                .is_some_and(|name| LUA_VARIABLES.iter().any(|v| name.starts_with(v)));
            if lua_variable {
                command.env_remove(name);
            }
        }
        command
            .env("LUA_PATH", lua_path)
            .env("LUA_CPATH", &self.cpath)
            .env("COPAS_RUNNER", self.workspace.runner())
            .env("COPAS_TEST_CERTS", &self.certs);
    }

    /// Gives the files the certificates of [`generate_certs`] as COPAS_TEST_CERTS.
    pub(crate) fn use_certs(&mut self, dir: &Path) {
        dir.clone_into(&mut self.certs);
    }
}

/// A stock interpreter with the modules installed on the system (the default
/// LUA_CPATH), to compare our modules with the real LuaSocket and LuaSec.
pub(crate) fn system(workspace: &Workspace, version: LuaVersion) -> Result<Setup<'_>> {
    if find_program(version.program()).is_none() {
        return Err(format!("{} is not on PATH", version.program()).into());
    }
    Ok(Setup {
        workspace,
        interpreter: Interpreter::Stock(version),
        program: PathBuf::from(version.program()),
        cpath: ";;".into(),
        wrapper: Vec::new(),
        certs: PathBuf::new(),
    })
}

/// How to run files on `interpreter`; for a stock one, builds the module it loads with
/// `profile` (the runner is always the debug one).
pub(crate) fn prepare(
    workspace: &Workspace,
    interpreter: Interpreter,
    profile: Profile,
) -> Result<Setup<'_>> {
    let (program, cpath) = match interpreter {
        Interpreter::Runner => (workspace.runner(), String::new()),
        Interpreter::Stock(version) => {
            if find_program(version.program()).is_none() {
                return Err(format!("{} is not on PATH", version.program()).into());
            }
            let installed = module::build(workspace, version, profile)?;
            let cpath = format!("{}/?.so", installed.dir.display());
            (PathBuf::from(version.program()), cpath)
        }
    };
    Ok(Setup {
        workspace,
        interpreter,
        program,
        cpath,
        wrapper: Vec::new(),
        certs: PathBuf::new(),
    })
}

/// The runner `program` started by `wrapper` (Wine for the Windows runner).
pub(crate) fn wrapped_runner(
    workspace: &Workspace,
    program: PathBuf,
    wrapper: Vec<OsString>,
) -> Setup<'_> {
    Setup {
        workspace,
        interpreter: Interpreter::Runner,
        program,
        cpath: String::new(),
        wrapper,
        certs: PathBuf::new(),
    }
}

/// Builds the debug runner, which COPAS_RUNNER names for the files that start it.
pub(crate) fn build_runner(workspace: &Workspace) -> Result {
    println!("building the runner");
    let mut cargo = workspace.cargo();
    cargo.args(["build", "--quiet", "-p", "copas-lua", "--bin", "copas"]);
    workspace::run(cargo)
}

/// Writes a fresh set of test certificates for this run, in a directory of its own so
/// that concurrent runs do not overwrite each other's.
pub(crate) fn generate_certs(workspace: &Workspace) -> Result<PathBuf> {
    let certs = workspace
        .target
        .join("test-certs")
        .join(std::process::id().to_string());
    certs::generate(&certs)?;
    Ok(certs)
}

/// Raises the open-file limit the files inherit; without it only the tests that open
/// thousands of sockets fail, so it is worth a warning rather than the run.
pub(crate) fn raise_open_file_limit() {
    if let Err(error) = child::raise_open_file_limit() {
        eprintln!("warning: cannot raise the open file limit: {error}");
    }
}

/// The lua-tests/*.lua files whose name contains `filter`, sorted.
pub(crate) fn test_files(dir: &Path, filter: Option<&str>) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_test = path.is_file() && path.extension() == Some(OsStr::new("lua"));
        if is_test && filter.is_none_or(|filter| file_name(&path).contains(filter)) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

pub(crate) fn file_name(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
}

struct Job<'a> {
    setup: &'a Setup<'a>,
    file: &'a Path,
}

impl Job<'_> {
    fn command(&self) -> Command {
        self.setup.command(self.file)
    }
}

/// `command` as a shell line, to rerun a failure by hand.
pub(crate) fn shell_line(command: &Command) -> String {
    let (set, unset): (Vec<_>, Vec<_>) = command.get_envs().partition(|(_, value)| value.is_some());
    let unset = unset
        .into_iter()
        .map(|(name, _)| format!("-u {}", name.display()));
    let set = set
        .into_iter()
        .filter_map(|(name, value)| Some(format!("{}='{}'", name.display(), value?.display())));
    let words = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| word.display().to_string());
    std::iter::once("env".to_owned())
        .chain(unset)
        .chain(set)
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `run` on every job, `at_once` at a time, and reports each outcome in job order.
pub(crate) fn run_jobs<J: Sync, O: Send>(
    jobs: &[J],
    at_once: usize,
    run: impl Fn(&J) -> O + Sync,
    mut report: impl FnMut(&J, &O),
) {
    let next = AtomicUsize::new(0);
    let (results, outcomes) = mpsc::channel();
    thread::scope(|scope| {
        for _ in 0..at_once.clamp(1, jobs.len().max(1)) {
            let results = results.clone();
            let (next, run) = (&next, &run);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(index) else { break };
                if results.send((index, run(job))).is_err() {
                    break;
                }
            });
        }
        drop(results);

        let mut waiting = BTreeMap::new();
        let mut reported = 0;
        for (index, outcome) in outcomes {
            waiting.insert(index, outcome);
            while let Some(outcome) = waiting.remove(&reported) {
                report(&jobs[reported], &outcome);
                reported += 1;
            }
        }
    });
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
}

impl fmt::Display for Tally {
    /// The harness's own summary format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

impl Tally {
    pub(crate) fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

/// How one test file went.
pub(crate) struct Outcome {
    pub(crate) run: std::io::Result<Finished>,
    /// The file's own `N passed, N failed` line, if it printed one.
    pub(crate) summary: Option<Tally>,
    /// The time limit it ran under, for the message when it was killed.
    limit: Duration,
}

impl Outcome {
    pub(crate) fn of(run: std::io::Result<Finished>, limit: Duration) -> Outcome {
        let summary = run.as_ref().ok().and_then(|done| summary(&done.stdout));
        Outcome {
            run,
            summary,
            limit,
        }
    }

    /// Why the file counts as failed, if it does.
    pub(crate) fn problem(&self) -> Option<String> {
        let done = match &self.run {
            Ok(done) => done,
            Err(error) => return Some(format!("could not start: {error}")),
        };
        if done.timed_out {
            return Some(format!("killed after {} s", self.limit.as_secs()));
        }
        match self.summary {
            None => Some(format!("no 'N passed, N failed' line ({})", done.status)),
            Some(summary) if summary.failed > 0 => Some(format!("{} failed", summary.failed)),
            Some(_) if !done.status.success() => Some(format!("{}", done.status)),
            Some(_) => None,
        }
    }

    /// The file's counts for the grand total; a file that broke down without counting a
    /// failure itself counts as one failure.
    fn tally(&self) -> Tally {
        let mut tally = self.summary.unwrap_or_default();
        if tally.failed == 0 && self.problem().is_some() {
            tally.failed = 1;
        }
        tally
    }

    /// What [`file_line`] shows: the counts, or what went wrong when the file never
    /// counted a failure itself.
    pub(crate) fn shown(&self) -> String {
        match (self.summary, self.problem()) {
            (Some(summary), _) if summary.failed > 0 => summary.to_string(),
            (_, Some(problem)) => problem,
            (summary, None) => summary.map(|s| s.to_string()).unwrap_or_default(),
        }
    }

    pub(crate) fn elapsed(&self) -> Option<Duration> {
        self.run.as_ref().ok().map(|done| done.elapsed)
    }

    /// What a failed file wrote to stderr, and stdout too when it never summed up.
    pub(crate) fn details(&self) -> String {
        let Ok(done) = &self.run else {
            return String::new();
        };
        if self.summary.is_none() && !done.stdout.is_empty() {
            format!("{}{}", done.stdout, done.stderr)
        } else {
            done.stderr.clone()
        }
    }
}

/// One line per file: verdict, interpreter, file, then `shown` (the counts, or what went
/// wrong) and the time it took.
pub(crate) fn file_line(
    interpreter: Interpreter,
    file: &Path,
    failed: bool,
    shown: &str,
    elapsed: Option<Duration>,
) -> String {
    let verdict = if failed { "FAIL" } else { "ok" };
    let elapsed = elapsed
        .map(|elapsed| format!("  ({:.1} s)", elapsed.as_secs_f64()))
        .unwrap_or_default();
    format!(
        "{verdict:<4}  {:<7} {:<28} {shown}{elapsed}",
        interpreter.to_string(),
        file_name(file)
    )
}

pub(crate) fn print_indented(text: &str) {
    for line in text.lines() {
        println!("      | {line}");
    }
}

/// The last `N passed, N failed` line of a test file's output.
fn summary(stdout: &str) -> Option<Tally> {
    stdout.lines().rev().find_map(|line| {
        let (passed, rest) = line.trim_end().split_once(" passed, ")?;
        let failed = rest.strip_suffix(" failed")?;
        Some(Tally {
            passed: passed.parse().ok()?,
            failed: failed.parse().ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_summary_line() {
        let out = "1 passed, 9 failed\nnoise\n12 passed, 3 failed\nmore noise\n";
        assert_eq!(
            summary(out),
            Some(Tally {
                passed: 12,
                failed: 3
            })
        );
        assert_eq!(summary("0 passed, 0 failed\r\n"), Some(Tally::default()));
    }

    #[test]
    fn ignores_lines_that_only_look_like_a_summary() {
        assert_eq!(summary(""), None);
        assert_eq!(summary("x passed, 1 failed\n"), None);
        assert_eq!(summary("1 passed, 1 failed later\n"), None);
        assert_eq!(summary("FAIL t: 1 passed, 2 failed\n"), None);
    }
}

//! `cargo xtask test-upstream`: the test suites of Copas (`tests/`) and LuaSocket
//! (`test/`), from checkouts the user fetched, run unmodified on our modules.
//!
//! Nothing of theirs is kept in this repository: each run copies the suites into
//! target/upstream/, makes the few loopback adaptations listed in `TESTS` there (and
//! prints each), and runs the scripts one at a time, since several use fixed ports.
//! A script that fails on our modules only because of a documented difference (host
//! name verification) is reported as that difference and judged by a second run that
//! asks for the original's behaviour (`Difference`).
//! `--modules DIRS` adds directories of Lua modules the tests need besides ours
//! (coxpcall, for Copas's tls-sni test on Lua 5.1). With `--real` the same runs use
//! the system's LuaSocket and LuaSec with the checkout's own Copas instead, for
//! comparison.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{self, Finished};
use crate::lua::{Interpreter, LuaVersion};
use crate::module::Profile;
use crate::test_lua::{self, Setup};
use crate::workspace::{self, find_program, Workspace};
use crate::Result;

const TIME_LIMIT: Duration = Duration::from_secs(120);
/// How long a companion server may take to start listening.
const LISTEN_LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Suite {
    Copas,
    LuaSocket,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Copas => "copas",
            Suite::LuaSocket => "luasocket",
        }
    }

    /// The suite's directory in a checkout; scripts run from the checkout's root
    /// (Copas) or from this directory (LuaSocket), as their own makefiles do.
    fn dir(self) -> &'static str {
        match self {
            Suite::Copas => "tests",
            Suite::LuaSocket => "test",
        }
    }
}

/// When a script counts as passed. Besides its own exit status, some only say so in
/// their output: LuaSocket's scripts report a failure and still exit with 0.
#[derive(Clone, Copy)]
enum Verdict {
    ExitZero,
    /// Exit status 0 and this text in the output.
    Prints(&'static str),
    /// Exit status 0, the first text in the output and the second nowhere.
    PrintsNot(&'static str, &'static str),
}

/// A text replacement made in the copy of a script before it runs.
struct Adaptation {
    why: &'static str,
    find: &'static str,
    replace: &'static str,
}

struct UpstreamTest {
    suite: Suite,
    script: &'static str,
    verdict: Verdict,
    /// It uses the certificates of the suite's tests/certs/.
    certs: bool,
    /// Why it does not run here: it needs the internet, or is not a test.
    skip: Option<&'static str>,
    /// Why it fails with upstream's own Copas and LuaSocket; it still runs and counts,
    /// but its failure alone does not fail the command.
    broken: Option<&'static str>,
    /// A server script started first, listening on this port.
    server: Option<(&'static str, u16)>,
    adaptations: &'static [Adaptation],
    /// A documented difference of ours that the unmodified script trips over. On our
    /// modules a failure of the unmodified script is reported as this difference, and
    /// the script runs again with the adaptation that asks for the original's
    /// behaviour; that second run decides.
    differs: Option<&'static Difference>,
}

/// An expected difference of our modules, and how a program gets the original's
/// behaviour.
struct Difference {
    why: &'static str,
    /// Printed by a run that failed on this difference (and not on something else).
    sign: &'static str,
    adaptation: Adaptation,
}

/// Our TLS clients verify the host name; LuaSec checks the chain only. Copas's
/// certificates name no host, so its TLS clients fail here unless told
/// `verifyhost = false` (docs/tls.md).
const HOST_NAMES: Difference = Difference {
    why: "ours verifies host names by default (docs/tls.md), its certificates name no host",
    sign: "Hostname mismatch",
    adaptation: Adaptation {
        why: "client params: `verifyhost = false` added (check the chain only, as LuaSec)",
        find: r#"mode = "client","#,
        replace: r#"mode = "client", verifyhost = false,"#,
    },
};

const fn test(suite: Suite, script: &'static str, verdict: Verdict) -> UpstreamTest {
    UpstreamTest {
        suite,
        script,
        verdict,
        certs: false,
        skip: None,
        broken: None,
        server: None,
        adaptations: &[],
        differs: None,
    }
}

const fn copas(script: &'static str) -> UpstreamTest {
    test(Suite::Copas, script, Verdict::ExitZero)
}

const fn luasocket(script: &'static str, verdict: Verdict) -> UpstreamTest {
    test(Suite::LuaSocket, script, verdict)
}

const fn skipped(mut test: UpstreamTest, why: &'static str) -> UpstreamTest {
    test.skip = Some(why);
    test
}

const INTERNET: &str = "needs the internet";

/// testclnt.lua's connect timeout target, 10.0.0.1:81, stands for an address that
/// never answers; off a network it fails at once instead. A loopback listener with a
/// backlog of 0 whose queue has been filled drops further SYNs, so connecting to it
/// times out the same way, offline.
const BLACKHOLE: Adaptation = Adaptation {
    why: "connect timeout: 10.0.0.1:81 replaced by a loopback listener whose full queue drops SYNs",
    find: r#"local r, e = c:connect("10.0.0.1", 81)"#,
    replace: "local hole = assert(socket.bind(\"127.0.0.1\", 0, 0)); \
        local hole_ip, hole_port = hole:getsockname(); local queued = {}; \
        for _ = 1, 16 do local q = socket.tcp(); q:settimeout(0.1); \
        if not q:connect(hole_ip, hole_port) then q:close(); break end; \
        queued[#queued + 1] = q end; \
        local r, e = c:connect(hole_ip, hole_port)",
};

/// The lookup of host.is.invalid would ask the system's resolver, off this machine.
const NO_LOOKUP: Adaptation = Adaptation {
    why: "host not found: the lookup of host.is.invalid skipped (it would query DNS servers)",
    find: r#"local c, e = socket.connect("host.is.invalid", 1);"#,
    replace: r#"local c, e = nil, "host.is.invalid: lookup skipped";"#,
};

const TESTS: &[UpstreamTest] = &[
    UpstreamTest {
        broken: Some("its server socket is bound but never listens: LuaSocket's accept raises"),
        ..copas("cancelall.lua")
    },
    copas("close.lua"),
    skipped(copas("connecttwice.lua"), INTERNET),
    copas("errhandlers.lua"),
    copas("exit.lua"),
    copas("exittest.lua"),
    copas("future.lua"),
    copas("http-timeout.lua"),
    skipped(copas("httpredirect.lua"), INTERNET),
    UpstreamTest {
        certs: true,
        differs: Some(&HOST_NAMES),
        ..copas("largetransfer.lua")
    },
    copas("lock.lua"),
    copas("loop_starter.lua"),
    copas("no_luasocket.lua"),
    copas("pause.lua"),
    copas("queue.lua"),
    copas("removeserver.lua"),
    copas("removethread.lua"),
    skipped(copas("request.lua"), INTERNET),
    copas("semaphore.lua"),
    copas("starve.lua"),
    copas("tcptimeout.lua"),
    copas("timeout_errors.lua"),
    copas("timer.lua"),
    UpstreamTest {
        certs: true,
        differs: Some(&HOST_NAMES),
        ..copas("tls-sni.lua")
    },
    copas("udptimeout.lua"),
    luasocket("excepttest.lua", Verdict::Prints("OK")),
    luasocket("hello.lua", Verdict::Prints("Hello from LuaSocket")),
    luasocket("ltn12test.lua", Verdict::ExitZero),
    luasocket("mimetest.lua", Verdict::Prints("done in")),
    luasocket("stufftest.lua", Verdict::ExitZero),
    luasocket("test_bind.lua", Verdict::Prints("done!")),
    luasocket("test_getaddrinfo.lua", Verdict::Prints("done!")),
    luasocket("test_socket_error.lua", Verdict::ExitZero),
    UpstreamTest {
        server: Some(("testsrvr.lua", 8383)),
        adaptations: &[BLACKHOLE, NO_LOOKUP],
        ..luasocket("testclnt.lua", Verdict::PrintsNot("done in", "ERROR:"))
    },
    luasocket("udp-zero-length-send-recv", Verdict::Prints("ok")),
    luasocket(
        "urltest.lua",
        Verdict::Prints("the library passed all tests"),
    ),
    skipped(
        luasocket("dicttest.lua", Verdict::ExitZero),
        "needs a DICT server",
    ),
    skipped(luasocket("ftptest.lua", Verdict::ExitZero), INTERNET),
    skipped(luasocket("httptest.lua", Verdict::ExitZero), INTERNET),
    skipped(
        luasocket("smtptest.lua", Verdict::ExitZero),
        "needs an SMTP server",
    ),
    skipped(
        luasocket("tftptest.lua", Verdict::ExitZero),
        "needs a TFTP server",
    ),
    skipped(
        luasocket("tcp-getoptions", Verdict::ExitZero),
        "a demonstration: prints options, checks nothing",
    ),
    skipped(
        luasocket("udp-zero-length-send", Verdict::ExitZero),
        "a demonstration: prints OK or FAIL, checks nothing",
    ),
    skipped(
        luasocket("udpconnectsrvr.lua", Verdict::ExitZero),
        "a manual pair with udpconnectclnt.lua (fixed ports, sleeps, no checks)",
    ),
    skipped(
        luasocket("unixstreamsrvr.lua", Verdict::ExitZero),
        "interactive: unixstreamclnt.lua sends what it reads from the terminal",
    ),
    skipped(
        luasocket("unixdgramsrvr.lua", Verdict::ExitZero),
        "interactive: unixdgramclnt.lua sends what it reads from the terminal",
    ),
    skipped(
        luasocket("utestclnt.lua", Verdict::ExitZero),
        "testclnt.lua for socket.unix, whose server utestsrvr.lua is out of date",
    ),
];

fn report(setup: &Setup<'_>, test: &UpstreamTest, result: &TestResult) {
    println!(
        "{:<4}  {:<7} {:<36} {}",
        result.verdict(),
        setup.interpreter.to_string(),
        format!("{}/{}", test.suite.name(), test.script),
        result.note()
    );
    if let Outcome::Failed { details, .. } = &result.outcome {
        for line in details.lines() {
            println!("      | {line}");
        }
        if let Some(command) = &result.command {
            println!("      reproduce: {command}");
        }
    }
}

/// Where the modules under test come from.
#[derive(PartialEq, Eq)]
enum Stack {
    Ours,
    /// The system's LuaSocket and LuaSec with the checkout's Copas (src/).
    Real,
}

struct Options {
    copas: Option<PathBuf>,
    luasocket: Option<PathBuf>,
    interpreters: Option<Vec<Interpreter>>,
    stack: Stack,
    /// Directories of further Lua modules, searched after ours.
    modules: Vec<PathBuf>,
    filter: Option<String>,
}

pub(crate) fn command(args: &[String]) -> Result {
    let options = parse(args)?;
    let workspace = Workspace::locate()?;
    let interpreters = match (&options.interpreters, &options.stack) {
        (Some(list), _) => list.clone(),
        (None, Stack::Ours) => Interpreter::available(),
        (None, Stack::Real) => LuaVersion::installed()
            .into_iter()
            .map(Interpreter::Stock)
            .collect(),
    };
    let mut setups = Vec::new();
    match &options.stack {
        Stack::Ours => {
            println!("building the runner");
            let mut cargo = workspace.cargo();
            cargo.args(["build", "--quiet", "-p", "copas-lua", "--bin", "copas"]);
            workspace::run(cargo)?;
            for &interpreter in &interpreters {
                setups.push(test_lua::prepare(&workspace, interpreter, Profile::Debug)?);
            }
        }
        Stack::Real => {
            for &interpreter in &interpreters {
                let Interpreter::Stock(version) = interpreter else {
                    return Err("--real runs on stock interpreters only".into());
                };
                setups.push(test_lua::system(&workspace, version)?);
            }
        }
    }
    if let Err(error) = child::raise_open_file_limit() {
        eprintln!("warning: cannot raise the open file limit: {error}");
    }

    let work = workspace
        .target
        .join("upstream")
        .join(std::process::id().to_string());
    let mut tally = Tally::default();
    let mut unexpected = Vec::new();
    for setup in &setups {
        let dir = work.join(setup.interpreter.to_string());
        let run = Run::prepare(&options, setup, &dir)?;
        for test in TESTS {
            let wanted = options
                .filter
                .as_deref()
                .is_none_or(|filter| test.script.contains(filter));
            if !wanted || run.root(test.suite).is_none() {
                continue;
            }
            let mut result = run.test(test, None);
            let difference = test.differs.filter(|_| options.stack == Stack::Ours);
            let on_difference = difference.filter(|d| result.output.contains(d.sign));
            if let (Some(difference), Outcome::Failed { problem, details }) =
                (on_difference, &result.outcome)
            {
                println!(
                    "diff  {:<7} {:<36} expected difference: {} ({problem})",
                    setup.interpreter.to_string(),
                    format!("{}/{}", test.suite.name(), test.script),
                    difference.why,
                );
                for line in details
                    .lines()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    println!("      | {line}");
                }
                tally.differences += 1;
                result = run.test(test, Some(&difference.adaptation));
            }
            report(setup, test, &result);
            tally.add(&result);
            if result.unexpected() {
                unexpected.push(format!("{} {}", setup.interpreter, test.script));
            }
        }
    }
    // After a failure the copies stay, for the "reproduce" lines printed above.
    if unexpected.is_empty() {
        let _ = fs::remove_dir_all(&work);
    }
    println!();
    if tally.skipped > 0 {
        println!("{} skipped", tally.skipped);
    }
    if tally.broken > 0 {
        println!(
            "{} of the failures are tests that fail with upstream's own Copas and LuaSocket too",
            tally.broken
        );
    }
    if tally.differences > 0 {
        println!(
            "{} of the runs failed on a documented difference of ours ('diff' above) and were \
             judged again with the original's behaviour asked for",
            tally.differences
        );
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if !unexpected.is_empty() {
        return Err(format!("failed: {}", unexpected.join(", ")).into());
    }
    if tally.passed == 0 {
        return Err("no test ran".into());
    }
    Ok(())
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        copas: None,
        luasocket: None,
        interpreters: None,
        stack: Stack::Ours,
        modules: Vec::new(),
        filter: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("test-upstream: {arg} needs {what}"))
        };
        match arg.as_str() {
            "--copas" => options.copas = Some(value("a Copas checkout")?.into()),
            "--luasocket" => options.luasocket = Some(value("a LuaSocket checkout")?.into()),
            "--lua" => {
                options.interpreters = Some(Interpreter::parse_list(&value("a list")?)?);
            }
            "--modules" => {
                let dirs = value("':'-separated directories")?;
                options.modules = std::env::split_paths(&dirs).collect();
            }
            "--real" => options.stack = Stack::Real,
            option if option.starts_with('-') => {
                return Err(format!("test-upstream: unknown option '{option}'").into());
            }
            name if options.filter.is_none() => options.filter = Some(name.to_owned()),
            extra => {
                return Err(format!("test-upstream: unexpected argument '{extra}'").into());
            }
        }
    }
    if options.copas.is_none() && options.luasocket.is_none() {
        return Err(
            "test-upstream: name a checkout with --copas DIR and/or --luasocket DIR".into(),
        );
    }
    if options.stack == Stack::Real && options.copas.is_none() {
        return Err("test-upstream: --real takes Copas from the --copas checkout".into());
    }
    for dir in [&options.copas, &options.luasocket].into_iter().flatten() {
        if !dir.is_dir() {
            return Err(format!("test-upstream: {} is not a directory", dir.display()).into());
        }
    }
    Ok(options)
}

/// One interpreter's run: fresh copies of the suites, and how to start a script.
struct Run<'a> {
    setup: &'a Setup<'a>,
    /// The copies: the checkout's root for Copas, test/ for LuaSocket.
    copas: Option<PathBuf>,
    luasocket: Option<PathBuf>,
    lua_path: String,
    /// Why tls-sni.lua cannot run, when its certificates could not be made.
    no_certs: Option<String>,
}

impl<'a> Run<'a> {
    fn prepare(options: &Options, setup: &'a Setup<'a>, dir: &Path) -> Result<Run<'a>> {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        let mut copas = None;
        let mut no_certs = None;
        if let Some(checkout) = &options.copas {
            let root = dir.join("copas");
            copy_dir(
                &checkout.join(Suite::Copas.dir()),
                &root.join(Suite::Copas.dir()),
            )?;
            no_certs = make_certs(&root.join("tests").join("certs")).err();
            copas = Some(root);
        }
        let mut luasocket = None;
        if let Some(checkout) = &options.luasocket {
            let root = dir.join("luasocket").join(Suite::LuaSocket.dir());
            copy_dir(&checkout.join(Suite::LuaSocket.dir()), &root)?;
            luasocket = Some(root);
        }
        // With the real stack, the checkout's Copas comes first and the system's
        // modules last (";;"). Then the scripts' own directory, for what they load from
        // it, and the further modules.
        let copas_src = match options.stack {
            Stack::Ours => None,
            Stack::Real => options.copas.as_ref().map(|checkout| checkout.join("src")),
        };
        let mut lua_path = String::new();
        if let Some(src) = copas_src {
            lua_path.push_str(&search_dir(&src)?);
            lua_path.push(';');
        }
        lua_path.push_str("./?.lua");
        for dir in &options.modules {
            lua_path.push(';');
            lua_path.push_str(&search_dir(dir)?);
        }
        if options.stack == Stack::Real {
            lua_path.push_str(";;");
        }
        Ok(Run {
            setup,
            copas,
            luasocket,
            lua_path,
            no_certs,
        })
    }

    /// Where `suite`'s scripts run, if its checkout was given.
    fn root(&self, suite: Suite) -> Option<&Path> {
        match suite {
            Suite::Copas => self.copas.as_deref(),
            Suite::LuaSocket => self.luasocket.as_deref(),
        }
    }

    fn script_command(&self, suite: Suite, script: &str) -> Option<Command> {
        let root = self.root(suite)?;
        let mut command = self.setup.lua(root, &self.lua_path);
        match suite {
            Suite::Copas => command.arg(Path::new(suite.dir()).join(script)),
            Suite::LuaSocket => command.arg(script),
        };
        Some(command)
    }

    /// Runs `test`; with `difference`, again on the copy its first run adapted, with
    /// that adaptation made too.
    fn test(&self, test: &UpstreamTest, difference: Option<&Adaptation>) -> TestResult {
        let mut result = TestResult {
            broken: test.broken,
            command: None,
            outcome: Outcome::Passed,
            elapsed: None,
            output: String::new(),
        };
        if let Some(why) = test.skip {
            result.outcome = Outcome::Skipped(why.to_owned());
            return result;
        }
        if test.certs {
            if let Some(why) = &self.no_certs {
                result.outcome = Outcome::Skipped(format!("no certificates: {why}"));
                return result;
            }
        }
        let Some(root) = self.root(test.suite) else {
            return result;
        };
        let script_dir = match test.suite {
            Suite::Copas => root.join(test.suite.dir()),
            Suite::LuaSocket => root.to_path_buf(),
        };
        let adaptations = match difference {
            Some(adaptation) => std::slice::from_ref(adaptation),
            None => test.adaptations,
        };
        for adaptation in adaptations {
            if let Err(error) = adapt(&script_dir.join(test.script), adaptation) {
                result.outcome = Outcome::failed("adaptation", error.to_string());
                return result;
            }
            println!("      adapted {}: {}", test.script, adaptation.why);
        }
        let server = match test.server {
            Some((script, port)) => match self.start_server(test.suite, script, port) {
                Ok(server) => Some(server),
                Err(error) => {
                    result.outcome = Outcome::failed("server", error.to_string());
                    return result;
                }
            },
            None => None,
        };
        let Some(command) = self.script_command(test.suite, test.script) else {
            return result;
        };
        result.command = Some(format!(
            "cd {} && {}",
            root.display(),
            test_lua::shell_line(&command)
        ));
        let run = child::run(command, TIME_LIMIT);
        if let Some(server) = server {
            stop(server);
        }
        match run {
            Ok(done) => {
                result.elapsed = Some(done.elapsed);
                result.outcome = judge(test.verdict, &done);
                result.output = format!("{}{}", done.stdout, done.stderr);
            }
            Err(error) => result.outcome = Outcome::failed("could not start", error.to_string()),
        }
        result
    }

    /// Starts `script` in the background and waits until something listens on `port`.
    fn start_server(&self, suite: Suite, script: &str, port: u16) -> Result<Child> {
        let mut command = self
            .script_command(suite, script)
            .ok_or("no checkout for the server")?;
        let mut server = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let started = Instant::now();
        // Looking in /proc rather than connecting: a probe connection would be the
        // first the server accepts, and taken for the client's.
        while !listening(port)? {
            if server.try_wait()?.is_some() {
                return Err(format!("{script} ended before it listened on port {port}").into());
            }
            if started.elapsed() >= LISTEN_LIMIT {
                stop(server);
                return Err(format!("{script} did not listen on port {port}").into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }
}

/// The LUA_PATH entries for the modules in `dir`, without a trailing ';'.
fn search_dir(dir: &Path) -> Result<String> {
    let dir = std::path::absolute(dir)?;
    Ok(format!("{0}/?.lua;{0}/?/init.lua", dir.display()))
}

/// Ends a background server and whatever it started.
fn stop(mut server: Child) {
    if let Ok(pid) = libc::pid_t::try_from(server.id()) {
        // SAFETY: kill() only sends a signal; `pid` leads the group made at spawn, and
        // the child is not reaped yet, so the id is still its own.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = server.wait();
}

/// Whether a TCP socket of this machine listens on `port` (IPv4 or IPv6).
fn listening(port: u16) -> io::Result<bool> {
    let wanted = format!(":{port:04X}");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match fs::read_to_string(table) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        // Each line: sl local_address rem_address st ...; state 0A is LISTEN.
        let found = text.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local = fields.next().unwrap_or("");
            let state = fields.nth(1).unwrap_or("");
            local.ends_with(&wanted) && state == "0A"
        });
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Replaces the adaptation's text in `file`, which must hold it exactly once.
fn adapt(file: &Path, adaptation: &Adaptation) -> Result {
    let text = fs::read_to_string(file)?;
    if text.matches(adaptation.find).count() != 1 {
        return Err(format!(
            "'{}' is not in {} exactly once: upstream changed, update xtask/src/upstream.rs",
            adaptation.find,
            file.display()
        )
        .into());
    }
    fs::write(file, text.replacen(adaptation.find, adaptation.replace, 1))?;
    Ok(())
}

/// Runs Copas's certificate scripts (openssl) in `dir`, as its makefile's `certs` does.
fn make_certs(dir: &Path) -> std::result::Result<(), String> {
    if find_program("openssl").is_none() {
        return Err("openssl is not on PATH".into());
    }
    for script in ["rootA", "rootB", "serverA", "serverB", "clientA", "clientB"] {
        let output = Command::new("sh")
            .arg(format!("./{script}.sh"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {script}.sh: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "{script}.sh failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result {
    if !from.is_dir() {
        return Err(format!("{} is not a directory", from.display()).into());
    }
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn judge(verdict: Verdict, done: &Finished) -> Outcome {
    let output = format!("{}{}", done.stdout, done.stderr);
    let problem = if done.timed_out {
        Some(format!("killed after {} s", TIME_LIMIT.as_secs()))
    } else if !done.status.success() {
        Some(done.status.to_string())
    } else {
        match verdict {
            Verdict::ExitZero => None,
            Verdict::Prints(text) if !output.contains(text) => {
                Some(format!("'{text}' not printed"))
            }
            Verdict::PrintsNot(text, _) if !output.contains(text) => {
                Some(format!("'{text}' not printed"))
            }
            Verdict::PrintsNot(_, bad) if output.contains(bad) => Some(format!("'{bad}' printed")),
            Verdict::Prints(_) | Verdict::PrintsNot(..) => None,
        }
    };
    match problem {
        None => Outcome::Passed,
        Some(problem) => Outcome::failed(&problem, tail(&output, 20)),
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

enum Outcome {
    Passed,
    Failed { problem: String, details: String },
    Skipped(String),
}

impl Outcome {
    fn failed(problem: &str, details: String) -> Outcome {
        Outcome::Failed {
            problem: problem.to_owned(),
            details,
        }
    }
}

struct TestResult {
    broken: Option<&'static str>,
    /// The command line that ran it, from its directory.
    command: Option<String>,
    outcome: Outcome,
    elapsed: Option<Duration>,
    /// What the script printed, stdout then stderr.
    output: String,
}

impl TestResult {
    fn verdict(&self) -> &'static str {
        match self.outcome {
            Outcome::Passed => "ok",
            Outcome::Failed { .. } => "FAIL",
            Outcome::Skipped(_) => "skip",
        }
    }

    fn note(&self) -> String {
        let elapsed = self
            .elapsed
            .map(|elapsed| format!("  ({:.1} s)", elapsed.as_secs_f64()))
            .unwrap_or_default();
        match &self.outcome {
            Outcome::Passed => elapsed.trim_start().to_owned(),
            Outcome::Skipped(why) => why.clone(),
            Outcome::Failed { problem, .. } => match self.broken {
                Some(why) => format!("{problem} (broken upstream: {why}){elapsed}"),
                None => format!("{problem}{elapsed}"),
            },
        }
    }

    /// A failure of a test that is not known to be broken upstream.
    fn unexpected(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. }) && self.broken.is_none()
    }
}

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    broken: u64,
    skipped: u64,
    /// Runs that failed on a documented difference (and ran again).
    differences: u64,
}

impl Tally {
    fn add(&mut self, result: &TestResult) {
        match result.outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Skipped(_) => self.skipped += 1,
            Outcome::Failed { .. } => {
                self.failed += 1;
                if result.broken.is_some() {
                    self.broken += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn every_test_is_listed_once() {
        let mut names: Vec<_> = TESTS
            .iter()
            .map(|test| (test.suite.name(), test.script))
            .collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn adaptations_replace_exactly_one_occurrence() {
        let dir = std::env::temp_dir().join(format!("xtask-adapt-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("script.lua");
        fs::write(&file, "a\nlocal r, e = c:connect(\"10.0.0.1\", 81)\nb\n").unwrap();
        adapt(&file, &BLACKHOLE).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("a\nlocal hole = ")
                && text.ends_with("c:connect(hole_ip, hole_port)\nb\n")
        );
        assert!(adapt(&file, &BLACKHOLE).is_err(), "the text is gone now");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_host_name_adaptation_asks_for_the_chain_only() {
        let dir = std::env::temp_dir().join(format!("xtask-hosts-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("script.lua");
        fs::write(&file, "local p = {\n  mode = \"client\",\n}\n").unwrap();
        adapt(&file, &HOST_NAMES.adaptation).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "local p = {\n  mode = \"client\", verifyhost = false,\n}\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn verdicts() {
        let done = |code: i32, out: &str| Finished {
            status: std::os::unix::process::ExitStatusExt::from_raw(code << 8),
            timed_out: false,
            stdout: out.to_owned(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
        };
        let passed = |outcome: Outcome| matches!(outcome, Outcome::Passed);
        assert!(passed(judge(Verdict::ExitZero, &done(0, ""))));
        assert!(!passed(judge(Verdict::ExitZero, &done(1, ""))));
        assert!(passed(judge(Verdict::Prints("ok"), &done(0, "all ok\n"))));
        assert!(!passed(judge(Verdict::Prints("ok"), &done(0, "fine\n"))));
        let client = Verdict::PrintsNot("done in", "ERROR:");
        assert!(passed(judge(client, &done(0, "done in 2s\n"))));
        assert!(!passed(judge(client, &done(0, "ERROR: x!\ndone in 2s\n"))));
    }

    #[test]
    fn listening_reads_proc() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening(port).unwrap());
        drop(listener);
        assert!(!listening(port).unwrap());
    }
}

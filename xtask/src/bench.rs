//! `cargo xtask bench`: the speed and memory benchmarks of issue #6, side by side.
//!
//! Runs the workloads in bench/lua/ (plain Copas API, so the same script runs on any
//! Copas) on each target: our runner, our module on stock lua5.4 and luajit, and the
//! original Copas when COPAS_ORIGINAL points at it; the echo scenarios also run against
//! `echo-ref` (bench/loadgen), a raw epoll server that sets the reference. Servers run
//! on core 0, the load generator and nginx on core 1. Prints one table of medians with
//! ratios and writes it to target/bench/results.{md,json}.
//!
//! Not part of `ci`: the figures depend on the machine, and nothing here asserts a speed.
//!
//! ```text
//! cargo xtask bench --quick --only echo-100,timers-10000 --targets runner,lua54
//! ```

mod json;
mod report;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::child;
use crate::lua::LuaVersion;
use crate::module::{self, Profile};
use crate::workspace::{self, find_program, Workspace};
use crate::Result;

use json::Value;

const LUA_DIR: &str = "bench/lua";
/// Client threads of the http and TLS scenarios.
const CLIENT_THREADS: usize = 10;
const SERVER_CORE: usize = 0;
const CLIENT_CORE: usize = 1;
/// Machine load (% of one core) under which a run may start.
pub(crate) const QUIET_LOAD: f64 = 15.0;

/// What a scenario does; its figures are the JSON the workload or the loadgen prints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    /// `conns` connections, each with `burst` 64-byte lines in flight.
    Echo { conns: usize, burst: usize },
    /// Server RSS growth per connection with `conns` idle connections open.
    IdleConns { conns: usize },
    /// `threads` threads looping `copas.sleep(0.01)`.
    Timers { threads: usize },
    /// `threads` threads added at once, each sleeping once.
    Spawn { threads: usize },
    /// copas.http requests against a local nginx by CLIENT_THREADS threads.
    Http { keep_alive: bool },
    /// TLS line echo between CLIENT_THREADS client threads and a server, one process.
    TlsEcho,
}

#[derive(Debug)]
pub(crate) struct Scenario {
    pub name: &'static str,
    pub kind: Kind,
}

pub(crate) const SCENARIOS: [Scenario; 13] = [
    echo("echo-10", 10, 1),
    echo("echo-100", 100, 1),
    echo("echo-1000", 1000, 1),
    echo("echo-5000", 5000, 1),
    echo("echo-10000", 10000, 1),
    echo("echo-100-b16", 100, 16),
    Scenario {
        name: "timers-1000",
        kind: Kind::Timers { threads: 1000 },
    },
    Scenario {
        name: "timers-10000",
        kind: Kind::Timers { threads: 10000 },
    },
    Scenario {
        name: "spawn-100k",
        kind: Kind::Spawn { threads: 100_000 },
    },
    // 1000: the original's select() cannot go much further (FD_SETSIZE 1024).
    Scenario {
        name: "idle-conns-1000",
        kind: Kind::IdleConns { conns: 1000 },
    },
    Scenario {
        name: "http-c10",
        kind: Kind::Http { keep_alive: false },
    },
    Scenario {
        name: "http-c10-keepalive",
        kind: Kind::Http { keep_alive: true },
    },
    Scenario {
        name: "tls-echo-c10",
        kind: Kind::TlsEcho,
    },
];

const fn echo(name: &'static str, conns: usize, burst: usize) -> Scenario {
    Scenario {
        name,
        kind: Kind::Echo { conns, burst },
    }
}

/// What runs the workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetKind {
    Runner,
    Lua54,
    LuaJit,
    Original,
    Reference,
    /// Our lua5.4 module from another build (COPAS_BEFORE), for before/after figures
    /// of a change in one sitting.
    Before,
    /// An idiomatic echo server on luv (libuv, callbacks), Debian's lua-luv on lua5.4.
    Luv,
    /// An idiomatic echo server on cqueues (coroutines), Debian's lua-cqueues on lua5.4.
    Cqueues,
    /// Plain Lua 5.4 coroutines, created and resumed as spawn-100k's threads are, without
    /// Copas: the floor a spawn can cost.
    Plain,
}

impl TargetKind {
    const ALL: [TargetKind; 9] = [
        TargetKind::Runner,
        TargetKind::Lua54,
        TargetKind::Before,
        TargetKind::LuaJit,
        TargetKind::Original,
        TargetKind::Luv,
        TargetKind::Cqueues,
        TargetKind::Plain,
        TargetKind::Reference,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            TargetKind::Runner => "runner",
            TargetKind::Lua54 => "lua54",
            TargetKind::LuaJit => "luajit",
            TargetKind::Original => "original",
            TargetKind::Reference => "ref",
            TargetKind::Before => "before",
            TargetKind::Luv => "luv",
            TargetKind::Cqueues => "cqueues",
            TargetKind::Plain => "plain",
        }
    }

    /// The reference and the other event loops only serve echo, plain Lua only spawns:
    /// the other workloads are Copas programs.
    fn runs(self, kind: Kind) -> bool {
        if self == TargetKind::Plain {
            return matches!(kind, Kind::Spawn { .. });
        }
        let echo_only = matches!(
            self,
            TargetKind::Reference | TargetKind::Luv | TargetKind::Cqueues
        );
        !echo_only || matches!(kind, Kind::Echo { .. } | Kind::IdleConns { .. })
    }

    /// The echo server script of a Lua target.
    fn echo_script(self) -> &'static str {
        match self {
            TargetKind::Luv => "echo_luv.lua",
            TargetKind::Cqueues => "echo_cqueues.lua",
            _ => "echo_server.lua",
        }
    }
}

#[derive(Debug)]
struct Options {
    quick: bool,
    runs: Option<usize>,
    only: Option<Vec<&'static Scenario>>,
    targets: Vec<TargetKind>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            quick: false,
            runs: None,
            only: None,
            targets: TargetKind::ALL.to_vec(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| format!("bench: {arg} needs a value"))
            };
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--runs" => {
                    let runs: usize = value()?
                        .parse()
                        .map_err(|_| "bench: --runs needs a number")?;
                    options.runs = Some(runs.max(1));
                }
                "--only" => options.only = Some(parse_scenarios(value()?)?),
                "--targets" => options.targets = parse_targets(value()?)?,
                other => return Err(format!("bench: unexpected argument '{other}'").into()),
            }
        }
        Ok(options)
    }
}

fn parse_scenarios(list: &str) -> Result<Vec<&'static Scenario>> {
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let scenario = SCENARIOS.iter().find(|s| s.name == name).ok_or_else(|| {
            let known: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
            format!(
                "bench: unknown scenario '{name}' (known: {})",
                known.join(", ")
            )
        })?;
        if !chosen.iter().any(|s: &&Scenario| s.name == name) {
            chosen.push(scenario);
        }
    }
    if chosen.is_empty() {
        return Err("bench: --only names no scenario".into());
    }
    Ok(chosen)
}

fn parse_targets(list: &str) -> Result<Vec<TargetKind>> {
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let target = TargetKind::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                format!(
                    "bench: unknown target '{name}' (known: runner, lua54, luajit, original, ref)"
                )
            })?;
        if !chosen.contains(&target) {
            chosen.push(target);
        }
    }
    if chosen.is_empty() {
        return Err("bench: --targets names no target".into());
    }
    // Listed in the table's order whatever the order given.
    chosen.sort_by_key(|t| TargetKind::ALL.iter().position(|a| a == t));
    Ok(chosen)
}

/// Durations and sizes: the full run, or `--quick` for a smoke test.
#[derive(Debug)]
pub(crate) struct Settings {
    pub runs: usize,
    pub warmup: f64,
    pub duration: f64,
    pub timers_seconds: f64,
    pub http_requests: usize,
    /// How long to wait for other processes to quiet down before each run, and in all:
    /// on a machine that stays busy the run must still end.
    pub quiet_wait: Duration,
    pub quiet_budget: Duration,
}

impl Settings {
    fn new(options: &Options) -> Settings {
        let mut settings = if options.quick {
            Settings {
                runs: 1,
                warmup: 0.3,
                duration: 1.0,
                timers_seconds: 1.0,
                http_requests: 2000,
                quiet_wait: Duration::ZERO,
                quiet_budget: Duration::ZERO,
            }
        } else {
            Settings {
                runs: 3,
                warmup: 1.0,
                duration: 3.0,
                timers_seconds: 3.0,
                http_requests: 10_000,
                quiet_wait: Duration::from_secs(4),
                quiet_budget: Duration::from_secs(150),
            }
        };
        if let Some(runs) = options.runs {
            settings.runs = runs;
        }
        settings
    }
}

/// A target ready to run workloads, or why it cannot.
#[derive(Debug)]
pub(crate) struct Target {
    pub kind: TargetKind,
    program: PathBuf,
    lua_path: String,
    lua_cpath: String,
    /// What the probe found (versions), or why the target is unavailable.
    pub about: std::result::Result<String, String>,
}

/// The figures of one run, or why there are none.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Measured(BTreeMap<String, f64>),
    /// The target lacks something the scenario needs (a module, a tool).
    Skipped(String),
    Failed(String),
}

/// Every run of one scenario on one target.
#[derive(Debug)]
pub(crate) struct Cell {
    pub target: TargetKind,
    pub runs: Vec<Outcome>,
}

#[derive(Debug)]
pub(crate) struct ScenarioResult {
    pub scenario: &'static Scenario,
    pub cells: Vec<Cell>,
}

pub(crate) fn command(args: &[String]) -> Result {
    let options = Options::parse(args)?;
    let settings = Settings::new(&options);
    let workspace = Workspace::locate()?;
    let scenarios: Vec<&'static Scenario> = options
        .only
        .clone()
        .unwrap_or_else(|| SCENARIOS.iter().collect());
    let out_dir = workspace.target.join("bench");
    fs::create_dir_all(out_dir.join("logs"))?;
    child::raise_open_file_limit().map_err(|e| format!("cannot raise the open file limit: {e}"))?;

    build(&workspace, &options.targets)?;
    let targets: Vec<Target> = options
        .targets
        .iter()
        .map(|&kind| prepare(&workspace, kind))
        .collect::<Result<_>>()?;
    for target in &targets {
        match &target.about {
            Ok(about) => println!("target {:<8} {about}", target.kind.name()),
            Err(why) => println!("target {:<8} unavailable: {why}", target.kind.name()),
        }
    }
    if find_program("taskset").is_none() {
        println!("warning: no taskset: servers and clients are not pinned to cores");
    }

    let mut bench = Bench {
        workspace: &workspace,
        settings: &settings,
        logs: out_dir.join("logs"),
        nginx: None,
        certs: None,
    };
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let mut results = Vec::new();
    for &scenario in &scenarios {
        let scenario_targets: Vec<&Target> = targets
            .iter()
            .filter(|t| t.kind.runs(scenario.kind))
            .collect();
        let mut cells: Vec<Cell> = scenario_targets
            .iter()
            .map(|target| Cell {
                target: target.kind,
                runs: Vec::new(),
            })
            .collect();
        // Runs go round the targets (run 1 of each, then run 2 of each, ...): the host's
        // speed drifts over minutes on a shared VM, and measuring one target's runs
        // back to back would put that drift into the ratios.
        for run in 1..=settings.runs {
            for (target, cell) in scenario_targets.iter().zip(cells.iter_mut()) {
                if cell.runs.iter().any(|r| matches!(r, Outcome::Skipped(_))) {
                    continue;
                }
                let outcome = match &target.about {
                    Err(why) => Outcome::Skipped(format!("target unavailable: {why}")),
                    Ok(_) => {
                        let limit = settings
                            .quiet_wait
                            .min(settings.quiet_budget.saturating_sub(waited));
                        let wait_started = Instant::now();
                        let load = wait_quiet(limit);
                        waited += wait_started.elapsed();
                        let mut outcome = bench.run(scenario, target, run);
                        if let Outcome::Measured(figures) = &mut outcome {
                            figures.insert("load_before_pct".into(), load.round());
                        }
                        outcome
                    }
                };
                println!(
                    "{:<20} {:<8} run {run}: {}",
                    scenario.name,
                    target.kind.name(),
                    report::summary(scenario, &outcome)
                );
                cell.runs.push(outcome);
            }
        }
        results.push(ScenarioResult { scenario, cells });
    }
    drop(bench);

    let machine = machine();
    let mut table = report::markdown(&results, &options.targets);
    table.push_str(&report::noise(&results, &settings, waited));
    println!("\n{table}");
    let markdown = format!(
        "# cargo xtask bench\n\n{}\n\n{} run(s) per cell, medians; {:.0} s in all.\n\n{}\n\n{table}\n",
        machine.join("  \n"),
        settings.runs,
        started.elapsed().as_secs_f64(),
        targets
            .iter()
            .map(|t| format!(
                "- {}: {}",
                t.kind.name(),
                t.about.clone().unwrap_or_else(|e| format!("unavailable ({e})"))
            ))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    fs::write(out_dir.join("results.md"), markdown)?;
    fs::write(
        out_dir.join("results.json"),
        report::json(&results, &targets, &settings, &machine),
    )?;
    println!(
        "written: {} and results.json",
        workspace.show(&out_dir.join("results.md"))
    );
    Ok(())
}

/// Release builds of everything the targets run.
fn build(workspace: &Workspace, targets: &[TargetKind]) -> Result {
    println!("building the runner and bench/loadgen (release)");
    let mut cargo = workspace.cargo();
    // `--bins` of every package named: `--bin copas` would leave the loadgen's
    // binaries out (a fresh target directory has no copas-loadgen then).
    cargo.args([
        "build",
        "--release",
        "--quiet",
        "--bins",
        "-p",
        "copas-loadgen",
    ]);
    if targets.contains(&TargetKind::Runner) {
        cargo.args(["-p", "copas-lua"]);
    }
    workspace::run(cargo)?;
    for (kind, version) in [
        (TargetKind::Lua54, LuaVersion::Lua54),
        (TargetKind::LuaJit, LuaVersion::LuaJit),
    ] {
        if targets.contains(&kind) && find_program(version.program()).is_some() {
            module::build(workspace, version, Profile::Release)?;
        }
    }
    Ok(())
}

fn prepare(workspace: &Workspace, kind: TargetKind) -> Result<Target> {
    let release = workspace.target.join("release");
    let lua_dir = workspace.root.join(LUA_DIR);
    let own_path = format!("{}/?.lua", lua_dir.display());
    let mut target = Target {
        kind,
        program: PathBuf::new(),
        lua_path: own_path.clone(),
        lua_cpath: String::new(),
        about: Ok(String::new()),
    };
    match kind {
        TargetKind::Reference => {
            target.program = release.join("echo-ref");
            target.about = Ok("echo-ref (bench/loadgen: Rust, one thread, epoll)".into());
            return Ok(target);
        }
        TargetKind::Runner => target.program = release.join("copas"),
        TargetKind::Lua54 | TargetKind::LuaJit => {
            let version = if kind == TargetKind::Lua54 {
                LuaVersion::Lua54
            } else {
                LuaVersion::LuaJit
            };
            if find_program(version.program()).is_none() {
                target.about = Err(format!("{} is not on PATH", version.program()));
                return Ok(target);
            }
            target.program = PathBuf::from(version.program());
            let dir = workspace.target.join("lua-modules").join(version.name());
            target.lua_cpath = format!("{}/?.so", dir.display());
        }
        TargetKind::Plain => {
            target.about = match find_program("lua5.4") {
                Some(_) => Ok("plain Lua 5.4 coroutines (bench/lua/spawn_plain.lua)".into()),
                None => Err("lua5.4 is not on PATH".into()),
            };
            target.program = PathBuf::from("lua5.4");
            return Ok(target);
        }
        TargetKind::Luv | TargetKind::Cqueues => {
            let (module, package) = if kind == TargetKind::Luv {
                ("luv", "lua-luv")
            } else {
                ("cqueues", "lua-cqueues")
            };
            target.about = peer_loop(module, package);
            if target.about.is_ok() {
                target.program = PathBuf::from("lua5.4");
                // ";;": the system's paths, where Debian installs the library.
                target.lua_path = format!("{own_path};;");
                target.lua_cpath = ";;".into();
            }
            return Ok(target);
        }
        TargetKind::Before => {
            let Some(dir) = std::env::var_os("COPAS_BEFORE") else {
                target.about = Err(
                    "set COPAS_BEFORE to the lua-modules/lua54 directory of another build \
                     (e.g. a clone of the commit before a change, after `cargo xtask \
                     build-module --release --lua lua54` there)"
                        .into(),
                );
                return Ok(target);
            };
            if find_program("lua5.4").is_none() {
                target.about = Err("lua5.4 is not on PATH".into());
                return Ok(target);
            }
            target.program = PathBuf::from("lua5.4");
            target.lua_cpath = format!("{}/?.so", PathBuf::from(dir).display());
        }
        TargetKind::Original => {
            let Some(dirs) = std::env::var_os("COPAS_ORIGINAL") else {
                target.about = Err(
                    "set COPAS_ORIGINAL to a Copas 4.x src directory (plus, ':'-separated, \
                     directories with binaryheap.lua, timerwheel.lua, coxpcall.lua)"
                        .into(),
                );
                return Ok(target);
            };
            if find_program("lua5.4").is_none() {
                target.about = Err("lua5.4 is not on PATH".into());
                return Ok(target);
            }
            target.program = PathBuf::from("lua5.4");
            let mut path = String::new();
            for dir in std::env::split_paths(&dirs) {
                path.push_str(&format!("{0}/?.lua;{0}/?/init.lua;", dir.display()));
            }
            // ";;" appends the default paths: the system's LuaSocket (and LuaSec).
            target.lua_path = format!("{path}{own_path};;");
            target.lua_cpath = ";;".into();
        }
    }
    let probe = child::run(
        target.lua(&lua_dir.join("probe.lua"), &[], None),
        Duration::from_secs(30),
    )?;
    target.about = match last_object(&probe.stdout) {
        Some(found) if probe.status.success() => Ok(format!(
            "{}, {}, {}{}{}",
            text(&found, "copas"),
            text(&found, "lua"),
            text(&found, "socket"),
            if found.get("http") == Some(&Value::Bool(true)) {
                ", copas.http"
            } else {
                ""
            },
            if found.get("ssl") == Some(&Value::Bool(true)) {
                ", ssl"
            } else {
                ""
            },
        )),
        _ => Err(format!(
            "probe.lua failed: {}",
            last_line(&probe.stderr).unwrap_or("no output")
        )),
    };
    Ok(target)
}

/// Whether lua5.4 loads `module` (installing the Debian `package` when it does not and
/// apt-get can), with the version it reports.
fn peer_loop(module: &str, package: &str) -> std::result::Result<String, String> {
    if find_program("lua5.4").is_none() {
        return Err("lua5.4 is not on PATH".into());
    }
    let probe = || {
        let mut command = Command::new("lua5.4");
        command.args([
            "-e",
            &format!(
                "local m = require('{module}') \
                 print((m.version_string and m.version_string()) or m.VERSION or '?')"
            ),
        ]);
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("LUA_")) {
                command.env_remove(name);
            }
        }
        command
            .output()
            .ok()
            .filter(|output| output.status.success())
    };
    let found = probe().or_else(|| {
        let installed = find_program("apt-get").is_some()
            && Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", package])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|status| status.success());
        if installed {
            probe()
        } else {
            None
        }
    });
    match found {
        Some(output) => Ok(format!(
            "{module} {} (Debian {package}) on lua5.4",
            String::from_utf8_lossy(&output.stdout).trim()
        )),
        None => Err(format!(
            "lua5.4 cannot load {module} (Debian package {package})"
        )),
    }
}

impl Target {
    /// `script` run by this target's interpreter with only its own modules in reach,
    /// pinned to `core` when given.
    fn lua(&self, script: &Path, args: &[String], core: Option<usize>) -> Command {
        let mut command = pinned(core, &self.program);
        command.arg(script).args(args);
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("LUA_")) {
                command.env_remove(name);
            }
        }
        command
            .env("LUA_PATH", &self.lua_path)
            .env("LUA_CPATH", &self.lua_cpath);
        command
    }
}

fn text(object: &BTreeMap<String, Value>, key: &str) -> String {
    match object.get(key) {
        Some(Value::Text(text)) => text.clone(),
        _ => "?".into(),
    }
}

/// `program` under `taskset -c core` when a core is asked for and taskset exists.
fn pinned(core: Option<usize>, program: &Path) -> Command {
    match core {
        Some(core) if find_program("taskset").is_some() => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(core.to_string()).arg(program);
            command
        }
        _ => Command::new(program),
    }
}

/// State shared by the runs: where logs go, the nginx and certificates made on demand.
struct Bench<'a> {
    workspace: &'a Workspace,
    settings: &'a Settings,
    logs: PathBuf,
    nginx: Option<std::result::Result<Nginx, String>>,
    certs: Option<std::result::Result<PathBuf, String>>,
}

impl Bench<'_> {
    fn run(&mut self, scenario: &Scenario, target: &Target, run: usize) -> Outcome {
        let log = self.logs.join(format!(
            "{}-{}-{run}.log",
            scenario.name,
            target.kind.name()
        ));
        let result = match scenario.kind {
            Kind::Echo { conns, burst } => self.echo(target, conns, burst, &log),
            Kind::IdleConns { conns } => self.idle(target, conns, &log),
            Kind::Timers { threads } => self.workload(
                target,
                "timers.lua",
                &[
                    threads.to_string(),
                    self.settings.timers_seconds.to_string(),
                    "0.01".into(),
                ],
                &log,
            ),
            Kind::Spawn { threads } => {
                let script = if target.kind == TargetKind::Plain {
                    "spawn_plain.lua"
                } else {
                    "spawn.lua"
                };
                self.workload(target, script, &[threads.to_string()], &log)
            }
            Kind::Http { keep_alive } => self.http(target, keep_alive, &log),
            Kind::TlsEcho => self.tls(target, &log),
        };
        result.unwrap_or_else(|e| Outcome::Failed(e.to_string()))
    }

    fn loadgen(&self) -> PathBuf {
        self.workspace.target.join("release").join("copas-loadgen")
    }

    fn echo_server(&self, target: &Target, log: &Path) -> Result<Server> {
        let command = match target.kind {
            TargetKind::Reference => pinned(Some(SERVER_CORE), &target.program),
            _ => target.lua(
                &self
                    .workspace
                    .root
                    .join(LUA_DIR)
                    .join(target.kind.echo_script()),
                &[],
                Some(SERVER_CORE),
            ),
        };
        Server::start(command, log)
    }

    fn echo(&self, target: &Target, conns: usize, burst: usize, log: &Path) -> Result<Outcome> {
        let mut server = self.echo_server(target, log)?;
        let settings = self.settings;
        let mut loadgen = pinned(Some(CLIENT_CORE), &self.loadgen());
        loadgen.args([
            "--port",
            &server.port.to_string(),
            "--conns",
            &conns.to_string(),
            "--burst",
            &burst.to_string(),
            "--size",
            "64",
            "--warmup",
            &settings.warmup.to_string(),
            "--duration",
            &settings.duration.to_string(),
            "--connect-timeout",
            "20",
        ]);
        let limit = Duration::from_secs_f64(settings.warmup + settings.duration + 60.0);
        let done = child::run(loadgen, limit)?;
        let died = !server.alive();
        server.stop();
        let Some(report) = last_object(&done.stdout) else {
            return Ok(Outcome::Failed(format!(
                "loadgen: {}",
                last_line(&done.stderr).unwrap_or("no output")
            )));
        };
        let mut figures = numbers(&report);
        figures.insert("server_died".into(), if died { 1.0 } else { 0.0 });
        Ok(Outcome::Measured(figures))
    }

    /// Server RSS before and while `conns` idle connections are open.
    fn idle(&self, target: &Target, conns: usize, log: &Path) -> Result<Outcome> {
        let mut server = self.echo_server(target, log)?;
        thread::sleep(Duration::from_millis(300));
        let before = server.rss_kib()?;
        let mut loadgen = pinned(Some(CLIENT_CORE), &self.loadgen());
        loadgen
            .args([
                "--port",
                &server.port.to_string(),
                "--conns",
                &conns.to_string(),
                "--idle",
                "1",
                "--connect-timeout",
                "20",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = loadgen.spawn()?;
        let stdout = child.stdout.take().ok_or("loadgen has no stdout")?;
        let mut line = String::new();
        // The loadgen reports within its connect timeout, or exits (EOF) on failure.
        BufReader::new(stdout).read_line(&mut line)?;
        // Let the server's handlers settle after their one echo.
        thread::sleep(Duration::from_millis(500));
        let after = server.rss_kib();
        drop(child.stdin.take());
        let _ = child.wait();
        let died = !server.alive();
        server.stop();
        let after = after?;
        let Some(report) = json::parse_object(&line) else {
            return Ok(Outcome::Failed("loadgen printed no report".into()));
        };
        let mut figures = numbers(&report);
        let idle = figures.get("idle").copied().unwrap_or(0.0);
        if died || idle < 1.0 {
            return Ok(Outcome::Failed(format!(
                "{idle} of {conns} connections idle, server {}",
                if died { "died" } else { "alive" }
            )));
        }
        figures.insert("rss_before_kib".into(), before as f64);
        figures.insert("rss_after_kib".into(), after as f64);
        figures.insert("kib_per_conn".into(), (after as f64 - before as f64) / idle);
        Ok(Outcome::Measured(figures))
    }

    /// Runs a workload script on core 0 and takes its last JSON line.
    fn workload(
        &self,
        target: &Target,
        script: &str,
        args: &[String],
        log: &Path,
    ) -> Result<Outcome> {
        let script = self.workspace.root.join(LUA_DIR).join(script);
        let done = child::run(
            target.lua(&script, args, Some(SERVER_CORE)),
            Duration::from_secs(180),
        )?;
        fs::write(log, format!("{}\n{}", done.stdout, done.stderr))?;
        let report = match last_object(&done.stdout) {
            Some(report) if done.status.success() => report,
            _ => {
                let why = if done.timed_out {
                    "timed out".to_string()
                } else {
                    last_line(&done.stderr).unwrap_or("no report").to_string()
                };
                return Ok(Outcome::Failed(why));
            }
        };
        if let Some(Value::Text(why)) = report.get("skipped") {
            return Ok(Outcome::Skipped(why.clone()));
        }
        Ok(Outcome::Measured(numbers(&report)))
    }

    fn http(&mut self, target: &Target, keep_alive: bool, log: &Path) -> Result<Outcome> {
        if self.nginx.is_none() {
            self.nginx = Some(Nginx::start(
                &self.workspace.target.join("bench").join("nginx"),
            ));
        }
        let nginx = match self.nginx.as_ref() {
            Some(Ok(nginx)) => nginx,
            Some(Err(why)) => return Ok(Outcome::Skipped(format!("no nginx: {why}"))),
            None => unreachable!("started above"),
        };
        let port = if keep_alive {
            nginx.keep_alive_port
        } else {
            nginx.close_port
        };
        let args = [
            format!("http://127.0.0.1:{port}/small.txt"),
            self.settings.http_requests.to_string(),
            CLIENT_THREADS.to_string(),
            if keep_alive { "keepalive" } else { "close" }.to_string(),
            "60".into(),
        ];
        self.workload(target, "http_client.lua", &args, log)
    }

    fn tls(&mut self, target: &Target, log: &Path) -> Result<Outcome> {
        if self.certs.is_none() {
            let dir = self.workspace.target.join("bench").join("certs");
            // The test certificates of `cargo xtask test-lua`, made afresh.
            let _ = fs::remove_dir_all(&dir);
            self.certs = Some(
                fs::create_dir_all(&dir)
                    .map_err(|e| e.to_string())
                    .and_then(|()| crate::certs::generate(&dir).map_err(|e| e.to_string()))
                    .map(|()| dir),
            );
        }
        let dir = match self.certs.as_ref() {
            Some(Ok(dir)) => dir.clone(),
            Some(Err(why)) => return Ok(Outcome::Skipped(format!("no certificates: {why}"))),
            None => unreachable!("made above"),
        };
        let args = [
            dir.display().to_string(),
            CLIENT_THREADS.to_string(),
            self.settings.timers_seconds.to_string(),
        ];
        self.workload(target, "tls_echo.lua", &args, log)
    }
}

/// The numeric fields of a report (booleans as 0 and 1).
fn numbers(report: &BTreeMap<String, Value>) -> BTreeMap<String, f64> {
    report
        .iter()
        .filter_map(|(key, value)| match value {
            Value::Number(n) => Some((key.clone(), *n)),
            Value::Bool(b) => Some((key.clone(), f64::from(u8::from(*b)))),
            _ => None,
        })
        .collect()
}

fn last_object(output: &str) -> Option<BTreeMap<String, Value>> {
    output.lines().rev().find_map(json::parse_object)
}

fn last_line(output: &str) -> Option<&str> {
    output.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

/// A server started for one run: its own process group, `LISTENING <port>` on stdout.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(mut command: Command, log: &Path) -> Result<Server> {
        use std::os::unix::process::CommandExt;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(log)?)
            .process_group(0)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("server has no stdout")?;
        let (lines, first) = mpsc::channel();
        // Reads on after the first line so that the server never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let mut server = Server { child, port: 0 };
        let line = first.recv_timeout(Duration::from_secs(20)).map_err(|_| {
            let log = fs::read_to_string(log).unwrap_or_default();
            format!(
                "the server did not report its port: {}",
                last_line(&log).unwrap_or("no output")
            )
        })?;
        server.port = line
            .strip_prefix("LISTENING ")
            .and_then(|port| port.trim().parse().ok())
            .ok_or_else(|| format!("unexpected first line from the server: {line}"))?;
        Ok(server)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident set size in KiB, from /proc.
    fn rss_kib(&self) -> Result<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| "no VmRSS in /proc status".into())
    }

    fn stop(&mut self) {
        kill_group(&self.child);
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn kill_group(child: &Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill() only sends a signal; `pid` leads the group made at spawn and is
        // not reaped yet (callers wait after this), so the id cannot have been reused.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

/// nginx serving a 1 KiB file on two ports: one closing every connection after its
/// response, one keeping connections alive.
struct Nginx {
    child: Child,
    dir: PathBuf,
    close_port: u16,
    keep_alive_port: u16,
}

impl Nginx {
    fn start(dir: &Path) -> std::result::Result<Nginx, String> {
        let program = find_program("nginx")
            .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()))
            .ok_or("nginx is not installed (apt-get install nginx-light)")?;
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir.join("www")).map_err(|e| e.to_string())?;
        fs::write(dir.join("www/small.txt"), format!("{}\n", "x".repeat(1023)))
            .map_err(|e| e.to_string())?;
        let close_port = free_port().map_err(|e| e.to_string())?;
        let keep_alive_port = free_port().map_err(|e| e.to_string())?;
        let d = dir.display();
        let config = format!(
            "worker_processes 1;\nmaster_process off;\ndaemon off;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  default_type text/plain;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n\
             server {{ listen 127.0.0.1:{close_port} backlog=1024; root {d}/www; keepalive_timeout 0; }}\n\
             server {{ listen 127.0.0.1:{keep_alive_port} backlog=1024; root {d}/www; \
             keepalive_timeout 60; keepalive_requests 1000000; }}\n}}\n"
        );
        fs::write(dir.join("nginx.conf"), config).map_err(|e| e.to_string())?;
        use std::os::unix::process::CommandExt;
        let mut command = pinned(Some(CLIENT_CORE), &program);
        command
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = command.spawn().map_err(|e| e.to_string())?;
        let mut nginx = Nginx {
            child,
            dir: dir.to_path_buf(),
            close_port,
            keep_alive_port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(format!(
                    "nginx exited ({status}): {}",
                    last_line(&log).unwrap_or("")
                ));
            }
            let up = |port| TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up(nginx.close_port) && up(nginx.keep_alive_port) {
                return Ok(nginx);
            }
            thread::sleep(Duration::from_millis(50));
        }
        nginx.stop();
        Err("nginx did not start listening".into())
    }

    fn stop(&mut self) {
        kill_group(&self.child);
        let _ = self.child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on right now (the kernel's pick; taken back at once).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits (up to `limit`) until other processes use less than 15 % of a core, so that a
/// run does not start in the middle of someone's build. Returns the last measured load
/// in % of one core (sampled at least once).
fn wait_quiet(limit: Duration) -> f64 {
    let deadline = Instant::now() + limit;
    loop {
        let (busy0, at0) = (busy_ticks(), Instant::now());
        thread::sleep(Duration::from_millis(500));
        let ticks = busy_ticks().saturating_sub(busy0) as f64;
        // /proc/stat counts in USER_HZ, 100 per second on Linux.
        let load = ticks / at0.elapsed().as_secs_f64();
        if load < QUIET_LOAD || Instant::now() >= deadline {
            return load;
        }
    }
}

/// user + nice + system ticks of all CPUs.
fn busy_ticks() -> u64 {
    fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let line = stat.lines().next()?.to_string();
            Some(
                line.split_whitespace()
                    .skip(1)
                    .take(3)
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum(),
            )
        })
        .unwrap_or(0)
}

/// The machine, for the report: CPU model and count, kernel.
fn machine() -> Vec<String> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(String::new, |kib| format!(", {} GiB", kib / 1024 / 1024));
    vec![
        format!("Machine: {cores} x {model}{memory}, Linux {}", kernel.trim()),
        format!(
            "Pinning: servers and workloads on core {SERVER_CORE}, loadgen and nginx on core {CLIENT_CORE}{}",
            if find_program("taskset").is_some() { "" } else { " (not applied: no taskset)" }
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let args: Vec<String> = [
            "--quick",
            "--only",
            "echo-10,spawn-100k",
            "--targets",
            "ref,runner",
        ]
        .map(String::from)
        .to_vec();
        let options = Options::parse(&args).unwrap();
        assert!(options.quick);
        let only: Vec<_> = options.only.unwrap().iter().map(|s| s.name).collect();
        assert_eq!(only, ["echo-10", "spawn-100k"]);
        assert_eq!(options.targets, [TargetKind::Runner, TargetKind::Reference]);
        assert!(Options::parse(&["--only".into(), "nope".into()]).is_err());
        assert!(Options::parse(&["--targets".into(), "lua53".into()]).is_err());
        assert!(Options::parse(&["--runs".into()]).is_err());
    }

    #[test]
    fn scenario_names_are_unique() {
        for (i, a) in SCENARIOS.iter().enumerate() {
            assert!(
                SCENARIOS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
    }
}

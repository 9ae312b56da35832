//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.

use std::time::{Duration, Instant};

use crate::lua::{Interpreter, LuaVersion};
use crate::memcheck::{self, Selection};
use crate::test_lua;
use crate::workspace::{self, Workspace};
use crate::Result;

/// A cargo invocation that is one CI step.
const CARGO_STEPS: [(&str, &[&str]); 6] = [
    ("fmt", &["fmt", "--all", "--check"]),
    (
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "clippy (module build)",
        &[
            "clippy",
            "-p",
            "copas-lua",
            "--lib",
            "--no-default-features",
            "--features",
            "lua54,module",
            "--",
            "-D",
            "warnings",
        ],
    ),
    ("examples", &["build", "--workspace", "--examples"]),
    (
        // Every library crate packs with the version requirements and files crates.io needs.
        // Without verification: building each unpacked crate again would double the CI time,
        // and the same code was just built and tested from the workspace.
        "package",
        &[
            "package",
            "--workspace",
            "--exclude",
            "xtask",
            "--exclude",
            "copas-loadgen",
            "--no-verify",
            "--allow-dirty",
        ],
    ),
    ("test", &["test", "--workspace"]),
];

/// Rustdoc over the library crates with warnings (broken intra-doc links) as errors.
const DOC_ARGS: &[&str] = &[
    "doc",
    "--no-deps",
    "--workspace",
    "--exclude",
    "xtask",
    "--exclude",
    "copas-loadgen",
];

pub(crate) fn command(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(format!("ci: unexpected argument '{arg}'").into());
    }
    let workspace = Workspace::locate()?;
    let started = Instant::now();
    let mut timings = Vec::new();
    let mut step = |name: &'static str, run: &dyn Fn() -> Result| -> Result {
        println!("==> {name}");
        let step_started = Instant::now();
        let result = run();
        let elapsed = step_started.elapsed();
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        println!("<== {name}: {verdict} in {}", seconds(elapsed));
        timings.push((name, elapsed));
        result.map_err(|e| format!("ci step '{name}' failed: {e}").into())
    };

    for (name, args) in CARGO_STEPS {
        step(name, &|| {
            let mut cargo = workspace.cargo();
            cargo.args(args);
            workspace::run(cargo)
        })?;
    }
    step("doc", &|| {
        let mut cargo = workspace.cargo();
        cargo.args(DOC_ARGS).env("RUSTDOCFLAGS", "-D warnings");
        workspace::run(cargo)
    })?;
    step("check-platforms", &|| crate::platforms::run(&workspace))?;
    step("test-lua", &|| {
        test_lua::run(&workspace, &Interpreter::available(), None)
    })?;
    if crate::workspace::find_program("luarocks").is_some() {
        step("test-rock", &|| crate::rock::test_command(&[]))?;
    }
    // Last: the slowest step, and the one that needs valgrind installed. .ci/run
    // installs it on Linux; macOS has no valgrind for its current systems.
    if cfg!(target_os = "linux") || crate::workspace::find_program("valgrind").is_some() {
        step("memcheck", &|| {
            memcheck::run(&workspace, LuaVersion::Lua54, false, Selection::Default)
        })?;
        // Lua 5.2 runs the hot path's continuations through wrappers of their own
        // (`lua_getctx`); the file that drives every one of them checks those.
        if crate::workspace::find_program(LuaVersion::Lua52.program()).is_some() {
            step("memcheck (lua52)", &|| {
                let hot_path = Selection::Filter("copas_hot_path".to_owned());
                memcheck::run(&workspace, LuaVersion::Lua52, false, hot_path)
            })?;
        }
    } else {
        println!("==> memcheck: skipped, no valgrind on this system");
    }

    println!();
    for (name, elapsed) in &timings {
        println!("{:>9}  {name}", seconds(*elapsed));
    }
    println!("ci passed in {}", seconds(started.elapsed()));
    Ok(())
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

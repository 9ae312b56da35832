//! `cargo xtask argfuzz`: fuzz/lua/argfuzz.lua, the Lua-level argument fuzzer, on the
//! chosen interpreters (default lua5.4 and LuaJIT) with many calls.
//!
//! A run passes when the script ends normally with its summary line and reports no
//! panic: every call either returned or raised a Lua error. lua-tests/argfuzz_short.lua
//! runs a few thousand calls of the same script in `ci`.

use std::path::Path;
use std::time::Duration;

use crate::child;
use crate::lua::{Interpreter, LuaVersion};
use crate::module::Profile;
use crate::test_lua::prepare;
use crate::workspace::{self, Workspace};
use crate::Result;

const SCRIPT: &str = "fuzz/lua/argfuzz.lua";
const DEFAULT_CALLS: u64 = 100_000;
const TIME_LIMIT: Duration = Duration::from_secs(3600);

pub(crate) fn command(args: &[String]) -> Result {
    let mut calls = DEFAULT_CALLS;
    let mut seed = 1u64;
    let mut interpreters = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .ok_or_else(|| format!("argfuzz: {arg} needs {what}"))
        };
        match arg.as_str() {
            "--calls" => calls = value("a number")?.parse()?,
            "--seed" => seed = value("a number")?.parse()?,
            "--lua" => interpreters = Some(Interpreter::parse_list(value("a list")?)?),
            other => return Err(format!("argfuzz: unexpected argument '{other}'").into()),
        }
    }
    let interpreters = interpreters.unwrap_or_else(|| {
        [LuaVersion::Lua54, LuaVersion::LuaJit]
            .into_iter()
            .map(Interpreter::Stock)
            .collect()
    });
    let workspace = Workspace::locate()?;
    if interpreters.contains(&Interpreter::Runner) {
        let mut cargo = workspace.cargo();
        cargo.args(["build", "--quiet", "-p", "copas-lua", "--bin", "copas"]);
        workspace::run(cargo)?;
    }
    let mut failures = Vec::new();
    for interpreter in interpreters {
        let setup = prepare(&workspace, interpreter, Profile::Debug)?;
        let mut command = setup.command(Path::new(SCRIPT));
        command.arg(calls.to_string()).arg(seed.to_string());
        let finished = child::run(command, TIME_LIMIT)?;
        let summary = finished
            .stdout
            .lines()
            .find(|line| line.starts_with("argfuzz: "))
            .unwrap_or("(no summary line)");
        println!(
            "{interpreter:<7} {summary}  ({:.1} s)",
            finished.elapsed.as_secs_f64()
        );
        let problem = if finished.timed_out {
            Some("timed out".to_owned())
        } else if !finished.status.success() {
            Some(format!("exited with {}", finished.status))
        } else if !summary.contains(" 0 panics") || finished.stderr.contains("panicked") {
            Some("a panic".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            for line in finished
                .stderr
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .iter()
                .rev()
            {
                println!("      | {line}");
            }
            failures.push(format!("{interpreter}: {problem}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("argfuzz failed: {}", failures.join("; ")).into())
    }
}

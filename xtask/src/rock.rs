//! `cargo xtask rock-install`: what the LuaRocks rockspec (rockspecs/) runs.
//!
//! LuaRocks copies files, and two copies of one shared object loaded under two names
//! are two libraries with separate types. So the rock holds the library once, as the
//! module `copasrs` in LIBDIR, and for every module it provides a two-line Lua file in
//! LUADIR that loads it through that one library. Lua files are found on LUA_PATH,
//! which `require` searches before LUA_CPATH: with the tree first on both (`luarocks
//! path`), another LuaSocket's `socket/core.so` is never reached.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::certs;
use crate::child;
use crate::lua::LuaVersion;
use crate::module::{self, Profile, LIBRARY_MODULE};
use crate::workspace::{self, find_program, Workspace};
use crate::Result;

pub(crate) fn command(args: &[String]) -> Result {
    let mut interpreter = None;
    let mut luadir = None;
    let mut libdir = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = |name: &str, args: &mut std::slice::Iter<'_, String>| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("rock-install: {name} needs a value"))
        };
        match arg.as_str() {
            "--lua" => interpreter = Some(value("--lua", &mut args)?),
            "--luadir" => luadir = Some(PathBuf::from(value("--luadir", &mut args)?)),
            "--libdir" => libdir = Some(PathBuf::from(value("--libdir", &mut args)?)),
            other => return Err(format!("rock-install: unexpected argument '{other}'").into()),
        }
    }
    let usage = "usage: cargo xtask rock-install --lua INTERPRETER --luadir DIR --libdir DIR";
    let (Some(interpreter), Some(luadir), Some(libdir)) = (interpreter, luadir, libdir) else {
        return Err(usage.into());
    };
    let version = version_of(&interpreter)?;
    // COPAS_RS_DEBUG=1 trades the optimised build for a faster one, for tests.
    let profile = match std::env::var("COPAS_RS_DEBUG").as_deref() {
        Ok("1") => Profile::Debug,
        _ => Profile::Release,
    };
    let workspace = Workspace::locate()?;
    let installed = module::build(&workspace, version, profile)?;
    fs::create_dir_all(&libdir)?;
    let library = libdir.join(format!("{LIBRARY_MODULE}.so"));
    fs::copy(installed.dir.join(module::LIBRARY), &library)
        .map_err(|e| format!("cannot write {}: {e}", library.display()))?;
    for name in installed
        .modules
        .iter()
        .filter(|name| *name != LIBRARY_MODULE)
    {
        module::write_loader(&luadir, name)?;
    }
    println!(
        "{version}: {} and {} loaders in {}",
        library.display(),
        installed.modules.len() - 1,
        luadir.display()
    );
    Ok(())
}

/// Which of our Lua versions `interpreter` is, by asking it.
fn version_of(interpreter: &str) -> Result<LuaVersion> {
    let output = Command::new(interpreter)
        .args([
            "-e",
            "io.write(_VERSION, type(jit) == 'table' and ' jit' or '')",
        ])
        .output()
        .map_err(|e| format!("cannot run {interpreter}: {e}"))?;
    let answer = String::from_utf8_lossy(&output.stdout);
    let version = match answer.trim() {
        "Lua 5.1 jit" => LuaVersion::LuaJit,
        "Lua 5.1" => LuaVersion::Lua51,
        "Lua 5.2" => LuaVersion::Lua52,
        "Lua 5.3" => LuaVersion::Lua53,
        "Lua 5.4" => LuaVersion::Lua54,
        other => {
            return Err(format!("{interpreter} says '{other}': not a Lua copas-rs supports").into())
        }
    };
    Ok(version)
}

const ROCKSPEC: &str = "rockspecs/copas-rs-0.1.0-1.rockspec";
const CHECK_SCRIPT: &str = include_str!("rock_check.lua");
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// `cargo xtask test-rock [--lua LIST]`: `luarocks make` into a fresh tree per Lua
/// version (debug builds: COPAS_RS_DEBUG=1), then, with only that tree's `luarocks
/// path`, the stock interpreter loads our modules from the tree, an example runs, and
/// lua-tests/ passes.
pub(crate) fn test_command(args: &[String]) -> Result {
    let versions = match args {
        [] => [LuaVersion::Lua54, LuaVersion::Lua51]
            .into_iter()
            .filter(|version| find_program(version.program()).is_some())
            .collect(),
        [option, list] if option == "--lua" => LuaVersion::parse_list(list)?,
        _ => return Err("usage: cargo xtask test-rock [--lua lua54,lua51]".into()),
    };
    if find_program("luarocks").is_none() {
        return Err("luarocks is not on PATH (Debian package luarocks)".into());
    }
    let workspace = Workspace::locate()?;
    let check = workspace.target.join("rock-check.lua");
    fs::write(&check, CHECK_SCRIPT)?;
    for version in versions {
        let Some(lua_version) = version.luarocks_version() else {
            return Err(format!("test-rock: no LuaRocks Lua version for {version}").into());
        };
        let tree = workspace.target.join("rock-test").join(version.name());
        if tree.exists() {
            fs::remove_dir_all(&tree)?;
        }
        println!("{version}: luarocks make --tree {}", workspace.show(&tree));
        let mut make = Command::new("luarocks");
        make.args(["--lua-version", lua_version, "make", "--tree"])
            .arg(&tree)
            .arg(ROCKSPEC)
            .env("COPAS_RS_DEBUG", "1")
            .current_dir(&workspace.root);
        workspace::run(make)?;

        let paths = rock_paths(lua_version, &tree)?;
        let stock = |script: &Path| {
            let mut command = Command::new(version.program());
            command.arg(script).current_dir(&workspace.root);
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("LUA_") {
                    command.env_remove(name);
                }
            }
            command.env("LUA_PATH", &paths.0).env("LUA_CPATH", &paths.1);
            command
        };

        let mut command = stock(&check);
        command.arg(&tree);
        finished(version, "the installed modules", command)?;
        let example = workspace.root.join("examples/echo_server.lua");
        finished(version, "examples/echo_server.lua", stock(&example))?;

        let mut failed = Vec::new();
        let mut files: Vec<PathBuf> = fs::read_dir(workspace.root.join("lua-tests"))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "lua"))
            .collect();
        files.sort();
        let certs = workspace.target.join("rock-test").join("certs");
        certs::generate(&certs)?;
        for file in &files {
            let mut command = stock(file.strip_prefix(&workspace.root).unwrap_or(file));
            command
                .env("LUA_PATH", format!("lua-tests/support/?.lua;{}", paths.0))
                .env("COPAS_RUNNER", workspace.runner())
                .env("COPAS_TEST_CERTS", &certs);
            let done = child::run(command, TIME_LIMIT)?;
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            if done.status.success() && !done.timed_out {
                println!("ok    {version} (rock) {name}");
            } else {
                println!(
                    "FAIL  {version} (rock) {name}\n{}{}",
                    done.stdout, done.stderr
                );
                failed.push(name.into_owned());
            }
        }
        if !failed.is_empty() {
            return Err(format!(
                "{version}: lua-tests failed on the rock: {}",
                failed.join(", ")
            )
            .into());
        }
        println!("{version}: the rock passes {} lua-tests files", files.len());
    }
    Ok(())
}

/// LUA_PATH and LUA_CPATH as `luarocks path --tree` gives them.
fn rock_paths(lua_version: &str, tree: &Path) -> Result<(String, String)> {
    let output = Command::new("luarocks")
        .args(["--lua-version", lua_version, "path", "--tree"])
        .arg(tree)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("export {name}='")))
            .and_then(|rest| rest.strip_suffix('\''))
            .map(str::to_owned)
            .ok_or_else(|| format!("luarocks path gave no {name}: {text}"))
    };
    Ok((value("LUA_PATH")?, value("LUA_CPATH")?))
}

fn finished(version: LuaVersion, what: &str, command: Command) -> Result {
    let done = child::run(command, TIME_LIMIT)?;
    if !done.status.success() || done.timed_out {
        return Err(format!("{version}: {what} failed:\n{}{}", done.stdout, done.stderr).into());
    }
    println!("ok    {version} (rock) {what}");
    Ok(())
}

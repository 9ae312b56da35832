//! `copas`: a Lua 5.4 interpreter with every copas-rs module preloaded.
//!
//! Usage mirrors the stock `lua` command for running programs:
//! `copas [-e stat] [-l mod] [-v] [script [args...]]`, with `-` for standard input.
//! The script sees the global `arg` laid out as `lua` lays it out.

use std::process::ExitCode;

use mlua::{Lua, MultiValue, Table, Value};

const USAGE: &str = "usage: copas [-e stat] [-l mod] [-v] [script [args]]";

enum Step {
    Exec(String),
    Require(String),
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    match run(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("copas: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(argv: &[String]) -> Result<(), String> {
    let mut steps = Vec::new();
    let mut index = 1;
    let mut script = None;
    while index < argv.len() {
        match argv[index].as_str() {
            "-e" | "-l" => {
                let value = argv
                    .get(index + 1)
                    .ok_or_else(|| format!("'{}' needs argument\n{USAGE}", argv[index]))?;
                steps.push(if argv[index] == "-e" {
                    Step::Exec(value.clone())
                } else {
                    Step::Require(value.clone())
                });
                index += 2;
            }
            "-v" => {
                println!("copas-rs {} (Lua 5.4)", env!("CARGO_PKG_VERSION"));
                index += 1;
            }
            "--" => {
                index += 1;
                script = argv.get(index).cloned().map(|s| (index, s));
                break;
            }
            option if option.starts_with('-') && option != "-" => {
                return Err(format!("unrecognized option '{option}'\n{USAGE}"));
            }
            path => {
                script = Some((index, path.to_owned()));
                break;
            }
        }
    }

    // SAFETY: the runner is a full interpreter like `lua`, so scripts get the `debug`
    // library too (Copas's default error handler prints `debug.traceback`).
    let lua = unsafe { Lua::unsafe_new() };
    copas_lua::install(&lua).map_err(|e| e.to_string())?;
    set_arg_table(&lua, argv, script.as_ref().map_or(argv.len(), |(i, _)| *i))
        .map_err(|e| e.to_string())?;

    for step in steps {
        match step {
            Step::Exec(code) => lua.load(code).set_name("=(command line)").exec(),
            Step::Require(name) => lua
                .globals()
                .get::<mlua::Function>("require")
                .and_then(|require| require.call::<Value>(name.clone()))
                .and_then(|module| lua.globals().set(name, module)),
        }
        .map_err(|e| message(&e))?;
    }

    // With no arguments at all, `lua` runs standard input when it is not a terminal.
    let script = match script {
        None if argv.len() == 1 && !std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            Some((argv.len(), "-".to_owned()))
        }
        None if argv.len() == 1 => {
            println!("copas-rs {} (Lua 5.4)\n{USAGE}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        other => other,
    };
    let Some((index, path)) = script else {
        return Ok(());
    };
    let chunk = if path == "-" {
        let mut source = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut source)
            .map_err(|e| e.to_string())?;
        lua.load(strip_shebang(&source)).set_name("=stdin")
    } else {
        let source = std::fs::read(&path).map_err(|e| format!("cannot open {path}: {e}"))?;
        let source = strip_shebang(&source);
        lua.load(source).set_name(format!("@{path}"))
    };
    let args: MultiValue = argv[(index + 1).min(argv.len())..]
        .iter()
        .map(|a| lua.create_string(a).map(Value::String))
        .collect::<mlua::Result<_>>()
        .map_err(|e| e.to_string())?;
    chunk.call::<()>(args).map_err(|e| message(&e))
}

/// An error as `lua` prints it: the message (with its traceback), without mlua's
/// "runtime error: " or "syntax error: " in front.
fn message(err: &mlua::Error) -> String {
    match err {
        mlua::Error::RuntimeError(text) => text.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => message(cause),
        other => other.to_string(),
    }
}

/// `arg[0]` is the script, `arg[-1]`... the interpreter and its options, `arg[1]`... the
/// script's arguments, as the stock interpreter does it.
fn set_arg_table(lua: &Lua, argv: &[String], script_index: usize) -> mlua::Result<()> {
    let table: Table = lua.create_table()?;
    for (position, value) in argv.iter().enumerate() {
        table.raw_set(position as i64 - script_index as i64, value.as_str())?;
    }
    lua.globals().set("arg", table)
}

fn strip_shebang(source: &[u8]) -> Vec<u8> {
    if source.starts_with(b"#") {
        // Keep the newline so line numbers in error messages stay right.
        let end = source
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(source.len());
        source[end..].to_vec()
    } else {
        source.to_vec()
    }
}

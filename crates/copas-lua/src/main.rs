//! `copas`: a Lua 5.4 interpreter with every copas-rs module preloaded.
//!
//! Usage mirrors the stock `lua` command for running programs:
//! `copas [-e stat] [-l mod] [-v] [script [args...]]`, with `-` for standard input.
//! The script sees the global `arg` laid out as `lua` lays it out.

use std::process::ExitCode;

use mlua::{Lua, MultiValue, Table, Value};

// Lua allocates and frees small blocks at a high rate (a coroutine, its stack and its
// table entries per Copas thread); mimalloc serves them faster than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            Step::Exec(code) => lua
                .load(code)
                .set_name("=(command line)")
                .into_function()
                .and_then(|chunk| protected_call(&lua, chunk, MultiValue::new())),
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
    let chunk = chunk.into_function().map_err(|e| message(&e))?;
    protected_call(&lua, chunk, args).map_err(|e| message(&e))
}

/// Runs a chunk the way `lua.c` does: under a message handler that turns non-string
/// error values into text ("(error object is a table value)" or their `__tostring`)
/// and appends Lua's own traceback.
const PROTECTED_CALL: &str = r#"
local chunk = ...
local function handler(message)
  if type(message) ~= "string" then
    local mt = getmetatable(message)
    if mt and mt.__tostring then
      message = tostring(message)
    else
      message = ("(error object is a %s value)"):format(type(message))
    end
  end
  return debug.traceback(message, 2)
end
return xpcall(chunk, handler, select(2, ...))
"#;

fn protected_call(lua: &Lua, chunk: mlua::Function, args: MultiValue) -> mlua::Result<()> {
    let runner = lua
        .load(PROTECTED_CALL)
        .set_name("=copas")
        .into_function()?;
    let mut call_args = MultiValue::from_vec(vec![Value::Function(chunk)]);
    call_args.extend(args);
    let (ok, message): (bool, Option<String>) = runner.call(call_args)?;
    if ok {
        Ok(())
    } else {
        Err(mlua::Error::RuntimeError(message.unwrap_or_default()))
    }
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

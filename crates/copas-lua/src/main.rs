//! `copas`: a Lua 5.4 interpreter with every copas-rs module preloaded.
//!
//! Usage mirrors the stock `lua` command: `copas [options] [script [args...]]`, with
//! `-` for standard input, and an interactive prompt (`-i`, or no script on a
//! terminal). The script sees the global `arg` laid out as `lua` lays it out.

use std::io::IsTerminal;
use std::process::ExitCode;

use mlua::{Function, Lua, MultiValue, Table, Value};
use rustyline::error::ReadlineError;

const USAGE: &str = "\
usage: copas [options] [script [args]]
Available options are:
  -e stat   execute string 'stat'
  -i        enter interactive mode after executing 'script'
  -l mod    require library 'mod' into global 'mod'
  -v        show version information
  --workers N  run the script in N worker processes under a supervisor
               (copas.workers; 0: one per CPU)
  -h        show this help
  --        stop handling options
  -         stop handling options and execute stdin";

enum Step {
    Exec(String),
    Require(String),
}

/// The command line, read the way `lua.c` reads it.
#[derive(Default)]
struct Options {
    steps: Vec<Step>,
    /// The script's index in argv and its path (`-` for standard input).
    script: Option<(usize, String)>,
    interactive: bool,
    version: bool,
    /// `--workers N`: the script runs in N workers (`None` inside: one per CPU).
    workers: Option<Option<usize>>,
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

fn parse(argv: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options::default();
    let mut index = 1;
    while index < argv.len() {
        match argv[index].as_str() {
            "-e" | "-l" => {
                let value = argv
                    .get(index + 1)
                    .ok_or_else(|| format!("'{}' needs argument\n{USAGE}", argv[index]))?;
                options.steps.push(if argv[index] == "-e" {
                    Step::Exec(value.clone())
                } else {
                    Step::Require(value.clone())
                });
                index += 2;
            }
            "--workers" => {
                let count = argv
                    .get(index + 1)
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| format!("'--workers' needs a number\n{USAGE}"))?;
                options.workers = Some((count > 0).then_some(count));
                index += 2;
            }
            "-v" | "--version" => {
                options.version = true;
                index += 1;
            }
            "-i" => {
                options.interactive = true;
                options.version = true;
                index += 1;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--" => {
                index += 1;
                options.script = argv.get(index).cloned().map(|s| (index, s));
                break;
            }
            option if option.starts_with('-') && option != "-" => {
                return Err(format!("unrecognized option '{option}'\n{USAGE}"));
            }
            path => {
                options.script = Some((index, path.to_owned()));
                break;
            }
        }
    }
    Ok(Some(options))
}

fn version(lua: &Lua) -> String {
    let lua_version: String = lua.globals().get("_VERSION").unwrap_or_default();
    format!(
        "copas-rs {} ({lua_version}; the APIs of LuaSocket 3.1, LuaSec 1.3 and Copas 4.11)",
        env!("CARGO_PKG_VERSION")
    )
}

fn run(argv: &[String]) -> Result<(), String> {
    let Some(options) = parse(argv)? else {
        return Ok(());
    };

    // SAFETY: the runner is a full interpreter like `lua`, so scripts get the `debug`
    // library too (Copas's default error handler prints `debug.traceback`).
    let lua = unsafe { Lua::unsafe_new() };
    copas_lua::install(&lua).map_err(|e| e.to_string())?;
    add_system_cpath(&lua).map_err(|e| e.to_string())?;
    let script_index = options.script.as_ref().map_or(argv.len(), |(i, _)| *i);
    set_arg_table(&lua, argv, script_index).map_err(|e| e.to_string())?;

    if options.version {
        println!("{}", version(&lua));
    }
    if let Some(count) = options.workers {
        // The supervisor returns once its workers are gone; each worker goes on with
        // the rest of the command line.
        let index: Value = lua
            .load("return require('copas').workers(...)")
            .set_name("=(workers)")
            .into_function()
            .and_then(|start| {
                protected_call(
                    &lua,
                    start,
                    MultiValue::from_vec(vec![
                        count.map_or(Value::Nil, |n| Value::Integer(n as i64))
                    ]),
                )
            })
            .map(|results| results.into_iter().next().unwrap_or(Value::Nil))
            .map_err(|e| message(&e))?;
        if index.is_nil() {
            return Ok(());
        }
    }
    let executes = options
        .steps
        .iter()
        .any(|step| matches!(step, Step::Exec(_)));
    for step in options.steps {
        match step {
            Step::Exec(code) => lua
                .load(code)
                .set_name("=(command line)")
                .into_function()
                .and_then(|chunk| protected_call(&lua, chunk, MultiValue::new()))
                .map(drop),
            Step::Require(name) => lua
                .globals()
                .get::<Function>("require")
                .and_then(|require| {
                    let name = lua.create_string(&name)?;
                    protected_call(
                        &lua,
                        require,
                        MultiValue::from_vec(vec![Value::String(name)]),
                    )
                })
                .and_then(|module| {
                    lua.globals()
                        .set(name, module.into_iter().next().unwrap_or(Value::Nil))
                }),
        }
        .map_err(|e| message(&e))?;
    }

    // `lua` with neither a script nor -e nor -v reads standard input: a prompt on a
    // terminal, a script otherwise.
    let mut interactive = options.interactive;
    let script = match options.script {
        None if !executes && !options.version => {
            if std::io::stdin().is_terminal() {
                println!("{}", version(&lua));
                interactive = true;
                None
            } else {
                Some((argv.len(), "-".to_owned()))
            }
        }
        other => other,
    };
    if let Some((index, path)) = script {
        run_script(&lua, argv, index, &path)?;
    }
    if interactive {
        prompt_loop(&lua)?;
    }
    Ok(())
}

fn run_script(lua: &Lua, argv: &[String], index: usize, path: &str) -> Result<(), String> {
    let chunk = if path == "-" {
        let mut source = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut source)
            .map_err(|e| e.to_string())?;
        lua.load(strip_shebang(&source)).set_name("=stdin")
    } else {
        let source = std::fs::read(path).map_err(|e| format!("cannot open {path}: {e}"))?;
        lua.load(strip_shebang(&source))
            .set_name(format!("@{path}"))
    };
    let args: MultiValue = argv[(index + 1).min(argv.len())..]
        .iter()
        .map(|a| lua.create_string(a).map(Value::String))
        .collect::<mlua::Result<_>>()
        .map_err(|e| e.to_string())?;
    let chunk = chunk.into_function().map_err(|e| message(&e))?;
    protected_call(lua, chunk, args)
        .map(drop)
        .map_err(|e| message(&e))
}

/// Debian's `lua5.4` finds C modules of its packages (lua-filesystem, lua-cjson...)
/// in the multiarch directory, which the vendored Lua's default path lacks. Added only
/// when no LUA_CPATH chose the path, and after it, so that our preloaded modules and
/// the user's own choices come first.
fn add_system_cpath(lua: &Lua) -> mlua::Result<()> {
    if !cfg!(target_os = "linux")
        || std::env::var_os("LUA_CPATH_5_4").is_some()
        || std::env::var_os("LUA_CPATH").is_some()
    {
        return Ok(());
    }
    let package: Table = lua.globals().get("package")?;
    let mut cpath: String = package.get("cpath")?;
    for dir in [
        format!("/usr/lib/{}-linux-gnu/lua/5.4", std::env::consts::ARCH),
        "/usr/lib/lua/5.4".to_owned(),
    ] {
        if std::path::Path::new(&dir).is_dir() {
            cpath.push_str(&format!(";{dir}/?.so"));
        }
    }
    package.set("cpath", cpath)
}

/// The read-eval-print loop of `lua`: an expression line prints its values, a statement
/// runs, an unfinished one asks for more lines with `_PROMPT2`.
fn prompt_loop(lua: &Lua) -> Result<(), String> {
    let mut editor = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    while let Some(line) = read_line(lua, &mut editor, "_PROMPT", "> ")? {
        let mut source = line;
        let chunk = loop {
            match compile(lua, &source) {
                Ok(chunk) => break Some(chunk),
                Err(mlua::Error::SyntaxError {
                    incomplete_input: true,
                    ..
                }) => match read_line(lua, &mut editor, "_PROMPT2", ">> ")? {
                    Some(more) => {
                        source.push('\n');
                        source.push_str(&more);
                    }
                    None => break None,
                },
                Err(error) => {
                    eprintln!("{}", message(&error));
                    break None;
                }
            }
        };
        let _ = editor.add_history_entry(source.as_str());
        let Some(chunk) = chunk else { continue };
        let printed = protected_call(lua, chunk, MultiValue::new()).and_then(|results| {
            if results.is_empty() {
                return Ok(());
            }
            let print: Function = lua.globals().get("print")?;
            protected_call(lua, print, results).map(drop)
        });
        if let Err(error) = printed {
            eprintln!("{}", message(&error));
        }
    }
    println!();
    Ok(())
}

/// One line from the terminal, prompted by the global `name` if it is set; `None` at
/// the end of input. Ctrl-C abandons the line, as in `lua`.
fn read_line(
    lua: &Lua,
    editor: &mut rustyline::DefaultEditor,
    name: &str,
    default: &str,
) -> Result<Option<String>, String> {
    let prompt = match lua.globals().get::<Value>(name) {
        Ok(Value::Nil) | Err(_) => default.to_owned(),
        Ok(value) => value.to_string().unwrap_or_else(|_| default.to_owned()),
    };
    loop {
        match editor.readline(&prompt) {
            Ok(line) => return Ok(Some(line)),
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(None),
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// A line as `lua` compiles it: as an expression to print (`return <line>`) if it is
/// one, otherwise as a statement.
fn compile(lua: &Lua, source: &str) -> mlua::Result<Function> {
    let expression = lua
        .load(format!("return {source}"))
        .set_name("=stdin")
        .into_function();
    expression.or_else(|_| lua.load(source).set_name("=stdin").into_function())
}

/// The message handler `lua.c` runs a chunk under: it turns non-string error values
/// into text ("(error object is a table value)" or their `__tostring`) and appends
/// Lua's own traceback, whose last frame (`xpcall`, called from Rust) is shown as
/// `lua` shows its own C entry, so no frame of the runner appears.
const HANDLER: &str = r#"
local traceback = debug.traceback
return function(message)
  if type(message) ~= "string" then
    local mt = getmetatable(message)
    if mt and mt.__tostring then
      message = tostring(message)
    else
      message = ("(error object is a %s value)"):format(type(message))
    end
  end
  local trace = traceback(message, 2)
  local entry = "\n\t[C]: in function 'xpcall'"
  if trace:sub(-#entry) == entry then
    trace = trace:sub(1, -#entry - 1) .. "\n\t[C]: in ?"
  end
  return trace
end
"#;

/// Calls `function` as `lua.c` calls a chunk: through `xpcall` with [`HANDLER`].
fn protected_call(lua: &Lua, function: Function, args: MultiValue) -> mlua::Result<MultiValue> {
    let handler: Function = lua.load(HANDLER).set_name("=copas").eval()?;
    let xpcall: Function = lua.globals().get("xpcall")?;
    let mut call_args =
        MultiValue::from_vec(vec![Value::Function(function), Value::Function(handler)]);
    call_args.extend(args);
    let mut results = xpcall.call::<MultiValue>(call_args)?;
    match results.pop_front() {
        Some(Value::Boolean(true)) => Ok(results),
        _ => {
            let text = match results.pop_front() {
                Some(Value::String(text)) => text.to_string_lossy(),
                _ => String::new(),
            };
            Err(mlua::Error::RuntimeError(text))
        }
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

//! `cargo xtask test-lua --wine`: the lua-tests on the Windows runner
//! (`x86_64-pc-windows-gnu`, built with mingw-w64) under Wine, on loopback.
//!
//! Wine 8 lacks `bcryptprimitives.dll`, whose `ProcessPrng` every Rust program since
//! 1.78 imports; for it a stand-in DLL is compiled beside the runner (Wine 9 has the
//! real one). Files testing what Windows does not have are left out, by name.

use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::test_lua::{self, TESTS_DIR};
use crate::workspace::{self, find_program, Workspace};
use crate::Result;

const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW_CC: &str = "x86_64-w64-mingw32-gcc";

/// `socket.unix` and `socket.serial` do not exist on Windows, as in LuaSocket.
const UNIX_ONLY: [&str; 3] = ["socket_unix.lua", "socket_serial.lua", "redis_unix.lua"];

/// `ProcessPrng` over advapi32's `RtlGenRandom` (exported as `SystemFunction036`),
/// which takes at most a `ULONG` per call.
const PROCESS_PRNG: &str = r#"#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
"#;

pub(crate) fn run(workspace: &Workspace, filter: Option<&str>) -> Result {
    let wine = wine_program()?;
    let files: Vec<PathBuf> = test_lua::test_files(&workspace.root.join(TESTS_DIR), filter)?
        .into_iter()
        .filter(|file| {
            let skip = UNIX_ONLY.contains(&test_lua::file_name(file).as_ref());
            if skip {
                println!("skipped (Unix only): {}", workspace.show(file));
            }
            !skip
        })
        .collect();
    if files.is_empty() {
        return Err(format!("no {TESTS_DIR}/*.lua matches '{}'", filter.unwrap_or("")).into());
    }
    if find_program(MINGW_CC).is_none() {
        return Err(format!(
            "{MINGW_CC} is not on PATH (apt-get install gcc-mingw-w64-x86-64): it compiles \
             ring and Lua for {TARGET}"
        )
        .into());
    }
    println!("building the runner for {TARGET}");
    let mut cargo = workspace.cargo();
    cargo.args([
        "build",
        "--quiet",
        "-p",
        "copas-lua",
        "--bin",
        "copas",
        "--target",
        TARGET,
    ]);
    workspace::run(cargo)?;
    let dir = workspace.target.join(TARGET).join("debug");
    if wine_major(&wine)? < 9 {
        stand_in_dll(workspace, &dir)?;
    }
    let prefix = workspace.target.join("wine-prefix");
    let wrapper: Vec<OsString> = vec![
        "env".into(),
        format!("WINEPREFIX={}", prefix.display()).into(),
        "WINEDEBUG=-all".into(),
        wine.into(),
    ];
    // Wine creates its prefix on first use; two files starting at once on a fresh
    // prefix can lose their connection to the Wine server, so one start comes first.
    println!("starting Wine ({})", prefix.display());
    let mut warm_up = Command::new(&wrapper[0]);
    warm_up
        .args(&wrapper[1..])
        .arg(dir.join("copas.exe"))
        .args(["-e", ""]);
    workspace::run(warm_up)?;
    let mut setups = vec![test_lua::wrapped_runner(
        workspace,
        dir.join("copas.exe"),
        wrapper,
    )];
    test_lua::run_setups(&mut setups, &files)
}

/// Wine's 64-bit loader: `wine64` or `wine` on PATH, else Debian's location.
fn wine_program() -> Result<PathBuf> {
    ["wine64", "wine"]
        .iter()
        .find_map(|name| find_program(name))
        .or_else(|| {
            let debian = PathBuf::from("/usr/lib/wine/wine64");
            debian.is_file().then_some(debian)
        })
        .ok_or_else(|| "Wine is not installed (apt-get install wine64)".into())
}

/// The major version `wine --version` reports (`wine-8.0 (Debian 8.0~repack-4)`).
fn wine_major(wine: &std::path::Path) -> Result<u32> {
    let output = Command::new(wine)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", wine.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .strip_prefix("wine-")
        .and_then(|version| version.split(['.', ' ']).next())
        .and_then(|major| major.parse().ok())
        .ok_or_else(|| format!("cannot read Wine's version from '{}'", text.trim()).into())
}

/// Compiles the `bcryptprimitives.dll` stand-in into `dir`, beside the runner.
fn stand_in_dll(workspace: &Workspace, dir: &std::path::Path) -> Result {
    let source = workspace.target.join("wine-prng.c");
    fs::write(&source, PROCESS_PRNG)?;
    let mut gcc = Command::new(MINGW_CC);
    gcc.args(["-shared", "-O2", "-o"])
        .arg(dir.join("bcryptprimitives.dll"))
        .arg(&source)
        .arg("-ladvapi32");
    workspace::run(gcc)
}

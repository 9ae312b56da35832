//! `cargo xtask check-platforms`: `cargo check` of the workspace for macOS (x86_64 and
//! aarch64) and FreeBSD, and of the crates ported to Windows so far, from this
//! machine (issue #19), for every target whose
//! standard library is installed; a missing one is named with the command that
//! installs it.
//!
//! Rust code needs only the target's standard library, but two build scripts compile
//! C for the target: ring's (under copas-tls) and mlua's vendored Lua (the runner).
//! Without the target's C library headers (an SDK or sysroot), ring still compiles
//! with clang as a freestanding build (`RING_CORE_NOSTDLIBINC`, ring's own switch for
//! cross builds; Apple targets also get a two-line `TargetConditionals.h`); the
//! objects are never linked, only the Rust is checked. The vendored Lua needs the full
//! C library, so copas-lua is checked as the loadable module (`module` feature: Lua
//! symbols resolved at load time, no C compiled) and the runner is left out.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::workspace::{self, find_program, Workspace};
use crate::Result;

/// The targets checked.
const TARGETS: [&str; 3] = [
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-unknown-freebsd",
];

pub(crate) fn command(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(format!("check-platforms: unexpected argument '{arg}'").into());
    }
    run(&Workspace::locate()?)
}

/// Checks every installed target; fails when one fails. Missing targets and the
/// crates left out are printed, not failed: a machine without them checks the rest.
pub(crate) fn run(workspace: &Workspace) -> Result {
    let host = host_target()?;
    let clang = find_program("clang").is_some();
    let mut missing = Vec::new();
    for target in TARGETS {
        if !installed(target)? {
            println!(
                "check-platforms: {target}: its standard library is not installed; \
                 skipped (install it with: rustup target add {target})"
            );
            missing.push(target);
            continue;
        }
        let cross = target != host;
        if cross && !clang {
            println!(
                "check-platforms: {target}: no clang on PATH, so ring (copas-tls, \
                 copas-lua) cannot be compiled; checking luasocket-core, copas-sched \
                 and copas-clients only"
            );
            let mut cargo = workspace.cargo();
            cargo.args(["check", "--all-targets", "--target", target]);
            cargo.args([
                "-p",
                "luasocket-core",
                "-p",
                "copas-sched",
                "-p",
                "copas-clients",
            ]);
            workspace::run(cargo)?;
            continue;
        }
        println!("check-platforms: {target}: the workspace, copas-lua as the module");
        let mut cargo = workspace.cargo();
        cargo.args([
            "check",
            "--workspace",
            "--exclude",
            "copas-lua",
            "--all-targets",
        ]);
        cargo.args(["--target", target]);
        if cross {
            cross_c(workspace, &mut cargo, target)?;
        }
        workspace::run(cargo)?;
        let mut cargo = workspace.cargo();
        cargo.args(["check", "-p", "copas-lua", "--lib", "--no-default-features"]);
        cargo.args(["--features", "lua54,module", "--target", target]);
        if cross {
            cross_c(workspace, &mut cargo, target)?;
        }
        workspace::run(cargo)?;
        if cross {
            println!(
                "check-platforms: {target}: the runner (copas-lua's vendored Lua) is left \
                 out: its C needs {target}'s C library headers"
            );
        } else {
            let mut cargo = workspace.cargo();
            cargo.args([
                "check",
                "-p",
                "copas-lua",
                "--all-targets",
                "--target",
                target,
            ]);
            workspace::run(cargo)?;
        }
    }
    windows(workspace, &mut missing)?;
    if missing.is_empty() {
        println!("check-platforms: all {} targets checked", TARGETS.len() + 1);
    } else {
        println!(
            "check-platforms: NOT CHECKED (target not installed): {}",
            missing.join(", ")
        );
    }
    Ok(())
}

/// Windows (mingw-w64's target): every crate. luasocket-core's own tests are
/// Unix-bound (Unix-domain pairs, rlimits, ptys), so its library is checked alone;
/// ring and the runner's vendored Lua are compiled by mingw-w64's gcc, without
/// which copas-tls and the crates built on it (copas-clients, copas-lua) are left
/// out, by name (docs/platforms.md).
fn windows(workspace: &Workspace, missing: &mut Vec<&'static str>) -> Result {
    const WINDOWS: &str = "x86_64-pc-windows-gnu";
    const MINGW_CC: &str = "x86_64-w64-mingw32-gcc";
    if !installed(WINDOWS)? {
        println!(
            "check-platforms: {WINDOWS}: its standard library is not installed; skipped \
             (install it with: rustup target add {WINDOWS})"
        );
        missing.push(WINDOWS);
        return Ok(());
    }
    println!(
        "check-platforms: {WINDOWS}: every crate (luasocket-core: the library; its tests \
         are Unix-bound)"
    );
    let mut cargo = workspace.cargo();
    cargo.args([
        "check",
        "--lib",
        "--target",
        WINDOWS,
        "-p",
        "luasocket-core",
    ]);
    workspace::run(cargo)?;
    let mingw = find_program(MINGW_CC).is_some();
    let mut cargo = workspace.cargo();
    cargo.args([
        "check",
        "--all-targets",
        "--target",
        WINDOWS,
        "-p",
        "copas-sched",
    ]);
    if !mingw {
        println!(
            "check-platforms: {WINDOWS}: {MINGW_CC} not found (apt-get install \
             gcc-mingw-w64-x86-64); copas-tls and the crates built on it (copas-clients, \
             copas-lua) are left out"
        );
        return workspace::run(cargo);
    }
    cargo.args(["-p", "copas-tls", "-p", "copas-clients"]);
    workspace::run(cargo)?;
    // The runner (vendored Lua), then the loadable module's build.
    let mut cargo = workspace.cargo();
    cargo.args(["check", "--target", WINDOWS, "-p", "copas-lua"]);
    workspace::run(cargo)?;
    let mut cargo = workspace.cargo();
    cargo.args(["check", "--lib", "--target", WINDOWS, "-p", "copas-lua"]);
    cargo.args(["--no-default-features", "--features", "lua54,module"]);
    workspace::run(cargo)
}

/// Compiles ring's C for `target` with clang, freestanding.
fn cross_c(workspace: &Workspace, cargo: &mut Command, target: &str) -> Result {
    let include = workspace.target.join("check-platforms").join("include");
    fs::create_dir_all(&include)?;
    // ring includes it on Apple targets only to tell macOS from iOS.
    fs::write(
        include.join("TargetConditionals.h"),
        "#define TARGET_OS_MAC 1\n#define TARGET_OS_OSX 1\n#define TARGET_OS_IPHONE 0\n",
    )?;
    let variable = target.replace('-', "_");
    cargo.env(format!("CC_{variable}"), "clang");
    cargo.env(
        format!("CFLAGS_{variable}"),
        format!(
            "-ffreestanding -DRING_CORE_NOSTDLIBINC=1 -isystem {}",
            include.display()
        ),
    );
    Ok(())
}

/// Whether the standard library of `target` is in the toolchain's sysroot.
fn installed(target: &str) -> Result<bool> {
    let sysroot = rustc_print("sysroot")?;
    Ok(Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir())
}

fn host_target() -> Result<String> {
    let info = rustc_print_version()?;
    info.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host".into())
}

fn rustc() -> Command {
    Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
}

fn rustc_print(what: &str) -> Result<String> {
    let output = rustc().args(["--print", what]).output()?;
    Ok(String::from_utf8(output.stdout)?)
}

fn rustc_print_version() -> Result<String> {
    let output = rustc().arg("-vV").output()?;
    Ok(String::from_utf8(output.stdout)?)
}

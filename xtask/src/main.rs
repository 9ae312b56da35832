//! Project tasks, run as `cargo xtask <command>` from anywhere in the workspace.
//!
//! Kept to std, libc and rcgen (the test certificates) so that it compiles quickly on a
//! cold CI machine.

#![warn(missing_docs, unreachable_pub)]

mod argfuzz;
mod bench;
mod certs;
mod child;
mod ci;
mod docs;
mod elf;
mod lua;
mod memcheck;
mod module;
mod platforms;
mod rock;
mod soak;
mod test_lua;
mod upstream;
mod wine;
mod workspace;

use std::process::ExitCode;

/// Errors end the task with their message; there is nothing to recover from.
type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  build-module [--release] [--lua lua54,lua53,lua52,lua51,luajit]
        build crates/copas-lua as a loadable module for each Lua version (default:
        each whose interpreter is on PATH) into target/lua-modules/<version>/
  test-lua [--lua runner,lua54,lua53,lua52,lua51,luajit] [--wine] [FILTER]
        run lua-tests/*.lua (those whose file name contains FILTER) on the runner and
        the stock interpreters; LUA_TEST_FILTER=NAME selects tests inside the files;
        --wine: the Windows runner (x86_64-pc-windows-gnu) under Wine instead
  test-certs DIR
        write the test certificates test-lua gives the tests (COPAS_TEST_CERTS) into DIR,
        for running a TLS test by hand
  memcheck [--all] [--lua VERSION] [FILTER | SCRIPT.lua...]
        run lua-tests/*.lua (those whose name contains FILTER, or the scripts named)
        on lua5.4 (or VERSION's stock interpreter, such as lua52) under valgrind with
        the release module; any valgrind error fails a file; logs in target/memcheck/.
        Skips the ticker files unless --all
  rock-install --lua INTERPRETER --luadir DIR --libdir DIR
        what rockspecs/copas-rs-*.rockspec runs: the module for INTERPRETER's Lua as
        DIR/copasrs.so and one Lua loader per module in LUADIR (COPAS_RS_DEBUG=1: debug)
  test-rock [--lua lua54,lua51]
        luarocks make the rockspec into a fresh tree per Lua version, then run a check of
        the installed modules, an example and lua-tests/ on it with that tree's paths
  test-upstream --copas DIR --luasocket DIR [--lua LIST] [--modules DIRS] [--real] [FILTER]
        run the test suites of Copas and LuaSocket from checkouts you fetched on our
        modules (not part of ci); --modules adds directories (':'-separated) of other
        Lua modules the tests need (coxpcall); --real runs them on the system's LuaSocket
        and LuaSec with the checkout's Copas (--modules then also names binaryheap's
        and timerwheel's)
  docs [--no-rust] [--out DIR]
        the documentation site: docs/*.md through mdBook, the rustdoc of the library
        crates under rust/, every relative link checked; into target/docs-site/
        (needs mdbook: cargo install mdbook --locked)
  check-platforms
        cargo check for x86_64/aarch64-apple-darwin, x86_64-unknown-freebsd and
        x86_64-pc-windows-gnu (mingw-w64 compiles ring and Lua), each target whose standard
        library is installed (rustup target add ...); says which are missing and
        which crates are left out and why (docs/platforms.md)
  ci    fmt, clippy, cargo test, check-platforms, test-lua, test-rock and memcheck:
        everything CI checks
  argfuzz [--calls N] [--seed S] [--lua LIST]
        the Lua argument fuzzer (fuzz/lua/argfuzz.lua), default 100000 calls on
        lua54,luajit: every call must return or raise a Lua error, never panic or abort
  soak [--secs N] [--conns N]
        churn N connections (default 10000, at most N seconds, default 300) through a
        Copas echo server on the release runner; check its fds are back to baseline
  bench [--quick] [--runs N] [--only SCENARIO,...] [--targets runner,lua54,luajit,original,ref]
        release benchmarks side by side (issue #6); the original Copas runs when
        COPAS_ORIGINAL names its src directory (':'-separated extra directories for
        binaryheap, timerwheel, coxpcall); tables go to target/bench/";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "build-module" => module::command(rest),
        "test-lua" => test_lua::command(rest),
        "memcheck" => memcheck::command(rest),
        "rock-install" => rock::command(rest),
        "test-rock" => rock::test_command(rest),
        "test-upstream" => upstream::command(rest),
        "ci" => ci::command(rest),
        "docs" => docs::command(rest),
        "check-platforms" => platforms::command(rest),
        "argfuzz" => argfuzz::command(rest),
        "soak" => soak::command(rest),
        "test-certs" => certs::command(rest),
        "bench" => bench::command(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command '{other}'\n{USAGE}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

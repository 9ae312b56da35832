//! Exports the runner's symbols, the Lua C API among them, from its dynamic symbol
//! table: C modules (`lfs.so`, `cjson.so`...) are built against a `lua` binary that
//! provides the API, and `dlopen` resolves their `lua_*` references against the
//! executable. Without this the runner cannot load any of them.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "freebsd" {
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
    }
}

//! `cargo xtask build-module`: crates/copas-lua as a module for stock interpreters.
//!
//! One shared object per Lua version, target/lua-modules/<version>/copas.so, and for
//! each `luaopen_*` it exports a symlink where `require` looks for that module
//! (`luaopen_socket_core` -> socket/core.so). Symlinks rather than copies: the dynamic
//! linker then loads the object once, so all modules share one set of userdata types.
//! Beside them, a Lua loader file per module (socket.lua, socket/core.lua...): with the
//! directory first on LUA_PATH too, another LuaSocket's Lua files cannot come first.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::elf;
use crate::lua::LuaVersion;
use crate::workspace::{self, Workspace};
use crate::Result;

pub(crate) const LIBRARY: &str = "copas.so";
/// The entry point that opens any of our modules by name, for the Lua loader files.
pub(crate) const LIBRARY_MODULE: &str = "copasrs";

#[derive(Clone, Copy, Debug)]
pub(crate) enum Profile {
    Debug,
    Release,
}

pub(crate) fn command(args: &[String]) -> Result {
    let mut profile = Profile::Debug;
    let mut versions = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--release" => profile = Profile::Release,
            "--lua" => {
                let list = args
                    .next()
                    .ok_or("--lua needs a list such as lua54,luajit")?;
                versions = Some(LuaVersion::parse_list(list)?);
            }
            other => return Err(format!("build-module: unexpected argument '{other}'").into()),
        }
    }
    let versions = versions.unwrap_or_else(LuaVersion::installed);
    if versions.is_empty() {
        return Err("no lua5.1 to lua5.4 nor luajit on PATH; name the versions with --lua".into());
    }
    let workspace = Workspace::locate()?;
    for version in versions {
        let installed = build(&workspace, version, profile)?;
        println!(
            "{version}: installed {} with modules {}",
            workspace.show(&installed.dir.join(LIBRARY)),
            installed.modules.join(", ")
        );
    }
    Ok(())
}

/// A module directory ready for `LUA_CPATH=<dir>/?.so`.
#[derive(Debug)]
pub(crate) struct Installed {
    pub dir: PathBuf,
    /// Module names, as given to `require`.
    pub modules: Vec<String>,
}

/// Builds the module for `version` and installs it into target/lua-modules/<version>/.
pub(crate) fn build(
    workspace: &Workspace,
    version: LuaVersion,
    profile: Profile,
) -> Result<Installed> {
    let target_dir = workspace.target.join(format!("module-{version}"));
    println!("building copas-lua as a {version} module");
    let mut cargo = workspace.cargo();
    cargo
        .args([
            "rustc",
            "--quiet",
            "-p",
            "copas-lua",
            "--lib",
            "--crate-type",
            "cdylib",
        ])
        .args(["--no-default-features", "--features"])
        .arg(format!("{version},module"))
        .arg("--target-dir")
        .arg(&target_dir);
    let profile_dir = match profile {
        Profile::Debug => "debug",
        Profile::Release => {
            cargo.arg("--release");
            "release"
        }
    };
    workspace::run(cargo)?;
    let library = target_dir.join(profile_dir).join("libcopas_lua.so");
    install(
        &library,
        &workspace.target.join("lua-modules").join(version.name()),
    )
}

/// Replaces `dir` with a copy of `library` and one symlink to it per entry point.
fn install(library: &Path, dir: &Path) -> Result<Installed> {
    let image = fs::read(library).map_err(|e| format!("cannot read {}: {e}", library.display()))?;
    let modules: Vec<String> = elf::exported_functions(&image)
        .map_err(|e| format!("{}: {e}", library.display()))?
        .iter()
        .filter_map(|symbol| module_name(symbol))
        .collect();
    if modules.is_empty() {
        return Err(format!("{} exports no luaopen_* function", library.display()).into());
    }

    // Start afresh so that no link outlives the entry point it stood for.
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    fs::write(dir.join(LIBRARY), &image)?;
    for module in &modules {
        let (link, target) = module_link(module);
        if link == Path::new(LIBRARY) {
            continue; // `require "copas"` finds the library itself.
        }
        let link = dir.join(link);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink(&target, &link).map_err(|e| format!("cannot link {}: {e}", link.display()))?;
    }
    for module in modules.iter().filter(|module| *module != LIBRARY_MODULE) {
        write_loader(dir, module)?;
    }
    Ok(Installed {
        dir: dir.to_path_buf(),
        modules,
    })
}

/// Writes `dir/socket/core.lua` for `socket.core`: Lua that opens the module through the
/// library's `copasrs` entry point, which LUA_CPATH finds.
pub(crate) fn write_loader(dir: &Path, name: &str) -> Result {
    let path = dir.join(format!("{}.lua", name.replace('.', "/")));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let text = format!(
        "-- copas-rs: '{name}' is in the one shared object {LIBRARY_MODULE}.so, loaded once \
         for every module.\nreturn require(\"{LIBRARY_MODULE}\")(\"{name}\")\n"
    );
    fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

/// The module `require` expects behind an entry point: `luaopen_socket_core` is
/// `socket.core`. Module names with `_` of their own cannot be told apart; ours have none.
fn module_name(symbol: &str) -> Option<String> {
    let name = symbol.strip_prefix("luaopen_")?;
    (!name.is_empty()).then(|| name.replace('_', "."))
}

/// Where the C searcher looks for `module` (relative to a LUA_CPATH directory), and
/// the symlink target from there back to the library.
fn module_link(module: &str) -> (PathBuf, PathBuf) {
    let link = PathBuf::from(format!("{}.so", module.replace('.', "/")));
    let depth = module.matches('.').count();
    let target = PathBuf::from(format!("{}{LIBRARY}", "../".repeat(depth)));
    (link, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_name_modules() {
        assert_eq!(
            module_name("luaopen_socket_core").as_deref(),
            Some("socket.core")
        );
        assert_eq!(module_name("luaopen_copas").as_deref(), Some("copas"));
        assert_eq!(module_name("luaopen_"), None);
        assert_eq!(module_name("lua_pushnil"), None);
    }

    #[test]
    fn links_point_back_to_the_library() {
        assert_eq!(
            module_link("socket"),
            (PathBuf::from("socket.so"), PathBuf::from("copas.so"))
        );
        assert_eq!(
            module_link("copas.timer"),
            (
                PathBuf::from("copas/timer.so"),
                PathBuf::from("../copas.so")
            )
        );
        assert_eq!(
            module_link("a.b.c"),
            (PathBuf::from("a/b/c.so"), PathBuf::from("../../copas.so"))
        );
    }
}

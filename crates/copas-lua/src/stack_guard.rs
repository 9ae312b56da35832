//! Refuses to run half of copas-rs beside half of another LuaSocket or LuaSec.
//!
//! A stock interpreter searches LUA_PATH before LUA_CPATH, so another LuaSocket's
//! `socket.lua` ahead of ours on LUA_PATH would run on top of our `socket.core` (and
//! LuaSec's `ssl.lua` would ask for an `ssl.core` we do not have). Such a program must
//! stop at `require` with both files named, not run on a mixture.

use mlua::{Function, Lua, Result};

/// What `_IMPLEMENTATION` says in `socket`, `socket.core`, `ssl` and `copas`.
pub(crate) const IMPLEMENTATION: &str = concat!("copas-rs ", env!("CARGO_PKG_VERSION"));

/// Given our `_IMPLEMENTATION` and our library's file, returns a function that wraps a
/// module's preload loader in the check. The check raises from Lua, so the error is
/// the plain string `require` passes on. It uses `debug.getinfo` when the state has
/// the debug library; a state without it is checked through `package.loaded` alone.
const GUARD: &str = r#"
local implementation, library = ...
local function check(opening)
local advice = "put copas-rs's directory first on LUA_PATH as well as on LUA_CPATH, "
  .. "or use one of the two stacks only"
-- package.searchpath is 5.2's; Lua 5.1 and LuaJIT may lack it.
local searchpath = package.searchpath or function(name, path)
  for template in path:gmatch("[^;]+") do
    local file = template:gsub("%?", (name:gsub("%.", "/")))
    local handle = io.open(file, "r")
    if handle then
      handle:close()
      return file
    end
  end
end
local function locate(name)
  return searchpath(name, package.path) or searchpath(name, package.cpath) or "(unknown file)"
end
for _, name in ipairs({ "socket", "socket.core", "ssl" }) do
  local module = package.loaded[name]
  if type(module) == "table" and module._IMPLEMENTATION ~= implementation then
    error(("copas-rs: mixed stacks: module '%s' is already loaded from %s, which is not "
      .. "copas-rs (%s is); %s"):format(name, locate(name), library, advice), 0)
  end
end
-- The loader files of the rock and of build-module (xtask/src/module.rs) are ours.
local function our_loader(file)
  local handle = io.open(file, "r")
  if not handle then return false end
  local first = handle:read("*l") or ""
  handle:close()
  return first:find("-- copas-rs: ", 1, true) == 1
end
local getinfo = type(debug) == "table" and debug.getinfo
local caller
if getinfo then
  for level = 2, 60 do
    local info = getinfo(level, "S")
    if not info then break end
    local file = info.what == "main" and info.source:match("^@(.+)$")
    if file and (file:match("[/\\]socket%.lua$") or file:match("[/\\]ssl%.lua$")
        or file == "socket.lua" or file == "ssl.lua") and not our_loader(file) then
      caller = file
      break
    end
  end
end
if opening == "ssl.core" then
  error(("copas-rs: mixed stacks: %s asks for 'ssl.core', LuaSec's C half, which copas-rs "
    .. "(%s) does not have: its 'ssl' is one module; %s"):format(caller or "a file",
    library, advice), 0)
end
if caller and opening == "socket.core" then
  error(("copas-rs: mixed stacks: %s, another LuaSocket's 'socket', is loading copas-rs's "
    .. "'socket.core' from %s; %s"):format(caller, library, advice), 0)
end
end
return function(name, loader)
  return function(...)
    check(name)
    return loader(...)
  end
end
"#;

/// A function `(name, loader) -> loader` that makes `loader` raise the mixed-stack error
/// when another stack's half is loaded, or is what asks for module `name`.
pub(crate) fn guard(lua: &Lua) -> Result<Function> {
    lua.load(GUARD)
        .set_name("=copas-rs")
        .call((IMPLEMENTATION, library()))
}

/// The file our code was loaded from: the shared object, or the runner.
fn library() -> String {
    #[cfg(feature = "module")]
    {
        match module_file() {
            Some(name) => {
                // The object is opened under the name of the module that loaded it
                // first (a symlink such as socket/core.so); the file itself is what
                // to show.
                let file = std::fs::canonicalize(&name).unwrap_or(name);
                file.display().to_string()
            }
            None => "the copas-rs shared object".to_owned(),
        }
    }
    #[cfg(not(feature = "module"))]
    {
        std::env::current_exe().map_or_else(
            |_| "the copas runner".to_owned(),
            |path| format!("the copas runner {}", path.display()),
        )
    }
}

/// The path the loader opened our shared object from.
#[cfg(all(feature = "module", unix))]
fn module_file() -> Option<std::path::PathBuf> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    let address = library as fn() -> String as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables for an address of ours and
    // fills `info`, whose file name is a C string owned by the loader while the
    // object stays loaded (it does: this code is running from it).
    let found = unsafe { libc::dladdr(address, &mut info) } != 0;
    if found && !info.dli_fname.is_null() {
        // SAFETY: as above, a NUL-terminated string that outlives this copy.
        let bytes = unsafe {
            std::slice::from_raw_parts(info.dli_fname.cast::<u8>(), libc::strlen(info.dli_fname))
        };
        return Some(std::path::PathBuf::from(
            String::from_utf8_lossy(bytes).into_owned(),
        ));
    }
    None
}

/// The path of the DLL our code is in: the module handle of an address of ours,
/// then its file name.
#[cfg(all(feature = "module", windows))]
fn module_file() -> Option<std::path::PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    use windows_sys::Win32::System::LibraryLoader::{
        GetModuleFileNameW, GetModuleHandleExW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
        GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
    };
    let address = library as fn() -> String as *const u16;
    let mut module = std::ptr::null_mut();
    // SAFETY: with FROM_ADDRESS the name argument is an address inside a loaded
    // module (our own code); UNCHANGED_REFCOUNT leaves the module's count alone, and
    // `module` is writable.
    let found = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            address,
            &mut module,
        )
    } != 0;
    if !found {
        return None;
    }
    let mut name = vec![0u16; 32_768];
    // SAFETY: `module` is our loaded module and the buffer is writable for its length.
    let length = unsafe { GetModuleFileNameW(module, name.as_mut_ptr(), name.len() as u32) };
    let length = usize::try_from(length)
        .ok()
        .filter(|&n| n > 0 && n < name.len())?;
    Some(std::ffi::OsString::from_wide(&name[..length]).into())
}

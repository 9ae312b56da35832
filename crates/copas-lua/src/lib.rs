//! The Lua face of copas-rs: `socket`, `socket.core`, `ltn12`, `mime`, `copas`,
//! `copas.*` and `ssl`, assembled from the inner crates with mlua.
//!
//! This crate holds only binding code: argument checking, conversion between Lua
//! values and the inner crates' types, and the small Lua files that give modules
//! their LuaSocket/Copas shape. Socket semantics live in `luasocket-core`, the
//! dispatcher in `copas-sched`.
//!
//! It is built two ways: as the `copas` runner binary (vendored Lua 5.4, every module
//! preloaded), and as one loadable module per Lua version (`cargo xtask build-module`)
//! whose single shared object answers every `luaopen_*` entry point, so all modules
//! share one set of userdata types.
//!
//! A third way is embedding: an mlua host calls [`install`] on its own `Lua`, and runs
//! Copas to completion or one turn at a time from its own event loop with a [`Driver`]
//! (see [`embed`]).
//!
//! ```
//! let lua = mlua::Lua::new();
//! copas_lua::install(&lua).unwrap();
//! let version: String = lua.load(r#"return require("socket")._VERSION"#).eval().unwrap();
//! assert!(version.starts_with("LuaSocket"));
//! ```

#![deny(missing_docs)]
#![warn(unreachable_pub)]

use mlua::{Function, Lua, Result, Table, Value};

// The Driver hands out a Unix descriptor; a Windows host would need a SOCKET-based
// equivalent, not written yet (docs/platforms.md).
#[cfg(unix)]
pub use embed::Driver;

mod copas_core;
mod dispatch;
#[cfg(unix)]
pub mod embed;
mod http_core;
mod lua_api;
mod mime_core;
mod socket_core;
mod ssl;
mod stack_guard;
mod tp_core;

/// A module whose body is Lua source shipped inside the library.
struct LuaModule {
    name: &'static str,
    source: &'static str,
}

/// A module whose body is a Rust function returning its table.
struct NativeModule {
    name: &'static str,
    open: fn(&Lua) -> Result<Value>,
}

const NATIVE_MODULES: &[NativeModule] = &[
    NativeModule {
        name: "socket.core",
        open: |lua| {
            let core = socket_core::open(lua)?;
            core.set("_IMPLEMENTATION", stack_guard::IMPLEMENTATION)?;
            Ok(Value::Table(core))
        },
    },
    // LuaSocket's Windows build has neither, so `require` fails there as it does.
    #[cfg(unix)]
    NativeModule {
        name: "socket.unix",
        open: socket_core::unix::open,
    },
    #[cfg(unix)]
    NativeModule {
        name: "socket.serial",
        open: socket_core::serial::open,
    },
    NativeModule {
        name: "mime.core",
        open: |lua| mime_core::open(lua).map(Value::Table),
    },
    NativeModule {
        name: "copas.core",
        open: |lua| copas_core::open(lua).map(Value::Table),
    },
    NativeModule {
        name: "ssl",
        open: |lua| {
            let ssl = ssl::open(lua)?;
            ssl.set("_IMPLEMENTATION", stack_guard::IMPLEMENTATION)?;
            Ok(Value::Table(ssl))
        },
    },
    // Only LuaSec's own `ssl.lua` asks for this; the guard of its loader refuses it
    // always, with the mixed-stack error naming that file.
    NativeModule {
        name: "ssl.core",
        open: |lua| lua.create_table().map(Value::Table),
    },
    NativeModule {
        name: "ssl.x509",
        open: |lua| ssl::open_x509(lua).map(Value::Table),
    },
    NativeModule {
        name: "socket.http.core",
        open: |lua| http_core::open(lua).map(Value::Table),
    },
    NativeModule {
        name: "socket.tp.core",
        open: |lua| tp_core::open(lua).map(Value::Table),
    },
];

const LUA_MODULES: &[LuaModule] = &[
    LuaModule {
        name: "socket",
        source: include_str!("../lua/socket.lua"),
    },
    LuaModule {
        name: "ltn12",
        source: include_str!("../lua/ltn12.lua"),
    },
    LuaModule {
        name: "mime",
        source: include_str!("../lua/mime.lua"),
    },
    LuaModule {
        name: "socket.url",
        source: include_str!("../lua/socket/url.lua"),
    },
    LuaModule {
        name: "socket.headers",
        source: include_str!("../lua/socket/headers.lua"),
    },
    LuaModule {
        name: "copas",
        source: include_str!("../lua/copas.lua"),
    },
    LuaModule {
        name: "copas.waiting",
        source: include_str!("../lua/copas/waiting.lua"),
    },
    LuaModule {
        name: "copas.timer",
        source: include_str!("../lua/copas/timer.lua"),
    },
    LuaModule {
        name: "copas.lock",
        source: include_str!("../lua/copas/lock.lua"),
    },
    LuaModule {
        name: "copas.semaphore",
        source: include_str!("../lua/copas/semaphore.lua"),
    },
    LuaModule {
        name: "copas.queue",
        source: include_str!("../lua/copas/queue.lua"),
    },
    LuaModule {
        name: "copas.future",
        source: include_str!("../lua/copas/future.lua"),
    },
    LuaModule {
        name: "copas.limit",
        source: include_str!("../lua/copas/limit.lua"),
    },
    LuaModule {
        name: "socket.http.client",
        source: include_str!("../lua/socket/http/client.lua"),
    },
    LuaModule {
        name: "socket.http",
        source: include_str!("../lua/socket/http.lua"),
    },
    LuaModule {
        name: "copas.http",
        source: include_str!("../lua/copas/http.lua"),
    },
    LuaModule {
        name: "socket.tp",
        source: include_str!("../lua/socket/tp.lua"),
    },
    LuaModule {
        name: "socket.ftp",
        source: include_str!("../lua/socket/ftp.lua"),
    },
    LuaModule {
        name: "socket.smtp",
        source: include_str!("../lua/socket/smtp.lua"),
    },
    LuaModule {
        name: "copas.ftp",
        source: include_str!("../lua/copas/ftp.lua"),
    },
    LuaModule {
        name: "copas.smtp",
        source: include_str!("../lua/copas/smtp.lua"),
    },
    LuaModule {
        name: "ssl.config",
        source: include_str!("../lua/ssl/config.lua"),
    },
    LuaModule {
        name: "ssl.https",
        source: include_str!("../lua/ssl/https.lua"),
    },
];

/// Marks a Lua state whose `package.preload` already holds our modules.
struct Installed;

/// Puts every module of this crate into `package.preload`, so `require` finds them.
///
/// Idempotent: a second call on the same state does nothing.
pub fn install(lua: &Lua) -> Result<()> {
    if lua.app_data_ref::<Installed>().is_some() {
        return Ok(());
    }
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    let guard = stack_guard::guard(lua)?;
    for module in NATIVE_MODULES {
        let open = module.open;
        let loader = lua.create_function(move |lua, ()| open(lua))?;
        preload.set(module.name, guard.call::<Function>((module.name, loader))?)?;
    }
    for module in LUA_MODULES {
        let chunk = lua
            .load(module.source)
            .set_name(format!("@{}", module.name))
            .into_function()?;
        preload.set(module.name, guard.call::<Function>((module.name, chunk))?)?;
    }
    lua.set_app_data(Installed);
    Ok(())
}

/// Runs the preload loader of `name` directly. Entry points use this instead of
/// `require`, which would see the module as "being loaded" on Lua 5.1 and fail.
pub fn load(lua: &Lua, name: &str) -> Result<Value> {
    install(lua)?;
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    let loader: Function = preload.get(name)?;
    loader.call((name, ":preload:"))
}

#[cfg(feature = "module")]
mod entry_points {
    //! One `luaopen_*` symbol per module name, all in the one shared object.

    use crate::lua_api::{c_int, entry::open_module, LuaState};

    macro_rules! entry_points {
        ($($symbol:ident => $module:literal),* $(,)?) => {$(
            #[no_mangle]
            unsafe extern "C-unwind" fn $symbol(state: *mut LuaState) -> c_int {
                // SAFETY: Lua calls this as a C function, with its state.
                unsafe { open_module(state, |lua| crate::load(lua, $module)) }
            }
        )*};
    }

    /// The LuaRocks layout's one library (`copasrs.so`): returns a function that opens
    /// any of our modules by name, for the Lua loader files beside it.
    #[no_mangle]
    unsafe extern "C-unwind" fn luaopen_copasrs(state: *mut LuaState) -> c_int {
        // SAFETY: Lua calls this as a C function, with its state.
        unsafe {
            open_module(state, |lua| {
                crate::install(lua)?;
                lua.create_function(|lua, name: String| crate::load(lua, &name))
                    .map(mlua::Value::Function)
            })
        }
    }

    entry_points! {
        luaopen_socket_core => "socket.core",
        luaopen_socket => "socket",
        luaopen_mime_core => "mime.core",
        luaopen_mime => "mime",
        luaopen_ltn12 => "ltn12",
        luaopen_socket_url => "socket.url",
        luaopen_socket_headers => "socket.headers",
        luaopen_copas => "copas",
        luaopen_copas_core => "copas.core",
        luaopen_copas_waiting => "copas.waiting",
        luaopen_copas_timer => "copas.timer",
        luaopen_copas_lock => "copas.lock",
        luaopen_copas_semaphore => "copas.semaphore",
        luaopen_copas_queue => "copas.queue",
        luaopen_copas_future => "copas.future",
        luaopen_copas_limit => "copas.limit",
        luaopen_ssl => "ssl",
        luaopen_ssl_core => "ssl.core",
        luaopen_socket_http_core => "socket.http.core",
        luaopen_socket_http_client => "socket.http.client",
        luaopen_socket_http => "socket.http",
        luaopen_copas_http => "copas.http",
        luaopen_socket_tp_core => "socket.tp.core",
        luaopen_socket_tp => "socket.tp",
        luaopen_socket_ftp => "socket.ftp",
        luaopen_socket_smtp => "socket.smtp",
        luaopen_copas_ftp => "copas.ftp",
        luaopen_copas_smtp => "copas.smtp",
        luaopen_ssl_https => "ssl.https",
        luaopen_ssl_x509 => "ssl.x509",
        luaopen_ssl_config => "ssl.config",
    }

    #[cfg(unix)]
    entry_points! {
        luaopen_socket_unix => "socket.unix",
        luaopen_socket_serial => "socket.serial",
    }
}

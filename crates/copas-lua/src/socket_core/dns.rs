//! The resolver primitives behind `socket.dns`: results as LuaSocket's tables.

use luasocket_core::dns::{self, Family, Hints, HostInfo};
use mlua::{IntoLuaMulti, Lua, LuaString, MultiValue, Result, Table};

/// Adds `toip`, `tohostname`, `gethostname`, `getaddrinfo` and `getnameinfo` to the
/// primitives table. Each returns LuaSocket's results or `nil, message`.
///
/// `getaddrinfo(host, service, family, passive)` takes more than LuaSocket's
/// `getaddrinfo(host)` so `socket.connect` can resolve with the same function.
pub(crate) fn register(lua: &Lua, native: &Table) -> Result<()> {
    native.set(
        "toip",
        lua.create_function(|lua, address: LuaString| {
            Query::ToIp(address.to_string_lossy()).run().into_lua(lua)
        })?,
    )?;
    native.set(
        "tohostname",
        lua.create_function(|lua, address: LuaString| {
            Query::ToHostname(address.to_string_lossy())
                .run()
                .into_lua(lua)
        })?,
    )?;
    native.set(
        "gethostname",
        lua.create_function(|lua, ()| match dns::gethostname() {
            Ok(name) => name.into_lua_multi(lua),
            Err(err) => failure(lua, err),
        })?,
    )?;
    native.set(
        "getaddrinfo",
        lua.create_function(
            |lua,
             (host, service, family, passive): (
                Option<LuaString>,
                Option<LuaString>,
                Option<LuaString>,
                Option<bool>,
            )| {
                let family = family
                    .and_then(|name| Family::from_name(&name.to_string_lossy()))
                    .unwrap_or_default();
                let hints = Hints {
                    family,
                    passive: passive.unwrap_or(false),
                    ..Hints::default()
                };
                let host = host.map(|h| h.to_string_lossy());
                let service = service.map(|s| s.to_string_lossy());
                Query::GetAddrInfo {
                    host,
                    service,
                    hints,
                }
                .run()
                .into_lua(lua)
            },
        )?,
    )?;
    native.set(
        "getnameinfo",
        lua.create_function(
            |lua, (host, service): (Option<LuaString>, Option<LuaString>)| {
                let host = host.map(|h| h.to_string_lossy());
                let service = service.map(|s| s.to_string_lossy());
                Query::GetNameInfo { host, service }.run().into_lua(lua)
            },
        )?,
    )?;
    Ok(())
}

/// A resolver query, with owned arguments so it can run on any thread: a Copas
/// thread hands it to a worker and stays off the loop while it blocks.
#[derive(Debug)]
pub(crate) enum Query {
    ToIp(String),
    ToHostname(String),
    GetAddrInfo {
        host: Option<String>,
        service: Option<String>,
        hints: Hints,
    },
    GetNameInfo {
        host: Option<String>,
        service: Option<String>,
    },
}

/// What a [`Query`] found; turned into LuaSocket's results by [`Answer::into_lua`].
#[derive(Debug)]
pub(crate) enum Answer {
    ToIp(luasocket_core::Result<(std::net::Ipv4Addr, HostInfo)>),
    ToHostname(luasocket_core::Result<(String, HostInfo)>),
    GetAddrInfo(luasocket_core::Result<Vec<dns::AddrInfo>>),
    GetNameInfo(luasocket_core::Result<dns::NameInfo>),
}

impl Query {
    /// Asks the system resolver (blocking).
    pub(crate) fn run(self) -> Answer {
        match self {
            Query::ToIp(address) => Answer::ToIp(dns::toip(&address)),
            Query::ToHostname(address) => Answer::ToHostname(dns::tohostname(&address)),
            Query::GetAddrInfo {
                host,
                service,
                hints,
            } => Answer::GetAddrInfo(dns::getaddrinfo(
                host.as_deref(),
                service.as_deref(),
                &hints,
            )),
            Query::GetNameInfo { host, service } => {
                Answer::GetNameInfo(dns::getnameinfo(host.as_deref(), service.as_deref()))
            }
        }
    }
}

impl Answer {
    /// LuaSocket's results, or `nil, message`.
    pub(crate) fn into_lua(self, lua: &Lua) -> Result<MultiValue> {
        match self {
            Answer::ToIp(Ok((ip, info))) => {
                (ip.to_string(), resolved(lua, &info)?).into_lua_multi(lua)
            }
            Answer::ToHostname(Ok((name, info))) => {
                (name, resolved(lua, &info)?).into_lua_multi(lua)
            }
            Answer::GetAddrInfo(Ok(found)) => {
                let list = lua.create_table_with_capacity(found.len(), 0)?;
                for entry in found {
                    let item = lua.create_table_with_capacity(0, 2)?;
                    item.set("family", entry.family.name())?;
                    item.set("addr", entry.addr)?;
                    list.push(item)?;
                }
                list.into_lua_multi(lua)
            }
            Answer::GetNameInfo(Ok(names)) => {
                let hosts = lua.create_sequence_from(names.hosts)?;
                match names.service {
                    Some(service) => (hosts, service).into_lua_multi(lua),
                    None => hosts.into_lua_multi(lua),
                }
            }
            Answer::ToIp(Err(err))
            | Answer::ToHostname(Err(err))
            | Answer::GetAddrInfo(Err(err))
            | Answer::GetNameInfo(Err(err)) => failure(lua, err),
        }
    }
}

/// LuaSocket's `resolved` table: `{name = ..., alias = {...}, ip = {...}}`.
fn resolved(lua: &Lua, info: &HostInfo) -> Result<Table> {
    let table = lua.create_table_with_capacity(0, 3)?;
    table.set("name", info.name.as_str())?;
    table.set(
        "alias",
        lua.create_sequence_from(info.aliases.iter().map(String::as_str))?,
    )?;
    table.set(
        "ip",
        lua.create_sequence_from(info.addresses.iter().map(|ip| ip.to_string()))?,
    )?;
    Ok(table)
}

fn failure(lua: &Lua, err: luasocket_core::Error) -> Result<MultiValue> {
    (mlua::Nil, err.to_string()).into_lua_multi(lua)
}

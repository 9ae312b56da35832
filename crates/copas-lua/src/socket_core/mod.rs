//! `socket.core`: the namespace functions and the TCP/UDP object types.

use std::time::Duration;

use luasocket_core::{dns, time, Family};
use mlua::{Function, Lua, MultiValue, ObjectLike, Result, Table, Value};

mod args;
pub(crate) mod object;
pub(crate) mod registry;
pub(crate) mod tcp;
pub(crate) mod udp;

use args::Args;
use object::constructor;
use registry::{key_of, registry, Socket};

/// Builds the `socket.core` table.
pub fn open(lua: &Lua) -> Result<Table> {
    let core = lua.create_table()?;
    core.set("_VERSION", "LuaSocket 3.1.0")?;
    core.set("_DEBUG", true)?;
    core.set("_DATAGRAMSIZE", luasocket_core::DATAGRAM_SIZE)?;
    core.set("_SETSIZE", descriptor_limit())?;
    for (name, family) in [("tcp", Family::Unspec), ("tcp4", Family::Inet), ("tcp6", Family::Inet6)] {
        core.set(name, constructor(lua, move |lua, classes| tcp::create(lua, classes, family))?)?;
    }
    for (name, family) in [("udp", Family::Unspec), ("udp4", Family::Inet), ("udp6", Family::Inet6)] {
        core.set(name, constructor(lua, move |lua, classes| udp::create(lua, classes, family))?)?;
    }
    core.set("gettime", lua.create_function(|_, ()| Ok(time::gettime()))?)?;
    core.set(
        "sleep",
        checked(lua, "sleep", |_, args| {
            time::sleep(args.number(1)?);
            Ok(MultiValue::new())
        })?,
    )?;
    core.set("select", checked(lua, "select", select)?)?;
    core.set("dns", dns_table(lua)?)?;
    Ok(core)
}

/// The highest number of descriptors this process may open: what bounds `select` here
/// (there is no `FD_SETSIZE`), so programs comparing against `_SETSIZE` keep working.
fn descriptor_limit() -> i64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only the struct on our stack.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if ok && limit.rlim_max != libc::RLIM_INFINITY {
        i64::try_from(limit.rlim_max).unwrap_or(i64::MAX)
    } else {
        1 << 20
    }
}

/// A namespace function whose argument errors are raised as plain strings, like the
/// object methods'.
fn checked(
    lua: &Lua,
    name: &'static str,
    f: fn(&Lua, &Args) -> args::Outcome<MultiValue>,
) -> Result<Function> {
    let raw = lua.create_function(move |lua, values: MultiValue| object::deliver(lua, f(lua, &Args::new(values, name))))?;
    object::raising(lua, raw)
}

/// One object of a `select` set: its descriptor, and whether it has buffered data.
fn probe(lua: &Lua, value: &Value) -> Result<(i32, bool)> {
    if let Value::UserData(object) = value {
        let shared = registry(lua);
        let registry = shared.borrow();
        if let Some(entry) = registry.get(key_of(object)) {
            return Ok(match &entry.socket {
                Socket::Tcp(s) => (s.fd(), s.is_dirty()),
                Socket::Udp(s) => (s.fd(), false),
            });
        }
    }
    let call = |name: &str| -> Result<Value> {
        let method: Value = match value {
            Value::Table(t) => t.get(name)?,
            Value::UserData(u) => u.get(name)?,
            _ => Value::Nil,
        };
        match method {
            Value::Function(f) => f.call(value.clone()),
            _ => Ok(Value::Nil),
        }
    };
    let fd = match call("getfd")? {
        Value::Integer(n) => n as i32,
        Value::Number(x) => x as i32,
        _ => -1,
    };
    let dirty = matches!(call("dirty")?, Value::Boolean(true));
    Ok((fd, dirty))
}

fn set_of(lua: &Lua, args: &Args, n: usize) -> args::Outcome<Vec<(Value, i32, bool)>> {
    let table = match args.get(n) {
        Value::Nil => return Ok(Vec::new()),
        Value::Table(t) => t.clone(),
        _ => return Err(args.type_error(n, "table")),
    };
    let mut set = Vec::new();
    for index in 1.. {
        let value: Value = table.raw_get(index)?;
        if value.is_nil() {
            break;
        }
        let (fd, dirty) = probe(lua, &value)?;
        if fd >= 0 {
            set.push((value, fd, dirty));
        }
    }
    Ok(set)
}

fn select(lua: &Lua, args: &Args) -> args::Outcome<MultiValue> {
    let read = set_of(lua, args, 1)?;
    let write = set_of(lua, args, 2)?;
    let mut timeout = args.opt_number(3)?.filter(|t| *t >= 0.0).map(|t| Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX));
    let dirty: Vec<usize> = read.iter().enumerate().filter(|(_, (_, _, d))| *d).map(|(i, _)| i).collect();
    if !dirty.is_empty() {
        timeout = Some(Duration::ZERO);
    }
    let read_fds: Vec<i32> = read.iter().map(|(_, fd, _)| *fd).collect();
    let write_fds: Vec<i32> = write.iter().map(|(_, fd, _)| *fd).collect();
    let result = luasocket_core::select(&read_fds, &write_fds, timeout);
    let (mut readable, writable, timed_out) = match result {
        Ok(selected) => (selected.readable, selected.writable, false),
        Err(luasocket_core::Error::Timeout) => (Vec::new(), Vec::new(), true),
        Err(err) => {
            return Ok(MultiValue::from_vec(vec![Value::Nil, Value::Nil, Value::String(lua.create_string(err.to_string())?)]));
        }
    };
    for index in dirty {
        if !readable.contains(&index) {
            readable.push(index);
        }
    }
    readable.sort_unstable();
    let collect = |set: &[(Value, i32, bool)], ready: &[usize]| -> Result<Table> {
        let table = lua.create_table()?;
        for (position, index) in ready.iter().enumerate() {
            let value = set[*index].0.clone();
            table.raw_set(position + 1, value.clone())?;
            table.raw_set(value, position + 1)?;
        }
        Ok(table)
    };
    let timed_out = timed_out && readable.is_empty();
    let status = if timed_out { Value::String(lua.create_string("timeout")?) } else { Value::Nil };
    Ok(MultiValue::from_vec(vec![
        Value::Table(collect(&read, &readable)?),
        Value::Table(collect(&write, &writable)?),
        status,
    ]))
}

fn resolved_table(lua: &Lua, info: &dns::HostInfo) -> Result<Table> {
    let table = lua.create_table()?;
    table.set("name", info.name.as_str())?;
    table.set("alias", info.aliases.clone())?;
    table.set("ip", info.addresses.clone())?;
    Ok(table)
}

fn dns_table(lua: &Lua) -> Result<Table> {
    let table = lua.create_table()?;
    table.set(
        "toip",
        checked(lua, "toip", |lua, args| {
            let name = args.text(1)?;
            Ok(match dns::toip(&name) {
                Ok((ip, info)) => MultiValue::from_vec(vec![Value::String(lua.create_string(ip)?), Value::Table(resolved_table(lua, &info)?)]),
                Err(err) => object::error_results(lua, &err)?,
            })
        })?,
    )?;
    table.set(
        "tohostname",
        checked(lua, "tohostname", |lua, args| {
            let address = args.text(1)?;
            Ok(match dns::tohostname(&address) {
                Ok((name, info)) => MultiValue::from_vec(vec![Value::String(lua.create_string(name)?), Value::Table(resolved_table(lua, &info)?)]),
                Err(err) => object::error_results(lua, &err)?,
            })
        })?,
    )?;
    table.set(
        "gethostname",
        checked(lua, "gethostname", |lua, _| {
            Ok(match dns::gethostname() {
                Ok(name) => MultiValue::from_vec(vec![Value::String(lua.create_string(name)?)]),
                Err(err) => object::error_results(lua, &err)?,
            })
        })?,
    )?;
    table.set(
        "getaddrinfo",
        checked(lua, "getaddrinfo", |lua, args| {
            let host = args.text(1)?;
            Ok(match dns::getaddrinfo(&host) {
                Ok(list) => {
                    let result = lua.create_table()?;
                    for (index, info) in list.iter().enumerate() {
                        let entry = lua.create_table()?;
                        entry.set("family", info.family)?;
                        entry.set("addr", info.addr.as_str())?;
                        result.raw_set(index + 1, entry)?;
                    }
                    MultiValue::from_vec(vec![Value::Table(result)])
                }
                Err(message) => MultiValue::from_vec(vec![Value::Nil, Value::String(lua.create_string(message)?)]),
            })
        })?,
    )?;
    table.set(
        "getnameinfo",
        checked(lua, "getnameinfo", |lua, args| {
            let host = args.opt_bytes(1)?.map(|h| String::from_utf8_lossy(&h).into_owned());
            let port = match args.get(2) {
                Value::Nil => None,
                _ => Some(args.port(2)?),
            };
            if host.is_none() && port.is_none() {
                return Ok(MultiValue::from_vec(vec![Value::Nil, Value::String(lua.create_string("invalid arguments")?)]));
            }
            Ok(match dns::getnameinfo(host.as_deref(), port) {
                Ok((names, service)) => {
                    let names_value = if host.is_some() { Value::Table(lua.create_sequence_from(names)?) } else { Value::Nil };
                    let service_value = match service {
                        Some(s) => Value::String(lua.create_string(s)?),
                        None => Value::Nil,
                    };
                    MultiValue::from_vec(vec![names_value, service_value])
                }
                Err(message) => MultiValue::from_vec(vec![Value::Nil, Value::String(lua.create_string(message)?)]),
            })
        })?,
    )?;
    Ok(table)
}

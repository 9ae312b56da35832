//! Method bodies and return conventions shared by TCP and UDP objects.
//!
//! LuaSocket returns `1` (a float, from `lua_pushnumber`) for success and
//! `nil, message` for failure; counts, indices and descriptors are floats as well,
//! while ports and linger timeouts are integers. These helpers keep that exact.

use luasocket_core::RawSocket;
use std::net::{Ipv4Addr, Ipv6Addr};

use luasocket_core::{
    Error, Family, OptionAccess, OptionValue, SocketKind, SocketOption, Stats, Timeout,
    TimeoutMode, ValueKind,
};
use mlua::{Lua, MultiValue, Table, Value};

use super::object::args::{truncate, Args};
use super::object::raise::{argument, Failure, Outcome};

/// Returns the given values.
pub(crate) fn values(list: Vec<Value>) -> Outcome {
    Ok(MultiValue::from_vec(list))
}

/// LuaSocket's success value, `1`.
pub(crate) fn success() -> Outcome {
    values(vec![Value::Number(1.0)])
}

/// `nil, message`.
pub(crate) fn failure(lua: &Lua, err: &Error) -> Outcome {
    if let Error::Unsupported(text) = err {
        // What LuaSocket raises (luaL_error) where the system lacks the option.
        return Err(Failure::Error((*text).to_owned()));
    }
    values(vec![Value::Nil, message(lua, err)?])
}

/// An error as the Lua string LuaSocket returns.
pub(crate) fn message(lua: &Lua, err: &Error) -> mlua::Result<Value> {
    Ok(Value::String(lua.create_string(err.to_string())?))
}

/// `1` or `nil, message`.
pub(crate) fn status(lua: &Lua, result: Result<(), Error>) -> Outcome {
    match result {
        Ok(()) => success(),
        Err(err) => failure(lua, &err),
    }
}

/// A count or index the way LuaSocket pushes it (`lua_pushnumber`).
pub(crate) fn number(count: impl Into<f64>) -> Value {
    Value::Number(count.into())
}

/// `getsockname`/`getpeername`: host text, port (integer) and family name.
pub(crate) fn address(lua: &Lua, result: Result<(String, u16), Error>, family: Family) -> Outcome {
    match result {
        Ok((host, port)) => values(vec![
            Value::String(lua.create_string(host)?),
            Value::Integer(i64::from(port)),
            Value::String(lua.create_string(family.name())?),
        ]),
        Err(err) => failure(lua, &err),
    }
}

/// `getfamily`: LuaSocket answers `"inet6"` for IPv6 and `"inet4"` otherwise.
pub(crate) fn family(lua: &Lua, family: Family) -> Outcome {
    let name = if family == Family::Inet6 {
        "inet6"
    } else {
        "inet4"
    };
    values(vec![Value::String(lua.create_string(name)?)])
}

/// `getfd`: the descriptor, or -1 (`_SOCKETINVALID`) without one.
pub(crate) fn descriptor(fd: Option<RawSocket>) -> Outcome {
    values(vec![Value::Number(socket_number(fd))])
}

/// A descriptor as scripts see it: -1 without one. Windows' `INVALID_SOCKET` (all
/// bits set) is -1 as well, as LuaSocket's integer conversion makes it there.
pub(crate) fn socket_number(fd: Option<RawSocket>) -> f64 {
    #[cfg(unix)]
    return fd.map_or(-1.0, f64::from);
    // Winsock handles are small kernel handle values, exact as doubles.
    #[cfg(windows)]
    return fd.map_or(-1.0, |fd| fd as i64 as f64);
}

/// The descriptor a script's number names: `None` for numbers no descriptor can
/// have (negative ones, and on Unix those beyond `int`).
pub(crate) fn socket_from_number(number: i64) -> Option<RawSocket> {
    #[cfg(unix)]
    return RawSocket::try_from(number).ok().filter(|&fd| fd >= 0);
    #[cfg(windows)]
    return RawSocket::try_from(number).ok();
}

/// `settimeout(value [, mode])`.
pub(crate) fn set_timeout(timeout: &mut Timeout, lua: &Lua, args: &Args) -> Outcome {
    let seconds = args.opt_number(lua, 2, -1.0)?;
    let mode = match args.opt_string(lua, 3)? {
        Some(text) => TimeoutMode::parse(&text.as_bytes()),
        None => Some(TimeoutMode::Block),
    };
    let mode = mode.ok_or_else(|| argument(3, "invalid timeout mode"))?;
    timeout.set(Some(seconds), mode);
    success()
}

/// `getstats()`: bytes received, bytes sent, age in seconds.
pub(crate) fn get_stats(stats: &Stats) -> Outcome {
    values(vec![
        number(stats.received as f64),
        number(stats.sent as f64),
        number(stats.age()),
    ])
}

/// `setstats([received [, sent [, age]]])`: what is not given stays.
pub(crate) fn set_stats(stats: &mut Stats, lua: &Lua, args: &Args) -> Outcome {
    let received = truncate(args.opt_number(lua, 2, stats.received as f64)?);
    let sent = truncate(args.opt_number(lua, 3, stats.sent as f64)?);
    let age = args.number(lua, 4)?;
    stats.received = received;
    stats.sent = sent;
    if let Some(age) = age {
        stats.set_age(age);
    }
    success()
}

/// `gettimeout()`: block and total timeouts.
pub(crate) fn get_timeout(timeout: &Timeout) -> Outcome {
    let (block, total) = timeout.get();
    values(vec![number(block), number(total)])
}

/// Reads argument 2 as an option name supported by `kind`, raising LuaSocket's
/// ``unsupported option `name'`` otherwise.
pub(crate) fn option_name(
    lua: &Lua,
    args: &Args,
    kind: SocketKind,
    access: OptionAccess,
) -> Result<SocketOption, Failure> {
    let name = args.check_string(lua, 2)?;
    let name = name.as_bytes();
    SocketOption::lookup(&name, kind, access).ok_or_else(|| {
        let shown: String = String::from_utf8_lossy(&name).chars().take(35).collect();
        argument(2, format!("unsupported option `{shown}'"))
    })
}

/// `getoption` result: the value, or `nil, message`.
pub(crate) fn option_value(lua: &Lua, result: Result<OptionValue, Error>) -> Outcome {
    let value = match result {
        Err(err) => return failure(lua, &err),
        Ok(value) => value,
    };
    let converted = match value {
        OptionValue::Bool(on) => Value::Boolean(on),
        OptionValue::Int(number) => Value::Number(f64::from(number)),
        OptionValue::Linger { on, timeout } => {
            let table = lua.create_table()?;
            table.raw_set("on", on)?;
            table.raw_set("timeout", i64::from(timeout))?;
            Value::Table(table)
        }
        OptionValue::Ipv4(address) => Value::String(lua.create_string(address.to_string())?),
        OptionValue::Device(name) => Value::String(lua.create_string(name)?),
        OptionValue::PendingError(None) => Value::Nil,
        OptionValue::PendingError(Some(text)) => Value::String(lua.create_string(text)?),
        OptionValue::Membership { .. } | OptionValue::Membership6 { .. } => Value::Nil,
    };
    values(vec![converted])
}

/// Reads argument 3 of `setoption` in the shape the option needs, with LuaSocket's
/// messages for malformed values.
pub(crate) fn option_argument(
    lua: &Lua,
    args: &Args,
    option: SocketOption,
) -> Result<OptionValue, Failure> {
    const VALUE: usize = 3;
    Ok(match option.value_kind() {
        ValueKind::Bool => match args.get(VALUE) {
            Some(Value::Boolean(on)) => OptionValue::Bool(*on),
            _ => return Err(args.type_error(VALUE, "boolean")),
        },
        ValueKind::Int => OptionValue::Int(int(args.check_number(lua, VALUE)?)),
        ValueKind::Linger => {
            let table = table_argument(args, VALUE)?;
            let on = match table.raw_get::<Value>("on")? {
                Value::Boolean(on) => on,
                _ => return Err(argument(VALUE, "boolean 'on' field expected")),
            };
            let timeout = number_field(lua, &table, "timeout")?
                .ok_or_else(|| argument(VALUE, "number 'timeout' field expected"))?;
            OptionValue::Linger {
                on,
                timeout: truncate(timeout).clamp(0, i64::from(u16::MAX)) as i32,
            }
        }
        ValueKind::Ipv4 => {
            let text = args.check_string(lua, VALUE)?;
            OptionValue::Ipv4(
                ipv4_or_any(&text.to_string_lossy())
                    .ok_or_else(|| argument(VALUE, "ip expected"))?,
            )
        }
        ValueKind::Membership => {
            let table = table_argument(args, VALUE)?;
            let group = string_field(lua, &table, "multiaddr")?
                .ok_or_else(|| argument(VALUE, "string 'multiaddr' field expected"))?;
            let group: Ipv4Addr = group
                .parse()
                .map_err(|_| argument(VALUE, "invalid 'multiaddr' ip address"))?;
            let interface = string_field(lua, &table, "interface")?
                .ok_or_else(|| argument(VALUE, "string 'interface' field expected"))?;
            let interface = ipv4_or_any(&interface)
                .ok_or_else(|| argument(VALUE, "invalid 'interface' ip address"))?;
            OptionValue::Membership { group, interface }
        }
        ValueKind::Membership6 => {
            let table = table_argument(args, VALUE)?;
            let group = string_field(lua, &table, "multiaddr")?
                .ok_or_else(|| argument(VALUE, "string 'multiaddr' field expected"))?;
            let group: Ipv6Addr = group
                .parse()
                .map_err(|_| argument(VALUE, "invalid 'multiaddr' ip address"))?;
            let interface = match table.raw_get::<Value>("interface")? {
                Value::Nil => 0,
                other => lua
                    .coerce_number(other)?
                    .map(|index| truncate(index).clamp(0, i64::from(u32::MAX)) as u32)
                    .ok_or_else(|| argument(VALUE, "number 'interface' field expected"))?,
            };
            OptionValue::Membership6 { group, interface }
        }
        ValueKind::Device => OptionValue::Device(args.check_string(lua, VALUE)?.to_string_lossy()),
        ValueKind::PendingError => return Err(argument(2, "unsupported option `error'")),
    })
}

fn int(number: f64) -> i32 {
    truncate(number).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn ipv4_or_any(text: &str) -> Option<Ipv4Addr> {
    if text == "*" {
        Some(Ipv4Addr::UNSPECIFIED)
    } else {
        text.parse().ok()
    }
}

fn table_argument(args: &Args, position: usize) -> Result<Table, Failure> {
    match args.get(position) {
        Some(Value::Table(table)) => Ok(table.clone()),
        _ => Err(args.type_error(position, "table")),
    }
}

/// A field that `lua_isstring` accepts (a string or a number), as text.
fn string_field(lua: &Lua, table: &Table, name: &str) -> Result<Option<String>, Failure> {
    let value = table.get::<Value>(name)?;
    Ok(match value {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            lua.coerce_string(value)?.map(|text| text.to_string_lossy())
        }
        _ => None,
    })
}

/// A field that `lua_isnumber` accepts, as a number.
fn number_field(lua: &Lua, table: &Table, name: &str) -> Result<Option<f64>, Failure> {
    let value = table.get::<Value>(name)?;
    Ok(match value {
        Value::Integer(_) | Value::Number(_) | Value::String(_) => lua.coerce_number(value)?,
        _ => None,
    })
}

//! The `tcp{master}`, `tcp{client}` and `tcp{server}` objects of `socket.core`.

use std::net::Shutdown;

use luasocket_core::{Error, Family, ReceivePattern, TcpSocket, TcpState};
use mlua::{Lua, MultiValue, Value};

use super::args::{Args, Outcome};
use super::object::{
    address_results, error_results, forget_source, get_option, object_arg, set_option, settimeout,
    Classes, Kind, OptionTable,
};
use super::registry::{registry, Socket};

/// The classes a TCP method accepts, and the name its error message uses.
#[derive(Debug, Clone, Copy)]
struct Accepts {
    states: &'static [TcpState],
    name: &'static str,
}

const ANY: Accepts = Accepts {
    states: &[TcpState::Master, TcpState::Client, TcpState::Server],
    name: "tcp{any}",
};
const MASTER: Accepts = Accepts {
    states: &[TcpState::Master],
    name: "tcp{master}",
};
const CLIENT: Accepts = Accepts {
    states: &[TcpState::Client],
    name: "tcp{client}",
};
const SERVER: Accepts = Accepts {
    states: &[TcpState::Server],
    name: "tcp{server}",
};

/// Runs `f` on the TCP socket of argument 1, if its class is one of `accepts`.
fn with_tcp<R>(
    lua: &Lua,
    args: &Args,
    accepts: Accepts,
    f: impl FnOnce(&mut TcpSocket) -> Outcome<R>,
) -> Outcome<R> {
    let key =
        object_arg(args).ok_or_else(|| args.error(1, format!("{} expected", accepts.name)))?;
    let shared = registry(lua);
    let mut registry = shared.registry.borrow_mut();
    match registry.get_mut(key).map(|entry| &mut entry.socket) {
        Some(Socket::Tcp(socket)) if accepts.states.contains(&socket.state()) => f(socket),
        _ => Err(args.error(1, format!("{} expected", accepts.name))),
    }
}

/// LuaSocket's `1` for success.
fn ok() -> MultiValue {
    MultiValue::from_vec(vec![Value::Integer(1)])
}

/// Creates a TCP object of `family` (`socket.tcp`, `tcp4`, `tcp6`).
pub(crate) fn create(lua: &Lua, classes: &Classes, family: Family) -> Outcome<MultiValue> {
    match TcpSocket::new(family) {
        Ok(socket) => {
            let object = classes.wrap(lua, Socket::Tcp(socket))?;
            Ok(MultiValue::from_vec(vec![Value::UserData(object)]))
        }
        Err(err) => Ok(error_results(lua, &err)?),
    }
}

/// Adds the `tcp`, `tcp4` and `tcp6` constructors to `socket.core`.
pub(crate) fn register(lua: &Lua, core: &mlua::Table) -> mlua::Result<()> {
    for (name, family) in [
        ("tcp", Family::Unspec),
        ("tcp4", Family::Inet),
        ("tcp6", Family::Inet6),
    ] {
        core.set(
            name,
            super::object::constructor(lua, move |lua, classes| create(lua, classes, family))?,
        )?;
    }
    Ok(())
}

/// The method table entries of TCP objects.
pub(crate) fn methods() -> Vec<(&'static str, super::object::Method)> {
    vec![
        ("accept", accept),
        ("bind", bind),
        ("close", close),
        ("connect", connect),
        ("dirty", dirty),
        ("getfamily", getfamily),
        ("getfd", getfd),
        ("getoption", getoption),
        ("getpeername", getpeername),
        ("getsockname", getsockname),
        ("getstats", getstats),
        ("gettimeout", gettimeout),
        ("listen", listen),
        ("receive", receive),
        ("send", send),
        ("setfd", setfd),
        ("setoption", setoption),
        ("setstats", setstats),
        ("settimeout", settimeout_method),
        ("shutdown", shutdown),
    ]
}

fn accept(lua: &Lua, classes: &Classes, args: &Args) -> Outcome<MultiValue> {
    let accepted = with_tcp(lua, args, SERVER, |s| Ok(s.accept()))?;
    match accepted {
        Ok(client) => {
            let object = classes.wrap(lua, Socket::Tcp(client))?;
            Ok(MultiValue::from_vec(vec![Value::UserData(object)]))
        }
        Err(err) => Ok(error_results(lua, &err)?),
    }
}

fn bind(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let host = args.text(2)?;
    let port = args.port(3)?;
    let result = with_tcp(lua, args, MASTER, |s| Ok(s.bind(&host, port)))?;
    Ok(match result {
        Ok(()) => ok(),
        Err(err) => error_results(lua, &err)?,
    })
}

fn close(lua: &Lua, classes: &Classes, args: &Args) -> Outcome<MultiValue> {
    let key = object_arg(args).ok_or_else(|| args.error(1, "tcp{any} expected"))?;
    classes.close(lua, key);
    Ok(ok())
}

fn connect(lua: &Lua, classes: &Classes, args: &Args) -> Outcome<MultiValue> {
    let host = args.text(2)?;
    let port = args.port(3)?;
    let result = with_tcp(lua, args, MASTER, |s| Ok(s.connect(&host, port)))?;
    match result {
        Ok(()) => {
            if let Value::UserData(object) = args.get(1) {
                classes.set_class(lua, object, Kind::TcpClient)?;
            }
            Ok(ok())
        }
        Err(err) => Ok(error_results(lua, &err)?),
    }
}

fn dirty(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let dirty = with_tcp(lua, args, ANY, |s| Ok(s.is_dirty()))?;
    Ok(MultiValue::from_vec(vec![Value::Boolean(dirty)]))
}

fn getfamily(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let family = with_tcp(lua, args, ANY, |s| Ok(s.family()))?;
    let name = if family == Family::Unspec {
        "inet"
    } else {
        family.name()
    };
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(name)?,
    )]))
}

fn getfd(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let fd = with_tcp(lua, args, ANY, |s| Ok(s.fd()))?;
    Ok(MultiValue::from_vec(vec![Value::Integer(fd.into())]))
}

fn getoption(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let name = args.text(2)?;
    let value = with_tcp(lua, args, ANY, |s| Ok(s.option(&name)))?;
    get_option(lua, args, OptionTable::Tcp, &name, value)
}

fn setoption(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let name = args.text(2)?;
    set_option(lua, args, OptionTable::Tcp, &name, |value| {
        with_tcp(lua, args, ANY, |s| Ok(s.set_option(&name, value)))
    })
}

fn getpeername(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let address = with_tcp(lua, args, CLIENT, |s| Ok(s.peer_addr()))?;
    Ok(address_results(lua, address)?)
}

fn getsockname(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let address = with_tcp(lua, args, ANY, |s| Ok(s.local_addr()))?;
    Ok(address_results(lua, address)?)
}

fn getstats(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let stats = with_tcp(lua, args, ANY, |s| Ok(s.stats()))?;
    Ok(MultiValue::from_vec(vec![
        Value::Number(stats.received as f64),
        Value::Number(stats.sent as f64),
        Value::Number(stats.age()),
    ]))
}

fn setstats(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let received = args.opt_number(2)?;
    let sent = args.opt_number(3)?;
    let age = args.opt_number(4)?;
    with_tcp(lua, args, ANY, |s| {
        let mut stats = s.stats();
        if let Some(received) = received {
            stats.received = received.max(0.0) as u64;
        }
        if let Some(sent) = sent {
            stats.sent = sent.max(0.0) as u64;
        }
        if let Some(age) = age {
            let age = std::time::Duration::try_from_secs_f64(age.max(0.0)).unwrap_or_default();
            stats.birthday = std::time::Instant::now()
                .checked_sub(age)
                .unwrap_or(stats.birthday);
        }
        s.set_stats(stats);
        Ok(())
    })?;
    Ok(ok())
}

fn gettimeout(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let timeout = with_tcp(lua, args, ANY, |s| Ok(*s.timeout()))?;
    Ok(MultiValue::from_vec(vec![
        Value::Number(timeout.block().unwrap_or(-1.0)),
        Value::Number(timeout.total().unwrap_or(-1.0)),
    ]))
}

fn settimeout_method(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let (value, mode) = settimeout(args)?;
    with_tcp(lua, args, ANY, |s| {
        s.timeout_mut().set(value, mode);
        Ok(())
    })?;
    Ok(ok())
}

fn listen(lua: &Lua, classes: &Classes, args: &Args) -> Outcome<MultiValue> {
    let backlog = args.opt_number(2)?.unwrap_or(32.0);
    let backlog = backlog.clamp(0.0, i32::MAX as f64) as i32;
    let result = with_tcp(lua, args, MASTER, |s| Ok(s.listen(backlog)))?;
    match result {
        Ok(()) => {
            if let Value::UserData(object) = args.get(1) {
                classes.set_class(lua, object, Kind::TcpServer)?;
            }
            Ok(ok())
        }
        Err(err) => Ok(error_results(lua, &err)?),
    }
}

/// The pattern argument of `receive` (argument 2).
pub(crate) fn pattern_arg(args: &Args, n: usize) -> Outcome<ReceivePattern> {
    match args.get(n) {
        Value::Nil => Ok(ReceivePattern::Line),
        Value::Integer(_) | Value::Number(_) => ReceivePattern::count(args.number(n)?)
            .map_err(|_| args.error(n, "invalid receive pattern")),
        Value::String(s) => match ReceivePattern::parse(&s.as_bytes()) {
            Ok(pattern) => Ok(pattern),
            // A numeric string counts as a number, as lua_isnumber sees it.
            Err(_) => match super::args::parse_lua_number(
                s.to_str()
                    .map(|t| t.trim().to_owned())
                    .unwrap_or_default()
                    .as_str(),
            ) {
                Some(n) if n >= 0.0 => Ok(ReceivePattern::Count(n as usize)),
                _ => Err(args.error(n, "invalid receive pattern")),
            },
        },
        _ => Err(args.type_error(n, "string")),
    }
}

fn receive(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let pattern = pattern_arg(args, 2)?;
    let mut data = args.opt_bytes(3)?.unwrap_or_default();
    let started = std::time::Instant::now();
    let result = with_tcp(lua, args, CLIENT, |s| Ok(s.receive(pattern, &mut data)))?;
    let elapsed = Value::Number(started.elapsed().as_secs_f64());
    let data = Value::String(lua.create_string(&data)?);
    Ok(MultiValue::from_vec(match result {
        Ok(()) => vec![data, Value::Nil, Value::Nil, elapsed],
        Err(err) => vec![
            Value::Nil,
            Value::String(lua.create_string(err.to_string())?),
            data,
            elapsed,
        ],
    }))
}

/// LuaSocket's rules for `send(data, i, j)`: the 1-based inclusive range to send.
pub(crate) fn send_range(size: usize, i: Option<f64>, j: Option<f64>) -> (i64, i64) {
    let size = size as i64;
    let mut start = i.map_or(1, |v| v as i64);
    let mut end = j.map_or(-1, |v| v as i64);
    if start < 0 {
        start += size + 1;
    }
    if end < 0 {
        end += size + 1;
    }
    start = start.max(1);
    end = end.min(size);
    (start, end)
}

fn send(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let data = args.bytes(2)?;
    let (start, end) = send_range(data.len(), args.opt_number(3)?, args.opt_number(4)?);
    let started = std::time::Instant::now();
    let (sent, err) = if start <= end {
        with_tcp(lua, args, CLIENT, |s| {
            Ok(s.send(&data[(start - 1) as usize..end as usize]))
        })?
    } else {
        with_tcp(lua, args, CLIENT, |_| Ok((0, None)))?
    };
    let last = Value::Number((sent as i64 + start - 1) as f64);
    let elapsed = Value::Number(started.elapsed().as_secs_f64());
    Ok(MultiValue::from_vec(match err {
        None => vec![last, Value::Nil, Value::Nil, elapsed],
        Some(err) => vec![
            Value::Nil,
            Value::String(lua.create_string(err.to_string())?),
            last,
            elapsed,
        ],
    }))
}

fn setfd(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let fd = args.number(2)?;
    let fd = if fd.is_finite() && fd >= 0.0 && fd <= i32::MAX as f64 {
        fd as i32
    } else {
        -1
    };
    if let Some(key) = object_arg(args) {
        // The reactor must not keep watching a descriptor this object no longer owns.
        forget_source(lua, key);
    }
    with_tcp(lua, args, ANY, |s| {
        // SAFETY: `setfd` is LuaSocket's contract: the script hands us a descriptor it
        // owns (typically one it just took from another object with getfd/setfd(-1)).
        unsafe { s.set_fd(fd) };
        Ok(())
    })?;
    Ok(MultiValue::new())
}

fn shutdown(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let how = match args.opt_bytes(2)?.as_deref() {
        None | Some(b"both") => Shutdown::Both,
        Some(b"send") => Shutdown::Write,
        Some(b"receive") => Shutdown::Read,
        Some(_) => return Err(args.error(2, "invalid shutdown method")),
    };
    let result = with_tcp(lua, args, CLIENT, |s| Ok(s.shutdown(how)))?;
    Ok(match result {
        Ok(()) | Err(Error::Closed) => ok(),
        Err(err) => error_results(lua, &err)?,
    })
}

/// The class a TCP socket's state calls for.
pub(crate) fn kind_of(state: TcpState) -> Kind {
    match state {
        TcpState::Master => Kind::TcpMaster,
        TcpState::Client => Kind::TcpClient,
        TcpState::Server => Kind::TcpServer,
    }
}

#[cfg(test)]
mod tests {
    use super::send_range;

    #[test]
    fn luasocket_send_indexes() {
        assert_eq!(send_range(5, None, None), (1, 5));
        assert_eq!(send_range(5, Some(2.0), Some(3.0)), (2, 3));
        assert_eq!(send_range(5, Some(-2.0), None), (4, 5));
        assert_eq!(send_range(5, Some(0.0), Some(10.0)), (1, 5));
        assert_eq!(send_range(5, Some(4.0), Some(2.0)), (4, 2));
        assert_eq!(send_range(0, None, None), (1, 0));
    }
}

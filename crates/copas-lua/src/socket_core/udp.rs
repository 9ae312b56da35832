//! The `udp{unconnected}` and `udp{connected}` objects of `socket.core`.

use luasocket_core::{Family, UdpSocket, UdpState, DATAGRAM_SIZE, MAX_DATAGRAM};
use mlua::{Lua, MultiValue, Value};

use super::args::{Args, Outcome};
use super::object::{
    address_results, error_results, forget_source, get_option, object_arg, set_option, settimeout,
    Classes, Kind, Method, OptionTable,
};
use super::registry::{registry, Socket};

#[derive(Debug, Clone, Copy)]
struct Accepts {
    states: &'static [UdpState],
    name: &'static str,
}

const ANY: Accepts = Accepts {
    states: &[UdpState::Unconnected, UdpState::Connected],
    name: "udp{any}",
};
const CONNECTED: Accepts = Accepts {
    states: &[UdpState::Connected],
    name: "udp{connected}",
};
const UNCONNECTED: Accepts = Accepts {
    states: &[UdpState::Unconnected],
    name: "udp{unconnected}",
};

fn with_udp<R>(
    lua: &Lua,
    args: &Args,
    accepts: Accepts,
    f: impl FnOnce(&mut UdpSocket) -> Outcome<R>,
) -> Outcome<R> {
    let key =
        object_arg(args).ok_or_else(|| args.error(1, format!("{} expected", accepts.name)))?;
    let shared = registry(lua);
    let mut registry = shared.registry.borrow_mut();
    match registry.get_mut(key).map(|entry| &mut entry.socket) {
        Some(Socket::Udp(socket)) if accepts.states.contains(&socket.state()) => f(socket),
        _ => Err(args.error(1, format!("{} expected", accepts.name))),
    }
}

fn ok() -> MultiValue {
    MultiValue::from_vec(vec![Value::Integer(1)])
}

/// Creates a UDP object of `family` (`socket.udp`, `udp4`, `udp6`).
pub(crate) fn create(lua: &Lua, classes: &Classes, family: Family) -> Outcome<MultiValue> {
    match UdpSocket::new(family) {
        Ok(socket) => {
            let object = classes.wrap(lua, Socket::Udp(socket))?;
            Ok(MultiValue::from_vec(vec![Value::UserData(object)]))
        }
        Err(err) => Ok(error_results(lua, &err)?),
    }
}

/// The class a UDP socket's state calls for.
pub(crate) fn kind_of(state: UdpState) -> Kind {
    match state {
        UdpState::Unconnected => Kind::UdpUnconnected,
        UdpState::Connected => Kind::UdpConnected,
    }
}

/// Adds the `udp`, `udp4` and `udp6` constructors to `socket.core`.
pub(crate) fn register(lua: &Lua, core: &mlua::Table) -> mlua::Result<()> {
    for (name, family) in [
        ("udp", Family::Unspec),
        ("udp4", Family::Inet),
        ("udp6", Family::Inet6),
    ] {
        core.set(
            name,
            super::object::constructor(lua, move |lua, classes| create(lua, classes, family))?,
        )?;
    }
    Ok(())
}

/// The method table entries of UDP objects.
pub(crate) fn methods() -> Vec<(&'static str, Method)> {
    vec![
        ("close", close),
        ("dirty", dirty),
        ("getfamily", getfamily),
        ("getfd", getfd),
        ("getoption", getoption),
        ("getpeername", getpeername),
        ("getsockname", getsockname),
        ("gettimeout", gettimeout),
        ("receive", receive),
        ("receivefrom", receivefrom),
        ("send", send),
        ("sendto", sendto),
        ("setfd", setfd),
        ("setoption", setoption),
        ("setpeername", setpeername),
        ("setsockname", setsockname),
        ("settimeout", settimeout_method),
    ]
}

fn close(lua: &Lua, classes: &Classes, args: &Args) -> Outcome<MultiValue> {
    let key = object_arg(args).ok_or_else(|| args.error(1, "udp{any} expected"))?;
    with_udp(lua, args, ANY, |_| Ok(()))?;
    classes.close(lua, key);
    Ok(ok())
}

fn dirty(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    with_udp(lua, args, ANY, |_| Ok(()))?;
    Ok(MultiValue::from_vec(vec![Value::Boolean(false)]))
}

fn getfamily(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let family = with_udp(lua, args, ANY, |s| Ok(s.family()))?;
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
    let fd = with_udp(lua, args, ANY, |s| Ok(s.fd()))?;
    Ok(MultiValue::from_vec(vec![Value::Integer(fd.into())]))
}

fn getoption(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let name = args.text(2)?;
    let value = with_udp(lua, args, ANY, |s| Ok(s.option(&name)))?;
    get_option(lua, args, OptionTable::Udp, &name, value)
}

fn setoption(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let name = args.text(2)?;
    set_option(lua, args, OptionTable::Udp, &name, |value| {
        with_udp(lua, args, ANY, |s| Ok(s.set_option(&name, value)))
    })
}

fn getpeername(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let address = with_udp(lua, args, CONNECTED, |s| Ok(s.peer_addr()))?;
    Ok(address_results(lua, address)?)
}

fn getsockname(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let address = with_udp(lua, args, ANY, |s| Ok(s.local_addr()))?;
    Ok(address_results(lua, address)?)
}

fn gettimeout(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let timeout = with_udp(lua, args, ANY, |s| Ok(*s.timeout()))?;
    Ok(MultiValue::from_vec(vec![
        Value::Number(timeout.block().unwrap_or(-1.0)),
        Value::Number(timeout.total().unwrap_or(-1.0)),
    ]))
}

fn settimeout_method(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let (value, mode) = settimeout(args)?;
    with_udp(lua, args, ANY, |s| {
        s.timeout_mut().set(value, mode);
        Ok(())
    })?;
    Ok(ok())
}

fn size_arg(args: &Args) -> Outcome<usize> {
    match args.opt_number(2)? {
        None => Ok(DATAGRAM_SIZE),
        Some(n) if n >= 0.0 => Ok((n as usize).min(MAX_DATAGRAM)),
        Some(_) => Err(args.error(2, "invalid receive size")),
    }
}

fn receive(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let size = size_arg(args)?;
    let values = with_udp(lua, args, ANY, |s| {
        Ok(match s.receive(size) {
            Ok(data) => vec![Value::String(lua.create_string(data)?)],
            Err(err) => error_results(lua, &err)?.into_vec(),
        })
    })?;
    Ok(MultiValue::from_vec(values))
}

fn receivefrom(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let size = size_arg(args)?;
    let values = with_udp(lua, args, UNCONNECTED, |s| {
        Ok(match s.receive_from(size) {
            Ok((data, from)) => vec![
                Value::String(lua.create_string(data)?),
                Value::String(lua.create_string(from.ip().to_string())?),
                Value::Integer(from.port().into()),
            ],
            Err(err) => error_results(lua, &err)?.into_vec(),
        })
    })?;
    Ok(MultiValue::from_vec(values))
}

fn send(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let data = args.bytes(2)?;
    let result = with_udp(lua, args, CONNECTED, |s| Ok(s.send(&data)))?;
    Ok(match result {
        Ok(n) => MultiValue::from_vec(vec![Value::Integer(n as i64)]),
        Err(err) => error_results(lua, &err)?,
    })
}

fn sendto(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let data = args.bytes(2)?;
    let host = args.text(3)?;
    let port = args.port(4)?;
    let result = with_udp(
        lua,
        args,
        UNCONNECTED,
        |s| Ok(s.send_to(&data, &host, port)),
    )?;
    Ok(match result {
        Ok(n) => MultiValue::from_vec(vec![Value::Integer(n as i64)]),
        Err(err) => error_results(lua, &err)?,
    })
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
    with_udp(lua, args, ANY, |s| {
        // SAFETY: LuaSocket's `setfd` contract: the script hands over a descriptor it owns.
        unsafe { s.set_fd(fd) };
        Ok(())
    })?;
    Ok(MultiValue::new())
}

fn setpeername(lua: &Lua, classes: &Classes, args: &Args) -> Outcome<MultiValue> {
    let host = args.text(2)?;
    let peer = if host == "*" {
        None
    } else {
        Some((host.as_str(), args.port(3)?))
    };
    let result = with_udp(lua, args, ANY, |s| Ok(s.connect(peer).map(|()| s.state())))?;
    match result {
        Ok(state) => {
            if let Value::UserData(object) = args.get(1) {
                classes.set_class(lua, object, kind_of(state))?;
            }
            Ok(ok())
        }
        Err(err) => Ok(error_results(lua, &err)?),
    }
}

fn setsockname(lua: &Lua, _: &Classes, args: &Args) -> Outcome<MultiValue> {
    let host = args.text(2)?;
    let port = args.port(3)?;
    let result = with_udp(lua, args, UNCONNECTED, |s| Ok(s.bind(&host, port)))?;
    Ok(match result {
        Ok(()) => ok(),
        Err(err) => error_results(lua, &err)?,
    })
}

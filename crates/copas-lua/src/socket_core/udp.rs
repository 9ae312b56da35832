//! The `udp` object types of `socket.core`: `udp{unconnected}` and `udp{connected}`,
//! and the constructors `udp`, `udp4` and `udp6`.

use std::rc::Rc;

use luasocket_core::{
    numeric_name, Family, OptionAccess, SocketKind, UdpSocket, DATAGRAM_SIZE, MAX_DATAGRAM_SIZE,
};
use mlua::{AnyUserData, Function, Lua, MultiValue, Result, Table, Value};

use super::methods::{self, number, success, values};
use super::object::args::truncate;
use super::object::raise::{self, argument, Failure, Outcome};
use super::object::{self, Call, Kind, Require, SocketClass};

const UNCONNECTED: usize = 0;
const CONNECTED: usize = 1;

/// The Rust value behind a Lua UDP object. Every close goes through
/// [`UdpObject::close`], including the one at garbage collection.
#[derive(Debug)]
pub(crate) struct UdpObject {
    pub(crate) socket: UdpSocket,
    /// The descriptor's place in the Copas reactor, once a Copas thread waited on it.
    pub(crate) registration: Option<crate::dispatch::Registration>,
}

impl UdpObject {
    /// Closes the descriptor (`close()`, and finalization): out of the Copas reactor
    /// first, then closed.
    pub(crate) fn close(&mut self) {
        self.forget_registration();
        self.socket.close();
    }

    /// Takes the descriptor out of the Copas reactor (before it is closed or replaced).
    pub(crate) fn forget_registration(&mut self) {
        if let Some(registration) = self.registration.take() {
            registration.release();
        }
    }
}

impl Drop for UdpObject {
    fn drop(&mut self) {
        self.close();
    }
}

impl SocketClass for UdpObject {
    const CLASSES: &'static [&'static str] = &["udp{unconnected}", "udp{connected}"];
    const ANY: &'static str = "udp{any}";
    const GROUPS: &'static [&'static str] = &["udp{any}", "select{able}"];

    fn class(&self) -> usize {
        if self.socket.is_connected() {
            CONNECTED
        } else {
            UNCONNECTED
        }
    }
}

/// Borrows the UDP object behind `userdata`, or `None` if it is not a live one.
/// This is how the Copas binding reaches the socket of a userdata it is given.
pub(crate) fn borrow<'a>(
    lua: &Lua,
    userdata: &'a AnyUserData,
) -> Option<std::cell::RefMut<'a, UdpObject>> {
    object::borrow::<UdpObject>(lua, userdata)
}

/// Adds the `udp` constructors and `_DATAGRAMSIZE` to `socket.core`.
pub(crate) fn register(lua: &Lua, core: &Table) -> Result<()> {
    let (kind, created) = Kind::<UdpObject>::for_state(lua)?;
    if created {
        let methods = method_table(lua, &kind)?;
        kind.fill(lua, &methods, object::tostring(&kind, lua)?)?;
    }
    for (name, family) in [
        ("udp", Family::Unspec),
        ("udp4", Family::Inet),
        ("udp6", Family::Inet6),
    ] {
        let kind = kind.clone();
        let create = raise::function(lua, move |lua, _| match UdpSocket::new(family) {
            Ok(socket) => values(vec![Value::UserData(kind.push(
                lua,
                UdpObject {
                    socket,
                    registration: None,
                },
            )?)]),
            Err(err) => methods::failure(lua, &err),
        })?;
        core.set(name, create)?;
    }
    core.set("_DATAGRAMSIZE", DATAGRAM_SIZE as i64)?;
    Ok(())
}

type Body = fn(&mut UdpObject, &Call<'_, UdpObject>) -> Outcome;

fn method_table(lua: &Lua, kind: &Rc<Kind<UdpObject>>) -> Result<Vec<(&'static str, Function)>> {
    let any = Require::Any;
    let entries: [(&str, Require, Body); 17] = [
        ("close", any, |object, _| {
            object.close();
            success()
        }),
        ("dirty", any, |_, _| values(vec![Value::Boolean(false)])),
        ("getfamily", any, |object, call| {
            methods::family(call.lua, object.socket.family())
        }),
        ("getfd", any, |object, _| {
            methods::descriptor(object.socket.fd())
        }),
        ("getpeername", Require::Class(CONNECTED), |object, call| {
            methods::address(
                call.lua,
                object.socket.peer_address(),
                object.socket.family(),
            )
        }),
        ("getsockname", any, |object, call| {
            methods::address(
                call.lua,
                object.socket.local_address(),
                object.socket.family(),
            )
        }),
        ("receive", any, receive),
        ("receivefrom", Require::Class(UNCONNECTED), receive_from),
        ("send", Require::Class(CONNECTED), send),
        ("sendto", Require::Class(UNCONNECTED), send_to),
        ("setfd", any, set_fd),
        ("setoption", any, set_option),
        ("getoption", any, get_option),
        ("setpeername", any, set_peer_name),
        ("setsockname", Require::Class(UNCONNECTED), set_sock_name),
        ("settimeout", any, |object, call| {
            methods::set_timeout(object.socket.timeout_mut(), call.lua, call.args)
        }),
        ("gettimeout", any, |object, _| {
            methods::get_timeout(object.socket.timeout())
        }),
    ];
    entries
        .into_iter()
        .map(|(name, require, body)| Ok((name, kind.method(lua, require, body)?)))
        .collect()
}

/// The size argument of `receive`/`receivefrom`: at most one datagram's worth.
fn receive_size(call: &Call<'_, UdpObject>) -> std::result::Result<usize, Failure> {
    let size = call.args.opt_number(call.lua, 2, DATAGRAM_SIZE as f64)?;
    if size.is_nan() || size < 0.0 {
        return Err(argument(2, "invalid receive size"));
    }
    Ok((size as usize).min(MAX_DATAGRAM_SIZE))
}

fn receive(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let size = receive_size(call)?;
    match object
        .socket
        .receive_with(size, |data| call.lua.create_string(data))
    {
        Ok(data) => values(vec![Value::String(data?)]),
        Err(err) => methods::failure(call.lua, &err),
    }
}

fn receive_from(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let size = receive_size(call)?;
    let lua = call.lua;
    let received = object.socket.receive_from_with(size, |data, sender| {
        let (host, port) = numeric_name(sender)?;
        Ok::<_, luasocket_core::Error>((lua.create_string(data), host, port))
    });
    match received.and_then(|inner| inner) {
        Ok((data, host, port)) => values(vec![
            Value::String(data?),
            Value::String(lua.create_string(host)?),
            Value::Integer(i64::from(port)),
        ]),
        Err(err) => methods::failure(lua, &err),
    }
}

fn send(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let data = call.args.check_string(call.lua, 2)?;
    match object.socket.send(&data.as_bytes()) {
        Ok(count) => values(vec![number(count as f64)]),
        Err(err) => methods::failure(call.lua, &err),
    }
}

fn send_to(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let (lua, args) = (call.lua, call.args);
    let data = args.check_string(lua, 2)?;
    let host = args.check_string(lua, 3)?.to_string_lossy();
    let port = args.check_string(lua, 4)?.to_string_lossy();
    match object.socket.send_to(&data.as_bytes(), &host, &port) {
        Ok(count) => values(vec![number(count as f64)]),
        Err(err) => methods::failure(lua, &err),
    }
}

/// `setfd(fd)`: a negative number releases the descriptor without closing it.
fn set_fd(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let fd = truncate(call.args.check_number(call.lua, 2)?);
    // The reactor must not keep watching a descriptor this object no longer owns.
    object.forget_registration();
    match i32::try_from(fd) {
        Ok(fd) if fd >= 0 => {
            // SAFETY: LuaSocket's setfd contract: the script hands the descriptor over
            // to this object (documented as dangerous, "for the brave").
            unsafe { object.socket.adopt_fd(fd) }
        }
        _ => {
            object.socket.release_fd();
        }
    }
    Ok(MultiValue::new())
}

fn get_option(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let option =
        methods::option_name(call.lua, call.args, SocketKind::Datagram, OptionAccess::Get)?;
    methods::option_value(call.lua, object.socket.get_option(option))
}

fn set_option(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let option =
        methods::option_name(call.lua, call.args, SocketKind::Datagram, OptionAccess::Set)?;
    let value = methods::option_argument(call.lua, call.args, option)?;
    methods::status(call.lua, object.socket.set_option(option, &value))
}

/// `setpeername(address, port)` connects; `setpeername("*")` disconnects.
fn set_peer_name(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let (lua, args) = (call.lua, call.args);
    let address = args.check_string(lua, 2)?.to_string_lossy();
    if address == "*" {
        object.socket.disconnect();
        return success();
    }
    let port = args.check_string(lua, 3)?.to_string_lossy();
    methods::status(lua, object.socket.set_peer_name(&address, &port))
}

fn set_sock_name(object: &mut UdpObject, call: &Call<'_, UdpObject>) -> Outcome {
    let (lua, args) = (call.lua, call.args);
    let address = args.check_string(lua, 2)?.to_string_lossy();
    let port = args.check_string(lua, 3)?.to_string_lossy();
    methods::status(lua, object.socket.set_sock_name(&address, &port))
}

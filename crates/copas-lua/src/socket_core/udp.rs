//! The `udp` object types of `socket.core`: `udp{unconnected}` and `udp{connected}`,
//! and the constructors `udp`, `udp4` and `udp6`.

use std::marker::PhantomData;
use std::rc::Rc;

use luasocket_core::{
    numeric_name, Family, OptionAccess, SocketKind, UdpSocket, DATAGRAM_SIZE, MAX_DATAGRAM_SIZE,
};
use mlua::{AnyUserData, Function, Lua, MultiValue, Result, Table, Value};

use super::methods::{self, number, success, values};
use super::object::args::truncate;
use super::object::raise::{self, argument, Failure, Outcome};
use super::object::{self, Call, Kind, Require, SocketClass};

pub(crate) const UNCONNECTED: usize = 0;
pub(crate) const CONNECTED: usize = 1;

/// What tells one kind of datagram object from another: LuaSocket's names for it.
pub(crate) trait Flavor: std::fmt::Debug + 'static {
    /// Class names: unconnected, connected.
    const CLASSES: &'static [&'static str];
    /// The group every class belongs to, named in errors.
    const ANY: &'static str;
    /// Groups marked `true` in every class's metatable.
    const GROUPS: &'static [&'static str];
}

/// `socket.udp()` objects.
#[derive(Debug)]
pub(crate) struct Udp;

impl Flavor for Udp {
    const CLASSES: &'static [&'static str] = &["udp{unconnected}", "udp{connected}"];
    const ANY: &'static str = "udp{any}";
    const GROUPS: &'static [&'static str] = &["udp{any}", "select{able}"];
}

/// The Rust value behind a Lua datagram object (UDP, or a `socket.unix` datagram
/// socket). Every close goes through [`DatagramObject::close`], including the one at
/// garbage collection.
#[derive(Debug)]
pub(crate) struct DatagramObject<F> {
    pub(crate) socket: UdpSocket,
    /// The descriptor's place in the Copas reactor, once a Copas thread waited on it.
    pub(crate) registration: Option<crate::dispatch::Registration>,
    flavor: PhantomData<F>,
}

/// The value behind a Lua UDP object.
pub(crate) type UdpObject = DatagramObject<Udp>;

impl<F> DatagramObject<F> {
    /// A new object over `socket`, not in the reactor yet.
    pub(crate) fn new(socket: UdpSocket) -> Self {
        DatagramObject {
            socket,
            registration: None,
            flavor: PhantomData,
        }
    }

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

impl<F> Drop for DatagramObject<F> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<F: Flavor> SocketClass for DatagramObject<F> {
    const CLASSES: &'static [&'static str] = F::CLASSES;
    const ANY: &'static str = F::ANY;
    const GROUPS: &'static [&'static str] = F::GROUPS;

    fn class(&self) -> usize {
        if self.socket.is_connected() {
            CONNECTED
        } else {
            UNCONNECTED
        }
    }
}

/// Makes the kind of flavor `F` for this Lua state, its metatables filled with the
/// methods `table` lists on first use.
pub(crate) fn datagram_kind<F: Flavor>(
    lua: &Lua,
    table: object::MethodsOf<DatagramObject<F>>,
) -> Result<Rc<Kind<DatagramObject<F>>>> {
    let (kind, created) = Kind::<DatagramObject<F>>::for_state(lua)?;
    if created {
        let methods = table(lua, &kind)?;
        kind.fill(lua, &methods, object::tostring(&kind, lua)?)?;
    }
    Ok(kind)
}

/// A method body of every datagram flavor.
pub(crate) type DatagramBody<F> =
    fn(&mut DatagramObject<F>, &Call<'_, DatagramObject<F>>) -> Outcome;

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
    let kind = datagram_kind(lua, method_table)?;
    for (name, family) in [
        ("udp", Family::Unspec),
        ("udp4", Family::Inet),
        ("udp6", Family::Inet6),
    ] {
        let kind = kind.clone();
        let create = raise::function(lua, move |lua, _| match UdpSocket::new(family) {
            Ok(socket) => values(vec![Value::UserData(
                kind.push(lua, UdpObject::new(socket))?,
            )]),
            Err(err) => methods::failure(lua, &err),
        })?;
        core.set(name, create)?;
    }
    core.set("_DATAGRAMSIZE", DATAGRAM_SIZE as i64)?;
    Ok(())
}

fn method_table(lua: &Lua, kind: &Rc<Kind<UdpObject>>) -> Result<Vec<(&'static str, Function)>> {
    let any = Require::Any;
    let entries: [(&str, Require, DatagramBody<Udp>); 17] = [
        ("close", any, close::<Udp>),
        ("dirty", any, dirty::<Udp>),
        ("getfamily", any, |object, call| {
            methods::family(call.lua, object.socket.family())
        }),
        ("getfd", any, get_fd::<Udp>),
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
        ("receive", any, receive::<Udp>),
        ("receivefrom", Require::Class(UNCONNECTED), receive_from),
        ("send", Require::Class(CONNECTED), send::<Udp>),
        ("sendto", Require::Class(UNCONNECTED), send_to),
        ("setfd", any, set_fd::<Udp>),
        ("setoption", any, set_option),
        ("getoption", any, get_option),
        ("setpeername", any, set_peer_name),
        ("setsockname", Require::Class(UNCONNECTED), set_sock_name),
        ("settimeout", any, set_timeout::<Udp>),
        ("gettimeout", any, get_timeout::<Udp>),
    ];
    entries
        .into_iter()
        .map(|(name, require, body)| Ok((name, kind.method(lua, require, body)?)))
        .collect()
}

pub(crate) fn close<F: Flavor>(
    object: &mut DatagramObject<F>,
    _: &Call<'_, DatagramObject<F>>,
) -> Outcome {
    object.close();
    success()
}

pub(crate) fn dirty<F: Flavor>(
    _: &mut DatagramObject<F>,
    _: &Call<'_, DatagramObject<F>>,
) -> Outcome {
    values(vec![Value::Boolean(false)])
}

pub(crate) fn get_fd<F: Flavor>(
    object: &mut DatagramObject<F>,
    _: &Call<'_, DatagramObject<F>>,
) -> Outcome {
    methods::descriptor(object.socket.fd())
}

pub(crate) fn set_timeout<F: Flavor>(
    object: &mut DatagramObject<F>,
    call: &Call<'_, DatagramObject<F>>,
) -> Outcome {
    methods::set_timeout(object.socket.timeout_mut(), call.lua, call.args)
}

pub(crate) fn get_timeout<F: Flavor>(
    object: &mut DatagramObject<F>,
    _: &Call<'_, DatagramObject<F>>,
) -> Outcome {
    methods::get_timeout(object.socket.timeout())
}

/// The size argument of `receive`/`receivefrom`: at most one datagram's worth.
pub(crate) fn receive_size<T>(call: &Call<'_, T>) -> std::result::Result<usize, Failure> {
    let size = call.args.opt_number(call.lua, 2, DATAGRAM_SIZE as f64)?;
    if size.is_nan() || size < 0.0 {
        return Err(argument(2, "invalid receive size"));
    }
    Ok((size as usize).min(MAX_DATAGRAM_SIZE))
}

pub(crate) fn receive<F: Flavor>(
    object: &mut DatagramObject<F>,
    call: &Call<'_, DatagramObject<F>>,
) -> Outcome {
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

pub(crate) fn send<F: Flavor>(
    object: &mut DatagramObject<F>,
    call: &Call<'_, DatagramObject<F>>,
) -> Outcome {
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
pub(crate) fn set_fd<F: Flavor>(
    object: &mut DatagramObject<F>,
    call: &Call<'_, DatagramObject<F>>,
) -> Outcome {
    let fd = truncate(call.args.check_number(call.lua, 2)?);
    // The reactor must not keep watching a descriptor this object no longer owns.
    object.forget_registration();
    match super::methods::socket_from_number(fd) {
        Some(fd) => {
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

//! `socket.unix`: LuaSocket 3.1's Unix-domain sockets. `stream()` makes
//! `unixstream{master}` objects (`{client}` once connected or accepted, `{server}` once
//! listening), `dgram()` makes `unixdgram{unconnected}` ones (`{connected}` after
//! `connect`); `tcp`/`udp` are LuaSocket's aliases and calling the module is `stream()`.
//!
//! They are the TCP and UDP objects' Rust types with other class names
//! ([`tcp::Flavor`], [`udp::Flavor`]): receive patterns, buffering, timeouts, `select`
//! and the Copas driver are theirs. Only addressing differs: a path instead of a host
//! and port, and the whole Lua string is the path, so a leading NUL names a Linux
//! abstract socket.
// On Windows the module is not offered (LuaSocket has none there), but Copas' code
// still names its stream types; the rest is unused.
#![cfg_attr(windows, allow(dead_code))]

use std::rc::Rc;

use luasocket_core::{unix_path, OptionAccess, SocketKind, TcpSocket, UdpSocket};
use mlua::{Function, Lua, MultiValue, Result, Value};

use super::methods::{self, number, values};
use super::object::raise::{self, argument, Failure, Outcome};
use super::object::{Call, Kind, Require};
use super::tcp::{self, StreamBody, StreamObject, CLIENT, MASTER, SERVER};
use super::udp::{self, DatagramBody, DatagramObject, CONNECTED, UNCONNECTED};

/// `socket.unix.stream()` objects.
#[derive(Debug)]
pub(crate) struct UnixStream;

impl tcp::Flavor for UnixStream {
    const CLASSES: &'static [&'static str] = &[
        "unixstream{master}",
        "unixstream{client}",
        "unixstream{server}",
    ];
    const ANY: &'static str = "unixstream{any}";
    const GROUPS: &'static [&'static str] = &["unixstream{any}"];
}

/// `socket.unix.dgram()` objects.
#[derive(Debug)]
pub(crate) struct UnixDgram;

impl udp::Flavor for UnixDgram {
    const CLASSES: &'static [&'static str] = &["unixdgram{unconnected}", "unixdgram{connected}"];
    const ANY: &'static str = "unixdgram{any}";
    const GROUPS: &'static [&'static str] = &["unixdgram{any}", "select{able}"];
}

/// The value behind a Unix stream object.
pub(crate) type UnixStreamObject = StreamObject<UnixStream>;
type UnixDgramObject = DatagramObject<UnixDgram>;

/// The Unix stream kind of this Lua state (also what `copas.core` looks objects up in).
pub(crate) fn stream_kind(lua: &Lua) -> Result<Rc<Kind<UnixStreamObject>>> {
    tcp::stream_kind(lua, stream_methods)
}

/// Builds the `socket.unix` table.
pub(crate) fn open(lua: &Lua) -> Result<Value> {
    let module = lua.create_table()?;
    let streams = stream_kind(lua)?;
    let stream = raise::function(lua, move |lua, _| match TcpSocket::new_unix() {
        Ok(socket) => values(vec![Value::UserData(
            streams.push(lua, StreamObject::new(socket))?,
        )]),
        Err(err) => methods::failure(lua, &err),
    })?;
    let datagrams = udp::datagram_kind(lua, dgram_methods)?;
    let dgram = raise::function(lua, move |lua, _| match UdpSocket::new_unix() {
        Ok(socket) => values(vec![Value::UserData(
            datagrams.push(lua, DatagramObject::new(socket))?,
        )]),
        Err(err) => methods::failure(lua, &err),
    })?;
    module.set("stream", stream.clone())?;
    module.set("tcp", stream.clone())?;
    module.set("dgram", dgram.clone())?;
    module.set("udp", dgram)?;
    // `socket.unix()` is `socket.unix.stream()`, the module table being the first argument.
    let call: Function = lua
        .load("local stream = ... return function(_, ...) return stream(...) end")
        .set_name("=socket.unix")
        .call(stream)?;
    let metatable = lua.create_table()?;
    metatable.set("__call", call)?;
    module.set_metatable(Some(metatable))?;
    Ok(Value::Table(module))
}

fn stream_methods(
    lua: &Lua,
    kind: &Rc<Kind<UnixStreamObject>>,
) -> Result<Vec<(&'static str, Function)>> {
    let any = Require::Any;
    let entries: [(&str, Require, StreamBody<UnixStream>); 20] = [
        ("accept", Require::Class(SERVER), tcp::accept::<UnixStream>),
        ("bind", Require::Class(MASTER), stream_bind),
        ("close", any, tcp::close::<UnixStream>),
        ("connect", Require::Class(MASTER), stream_connect),
        ("dirty", any, tcp::dirty::<UnixStream>),
        ("getfd", any, tcp::get_fd::<UnixStream>),
        ("getpeername", any, |object, call| {
            path_result(call.lua, object.socket.peer_path())
        }),
        ("getsockname", any, |object, call| {
            path_result(call.lua, object.socket.local_path())
        }),
        (
            "getstats",
            Require::Class(CLIENT),
            tcp::get_stats::<UnixStream>,
        ),
        (
            "setstats",
            Require::Class(CLIENT),
            tcp::set_stats::<UnixStream>,
        ),
        ("listen", Require::Class(MASTER), tcp::listen::<UnixStream>),
        (
            "receive",
            Require::Class(CLIENT),
            tcp::receive::<UnixStream>,
        ),
        ("send", Require::Class(CLIENT), tcp::send::<UnixStream>),
        ("setfd", any, tcp::set_fd::<UnixStream>),
        ("setoption", any, |object, call| {
            let option = unix_option(call, SocketKind::Stream, STREAM_OPTIONS)?;
            let value = methods::option_argument(call.lua, call.args, option)?;
            methods::status(call.lua, object.socket.set_option(option, &value))
        }),
        ("setpeername", Require::Class(MASTER), stream_connect),
        ("setsockname", Require::Class(MASTER), stream_bind),
        ("settimeout", any, tcp::set_timeout::<UnixStream>),
        (
            "shutdown",
            Require::Class(CLIENT),
            tcp::shutdown::<UnixStream>,
        ),
        ("gettimeout", any, |object, _| {
            methods::get_timeout(object.socket.timeout())
        }),
    ];
    entries
        .into_iter()
        .map(|(name, require, body)| Ok((name, kind.method(lua, require, body)?)))
        .collect()
}

fn dgram_methods(
    lua: &Lua,
    kind: &Rc<Kind<UnixDgramObject>>,
) -> Result<Vec<(&'static str, Function)>> {
    let any = Require::Any;
    let entries: [(&str, Require, DatagramBody<UnixDgram>); 17] = [
        ("bind", Require::Class(UNCONNECTED), dgram_bind),
        ("close", any, udp::close::<UnixDgram>),
        ("connect", any, dgram_connect),
        ("dirty", any, udp::dirty::<UnixDgram>),
        ("getfd", any, udp::get_fd::<UnixDgram>),
        ("send", Require::Class(CONNECTED), udp::send::<UnixDgram>),
        ("sendto", Require::Class(UNCONNECTED), dgram_send_to),
        ("receive", any, udp::receive::<UnixDgram>),
        (
            "receivefrom",
            Require::Class(UNCONNECTED),
            dgram_receive_from,
        ),
        ("setfd", any, udp::set_fd::<UnixDgram>),
        ("setoption", any, |object, call| {
            let option = unix_option(call, SocketKind::Datagram, DGRAM_OPTIONS)?;
            let value = methods::option_argument(call.lua, call.args, option)?;
            methods::status(call.lua, object.socket.set_option(option, &value))
        }),
        ("setpeername", any, dgram_connect),
        ("setsockname", Require::Class(UNCONNECTED), dgram_bind),
        ("getsockname", any, |object, call| {
            path_result(call.lua, object.socket.local_path())
        }),
        ("getpeername", any, |object, call| {
            path_result(call.lua, object.socket.peer_path())
        }),
        ("settimeout", any, udp::set_timeout::<UnixDgram>),
        ("gettimeout", any, udp::get_timeout::<UnixDgram>),
    ];
    entries
        .into_iter()
        .map(|(name, require, body)| Ok((name, kind.method(lua, require, body)?)))
        .collect()
}

/// The options LuaSocket's `unixstream` and `unixdgram` can set.
const STREAM_OPTIONS: &[&str] = &["keepalive", "reuseaddr", "linger"];
const DGRAM_OPTIONS: &[&str] = &["reuseaddr"];

/// Argument 2 of `setoption` as one of `allowed`, raising LuaSocket's
/// ``unsupported option `name'`` for the others.
fn unix_option<T>(
    call: &Call<'_, T>,
    kind: SocketKind,
    allowed: &[&str],
) -> std::result::Result<luasocket_core::SocketOption, Failure> {
    let option = methods::option_name(call.lua, call.args, kind, OptionAccess::Set);
    match option {
        Ok(option) if allowed.contains(&option.name()) => Ok(option),
        Ok(option) => Err(argument(
            2,
            format!("unsupported option `{}'", option.name()),
        )),
        Err(failure) => Err(failure),
    }
}

/// Argument 2 as a path: the Lua string's bytes, NULs included.
fn path_argument<T>(call: &Call<'_, T>, position: usize) -> std::result::Result<Vec<u8>, Failure> {
    Ok(call
        .args
        .check_string(call.lua, position)?
        .as_bytes()
        .to_vec())
}

/// `getsockname`/`getpeername`: the path, or `nil, message`.
fn path_result(lua: &Lua, result: luasocket_core::Result<Vec<u8>>) -> Outcome {
    match result {
        Ok(path) => values(vec![Value::String(lua.create_string(path)?)]),
        Err(err) => methods::failure(lua, &err),
    }
}

fn stream_bind(object: &mut UnixStreamObject, call: &Call<'_, UnixStreamObject>) -> Outcome {
    let path = path_argument(call, 2)?;
    methods::status(call.lua, object.socket.bind_path(&path))
}

fn stream_connect(object: &mut UnixStreamObject, call: &Call<'_, UnixStreamObject>) -> Outcome {
    let path = path_argument(call, 2)?;
    // The reactor must not keep a descriptor a failed connect closes.
    object.forget_registration();
    methods::status(call.lua, object.socket.connect_path(&path))
}

fn dgram_bind(object: &mut UnixDgramObject, call: &Call<'_, UnixDgramObject>) -> Outcome {
    let path = path_argument(call, 2)?;
    methods::status(call.lua, object.socket.bind_path(&path))
}

fn dgram_connect(object: &mut UnixDgramObject, call: &Call<'_, UnixDgramObject>) -> Outcome {
    let path = path_argument(call, 2)?;
    object.forget_registration();
    methods::status(call.lua, object.socket.connect_path(&path))
}

fn dgram_send_to(object: &mut UnixDgramObject, call: &Call<'_, UnixDgramObject>) -> Outcome {
    let data = call.args.check_string(call.lua, 2)?;
    let path = path_argument(call, 3)?;
    match object.socket.send_to_path(&data.as_bytes(), &path) {
        Ok(count) => values(vec![number(count as f64)]),
        Err(err) => methods::failure(call.lua, &err),
    }
}

/// `receivefrom([size])`: the datagram and the sender's path (`""` for an unbound
/// sender).
fn dgram_receive_from(object: &mut UnixDgramObject, call: &Call<'_, UnixDgramObject>) -> Outcome {
    let size = udp::receive_size(call)?;
    let lua = call.lua;
    let received = object.socket.receive_from_with(size, |data, sender| {
        Ok::<_, mlua::Error>(vec![
            Value::String(lua.create_string(data)?),
            Value::String(lua.create_string(unix_path(sender))?),
        ])
    });
    match received {
        Ok(list) => Ok(MultiValue::from_vec(list?)),
        Err(err) => methods::failure(lua, &err),
    }
}

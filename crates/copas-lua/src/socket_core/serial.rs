//! `socket.serial`: LuaSocket's serial lines. `require "socket.serial"` is a function
//! that opens a device file (a tty) and returns a `serial{client}` object: the stream
//! object of TCP over the device's descriptor, read and written with `read(2)` and
//! `write(2)`, with the same receive patterns, buffering and timeouts.

use luasocket_core::{Error, TcpSocket, TcpState};
use mlua::{Function, Lua, Result, Value};

use super::methods::{self, number, values};
use super::object::raise;
use super::object::{Kind, Require};
use super::tcp::{self, StreamBody, StreamObject};

/// `socket.serial` objects.
#[derive(Debug)]
pub(crate) struct Serial;

impl tcp::Flavor for Serial {
    const CLASSES: &'static [&'static str] = &["serial{client}"];
    const ANY: &'static str = "serial{any}";
    const GROUPS: &'static [&'static str] = &["serial{any}"];

    fn class(_: TcpState) -> usize {
        0
    }
}

type SerialObject = StreamObject<Serial>;

/// The module's value: the function `serial(path)`.
pub(crate) fn open(lua: &Lua) -> Result<Value> {
    let kind = tcp::stream_kind(lua, methods_of)?;
    let create = raise::function(lua, move |lua, args| {
        let args = super::object::args::Args::new(args);
        let path = args.check_string(lua, 1)?;
        match TcpSocket::open_device(&path.as_bytes()) {
            Ok(socket) => values(vec![Value::UserData(
                kind.push(lua, StreamObject::new(socket))?,
            )]),
            // LuaSocket adds the errno as a third value.
            Err(err) => values(vec![
                Value::Nil,
                methods::message(lua, &Error::from_io(std::io::Error::from_raw_os_error(err)))?,
                number(err),
            ]),
        }
    })?;
    Ok(Value::Function(create))
}

fn methods_of(
    lua: &Lua,
    kind: &std::rc::Rc<Kind<SerialObject>>,
) -> Result<Vec<(&'static str, Function)>> {
    let any = Require::Any;
    let client = Require::Class(0);
    let entries: [(&str, Require, StreamBody<Serial>); 9] = [
        ("close", any, tcp::close::<Serial>),
        ("dirty", any, tcp::dirty::<Serial>),
        ("getfd", any, tcp::get_fd::<Serial>),
        ("getstats", client, tcp::get_stats::<Serial>),
        ("setstats", client, tcp::set_stats::<Serial>),
        ("receive", client, tcp::receive::<Serial>),
        ("send", client, tcp::send::<Serial>),
        ("setfd", any, tcp::set_fd::<Serial>),
        ("settimeout", any, tcp::set_timeout::<Serial>),
    ];
    entries
        .into_iter()
        .map(|(name, require, body)| Ok((name, kind.method(lua, require, body)?)))
        .collect()
}

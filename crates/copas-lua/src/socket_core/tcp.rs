//! Stream objects: the `tcp` types of `socket.core` (`tcp{master}`, `tcp{client}`,
//! `tcp{server}`, the constructors `tcp`, `tcp4`, `tcp6` and `connect`), and the
//! method bodies the other stream kinds (`socket.unix` streams, `socket.serial`)
//! share with them: one Rust type, [`StreamObject`], over one core `TcpSocket`,
//! told apart only by its [`Flavor`] (class names and groups).

use std::marker::PhantomData;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Instant;

use luasocket_core::{
    Family, OptionAccess, ReceivePattern, SendRange, SocketKind, TcpSocket, TcpState,
};
use mlua::{AnyUserData, Function, Lua, LuaString, MultiValue, Result, Table, Value};

use super::methods::{self, number, success, values};
use super::object::args::{truncate, Args};
use super::object::raise::{self, argument, Outcome};
use super::object::{self, Call, Kind, Require, SocketClass};

pub(crate) const MASTER: usize = 0;
pub(crate) const CLIENT: usize = 1;
pub(crate) const SERVER: usize = 2;

/// What tells one kind of stream object from another: LuaSocket's names for it.
pub(crate) trait Flavor: std::fmt::Debug + 'static {
    /// Class names by class number.
    const CLASSES: &'static [&'static str];
    /// The group every class belongs to, named in errors.
    const ANY: &'static str;
    /// Groups marked `true` in every class's metatable.
    const GROUPS: &'static [&'static str];

    /// The class number of a socket in `state`.
    fn class(state: TcpState) -> usize {
        match state {
            TcpState::Master => MASTER,
            TcpState::Client => CLIENT,
            TcpState::Server => SERVER,
        }
    }
}

/// `socket.tcp()` objects.
#[derive(Debug)]
pub(crate) struct Tcp;

impl Flavor for Tcp {
    const CLASSES: &'static [&'static str] = &["tcp{master}", "tcp{client}", "tcp{server}"];
    const ANY: &'static str = "tcp{any}";
    const GROUPS: &'static [&'static str] = &["tcp{any}"];
}

/// The Rust value behind a Lua stream object.
///
/// Every close goes through [`StreamObject::close`], including the one at garbage
/// collection, so code that tracks descriptors (a poller) has one place to hook.
#[derive(Debug)]
pub(crate) struct StreamObject<F> {
    pub(crate) socket: TcpSocket,
    /// The descriptor's place in the Copas reactor, once a Copas thread waited on it.
    pub(crate) registration: Option<crate::dispatch::Registration>,
    /// Its `copas.settimeouts` limits.
    pub(crate) timeouts: crate::copas_core::Timeouts,
    flavor: PhantomData<F>,
}

/// The value behind a Lua TCP object.
pub(crate) type TcpObject = StreamObject<Tcp>;

impl<F> StreamObject<F> {
    /// A new object over `socket`, not in the reactor yet.
    pub(crate) fn new(socket: TcpSocket) -> Self {
        StreamObject {
            socket,
            registration: None,
            timeouts: Default::default(),
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

impl<F> Drop for StreamObject<F> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<F: Flavor> SocketClass for StreamObject<F> {
    const CLASSES: &'static [&'static str] = F::CLASSES;
    const ANY: &'static str = F::ANY;
    const GROUPS: &'static [&'static str] = F::GROUPS;

    fn class(&self) -> usize {
        F::class(self.socket.state())
    }
}

/// Makes the kind of flavor `F` for this Lua state, its metatables filled with the
/// methods `table` lists on first use (whichever module asks first).
pub(crate) fn stream_kind<F: Flavor>(
    lua: &Lua,
    table: object::MethodsOf<StreamObject<F>>,
) -> Result<Rc<Kind<StreamObject<F>>>> {
    let (kind, created) = Kind::<StreamObject<F>>::for_state(lua)?;
    if created {
        let methods = table(lua, &kind)?;
        kind.fill(lua, &methods, object::tostring(&kind, lua)?)?;
    }
    Ok(kind)
}

/// Borrows the TCP object behind `userdata`, or `None` if it is not a live one.
/// This is how the Copas binding reaches the socket of a userdata it is given.
pub(crate) fn borrow<'a>(
    lua: &Lua,
    userdata: &'a AnyUserData,
) -> Option<std::cell::RefMut<'a, TcpObject>> {
    object::borrow::<TcpObject>(lua, userdata)
}

/// Makes the Lua object of a client socket accepted outside a method (the Copas
/// accept fast path).
pub(crate) fn wrap_client<F: Flavor>(
    kind: &Kind<StreamObject<F>>,
    lua: &Lua,
    socket: TcpSocket,
) -> Result<AnyUserData> {
    kind.push(lua, StreamObject::new(socket))
}

/// The TCP kind of this Lua state, its metatables filled on first use (whichever of
/// `socket.core` and `copas.core` asks first).
pub(crate) fn kind(lua: &Lua) -> Result<Rc<Kind<TcpObject>>> {
    stream_kind(lua, method_table)
}

/// Adds the `tcp` constructors to `socket.core`.
pub(crate) fn register(lua: &Lua, core: &Table) -> Result<()> {
    let kind = kind(lua)?;
    for (name, family) in [
        ("tcp", Family::Unspec),
        ("tcp4", Family::Inet),
        ("tcp6", Family::Inet6),
    ] {
        let kind = kind.clone();
        let create = raise::function(lua, move |lua, _| match TcpSocket::new(family) {
            Ok(socket) => values(vec![Value::UserData(
                kind.push(lua, TcpObject::new(socket))?,
            )]),
            Err(err) => methods::failure(lua, &err),
        })?;
        core.set(name, create)?;
    }
    let connect_kind = kind.clone();
    core.set(
        "connect",
        raise::function(lua, move |lua, args| {
            connect(lua, &connect_kind, &Args::new(args))
        })?,
    )?;
    Ok(())
}

/// `socket.connect(address, port [, locaddr [, locport [, family]]])`.
fn connect(lua: &Lua, kind: &Kind<TcpObject>, args: &Args) -> Outcome {
    let address = args.check_string(lua, 1)?.to_string_lossy();
    let port = args.check_string(lua, 2)?.to_string_lossy();
    let local_address = args.opt_string(lua, 3)?.map(|text| text.to_string_lossy());
    let local_port = args
        .opt_string(lua, 4)?
        .map_or_else(|| "0".to_owned(), |text| text.to_string_lossy());
    let families = [Family::Unspec, Family::Inet, Family::Inet6];
    let family = families[args.check_option(lua, 5, "unspec", &["unspec", "inet", "inet6"])?];
    let mut socket = match TcpSocket::new(family) {
        Ok(socket) => socket,
        Err(err) => return methods::failure(lua, &err),
    };
    if let Some(local_address) = local_address {
        if let Err(err) = socket.bind(&local_address, &local_port) {
            return methods::failure(lua, &err);
        }
    }
    if let Err(err) = socket.connect(&address, &port) {
        socket.close();
        return methods::failure(lua, &err);
    }
    values(vec![Value::UserData(
        kind.push(lua, TcpObject::new(socket))?,
    )])
}

fn method_table(
    lua: &Lua,
    kind: &std::rc::Rc<Kind<TcpObject>>,
) -> Result<Vec<(&'static str, Function)>> {
    let any = Require::Any;
    let entries: [(&str, Require, StreamBody<Tcp>); 22] = [
        ("accept", Require::Class(SERVER), accept::<Tcp>),
        ("bind", Require::Class(MASTER), bind),
        ("close", any, close::<Tcp>),
        ("connect", any, connect_method),
        ("dirty", any, dirty::<Tcp>),
        ("getfamily", any, |object, call| {
            methods::family(call.lua, object.socket.family())
        }),
        ("getfd", any, get_fd::<Tcp>),
        ("getoption", any, get_option),
        ("getpeername", any, |object, call| {
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
        ("getstats", Require::Class(CLIENT), get_stats::<Tcp>),
        ("setstats", Require::Class(CLIENT), set_stats::<Tcp>),
        ("gettimeout", any, |object, _| {
            methods::get_timeout(object.socket.timeout())
        }),
        ("listen", Require::Class(MASTER), listen::<Tcp>),
        ("receive", Require::Class(CLIENT), receive::<Tcp>),
        ("send", Require::Class(CLIENT), send::<Tcp>),
        ("setfd", any, set_fd::<Tcp>),
        ("setoption", any, set_option),
        ("setpeername", any, connect_method),
        ("setsockname", Require::Class(MASTER), bind),
        ("settimeout", any, set_timeout::<Tcp>),
        ("shutdown", Require::Class(CLIENT), shutdown::<Tcp>),
    ];
    entries
        .into_iter()
        .map(|(name, require, body)| Ok((name, kind.method(lua, require, body)?)))
        .collect()
}

/// A method body of every stream flavor.
pub(crate) type StreamBody<F> = fn(&mut StreamObject<F>, &Call<'_, StreamObject<F>>) -> Outcome;

pub(crate) fn accept<F: Flavor>(
    object: &mut StreamObject<F>,
    call: &Call<'_, StreamObject<F>>,
) -> Outcome {
    match object.socket.accept() {
        Ok(socket) => values(vec![Value::UserData(
            call.kind.push(call.lua, StreamObject::new(socket))?,
        )]),
        Err(err) => methods::failure(call.lua, &err),
    }
}

fn bind(object: &mut TcpObject, call: &Call<'_, TcpObject>) -> Outcome {
    let (lua, args) = (call.lua, call.args);
    let address = args.check_string(lua, 2)?.to_string_lossy();
    let port = args.check_string(lua, 3)?.to_string_lossy();
    methods::status(lua, object.socket.bind(&address, &port))
}

pub(crate) fn close<F: Flavor>(
    object: &mut StreamObject<F>,
    _: &Call<'_, StreamObject<F>>,
) -> Outcome {
    object.close();
    success()
}

/// `connect`/`setpeername`: the object is a client afterwards, even on failure.
fn connect_method(object: &mut TcpObject, call: &Call<'_, TcpObject>) -> Outcome {
    let (lua, args) = (call.lua, call.args);
    let address = args.check_string(lua, 2)?.to_string_lossy();
    let port = args.check_string(lua, 3)?.to_string_lossy();
    methods::status(lua, object.socket.connect(&address, &port))
}

pub(crate) fn dirty<F: Flavor>(
    object: &mut StreamObject<F>,
    _: &Call<'_, StreamObject<F>>,
) -> Outcome {
    values(vec![Value::Boolean(object.socket.has_buffered_data())])
}

pub(crate) fn get_fd<F: Flavor>(
    object: &mut StreamObject<F>,
    _: &Call<'_, StreamObject<F>>,
) -> Outcome {
    methods::descriptor(object.socket.fd())
}

pub(crate) fn set_timeout<F: Flavor>(
    object: &mut StreamObject<F>,
    call: &Call<'_, StreamObject<F>>,
) -> Outcome {
    methods::set_timeout(object.socket.timeout_mut(), call.lua, call.args)
}

fn get_option(object: &mut TcpObject, call: &Call<'_, TcpObject>) -> Outcome {
    let option = methods::option_name(call.lua, call.args, SocketKind::Stream, OptionAccess::Get)?;
    methods::option_value(call.lua, object.socket.get_option(option))
}

fn set_option(object: &mut TcpObject, call: &Call<'_, TcpObject>) -> Outcome {
    let option = methods::option_name(call.lua, call.args, SocketKind::Stream, OptionAccess::Set)?;
    let value = methods::option_argument(call.lua, call.args, option)?;
    methods::status(call.lua, object.socket.set_option(option, &value))
}

pub(crate) fn get_stats<F: Flavor>(
    object: &mut StreamObject<F>,
    _: &Call<'_, StreamObject<F>>,
) -> Outcome {
    methods::get_stats(object.socket.stats())
}

pub(crate) fn set_stats<F: Flavor>(
    object: &mut StreamObject<F>,
    call: &Call<'_, StreamObject<F>>,
) -> Outcome {
    methods::set_stats(object.socket.stats_mut(), call.lua, call.args)
}

pub(crate) fn listen<F: Flavor>(
    object: &mut StreamObject<F>,
    call: &Call<'_, StreamObject<F>>,
) -> Outcome {
    let backlog = truncate(call.args.opt_number(call.lua, 2, 32.0)?);
    let backlog = backlog.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    methods::status(call.lua, object.socket.listen(backlog))
}

/// What `receive` was asked for.
pub(crate) enum Request {
    Pattern(ReceivePattern),
    /// A count already covered by the prefix: LuaSocket returns the prefix unread.
    PrefixOnly,
}

/// A numeric pattern: a byte count that includes the prefix, as in LuaSocket.
fn count_request(
    count: f64,
    prefix: usize,
) -> std::result::Result<Request, object::raise::Failure> {
    if count.is_nan() || count < 0.0 {
        return Err(argument(2, "invalid receive pattern"));
    }
    let wanted = count as usize;
    Ok(if prefix > 0 && wanted <= prefix {
        Request::PrefixOnly
    } else {
        Request::Pattern(ReceivePattern::Count(wanted - prefix))
    })
}

/// The arguments of `receive([pattern [, prefix]])` (arguments 2 and 3), checked as
/// LuaSocket checks them; shared with the `ssl` connections.
pub(crate) fn receive_request(
    lua: &Lua,
    args: &Args,
) -> std::result::Result<(Request, Vec<u8>), object::raise::Failure> {
    let prefix = args.opt_string(lua, 3)?;
    let prefix_bytes = prefix
        .as_ref()
        .map(|text| text.as_bytes().to_vec())
        .unwrap_or_default();
    let numeric = |count: Option<f64>| match count {
        Some(count) => count_request(count, prefix_bytes.len()),
        None => Err(argument(2, "invalid receive pattern")),
    };
    let request = match args.get(2) {
        None | Some(Value::Nil) => Request::Pattern(ReceivePattern::Line),
        // No numeric string starts like a pattern, so patterns are tried first: this is
        // the hot path, and it avoids converting the string to a number.
        Some(Value::String(text)) => match ReceivePattern::parse(&text.as_bytes()) {
            Some(pattern) => Request::Pattern(pattern),
            None => numeric(args.number(lua, 2)?)?,
        },
        Some(Value::Integer(_) | Value::Number(_)) => numeric(args.number(lua, 2)?)?,
        Some(_) => return Err(args.type_error(2, "string")),
    };
    Ok((request, prefix_bytes))
}

/// `prefix` followed by `bytes`, as one Lua string.
pub(crate) fn joined(lua: &Lua, prefix: &[u8], bytes: &[u8]) -> Result<LuaString> {
    if prefix.is_empty() {
        lua.create_string(bytes)
    } else {
        let mut whole = Vec::with_capacity(prefix.len() + bytes.len());
        whole.extend_from_slice(prefix);
        whole.extend_from_slice(bytes);
        lua.create_string(whole)
    }
}

/// `receive([pattern [, prefix]])`: `data, nil, nil, elapsed` or
/// `nil, message, partial, elapsed`.
pub(crate) fn receive<F: Flavor>(
    object: &mut StreamObject<F>,
    call: &Call<'_, StreamObject<F>>,
) -> Outcome {
    let started = Instant::now();
    let (lua, args) = (call.lua, call.args);
    let (request, prefix_bytes) = receive_request(lua, args)?;
    let joined = |bytes: &[u8]| joined(lua, &prefix_bytes, bytes);
    let (data, failure) = match request {
        Request::PrefixOnly => (joined(&[]), None),
        Request::Pattern(pattern) => object.socket.receive_with(pattern, joined),
    };
    let data = Value::String(data?);
    let elapsed = number(started.elapsed().as_secs_f64());
    match failure {
        None => values(vec![data, Value::Nil, Value::Nil, elapsed]),
        Some(err) => values(vec![
            Value::Nil,
            methods::message(lua, &err)?,
            data,
            elapsed,
        ]),
    }
}

/// `send(data [, i [, j]])`: `last, nil, nil, elapsed` or `nil, message, last, elapsed`.
pub(crate) fn send<F: Flavor>(
    object: &mut StreamObject<F>,
    call: &Call<'_, StreamObject<F>>,
) -> Outcome {
    let started = Instant::now();
    let (lua, args) = (call.lua, call.args);
    let data = args.check_string(lua, 2)?;
    let first = truncate(args.opt_number(lua, 3, 1.0)?);
    let last = truncate(args.opt_number(lua, 4, -1.0)?);
    let bytes = data.as_bytes();
    let range = SendRange::new(bytes.len(), first, last);
    let slice = range.slice(&bytes);
    let (sent, err) = if slice.is_empty() {
        (0, None)
    } else {
        object.socket.send(slice)
    };
    let index = number(range.last_index(sent) as f64);
    let elapsed = number(started.elapsed().as_secs_f64());
    match err {
        None => values(vec![index, Value::Nil, Value::Nil, elapsed]),
        Some(err) => values(vec![
            Value::Nil,
            methods::message(lua, &err)?,
            index,
            elapsed,
        ]),
    }
}

/// `setfd(fd)`: a negative number releases the descriptor without closing it.
pub(crate) fn set_fd<F: Flavor>(
    object: &mut StreamObject<F>,
    call: &Call<'_, StreamObject<F>>,
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

pub(crate) fn shutdown<F: Flavor>(
    object: &mut StreamObject<F>,
    call: &Call<'_, StreamObject<F>>,
) -> Outcome {
    let how = [Shutdown::Read, Shutdown::Write, Shutdown::Both];
    let index = call
        .args
        .check_option(call.lua, 2, "both", &["receive", "send", "both"])?;
    object.socket.shutdown(how[index]);
    success()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrow_reaches_the_socket() {
        let lua = Lua::new();
        crate::install(&lua).unwrap();
        let tcp: AnyUserData = lua
            .load(r#"local s = require("socket.core").tcp4(); s:settimeout(3); return s"#)
            .eval()
            .unwrap();
        let object = borrow(&lua, &tcp).unwrap();
        assert_eq!(object.socket.timeout().get(), (3.0, -1.0));
        assert!(object.socket.fd().is_some());
        assert!(borrow(&lua, &tcp).is_none(), "already borrowed");
        drop(object);
        let udp: AnyUserData = lua
            .load(r#"return require("socket.core").udp()"#)
            .eval()
            .unwrap();
        assert!(borrow(&lua, &udp).is_none());
        assert!(super::super::udp::borrow(&lua, &udp).is_some());
        let foreign = lua.create_any_userdata(5u8).unwrap();
        assert!(borrow(&lua, &foreign).is_none());
    }
}

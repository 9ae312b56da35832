//! `ssl`: LuaSec's module surface (`ssl.newcontext`, `ssl.wrap`, `ssl.loadcertificate`,
//! connections and certificates) on copas-tls.
//!
//! A connection takes over the descriptor of one of our `tcp` objects (which is left without
//! one, as LuaSec leaves it) as a copas-tls `TlsSocket`, which does the work: the
//! handshake, LuaSocket's receive patterns, statistics, `want()`, and blocking calls that
//! wait up to the connection's timeout (with a zero timeout they return `"wantread"` /
//! `"wantwrite"` as LuaSec does, which is how Copas drives them). This module checks
//! arguments, converts values and words errors as LuaSec does (`messages`). Not here: DTLS,
//! SNI with several server contexts, LuaSec's context methods (`setverifyext`, ...), session
//! control. docs/tls.md lists the surface.
//!
//! ```
//! let lua = mlua::Lua::new();
//! copas_lua::install(&lua).unwrap();
//! let refused: String = lua
//!     .load(r#"return select(2, require("ssl").newcontext({ protocol = "sslv3" }))"#)
//!     .eval()
//!     .unwrap();
//! assert!(refused.contains("not supported"));
//! ```

use std::rc::Rc;

use copas_tls::{AlpnChooser, Mode, PeerCertificate, TlsContext, TlsSocket};
use luasocket_core::{Complete, Interest, ReceivePattern, SendRange, TcpSocket};
use mlua::{Function, Lua, MultiValue, Table, UserData, UserDataMethods, Value, WeakLua};

use crate::dispatch::Registration;
use crate::socket_core::methods::{self, number, success, values};
use crate::socket_core::object::args::{truncate, Args};
use crate::socket_core::object::raise::{self, argument, Outcome};
use crate::socket_core::object::{self, Kind, Require, SocketClass};
use crate::socket_core::tcp::{self, Request, StreamObject};
use crate::socket_core::unix::UnixStreamObject;

mod certificate;
mod messages;
mod params;

use certificate::SslCertificate;
use messages::message;
use params::params_from_table;

/// A server's `alpn` callback and the state to call it in.
#[derive(Clone)]
pub(crate) struct AlpnCallback {
    function: Function,
    /// Weak: a strong handle kept in a userdata would keep the state alive forever.
    lua: WeakLua,
}

impl std::fmt::Debug for AlpnCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AlpnCallback").field(&self.function).finish()
    }
}

impl AlpnCallback {
    /// Calls the callback with the client's protocols (a list of strings); its answer is
    /// a protocol name, or nil for none.
    fn choose(&self, offered: &[&[u8]]) -> Result<Option<Vec<u8>>, String> {
        let lua = self.lua.try_upgrade().ok_or("the Lua state is closed")?;
        let call = || -> mlua::Result<Option<Vec<u8>>> {
            let list = lua.create_table()?;
            for protocol in offered {
                list.push(lua.create_string(protocol)?)?;
            }
            Ok(match self.function.call::<Value>(list)? {
                Value::String(chosen) => Some(chosen.as_bytes().to_vec()),
                _ => None,
            })
        };
        call().map_err(|e| e.to_string())
    }

    fn into_chooser(self) -> AlpnChooser {
        Box::new(move |offered| self.choose(offered))
    }
}

/// The outcome of one non-blocking step, with the error as the message Lua sees.
pub(crate) enum Step<T> {
    Done(T),
    Want(Interest),
    Failed(String),
}

impl<T> From<copas_tls::Step<T>> for Step<T> {
    fn from(step: copas_tls::Step<T>) -> Self {
        match step {
            copas_tls::Step::Done(value) => Step::Done(value),
            copas_tls::Step::Want(interest) => Step::Want(interest),
            copas_tls::Step::Failed(error) => Step::Failed(message(&error)),
        }
    }
}

/// The Rust value behind an `SSL:Connection`: a TLS socket over the descriptor of one
/// of our TCP objects.
#[derive(Debug)]
pub(crate) struct SslConnection {
    socket: TlsSocket<TcpSocket>,
    /// The descriptor's place in the Copas reactor, once a Copas thread waited on it.
    pub(crate) registration: Option<Registration>,
    /// Its `copas.settimeouts` limits.
    pub(crate) timeouts: crate::copas_core::Timeouts,
}

impl SocketClass for SslConnection {
    const CLASSES: &'static [&'static str] = &["SSL:Connection"];
    const ANY: &'static str = "SSL:Connection";
    const GROUPS: &'static [&'static str] = &[];

    fn class(&self) -> usize {
        0
    }
}

impl Drop for SslConnection {
    fn drop(&mut self) {
        self.close();
    }
}

impl SslConnection {
    pub(crate) fn fd(&self) -> Option<luasocket_core::RawSocket> {
        self.socket.fd()
    }

    /// Closes the socket, out of the Copas reactor first.
    fn close(&mut self) {
        if let Some(registration) = self.registration.take() {
            registration.release();
        }
        self.socket.close();
    }

    /// Reads until `pattern` is complete in the buffer (handshaking first if needed).
    /// With `readable` false (see `TcpSocket::expect_read`) the first read from the
    /// socket is skipped. Returns also whether the last read left the socket's queue
    /// empty.
    pub(crate) fn receive_step(
        &mut self,
        pattern: ReceivePattern,
        readable: bool,
    ) -> (Step<Complete>, bool) {
        if let Some(transport) = self.socket.transport_mut() {
            transport.expect_read(readable);
        }
        let step = self.socket.receive_step(pattern).into();
        let drained = self.socket.transport_mut().is_some_and(|transport| {
            let drained = transport.drained();
            transport.expect_read(true);
            drained
        });
        (step, drained)
    }

    /// Makes reads report whether they emptied the socket's queue (see
    /// `TcpSocket::track_drain`); false when they cannot.
    pub(crate) fn track_drain(&mut self) -> bool {
        self.socket
            .transport_mut()
            .is_some_and(|transport| transport.track_drain())
    }

    /// Writes `data[*sent..]` and flushes it (handshaking first if needed).
    pub(crate) fn send_step(&mut self, data: &[u8], sent: &mut usize) -> Step<()> {
        self.socket.send_step(data, sent).into()
    }

    /// Takes the bytes of `complete` out of the buffer.
    pub(crate) fn take<R>(&mut self, complete: Complete, deliver: impl FnOnce(&[u8]) -> R) -> R {
        self.socket.take(complete, deliver)
    }

    /// Takes what a failed receive of `pattern` returns as partial data.
    pub(crate) fn take_partial<R>(
        &mut self,
        pattern: ReceivePattern,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> R {
        self.socket.take_partial(pattern, deliver)
    }
}

/// `ssl.newcontext` results: a checked configuration, shared by the connections made from
/// it.
#[derive(Debug, Clone)]
pub(crate) struct SslContext {
    context: Rc<TlsContext>,
    alpn: Option<AlpnCallback>,
}

impl UserData for SslContext {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method("__tostring", |_, context, ()| {
            Ok(format!("SSL context: {:p}", Rc::as_ptr(&context.context)))
        });
    }
}

/// `nil, message`.
fn failed(lua: &Lua, message: &str) -> Outcome {
    values(vec![Value::Nil, Value::String(lua.create_string(message)?)])
}

fn new_context(lua: &Lua, table: &Table) -> Result<SslContext, String> {
    let params = params_from_table(table)?;
    let alpn = match table.raw_get::<Value>("alpn") {
        Ok(Value::Function(function)) if params.mode == Mode::Server => Some(AlpnCallback {
            function,
            lua: lua.weak(),
        }),
        Ok(Value::Function(_)) => {
            return Err("an 'alpn' callback is for servers (give a client a list)".to_owned())
        }
        _ => None,
    };
    let context = TlsContext::new(&params).map_err(|e| message(&e))?;
    Ok(SslContext {
        context: Rc::new(context),
        alpn,
    })
}

/// `ssl.newcontext(params)`: a context, or `nil, message`.
fn newcontext(lua: &Lua, args: &Args) -> Outcome {
    let Some(Value::Table(params)) = args.get(1) else {
        return Err(args.type_error(1, "table"));
    };
    match new_context(lua, params) {
        Ok(context) => values(vec![Value::UserData(lua.create_userdata(context)?)]),
        Err(message) => failed(lua, &message),
    }
}

/// `ssl.wrap(sock, params_or_context)`: a connection over `sock`'s descriptor, or
/// `nil, message` for a bad configuration.
fn wrap(lua: &Lua, kind: &Kind<SslConnection>, args: &Args) -> Outcome {
    let context = match args.get(2) {
        Some(Value::Table(params)) => match new_context(lua, params) {
            Ok(context) => context,
            Err(message) => return failed(lua, &message),
        },
        Some(Value::UserData(userdata)) => match userdata.borrow::<SslContext>() {
            Ok(context) => context.clone(),
            Err(_) => return Err(argument(2, "SSL context or parameter table expected")),
        },
        _ => return Err(argument(2, "SSL context or parameter table expected")),
    };
    let transport = match args.get(1) {
        Some(Value::UserData(userdata)) => tcp::borrow(lua, userdata)
            .map(hand_over)
            .or_else(|| object::borrow::<UnixStreamObject>(lua, userdata).map(hand_over)),
        _ => None,
    };
    let Some(transport) = transport else {
        return Err(argument(1, "tcp{client} expected"));
    };
    let connection = SslConnection {
        socket: TlsSocket::new(
            &context.context,
            transport,
            context.alpn.map(AlpnCallback::into_chooser),
        ),
        registration: None,
        timeouts: Default::default(),
    };
    values(vec![Value::UserData(kind.push(lua, connection)?)])
}

/// Moves a stream object's connection (TCP or Unix) to the TLS layer.
fn hand_over<F: tcp::Flavor>(mut stream: std::cell::RefMut<'_, StreamObject<F>>) -> TcpSocket {
    // The connection owns the descriptor from now on; the reactor must not keep the
    // stream object's registration for it.
    stream.forget_registration();
    stream.socket.hand_over()
}

/// `ssl.loadcertificate(data [, format])` and `ssl.x509.load`: a certificate from PEM
/// (the default) or DER, or `nil, message`.
fn loadcertificate(lua: &Lua, args: &Args) -> Outcome {
    let data = args.check_string(lua, 1)?;
    let format = args.check_option(lua, 2, "pem", &["pem", "der"])?;
    let loaded = if format == 0 {
        PeerCertificate::from_pem(&data.as_bytes())
    } else {
        PeerCertificate::from_der(&data.as_bytes())
    };
    match loaded {
        Ok(cert) => values(vec![Value::UserData(
            lua.create_userdata(SslCertificate(Rc::new(cert)))?,
        )]),
        Err(error) => failed(lua, &message(&error)),
    }
}

/// Builds the `ssl.x509` table: `load`.
pub(crate) fn open_x509(lua: &Lua) -> mlua::Result<Table> {
    let x509 = lua.create_table()?;
    x509.set(
        "load",
        raise::function(lua, |lua, args| loadcertificate(lua, &Args::new(args)))?,
    )?;
    Ok(x509)
}

type Body = fn(&mut SslConnection, &object::Call<'_, SslConnection>) -> Outcome;

fn method_table(
    lua: &Lua,
    kind: &Rc<Kind<SslConnection>>,
) -> mlua::Result<Vec<(&'static str, Function)>> {
    let entries: [(&str, Body); 18] = [
        ("close", |connection, _| {
            connection.close();
            success()
        }),
        ("dirty", |connection, _| {
            values(vec![Value::Boolean(connection.socket.has_buffered_data())])
        }),
        ("dohandshake", dohandshake),
        ("getalpn", |connection, call| {
            match connection.socket.alpn() {
                Some(protocol) => values(vec![Value::String(call.lua.create_string(protocol)?)]),
                None => values(vec![Value::Nil]),
            }
        }),
        ("getfd", |connection, _| {
            methods::descriptor(connection.fd())
        }),
        ("getpeercertificate", getpeercertificate),
        ("getpeerchain", getpeerchain),
        ("getpeerverification", |connection, call| {
            let handshaken = connection.socket.is_handshaken();
            if handshaken && connection.socket.context().verifies_peer() {
                return values(vec![Value::Boolean(true)]);
            }
            let reasons = call.lua.create_table()?;
            reasons.push(if handshaken {
                "certificate not verified (verify = \"none\")"
            } else {
                "handshake not completed"
            })?;
            values(vec![Value::Boolean(false), Value::Table(reasons)])
        }),
        ("getsniname", |connection, call| {
            match connection.socket.sni() {
                Some(name) => values(vec![Value::String(call.lua.create_string(name)?)]),
                None => values(vec![Value::Nil]),
            }
        }),
        ("getstats", |connection, _| {
            methods::get_stats(connection.socket.stats())
        }),
        ("setstats", |connection, call| {
            methods::set_stats(connection.socket.stats_mut(), call.lua, call.args)
        }),
        ("gettimeout", |connection, _| {
            methods::get_timeout(connection.socket.timeout())
        }),
        ("info", info),
        ("receive", receive),
        ("send", send),
        ("settimeout", |connection, call| {
            methods::set_timeout(connection.socket.timeout_mut(), call.lua, call.args)
        }),
        ("sni", sni),
        ("want", |connection, call| {
            values(vec![Value::String(
                call.lua
                    .create_string(messages::want(connection.socket.want()))?,
            )])
        }),
    ];
    entries
        .into_iter()
        .map(|(name, body)| Ok((name, kind.method(lua, Require::Any, body)?)))
        .collect()
}

/// `dohandshake()`: `true`, or `false, message` (`"wantread"`/`"wantwrite"` with a zero
/// timeout, `"timeout"` when a positive one ran out), as LuaSec returns.
fn dohandshake(connection: &mut SslConnection, call: &object::Call<'_, SslConnection>) -> Outcome {
    match connection.socket.handshake() {
        Ok(()) => values(vec![Value::Boolean(true)]),
        Err(error) => values(vec![
            Value::Boolean(false),
            Value::String(call.lua.create_string(message(&error))?),
        ]),
    }
}

fn certificates(connection: &SslConnection) -> Vec<PeerCertificate> {
    connection.socket.peer_certificates().unwrap_or_default()
}

fn certificate_value(lua: &Lua, cert: PeerCertificate) -> mlua::Result<Value> {
    Ok(Value::UserData(
        lua.create_userdata(SslCertificate(Rc::new(cert)))?,
    ))
}

/// `getpeercertificate([n])`: the n-th certificate of the peer's chain (1, the leaf, by
/// default), or nil.
fn getpeercertificate(
    connection: &mut SslConnection,
    call: &object::Call<'_, SslConnection>,
) -> Outcome {
    let n = truncate(call.args.opt_number(call.lua, 2, 1.0)?);
    let index = usize::try_from(n - 1).ok();
    let cert = index.and_then(|index| certificates(connection).into_iter().nth(index));
    match cert {
        Some(cert) => values(vec![certificate_value(call.lua, cert)?]),
        None => values(vec![Value::Nil]),
    }
}

fn getpeerchain(connection: &mut SslConnection, call: &object::Call<'_, SslConnection>) -> Outcome {
    let chain = certificates(connection);
    if chain.is_empty() {
        return values(vec![Value::Nil]);
    }
    let list = call.lua.create_table()?;
    for cert in chain {
        list.push(certificate_value(call.lua, cert)?)?;
    }
    values(vec![Value::Table(list)])
}

/// `info([field])`: `protocol`, `cipher`, `bits`, `algbits`, `compression`.
fn info(connection: &mut SslConnection, call: &object::Call<'_, SslConnection>) -> Outcome {
    let lua = call.lua;
    let Some(session) = connection.socket.info() else {
        return values(vec![Value::Nil]);
    };
    let bits = if session.cipher.contains("128") {
        128
    } else {
        256
    };
    let table = lua.create_table()?;
    table.set("protocol", session.protocol)?;
    table.set("cipher", session.cipher)?;
    table.set("bits", bits)?;
    table.set("algbits", bits)?;
    table.set("compression", "none")?;
    match call.args.opt_string(lua, 2)? {
        Some(field) => values(vec![table.get(field)?]),
        None => values(vec![Value::Table(table)]),
    }
}

/// `sni(name)` on a client: the name sent and verified, given before the handshake. Servers
/// answer with their one certificate; several contexts by name are not supported.
fn sni(connection: &mut SslConnection, call: &object::Call<'_, SslConnection>) -> Outcome {
    if connection.socket.context().mode() == Mode::Server {
        return server_names(connection, call);
    }
    let name = call.args.check_string(call.lua, 2)?.to_string_lossy();
    if connection.socket.set_server_name(name) {
        Ok(MultiValue::new())
    } else {
        Err(argument(1, "sni must be set before the handshake"))
    }
}

/// A server's `sni(names, strict)`: `names` maps each server name to the context (from
/// `ssl.newcontext`) to serve it with; with `strict`, a client asking for another name
/// is refused.
fn server_names(connection: &mut SslConnection, call: &object::Call<'_, SslConnection>) -> Outcome {
    let args = call.args;
    let Some(Value::Table(table)) = args.get(2) else {
        return Err(args.type_error(2, "table"));
    };
    let mut names = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        let (name, context) = pair?;
        let name = match name {
            Value::String(name) => name.to_string_lossy(),
            _ => return Err(argument(2, "server names must be strings")),
        };
        let context = match context {
            Value::UserData(context) => context
                .borrow::<SslContext>()
                .ok()
                .map(|c| c.context.clone()),
            _ => None,
        };
        let Some(context) = context else {
            return Err(argument(
                2,
                format!("the value for '{name}' is not an SSL context"),
            ));
        };
        if context.mode() != Mode::Server {
            return Err(argument(
                2,
                format!("the context for '{name}' is not a server's"),
            ));
        }
        names.push((name, TlsContext::clone(&context)));
    }
    let strict = matches!(args.get(3), Some(Value::Boolean(true)));
    if connection.socket.set_server_names(names, strict) {
        Ok(MultiValue::new())
    } else {
        Err(argument(1, "sni must be set before the handshake"))
    }
}

/// `receive([pattern [, prefix]])`: `data`, or `nil, message, partial`.
fn receive(connection: &mut SslConnection, call: &object::Call<'_, SslConnection>) -> Outcome {
    let lua = call.lua;
    let (request, prefix) = tcp::receive_request(lua, call.args)?;
    let joined = |bytes: &[u8]| tcp::joined(lua, &prefix, bytes);
    let pattern = match request {
        Request::PrefixOnly => return values(vec![Value::String(joined(&[])?)]),
        Request::Pattern(pattern) => pattern,
    };
    match connection.socket.receive_with(pattern, joined) {
        (data, None) => values(vec![Value::String(data?)]),
        (partial, Some(error)) => values(vec![
            Value::Nil,
            Value::String(lua.create_string(message(&error))?),
            Value::String(partial?),
        ]),
    }
}

/// `send(data [, i [, j]])`: `last`, or `nil, message, last`.
fn send(connection: &mut SslConnection, call: &object::Call<'_, SslConnection>) -> Outcome {
    let (lua, args) = (call.lua, call.args);
    let data = args.check_string(lua, 2)?;
    let first = truncate(args.opt_number(lua, 3, 1.0)?);
    let last = truncate(args.opt_number(lua, 4, -1.0)?);
    let bytes = data.as_bytes();
    let range = SendRange::new(bytes.len(), first, last);
    let slice = range.slice(&bytes);
    let (sent, error) = connection.socket.send(slice);
    let last = number(range.last_index(sent) as f64);
    match error {
        None => values(vec![last]),
        Some(error) => values(vec![
            Value::Nil,
            Value::String(lua.create_string(message(&error))?),
            last,
        ]),
    }
}

/// The connection kind of this Lua state, its metatables filled on first use
/// (whichever of `ssl` and `copas.core` asks first).
pub(crate) fn kind(lua: &Lua) -> mlua::Result<Rc<Kind<SslConnection>>> {
    let (kind, created) = Kind::<SslConnection>::for_state(lua)?;
    if created {
        let methods = method_table(lua, &kind)?;
        let tostring = kind.method(lua, Require::Any, |_, call| {
            let text = format!("SSL connection: {:p}", call.address());
            values(vec![Value::String(call.lua.create_string(text)?)])
        })?;
        kind.fill(lua, &methods, tostring)?;
    }
    Ok(kind)
}

/// Builds the `ssl` table.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let kind = kind(lua)?;
    let ssl = lua.create_table()?;
    ssl.set("_VERSION", "1.3.2")?;
    let require: Function = lua.globals().get("require")?;
    ssl.set("config", require.call::<Value>("ssl.config")?)?;
    ssl.set(
        "newcontext",
        raise::function(lua, |lua, args| newcontext(lua, &Args::new(args)))?,
    )?;
    let wrap_kind = kind.clone();
    ssl.set(
        "wrap",
        raise::function(lua, move |lua, args| {
            wrap(lua, &wrap_kind, &Args::new(args))
        })?,
    )?;
    ssl.set(
        "loadcertificate",
        raise::function(lua, |lua, args| loadcertificate(lua, &Args::new(args)))?,
    )?;
    Ok(ssl)
}

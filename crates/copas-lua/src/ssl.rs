//! `ssl`: LuaSec's module surface (`ssl.newcontext`, `ssl.wrap`, `ssl.loadcertificate`,
//! connections and certificates) on copas-tls.
//!
//! A connection takes over the descriptor of one of our `tcp` objects (which is left without
//! one, as LuaSec leaves it) and drives a rustls stream over it. Blocking calls wait with
//! poll(2) up to the connection's timeout; with a zero timeout they return `"wantread"` /
//! `"wantwrite"` as LuaSec does, which is how Copas drives them. Received plaintext goes
//! through luasocket-core's receive buffer, so patterns and partial results are exactly
//! those of a TCP object. Not here: DTLS, SNI with several server contexts, LuaSec's
//! context methods (`setverifyext`, ...), session control. docs/tls.md lists the surface.
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

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use copas_tls::{
    Error as TlsError, Mode, PeerCertificate, Protocol, Status, TlsAccept, TlsContext, TlsParams,
    TlsStream, Verify,
};
use luasocket_core::{
    Complete, Deadline, Interest, ReceiveBuffer, ReceivePattern, SendRange, Stats, Timeout,
};
use mlua::{
    AnyUserData, Function, IntoLuaMulti, Lua, MultiValue, Table, UserData, UserDataMethods, Value,
    WeakLua,
};

use crate::dispatch::Registration;
use crate::socket_core::methods::{self, number, success, values};
use crate::socket_core::object::args::{truncate, Args};
use crate::socket_core::object::raise::{self, argument, Outcome};
use crate::socket_core::object::{self, Kind, Require, SocketClass};
use crate::socket_core::tcp::{self, Request};

/// Where a connection's socket is.
#[derive(Debug)]
enum Link {
    /// Wrapped, handshake not started: the stream is made at the first step, so that
    /// `sni` can still name the server.
    Fresh {
        socket: TcpStream,
        host: Option<String>,
    },
    /// A server with an ALPN callback, reading the ClientHello.
    Accepting(Box<TlsAccept<TcpStream>>),
    Open(Box<TlsStream<TcpStream>>),
    Closed,
}

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
        call().map_err(|e| format!("alpn callback failed: {e}"))
    }
}

/// The outcome of one non-blocking step.
pub(crate) enum Step<T> {
    Done(T),
    Want(Interest),
    Failed(String),
}

impl<T> Step<T> {
    /// A step that did not finish, as a step of another operation; `None` when done.
    fn pending<U>(self) -> Option<Step<U>> {
        match self {
            Step::Done(_) => None,
            Step::Want(interest) => Some(Step::Want(interest)),
            Step::Failed(error) => Some(Step::Failed(error)),
        }
    }
}

/// The Rust value behind an `SSL:Connection`.
#[derive(Debug)]
pub(crate) struct SslConnection {
    context: Rc<TlsContext>,
    alpn: Option<AlpnCallback>,
    link: Link,
    buffer: ReceiveBuffer,
    timeout: Timeout,
    handshaken: bool,
    /// The peer ended the stream (close_notify or EOF).
    eof: bool,
    /// The error that broke the connection; every later operation reports it.
    broken: Option<String>,
    /// LuaSec's `conn:want()`: what the last operation waited for.
    want: &'static str,
    /// Plaintext bytes handed out by `receive` and taken by `send`.
    stats: Stats,
    /// The descriptor's place in the Copas reactor, once a Copas thread waited on it.
    pub(crate) registration: Option<Registration>,
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

/// A TLS error as the message Lua sees; a reset or broken pipe is `"closed"`, as LuaSocket
/// reports it.
fn tls_message(error: TlsError) -> String {
    match error {
        TlsError::Io(io) => luasocket_core::Error::from_io(io).to_string(),
        other => other.to_string(),
    }
}

fn want_message(interest: Interest) -> &'static str {
    match interest {
        Interest::Read => "wantread",
        Interest::Write => "wantwrite",
    }
}

fn want_of<T>(status: Status<T>) -> Result<T, Interest> {
    match status {
        Status::Done(value) => Ok(value),
        Status::WantRead => Err(Interest::Read),
        Status::WantWrite => Err(Interest::Write),
    }
}

impl SslConnection {
    fn new(context: Rc<TlsContext>, alpn: Option<AlpnCallback>, socket: TcpStream) -> Self {
        Self {
            context,
            alpn,
            link: Link::Fresh { socket, host: None },
            buffer: ReceiveBuffer::new(),
            timeout: Timeout::INFINITE,
            handshaken: false,
            eof: false,
            broken: None,
            want: "nothing",
            stats: Stats::new(),
            registration: None,
        }
    }

    pub(crate) fn fd(&self) -> Option<RawFd> {
        match &self.link {
            Link::Fresh { socket, .. } => Some(socket.as_raw_fd()),
            Link::Accepting(accept) => accept.transport().map(AsRawFd::as_raw_fd),
            Link::Open(stream) => Some(stream.fd()),
            Link::Closed => None,
        }
    }

    /// Sends close_notify if the socket takes it at once, then closes the descriptor
    /// (out of the Copas reactor first).
    fn close(&mut self) {
        if let Some(registration) = self.registration.take() {
            registration.release();
        }
        if let Link::Open(stream) = &mut self.link {
            if self.handshaken && self.broken.is_none() {
                let _ = stream.close_notify();
            }
        }
        self.link = Link::Closed;
        self.buffer = ReceiveBuffer::new();
    }

    /// Records `error` as what broke the connection and returns its message.
    fn fail(&mut self, error: TlsError) -> String {
        let message = tls_message(error);
        self.broken = Some(message.clone());
        message
    }

    /// The stream, made on first use: a client verifies the name given to `sni` or, without
    /// one, the peer's IP address.
    fn stream(&mut self) -> Result<&mut TlsStream<TcpStream>, String> {
        if let Some(error) = &self.broken {
            return Err(error.clone());
        }
        self.link = match std::mem::replace(&mut self.link, Link::Closed) {
            Link::Fresh { socket, host } => {
                let host = host.or_else(|| match self.context.mode() {
                    Mode::Client => socket.peer_addr().ok().map(|peer| peer.ip().to_string()),
                    Mode::Server => None,
                });
                match TlsStream::new(&self.context, socket, host.as_deref()) {
                    Ok(stream) => Link::Open(Box::new(stream)),
                    Err(error) => return Err(self.fail(error)),
                }
            }
            other => other,
        };
        match &mut self.link {
            Link::Open(stream) => Ok(stream),
            _ => Err("closed".to_owned()),
        }
    }

    /// A server with an ALPN callback reads the ClientHello first, to ask the callback.
    fn accept_step(&mut self) -> Step<()> {
        if let Some(error) = &self.broken {
            return Step::Failed(error.clone());
        }
        let Some(callback) = self.alpn.clone() else {
            return Step::Done(());
        };
        if let Link::Fresh { .. } = self.link {
            if let Link::Fresh { socket, .. } = std::mem::replace(&mut self.link, Link::Closed) {
                match TlsAccept::new(&self.context, socket) {
                    Ok(accept) => self.link = Link::Accepting(Box::new(accept)),
                    Err(error) => return Step::Failed(self.fail(error)),
                }
            }
        }
        let Link::Accepting(accept) = &mut self.link else {
            return Step::Done(());
        };
        let mut failure = None;
        let polled = accept.poll(|offered| {
            callback.choose(offered).unwrap_or_else(|error| {
                failure = Some(error);
                None
            })
        });
        match polled {
            Ok(Status::Done(stream)) => {
                self.link = Link::Open(Box::new(stream));
                match failure {
                    Some(error) => {
                        self.broken = Some(error.clone());
                        Step::Failed(error)
                    }
                    None => Step::Done(()),
                }
            }
            Ok(Status::WantRead) => Step::Want(Interest::Read),
            Ok(Status::WantWrite) => Step::Want(Interest::Write),
            Err(error) => Step::Failed(self.fail(error)),
        }
    }

    fn handshake_step(&mut self) -> Step<()> {
        if self.handshaken {
            return Step::Done(());
        }
        if let Some(step) = self.accept_step().pending() {
            return step;
        }
        let stream = match self.stream() {
            Ok(stream) => stream,
            Err(error) => return Step::Failed(error),
        };
        match stream.handshake() {
            Ok(status) => match want_of(status) {
                Ok(()) => {
                    self.handshaken = true;
                    Step::Done(())
                }
                Err(interest) => Step::Want(interest),
            },
            Err(error) => Step::Failed(self.fail(error)),
        }
    }

    /// Reads until `pattern` is complete in the buffer (handshaking first if needed).
    pub(crate) fn receive_step(&mut self, pattern: ReceivePattern) -> Step<Complete> {
        if let Some(step) = self.handshake_step().pending() {
            return step;
        }
        loop {
            if let Some(complete) = self.buffer.find(pattern) {
                return Step::Done(complete);
            }
            if self.eof {
                return match pattern {
                    ReceivePattern::All if !self.buffer.is_empty() => {
                        Step::Done(self.buffer.everything())
                    }
                    _ => Step::Failed("closed".to_owned()),
                };
            }
            let wanted = match pattern {
                ReceivePattern::Count(count) => count,
                ReceivePattern::Line | ReceivePattern::All => 0,
            };
            let Link::Open(stream) = &mut self.link else {
                return Step::Failed("closed".to_owned());
            };
            let mut stopped = None;
            let read = self.buffer.fill(wanted, |free| match stream.read(free) {
                Ok(status) => want_of(status).map_err(|interest| {
                    stopped = Some(Ok(interest));
                    io::ErrorKind::WouldBlock.into()
                }),
                // An end without close_notify ends the data all the same.
                Err(TlsError::Closed) => Ok(0),
                Err(error) => {
                    stopped = Some(Err(error));
                    Err(io::ErrorKind::Other.into())
                }
            });
            match (read, stopped) {
                (Ok(0), _) => self.eof = true,
                (Ok(_), _) => {}
                (Err(_), Some(Ok(interest))) => {
                    self.buffer.park();
                    return Step::Want(interest);
                }
                (Err(_), Some(Err(error))) => return Step::Failed(self.fail(error)),
                (Err(error), None) => return Step::Failed(error.to_string()),
            }
        }
    }

    /// Writes `data[*sent..]` and flushes it (handshaking first if needed). Data only counts
    /// as sent once the socket took all of it, so a close right after cannot strand it.
    pub(crate) fn send_step(&mut self, data: &[u8], sent: &mut usize) -> Step<()> {
        if let Some(step) = self.handshake_step().pending() {
            return step;
        }
        loop {
            let stream = match self.stream() {
                Ok(stream) => stream,
                Err(error) => return Step::Failed(error),
            };
            let result = if *sent < data.len() {
                stream.write(&data[*sent..]).map(|status| match status {
                    Status::Done(count) => {
                        *sent += count;
                        self.stats.sent = self.stats.sent.saturating_add(count as i64);
                        Status::Done(false)
                    }
                    Status::WantRead => Status::WantRead,
                    Status::WantWrite => Status::WantWrite,
                })
            } else {
                stream.flush().map(|status| match status {
                    Status::Done(()) => Status::Done(true),
                    Status::WantRead => Status::WantRead,
                    Status::WantWrite => Status::WantWrite,
                })
            };
            match result.map(want_of) {
                Ok(Ok(true)) => return Step::Done(()),
                Ok(Ok(false)) => {}
                Ok(Err(interest)) => return Step::Want(interest),
                Err(error) => return Step::Failed(self.fail(error)),
            }
        }
    }

    /// Repeats `step` until it is done, waiting for the socket up to the deadline. With a
    /// zero timeout it never waits: the error is then `"wantread"`/`"wantwrite"`.
    fn drive<T>(
        &mut self,
        deadline: &Deadline,
        mut step: impl FnMut(&mut Self) -> Step<T>,
    ) -> Result<T, String> {
        loop {
            match step(self) {
                Step::Done(value) => {
                    self.want = "nothing";
                    return Ok(value);
                }
                Step::Failed(error) => return Err(error),
                Step::Want(interest) => {
                    self.want = match interest {
                        Interest::Read => "read",
                        Interest::Write => "write",
                    };
                    if deadline.is_zero() {
                        return Err(want_message(interest).to_owned());
                    }
                    let Some(fd) = self.fd() else {
                        return Err("closed".to_owned());
                    };
                    luasocket_core::wait(fd, interest, deadline).map_err(|e| e.to_string())?;
                }
            }
        }
    }

    /// Takes the bytes of `complete` out of the buffer.
    pub(crate) fn take<R>(&mut self, complete: Complete, deliver: impl FnOnce(&[u8]) -> R) -> R {
        let (result, consumed) = self.buffer.take(complete, deliver);
        self.stats.received = self.stats.received.saturating_add(consumed as i64);
        result
    }

    /// Takes what a failed receive of `pattern` returns as partial data.
    pub(crate) fn take_partial<R>(
        &mut self,
        pattern: ReceivePattern,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> R {
        let partial = self.buffer.partial(pattern);
        self.take(partial, deliver)
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

/// A certificate, as `conn:getpeercertificate()` and `ssl.loadcertificate` return it.
#[derive(Debug, Clone)]
pub(crate) struct SslCertificate(Rc<PeerCertificate>);

fn name_table(lua: &Lua, entries: &[copas_tls::NameEntry]) -> mlua::Result<Table> {
    let list = lua.create_table()?;
    for entry in entries {
        let item = lua.create_table()?;
        item.set("oid", entry.oid.as_str())?;
        item.set("name", entry.name.as_str())?;
        item.set("value", entry.value.as_str())?;
        list.push(item)?;
    }
    Ok(list)
}

impl UserData for SslCertificate {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("subject", |lua, cert, ()| name_table(lua, &cert.0.subject));
        methods.add_method("issuer", |lua, cert, ()| name_table(lua, &cert.0.issuer));
        methods.add_method("notbefore", |_, cert, ()| Ok(cert.0.not_before.clone()));
        methods.add_method("notafter", |_, cert, ()| Ok(cert.0.not_after.clone()));
        methods.add_method("serial", |_, cert, ()| Ok(cert.0.serial.clone()));
        methods.add_method("pem", |_, cert, ()| Ok(cert.0.pem()));
        methods.add_method("digest", |lua, cert, algorithm: Option<String>| match cert
            .0
            .digest(algorithm.as_deref().unwrap_or("sha1"))
        {
            Ok(hex) => (Value::String(lua.create_string(hex)?), Value::Nil).into_lua_multi(lua),
            Err(error) => (Value::Nil, error.to_string()).into_lua_multi(lua),
        });
        // LuaSec's shape: { ["2.5.29.17"] = { name = ..., dNSName = { ... }, ... } }.
        methods.add_method("extensions", |lua, cert, ()| {
            let extensions = lua.create_table()?;
            if !cert.0.alt_names.is_empty() {
                let names = lua.create_table()?;
                names.set("name", "X509v3 Subject Alternative Name")?;
                for (kind, value) in &cert.0.alt_names {
                    let list = match names.get::<Option<Table>>(*kind)? {
                        Some(list) => list,
                        None => {
                            let list = lua.create_table()?;
                            names.set(*kind, list.clone())?;
                            list
                        }
                    };
                    list.push(value.as_str())?;
                }
                extensions.set("2.5.29.17", names)?;
            }
            Ok(extensions)
        });
        methods.add_meta_method("__tostring", |_, cert, ()| {
            Ok(format!("X509 certificate: {:p}", Rc::as_ptr(&cert.0)))
        });
        methods.add_meta_method("__eq", |_, cert, other: AnyUserData| {
            Ok(other
                .borrow::<SslCertificate>()
                .is_ok_and(|other| other.0.der == cert.0.der))
        });
    }
}

/// A string or a list of strings (LuaSec accepts both for `verify`, `options`, `alpn`, ...).
fn string_list(key: &str, value: Value) -> Result<Vec<String>, String> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::String(text) => Ok(vec![text.to_string_lossy()]),
        Value::Table(list) => list
            .sequence_values::<Value>()
            .map(|item| match item {
                Ok(Value::String(text)) => Ok(text.to_string_lossy()),
                _ => Err(format!("invalid value in '{key}' (strings expected)")),
            })
            .collect(),
        other => Err(format!(
            "invalid '{key}' ({} given, string or table expected)",
            other.type_name()
        )),
    }
}

fn optional_string(params: &Table, key: &str) -> Result<Option<String>, String> {
    match params.raw_get::<Value>(key).map_err(|e| e.to_string())? {
        Value::Nil => Ok(None),
        Value::String(text) => Ok(Some(text.to_string_lossy())),
        other => Err(format!(
            "invalid '{key}' ({} given, string expected)",
            other.type_name()
        )),
    }
}

/// LuaSec's parameter table as [`TlsParams`]. Keys LuaSec knows but rustls has no use for
/// (`depth`, `dhparam`, ...) are ignored, as LuaSec ignores unknown keys.
fn params_from_table(params: &Table) -> Result<TlsParams, String> {
    let mut out = TlsParams::default();
    if let Some(mode) = optional_string(params, "mode")? {
        out.mode = Mode::from_name(&mode).map_err(|e| e.to_string())?;
    }
    if let Some(protocol) = optional_string(params, "protocol")? {
        out.protocol = Protocol::from_name(&protocol).map_err(|e| e.to_string())?;
    }
    out.key = optional_string(params, "key")?.map(Into::into);
    out.certificate = optional_string(params, "certificate")?.map(Into::into);
    let get = |key: &str| params.raw_get::<Value>(key).map_err(|e| e.to_string());
    out.certificates = string_list("certificates", get("certificates")?)?
        .into_iter()
        .map(Into::into)
        .collect();
    out.password = match get("password")? {
        Value::Function(_) => {
            return Err("a 'password' callback is not supported (encrypted keys are not)".into())
        }
        _ => optional_string(params, "password")?,
    };
    out.cafile = optional_string(params, "cafile")?.map(Into::into);
    out.capath = optional_string(params, "capath")?.map(Into::into);
    let verify = string_list("verify", get("verify")?)?;
    if !verify.is_empty() {
        out.verify =
            Some(Verify::from_names(verify.iter().map(String::as_str)).map_err(|e| e.to_string())?);
    }
    out.options = string_list("options", get("options")?)?;
    out.ciphers = optional_string(params, "ciphers")?;
    out.ciphersuites = optional_string(params, "ciphersuites")?;
    out.curve = match optional_string(params, "curve")? {
        Some(curve) => Some(curve),
        None => optional_string(params, "curves_list")?,
    };
    out.alpn = match get("alpn")? {
        // A server's callback, kept by the Lua context (see `new_context`).
        Value::Function(_) => Vec::new(),
        other => string_list("alpn", other)?,
    };
    out.server_name = optional_string(params, "servername")?;
    Ok(out)
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
    let context = TlsContext::new(&params).map_err(|e| e.to_string())?;
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
    let socket = match args.get(1) {
        Some(Value::UserData(userdata)) => tcp::borrow(lua, userdata),
        _ => None,
    };
    let Some(mut socket) = socket else {
        return Err(argument(1, "tcp{client} expected"));
    };
    // The connection owns the descriptor from now on; the reactor must not keep the TCP
    // object's registration for it.
    socket.forget_registration();
    let Some(fd) = socket.socket.release_fd() else {
        return failed(lua, "closed");
    };
    drop(socket);
    // SAFETY: `release_fd` handed over the open descriptor: nothing else closes it now.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let connection = SslConnection::new(context.context, context.alpn, TcpStream::from(owned));
    values(vec![Value::UserData(kind.push(lua, connection)?)])
}

/// `ssl.loadcertificate(pem)`: a certificate, or `nil, message`.
fn loadcertificate(lua: &Lua, args: &Args) -> Outcome {
    let pem = args.check_string(lua, 1)?;
    match PeerCertificate::from_pem(&pem.as_bytes()) {
        Ok(cert) => values(vec![Value::UserData(
            lua.create_userdata(SslCertificate(Rc::new(cert)))?,
        )]),
        Err(error) => failed(lua, &error.to_string()),
    }
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
            let decrypted = match &mut connection.link {
                Link::Open(stream) => stream.has_plaintext(),
                _ => false,
            };
            values(vec![Value::Boolean(
                decrypted || !connection.buffer.is_empty(),
            )])
        }),
        ("dohandshake", dohandshake),
        ("getalpn", |connection, call| match &connection.link {
            Link::Open(stream) => match stream.alpn() {
                Some(protocol) => values(vec![Value::String(call.lua.create_string(protocol)?)]),
                None => values(vec![Value::Nil]),
            },
            _ => values(vec![Value::Nil]),
        }),
        ("getfd", |connection, _| {
            methods::descriptor(connection.fd())
        }),
        ("getpeercertificate", getpeercertificate),
        ("getpeerchain", getpeerchain),
        ("getpeerverification", |connection, call| {
            if connection.handshaken && connection.context.verifies_peer() {
                return values(vec![Value::Boolean(true)]);
            }
            let reasons = call.lua.create_table()?;
            reasons.push(if connection.handshaken {
                "certificate not verified (verify = \"none\")"
            } else {
                "handshake not completed"
            })?;
            values(vec![Value::Boolean(false), Value::Table(reasons)])
        }),
        ("getsniname", |connection, call| match &connection.link {
            Link::Open(stream) => match stream.sni() {
                Some(name) => values(vec![Value::String(call.lua.create_string(name)?)]),
                None => values(vec![Value::Nil]),
            },
            _ => values(vec![Value::Nil]),
        }),
        ("getstats", |connection, _| {
            methods::get_stats(&connection.stats)
        }),
        ("setstats", |connection, call| {
            methods::set_stats(&mut connection.stats, call.lua, call.args)
        }),
        ("gettimeout", |connection, _| {
            methods::get_timeout(&connection.timeout)
        }),
        ("info", info),
        ("receive", receive),
        ("send", send),
        ("settimeout", |connection, call| {
            methods::set_timeout(&mut connection.timeout, call.lua, call.args)
        }),
        ("sni", sni),
        ("want", |connection, call| {
            values(vec![Value::String(
                call.lua.create_string(connection.want)?,
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
    let deadline = connection.timeout.start();
    match connection.drive(&deadline, SslConnection::handshake_step) {
        Ok(()) => values(vec![Value::Boolean(true)]),
        Err(message) => values(vec![
            Value::Boolean(false),
            Value::String(call.lua.create_string(message)?),
        ]),
    }
}

fn certificates(connection: &SslConnection) -> Vec<PeerCertificate> {
    match &connection.link {
        Link::Open(stream) if connection.handshaken => {
            stream.peer_certificates().unwrap_or_default()
        }
        _ => Vec::new(),
    }
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
    let Link::Open(stream) = &connection.link else {
        return values(vec![Value::Nil]);
    };
    let Some(session) = stream.info().filter(|_| connection.handshaken) else {
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
    if connection.context.mode() == Mode::Server {
        return Err(argument(
            2,
            "SNI with several server contexts is not supported",
        ));
    }
    let name = call.args.check_string(call.lua, 2)?.to_string_lossy();
    match &mut connection.link {
        Link::Fresh { host, .. } => {
            *host = Some(name);
            Ok(MultiValue::new())
        }
        _ => Err(argument(1, "sni must be set before the handshake")),
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
    let deadline = connection.timeout.start();
    match connection.drive(&deadline, |c| c.receive_step(pattern)) {
        Ok(complete) => values(vec![Value::String(connection.take(complete, joined)?)]),
        Err(message) => {
            let partial = connection.take_partial(pattern, joined)?;
            values(vec![
                Value::Nil,
                Value::String(lua.create_string(message)?),
                Value::String(partial),
            ])
        }
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
    let deadline = connection.timeout.start();
    let mut sent = 0;
    let result = connection.drive(&deadline, |c| c.send_step(slice, &mut sent));
    let last = number(range.last_index(sent) as f64);
    match result {
        Ok(()) => values(vec![last]),
        Err(message) => values(vec![
            Value::Nil,
            Value::String(lua.create_string(message)?),
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

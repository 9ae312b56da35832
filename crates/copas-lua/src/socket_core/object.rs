//! What TCP and UDP objects share: their classes (metatables), how methods are
//! exposed to Lua, and the conversions of results and options.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use luasocket_core::options::{self, OptionKind, TCP_OPTIONS, UDP_OPTIONS};
use luasocket_core::{Error, OptionValue, TimeoutMode};
use mlua::{AnyUserData, Function, LightUserData, Lua, MultiValue, Table, Value};

use super::args::{Args, Failure, Outcome};
use super::registry::{bury, drain, key_of, new_object, registry, set_class, Socket};
use crate::copas_core::SharedDispatcher;

/// A method of a socket object, as implemented in Rust.
pub(crate) type Method = fn(&Lua, &Classes, &Args) -> Outcome<MultiValue>;

/// LuaSocket's classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    TcpMaster,
    TcpClient,
    TcpServer,
    UdpUnconnected,
    UdpConnected,
}

impl Kind {
    fn index(self) -> usize {
        self as usize
    }
}

/// The metatables of every class, shared by all objects of a Lua state.
#[derive(Debug)]
pub(crate) struct Classes {
    metatables: Vec<Table>,
}

/// The value Rust methods return first to ask the Lua side to raise the message that
/// follows: errors raised from Rust callbacks would reach scripts as mlua userdata, and
/// LuaSocket's argument errors are plain strings.
static RAISE_MARKER: u8 = 0;

fn raise_marker() -> LightUserData {
    LightUserData(std::ptr::addr_of!(RAISE_MARKER) as *mut std::ffi::c_void)
}

/// Turns a method's outcome into what its Lua function returns.
pub(crate) fn deliver(lua: &Lua, outcome: Outcome<MultiValue>) -> mlua::Result<MultiValue> {
    match outcome {
        Ok(values) => Ok(values),
        Err(Failure::Raise(message)) => Ok(MultiValue::from_vec(vec![
            Value::LightUserData(raise_marker()),
            Value::String(lua.create_string(&message)?),
        ])),
        Err(Failure::Lua(err)) => Err(err),
    }
}

/// The key of argument 1 if it is a userdata (whether it is one of ours is for the
/// registry to say).
pub(crate) fn object_arg(args: &Args) -> Option<usize> {
    match args.get(1) {
        Value::UserData(object) => Some(key_of(object)),
        _ => None,
    }
}

/// `nil, message`.
pub(crate) fn error_results(lua: &Lua, err: &Error) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(err.to_string())?),
    ]))
}

/// `address, port, family` or `nil, message`.
pub(crate) fn address_results(
    lua: &Lua,
    address: luasocket_core::Result<SocketAddr>,
) -> mlua::Result<MultiValue> {
    match address {
        Ok(address) => Ok(MultiValue::from_vec(vec![
            Value::String(lua.create_string(address.ip().to_string())?),
            Value::Integer(address.port().into()),
            Value::String(lua.create_string(if address.is_ipv4() { "inet" } else { "inet6" })?),
        ])),
        Err(err) => error_results(lua, &err),
    }
}

/// Parses `settimeout(value, mode)`.
pub(crate) fn settimeout(args: &Args) -> Outcome<(Option<f64>, TimeoutMode)> {
    let value = args.opt_number(2)?;
    let mode = match args
        .opt_bytes(3)?
        .as_deref()
        .and_then(|m| m.first().copied())
    {
        None | Some(b'b') | Some(b'r') => TimeoutMode::Block,
        Some(b't') => TimeoutMode::Total,
        Some(_) => return Err(args.error(3, "invalid timeout mode")),
    };
    Ok((value.filter(|v| *v >= 0.0), mode))
}

/// Which option list a socket uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OptionTable {
    Tcp,
    Udp,
}

impl OptionTable {
    fn list(self) -> &'static [options::SocketOption] {
        match self {
            OptionTable::Tcp => TCP_OPTIONS,
            OptionTable::Udp => UDP_OPTIONS,
        }
    }
}

/// Results of `getoption`.
pub(crate) fn get_option(
    lua: &Lua,
    args: &Args,
    table: OptionTable,
    name: &str,
    value: luasocket_core::Result<Option<OptionValue>>,
) -> Outcome<MultiValue> {
    if options::find(table.list(), name, false).is_none() {
        return Err(args.error(2, format!("unsupported option `{name}'")));
    }
    let value = match value {
        Ok(Some(value)) => value,
        Ok(None) => return Err(args.error(2, format!("unsupported option `{name}'"))),
        Err(err) => return Ok(error_results(lua, &err)?),
    };
    let lua_value = match value {
        OptionValue::Bool(on) => Value::Boolean(on),
        OptionValue::Int(n) => Value::Integer(n.into()),
        OptionValue::Linger { on, timeout } => {
            let t = lua.create_table()?;
            t.set("on", on)?;
            t.set("timeout", timeout)?;
            Value::Table(t)
        }
        OptionValue::Address(ip) => Value::String(lua.create_string(ip.to_string())?),
        OptionValue::Error(None) => Value::Nil,
        OptionValue::Error(Some(message)) => Value::String(lua.create_string(message)?),
        OptionValue::Membership4 { .. } | OptionValue::Membership6 { .. } => Value::Nil,
    };
    Ok(MultiValue::from_vec(vec![lua_value]))
}

/// Parses the value of `setoption(name, value)` and applies it with `apply`.
pub(crate) fn set_option(
    lua: &Lua,
    args: &Args,
    table: OptionTable,
    name: &str,
    apply: impl FnOnce(&OptionValue) -> Outcome<luasocket_core::Result<bool>>,
) -> Outcome<MultiValue> {
    let Some(option) = options::find(table.list(), name, true) else {
        return Err(args.error(2, format!("unsupported option `{name}'")));
    };
    let value = option_value(args, option.kind)?;
    match apply(&value)? {
        Ok(_) => Ok(MultiValue::from_vec(vec![Value::Integer(1)])),
        Err(err) => Ok(error_results(lua, &err)?),
    }
}

fn field(table: &Table, name: &str) -> Value {
    table.raw_get(name).unwrap_or(Value::Nil)
}

fn option_value(args: &Args, kind: OptionKind) -> Outcome<OptionValue> {
    let value = args.get(3);
    match kind {
        OptionKind::Bool => match value {
            Value::Boolean(on) => Ok(OptionValue::Bool(*on)),
            _ => Err(args.error(3, "boolean 'on' expected")),
        },
        OptionKind::Int => Ok(OptionValue::Int(
            args.number(3)?.clamp(i32::MIN as f64, i32::MAX as f64) as i32,
        )),
        OptionKind::Linger => {
            let Value::Table(t) = value else {
                return Err(args.type_error(3, "table"));
            };
            let Value::Boolean(on) = field(t, "on") else {
                return Err(args.error(3, "boolean 'on' field expected"));
            };
            let timeout = match field(t, "timeout") {
                Value::Integer(n) => n as i32,
                Value::Number(x) => x as i32,
                _ => return Err(args.error(3, "number 'timeout' field expected")),
            };
            Ok(OptionValue::Linger { on, timeout })
        }
        OptionKind::Membership4 => {
            let Value::Table(t) = value else {
                return Err(args.type_error(3, "table"));
            };
            let address = |name: &str| -> Outcome<Ipv4Addr> {
                let Value::String(text) = field(t, name) else {
                    return Err(args.error(3, format!("string '{name}' field expected")));
                };
                let text = text.to_str().map(|s| s.to_owned()).unwrap_or_default();
                text.parse()
                    .map_err(|_| args.error(3, format!("invalid '{name}' ip address")))
            };
            Ok(OptionValue::Membership4 {
                multiaddr: address("multiaddr")?,
                interface: address("interface")?,
            })
        }
        OptionKind::Membership6 => {
            let Value::Table(t) = value else {
                return Err(args.type_error(3, "table"));
            };
            let Value::String(text) = field(t, "multiaddr") else {
                return Err(args.error(3, "string 'multiaddr' field expected"));
            };
            let multiaddr: Ipv6Addr = text
                .to_str()
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| args.error(3, "invalid 'multiaddr' ip address"))?;
            let interface = match field(t, "interface") {
                Value::Integer(n) => n as u32,
                Value::Number(x) => x as u32,
                Value::Nil => 0,
                _ => return Err(args.error(3, "number 'interface' field expected")),
            };
            Ok(OptionValue::Membership6 {
                multiaddr,
                interface,
            })
        }
        OptionKind::Address => {
            let text = args.text(3)?;
            text.parse()
                .map(OptionValue::Address)
                .map_err(|_| args.error(3, "ip expected"))
        }
        OptionKind::Error => Err(args.error(2, "unsupported option `error'")),
    }
}

/// Makes the Lua function that wraps a Rust function so that a returned marker
/// becomes a raised string error.
const RAISING: &str = r#"
local RAISE = ...
local error = error
local function check(first, ...)
  if first == RAISE then error((...), 0) end
  return first, ...
end
return function(f)
  return function(...) return check(f(...)) end
end
"#;

/// The wrapper maker of [`RAISING`], built once per state.
struct RaisingMaker(Function);

/// Wraps `f` (which returns the raise marker and a message for argument errors) into a
/// function that raises those errors as plain strings.
pub(crate) fn raising(lua: &Lua, f: Function) -> mlua::Result<Function> {
    let maker = match lua.app_data_ref::<RaisingMaker>() {
        Some(maker) => maker.0.clone(),
        None => {
            let maker: Function = lua
                .load(RAISING)
                .set_name("=socket.core")
                .call(Value::LightUserData(raise_marker()))?;
            lua.set_app_data(RaisingMaker(maker.clone()));
            maker
        }
    };
    maker.call(f)
}

const CLASS_SHIMS: &str = r#"
local raw, raising = ...
local classes = {}
for protocol, methods in pairs(raw.methods) do
  local index = {}
  for name, f in pairs(methods) do
    index[name] = raising(f)
  end
  for _, class in ipairs(raw.classes[protocol]) do
    classes[class] = {
      __index = index,
      __tostring = raw.tostring,
      __gc = raw.gc,
      __name = class,
    }
  end
end
return classes
"#;

const CLASS_NAMES: [(&str, Kind); 5] = [
    ("tcp{master}", Kind::TcpMaster),
    ("tcp{client}", Kind::TcpClient),
    ("tcp{server}", Kind::TcpServer),
    ("udp{unconnected}", Kind::UdpUnconnected),
    ("udp{connected}", Kind::UdpConnected),
];

impl Classes {
    /// Builds the classes, their methods and metatables.
    pub(crate) fn build(lua: &Lua) -> mlua::Result<std::rc::Rc<Classes>> {
        let methods = lua.create_table()?;
        for (protocol, list) in [
            ("tcp", super::tcp::methods()),
            ("udp", super::udp::methods()),
        ] {
            let table = lua.create_table()?;
            for (name, method) in list {
                table.set(name, method_function(lua, name, method)?)?;
            }
            methods.set(protocol, table)?;
        }
        let raw = lua.create_table()?;
        raw.set("methods", methods)?;
        let class_lists = lua.create_table()?;
        class_lists.set("tcp", vec!["tcp{master}", "tcp{client}", "tcp{server}"])?;
        class_lists.set("udp", vec!["udp{unconnected}", "udp{connected}"])?;
        raw.set("classes", class_lists)?;
        raw.set(
            "tostring",
            lua.create_function(|lua, object: Value| {
                let Value::UserData(object) = object else {
                    return Ok("socket".to_owned());
                };
                let shared = registry(lua);
                let class = shared.registry.borrow().class_name(key_of(&object));
                Ok(format!("{class}: {:p}", object.to_pointer()))
            })?,
        )?;
        raw.set(
            "gc",
            lua.create_function(|lua, object: Value| {
                if let Value::UserData(object) = object {
                    bury(lua, key_of(&object));
                }
                Ok(())
            })?,
        )?;
        let make_raising = lua.create_function(|lua, f: Function| raising(lua, f))?;
        let shims: Table = lua
            .load(CLASS_SHIMS)
            .set_name("=socket.core")
            .call((raw, make_raising))?;
        let mut metatables = Vec::new();
        for (name, _) in CLASS_NAMES {
            metatables.push(shims.get::<Table>(name)?);
        }
        Ok(std::rc::Rc::new(Classes { metatables }))
    }

    /// Creates the Lua object for a new socket.
    pub(crate) fn wrap(&self, lua: &Lua, socket: Socket) -> mlua::Result<AnyUserData> {
        let kind = match &socket {
            Socket::Tcp(s) => super::tcp::kind_of(s.state()),
            Socket::Udp(s) => super::udp::kind_of(s.state()),
        };
        let object = new_object(lua, &self.metatables[kind.index()])?;
        drain(lua);
        registry(lua)
            .registry
            .borrow_mut()
            .insert(key_of(&object), socket);
        Ok(object)
    }

    /// Gives an object the metatable of another class.
    pub(crate) fn set_class(
        &self,
        lua: &Lua,
        object: &AnyUserData,
        kind: Kind,
    ) -> mlua::Result<()> {
        set_class(lua, object, &self.metatables[kind.index()])
    }

    /// Closes the socket of an object (it stays an object of its class).
    pub(crate) fn close(&self, lua: &Lua, key: usize) {
        close_entry(lua, key);
    }
}

/// Takes a descriptor out of the Copas reactor (before it is closed or replaced).
pub(crate) fn forget_source(lua: &Lua, key: usize) {
    let shared = registry(lua);
    let source = shared
        .registry
        .borrow_mut()
        .get_mut(key)
        .and_then(|entry| entry.source.take());
    if let Some(source) = source {
        if let Some(dispatcher) = lua.app_data_ref::<SharedDispatcher>() {
            dispatcher.borrow_mut().scheduler.deregister(source);
        }
    }
}

/// The one way a descriptor is closed by a script: first out of the Copas reactor,
/// then closed (the object stays, of its class).
fn close_entry(lua: &Lua, key: usize) {
    forget_source(lua, key);
    let shared = registry(lua);
    let mut registry = shared.registry.borrow_mut();
    if let Some(entry) = registry.get_mut(key) {
        match &mut entry.socket {
            Socket::Tcp(s) => s.close(),
            Socket::Udp(s) => s.close(),
        }
    }
}

fn method_function(lua: &Lua, name: &'static str, method: Method) -> mlua::Result<Function> {
    lua.create_function(move |lua, values: MultiValue| {
        drain(lua);
        let classes = classes(lua)?;
        deliver(lua, method(lua, &classes, &Args::new(values, name)))
    })
}

/// The classes of this Lua state.
pub(crate) fn classes(lua: &Lua) -> mlua::Result<std::rc::Rc<Classes>> {
    if let Some(existing) = lua.app_data_ref::<std::rc::Rc<Classes>>() {
        return Ok(existing.clone());
    }
    let built = Classes::build(lua)?;
    lua.set_app_data(built.clone());
    Ok(built)
}

/// A constructor (`socket.tcp()` and friends) as a Lua function.
pub(crate) fn constructor(
    lua: &Lua,
    make: impl Fn(&Lua, &Classes) -> Outcome<MultiValue> + 'static,
) -> mlua::Result<Function> {
    let f = lua.create_function(move |lua, ()| {
        let classes = classes(lua)?;
        deliver(lua, make(lua, &classes))
    })?;
    raising(lua, f)
}

impl super::registry::Registry {
    /// The class name of the object `key` (for `tostring`).
    pub(crate) fn class_name(&self, key: usize) -> &'static str {
        match self.get(key).map(|entry| &entry.socket) {
            Some(Socket::Tcp(s)) => s.state().class(),
            Some(Socket::Udp(s)) => s.state().class(),
            None => "socket",
        }
    }
}

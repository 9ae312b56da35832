//! `socket.http.core`: the binding between the Lua HTTP client (`socket.http`,
//! `copas.http`, both made by `socket.http.client`) and the sans-I/O engine in
//! `copas_clients::http`.
//!
//! Lua owns the socket and does every read and write, so the same code blocks under
//! `socket.http` and yields under `copas.http`; Rust does the byte-level work: URLs,
//! the request head, chunk framing and response parsing. This module is internal: its
//! callers are our own Lua files, which check the user's arguments first. Failures
//! the user must see come back as `nil, message`.
//!
//! ```lua
//! local core = require("socket.http.core")
//! local p = core.parser("GET")
//! local body = p:feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
//! assert(body == "hi" and p:want() == "done")
//! ```

use std::borrow::Cow;
use std::time::Duration;

use copas_clients::http::{self, ResponseParser, Target, Want};
use luasocket_core::RawSocket;
use mlua::{Lua, LuaString, MultiValue, Result, Table, UserData, UserDataMethods, Value};

/// `nil, message` for a Lua caller.
fn fail(lua: &Lua, message: impl ToString) -> Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(message.to_string())?),
    ]))
}

fn values(items: Vec<Value>) -> MultiValue {
    MultiValue::from_vec(items)
}

/// Builds the `socket.http.core` table.
pub(crate) fn open(lua: &Lua) -> Result<Table> {
    let core = lua.create_table()?;
    core.set(
        "parse_url",
        lua.create_function(|lua, text: LuaString| {
            let text = text.to_str()?.to_string();
            match Target::parse(&text) {
                Ok(target) => {
                    let t = lua.create_table()?;
                    t.set("url", target.url)?;
                    t.set("scheme", target.scheme)?;
                    t.set("host", target.host)?;
                    t.set("port", target.port)?;
                    t.set("authority", target.authority)?;
                    t.set("target", target.request_target)?;
                    t.set("user", target.user)?;
                    t.set("password", target.password)?;
                    Ok(values(vec![Value::Table(t)]))
                }
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    core.set(
        "absolute",
        lua.create_function(|lua, (base, location): (LuaString, LuaString)| {
            match http::resolve_redirect(&base.to_str()?, &location.to_str()?) {
                Ok(url) => Ok(values(vec![Value::String(lua.create_string(url)?)])),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    core.set(
        "head",
        lua.create_function(
            |lua, (method, target, names, values_t): (LuaString, LuaString, Table, Table)| {
                let mut headers = Vec::new();
                for i in 1..=names.raw_len() {
                    let name: LuaString = names.raw_get(i)?;
                    let value: LuaString = values_t.raw_get(i)?;
                    headers.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
                }
                match http::encode_head(&method.to_str()?, &target.to_str()?, &headers) {
                    Ok(bytes) => Ok(values(vec![Value::String(lua.create_string(bytes)?)])),
                    Err(e) => fail(lua, e),
                }
            },
        )?,
    )?;
    core.set(
        "chunk",
        lua.create_function(|lua, data: LuaString| {
            lua.create_string(http::encode_chunk(&data.as_bytes()))
        })?,
    )?;
    core.set("LAST_CHUNK", lua.create_string(http::LAST_CHUNK)?)?;
    // quiet(fd): whether nothing waits to be read on the descriptor of an idle pooled
    // connection (no data, no end of file, no error), so it may carry a request.
    core.set(
        "quiet",
        lua.create_function(|_, fd: i64| {
            let Ok(fd) = RawSocket::try_from(fd) else {
                return Ok(false);
            };
            Ok(matches!(
                luasocket_core::select(&[fd], &[], Some(Duration::ZERO)),
                Err(luasocket_core::Error::Timeout)
            ))
        })?,
    )?;
    core.set(
        "parser",
        lua.create_function(|_, method: LuaString| {
            Ok(Parser(ResponseParser::new(&method.to_str()?)))
        })?,
    )?;
    Ok(core)
}

/// A response parser as Lua userdata.
#[derive(Debug)]
struct Parser(ResponseParser);

/// Header fields as LuaSocket gives them: names lowercased, repeated fields joined
/// with ", ".
///
/// Built on the raw stack: through mlua's `Table` each field cost two protected
/// calls and registry references, which made this table the largest cost of a small
/// HTTP request (~40k instructions of ~260k).
fn header_table(lua: &Lua, fields: &[(String, Vec<u8>)]) -> Result<Table> {
    let mut merged: Vec<(&str, Cow<'_, [u8]>)> = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        match merged.iter_mut().find(|(seen, _)| *seen == name.as_str()) {
            Some((_, joined)) => {
                let joined = joined.to_mut();
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(value);
            }
            None => merged.push((name.as_str(), Cow::Borrowed(value))),
        }
    }
    crate::lua_api::table::string_map(lua, &merged)
}

impl UserData for Parser {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // "line", a byte count, "close" or "done".
        methods.add_method("want", |lua, this, ()| {
            Ok(match this.0.want() {
                Want::Line => Value::String(lua.create_string("line")?),
                Want::Bytes(n) => Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
                Want::UntilClose => Value::String(lua.create_string("close")?),
                Want::Done => Value::String(lua.create_string("done")?),
            })
        });
        // body bytes found in `data`, and how many bytes of `data` were left unused.
        methods.add_method_mut("feed", |lua, this, data: LuaString| {
            let data = data.as_bytes();
            let mut body = Vec::new();
            match this.0.feed(&data, &mut body) {
                Ok(used) => Ok(values(vec![
                    Value::String(lua.create_string(body)?),
                    Value::Integer((data.len() - used) as i64),
                ])),
                Err(e) => fail(lua, e),
            }
        });
        methods.add_method_mut("finish", |lua, this, ()| match this.0.finish() {
            Ok(()) => Ok(values(vec![Value::Boolean(true)])),
            Err(e) => fail(lua, e),
        });
        // code, status line, headers; nothing before the head is complete.
        methods.add_method("head", |lua, this, ()| {
            let Some(head) = this.0.head() else {
                return Ok(values(Vec::new()));
            };
            Ok(values(vec![
                Value::Integer(i64::from(head.code)),
                Value::String(lua.create_string(&head.status)?),
                Value::Table(header_table(lua, &head.headers)?),
            ]))
        });
        // The trailer fields, nil when there are none (most responses).
        methods.add_method("trailers", |lua, this, ()| {
            let trailers = this.0.trailers();
            if trailers.is_empty() {
                return Ok(None);
            }
            header_table(lua, trailers).map(Some)
        });
        methods.add_method("keepalive", |_, this, ()| Ok(this.0.keep_alive()));
    }
}

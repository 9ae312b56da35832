//! `socket.tp.core`: the protocol helpers of `socket.tp`, `socket.ftp` and
//! `socket.smtp` (and their `copas.*` twins), on `copas_clients`.
//!
//! An internal module: its callers are our Lua files, which check the arguments of
//! the public functions first. Protocol failures come back as `nil, message`, the
//! LuaSocket way; a wrong argument type here is a bug in those files and raises.
//!
//! ```lua
//! local core = require("socket.tp.core")
//! local parser = core.reply()
//! parser:push("220-hi")             --> false (more lines needed)
//! parser:push("220 ready")          --> 220, "220-hi\n220 ready"
//! core.command("retr", "a\r\nx")    --> nil, "invalid character in command argument"
//! ```

use std::net::{IpAddr, Ipv4Addr};

use copas_clients::reply::{command_line, ReplyParser};
use copas_clients::{ftp, smtp};
use mlua::{
    IntoLuaMulti, Lua, LuaString, MultiValue, Result, Table, UserData, UserDataMethods, Value,
};

/// `nil, message` for a protocol error.
fn failure(lua: &Lua, err: impl std::fmt::Display) -> Result<MultiValue> {
    (Value::Nil, err.to_string()).into_lua_multi(lua)
}

struct Reply(ReplyParser);

impl UserData for Reply {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // false while the reply goes on; code, text when it is complete.
        methods.add_method_mut("push", |lua, this, line: LuaString| {
            match this.0.push_line(&line.as_bytes()) {
                Ok(None) => false.into_lua_multi(lua),
                Ok(Some(reply)) => {
                    (i64::from(reply.code), lua.create_string(&reply.text)?).into_lua_multi(lua)
                }
                Err(err) => failure(lua, err),
            }
        });
    }
}

struct Stuffer(smtp::DotStuffer);

impl UserData for Stuffer {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("push", |lua, this, chunk: LuaString| {
            lua.create_string(this.0.push(&chunk.as_bytes()))
        });
        methods.add_method("terminator", |lua, this, ()| {
            lua.create_string(this.0.terminator())
        });
    }
}

fn ipv4(text: &str) -> Option<Ipv4Addr> {
    text.parse().ok()
}

fn port_number(port: i64) -> Option<u16> {
    u16::try_from(port).ok()
}

/// Builds the `socket.tp.core` table.
pub(crate) fn open(lua: &Lua) -> Result<Table> {
    let core = lua.create_table()?;
    core.set(
        "reply",
        lua.create_function(|_, ()| Ok(Reply(ReplyParser::new())))?,
    )?;
    core.set(
        "command",
        lua.create_function(|lua, (verb, argument): (LuaString, Option<LuaString>)| {
            let argument = argument.map(|a| a.as_bytes().to_vec());
            match command_line(&verb.as_bytes(), argument.as_deref()) {
                Ok(line) => lua.create_string(line)?.into_lua_multi(lua),
                Err(err) => failure(lua, err),
            }
        })?,
    )?;
    core.set(
        "pasv",
        lua.create_function(
            |lua, reply: LuaString| match ftp::parse_pasv(&reply.as_bytes()) {
                Ok((ip, port)) => (ip.to_string(), i64::from(port)).into_lua_multi(lua),
                Err(err) => failure(lua, err),
            },
        )?,
    )?;
    core.set(
        "epsv",
        lua.create_function(
            |lua, reply: LuaString| match ftp::parse_epsv(&reply.as_bytes()) {
                Ok(port) => i64::from(port).into_lua_multi(lua),
                Err(err) => failure(lua, err),
            },
        )?,
    )?;
    core.set(
        "port",
        lua.create_function(|lua, (ip, port): (String, i64)| {
            match (ipv4(&ip), port_number(port)) {
                (Some(ip), Some(port)) => ftp::port_argument(ip, port).into_lua_multi(lua),
                _ => failure(lua, format!("invalid address for PORT: {ip} {port}")),
            }
        })?,
    )?;
    core.set(
        "eprt",
        lua.create_function(|lua, (ip, port): (String, i64)| {
            match (ip.parse::<IpAddr>(), port_number(port)) {
                (Ok(ip), Some(port)) => ftp::eprt_argument(ip, port).into_lua_multi(lua),
                _ => failure(lua, format!("invalid address for EPRT: {ip} {port}")),
            }
        })?,
    )?;
    core.set(
        "stuffer",
        lua.create_function(|_, ()| Ok(Stuffer(smtp::DotStuffer::new())))?,
    )?;
    // An array of {name, value} pairs, in order.
    core.set(
        "headers",
        lua.create_function(|lua, fields: Table| {
            let mut pairs = Vec::new();
            for field in fields.sequence_values::<Table>() {
                let field = field?;
                let name: LuaString = field.get(1)?;
                let value: LuaString = field.get(2)?;
                pairs.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
            }
            match smtp::header_block(&pairs) {
                Ok(block) => lua.create_string(block)?.into_lua_multi(lua),
                Err(err) => failure(lua, err),
            }
        })?,
    )?;
    core.set(
        "boundary",
        lua.create_function(|_, ()| Ok(smtp::boundary()))?,
    )?;
    Ok(core)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The results of `code` as strings (other values through Debug).
    fn eval(code: &str) -> Vec<String> {
        let lua = Lua::new();
        lua.globals().set("core", open(&lua).unwrap()).unwrap();
        let values = lua.load(code).eval::<MultiValue>().unwrap();
        values
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s.to_str().unwrap().to_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn reply_parser_from_lua() {
        let got = eval(
            r#"local p = core.reply()
               local a = p:push("250-x")
               local code, text = p:push("250 y")
               local n, err = p:push("bad")
               return tostring(a), tostring(code), text, tostring(n), err"#,
        );
        assert_eq!(
            got,
            [
                "false",
                "250",
                "250-x\n250 y",
                "nil",
                "invalid server reply"
            ]
        );
    }

    #[test]
    fn helpers_from_lua() {
        let got = eval(
            r#"local ip, port = core.pasv("227 (127,0,0,1,1,2)")
               local s = core.stuffer()
               return core.command("user", "ftp"), select(2, core.command("user", "a\nb")),
                 ip, tostring(port), tostring(core.epsv("229 (|||21|)")),
                 core.port("10.0.0.1", 258), core.eprt("::1", 21),
                 s:push(".x\r\n."), s:terminator(),
                 core.headers({ { "A", "1" }, { "B", "2" } }),
                 select(2, core.headers({ { "A", "1\nBcc: x" } }))"#,
        );
        assert_eq!(
            got,
            [
                "USER ftp\r\n",
                "invalid character in command argument",
                "127.0.0.1",
                "258",
                "21",
                "10,0,0,1,1,2",
                "|2|::1|21|",
                "..x\r\n..",
                "\r\n.\r\n",
                "A: 1\r\nB: 2\r\n\r\n",
                "invalid header value for 'A'",
            ]
        );
    }
}

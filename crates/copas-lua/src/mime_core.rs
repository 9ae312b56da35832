//! `mime.core`: LuaSocket's encoding atoms (`b64`, `unb64`, `qp`, `unqp`, `wrp`,
//! `qpwrp`, `eol`, `dot`) on `luasocket_core::mime`, with the C module's argument
//! rules and return values.
//!
//! Argument errors must reach scripts as plain strings (`bad argument #1 to 'b64'
//! (string expected, got table)`), but an error returned from an mlua callback
//! arrives as userdata. So each Rust function reports success or the message as its
//! first result, and a two-line Lua wrapper returns the results or raises the message.

use luasocket_core::mime;
use mlua::{Function, Lua, MultiValue, Result, Table, Value};

/// Why an atom gave no results.
#[derive(Debug)]
enum Failure {
    /// A bad argument, with the full `bad argument ...` message to raise.
    BadArgument(String),
    /// Lua itself failed (out of memory).
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(err: mlua::Error) -> Self {
        Failure::Lua(err)
    }
}

type Checked<T> = std::result::Result<T, Failure>;

/// Wraps a Rust atom, turning `false, message` into a raised plain-string error at
/// the caller's level, as `luaL_argerror` does.
const RAISING_WRAPPER: &str = r#"
local raw, error = ...
return function(...)
  local ok, a, b = raw(...)
  if not ok then error(a, 0) end
  return a, b
end
"#;

/// One `mime.core` function: its name and its body.
type Atom = fn(&Lua, &Args) -> Checked<(Value, Value)>;

const ATOMS: &[(&str, Atom)] = &[
    ("b64", b64),
    ("unb64", unb64),
    ("qp", qp),
    ("unqp", unqp),
    ("wrp", wrp),
    ("qpwrp", qpwrp),
    ("eol", eol),
    ("dot", dot),
];

/// Builds the `mime.core` table.
pub(crate) fn open(lua: &Lua) -> Result<Table> {
    let core = lua.create_table()?;
    core.set("_VERSION", "MIME 1.0.3")?;
    let wrapper = lua
        .load(RAISING_WRAPPER)
        .set_name("=mime.core")
        .into_function()?;
    let error: Function = lua.globals().get("error")?;
    for &(name, atom) in ATOMS {
        let raw = lua.create_function(move |lua, values: MultiValue| {
            let args = Args {
                values: values.into_vec(),
                name,
            };
            let results = match atom(lua, &args) {
                Ok((a, b)) => vec![Value::Boolean(true), a, b],
                Err(Failure::BadArgument(message)) => vec![
                    Value::Boolean(false),
                    Value::String(lua.create_string(message)?),
                ],
                Err(Failure::Lua(err)) => return Err(err),
            };
            Ok(MultiValue::from_vec(results))
        })?;
        let wrapped: Function = wrapper.call((raw, error.clone()))?;
        core.set(name, wrapped)?;
    }
    Ok(core)
}

/// The arguments of one call, checked the way the Lua auxiliary library checks them.
struct Args {
    values: Vec<Value>,
    name: &'static str,
}

impl Args {
    fn get(&self, n: usize) -> Option<&Value> {
        self.values.get(n - 1)
    }

    fn error(&self, n: usize, message: &str) -> Failure {
        Failure::BadArgument(format!("bad argument #{n} to '{}' ({message})", self.name))
    }

    fn type_error(&self, n: usize, expected: &str) -> Failure {
        let got = match self.get(n) {
            None => "no value",
            Some(value) => lua_type_name(value),
        };
        self.error(n, &format!("{expected} expected, got {got}"))
    }

    /// `luaL_optlstring`: a string, or a number turned into one as Lua does; `None`
    /// for nil or no value.
    fn opt_bytes(&self, lua: &Lua, n: usize) -> Checked<Option<Vec<u8>>> {
        match self.get(n) {
            None | Some(Value::Nil) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_bytes().to_vec())),
            Some(number @ (Value::Integer(_) | Value::Number(_))) => {
                match lua.coerce_string(number.clone()) {
                    Ok(Some(s)) => Ok(Some(s.as_bytes().to_vec())),
                    _ => Err(self.type_error(n, "string")),
                }
            }
            Some(_) => Err(self.type_error(n, "string")),
        }
    }

    /// `luaL_checknumber`: a number, or a string that converts to one.
    fn number(&self, lua: &Lua, n: usize) -> Checked<f64> {
        match self.get(n) {
            Some(Value::Integer(i)) => Ok(*i as f64),
            Some(Value::Number(x)) => Ok(*x),
            Some(text @ Value::String(_)) => match lua.coerce_number(text.clone()) {
                Ok(Some(x)) => Ok(x),
                _ => Err(self.type_error(n, "number")),
            },
            _ => Err(self.type_error(n, "number")),
        }
    }

    /// `luaL_optnumber`.
    fn opt_number(&self, lua: &Lua, n: usize, default: f64) -> Checked<f64> {
        match self.get(n) {
            None | Some(Value::Nil) => Ok(default),
            Some(_) => self.number(lua, n),
        }
    }

    /// A number converted with C's `(int)` cast, as mime.c does for line lengths.
    fn truncated(&self, lua: &Lua, n: usize) -> Checked<i64> {
        Ok(self.number(lua, n)? as i64)
    }

    /// `luaL_checkinteger` as Lua 5.3+ has it: a number with an integer value.
    fn integer(&self, lua: &Lua, n: usize) -> Checked<i64> {
        let x = self.number(lua, n)?;
        if x.fract() != 0.0 || !x.is_finite() {
            return Err(self.error(n, "number has no integer representation"));
        }
        Ok(x as i64)
    }
}

/// Lua's name for the type of a value, as `luaL_typename` gives it.
fn lua_type_name(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        // The one type mlua has no variant for is LuaJIT's FFI data.
        Value::Other(_) => "cdata",
        _ => "userdata",
    }
}

fn string(lua: &Lua, bytes: &[u8]) -> Checked<Value> {
    Ok(Value::String(lua.create_string(bytes)?))
}

fn optional_string(lua: &Lua, bytes: Option<Vec<u8>>) -> Checked<Value> {
    match bytes {
        Some(bytes) => string(lua, &bytes),
        None => Ok(Value::Nil),
    }
}

/// The results of the encoders: without a second part the stream has ended, and an
/// empty output is `nil`, which ends the filter `mime.lua` cycles the atom in.
fn encoded(lua: &Lua, (out, rest): (Vec<u8>, Option<Vec<u8>>)) -> Checked<(Value, Value)> {
    match rest {
        None if out.is_empty() => Ok((Value::Nil, Value::Nil)),
        None => Ok((string(lua, &out)?, Value::Nil)),
        Some(rest) => Ok((string(lua, &out)?, string(lua, &rest)?)),
    }
}

/// `A, B = b64(C [, D])`.
fn b64(lua: &Lua, args: &Args) -> Checked<(Value, Value)> {
    let Some(input) = args.opt_bytes(lua, 1)? else {
        return Ok((Value::Nil, Value::Nil));
    };
    let more = args.opt_bytes(lua, 2)?;
    encoded(lua, mime::b64(&input, more.as_deref()))
}

/// `A, B = unb64(C [, D])`.
fn unb64(lua: &Lua, args: &Args) -> Checked<(Value, Value)> {
    let Some(input) = args.opt_bytes(lua, 1)? else {
        return Ok((Value::Nil, Value::Nil));
    };
    let more = args.opt_bytes(lua, 2)?;
    encoded(lua, mime::unb64(&input, more.as_deref()))
}

/// `A, B = qp(C [, D, marker])`; the marker is checked before the input is looked at.
fn qp(lua: &Lua, args: &Args) -> Checked<(Value, Value)> {
    let input = args.opt_bytes(lua, 1)?;
    let marker = args.opt_bytes(lua, 3)?;
    let Some(input) = input else {
        return Ok((Value::Nil, Value::Nil));
    };
    let more = args.opt_bytes(lua, 2)?;
    let marker = marker.as_deref().unwrap_or(mime::CRLF);
    encoded(lua, mime::qp(&input, more.as_deref(), marker))
}

/// `A, B = unqp(C [, D])`.
fn unqp(lua: &Lua, args: &Args) -> Checked<(Value, Value)> {
    let Some(input) = args.opt_bytes(lua, 1)? else {
        return Ok((Value::Nil, Value::Nil));
    };
    let more = args.opt_bytes(lua, 2)?;
    encoded(lua, mime::unqp(&input, more.as_deref()))
}

/// `luasocket_core::mime::wrp` or `qpwrp`: room left, input, line length.
type LineWrap = fn(i64, Option<&[u8]>, i64) -> (Option<Vec<u8>>, i64);

/// The arguments `n [, B, length]` of the wrappers. The room left comes back as a
/// float, as `lua_pushnumber` gives it.
fn wrap_with(lua: &Lua, args: &Args, wrap: LineWrap) -> Checked<(Value, Value)> {
    let left = args.truncated(lua, 1)?;
    let input = args.opt_bytes(lua, 2)?;
    let length = args.opt_number(lua, 3, mime::LINE_LENGTH as f64)? as i64;
    let (out, left) = wrap(left, input.as_deref(), length);
    Ok((optional_string(lua, out)?, Value::Number(left as f64)))
}

/// `A, m = wrp(n [, B, length])`.
fn wrp(lua: &Lua, args: &Args) -> Checked<(Value, Value)> {
    wrap_with(lua, args, mime::wrp)
}

/// `A, m = qpwrp(n [, B, length])`.
fn qpwrp(lua: &Lua, args: &Args) -> Checked<(Value, Value)> {
    wrap_with(lua, args, mime::qpwrp)
}

/// `A, B = eol(C [, D, marker])`: `C` is the code of the line-break byte seen last.
fn eol(lua: &Lua, args: &Args) -> Checked<(Value, Value)> {
    let context = args.integer(lua, 1)?;
    let input = args.opt_bytes(lua, 2)?;
    let marker = args.opt_bytes(lua, 3)?;
    let context = u8::try_from(context).unwrap_or(0);
    let marker = marker.as_deref().unwrap_or(mime::CRLF);
    let (out, context) = mime::eol(context, input.as_deref(), marker);
    Ok((
        optional_string(lua, out)?,
        Value::Number(f64::from(context)),
    ))
}

/// `A, n = dot(m [, B])`.
fn dot(lua: &Lua, args: &Args) -> Checked<(Value, Value)> {
    let state = args.number(lua, 1)?;
    let input = args.opt_bytes(lua, 2)?;
    let state = u8::try_from(state as i64).unwrap_or(0);
    let (out, state) = mime::dot(state, input.as_deref());
    Ok((optional_string(lua, out)?, Value::Number(f64::from(state))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> (Lua, Table) {
        let lua = Lua::new();
        let table = open(&lua).unwrap();
        lua.globals().set("core", table.clone()).unwrap();
        (lua, table)
    }

    #[test]
    fn atoms_return_two_values() {
        let (lua, _) = core();
        let (a, b): (String, Option<String>) =
            lua.load(r#"return core.b64("abcd")"#).eval().unwrap();
        assert_eq!((a.as_str(), b), ("YWJjZA==", None));
        let (a, b): (String, String) = lua.load(r#"return core.b64("abcd", "e")"#).eval().unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("YWJj", "de"));
        let count: i64 = lua
            .load(r##"return select("#", core.unqp(nil))"##)
            .eval()
            .unwrap();
        assert_eq!(count, 2);
        let kind: String = lua
            .load(r#"return math.type(select(2, core.wrp(76, "abc")))"#)
            .eval()
            .unwrap();
        assert_eq!(kind, "float");
    }

    #[test]
    fn bad_arguments_raise_plain_strings() {
        let (lua, _) = core();
        let message: String = lua
            .load(r#"local ok, e = pcall(core.b64, {}) return type(e) .. ":" .. e"#)
            .eval()
            .unwrap();
        assert_eq!(
            message,
            "string:bad argument #1 to 'b64' (string expected, got table)"
        );
        let message: String = lua
            .load(r#"return select(2, pcall(core.wrp))"#)
            .eval()
            .unwrap();
        assert_eq!(
            message,
            "bad argument #1 to 'wrp' (number expected, got no value)"
        );
        let message: String = lua
            .load(r#"return select(2, pcall(core.eol, 1.5))"#)
            .eval()
            .unwrap();
        assert_eq!(
            message,
            "bad argument #1 to 'eol' (number has no integer representation)"
        );
    }
}

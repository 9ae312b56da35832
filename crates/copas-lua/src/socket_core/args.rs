//! Argument checking with the Lua auxiliary library's wording, so every bad argument
//! reads `bad argument #n to 'f' (...)` exactly as LuaSocket's do.

use mlua::{MultiValue, Value};

/// Why a socket function did not produce its results.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Raise this message as a Lua error (argument errors).
    Raise(String),
    /// An mlua failure (out of memory and the like).
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(err: mlua::Error) -> Self {
        Failure::Lua(err)
    }
}

pub(crate) type Outcome<T> = std::result::Result<T, Failure>;

/// The arguments of one call, with the function name for messages.
#[derive(Debug)]
pub(crate) struct Args {
    values: Vec<Value>,
    pub(crate) name: &'static str,
}

/// Lua's name for the type of a value, as `luaL_typename` gives it.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        Value::UserData(_) => "userdata",
        _ => "userdata",
    }
}

impl Args {
    pub(crate) fn new(values: MultiValue, name: &'static str) -> Self {
        Args {
            values: values.into_vec(),
            name,
        }
    }

    /// Argument `n` (1-based); `Nil` when absent.
    pub(crate) fn get(&self, n: usize) -> &Value {
        self.values.get(n - 1).unwrap_or(&Value::Nil)
    }

    pub(crate) fn error(&self, n: usize, message: impl std::fmt::Display) -> Failure {
        Failure::Raise(format!("bad argument #{n} to '{}' ({message})", self.name))
    }

    pub(crate) fn type_error(&self, n: usize, expected: &str) -> Failure {
        self.error(
            n,
            format!("{expected} expected, got {}", type_name(self.get(n))),
        )
    }

    /// `luaL_checknumber`: numbers, and strings that convert to one.
    pub(crate) fn number(&self, n: usize) -> Outcome<f64> {
        match self.get(n) {
            Value::Integer(i) => Ok(*i as f64),
            Value::Number(x) => Ok(*x),
            Value::String(s) => {
                let text = s.to_str().map_err(|_| self.type_error(n, "number"))?;
                parse_lua_number(text.trim()).ok_or_else(|| self.type_error(n, "number"))
            }
            _ => Err(self.type_error(n, "number")),
        }
    }

    /// `luaL_optnumber`.
    pub(crate) fn opt_number(&self, n: usize) -> Outcome<Option<f64>> {
        match self.get(n) {
            Value::Nil => Ok(None),
            _ => self.number(n).map(Some),
        }
    }

    /// `luaL_checklstring`: strings, and numbers converted to strings.
    pub(crate) fn bytes(&self, n: usize) -> Outcome<Vec<u8>> {
        match self.get(n) {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            Value::Integer(i) => Ok(i.to_string().into_bytes()),
            Value::Number(x) => Ok(format_number(*x).into_bytes()),
            _ => Err(self.type_error(n, "string")),
        }
    }

    /// `luaL_optlstring`.
    pub(crate) fn opt_bytes(&self, n: usize) -> Outcome<Option<Vec<u8>>> {
        match self.get(n) {
            Value::Nil => Ok(None),
            _ => self.bytes(n).map(Some),
        }
    }

    /// A string argument as text.
    pub(crate) fn text(&self, n: usize) -> Outcome<String> {
        Ok(String::from_utf8_lossy(&self.bytes(n)?).into_owned())
    }

    /// A port given as a number or a numeric string.
    pub(crate) fn port(&self, n: usize) -> Outcome<u16> {
        let value = match self.get(n) {
            Value::String(s) => {
                let text = s
                    .to_str()
                    .map_err(|_| self.type_error(n, "string"))?
                    .trim()
                    .to_owned();
                parse_lua_number(&text).ok_or_else(|| self.error(n, "invalid port"))?
            }
            _ => self.number(n)?,
        };
        luasocket_core::port_number(value).map_err(|_| self.error(n, "invalid port"))
    }
}

/// Lua's `tonumber` for the decimal and hexadecimal forms programs pass as strings.
pub(crate) fn parse_lua_number(text: &str) -> Option<f64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    text.parse::<f64>().ok()
}

/// Lua's `%.14g` rendering of a float, for numbers used as strings.
pub(crate) fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

//! Reading function arguments the way lauxlib's `luaL_check*`/`luaL_opt*` do.
//!
//! Positions count from 1 and include `self`, as in C. Strings accept numbers and
//! numbers accept numeric strings, like `lua_tolstring`/`lua_tonumber`; a missing
//! argument is "no value" in messages, an explicit nil is "nil".

use mlua::{Lua, LuaString, MultiValue, Value};

use super::raise::{argument, Failure};

/// The arguments of one call.
#[derive(Debug)]
pub(crate) struct Args {
    values: MultiValue,
}

impl Args {
    pub(crate) fn new(values: MultiValue) -> Self {
        Args { values }
    }

    /// The argument at `position`, or `None` when fewer were passed.
    pub(crate) fn get(&self, position: usize) -> Option<&Value> {
        position
            .checked_sub(1)
            .and_then(|index| self.values.get(index))
    }

    fn is_none_or_nil(&self, position: usize) -> bool {
        matches!(self.get(position), None | Some(Value::Nil))
    }

    /// `luaL_checklstring`.
    pub(crate) fn check_string(&self, lua: &Lua, position: usize) -> Result<LuaString, Failure> {
        match self.get(position) {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(value @ (Value::Integer(_) | Value::Number(_))) => lua
                .coerce_string(value.clone())?
                .ok_or_else(|| self.type_error(position, "string")),
            _ => Err(self.type_error(position, "string")),
        }
    }

    /// `luaL_optlstring` without a default: `None` for a missing or nil argument.
    pub(crate) fn opt_string(
        &self,
        lua: &Lua,
        position: usize,
    ) -> Result<Option<LuaString>, Failure> {
        if self.is_none_or_nil(position) {
            return Ok(None);
        }
        self.check_string(lua, position).map(Some)
    }

    /// `lua_isnumber` + `lua_tonumber`: the argument as a number if it is one or a
    /// numeric string.
    pub(crate) fn number(&self, lua: &Lua, position: usize) -> Result<Option<f64>, Failure> {
        Ok(match self.get(position) {
            Some(Value::Integer(number)) => Some(*number as f64),
            Some(Value::Number(number)) => Some(*number),
            Some(value @ Value::String(_)) => lua.coerce_number(value.clone())?,
            _ => None,
        })
    }

    /// `luaL_checknumber`.
    pub(crate) fn check_number(&self, lua: &Lua, position: usize) -> Result<f64, Failure> {
        self.number(lua, position)?
            .ok_or_else(|| self.type_error(position, "number"))
    }

    /// `luaL_optnumber`.
    pub(crate) fn opt_number(
        &self,
        lua: &Lua,
        position: usize,
        default: f64,
    ) -> Result<f64, Failure> {
        if self.is_none_or_nil(position) {
            return Ok(default);
        }
        self.check_number(lua, position)
    }

    /// `luaL_checkoption`: the index in `options` of the (string) argument, or of
    /// `default` when it is missing or nil.
    pub(crate) fn check_option(
        &self,
        lua: &Lua,
        position: usize,
        default: &str,
        options: &[&str],
    ) -> Result<usize, Failure> {
        let name = match self.opt_string(lua, position)? {
            Some(text) => text.as_bytes().to_vec(),
            None => default.as_bytes().to_vec(),
        };
        options
            .iter()
            .position(|option| option.as_bytes() == name.as_slice())
            .ok_or_else(|| {
                let shown = String::from_utf8_lossy(&name);
                argument(position, format!("invalid option '{shown}'"))
            })
    }

    /// `luaL_typeerror`: `<expected> expected, got <type>`.
    pub(crate) fn type_error(&self, position: usize, expected: &str) -> Failure {
        argument(
            position,
            format!("{expected} expected, got {}", type_name(self.get(position))),
        )
    }
}

/// `luaL_typename`, with "no value" for a missing argument.
pub(crate) fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// A float argument converted like C's cast to an integer type: truncated toward
/// zero, saturated at the bounds, NaN as zero.
pub(crate) fn truncate(number: f64) -> i64 {
    number as i64
}

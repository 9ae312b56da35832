//! Functions whose argument errors read as LuaSocket's: plain strings made by
//! `luaL_argerror` (see `lua_api::argerror`), not mlua's error objects.

use mlua::{Function, Lua, MultiValue, Value};

use crate::lua_api::argerror;

/// Why a function did not return normally.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Raise `bad argument #position to 'name' (message)`; `position` counts `self`.
    Argument { position: usize, message: String },
    /// Raise `message` as a plain string, as `luaL_error` in a C function does.
    Error(String),
    /// An mlua error (out of memory, a failed conversion), raised as mlua raises it.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(err: mlua::Error) -> Self {
        Failure::Lua(err)
    }
}

/// `bad argument #position to '...' (message)`.
pub(crate) fn argument(position: usize, message: impl Into<String>) -> Failure {
    Failure::Argument {
        position,
        message: message.into(),
    }
}

/// What the functions made here return.
pub(crate) type Outcome = Result<MultiValue, Failure>;

/// Makes a Lua function from `body`, raising its [`Failure::Argument`]s as
/// `luaL_argerror` does and its [`Failure::Error`]s as plain strings.
pub(crate) fn function<F>(lua: &Lua, body: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> Outcome + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| match body(lua, args) {
        Ok(values) => Ok(values),
        Err(Failure::Lua(err)) => Err(err),
        Err(Failure::Error(message)) => Ok(MultiValue::from_vec(vec![
            Value::LightUserData(argerror::marker()),
            Value::Integer(argerror::PLAIN_ERROR),
            Value::String(lua.create_string(message)?),
        ])),
        Err(Failure::Argument { position, message }) => {
            let position = i64::try_from(position).unwrap_or(i64::MAX);
            Ok(MultiValue::from_vec(vec![
                Value::LightUserData(argerror::marker()),
                Value::Integer(position),
                Value::String(lua.create_string(message)?),
            ]))
        }
    })?;
    argerror::raising(lua, inner)
}

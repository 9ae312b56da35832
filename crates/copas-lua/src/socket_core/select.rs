//! The waiting half of `socket.select`: descriptors in, ready descriptors out.

use luasocket_core::RawSocket;
use std::time::Duration;

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table};

/// Adds `poll(read_fds, write_fds, timeout)` to the primitives table. It returns the
/// ready descriptors as two ascending lists, or `nil, "timeout"`, or `nil, message`
/// when the wait itself failed.
pub(crate) fn register(lua: &Lua, native: &Table) -> Result<()> {
    native.set(
        "poll",
        lua.create_function(
            |lua, (read, write, timeout): (Vec<i64>, Vec<i64>, f64)| -> Result<MultiValue> {
                let read = descriptors(&read);
                let write = descriptors(&write);
                match luasocket_core::select(&read, &write, wait_for(timeout)) {
                    Ok(ready) => (ready.read, ready.write).into_lua_multi(lua),
                    Err(err) => (mlua::Nil, err.to_string()).into_lua_multi(lua),
                }
            },
        )?,
    )
}

/// Numbers that cannot be descriptors are dropped: they can never be open.
fn descriptors(numbers: &[i64]) -> Vec<RawSocket> {
    numbers
        .iter()
        .filter_map(|&number| RawSocket::try_from(number).ok())
        .collect()
}

/// LuaSocket's timeout convention: negative (or NaN) waits forever, and so does a
/// wait too long to represent.
fn wait_for(seconds: f64) -> Option<Duration> {
    if seconds.is_nan() || seconds < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(wait_for(-1.0), None);
        assert_eq!(wait_for(f64::NAN), None);
        assert_eq!(wait_for(f64::INFINITY), None);
        assert_eq!(wait_for(0.0), Some(Duration::ZERO));
        assert_eq!(wait_for(1.5), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn out_of_range_descriptors_are_dropped() {
        assert_eq!(descriptors(&[3, -1, i64::MAX, 1 << 40]), vec![3, -1]);
    }
}

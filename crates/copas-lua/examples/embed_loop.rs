//! An mlua host with its own `poll(2)` loop that gives Copas a turn whenever Copas has
//! something to do: `cargo run -p copas-lua --example embed_loop`, then talk to the
//! printed port (`nc`); the line `stop` ends the server.

use std::os::fd::AsRawFd;

use mlua::Lua;

fn main() -> mlua::Result<()> {
    let lua = Lua::new();
    copas_lua::install(&lua)?;
    let port: u16 = lua.load(include_str!("echo_server.lua")).eval()?;
    println!("listening on 127.0.0.1:{port}");

    let copas = copas_lua::Driver::new(&lua)?;
    let mut turns = 0u64;
    while !copas.is_finished()? {
        // The host's wait: Copas' descriptor, up to Copas' next timer. A real host would
        // add its own descriptors to the same poll.
        let timeout = copas.timeout().map_or(-1, |t| {
            i32::try_from(t.as_millis().max(1)).unwrap_or(i32::MAX)
        });
        let mut fds = [libc::pollfd {
            fd: copas.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: `fds` is a valid array of one pollfd for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout) };
        if ready < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(mlua::Error::external(std::io::Error::last_os_error()));
        }
        copas.step()?;
        turns += 1;
    }
    println!("copas finished after {turns} host turns");
    Ok(())
}

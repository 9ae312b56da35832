//! A tokio program that runs a Copas echo server from Lua next to its own tokio tasks,
//! on one thread: Copas takes a turn whenever its descriptor (through `AsyncFd`) or its
//! next timer says so. `cargo run -p copas-lua --example embed_tokio`; the line `stop`
//! sent to the printed port ends the server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mlua::Lua;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A tokio task talking to the Copas server: three lines, each echoed.
async fn tokio_client(port: u16) -> std::io::Result<usize> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut echoed = 0;
    for n in 0..3 {
        write.write_all(format!("tokio {n}\n").as_bytes()).await?;
        if lines.next_line().await?.as_deref() == Some(format!("tokio {n}").as_str()) {
            echoed += 1;
        }
    }
    Ok(echoed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lua = Lua::new();
    copas_lua::install(&lua)?;
    let port: u16 = lua.load(include_str!("echo_server.lua")).eval()?;
    println!("listening on 127.0.0.1:{port}");

    let client = tokio::spawn(tokio_client(port));
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    let driver = copas_lua::Driver::new(&lua)?;
    // SAFETY: a Driver's descriptor is the epoll descriptor of the dispatcher it keeps
    // alive: open, and the same, for as long as the Driver (owned by the AsyncFd) lives.
    let copas = unsafe { AsyncFd::register_with_interest(driver, Interest::READABLE) }?;
    while !copas.get_ref().is_finished()? {
        let timer = copas.get_ref().next_deadline();
        tokio::select! {
            guard = copas.readable() => guard?.clear_ready(),
            () = sleep_until(timer) => {}
        }
        copas.get_ref().step()?;
    }
    ticker.abort();
    println!("tokio client: {} echoes", client.await??);
    println!("tokio ticker: {} ticks", ticks.load(Ordering::Relaxed));
    println!("copas finished");
    Ok(())
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

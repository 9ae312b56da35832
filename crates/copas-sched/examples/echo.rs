//! A line-echo server: `cargo run -p copas-sched --example echo [PORT]`, then
//! `nc 127.0.0.1 PORT`. Each connection is one task whose handler is a plain loop.
use copas_sched::future::{self, spawn_local, Async, AsyncTask};
use copas_sched::Scheduler;
use luasocket_core::{Family, ReceivePattern, TcpSocket};

async fn handle(mut peer: Async<TcpSocket>) {
    while let Ok(mut line) = peer.receive(ReceivePattern::Line).await {
        line.push(b'\n');
        if peer.send_all(&line).await.is_err() {
            break;
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let mut server = TcpSocket::new(Family::Inet)?;
    server.bind("127.0.0.1", &port)?;
    server.listen(128)?;
    println!("listening on 127.0.0.1:{}", server.local_address()?.1);

    let mut scheduler: Scheduler<AsyncTask> = Scheduler::new()?;
    future::spawn(&mut scheduler, async move {
        let mut server = Async::new(server);
        while let Ok(peer) = server.accept().await {
            spawn_local(handle(Async::new(peer)));
        }
    });
    scheduler.run()?;
    Ok(())
}

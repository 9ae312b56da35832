//! TLS over a luasocket-core `TcpSocket`: `tls_client HOST PORT [CAFILE]` sends an HTTP
//! GET (try `openssl s_server -www`) and prints the reply.
use copas_tls::{TlsContext, TlsParams, TlsSocket};
use luasocket_core::{Family, ReceivePattern, TcpSocket, TimeoutMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (host, port) = (&args[1], &args[2]);
    let params = TlsParams {
        cafile: args.get(3).map(Into::into), // verifying: CAFILE, or the Mozilla roots
        ..TlsParams::default()
    };
    let mut tcp = TcpSocket::new(Family::Unspec)?;
    tcp.connect(host, port)?;
    let mut tls = TlsSocket::new(&TlsContext::new(&params)?, tcp, None);
    tls.set_server_name(host.as_str());
    tls.timeout_mut().set(Some(10.0), TimeoutMode::Block);
    tls.handshake()?;
    let request = format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n");
    tls.send(request.as_bytes()).1.map_or(Ok(()), Err)?;
    let (reply, err) = tls.receive_with(ReceivePattern::All, <[u8]>::to_vec);
    print!("{}", String::from_utf8_lossy(&reply));
    err.map_or(Ok(()), |err| Err(err.into()))
}

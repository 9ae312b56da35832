//! `TlsSocket` over luasocket-core's `TcpSocket`, both ends in one thread on loopback: the
//! non-blocking steps are interleaved by hand, the blocking calls run against a peer that
//! already did its part.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use common::{Ca, Pki};
use copas_tls::{
    AlpnChooser, EndOfStream, Error, Step, TlsContext, TlsParams, TlsSocket, VerifyReason,
};
use luasocket_core::{Family, Interest, ReceivePattern, TcpSocket, TimeoutMode};

type Socket = TlsSocket<TcpSocket>;

/// Rounds of 1 ms for the interleaved loops: a bound against hangs, not a timing check.
const ROUNDS: usize = 10_000;

fn tcp_pair() -> (TcpSocket, TcpSocket) {
    let mut listener = TcpSocket::new(Family::Inet).unwrap();
    listener.bind("127.0.0.1", "0").unwrap();
    listener.listen(4).unwrap();
    let (_, port) = listener.local_address().unwrap();
    let mut client = TcpSocket::new(Family::Unspec).unwrap();
    client.connect("127.0.0.1", &port.to_string()).unwrap();
    let accepted = listener.accept().unwrap();
    (client, accepted)
}

/// A client verifying `localhost` against the test CA, and a server; no handshake yet.
fn tls_pair(pki: &Pki, client: TlsParams, alpn: Option<AlpnChooser>) -> (Socket, Socket) {
    let (client_tcp, server_tcp) = tcp_pair();
    let mut client = TlsSocket::new(&TlsContext::new(&client).unwrap(), client_tcp, None);
    assert!(client.set_server_name("localhost"));
    let server_context = TlsContext::new(&pki.server_params()).unwrap();
    (client, TlsSocket::new(&server_context, server_tcp, alpn))
}

/// Steps both handshakes until both are done, or returns the first failure.
fn handshake(client: &mut Socket, server: &mut Socket) -> Result<(), Error> {
    for _ in 0..ROUNDS {
        let steps = (client.handshake_step(), server.handshake_step());
        match steps {
            (Step::Done(()), Step::Done(())) => return Ok(()),
            (Step::Failed(error), _) | (_, Step::Failed(error)) => return Err(error),
            _ => thread::sleep(Duration::from_millis(1)),
        }
    }
    panic!("handshake hung");
}

fn connected(pki: &Pki) -> (Socket, Socket) {
    let (mut client, mut server) = tls_pair(pki, pki.client_params(), None);
    handshake(&mut client, &mut server).unwrap();
    (client, server)
}

fn receive(socket: &mut Socket, pattern: ReceivePattern) -> (Vec<u8>, Option<Error>) {
    socket.receive_with(pattern, <[u8]>::to_vec)
}

fn send(socket: &mut Socket, data: &[u8]) {
    let (sent, error) = socket.send(data);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(sent, data.len());
}

#[test]
fn patterns_stats_and_close_notify() {
    let pki = Pki::new(&["localhost"], false);
    let (mut client, mut server) = connected(&pki);
    assert!(client.is_handshaken() && server.is_handshaken());
    send(&mut server, b"line one\r\nfixed");
    send(&mut server, b"tail");
    server.close();
    assert_eq!(server.fd(), None);
    assert_eq!(
        receive(&mut client, ReceivePattern::Line).0,
        b"line one".to_vec()
    );
    assert_eq!(receive(&mut client, ReceivePattern::Count(5)).0, b"fixed");
    let (rest, error) = receive(&mut client, ReceivePattern::All);
    assert_eq!((rest.as_slice(), error.is_none()), (&b"tail"[..], true));
    let (nothing, error) = receive(&mut client, ReceivePattern::All);
    assert!(nothing.is_empty());
    assert!(matches!(error, Some(Error::Closed)), "{error:?}");
    assert_eq!(client.end_of_stream(), Some(EndOfStream::CloseNotify));
    // Consumed bytes count, a line's CR and LF included, as on a TCP object.
    assert_eq!(client.stats().received, 19);
    assert_eq!(server.stats().sent, 19);
    assert_eq!(client.want(), None);
}

#[test]
fn an_end_without_close_notify_gives_the_partial_line() {
    let pki = Pki::new(&["localhost"], false);
    let (mut client, mut server) = connected(&pki);
    send(&mut server, b"half a li");
    // Dropping closes the descriptor without close_notify.
    drop(server);
    let (partial, error) = receive(&mut client, ReceivePattern::Line);
    assert_eq!(partial, b"half a li");
    assert!(matches!(error, Some(Error::Closed)), "{error:?}");
    assert_eq!(client.end_of_stream(), Some(EndOfStream::Truncated));
    assert!(!client.has_buffered_data(), "the partial line was taken");
}

#[test]
fn a_timeout_gives_the_partial_data_and_keeps_the_socket() {
    let pki = Pki::new(&["localhost"], false);
    let (mut client, mut server) = connected(&pki);
    client.timeout_mut().set(Some(0.05), TimeoutMode::Block);
    send(&mut server, b"no newline\r");
    let (partial, error) = receive(&mut client, ReceivePattern::Line);
    assert_eq!(partial, b"no newline");
    assert!(matches!(error, Some(Error::Timeout)), "{error:?}");
    assert_eq!(client.want(), Some(Interest::Read));
    // A timeout does not break the connection.
    send(&mut server, b"next\n");
    let (line, error) = receive(&mut client, ReceivePattern::Line);
    assert_eq!((line.as_slice(), error.is_none()), (&b"next"[..], true));
}

#[test]
fn a_zero_timeout_never_waits() {
    let pki = Pki::new(&["localhost"], false);
    let (mut client, mut server) = connected(&pki);
    client.timeout_mut().set(Some(0.0), TimeoutMode::Block);
    let (partial, error) = receive(&mut client, ReceivePattern::Count(4));
    assert!(partial.is_empty());
    assert!(
        matches!(error, Some(Error::WouldBlock(Interest::Read))),
        "{error:?}"
    );
    send(&mut server, b"ab");
    // An incomplete count stays buffered across steps.
    let mut step = client.receive_step(ReceivePattern::Count(4));
    for _ in 0..ROUNDS {
        if !matches!(step, Step::Want(_)) || client.has_buffered_data() {
            break;
        }
        thread::sleep(Duration::from_millis(1));
        step = client.receive_step(ReceivePattern::Count(4));
    }
    assert!(matches!(step, Step::Want(Interest::Read)), "{step:?}");
    assert!(client.has_buffered_data());
    send(&mut server, b"cd");
    let mut complete = None;
    for _ in 0..ROUNDS {
        match client.receive_step(ReceivePattern::Count(4)) {
            Step::Done(found) => {
                complete = Some(found);
                break;
            }
            Step::Want(_) => thread::sleep(Duration::from_millis(1)),
            Step::Failed(error) => panic!("{error:?}"),
        }
    }
    let data = client.take(complete.expect("the count completed"), <[u8]>::to_vec);
    assert_eq!(data, b"abcd");
    assert_eq!(client.want(), None);
}

#[test]
fn a_blocking_handshake_times_out_against_a_silent_peer() {
    let pki = Pki::new(&["localhost"], false);
    let (client_tcp, _silent) = tcp_pair();
    let context = TlsContext::new(&pki.client_params()).unwrap();
    let mut client = TlsSocket::new(&context, client_tcp, None);
    client.set_server_name("localhost");
    client.timeout_mut().set(Some(0.05), TimeoutMode::Block);
    assert!(matches!(client.handshake(), Err(Error::Timeout)));
    assert!(!client.is_handshaken());
    assert_eq!(client.want(), Some(Interest::Read));
    assert!(!client.set_server_name("late"), "the handshake has started");
}

#[test]
fn steps_move_a_mebibyte_with_both_ends_in_one_thread() {
    let pki = Pki::new(&["localhost"], false);
    let (mut client, mut server) = connected(&pki);
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut sending = true;
    let mut received = None;
    for _ in 0..ROUNDS {
        if sending {
            match client.send_step(&data, &mut sent) {
                Step::Done(()) => sending = false,
                Step::Want(_) => {}
                Step::Failed(error) => panic!("{error:?}"),
            }
        }
        match server.receive_step(ReceivePattern::Count(data.len())) {
            Step::Done(complete) => {
                received = Some(server.take(complete, <[u8]>::to_vec));
                break;
            }
            Step::Want(_) => thread::sleep(Duration::from_millis(1)),
            Step::Failed(error) => panic!("{error:?}"),
        }
    }
    assert!(received.as_deref() == Some(data.as_slice()), "data differs");
    assert_eq!(sent, data.len());
    assert_eq!(client.stats().sent, 1 << 20);
    assert_eq!(server.stats().received, 1 << 20);
}

#[test]
fn the_alpn_chooser_sees_the_offer_and_picks() {
    let pki = Pki::new(&["localhost"], false);
    let offered = Rc::new(RefCell::new(Vec::new()));
    let seen = offered.clone();
    let chooser: AlpnChooser = Box::new(move |list| {
        seen.borrow_mut()
            .extend(list.iter().map(|p| String::from_utf8_lossy(p).into_owned()));
        Ok(Some(b"x-custom".to_vec()))
    });
    let client = TlsParams {
        alpn: vec!["http/1.1".into(), "x-custom".into()],
        ..pki.client_params()
    };
    let (mut client, mut server) = tls_pair(&pki, client, Some(chooser));
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(*offered.borrow(), ["http/1.1", "x-custom"]);
    assert_eq!(client.alpn(), Some(&b"x-custom"[..]));
    assert_eq!(server.alpn(), Some(&b"x-custom"[..]));
    assert_eq!(server.sni(), Some("localhost"));
    let info = client.info().expect("negotiated");
    assert_eq!(info.protocol, "TLSv1.3");
}

#[test]
fn a_failing_chooser_fails_the_server_handshake() {
    let pki = Pki::new(&["localhost"], false);
    let chooser: AlpnChooser = Box::new(|_| Err("no protocol for you".to_owned()));
    let client = TlsParams {
        alpn: vec!["http/1.1".into()],
        ..pki.client_params()
    };
    let (mut client, mut server) = tls_pair(&pki, client, Some(chooser));
    let error = handshake(&mut client, &mut server).unwrap_err();
    assert!(
        matches!(&error, Error::AlpnChooser(message) if message == "no protocol for you"),
        "{error:?}"
    );
}

#[test]
fn a_refused_certificate_breaks_the_socket_for_good() {
    let pki = Pki::new(&["localhost"], false);
    let stranger = Pki::signed_by(&Ca::new("someone else"), &["localhost"], false);
    let (mut client, mut server) = tls_pair(&pki, stranger.client_params(), None);
    let error = handshake(&mut client, &mut server).unwrap_err();
    assert!(
        matches!(
            error,
            Error::CertificateVerify {
                reason: VerifyReason::UnknownIssuer,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(client.peer_certificates().unwrap().is_empty());
    let mut sent = 0;
    for step in [
        client.send_step(b"x", &mut sent).map_failed(),
        client.receive_step(ReceivePattern::Line).map_failed(),
    ] {
        assert!(
            matches!(
                step,
                Some(Error::CertificateVerify {
                    reason: VerifyReason::UnknownIssuer,
                    ..
                })
            ),
            "{step:?}"
        );
    }
}

trait Failure {
    fn map_failed(self) -> Option<Error>;
}

impl<T> Failure for Step<T> {
    fn map_failed(self) -> Option<Error> {
        match self {
            Step::Failed(error) => Some(error),
            _ => None,
        }
    }
}

//! A blocking SMTP client: one message per connection, as LuaSocket's `smtp.send`.
//!
//! [`send`] takes the envelope and the message bytes; [`send_message`] takes a
//! [`lettre::Message`] (build mail with lettre, send it with this). The dialogue is
//! EHLO (HELO when refused), MAIL FROM, one RCPT TO per recipient, DATA with the
//! message dot-stuffed, QUIT. Any reply outside 2xx/3xx where one is expected fails
//! the send with the server's reply text. Not here: AUTH and STARTTLS (the Lua
//! module `socket.smtp` has AUTH; give `tls` for SMTPS on port 465).
//!
//! ```no_run
//! use copas_clients::blocking::smtp::{send, Envelope, Server};
//! let server = Server::new("127.0.0.1", 25);
//! let envelope = Envelope {
//!     from: "me@example.org".into(),
//!     to: vec!["you@example.org".into()],
//! };
//! send(&server, &envelope, b"Subject: hi\r\n\r\nhello\r\n")?;
//! # Ok::<(), copas_clients::Error>(())
//! ```

use std::time::Duration;

use copas_tls::TlsContext;

use super::conn::Connection;
use crate::reply::{command_line, Reply, ReplyParser};
use crate::smtp::DotStuffer;
use crate::Error;

/// Where to send, and how.
#[derive(Debug, Clone)]
pub struct Server {
    /// Host name or address.
    pub host: String,
    /// Port (25, 587; 465 with `tls`).
    pub port: u16,
    /// The name given in EHLO/HELO.
    pub domain: String,
    /// How long each call on the connection may block in all.
    pub timeout: Option<Duration>,
    /// TLS from the first byte (SMTPS), verifying `host`.
    pub tls: Option<TlsContext>,
}

impl Server {
    /// `host`:`port`, plain, announcing ourselves as `localhost`, 60 s timeout.
    pub fn new(host: &str, port: u16) -> Self {
        Server {
            host: host.to_owned(),
            port,
            domain: "localhost".into(),
            timeout: Some(Duration::from_secs(60)),
            tls: None,
        }
    }
}

/// The SMTP envelope: who the message is from and who gets it, as addresses without
/// angle brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// MAIL FROM (empty for a bounce).
    pub from: String,
    /// RCPT TO, one per recipient.
    pub to: Vec<String>,
}

/// Sends `message` (headers and body, CRLF line breaks) to the envelope's recipients.
/// Returns the server's reply to the end of the data (`250 ...`).
pub fn send(server: &Server, envelope: &Envelope, message: &[u8]) -> Result<Reply, Error> {
    let commands = envelope_commands(envelope)?;
    let mut session = Session {
        connection: Connection::open(
            &server.host,
            server.port,
            server.tls.as_ref(),
            server.timeout,
        )?,
        parser: ReplyParser::new(),
    };
    let result = session.dialogue(server, &commands, message);
    // QUIT's answer does not change the outcome: the message was accepted or not.
    if result.is_ok() {
        let _ = session.command(b"QUIT", None, 2);
    }
    session.connection.close();
    result
}

/// The envelope lettre derives for `message`.
#[cfg(feature = "lettre")]
pub(crate) fn lettre_envelope(message: &lettre::Message) -> Envelope {
    let lettre_envelope = message.envelope();
    Envelope {
        from: lettre_envelope
            .from()
            .map(ToString::to_string)
            .unwrap_or_default(),
        to: lettre_envelope
            .to()
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// MAIL FROM and one RCPT TO per recipient, each answered with 2xx.
pub(crate) fn envelope_commands(envelope: &Envelope) -> Result<Vec<Vec<u8>>, Error> {
    if envelope.to.is_empty() {
        return Err(Error::Message("no recipient".into()));
    }
    let mut commands = vec![command_line(
        b"MAIL",
        Some(format!("FROM:<{}>", envelope.from).as_bytes()),
    )?];
    for recipient in &envelope.to {
        commands.push(command_line(
            b"RCPT",
            Some(format!("TO:<{recipient}>").as_bytes()),
        )?);
    }
    Ok(commands)
}

/// The message as it goes after DATA: dot-stuffed, with the terminator.
pub(crate) fn data_wire(message: &[u8]) -> Vec<u8> {
    let mut stuffer = DotStuffer::new();
    let mut wire = stuffer.push(message);
    wire.extend_from_slice(stuffer.terminator());
    wire
}

/// `reply` if its code is `class`xx, else the refusal.
pub(crate) fn check(reply: Reply, class: u16) -> Result<Reply, Error> {
    if reply.code / 100 == class {
        Ok(reply)
    } else {
        Err(Error::Rejected(
            String::from_utf8_lossy(&reply.text).into_owned(),
        ))
    }
}

/// Sends a message built with lettre, to the envelope it carries (its `From`/`Sender`
/// and every `To`, `Cc` and `Bcc`; lettre leaves `Bcc` out of the formatted message).
#[cfg(feature = "lettre")]
pub fn send_message(server: &Server, message: &lettre::Message) -> Result<Reply, Error> {
    send(server, &lettre_envelope(message), &message.formatted())
}

struct Session {
    connection: Connection,
    parser: ReplyParser,
}

impl Session {
    fn dialogue(
        &mut self,
        server: &Server,
        commands: &[Vec<u8>],
        message: &[u8],
    ) -> Result<Reply, Error> {
        self.expect(2)?;
        let domain = server.domain.as_bytes();
        if self.command(b"EHLO", Some(domain), 2).is_err() {
            self.command(b"HELO", Some(domain), 2)?;
        }
        for command in commands {
            self.connection.send(command)?;
            self.expect(2)?;
        }
        self.command(b"DATA", None, 3)?;
        self.connection.send(&data_wire(message))?;
        self.expect(2)
    }

    fn command(
        &mut self,
        verb: &[u8],
        argument: Option<&[u8]>,
        class: u16,
    ) -> Result<Reply, Error> {
        self.connection.send(&command_line(verb, argument)?)?;
        self.expect(class)
    }

    /// Reads one reply; an error unless its code is `class`xx.
    fn expect(&mut self, class: u16) -> Result<Reply, Error> {
        let reply = loop {
            let line = self.connection.receive_line()?;
            if let Some(reply) = self.parser.push_line(&line)? {
                break reply;
            }
        };
        check(reply, class)
    }
}

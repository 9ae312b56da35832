//! A blocking FTP client: one control connection, binary transfers in passive mode.
//!
//! [`Client::connect`] reads the greeting, logs in (USER, then PASS when the server asks
//! for it; `anonymous` by default) and switches to binary (TYPE I). Each transfer opens
//! its data connection with EPSV, falling back to PASV for good once a server refuses
//! EPSV, and connects to the control connection's peer at the port the reply names:
//! the address in a PASV reply is not used, since a server behind NAT announces an
//! address we cannot reach and a hostile one could point us at a third host.
//! Replies are assembled by [`crate::reply`] and PASV/EPSV replies parsed by
//! [`crate::ftp`], the code the Lua module `socket.ftp` uses. A reply that refuses a
//! command is [`Error::Rejected`] with the server's reply text; the connection stays
//! usable after a refused transfer and after one whose sink or source failed, not after
//! a socket error. Not here: active mode (PORT/EPRT), ASCII type and
//! FTPS.
//!
//! ```no_run
//! use copas_clients::blocking::ftp::{Client, Server};
//! let mut client = Client::connect(&Server::new("127.0.0.1", 21).login("user", "secret"))?;
//! client.store("hello.txt", &b"hello\n"[..])?;
//! assert_eq!(client.retrieve("hello.txt")?, b"hello\n");
//! client.quit()?;
//! # Ok::<(), copas_clients::Error>(())
//! ```

use std::io::{Read, Write};
use std::time::Duration;

use luasocket_core::ReceivePattern;

use super::conn::{is_closed, Connection};
use crate::ftp::{parse_epsv, parse_pasv};
use crate::reply::{command_line, Reply, ReplyParser};
use crate::Error;

/// Bytes read from the data connection, or from a `Read` to store, at a time.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Where to connect, as whom.
#[derive(Debug, Clone)]
pub struct Server {
    /// Host name or address.
    pub host: String,
    /// Port of the control connection (21).
    pub port: u16,
    /// USER.
    pub user: String,
    /// PASS, sent when the server answers USER with 331.
    pub password: String,
    /// How long each call on either connection may block in all.
    pub timeout: Option<Duration>,
}

impl Server {
    /// `host`:`port`, anonymous (user `anonymous`, password `anonymous@`), 60 s timeout.
    pub fn new(host: &str, port: u16) -> Self {
        Server {
            host: host.to_owned(),
            port,
            user: "anonymous".into(),
            password: "anonymous@".into(),
            timeout: Some(Duration::from_secs(60)),
        }
    }

    /// The same server, logging in as `user` with `password`.
    pub fn login(mut self, user: &str, password: &str) -> Self {
        user.clone_into(&mut self.user);
        password.clone_into(&mut self.password);
        self
    }
}

/// `reply` if its code is `class`xx, else the refusal.
pub(crate) fn check(reply: Reply, class: u16) -> Result<Reply, Error> {
    super::smtp::check(reply, class)
}

/// What a login step's reply asks for next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Login {
    /// Logged in.
    Done,
    /// Send PASS.
    Password,
}

/// Reads the reply to USER (`after_user`) or PASS: 2xx is done, 331 after USER asks
/// for the password; anything else (530, or 332 for an account) refuses the login.
pub(crate) fn login_step(reply: Reply, after_user: bool) -> Result<Login, Error> {
    match reply.code {
        200..=299 => Ok(Login::Done),
        331 if after_user => Ok(Login::Password),
        _ => check(reply, 2).map(|_| Login::Done),
    }
}

/// The port of the data connection out of an EPSV (`extended`) or PASV reply.
pub(crate) fn passive_port(reply: &Reply, extended: bool) -> Result<u16, Error> {
    if extended {
        parse_epsv(&reply.text)
    } else {
        parse_pasv(&reply.text).map(|(_, port)| port)
    }
}

/// The lines of an NLST listing, without their line ends; empty lines dropped.
pub(crate) fn names(listing: &[u8]) -> Vec<String> {
    listing
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect()
}

/// A logged-in control connection.
#[derive(Debug)]
pub struct Client {
    control: Connection,
    parser: ReplyParser,
    /// The control connection's peer, where data connections go.
    peer: String,
    timeout: Option<Duration>,
    /// False once the server refused EPSV: PASV from then on.
    epsv: bool,
}

impl Client {
    /// Connects, logs in and switches to binary transfers (TYPE I).
    pub fn connect(server: &Server) -> Result<Client, Error> {
        let control = Connection::open(&server.host, server.port, None, server.timeout)?;
        let peer = match &control {
            Connection::Plain(socket) => socket
                .peer_address()
                .map(|(address, _)| address)
                .unwrap_or_else(|_| server.host.clone()),
            Connection::Tls(_) => server.host.clone(),
        };
        let mut client = Client {
            control,
            parser: ReplyParser::new(),
            peer,
            timeout: server.timeout,
            epsv: true,
        };
        if let Err(err) = client.greet_and_login(server) {
            client.control.close();
            return Err(err);
        }
        Ok(client)
    }

    fn greet_and_login(&mut self, server: &Server) -> Result<(), Error> {
        // 120 means "ready in a while": the 220 follows on its own.
        let mut greeting = self.reply()?;
        while greeting.code / 100 == 1 {
            greeting = self.reply()?;
        }
        check(greeting, 2)?;
        let user = self.send(b"USER", Some(server.user.as_bytes()))?;
        if login_step(user, true)? == Login::Password {
            let pass = self.send(b"PASS", Some(server.password.as_bytes()))?;
            login_step(pass, false)?;
        }
        self.command("TYPE", Some("I"))?;
        Ok(())
    }

    /// Sends a command and returns its reply if it is 2xx (`DELE`, `MKD`, `CWD`...).
    pub fn command(&mut self, verb: &str, argument: Option<&str>) -> Result<Reply, Error> {
        let reply = self.send(verb.as_bytes(), argument.map(str::as_bytes))?;
        check(reply, 2)
    }

    /// Downloads `path` (RETR).
    pub fn retrieve(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        let mut data = Vec::new();
        self.retrieve_to(path, &mut data)?;
        Ok(data)
    }

    /// Downloads `path` (RETR) into `sink` as it arrives; returns the bytes written.
    pub fn retrieve_to(&mut self, path: &str, sink: &mut impl Write) -> Result<u64, Error> {
        self.download(b"RETR", Some(path), sink)
    }

    /// Uploads everything `source` gives as `path` (STOR); returns the bytes sent.
    pub fn store(&mut self, path: &str, mut source: impl Read) -> Result<u64, Error> {
        let mut data = self.open_transfer(b"STOR", Some(path))?;
        let sent = send_all_from(&mut data, &mut source);
        // Closing the data connection is the end of the file for the server.
        data.close();
        let sent = self.end_transfer(sent)?;
        Ok(sent)
    }

    /// The server's listing of `path` (the current directory without one) as it sends
    /// it (LIST): one line per entry, in a format the server chooses.
    pub fn list(&mut self, path: Option<&str>) -> Result<Vec<u8>, Error> {
        let mut listing = Vec::new();
        self.download(b"LIST", path, &mut listing)?;
        Ok(listing)
    }

    /// The names in `path` (the current directory without one) (NLST).
    pub fn nlst(&mut self, path: Option<&str>) -> Result<Vec<String>, Error> {
        let mut listing = Vec::new();
        self.download(b"NLST", path, &mut listing)?;
        Ok(names(&listing))
    }

    /// The server's reply after the data connection closed. When our side failed (the
    /// sink or the source), the reply (426 or 226) is read anyway so that the control
    /// connection stays in step for the next command.
    fn end_transfer(&mut self, transferred: Result<u64, Error>) -> Result<u64, Error> {
        match transferred {
            Ok(n) => {
                check(self.reply()?, 2)?;
                Ok(n)
            }
            Err(err @ (Error::Sink(_) | Error::Body(_))) => {
                let _ = self.reply();
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    /// Says goodbye (QUIT) and closes the connection; returns the server's reply.
    pub fn quit(mut self) -> Result<Reply, Error> {
        let reply = self.send(b"QUIT", None);
        self.control.close();
        check(reply?, 2)
    }

    fn download(
        &mut self,
        verb: &[u8],
        argument: Option<&str>,
        sink: &mut impl Write,
    ) -> Result<u64, Error> {
        let mut data = self.open_transfer(verb, argument)?;
        let received = receive_all_into(&mut data, sink);
        data.close();
        let received = self.end_transfer(received)?;
        Ok(received)
    }

    /// Opens a passive data connection and sends `verb`; the data connection once the
    /// server answers 1xx (about to transfer).
    fn open_transfer(&mut self, verb: &[u8], argument: Option<&str>) -> Result<Connection, Error> {
        let port = self.passive()?;
        let mut data = Connection::open(&self.peer, port, None, self.timeout)?;
        let started = self
            .send(verb, argument.map(str::as_bytes))
            .and_then(|reply| check(reply, 1));
        match started {
            Ok(_) => Ok(data),
            Err(err) => {
                data.close();
                Err(err)
            }
        }
    }

    /// The port of a new passive data connection: EPSV, or PASV once EPSV is refused.
    fn passive(&mut self) -> Result<u16, Error> {
        if self.epsv {
            let reply = self.send(b"EPSV", None)?;
            if reply.code / 100 == 2 {
                return passive_port(&reply, true);
            }
            // 500/502: the server does not know EPSV (RFC 2428 predates many of them).
            self.epsv = false;
        }
        let reply = check(self.send(b"PASV", None)?, 2)?;
        passive_port(&reply, false)
    }

    fn send(&mut self, verb: &[u8], argument: Option<&[u8]>) -> Result<Reply, Error> {
        self.control.send(&command_line(verb, argument)?)?;
        self.reply()
    }

    fn reply(&mut self) -> Result<Reply, Error> {
        loop {
            let line = self.control.receive_line()?;
            if let Some(reply) = self.parser.push_line(&line)? {
                return Ok(reply);
            }
        }
    }
}

/// Copies the data connection into `sink` until the server closes it.
fn receive_all_into(data: &mut Connection, sink: &mut impl Write) -> Result<u64, Error> {
    let mut total = 0u64;
    loop {
        let (chunk, end) = match data.receive(ReceivePattern::Count(CHUNK)) {
            Ok(chunk) => (chunk, false),
            Err((err, partial)) if is_closed(&err) => (partial, true),
            Err((err, _)) => return Err(err),
        };
        sink.write_all(&chunk)
            .map_err(|err| Error::Sink(err.to_string()))?;
        total += chunk.len() as u64;
        if end {
            return Ok(total);
        }
    }
}

/// Sends everything `source` gives over the data connection.
fn send_all_from(data: &mut Connection, source: &mut impl Read) -> Result<u64, Error> {
    let mut buffer = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Error::Body(err.to_string())),
        };
        data.send(&buffer[..n])?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Reply {
        Reply {
            code,
            text: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn login_steps() {
        assert_eq!(
            login_step(reply(331, "331 password"), true),
            Ok(Login::Password)
        );
        assert_eq!(login_step(reply(230, "230 in"), true), Ok(Login::Done));
        assert_eq!(login_step(reply(230, "230 in"), false), Ok(Login::Done));
        assert_eq!(
            login_step(reply(331, "331 again?"), false),
            Err(Error::Rejected("331 again?".into()))
        );
        assert_eq!(
            login_step(reply(332, "332 account"), true),
            Err(Error::Rejected("332 account".into()))
        );
    }

    #[test]
    fn passive_ports() {
        let epsv = reply(229, "229 Entering extended passive mode (|||50001|).");
        assert_eq!(passive_port(&epsv, true), Ok(50001));
        let pasv = reply(227, "227 Entering passive mode (10,0,0,1,195,80).");
        assert_eq!(passive_port(&pasv, false), Ok(50000));
    }

    #[test]
    fn nlst_names() {
        assert_eq!(names(b"a.txt\r\nb c\r\n\r\nd\n"), ["a.txt", "b c", "d"]);
        assert!(names(b"").is_empty());
    }
}

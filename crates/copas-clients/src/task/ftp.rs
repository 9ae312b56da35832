//! The FTP driver as a copas-sched task: [`blocking::ftp::Client`](crate::blocking::ftp::Client)'s
//! dialogue, awaited inside a [`copas_sched::future::AsyncTask`].

use std::io::{Read, Write};
use std::time::Duration;

use luasocket_core::ReceivePattern;

use super::conn::Conn;
use crate::blocking::conn::is_closed;
use crate::blocking::ftp::{check, login_step, names, passive_port, Login, Server, CHUNK};
use crate::reply::{command_line, Reply, ReplyParser};
use crate::Error;

/// A logged-in control connection whose waits park the task; the methods are those of
/// [`blocking::ftp::Client`](crate::blocking::ftp::Client).
pub struct Client {
    control: Conn,
    parser: ReplyParser,
    /// The control connection's peer, where data connections go.
    peer: String,
    timeout: Option<Duration>,
    /// False once the server refused EPSV: PASV from then on.
    epsv: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.peer)
            .field("epsv", &self.epsv)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects, logs in and switches to binary transfers (TYPE I).
    pub async fn connect(server: &Server) -> Result<Client, Error> {
        let control = Conn::open(&server.host, server.port, None, server.timeout).await?;
        let peer = match &control {
            Conn::Plain(socket) => socket
                .get_ref()
                .peer_address()
                .map(|(address, _)| address)
                .unwrap_or_else(|_| server.host.clone()),
            Conn::Tls(_) => server.host.clone(),
        };
        let mut client = Client {
            control,
            parser: ReplyParser::new(),
            peer,
            timeout: server.timeout,
            epsv: true,
        };
        if let Err(err) = client.greet_and_login(server).await {
            client.control.close();
            return Err(err);
        }
        Ok(client)
    }

    async fn greet_and_login(&mut self, server: &Server) -> Result<(), Error> {
        let mut greeting = self.reply().await?;
        while greeting.code / 100 == 1 {
            greeting = self.reply().await?;
        }
        check(greeting, 2)?;
        let user = self.send(b"USER", Some(server.user.as_bytes())).await?;
        if login_step(user, true)? == Login::Password {
            let pass = self.send(b"PASS", Some(server.password.as_bytes())).await?;
            login_step(pass, false)?;
        }
        self.command("TYPE", Some("I")).await?;
        Ok(())
    }

    /// Sends a command and returns its reply if it is 2xx.
    pub async fn command(&mut self, verb: &str, argument: Option<&str>) -> Result<Reply, Error> {
        let reply = self
            .send(verb.as_bytes(), argument.map(str::as_bytes))
            .await?;
        check(reply, 2)
    }

    /// Downloads `path` (RETR).
    pub async fn retrieve(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        let mut data = Vec::new();
        self.retrieve_to(path, &mut data).await?;
        Ok(data)
    }

    /// Downloads `path` (RETR) into `sink` as it arrives; returns the bytes written.
    pub async fn retrieve_to(&mut self, path: &str, sink: &mut impl Write) -> Result<u64, Error> {
        self.download(b"RETR", Some(path), sink).await
    }

    /// Uploads everything `source` gives as `path` (STOR); returns the bytes sent.
    /// `source` is read synchronously between sends.
    pub async fn store(&mut self, path: &str, mut source: impl Read) -> Result<u64, Error> {
        let mut data = self.open_transfer(b"STOR", Some(path)).await?;
        let sent = send_all_from(&mut data, &mut source).await;
        data.close();
        let sent = self.end_transfer(sent).await?;
        Ok(sent)
    }

    /// The server's listing of `path` as it sends it (LIST).
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<u8>, Error> {
        let mut listing = Vec::new();
        self.download(b"LIST", path, &mut listing).await?;
        Ok(listing)
    }

    /// The names in `path` (NLST).
    pub async fn nlst(&mut self, path: Option<&str>) -> Result<Vec<String>, Error> {
        let mut listing = Vec::new();
        self.download(b"NLST", path, &mut listing).await?;
        Ok(names(&listing))
    }

    /// The server's reply after the data connection closed. When our side failed (the
    /// sink or the source), the reply (426 or 226) is read anyway so that the control
    /// connection stays in step for the next command.
    async fn end_transfer(&mut self, transferred: Result<u64, Error>) -> Result<u64, Error> {
        match transferred {
            Ok(n) => {
                check(self.reply().await?, 2)?;
                Ok(n)
            }
            Err(err @ (Error::Sink(_) | Error::Body(_))) => {
                let _ = self.reply().await;
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    /// Says goodbye (QUIT) and closes the connection; returns the server's reply.
    pub async fn quit(mut self) -> Result<Reply, Error> {
        let reply = self.send(b"QUIT", None).await;
        self.control.close();
        check(reply?, 2)
    }

    async fn download(
        &mut self,
        verb: &[u8],
        argument: Option<&str>,
        sink: &mut impl Write,
    ) -> Result<u64, Error> {
        let mut data = self.open_transfer(verb, argument).await?;
        let received = receive_all_into(&mut data, sink).await;
        data.close();
        let received = self.end_transfer(received).await?;
        Ok(received)
    }

    async fn open_transfer(&mut self, verb: &[u8], argument: Option<&str>) -> Result<Conn, Error> {
        let port = self.passive().await?;
        let mut data = Conn::open(&self.peer, port, None, self.timeout).await?;
        let started = match self.send(verb, argument.map(str::as_bytes)).await {
            Ok(reply) => check(reply, 1),
            Err(err) => Err(err),
        };
        match started {
            Ok(_) => Ok(data),
            Err(err) => {
                data.close();
                Err(err)
            }
        }
    }

    async fn passive(&mut self) -> Result<u16, Error> {
        if self.epsv {
            let reply = self.send(b"EPSV", None).await?;
            if reply.code / 100 == 2 {
                return passive_port(&reply, true);
            }
            self.epsv = false;
        }
        let reply = check(self.send(b"PASV", None).await?, 2)?;
        passive_port(&reply, false)
    }

    async fn send(&mut self, verb: &[u8], argument: Option<&[u8]>) -> Result<Reply, Error> {
        self.control.send(&command_line(verb, argument)?).await?;
        self.reply().await
    }

    async fn reply(&mut self) -> Result<Reply, Error> {
        loop {
            let line = self.control.receive_line().await?;
            if let Some(reply) = self.parser.push_line(&line)? {
                return Ok(reply);
            }
        }
    }
}

async fn receive_all_into(data: &mut Conn, sink: &mut impl Write) -> Result<u64, Error> {
    let mut total = 0u64;
    loop {
        let (chunk, end) = match data.receive(ReceivePattern::Count(CHUNK)).await {
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

async fn send_all_from(data: &mut Conn, source: &mut impl Read) -> Result<u64, Error> {
    let mut buffer = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Error::Body(err.to_string())),
        };
        data.send(&buffer[..n]).await?;
        total += n as u64;
    }
}

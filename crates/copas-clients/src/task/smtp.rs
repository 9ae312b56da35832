//! The SMTP driver as a copas-sched task: [`blocking::smtp`](crate::blocking::smtp)'s
//! dialogue, awaited inside a [`copas_sched::future::AsyncTask`].

use super::conn::Conn;
use crate::blocking::smtp::{check, data_wire, envelope_commands, Envelope, Server};
use crate::reply::{command_line, Reply, ReplyParser};
use crate::Error;

struct Session {
    conn: Conn,
    parser: ReplyParser,
}

impl Session {
    /// Reads one reply; an error unless its code is `class`xx.
    async fn expect(&mut self, class: u16) -> Result<Reply, Error> {
        loop {
            let line = self.conn.receive_line().await?;
            if let Some(reply) = self.parser.push_line(&line)? {
                return check(reply, class);
            }
        }
    }

    async fn command(&mut self, line: &[u8], class: u16) -> Result<Reply, Error> {
        self.conn.send(line).await?;
        self.expect(class).await
    }

    async fn dialogue(
        &mut self,
        server: &Server,
        commands: &[Vec<u8>],
        message: &[u8],
    ) -> Result<Reply, Error> {
        self.expect(2).await?;
        let domain = Some(server.domain.as_bytes());
        if self
            .command(&command_line(b"EHLO", domain)?, 2)
            .await
            .is_err()
        {
            self.command(&command_line(b"HELO", domain)?, 2).await?;
        }
        for command in commands {
            self.command(command, 2).await?;
        }
        self.command(&command_line(b"DATA", None)?, 3).await?;
        self.command(&data_wire(message), 2).await
    }
}

/// [`blocking::smtp::send`](crate::blocking::smtp::send), waiting by parking the task.
pub async fn send(server: &Server, envelope: &Envelope, message: &[u8]) -> Result<Reply, Error> {
    let commands = envelope_commands(envelope)?;
    let conn = Conn::open(
        &server.host,
        server.port,
        server.tls.as_ref(),
        server.timeout,
    )
    .await?;
    let mut session = Session {
        conn,
        parser: ReplyParser::new(),
    };
    let result = session.dialogue(server, &commands, message).await;
    // QUIT's answer does not change the outcome: the message was accepted or not.
    if result.is_ok() {
        if let Ok(quit) = command_line(b"QUIT", None) {
            let _ = session.command(&quit, 2).await;
        }
    }
    session.conn.close();
    result
}

/// [`blocking::smtp::send_message`](crate::blocking::smtp::send_message), waiting by
/// parking the task.
#[cfg(feature = "lettre")]
pub async fn send_message(server: &Server, message: &lettre::Message) -> Result<Reply, Error> {
    let envelope = crate::blocking::smtp::lettre_envelope(message);
    send(server, &envelope, &message.formatted()).await
}

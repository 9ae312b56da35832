//! `smtp_send HOST PORT FROM TO`: builds a multipart message (text and an attachment)
//! with lettre, sends it with the blocking SMTP driver, and prints the bytes it sent.
use std::io::Write;

use copas_clients::blocking::smtp::{send_message, Server};
use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
use lettre::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let attachment: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let message = Message::builder()
        .from(args[3].parse()?)
        .to(args[4].parse()?)
        .subject("copas-clients and lettre")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(String::from("Hello.\n.\nA dot line.\n")))
                .singlepart(
                    Attachment::new("bytes.bin".into())
                        .body(attachment, ContentType::parse("application/octet-stream")?),
                ),
        )?;
    let reply = send_message(&Server::new(&args[1], args[2].parse()?), &message)?;
    eprintln!("{}", String::from_utf8_lossy(&reply.text));
    std::io::stdout().write_all(&message.formatted())?;
    Ok(())
}

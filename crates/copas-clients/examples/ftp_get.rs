//! `ftp_get HOST PORT PATH [USER PASSWORD]`: downloads PATH (anonymously without a
//! user) with the blocking FTP driver and writes it to stdout.
use copas_clients::blocking::ftp::{Client, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mut server = Server::new(&args[1], args[2].parse()?);
    if let [_, _, _, _, user, password] = args.as_slice() {
        server = server.login(user, password);
    }
    let mut client = Client::connect(&server)?;
    client.retrieve_to(&args[3], &mut std::io::stdout().lock())?;
    client.quit()?;
    Ok(())
}

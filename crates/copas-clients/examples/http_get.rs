//! `http_get URL [CAFILE]`: GETs URL (http or https, verified against CAFILE or the
//! Mozilla roots), following redirects, and prints the status line and the body.
use copas_clients::blocking::http::Request;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mut request = Request::new("GET", &args[1]);
    if let Some(cafile) = args.get(2) {
        request = request.ca_file(cafile);
    }
    let response = request.send()?;
    println!("{}", response.status);
    print!("{}", String::from_utf8_lossy(&response.body));
    Ok(())
}

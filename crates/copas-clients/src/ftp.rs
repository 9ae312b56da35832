//! FTP data-connection negotiation: reading the address out of PASV (227) and EPSV
//! (229) replies and writing the arguments of PORT and EPRT (RFC 959, RFC 2428).
//!
//! The control-connection dialogue itself is in the Lua module `socket.ftp` and, for
//! Rust programs, in [`crate::blocking::ftp`] and [`crate::task::ftp`]; replies are
//! assembled by [`crate::reply`]. Not for FTPS.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use copas_clients::ftp::{parse_epsv, parse_pasv, port_argument};
//! let (ip, port) = parse_pasv(b"227 Entering Passive Mode (127,0,0,1,195,80).").unwrap();
//! assert_eq!((ip, port), (Ipv4Addr::LOCALHOST, 50000));
//! assert_eq!(parse_epsv(b"229 Entering Extended Passive Mode (|||50001|)").unwrap(), 50001);
//! assert_eq!(port_argument(Ipv4Addr::LOCALHOST, 50000), "127,0,0,1,195,80");
//! ```

use std::net::{IpAddr, Ipv4Addr};

use crate::Error;

/// Six decimal numbers, each of at most 3 digits and at most 255,
/// starting at `text[0]` and separated by exactly one non-digit.
fn six_bytes(text: &[u8]) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut pos = 0;
    for (i, slot) in out.iter_mut().enumerate() {
        if i > 0 {
            // One separator, which must not be a digit.
            match text.get(pos) {
                Some(b) if !b.is_ascii_digit() => pos += 1,
                _ => return None,
            }
        }
        let digits = text[pos.min(text.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 3 {
            return None;
        }
        let value = text[pos..pos + digits]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        *slot = u8::try_from(value).ok()?;
        pos += digits;
    }
    Some(out)
}

/// The address and port of a 227 reply: the first run of six numbers separated by
/// single non-digits, `h1,h2,h3,h4,p1,p2`, as LuaSocket finds them.
pub fn parse_pasv(reply: &[u8]) -> Result<(Ipv4Addr, u16), Error> {
    // The run may start anywhere a number starts, the reply code included.
    for start in 0..reply.len() {
        let starts_number =
            reply[start].is_ascii_digit() && (start == 0 || !reply[start - 1].is_ascii_digit());
        if !starts_number {
            continue;
        }
        if let Some([a, b, c, d, p1, p2]) = six_bytes(&reply[start..]) {
            return Ok((
                Ipv4Addr::new(a, b, c, d),
                u16::from(p1) << 8 | u16::from(p2),
            ));
        }
    }
    Err(Error::InvalidPasv(
        String::from_utf8_lossy(reply).into_owned(),
    ))
}

/// The port of a 229 reply, `(<d><d><d>port<d>)` where `<d>` is one delimiter
/// character, usually `|`. The address is the control connection's peer.
pub fn parse_epsv(reply: &[u8]) -> Result<u16, Error> {
    let open = reply
        .iter()
        .position(|&b| b == b'(')
        .ok_or(Error::InvalidEpsv)?;
    let inner = &reply[open + 1..];
    let close = inner
        .iter()
        .position(|&b| b == b')')
        .ok_or(Error::InvalidEpsv)?;
    let inner = &inner[..close];
    let &delimiter = inner.first().ok_or(Error::InvalidEpsv)?;
    if delimiter.is_ascii_digit() || !(33..=126).contains(&delimiter) {
        return Err(Error::InvalidEpsv);
    }
    let fields: Vec<&[u8]> = inner.split(|&b| b == delimiter).collect();
    // "" protocol address port "" around four delimiters.
    let [first, _protocol, _address, port, last] = fields.as_slice() else {
        return Err(Error::InvalidEpsv);
    };
    if !first.is_empty() || !last.is_empty() || port.is_empty() || port.len() > 5 {
        return Err(Error::InvalidEpsv);
    }
    if !port.iter().all(u8::is_ascii_digit) {
        return Err(Error::InvalidEpsv);
    }
    let value = port.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    match u16::try_from(value) {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(Error::InvalidEpsv),
    }
}

/// The argument of PORT: `h1,h2,h3,h4,p1,p2`.
pub fn port_argument(ip: Ipv4Addr, port: u16) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{a},{b},{c},{d},{},{}", port >> 8, port & 0xff)
}

/// The argument of EPRT: `|1|address|port|` for IPv4, `|2|address|port|` for IPv6.
pub fn eprt_argument(ip: IpAddr, port: u16) -> String {
    let family = if ip.is_ipv4() { 1 } else { 2 };
    format!("|{family}|{ip}|{port}|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasv_forms() {
        let cases: &[(&[u8], [u8; 4], u16)] = &[
            (
                b"227 Entering Passive Mode (127,0,0,1,4,1)",
                [127, 0, 0, 1],
                1025,
            ),
            (
                b"227 Entering Passive Mode 10,1,2,3,255,255",
                [10, 1, 2, 3],
                65535,
            ),
            (b"227 =192,168,0,1,0,21", [192, 168, 0, 1], 21),
            (b"227-first\n227 ok (1,2,3,4,0,80)", [1, 2, 3, 4], 80),
        ];
        for (reply, ip, port) in cases {
            let [a, b, c, d] = *ip;
            assert_eq!(
                parse_pasv(reply).unwrap(),
                (Ipv4Addr::new(a, b, c, d), *port),
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
    }

    #[test]
    fn pasv_rejects() {
        for reply in [
            &b"227 Entering Passive Mode"[..],
            b"227 (1,2,3,4,5)",
            b"227 (1,2,3,256,0,1)",
            b"227 (1,2,3,4,0,1000)",
            b"227 (1,,2,3,4,0,1)",
            b"",
        ] {
            assert!(
                matches!(parse_pasv(reply), Err(Error::InvalidPasv(_))),
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
    }

    #[test]
    fn epsv_forms() {
        assert_eq!(parse_epsv(b"229 Extended (|||6446|)").unwrap(), 6446);
        assert_eq!(parse_epsv(b"229 (!!!1!)").unwrap(), 1);
        assert_eq!(parse_epsv(b"229 (|2|::1|65535|)").unwrap(), 65535);
        for reply in [
            &b"229 no parens"[..],
            b"229 (|||)",
            b"229 (||6446|)",
            b"229 (|||65536|)",
            b"229 (|||0|)",
            b"229 (|||12a|)",
            b"229 (1112221)",
            b"229 (|||6446|",
        ] {
            assert_eq!(
                parse_epsv(reply),
                Err(Error::InvalidEpsv),
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
    }

    #[test]
    fn port_and_eprt_arguments() {
        assert_eq!(
            port_argument(Ipv4Addr::new(10, 0, 0, 7), 0x1234),
            "10,0,0,7,18,52"
        );
        assert_eq!(
            eprt_argument("127.0.0.1".parse().unwrap(), 21),
            "|1|127.0.0.1|21|"
        );
        assert_eq!(eprt_argument("::1".parse().unwrap(), 2121), "|2|::1|2121|");
    }
}

//! Request encoding: the request line and headers, and chunked framing for bodies of
//! unknown length.

use super::{quote, HttpError, Result};

/// The chunk that ends a chunked request body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Frames `data` as one chunk of a chunked body. Empty data gives no bytes at all,
/// because an empty chunk would end the body.
pub fn encode_chunk(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut out = format!("{:X}\r\n", data.len()).into_bytes();
    out.reserve(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// RFC 9110 `tchar`: what a method or a header name may be made of.
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The request line and header block, ending with the empty line.
///
/// Refuses anything that would let a value end the line it stands on (CR, LF, NUL in
/// a header value; spaces or controls in the method or target), since those come from
/// Lua callers and would otherwise allow header injection.
pub fn encode_head<N, V>(method: &str, target: &str, headers: &[(N, V)]) -> Result<Vec<u8>>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    if !is_token(method.as_bytes()) {
        return Err(HttpError::Request {
            what: "method",
            value: quote(method.as_bytes()),
        });
    }
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::Request {
            what: "target",
            value: quote(target.as_bytes()),
        });
    }
    let mut out = Vec::with_capacity(64 + headers.len() * 32);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !is_token(name) {
            return Err(HttpError::Request {
                what: "header name",
                value: quote(name),
            });
        }
        if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(HttpError::Request {
                what: "header value",
                value: quote(value),
            });
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_has_request_line_headers_and_blank_line() {
        let head =
            encode_head("POST", "/a?b=c", &[("Host", "h"), ("Content-Length", "3")]).unwrap();
        assert_eq!(
            head,
            b"POST /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"
        );
    }

    #[test]
    fn injection_is_refused() {
        let err = encode_head("GET", "/", &[("X", "a\r\nEvil: 1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid request header value: 'a\\x0d\\x0aEvil: 1'"
        );
        assert!(encode_head("GET", "/", &[("Bad Name", "v")]).is_err());
        assert!(encode_head("GE T", "/", &[] as &[(&str, &str)]).is_err());
        assert!(encode_head("GET", "/a b", &[] as &[(&str, &str)]).is_err());
        assert!(encode_head("GET", "", &[] as &[(&str, &str)]).is_err());
    }

    #[test]
    fn chunks_are_hex_framed() {
        assert_eq!(encode_chunk(b"hello"), b"5\r\nhello\r\n");
        assert_eq!(encode_chunk(&[b'x'; 26])[..4], *b"1A\r\n");
        assert!(encode_chunk(b"").is_empty());
    }
}

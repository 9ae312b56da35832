//! Fuzzes URL handling of the HTTP client: `Target::parse` on any text, and
//! `resolve_redirect` of any location against any base. Neither may panic; a parsed
//! target must be one a request can be framed with (no CR, LF or space in its request
//! target, a port, a host), and a resolved redirect must parse again as http(s).
#![no_main]

use copas_clients::http::{resolve_redirect, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (base, location) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(target) = Target::parse(base) {
        assert!(!target.host.is_empty());
        assert!(!target.request_target.contains(['\r', '\n', ' ']));
        let _ = target.pool_key(location);
        if let Ok(next) = resolve_redirect(&target.url, location) {
            assert!(next.starts_with("http://") || next.starts_with("https://"));
        }
    }
    let _ = resolve_redirect(base, location);
});

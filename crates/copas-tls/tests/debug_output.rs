//! Debug output of the public types stays short and readable, and hides secrets.

use copas_tls::{TlsContext, TlsParams};

#[test]
fn a_context_debug_is_short() {
    let context = TlsContext::new(&TlsParams::default()).unwrap();
    let shown = format!("{context:?}");
    assert!(shown.len() < 300, "{shown}");
    assert!(shown.contains("client"), "{shown}");
}

#[test]
fn params_debug_hides_the_password() {
    let params = TlsParams {
        password: Some("hunter2".into()),
        ..TlsParams::default()
    };
    let shown = format!("{params:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<hidden>"), "{shown}");
}

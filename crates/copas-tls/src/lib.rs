//! TLS streams on rustls over copas-rs sockets (issue #4; not yet built).

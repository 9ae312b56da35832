//! HTTP(S), FTP and SMTP clients on the copas-rs scheduler (issue #5; not yet built).

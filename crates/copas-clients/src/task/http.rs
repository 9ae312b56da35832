//! The HTTP driver as a copas-sched task: the requests of
//! [`blocking::http`](crate::blocking::http), awaited inside a
//! [`copas_sched::future::AsyncTask`], so other tasks run while it waits.
//!
//! ```no_run
//! use copas_clients::blocking::http::Request;
//! use copas_sched::{future, Scheduler};
//!
//! let mut scheduler = Scheduler::new().unwrap();
//! future::spawn(&mut scheduler, async {
//!     let response = copas_clients::task::http::get("https://example.org/").await;
//!     println!("{}", response.unwrap().code);
//! });
//! scheduler.run().unwrap();
//! ```

use std::io::Read;

use super::conn::Conn;
use crate::blocking::http::{absorb, next_pattern, Request, Response};
use crate::http::{encode_chunk, ResponseParser, Target, LAST_CHUNK};
use crate::Error;

/// Sends `request` from inside an [`copas_sched::future::AsyncTask`], following
/// redirects as the blocking driver does, and returns the response with its body.
pub async fn send(mut request: Request<'_>) -> Result<Response, Error> {
    let mut url = request.url.clone();
    let mut method = request.method.clone();
    let mut redirects = 0;
    loop {
        let target = Target::parse(&url)?;
        let tls = request.tls_for(&target)?.cloned();
        let mut conn = Conn::open(&target.host, target.port, tls.as_ref(), request.timeout).await?;
        let mut body = request.body.take();
        conn.send(&request.head(&target, &method, body.as_ref())?)
            .await?;
        if let Some(body) = body.as_mut() {
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = body
                    .reader
                    .read(&mut buf)
                    .map_err(|e| Error::Body(e.to_string()))?;
                let chunked = body.len.is_none();
                match (n, chunked) {
                    (0, true) => conn.send(LAST_CHUNK).await?,
                    (0, false) => {}
                    (n, true) => conn.send(&encode_chunk(&buf[..n])).await?,
                    (n, false) => conn.send(&buf[..n]).await?,
                }
                if n == 0 {
                    break;
                }
            }
        }
        let mut parser = ResponseParser::new(&method);
        let mut received = Vec::new();
        while parser.head().is_none() {
            let Some(pattern) = next_pattern(&parser) else {
                break;
            };
            absorb(
                &mut parser,
                pattern,
                conn.receive(pattern).await,
                &mut received,
            )?;
        }
        let head = parser.head().ok_or(Error::Closed)?.clone();
        if let Some(next) =
            request.redirect(&head, body.is_some(), &url, &method, &mut redirects)?
        {
            conn.close();
            (url, method) = next;
            continue;
        }
        while let Some(pattern) = next_pattern(&parser) {
            absorb(
                &mut parser,
                pattern,
                conn.receive(pattern).await,
                &mut received,
            )?;
        }
        conn.close();
        let mut response = Response::from_head(head, url);
        response.body = received;
        return Ok(response);
    }
}

/// GETs `url` from inside an [`copas_sched::future::AsyncTask`].
pub async fn get(url: &str) -> Result<Response, Error> {
    send(Request::new("GET", url)).await
}

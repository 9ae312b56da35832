//! LuaSec's parameter table as copas-tls's `TlsParams`.

use copas_tls::{Mode, Protocol, TlsParams, Verify};
use mlua::{Table, Value};

use super::messages::message;

/// A string or a list of strings (LuaSec accepts both for `verify`, `options`, `alpn`, ...).
fn string_list(key: &str, value: Value) -> Result<Vec<String>, String> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::String(text) => Ok(vec![text.to_string_lossy()]),
        Value::Table(list) => list
            .sequence_values::<Value>()
            .map(|item| match item {
                Ok(Value::String(text)) => Ok(text.to_string_lossy()),
                _ => Err(format!("invalid value in '{key}' (strings expected)")),
            })
            .collect(),
        other => Err(format!(
            "invalid '{key}' ({} given, string or table expected)",
            other.type_name()
        )),
    }
}

fn optional_string(params: &Table, key: &str) -> Result<Option<String>, String> {
    match params.raw_get::<Value>(key).map_err(|e| e.to_string())? {
        Value::Nil => Ok(None),
        Value::String(text) => Ok(Some(text.to_string_lossy())),
        other => Err(format!(
            "invalid '{key}' ({} given, string expected)",
            other.type_name()
        )),
    }
}

/// LuaSec's parameter table as [`TlsParams`]. Keys LuaSec knows but rustls has no use for
/// (`depth`, `dhparam`, ...) are ignored, as LuaSec ignores unknown keys.
pub(super) fn params_from_table(params: &Table) -> Result<TlsParams, String> {
    let mut out = TlsParams::default();
    if let Some(mode) = optional_string(params, "mode")? {
        out.mode = Mode::from_name(&mode).map_err(|e| message(&e))?;
    }
    if let Some(protocol) = optional_string(params, "protocol")? {
        out.protocol = Protocol::from_name(&protocol).map_err(|e| message(&e))?;
    }
    out.key = optional_string(params, "key")?.map(Into::into);
    out.certificate = optional_string(params, "certificate")?.map(Into::into);
    let get = |key: &str| params.raw_get::<Value>(key).map_err(|e| e.to_string());
    out.certificates = string_list("certificates", get("certificates")?)?
        .into_iter()
        .map(Into::into)
        .collect();
    out.password = match get("password")? {
        Value::Function(_) => {
            return Err("a 'password' callback is not supported (encrypted keys are not)".into())
        }
        _ => optional_string(params, "password")?,
    };
    out.cafile = optional_string(params, "cafile")?.map(Into::into);
    out.capath = optional_string(params, "capath")?.map(Into::into);
    let verify = string_list("verify", get("verify")?)?;
    if !verify.is_empty() {
        out.verify =
            Some(Verify::from_names(verify.iter().map(String::as_str)).map_err(|e| message(&e))?);
    }
    out.options = string_list("options", get("options")?)?;
    out.ciphers = optional_string(params, "ciphers")?;
    out.ciphersuites = optional_string(params, "ciphersuites")?;
    out.curve = match optional_string(params, "curve")? {
        Some(curve) => Some(curve),
        None => optional_string(params, "curves_list")?,
    };
    out.alpn = match get("alpn")? {
        // A server's callback, kept by the Lua context (see `new_context`).
        Value::Function(_) => Vec::new(),
        other => string_list("alpn", other)?,
    };
    out.server_name = optional_string(params, "servername")?;
    out.ignore_host_name = match get("verifyhost")? {
        Value::Nil | Value::Boolean(true) => false,
        Value::Boolean(false) => true,
        other => {
            return Err(format!(
                "invalid 'verifyhost' ({} given, boolean expected)",
                other.type_name()
            ))
        }
    };
    Ok(out)
}

//! Certificate objects: what `conn:getpeercertificate()` and `ssl.loadcertificate` return.

use std::rc::Rc;

use copas_tls::PeerCertificate;
use mlua::{AnyUserData, IntoLuaMulti, Lua, Table, UserData, UserDataMethods, Value};

use super::messages::message;

/// A certificate, as `conn:getpeercertificate()` and `ssl.loadcertificate` return it.
#[derive(Debug, Clone)]
pub(crate) struct SslCertificate(pub(crate) Rc<PeerCertificate>);

fn name_table(lua: &Lua, entries: &[copas_tls::NameEntry]) -> mlua::Result<Table> {
    let list = lua.create_table()?;
    for entry in entries {
        let item = lua.create_table()?;
        item.set("oid", entry.oid.as_str())?;
        item.set("name", entry.name.as_str())?;
        item.set("value", entry.value.as_str())?;
        list.push(item)?;
    }
    Ok(list)
}

impl UserData for SslCertificate {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("subject", |lua, cert, ()| name_table(lua, &cert.0.subject));
        methods.add_method("issuer", |lua, cert, ()| name_table(lua, &cert.0.issuer));
        methods.add_method("notbefore", |_, cert, ()| Ok(cert.0.not_before.clone()));
        methods.add_method("notafter", |_, cert, ()| Ok(cert.0.not_after.clone()));
        methods.add_method("serial", |_, cert, ()| Ok(cert.0.serial.clone()));
        methods.add_method("pem", |_, cert, ()| Ok(cert.0.pem()));
        methods.add_method("validat", |_, cert, time: f64| {
            Ok(cert.0.valid_at(time.floor() as i64))
        });
        // pem, type, bits, as LuaSec.
        methods.add_method("pubkey", |_, cert, ()| {
            let key = &cert.0.public_key;
            Ok((key.pem.clone(), key.kind, key.bits))
        });
        // LuaSec chooses how names are decoded ("ai5" or "utf8"); ours are always UTF-8
        // text, which is what both give for the names certificates carry today.
        methods.add_method("setencode", |_, _, encoding: String| {
            match encoding.as_str() {
                "ai5" | "utf8" => Ok((Some(true), None)),
                _ => Ok((None, Some("invalid encoding"))),
            }
        });
        methods.add_method("digest", |lua, cert, algorithm: Option<String>| match cert
            .0
            .digest(algorithm.as_deref().unwrap_or("sha1"))
        {
            Ok(hex) => (Value::String(lua.create_string(hex)?), Value::Nil).into_lua_multi(lua),
            Err(error) => (Value::Nil, message(&error)).into_lua_multi(lua),
        });
        // LuaSec's shape: { ["2.5.29.17"] = { name = ..., dNSName = { ... }, ... } }.
        methods.add_method("extensions", |lua, cert, ()| {
            let extensions = lua.create_table()?;
            if !cert.0.alt_names.is_empty() {
                let names = lua.create_table()?;
                names.set("name", "X509v3 Subject Alternative Name")?;
                for (kind, value) in &cert.0.alt_names {
                    let list = match names.get::<Option<Table>>(*kind)? {
                        Some(list) => list,
                        None => {
                            let list = lua.create_table()?;
                            names.set(*kind, list.clone())?;
                            list
                        }
                    };
                    list.push(value.as_str())?;
                }
                extensions.set("2.5.29.17", names)?;
            }
            Ok(extensions)
        });
        methods.add_meta_method("__tostring", |_, cert, ()| {
            Ok(format!("X509 certificate: {:p}", Rc::as_ptr(&cert.0)))
        });
        methods.add_meta_method("__eq", |_, cert, other: AnyUserData| {
            Ok(other
                .borrow::<SslCertificate>()
                .is_ok_and(|other| other.0.der == cert.0.der))
        });
    }
}

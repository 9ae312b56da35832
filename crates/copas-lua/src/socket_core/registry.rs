//! Where the Rust sockets behind Lua socket objects live.
//!
//! A Lua socket object is a bare userdata with one of our class metatables (plain
//! tables, so `getmetatable(s).__index` is the methods table, as LuaSocket, LuaSec and
//! Copas expect; mlua's own userdata hide their metatable). The socket itself is kept
//! here, keyed by the userdata's address, which is unique while the object lives;
//! `__gc` removes the entry, closing the descriptor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use copas_sched::Source;
use luasocket_core::{TcpSocket, UdpSocket};
use mlua::{AnyUserData, Lua, Result, Table, Value};

/// The socket of one Lua object.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpSocket),
    Udp(UdpSocket),
}

/// One Lua socket object's Rust side.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) socket: Socket,
    /// The descriptor's registration with the Copas reactor, if a Copas thread has
    /// waited on it: removed before the descriptor is closed.
    pub(crate) source: Option<Source>,
}

/// All live socket objects of a Lua state.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    entries: HashMap<usize, Entry>,
}

/// The registry, and the objects collected while it could not be touched.
///
/// `__gc` runs inside whatever Lua allocation triggered the collector, possibly while
/// Rust code holds the registry or the dispatcher borrowed. So `__gc` only queues the
/// key here; the queue is emptied at the next safe point ([`drain`]).
#[derive(Debug, Default)]
pub(crate) struct Sockets {
    pub(crate) registry: RefCell<Registry>,
    graveyard: RefCell<Vec<usize>>,
}

pub(crate) type SharedRegistry = Rc<Sockets>;

/// The key of a userdata: its address.
pub(crate) fn key_of(object: &AnyUserData) -> usize {
    object.to_pointer() as usize
}

impl Registry {
    pub(crate) fn insert(&mut self, key: usize, socket: Socket) {
        self.entries.insert(
            key,
            Entry {
                socket,
                source: None,
            },
        );
    }

    pub(crate) fn get(&self, key: usize) -> Option<&Entry> {
        self.entries.get(&key)
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut Entry> {
        self.entries.get_mut(&key)
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<Entry> {
        self.entries.remove(&key)
    }
}

/// Queues a collected object (its `__gc`). Borrows nothing but the queue.
pub(crate) fn bury(lua: &Lua, key: usize) {
    if let Some(sockets) = lua.app_data_ref::<SharedRegistry>() {
        sockets.graveyard.borrow_mut().push(key);
    }
}

/// Closes the sockets of collected objects: out of the Copas reactor first, then
/// closed. Call it where neither the registry nor the dispatcher is borrowed.
pub(crate) fn drain(lua: &Lua) {
    let Some(sockets) = lua.app_data_ref::<SharedRegistry>().map(|s| s.clone()) else {
        return;
    };
    let keys = std::mem::take(&mut *sockets.graveyard.borrow_mut());
    if keys.is_empty() {
        return;
    }
    let entries: Vec<Entry> = {
        let mut registry = sockets.registry.borrow_mut();
        keys.iter()
            .filter_map(|key| registry.remove(*key))
            .collect()
    };
    let sources: Vec<Source> = entries.iter().filter_map(|entry| entry.source).collect();
    if !sources.is_empty() {
        if let Some(dispatcher) = lua.app_data_ref::<crate::copas_core::SharedDispatcher>() {
            let mut dispatcher = dispatcher.borrow_mut();
            for source in sources {
                dispatcher.scheduler.deregister(source);
            }
        }
    }
    drop(entries);
}

/// The registry of this Lua state (created on first use).
pub(crate) fn registry(lua: &Lua) -> SharedRegistry {
    if let Some(existing) = lua.app_data_ref::<SharedRegistry>() {
        return existing.clone();
    }
    let created = SharedRegistry::default();
    lua.set_app_data(created.clone());
    created
}

/// Creates a bare userdata whose metatable is `metatable`.
pub(crate) fn new_object(lua: &Lua, metatable: &Table) -> Result<AnyUserData> {
    // SAFETY: the closure runs in protected mode with `metatable` pushed as its only
    // argument; it leaves exactly one value (the new userdata) on the stack, as
    // exec_raw expects, and touches nothing else.
    unsafe {
        lua.exec_raw::<AnyUserData>(metatable, |state| {
            // One byte keeps every object at its own address, whatever the allocator.
            mlua::ffi::lua_newuserdata(state, 1);
            mlua::ffi::lua_pushvalue(state, -2);
            mlua::ffi::lua_setmetatable(state, -2);
            mlua::ffi::lua_remove(state, -2);
        })
    }
}

/// Replaces an object's metatable (its class changes: master to client or server,
/// unconnected to connected).
pub(crate) fn set_class(lua: &Lua, object: &AnyUserData, metatable: &Table) -> Result<()> {
    // SAFETY: two arguments are pushed (the userdata and the table); the closure sets
    // the metatable of the first from the second and pops both, leaving no results.
    unsafe {
        lua.exec_raw::<()>((Value::UserData(object.clone()), metatable), |state| {
            mlua::ffi::lua_setmetatable(state, -2);
            mlua::ffi::lua_pop(state, 1);
        })
    }
}

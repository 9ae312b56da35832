//! Socket objects with LuaSocket's classes.
//!
//! LuaSocket gives each class (`tcp{master}`, `tcp{client}`, ...) its own metatable,
//! registered under the class name, and changes an object's metatable when its class
//! changes (`connect` turns a master into a client). Scripts rely on that:
//! `getmetatable(s).__index` is a plain table of methods (LuaSec copies it),
//! `s.class` names the current class, and `tostring(s)` starts with it. mlua's own
//! userdata have one protected metatable per Rust type, so these objects are built
//! here directly: a full userdata holding a [`Slot`], with metatables we own.
//!
//! Methods are plain Lua functions (shared by the classes' `__index` tables) that
//! find the Rust value through a weak-keyed table mapping each live object to its
//! slot's address. An object not found there is not one of ours, which gives
//! LuaSocket's `tcp{client} expected` errors. `__gc` is a C function that drops the
//! value; it touches nothing but the object, so it is safe while the state closes.

use crate::lua_api::c_void;
use std::cell::RefMut;
use std::marker::PhantomData;
use std::rc::Rc;

use mlua::{AnyUserData, Function, LightUserData, Lua, MultiValue, Table, Value};

use crate::lua_api::userdata::{finalizer, new_slot, set_metatable, slot_from_address};
use crate::lua_api::{gc, Slot};

pub(crate) mod args;
pub(crate) mod raise;

use args::Args;
use raise::{argument, Outcome};

/// A kind of socket object (TCP or UDP) and its classes.
pub(crate) trait SocketClass: Sized + 'static {
    /// Class names by class number, as LuaSocket names them.
    const CLASSES: &'static [&'static str];
    /// The group every class belongs to (`"tcp{any}"`), named in errors.
    const ANY: &'static str;
    /// Groups marked `true` in every class's metatable.
    const GROUPS: &'static [&'static str];

    /// The object's current class number.
    fn class(&self) -> usize;
}

/// What LuaSocket's socket userdata weighs (its receive buffer is inside it), in KiB:
/// each new object of ours steps Lua's collector by as much, so dropped objects are
/// collected, and their descriptors closed, at LuaSocket's pace.
const LUASOCKET_OBJECT_KB: i32 = 8;

/// The methods of a kind, by name, as [`Kind::fill`] takes them.
pub(crate) type MethodTable = Vec<(&'static str, Function)>;

/// What makes a kind's methods for a Lua state.
pub(crate) type MethodsOf<T> = fn(&Lua, &Rc<Kind<T>>) -> mlua::Result<MethodTable>;

/// Which objects a method accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Require {
    /// Any class of the kind (`tcp{any}`).
    Any,
    /// Only this class number.
    Class(usize),
}

/// The metatables of one kind of object and the table of its live objects.
#[derive(Debug)]
pub(crate) struct Kind<T> {
    metatables: Vec<Table>,
    live: Table,
    kind: PhantomData<T>,
}

/// What a method body sees besides the object itself.
pub(crate) struct Call<'a, T> {
    pub(crate) lua: &'a Lua,
    pub(crate) kind: &'a Kind<T>,
    pub(crate) args: &'a Args,
    address: *const c_void,
}

impl<T> Call<'_, T> {
    /// The address LuaSocket prints in `tostring`.
    pub(crate) fn address(&self) -> *const c_void {
        self.address
    }
}

impl<T: SocketClass> Kind<T> {
    /// The kind's tables for this Lua state, created (with empty metatables) on first
    /// use. `fill` must then be called once with the methods.
    pub(crate) fn for_state(lua: &Lua) -> mlua::Result<(Rc<Self>, bool)> {
        if let Some(kind) = lua.app_data_ref::<Rc<Kind<T>>>() {
            return Ok((Rc::clone(&kind), false));
        }
        let live = lua.create_table()?;
        let weak_keys = lua.create_table()?;
        weak_keys.raw_set("__mode", "k")?;
        live.set_metatable(Some(weak_keys))?;
        let metatables = T::CLASSES
            .iter()
            .map(|_| lua.create_table())
            .collect::<mlua::Result<Vec<_>>>()?;
        let kind = Rc::new(Kind {
            metatables,
            live,
            kind: PhantomData,
        });
        lua.set_app_data(Rc::clone(&kind));
        Ok((kind, true))
    }

    /// Fills the class metatables: `__index` (the methods and `class`), `__gc`,
    /// `__tostring`, `__name` and the group flags, and registers each under its class
    /// name as `luaL_newmetatable` does.
    pub(crate) fn fill(
        &self,
        lua: &Lua,
        methods: &[(&str, Function)],
        tostring: Function,
    ) -> mlua::Result<()> {
        let finalizer = finalizer::<T>(lua, self.live.clone())?;
        for (metatable, class) in self.metatables.iter().zip(T::CLASSES) {
            let index = lua.create_table()?;
            for (name, method) in methods {
                index.raw_set(*name, method.clone())?;
            }
            index.raw_set("class", *class)?;
            metatable.raw_set("__index", index)?;
            metatable.raw_set("__gc", finalizer.clone())?;
            metatable.raw_set("__tostring", tostring.clone())?;
            metatable.raw_set("__name", *class)?;
            for group in T::GROUPS {
                metatable.raw_set(*group, true)?;
            }
            lua.set_named_registry_value(class, metatable.clone())?;
        }
        Ok(())
    }

    /// Makes a new Lua object holding `object`, in its current class.
    pub(crate) fn push(&self, lua: &Lua, object: T) -> mlua::Result<AnyUserData> {
        let metatable = self.metatables[object.class()].clone();
        let (userdata, address) = new_slot(lua, metatable, object)?;
        self.live.raw_set(&userdata, address)?;
        gc::account(lua, LUASOCKET_OBJECT_KB)?;
        Ok(userdata)
    }

    /// The slot of `userdata` if it is a live object of this kind.
    pub(crate) fn slot<'a>(&self, userdata: &'a AnyUserData) -> Option<&'a Slot<T>> {
        let Ok(Value::LightUserData(LightUserData(address))) = self.live.raw_get::<Value>(userdata)
        else {
            return None;
        };
        // SAFETY: `live` maps only userdata made by `push` (new_slot with T) to their
        // slot's address, and `userdata` keeps the object reachable for 'a.
        unsafe { slot_from_address(address) }
    }

    /// The weak-keyed table mapping each live object to its slot's address, which
    /// debug builds check the hot path's recognition against.
    pub(crate) fn live(&self) -> &Table {
        &self.live
    }

    /// The metatables of the kind's classes, by which C functions on the hot path
    /// recognise its objects ([`slot_at`](crate::lua_api::userdata::slot_at)).
    pub(crate) fn class_metatables(&self) -> &[Table] {
        &self.metatables
    }

    /// Gives `userdata` the metatable of `class` (LuaSocket's `auxiliar_setclass`).
    fn set_class(&self, lua: &Lua, userdata: &AnyUserData, class: usize) -> mlua::Result<()> {
        set_metatable(lua, userdata, self.metatables[class].clone())
    }

    /// Makes a method: checks that argument 1 is an object of this kind in an allowed
    /// class (raising LuaSocket's `tcp{client} expected` otherwise), runs `body`, and
    /// moves the object to its new metatable if `body` changed its class.
    pub(crate) fn method<F>(
        self: &Rc<Self>,
        lua: &Lua,
        require: Require,
        body: F,
    ) -> mlua::Result<Function>
    where
        F: Fn(&mut T, &Call<'_, T>) -> Outcome + 'static,
    {
        let kind = Rc::clone(self);
        raise::function(lua, move |lua, values: MultiValue| {
            let args = Args::new(values);
            let expected = || {
                let name = match require {
                    Require::Any => T::ANY,
                    Require::Class(class) => T::CLASSES[class],
                };
                argument(1, format!("{name} expected"))
            };
            let Some(Value::UserData(userdata)) = args.get(1) else {
                return Err(expected());
            };
            let Some(slot) = kind.slot(userdata) else {
                return Err(expected());
            };
            let Some(mut object) = slot.borrow_mut() else {
                return Err(expected());
            };
            let before = object.class();
            if let Require::Class(class) = require {
                if before != class {
                    return Err(expected());
                }
            }
            let call = Call {
                lua,
                kind: &kind,
                args: &args,
                address: (slot as *const Slot<T>).cast(),
            };
            let outcome = body(&mut object, &call);
            let after = object.class();
            drop(object);
            if after != before {
                kind.set_class(lua, userdata, after)?;
            }
            outcome
        })
    }
}

/// Borrows the value of a socket object of kind `T`, or `None` if `userdata` is not
/// a live one (or its value is borrowed already).
pub(crate) fn borrow<'a, T: SocketClass>(
    lua: &Lua,
    userdata: &'a AnyUserData,
) -> Option<RefMut<'a, T>> {
    let kind = lua.app_data_ref::<Rc<Kind<T>>>()?;
    kind.slot(userdata)?.borrow_mut()
}

/// `tostring` of a socket object: `tcp{client}: 0x55d0c4a3b2a8`.
pub(crate) fn tostring<T: SocketClass>(kind: &Rc<Kind<T>>, lua: &Lua) -> mlua::Result<Function> {
    kind.method(lua, Require::Any, |object, call| {
        let text = format!("{}: {:p}", T::CLASSES[object.class()], call.address());
        Ok(MultiValue::from_vec(vec![Value::String(
            call.lua.create_string(text)?,
        )]))
    })
}

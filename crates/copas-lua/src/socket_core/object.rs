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

use std::cell::{RefCell, RefMut};
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;

use mlua::{ffi, AnyUserData, Function, LightUserData, Lua, MultiValue, Table, Value};

pub(crate) mod args;
pub(crate) mod raise;

use args::Args;
use raise::{argument, Outcome};

/// Lua's alignment guarantee for userdata memory on the platforms we build for.
const USERDATA_ALIGN: usize = 8;

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

/// The Rust value inside a socket userdata; empty once the object was finalized.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    value: RefCell<Option<T>>,
}

impl<T> Slot<T> {
    /// Borrows the value, or `None` if it was finalized or is borrowed already.
    pub(crate) fn borrow_mut(&self) -> Option<RefMut<'_, T>> {
        let guard = self.value.try_borrow_mut().ok()?;
        RefMut::filter_map(guard, Option::as_mut).ok()
    }
}

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
        // SAFETY: the closure pushes a C closure over the one argument (the live
        // table) and owns nothing, so an allocation error skips no destructor.
        let finalizer = unsafe {
            lua.exec_raw::<Function>(self.live.clone(), |state| {
                ffi::lua_pushcclosure(state, finalize::<T>, 1);
            })?
        };
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
        const { assert!(std::mem::align_of::<Slot<T>>() <= USERDATA_ALIGN) };
        let metatable = self.metatables[object.class()].clone();
        let slot = ManuallyDrop::new(Slot {
            value: RefCell::new(Some(object)),
        });
        // SAFETY: the new userdata has room for a Slot<T> and Lua aligns userdata memory
        // to USERDATA_ALIGN (checked above); the slot is written before anything else
        // can see the memory. Only lua_newuserdata can raise (out of memory), before the
        // slot leaves its ManuallyDrop, which has no destructor: the object then leaks
        // instead of being dropped twice. Stack: [metatable] -> [userdata, address].
        let (userdata, address) = unsafe {
            lua.exec_raw::<(AnyUserData, LightUserData)>(metatable, move |state| {
                let memory =
                    ffi::lua_newuserdata(state, std::mem::size_of::<Slot<T>>()).cast::<Slot<T>>();
                memory.write(ManuallyDrop::into_inner(slot));
                ffi::lua_pushvalue(state, 1);
                ffi::lua_setmetatable(state, -2);
                ffi::lua_pushlightuserdata(state, memory.cast::<c_void>());
                ffi::lua_remove(state, 1);
            })?
        };
        self.live.raw_set(&userdata, address)?;
        Ok(userdata)
    }

    /// The slot of `userdata` if it is a live object of this kind.
    pub(crate) fn slot<'a>(&self, userdata: &'a AnyUserData) -> Option<&'a Slot<T>> {
        let Ok(Value::LightUserData(LightUserData(address))) = self.live.raw_get::<Value>(userdata)
        else {
            return None;
        };
        // SAFETY: `live` maps only userdata made by `push` to the address of the Slot<T>
        // written into them. Lua never moves userdata memory and frees it only after the
        // object is unreachable, while `userdata` holds a reference for 'a.
        (!address.is_null()).then(|| unsafe { &*address.cast_const().cast::<Slot<T>>() })
    }

    /// The weak-keyed table mapping each live object to its slot's address, for C
    /// functions that look objects up themselves ([`slot_at`]).
    pub(crate) fn live(&self) -> &Table {
        &self.live
    }

    /// Gives `userdata` the metatable of `class` (LuaSocket's `auxiliar_setclass`).
    fn set_class(&self, lua: &Lua, userdata: &AnyUserData, class: usize) -> mlua::Result<()> {
        let metatable = self.metatables[class].clone();
        // SAFETY: stack [userdata, metatable]; lua_setmetatable pops the metatable and
        // cannot raise; nothing is left on the stack.
        unsafe {
            lua.exec_raw::<()>((userdata.clone(), metatable), |state| {
                ffi::lua_setmetatable(state, 1);
                ffi::lua_settop(state, 0);
            })
        }
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

/// The slot of the value at stack `index` if it is a live object of kind `T`, for C
/// functions on the hot path (the mlua route through [`borrow`] costs far more).
///
/// # Safety
/// `state` is a running C function's state with a free stack slot, `index` a valid
/// absolute index, and `live` the index (e.g. an upvalue) of `Kind::<T>::live()`.
/// The slot stays valid while the object is on the stack.
pub(crate) unsafe fn slot_at<'a, T>(
    state: *mut ffi::lua_State,
    index: c_int,
    live: c_int,
) -> Option<&'a Slot<T>> {
    // SAFETY: per the contract; lua_rawget cannot raise (no metamethods) and leaves
    // one value, popped again below. `live` maps only userdata made by `push` to the
    // address of the Slot<T> written into them (see `Kind::slot`).
    unsafe {
        if ffi::lua_type(state, index) != ffi::LUA_TUSERDATA {
            return None;
        }
        ffi::lua_pushvalue(state, index);
        ffi::lua_rawget(state, live);
        let address = ffi::lua_touserdata(state, -1);
        ffi::lua_settop(state, -2);
        (!address.is_null()).then(|| &*address.cast_const().cast::<Slot<T>>())
    }
}

/// `__gc` of every class of kind `T`; upvalue 1 is the kind's live table.
unsafe extern "C-unwind" fn finalize<T: SocketClass>(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as __gc with the object at index 1; the stack has room for
    // the two values pushed. The slot is only dropped if the live table maps this very
    // userdata to this address, i.e. it was made by `push` with a Slot<T>.
    unsafe {
        let address = ffi::lua_touserdata(state, 1);
        if address.is_null() {
            return 0;
        }
        ffi::lua_pushvalue(state, 1);
        ffi::lua_rawget(state, ffi::lua_upvalueindex(1));
        let registered = ffi::lua_touserdata(state, -1);
        ffi::lua_settop(state, 1);
        if registered != address {
            return 0;
        }
        let slot = &*address.cast_const().cast::<Slot<T>>();
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if let Ok(mut value) = slot.value.try_borrow_mut() {
                value.take();
            }
        }));
    }
    0
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

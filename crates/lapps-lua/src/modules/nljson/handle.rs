//! The userdata Lua holds: a document, or a reference into one. Both are a [`Handle`] on a
//! [`Tree`], so they behave the same everywhere.

use std::ops::Bound;
use std::rc::Rc;

use mlua::{
    AnyUserData, Either, FromLua, IntoLuaMulti, Lua, MetaMethod, MultiValue, UserData,
    UserDataFields, UserDataRef,
};

use super::convert::{array_index, assignment_key, lua_to_node, node_to_lua, node_to_result};
use super::tree::{Body, Tree, discard};
use super::{Wrapper, fail, raising, raising_as};

/// An `nljson` value in Lua: the root of a document, or a reference to an array or object
/// inside one. It owns an `Rc` on its node, which keeps the node alive.
#[derive(Debug)]
pub(crate) struct Handle {
    tree: Rc<Tree>,
}

impl Handle {
    /// A new userdata on `tree`.
    pub(crate) fn create(lua: &Lua, tree: Rc<Tree>) -> mlua::Result<AnyUserData> {
        lua.create_userdata(Self { tree })
    }

    /// The tree of an `nljson` userdata; `None` for any other userdata. The tree may be
    /// detached: callers [`check`](Tree::check) it.
    pub(crate) fn tree_of(data: &AnyUserData) -> Option<Rc<Tree>> {
        data.borrow::<Self>().ok().map(|handle| handle.tree.clone())
    }

    /// The tree of an `nljson` userdata, raising if it is foreign or detached.
    fn live_data(data: &AnyUserData) -> mlua::Result<Rc<Tree>> {
        let tree = Self::tree_of(data).ok_or_else(|| fail("not an nljson value"))?;
        tree.check()?;
        Ok(tree)
    }

    /// The handle's tree, raising if it was detached.
    pub(crate) fn live(&self) -> mlua::Result<&Rc<Tree>> {
        self.tree.check()?;
        Ok(&self.tree)
    }

    /// Appends the CBOR of the handle's node, as [`Tree::encode`] does.
    pub(crate) fn encode(&self, enclosing: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
        self.tree.encode(enclosing, out)
    }

    /// The tree of a metamethod's first argument, raising as [`live`](Self::live) does, and
    /// as mlua does for a value that is no userdata.
    fn live_subject(lua: &Lua, subject: Subject) -> mlua::Result<Rc<Tree>> {
        match subject {
            Either::Left(handle) => handle.live().map(Rc::clone),
            Either::Right(value) => Self::live_data(&userdata(lua, value)?),
        }
    }
}

/// The value a metamethod is called on. A handle is borrowed straight from the Lua stack, with
/// no reference to it kept in mlua's registry thread; anything else is taken as a value, to
/// raise what it raised before.
pub(crate) type Subject = Either<UserDataRef<Handle>, mlua::Value>;

impl UserData for Handle {
    /// Metamethods are Lua functions made by [`raising`], so misuse raises a plain string
    /// as LAppS does, rather than an mlua error object.
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field(MetaMethod::Type, "nljson");
        fields.add_meta_field_with(MetaMethod::Index, |lua| {
            raising_as(lua, Wrapper::Index, "nljson", index)
        });
        fields.add_meta_field_with(MetaMethod::NewIndex, |lua| {
            raising_as(lua, Wrapper::Mutating, "nljson", new_index)
        });
        fields.add_meta_field_with(MetaMethod::Len, |lua| {
            raising(lua, "nljson", |lua, data: mlua::Value| {
                len(&userdata(lua, data)?)
            })
        });
        fields.add_meta_field_with(MetaMethod::ToString, |lua| {
            raising(lua, "nljson", |lua, data: mlua::Value| {
                to_string(&userdata(lua, data)?)
            })
        });
    }
}

/// The userdata a metamethod is called on, converted as mlua converts arguments (the
/// metamethods take plain values, which cross without an allocation).
fn userdata(lua: &Lua, value: mlua::Value) -> mlua::Result<AnyUserData> {
    AnyUserData::from_lua(value, lua)
}

/// `__index`: a member by string, an element by 1-based index; anything else is absent.
fn index(
    lua: &Lua,
    (data, key): (Subject, mlua::Value),
) -> mlua::Result<Either<String, mlua::Value>> {
    let tree = Handle::live_subject(lua, data)?;
    let body = tree.borrow()?;
    let node = match (&*body, &key) {
        (Body::Object(members), mlua::Value::String(name)) => {
            name.to_str().ok().and_then(|name| members.get(&*name))
        }
        (Body::Array(items), key) => array_index(key).and_then(|index| items.get(index)),
        _ => None,
    };
    node.map_or(Ok(Either::Right(mlua::Value::Nil)), |node| {
        node_to_result(lua, node)
    })
}

/// `__newindex`: stores a deep copy of the value; what it replaces is detached.
fn new_index(
    lua: &Lua,
    (data, key, value): (mlua::Value, mlua::Value, mlua::Value),
) -> mlua::Result<mlua::Value> {
    let tree = Handle::live_data(&userdata(lua, data)?)?;
    let key = assignment_key(&key)?;
    let node = lua_to_node(lua, &value)?;
    if let Some(old) = tree.set(key, node)? {
        discard(old);
    }
    Ok(mlua::Value::Nil)
}

/// `__len`: the element or member count, 0 for scalars.
fn len(data: &AnyUserData) -> mlua::Result<usize> {
    Handle::live_data(data)?.len()
}

/// `__tostring`: compact JSON.
fn to_string(data: &AnyUserData) -> mlua::Result<String> {
    super::json_text(&Handle::live_data(data)?.to_value(0)?, None)
}

/// The iteration step behind `foreach` and `traverse`: the entry after `previous` (`nil`
/// for the first) as `true, key, value`, `true` alone at the end, or `false, message`.
///
/// Reading one entry per call and never holding a borrow across calls keeps iteration safe
/// when the callback changes the container: members added after the current key are
/// visited, removed ones are not.
pub(crate) fn step(
    lua: &Lua,
    (data, previous): (AnyUserData, mlua::Value),
) -> mlua::Result<MultiValue> {
    let tree = match Handle::live_data(&data) {
        Ok(tree) => tree,
        Err(error) => return (false, error.to_string()).into_lua_multi(lua),
    };
    let body = tree.borrow()?;
    let entry = match (&*body, &previous) {
        (Body::Object(members), mlua::Value::Nil) => members.iter().next(),
        (Body::Object(members), mlua::Value::String(name)) => match name.to_str() {
            Ok(name) => members
                .range::<str, _>((Bound::Excluded(&*name), Bound::Unbounded))
                .next(),
            Err(_) => None,
        },
        (Body::Array(items), previous) => {
            let next = match previous {
                mlua::Value::Nil => Some(0),
                previous => array_index(previous).map(|index| index.saturating_add(1)),
            };
            return match next.and_then(|index| Some((index, items.get(index)?))) {
                Some((index, item)) => {
                    let value = node_to_lua(lua, item)?;
                    (true, index.saturating_add(1), value).into_lua_multi(lua)
                }
                None => true.into_lua_multi(lua),
            };
        }
        _ => None,
    };
    match entry {
        Some((name, member)) => {
            let value = node_to_lua(lua, member)?;
            (true, name.as_str(), value).into_lua_multi(lua)
        }
        None => true.into_lua_multi(lua),
    }
}

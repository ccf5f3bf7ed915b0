//! The document tree behind `nljson` userdata.
//!
//! Every array and object is a [`Tree`] behind an [`Rc`], so a reference (a userdata holding
//! one of those `Rc`s) keeps its node alive whatever the order of garbage collection. Each
//! node has exactly one parent: assignments deep-copy, so there is no sharing and no cycle.
//!
//! A node taken out of its parent (erased or replaced) is *detached*: it and every node under
//! it are flagged and emptied at once, so a reference that still holds one of them raises on
//! use instead of showing data that is no longer in the document, and the memory goes back
//! without waiting for the references to be collected.
//!
//! No borrow of a [`Tree`] is ever held while Lua code runs: callers borrow, read or write,
//! and release before they return to Lua. That is why `try_borrow` cannot fail in practice;
//! it is still checked, so a bug would raise instead of panicking.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::BTreeMap;
use std::mem;
use std::rc::Rc;

use lapps_proto::lapps::cbor;

use super::{MAX_DEPTH, MAX_PADDING, fail};
use crate::{Number, Value};

/// A value in a document. Arrays and objects are shared [`Tree`]s; scalars are inline.
#[derive(Debug)]
pub(crate) enum Node {
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer or a float.
    Number(Number),
    /// A UTF-8 string.
    String(String),
    /// A CBOR byte string.
    Binary(Vec<u8>),
    /// An array or an object.
    Tree(Rc<Tree>),
}

/// A node that references can address: an array or object, or the root of a document.
#[derive(Debug)]
pub(crate) struct Tree {
    /// Set when the node left its document (spec §3.10, "Lifetime").
    detached: Cell<bool>,
    body: RefCell<Body>,
}

/// What a [`Tree`] holds.
#[derive(Debug)]
pub(crate) enum Body {
    /// A document whose top-level value is a scalar (never a [`Node::Tree`]). Only a root
    /// holds one; assigning a key or an index to a null root turns it into a container.
    Scalar(Node),
    /// An array.
    Array(Vec<Node>),
    /// An object, members ordered by key in byte order.
    Object(BTreeMap<String, Node>),
}

/// Where an assignment goes.
#[derive(Debug)]
pub(crate) enum Key {
    /// An object member.
    Member(String),
    /// An array element, 0-based.
    Index(usize),
}

impl Node {
    /// Converts a decoded value, moving its strings rather than copying them.
    pub(crate) fn from_value(value: Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(b),
            Value::Number(n) => Self::Number(n),
            Value::String(s) => Self::String(s),
            Value::Binary(b) => Self::Binary(b),
            Value::Array(items) => Self::Tree(Tree::shared(Body::array(items))),
            Value::Object(members) => Self::Tree(Tree::shared(Body::object(members))),
        }
    }

    /// A deep copy: a new node that shares nothing with this one. `level` is the number of
    /// arrays and objects around it.
    fn copy(&self, level: usize) -> mlua::Result<Self> {
        Ok(match self {
            Self::Tree(tree) => Self::Tree(Tree::shared(tree.copy_body(level + 1)?)),
            scalar => scalar.copy_scalar(),
        })
    }

    /// A copy of a node that is not a [`Node::Tree`] (those become null).
    fn copy_scalar(&self) -> Self {
        match self {
            Self::Null | Self::Tree(_) => Self::Null,
            Self::Bool(b) => Self::Bool(*b),
            Self::Number(n) => Self::Number(*n),
            Self::String(s) => Self::String(s.clone()),
            Self::Binary(b) => Self::Binary(b.clone()),
        }
    }

    /// The node as a document value (a deep copy). `level` is the number of arrays and
    /// objects around it.
    fn to_value(&self, level: usize) -> mlua::Result<Value> {
        Ok(match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => Value::Number(*n),
            Self::String(s) => Value::String(s.clone()),
            Self::Binary(b) => Value::Binary(b.clone()),
            Self::Tree(tree) => tree.body_to_value(level + 1)?,
        })
    }

    /// Appends the CBOR of [`to_value`](Self::to_value)`(level)`, with the same limit.
    fn encode(&self, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
        match self {
            Self::Null => out.push(cbor::NULL),
            Self::Bool(false) => out.push(cbor::FALSE),
            Self::Bool(true) => out.push(cbor::TRUE),
            Self::Number(n) => cbor::encode_number(*n, out),
            Self::String(s) => cbor::encode_text(s, out),
            Self::Binary(b) => cbor::encode_bytes(b, out),
            Self::Tree(tree) => tree.encode_body(level + 1, out)?,
        }
        Ok(())
    }

    /// The `nljson.typename` of the node.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "boolean",
            Self::Number(_) => "number",
            Self::String(_) => "string",
            Self::Binary(_) => "binary",
            Self::Tree(tree) => tree.type_name(),
        }
    }
}

impl Tree {
    /// The root of a new, independent document holding `value`.
    pub(crate) fn root(value: Value) -> Rc<Self> {
        Self::shared(match value {
            Value::Array(items) => Body::array(items),
            Value::Object(members) => Body::object(members),
            scalar => Body::Scalar(Node::from_value(scalar)),
        })
    }

    fn shared(body: Body) -> Rc<Self> {
        Rc::new(Self {
            detached: Cell::new(false),
            body: RefCell::new(body),
        })
    }

    /// Stores `node` at `key` and returns what it replaced. A null root becomes an object or
    /// an array; a key that does not fit the node raises.
    pub(crate) fn set(&self, key: Key, node: Node) -> mlua::Result<Option<Node>> {
        let mut body = self.borrow_mut()?;
        match (&mut *body, key) {
            (Body::Object(members), Key::Member(name)) => Ok(members.insert(name, node)),
            (Body::Array(items), Key::Index(index)) => Ok(set_element(items, index, node)?),
            (Body::Scalar(Node::Null), Key::Member(name)) => {
                *body = Body::Object(BTreeMap::from([(name, node)]));
                Ok(None)
            }
            (Body::Scalar(Node::Null), Key::Index(index)) => {
                let mut items = Vec::new();
                set_element(&mut items, index, node)?;
                *body = Body::Array(items);
                Ok(None)
            }
            (Body::Array(_), Key::Member(name)) => {
                Err(fail(format!("cannot set member \"{name}\" of an array")))
            }
            (Body::Object(_), Key::Index(index)) => Err(fail(format!(
                "cannot set index {} of an object",
                index.saturating_add(1)
            ))),
            (Body::Scalar(scalar), _) => Err(fail(format!(
                "cannot set a member or index of a {}",
                scalar.type_name()
            ))),
        }
    }

    /// Removes member `name` of an object; `None` if absent or not an object.
    pub(crate) fn remove_member(&self, name: &str) -> mlua::Result<Option<Node>> {
        Ok(match &mut *self.borrow_mut()? {
            Body::Object(members) => members.remove(name),
            _ => None,
        })
    }

    /// Removes element `index` (0-based) of an array, shifting later ones down; `None` if
    /// out of range or not an array.
    pub(crate) fn remove_element(&self, index: usize) -> mlua::Result<Option<Node>> {
        Ok(match &mut *self.borrow_mut()? {
            Body::Array(items) if index < items.len() => Some(items.remove(index)),
            _ => None,
        })
    }

    /// Raises if the node left its document.
    pub(crate) fn check(&self) -> mlua::Result<()> {
        if self.detached.get() {
            Err(fail(
                "the node this reference addresses was erased or replaced",
            ))
        } else {
            Ok(())
        }
    }

    /// Reads the body. Callers check [`detached`](Self::check) first where it matters.
    pub(crate) fn borrow(&self) -> mlua::Result<Ref<'_, Body>> {
        self.body
            .try_borrow()
            .map_err(|_| fail("the document is being modified"))
    }

    fn borrow_mut(&self) -> mlua::Result<RefMut<'_, Body>> {
        self.body
            .try_borrow_mut()
            .map_err(|_| fail("the document is in use"))
    }

    /// The node as a document value (a deep copy), itself inside `enclosing` arrays and
    /// objects (or tables) that count toward [`MAX_DEPTH`].
    pub(crate) fn to_value(&self, enclosing: usize) -> mlua::Result<Value> {
        self.check()?;
        self.body_to_value(enclosing + 1)
    }

    /// Appends the CBOR of [`to_value`](Self::to_value)`(enclosing)`, failing where it fails,
    /// without building the value.
    pub(crate) fn encode(&self, enclosing: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
        self.check()?;
        self.encode_body(enclosing + 1, out)
    }

    /// A deep copy of the node, to be stored in another one.
    pub(crate) fn to_node(&self) -> mlua::Result<Node> {
        self.check()?;
        Ok(match self.copy_body(1)? {
            Body::Scalar(scalar) => scalar,
            body => Node::Tree(Self::shared(body)),
        })
    }

    /// The `nljson.typename` of the node.
    pub(crate) fn type_name(&self) -> &'static str {
        match self.body.try_borrow().as_deref() {
            Ok(Body::Scalar(scalar)) => scalar.type_name(),
            Ok(Body::Array(_)) => "array",
            Ok(Body::Object(_)) => "object",
            // Only reachable while the body is being written, which never overlaps a read.
            Err(_) => "null",
        }
    }

    /// The element or member count; 0 for scalars.
    pub(crate) fn len(&self) -> mlua::Result<usize> {
        Ok(match &*self.borrow()? {
            Body::Scalar(_) => 0,
            Body::Array(items) => items.len(),
            Body::Object(members) => members.len(),
        })
    }

    /// The body as a value; `level` counts this node if it is an array or an object.
    fn body_to_value(&self, level: usize) -> mlua::Result<Value> {
        if level > MAX_DEPTH {
            return Err(too_deep());
        }
        Ok(match &*self.borrow()? {
            Body::Scalar(scalar) => scalar.to_value(level)?,
            Body::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.to_value(level))
                    .collect::<mlua::Result<_>>()?,
            ),
            Body::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(name, member)| Ok((name.clone(), member.to_value(level)?)))
                    .collect::<mlua::Result<_>>()?,
            ),
        })
    }

    /// Appends the CBOR of [`body_to_value`](Self::body_to_value)`(level)`.
    fn encode_body(&self, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
        if level > MAX_DEPTH {
            return Err(too_deep());
        }
        match &*self.borrow()? {
            Body::Scalar(scalar) => scalar.encode(level, out)?,
            Body::Array(items) => {
                cbor::encode_head(out, cbor::ARRAY, items.len() as u64);
                for item in items {
                    item.encode(level, out)?;
                }
            }
            // Members are in key order already, as the encoding wants them.
            Body::Object(members) => {
                cbor::encode_head(out, cbor::MAP, members.len() as u64);
                for (name, member) in members {
                    cbor::encode_text(name, out);
                    member.encode(level, out)?;
                }
            }
        }
        Ok(())
    }

    /// A copy of the body; `level` counts this node if it is an array or an object.
    fn copy_body(&self, level: usize) -> mlua::Result<Body> {
        if level > MAX_DEPTH {
            return Err(too_deep());
        }
        Ok(match &*self.borrow()? {
            Body::Scalar(scalar) => Body::Scalar(scalar.copy_scalar()),
            Body::Array(items) => Body::Array(
                items
                    .iter()
                    .map(|item| item.copy(level))
                    .collect::<mlua::Result<_>>()?,
            ),
            Body::Object(members) => Body::Object(
                members
                    .iter()
                    .map(|(name, member)| Ok((name.clone(), member.copy(level)?)))
                    .collect::<mlua::Result<_>>()?,
            ),
        })
    }
}

impl Drop for Tree {
    /// Frees the subtree with an explicit stack: a document nested a million levels deep
    /// (built through references) must not overflow the thread's stack.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        mem::replace(self.body.get_mut(), Body::Scalar(Node::Null)).take_trees(&mut pending);
        while let Some(tree) = pending.pop() {
            if let Ok(mut tree) = Rc::try_unwrap(tree) {
                mem::replace(tree.body.get_mut(), Body::Scalar(Node::Null))
                    .take_trees(&mut pending);
                // `tree` drops here with an empty body.
            }
        }
    }
}

impl Body {
    fn array(items: Vec<Value>) -> Self {
        Self::Array(items.into_iter().map(Node::from_value).collect())
    }

    fn object(members: BTreeMap<String, Value>) -> Self {
        Self::Object(
            members
                .into_iter()
                .map(|(name, member)| (name, Node::from_value(member)))
                .collect(),
        )
    }

    /// Consumes the body, pushing the trees it held onto `out` and dropping the rest.
    fn take_trees(self, out: &mut Vec<Rc<Tree>>) {
        let push = |node| {
            if let Node::Tree(tree) = node {
                out.push(tree);
            }
        };
        match self {
            Self::Scalar(_) => {}
            Self::Array(items) => items.into_iter().for_each(push),
            Self::Object(members) => members.into_values().for_each(push),
        }
    }
}

/// Lets go of a node taken out of its document: if it is a tree, it and everything under it
/// are marked detached and emptied, so references to them raise from now on.
pub(crate) fn discard(node: Node) {
    let Node::Tree(tree) = node else {
        return;
    };
    let mut pending = vec![tree];
    while let Some(tree) = pending.pop() {
        tree.detached.set(true);
        if let Ok(mut body) = tree.body.try_borrow_mut() {
            mem::replace(&mut *body, Body::Scalar(Node::Null)).take_trees(&mut pending);
        }
    }
}

/// Stores `node` at `index` (0-based): replaces, appends, or pads with nulls first.
fn set_element(items: &mut Vec<Node>, index: usize, node: Node) -> mlua::Result<Option<Node>> {
    if let Some(slot) = items.get_mut(index) {
        return Ok(Some(mem::replace(slot, node)));
    }
    let padding = index - items.len();
    if padding > MAX_PADDING {
        return Err(fail(format!(
            "index {} would pad an array of {} elements with more than {MAX_PADDING} nulls",
            index.saturating_add(1),
            items.len()
        )));
    }
    items.resize_with(index, || Node::Null);
    items.push(node);
    Ok(None)
}

fn too_deep() -> mlua::Error {
    fail(format!(
        "arrays and objects nested deeper than {MAX_DEPTH} levels"
    ))
}

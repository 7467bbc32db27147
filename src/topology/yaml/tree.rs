//! The positioned tree both readers build: every value of the file in one `Vec` of
//! 16-byte slots, in document order, a collection followed by its whole subtree.
//! Strings the fast reader reads are ranges of the source text, not copies. A 20 MB
//! file of ten million one-byte values so costs 160 MB of slots where a tree of boxed
//! nodes (48 bytes each, plus one vector per collection) cost four times that.
//!
//! [`Node`] is a view of one slot; [`Value`] what it holds, with collections as
//! iterators over their children.

use super::Pos;

/// The parsed file.
#[derive(Default)]
pub struct Tree<'s> {
    source: &'s str,
    slots: Vec<Slot>,
    strings: Vec<Text>,
    /// Strings that are not a range of the source (the full parser's).
    owned: Vec<String>,
    /// Integers that do not fit in a slot.
    wide: Vec<i128>,
    floats: Vec<f64>,
}

/// One value: its position and a kind-dependent word (the integer itself, an index into
/// a side table, or for a collection the slot just past its subtree).
#[derive(Clone, Copy, Debug)]
struct Slot {
    line: u32,
    column: u32,
    /// The underlined length in the low 28 bits, the [`Kind`] in the high 4.
    len_kind: u32,
    data: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    /// An integer in `data` (as `i32`).
    SmallInt,
    /// An integer in `wide[data]`.
    WideInt,
    Float,
    HugeInt,
    Str,
    Seq,
    Map,
}

const KINDS: [Kind; 9] = [
    Kind::Null,
    Kind::Bool,
    Kind::SmallInt,
    Kind::WideInt,
    Kind::Float,
    Kind::HugeInt,
    Kind::Str,
    Kind::Seq,
    Kind::Map,
];

const LEN_BITS: u32 = 28;
/// Longer underlines are cut to this; input over 32 MiB never reaches the parser.
const MAX_LEN: u32 = (1 << LEN_BITS) - 1;

/// Where a string's text is.
#[derive(Clone, Copy, Debug)]
enum Text {
    /// Bytes `start..start + len` of the source.
    Source { start: u32, len: u32 },
    /// `owned[index]`.
    Owned(u32),
}

/// A scalar to add to the tree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Scalar {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    HugeInt,
}

/// A collection to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Collection {
    Seq,
    Map,
}

impl<'s> Tree<'s> {
    /// An empty tree over `source`, with room for `slots` values.
    pub(super) fn with_capacity(source: &'s str, slots: usize) -> Tree<'s> {
        Tree {
            source,
            slots: Vec::with_capacity(slots),
            ..Tree::default()
        }
    }

    /// Values added so far.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    fn push(&mut self, at: Pos, kind: Kind, data: u32) {
        self.slots.push(Slot {
            line: at.line,
            column: at.column,
            len_kind: at.len.min(MAX_LEN) | (kind as u32) << LEN_BITS,
            data,
        });
    }

    fn index(len: usize) -> Option<u32> {
        u32::try_from(len).ok()
    }

    /// Adds a scalar; `None` only when a side table outgrows 32-bit indices.
    pub(super) fn scalar(&mut self, at: Pos, value: Scalar) -> Option<()> {
        let (kind, data) = match value {
            Scalar::Null => (Kind::Null, 0),
            Scalar::Bool(b) => (Kind::Bool, u32::from(b)),
            Scalar::Int(i) => match i32::try_from(i) {
                Ok(small) => (Kind::SmallInt, small as u32),
                Err(_) => {
                    self.wide.push(i);
                    (Kind::WideInt, Self::index(self.wide.len() - 1)?)
                }
            },
            Scalar::Float(f) => {
                self.floats.push(f);
                (Kind::Float, Self::index(self.floats.len() - 1)?)
            }
            Scalar::HugeInt => (Kind::HugeInt, 0),
        };
        self.push(at, kind, data);
        Some(())
    }

    /// Adds a string that is bytes `start..start + len` of the source.
    pub(super) fn source_str(&mut self, at: Pos, start: usize, len: usize) -> Option<()> {
        self.source.get(start..start.checked_add(len)?)?;
        let text = Text::Source {
            start: Self::index(start)?,
            len: Self::index(len)?,
        };
        self.strings.push(text);
        let index = Self::index(self.strings.len() - 1)?;
        self.push(at, Kind::Str, index);
        Some(())
    }

    /// Adds a string of its own.
    pub(super) fn owned_str(&mut self, at: Pos, text: String) -> Option<()> {
        self.owned.push(text);
        self.strings
            .push(Text::Owned(Self::index(self.owned.len() - 1)?));
        let index = Self::index(self.strings.len() - 1)?;
        self.push(at, Kind::Str, index);
        Some(())
    }

    /// Opens a collection: the values added until [`Tree::close`] are its children.
    pub(super) fn open(&mut self, at: Pos, collection: Collection) -> usize {
        let kind = match collection {
            Collection::Seq => Kind::Seq,
            Collection::Map => Kind::Map,
        };
        self.push(at, kind, 0);
        self.slots.len() - 1
    }

    /// Closes the collection `open` returned.
    pub(super) fn close(&mut self, opened: usize) -> Option<()> {
        let end = Self::index(self.slots.len())?;
        self.slots.get_mut(opened)?.data = end;
        Some(())
    }

    /// Appends a copy of the values in slots `from..to` (a whole subtree, as an alias
    /// repeats its anchor), every one of them placed `at` (the alias), as serde-saphyr
    /// places a replayed node where it is referenced; collections underline 1 character.
    /// Strings and side-table values are shared with the original, not copied.
    pub(super) fn copy(&mut self, from: usize, to: usize, at: Pos) -> Option<()> {
        let start = self.slots.len();
        let shift = i64::try_from(start).ok()? - i64::try_from(from).ok()?;
        self.slots.reserve(to.checked_sub(from)?);
        for i in from..to {
            let mut slot = *self.slots.get(i)?;
            slot.line = at.line;
            slot.column = at.column;
            let kind = kind_of(&slot);
            let len = if matches!(kind, Kind::Seq | Kind::Map) {
                slot.data = u32::try_from(i64::from(slot.data) + shift).ok()?;
                1
            } else {
                at.len
            };
            slot.len_kind = len.min(MAX_LEN) | (kind as u32) << LEN_BITS;
            self.slots.push(slot);
        }
        Some(())
    }

    /// Whether slot `index` is the string `text` (how a key is recognised after the fact).
    pub(super) fn is_str(&self, index: usize, text: &str) -> bool {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        self.slot(index)
            .is_some_and(|s| kind_of(s) == Kind::Str && self.text(s.data) == text)
    }

    /// The root value; a tree with none is an empty document (`Null` at 1:1).
    pub fn root(&self) -> Node<'_> {
        Node {
            tree: self,
            index: 0,
        }
    }

    fn slot(&self, index: u32) -> Option<&Slot> {
        self.slots.get(index as usize)
    }

    fn text(&self, index: u32) -> &str {
        match self.strings.get(index as usize) {
            Some(Text::Source { start, len }) => {
                let (start, len) = (*start as usize, *len as usize);
                self.source.get(start..start + len).unwrap_or_default()
            }
            Some(Text::Owned(i)) => self.owned.get(*i as usize).map_or("", String::as_str),
            None => "",
        }
    }

    /// The slot after `index`'s subtree.
    fn after(&self, index: u32) -> u32 {
        match self.slot(index) {
            Some(s) if matches!(kind_of(s), Kind::Seq | Kind::Map) => s.data,
            _ => index + 1,
        }
    }
}

fn kind_of(slot: &Slot) -> Kind {
    KINDS
        .get((slot.len_kind >> LEN_BITS) as usize)
        .copied()
        .unwrap_or(Kind::Null)
}

/// One value of a [`Tree`].
#[derive(Clone, Copy)]
pub struct Node<'t> {
    tree: &'t Tree<'t>,
    index: u32,
}

/// A value as the parser typed it.
#[derive(Clone, Debug)]
pub enum Value<'t> {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating point number.
    Float(f64),
    /// An integer literal beyond what any field holds (outside `i128`).
    HugeInt,
    /// Any other scalar.
    Str(&'t str),
    /// A sequence.
    Seq(Items<'t>),
    /// A mapping, entries in file order, duplicates kept (the schema walk reports them).
    Map(Entries<'t>),
}

impl Value<'_> {
    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::HugeInt => "an integer too large",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl<'t> Node<'t> {
    /// Where the value starts.
    pub fn at(&self) -> Pos {
        match self.tree.slot(self.index) {
            Some(s) => Pos {
                line: s.line,
                column: s.column,
                len: s.len_kind & MAX_LEN,
            },
            None => Pos {
                line: 1,
                column: 1,
                len: 1,
            },
        }
    }

    /// The value.
    pub fn value(&self) -> Value<'t> {
        let tree = self.tree;
        let Some(slot) = tree.slot(self.index) else {
            return Value::Null;
        };
        let children = Items {
            tree,
            next: self.index + 1,
            end: slot.data,
        };
        match kind_of(slot) {
            Kind::Null => Value::Null,
            Kind::Bool => Value::Bool(slot.data != 0),
            Kind::SmallInt => Value::Int((slot.data as i32).into()),
            Kind::WideInt => Value::Int(tree.wide.get(slot.data as usize).copied().unwrap_or(0)),
            Kind::Float => {
                Value::Float(tree.floats.get(slot.data as usize).copied().unwrap_or(0.0))
            }
            Kind::HugeInt => Value::HugeInt,
            Kind::Str => Value::Str(tree.text(slot.data)),
            Kind::Seq => Value::Seq(children),
            Kind::Map => Value::Map(Entries(children)),
        }
    }

    /// Whether the value is `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self.value(), Value::Null)
    }
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("at", &self.at())
            .field("value", &self.value())
            .finish()
    }
}

/// A tree prints as its root value (not as its slots).
impl std::fmt::Debug for Tree<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.root().fmt(f)
    }
}

impl std::fmt::Debug for Items<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl std::fmt::Debug for Entries<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Two trees are equal when every value and position is: how the tests compare the
/// fast reader's tree with the full parser's.
impl PartialEq for Node<'_> {
    fn eq(&self, other: &Node<'_>) -> bool {
        if self.at() != other.at() {
            return false;
        }
        match (self.value(), other.value()) {
            (Value::Seq(a), Value::Seq(b)) => a.eq(b),
            (Value::Map(a), Value::Map(b)) => a.eq(b),
            (Value::Null, Value::Null) | (Value::HugeInt, Value::HugeInt) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Str(a), Value::Str(b)) => a == b,
            _ => false,
        }
    }
}

/// The children of a sequence, in order.
#[derive(Clone)]
pub struct Items<'t> {
    tree: &'t Tree<'t>,
    next: u32,
    end: u32,
}

impl<'t> Items<'t> {
    /// No items (what an empty value reads as).
    pub fn empty(tree: &'t Tree<'t>) -> Items<'t> {
        Items {
            tree,
            next: 0,
            end: 0,
        }
    }
}

impl<'t> Iterator for Items<'t> {
    type Item = Node<'t>;

    fn next(&mut self) -> Option<Node<'t>> {
        if self.next >= self.end {
            return None;
        }
        let node = Node {
            tree: self.tree,
            index: self.next,
        };
        self.next = self.tree.after(self.next).max(self.next + 1);
        Some(node)
    }
}

/// The entries of a mapping, in file order.
#[derive(Clone)]
pub struct Entries<'t>(Items<'t>);

impl<'t> Iterator for Entries<'t> {
    type Item = (Node<'t>, Node<'t>);

    fn next(&mut self) -> Option<(Node<'t>, Node<'t>)> {
        Some((self.0.next()?, self.0.next()?))
    }
}

impl<'t> Node<'t> {
    /// The tree this node is in.
    pub fn tree(&self) -> &'t Tree<'t> {
        self.tree
    }
}

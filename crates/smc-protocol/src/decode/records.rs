//! The decoded record lists: records borrow their text from the frame, and
//! the fields of every record of a message live in one arena, so decoding a
//! message allocates a few vectors rather than a few strings per field.

use std::borrow::Cow;
use std::ops::Range;

use crate::Change;

/// One record field: its key and its value as text, borrowed from the frame
/// unless JSON escapes (or a non-string value) forced an owned string.
pub type Field<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Records per list that the first record of a list reserves room for.
const LIST_RESERVE: usize = 16;
/// Fields the first field of a message reserves room for.
const FIELDS_RESERVE: usize = 64;

/// The record lists of a `records` message.
///
/// The fields of a [`Record`] are read through its `Records`
/// ([`Records::fields`], [`Records::get`]): they are stored once per message,
/// not once per record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records<'a> {
    pub added: Vec<Record<'a>>,
    pub updated: Vec<Record<'a>>,
    pub deleted: Vec<Record<'a>>,
    fields: Vec<Field<'a>>,
}

/// One record: its key, its snapshot flag, and where its fields are in the
/// [`Records`] it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    pub delta_key: Option<Cow<'a, str>>,
    /// `first_fetch` (SMC 7.x): true on rows of the initial snapshot.
    pub first_fetch: Option<bool>,
    fields: Range<usize>,
}

impl<'a> Records<'a> {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }

    pub fn len(&self) -> usize {
        self.added.len() + self.updated.len() + self.deleted.len()
    }

    /// The list of one change kind.
    pub fn list(&self, change: Change) -> &[Record<'a>] {
        match change {
            Change::Added => &self.added,
            Change::Updated => &self.updated,
            Change::Deleted => &self.deleted,
        }
    }

    /// The fields of `rec` (a record of this message), in wire order; nested
    /// objects (the `combined` format) merged in place. Empty for a record
    /// of another message whose fields are out of range.
    pub fn fields(&self, rec: &Record<'a>) -> &[Field<'a>] {
        self.fields.get(rec.fields.clone()).unwrap_or(&[])
    }

    /// The value of the first field of `rec` named `key` (`"4"` in `id`
    /// format, `"NodeId"` in `name`).
    pub fn get(&self, rec: &Record<'a>, key: &str) -> Option<&str> {
        self.fields(rec)
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Append a record to the list of `change`.
    pub fn push(
        &mut self,
        change: Change,
        delta_key: Option<Cow<'a, str>>,
        first_fetch: Option<bool>,
        fields: impl IntoIterator<Item = Field<'a>>,
    ) {
        let start = self.fields.len();
        for f in fields {
            self.push_field(f);
        }
        let rec = self.record(start, delta_key, first_fetch);
        self.push_record(change, rec);
    }

    /// A copy that owns its text, to keep beyond the frame.
    pub fn into_owned(self) -> Records<'static> {
        let own = |c: Cow<'a, str>| -> Cow<'static, str> { Cow::Owned(c.into_owned()) };
        let list = |l: Vec<Record<'a>>| -> Vec<Record<'static>> {
            l.into_iter()
                .map(|r| Record {
                    delta_key: r.delta_key.map(own),
                    first_fetch: r.first_fetch,
                    fields: r.fields,
                })
                .collect()
        };
        Records {
            added: list(self.added),
            updated: list(self.updated),
            deleted: list(self.deleted),
            fields: self
                .fields
                .into_iter()
                .map(|(k, v)| (own(k), own(v)))
                .collect(),
        }
    }

    /// Where the fields of the next record start (the decoder pushes them
    /// with [`Records::push_field`] while it reads the record).
    pub(super) fn fields_len(&self) -> usize {
        self.fields.len()
    }

    pub(super) fn push_field(&mut self, field: Field<'a>) {
        if self.fields.capacity() == 0 {
            self.fields.reserve(FIELDS_RESERVE);
        }
        self.fields.push(field);
    }

    /// The record whose fields were pushed since `start`.
    pub(super) fn record(
        &self,
        start: usize,
        delta_key: Option<Cow<'a, str>>,
        first_fetch: Option<bool>,
    ) -> Record<'a> {
        Record {
            delta_key,
            first_fetch,
            fields: start..self.fields.len(),
        }
    }

    pub(super) fn push_record(&mut self, change: Change, rec: Record<'a>) {
        let list = match change {
            Change::Added => &mut self.added,
            Change::Updated => &mut self.updated,
            Change::Deleted => &mut self.deleted,
        };
        if list.capacity() == 0 {
            list.reserve(LIST_RESERVE);
        }
        list.push(rec);
    }
}

/// Which record fields a caller keeps: all of them (the log and
/// notification sockets), or only the keys that feed its labels (a
/// session-monitoring fold). `delta_key` and `first_fetch` are always
/// decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FieldSet {
    /// Every field.
    #[default]
    All,
    /// Only fields with one of these keys (compared after unescaping).
    Only(Box<[Box<str>]>),
}

impl FieldSet {
    /// Only the fields named by `keys`.
    pub fn only<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        FieldSet::Only(keys.into_iter().map(Into::into).collect())
    }

    /// Whether a field of this key is kept.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            FieldSet::All => true,
            FieldSet::Only(keys) => keys.iter().any(|k| **k == *key),
        }
    }
}

//! The kind of a session-socket record: which list of a `records` message
//! (`added`, `updated`, `deleted`) carried it.

/// The change kind of a record (`records.added` / `updated` / `deleted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    Added,
    Updated,
    Deleted,
}

impl Change {
    pub const ALL: [Change; 3] = [Change::Added, Change::Updated, Change::Deleted];

    /// The list's name in a `records` message (`"added"`, …).
    pub fn wire_name(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
        }
    }

    /// Position in [`Change::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_and_positions() {
        let names: Vec<_> = Change::ALL.iter().map(|c| c.wire_name()).collect();
        assert_eq!(names, ["added", "updated", "deleted"]);
        for (i, c) in Change::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }
}

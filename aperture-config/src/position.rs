//! Byte offsets to 1-based line and column numbers.

/// Maps byte offsets in a text to 1-based `(line, column)` pairs, counting columns in Unicode
/// scalar values as SPEC.md §1.4 asks.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// Byte offset at which each line starts.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `text` (after `\n`, and after a `\r` not followed by `\n`).
    pub(crate) fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            let newline = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if newline {
                starts.push(i + 1);
            }
        }
        Self { starts }
    }

    /// The 1-based line and column of the byte `offset` in `text` (clamped to its length).
    pub(crate) fn position(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (to_u32(line + 1), to_u32(column + 1))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn lines_and_unicode_columns() {
        let text = "ab\n\u{e9}\u{e9}x\r\ny\rz";
        let idx = LineIndex::new(text);
        assert_eq!(idx.position(text, 0), (1, 1));
        assert_eq!(idx.position(text, 1), (1, 2));
        assert_eq!(idx.position(text, 3), (2, 1));
        // "éé" is four bytes but two columns.
        assert_eq!(idx.position(text, 7), (2, 3));
        assert_eq!(idx.position(text, 10), (3, 1));
        assert_eq!(idx.position(text, 12), (4, 1));
        assert_eq!(idx.position(text, 999), (4, 2));
    }
}

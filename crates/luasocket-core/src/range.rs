//! The `i, j` arguments of `client:send(data, i, j)`.

/// The part of the data that `send(data, i, j)` sends, following LuaSocket's rules:
/// negative indices count from the end, `i` is raised to 1, `j` is lowered to the
/// length, and an empty range sends nothing. The value returned to Lua is always the
/// index of the last byte sent, relative to the whole string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRange {
    start: i64,
    end: i64,
}

impl SendRange {
    /// Applies the index rules to `i` (default 1) and `j` (default -1) for data of
    /// `len` bytes.
    pub fn new(len: usize, i: i64, j: i64) -> Self {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let mut start = if i < 0 {
            len.saturating_add(i).saturating_add(1)
        } else {
            i
        };
        let mut end = if j < 0 {
            len.saturating_add(j).saturating_add(1)
        } else {
            j
        };
        if start < 1 {
            start = 1;
        }
        if end > len {
            end = len;
        }
        SendRange { start, end }
    }

    /// The bytes to send (empty when the range is empty).
    pub fn slice<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        if self.start > self.end {
            return &[];
        }
        // Both bounds are within 1..=len here, so the conversions cannot fail.
        let from = usize::try_from(self.start - 1).unwrap_or(0);
        let to = usize::try_from(self.end).unwrap_or(0);
        &data[from..to]
    }

    /// The index LuaSocket returns after `sent` bytes of the range went out.
    pub fn last_index(&self, sent: usize) -> i64 {
        i64::try_from(sent)
            .unwrap_or(i64::MAX)
            .saturating_add(self.start - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_all(data: &str, i: i64, j: i64) -> (String, i64) {
        let range = SendRange::new(data.len(), i, j);
        let slice = range.slice(data.as_bytes());
        (
            String::from_utf8(slice.to_vec()).unwrap(),
            range.last_index(slice.len()),
        )
    }

    #[test]
    fn defaults_send_everything() {
        assert_eq!(sent_all("hello", 1, -1), ("hello".into(), 5));
    }

    #[test]
    fn substring_like_string_sub() {
        assert_eq!(sent_all("hello", 2, 4), ("ell".into(), 4));
        assert_eq!(sent_all("hello", -3, -1), ("llo".into(), 5));
        assert_eq!(sent_all("hello", -3, -2), ("ll".into(), 4));
    }

    #[test]
    fn clamps() {
        assert_eq!(sent_all("hello", 0, 100), ("hello".into(), 5));
        assert_eq!(sent_all("hello", -100, 2), ("he".into(), 2));
    }

    #[test]
    fn empty_ranges_return_start_minus_one() {
        assert_eq!(sent_all("hello", 4, 2), ("".into(), 3));
        assert_eq!(sent_all("hello", 10, -1), ("".into(), 9));
        assert_eq!(sent_all("", 1, -1), ("".into(), 0));
        assert_eq!(sent_all("hello", 1, 0), ("".into(), 0));
    }

    #[test]
    fn partial_send_index() {
        let range = SendRange::new(10, 3, -1);
        assert_eq!(range.last_index(0), 2);
        assert_eq!(range.last_index(4), 6);
    }

    #[test]
    fn extreme_indices_do_not_overflow() {
        assert_eq!(sent_all("abc", i64::MIN, i64::MAX), ("abc".into(), 3));
        assert_eq!(
            sent_all("abc", i64::MAX, i64::MIN),
            ("".into(), i64::MAX - 1)
        );
    }
}

//! Simple paged results (RFC 2696): one cursor per connection holding what is left of
//! a search, handed out a page at a time under an unguessable cookie.
//!
//! The cursor holds at most the search's size limit of entries, and a new paged
//! search, a bind or an abandon replaces it, so a connection holds at most one.

use std::collections::VecDeque;

/// What a page of a paged search returns.
#[derive(Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub entries: Vec<T>,
    /// Empty on the last page (RFC 2696 §3).
    pub cookie: Vec<u8>,
    /// Whether the search as a whole was cut at the size limit (said on the last page).
    pub truncated: bool,
}

/// Why a page cannot be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingError {
    /// No search in progress has this cookie.
    UnknownCookie,
    /// The cookie belongs to a different search.
    OtherSearch,
}

struct Cursor<T> {
    cookie: Vec<u8>,
    /// The search it continues (base, scope, filter, attributes).
    request: String,
    rest: VecDeque<T>,
    truncated: bool,
}

/// The paged search of one connection, if any.
pub struct Pager<T> {
    cursor: Option<Cursor<T>>,
}

impl<T> Default for Pager<T> {
    fn default() -> Self {
        Pager { cursor: None }
    }
}

impl<T> Pager<T> {
    /// Forget the search in progress.
    pub fn clear(&mut self) {
        self.cursor = None;
    }

    /// The first page of a new search `request` that found `entries`; the rest is kept
    /// for the next requests. A size of 0 or less returns everything at once.
    pub fn start(
        &mut self,
        request: String,
        mut entries: VecDeque<T>,
        size: i64,
        truncated: bool,
    ) -> Page<T> {
        self.cursor = None;
        let size = usize::try_from(size).unwrap_or(0);
        if size == 0 || entries.len() <= size {
            return Page {
                entries: entries.into(),
                cookie: Vec::new(),
                truncated,
            };
        }
        let first: Vec<T> = entries.drain(..size).collect();
        let cookie = crate::crypto::random_bytes::<16>().to_vec();
        self.cursor = Some(Cursor {
            cookie: cookie.clone(),
            request,
            rest: entries,
            truncated,
        });
        Page {
            entries: first,
            cookie,
            truncated: false,
        }
    }

    /// The next page of the search with `cookie`; a size of 0 or less abandons it.
    pub fn next(
        &mut self,
        request: &str,
        cookie: &[u8],
        size: i64,
    ) -> Result<Page<T>, PagingError> {
        let cursor = self
            .cursor
            .as_mut()
            .filter(|c| c.cookie == cookie)
            .ok_or(PagingError::UnknownCookie)?;
        if cursor.request != request {
            return Err(PagingError::OtherSearch);
        }
        let size = usize::try_from(size).unwrap_or(0);
        if size == 0 {
            self.cursor = None;
            return Ok(Page {
                entries: Vec::new(),
                cookie: Vec::new(),
                truncated: false,
            });
        }
        let take = size.min(cursor.rest.len());
        let entries: Vec<T> = cursor.rest.drain(..take).collect();
        if cursor.rest.is_empty() {
            let truncated = cursor.truncated;
            self.cursor = None;
            Ok(Page {
                entries,
                cookie: Vec::new(),
                truncated,
            })
        } else {
            Ok(Page {
                entries,
                cookie: cursor.cookie.clone(),
                truncated: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(n: u32) -> VecDeque<u32> {
        (0..n).collect()
    }

    #[test]
    fn pages_cover_every_entry_once_and_end_with_an_empty_cookie() {
        let mut pager = Pager::default();
        let mut seen = Vec::new();
        let mut page = pager.start("q".into(), all(7), 3, false);
        seen.append(&mut page.entries);
        while !page.cookie.is_empty() {
            page = pager.next("q", &page.cookie.clone(), 3).unwrap();
            seen.append(&mut page.entries);
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        assert!(pager.cursor.is_none(), "nothing kept after the last page");
        // A client's page size can change between pages.
        let first = pager.start("q".into(), all(5), 1, true);
        let rest = pager.next("q", &first.cookie, 100).unwrap();
        assert_eq!(rest.entries, vec![1, 2, 3, 4]);
        assert!(
            rest.cookie.is_empty() && rest.truncated,
            "truncation said at the end"
        );
    }

    #[test]
    fn hostile_cookies_and_sizes_are_refused_or_harmless() {
        let mut pager = Pager::default();
        assert_eq!(
            pager.next("q", b"", 10).unwrap_err(),
            PagingError::UnknownCookie
        );
        let page = pager.start("q".into(), all(10), 2, false);
        assert_eq!(page.cookie.len(), 16);
        for bad in [&b""[..], b"\0", &[0xff; 4096], &page.cookie[..15]] {
            assert_eq!(
                pager.next("q", bad, 2).unwrap_err(),
                PagingError::UnknownCookie
            );
        }
        assert_eq!(
            pager.next("other", &page.cookie, 2).unwrap_err(),
            PagingError::OtherSearch
        );
        // Negative and huge sizes: everything at once, or an abandon.
        assert_eq!(
            pager
                .next("q", &page.cookie, i64::MAX)
                .unwrap()
                .entries
                .len(),
            8
        );
        let page = pager.start("q".into(), all(10), -5, false);
        assert_eq!(page.entries.len(), 10);
        assert!(page.cookie.is_empty());
        let page = pager.start("q".into(), all(10), 2, false);
        let abandoned = pager.next("q", &page.cookie, 0).unwrap();
        assert!(abandoned.entries.is_empty() && abandoned.cookie.is_empty());
        assert!(
            pager.next("q", &page.cookie, 2).is_err(),
            "the cookie is gone"
        );
        // A new search replaces the old cursor: one per connection.
        let old = pager.start("a".into(), all(4), 1, false);
        let _new = pager.start("b".into(), all(4), 1, false);
        assert!(pager.next("a", &old.cookie, 1).is_err());
    }
}

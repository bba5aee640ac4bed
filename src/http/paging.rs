//! Keyset paging, the same for every list: a client asks for `limit` items
//! (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) after an opaque `cursor`,
//! and gets one [`Page`]: `{"items": [...], "next_cursor": "..." | null}`.
//!
//! A list is ordered by an instant and then the id (arrival, departure,
//! distribution...), so a page starts strictly after the last row of the
//! previous one, whatever was written in between: no row is skipped or
//! repeated, as offsets would. The cursor is that last row's key, base64url
//! of `<microseconds since the epoch>|<uuid>`; clients must treat it as
//! opaque, and cursors already handed out stay valid.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;

/// Items per page when a client names no `limit`.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest `limit` a client may ask for.
pub const MAX_LIMIT: i64 = 500;

/// A list's `limit` and `cursor`, checked: what page to read.
#[derive(Debug, Clone)]
pub struct PageQuery {
    limit: i64,
    /// Where the page starts (after this row), for keyset lists.
    pub after: Option<Cursor>,
}

impl PageQuery {
    /// A keyset list's page from its query string: `limit` out of bounds or
    /// a `cursor` this service did not hand out is 400 naming the parameter.
    pub fn new(limit: Option<i64>, cursor: Option<&str>) -> Result<PageQuery, ApiError> {
        Ok(PageQuery {
            limit: checked_limit(limit)?,
            after: cursor.map(Cursor::decode).transpose()?,
        })
    }

    /// A page of a list that pages by its own key (say, an id the client
    /// sends back): only the `limit` is checked here.
    pub fn limit_only(limit: Option<i64>) -> Result<PageQuery, ApiError> {
        Ok(PageQuery {
            limit: checked_limit(limit)?,
            after: None,
        })
    }

    /// How many rows to load: one more than the page holds, which tells
    /// whether there is a next page without counting.
    pub fn rows_to_load(&self) -> i64 {
        self.limit + 1
    }

    /// The page made of `rows` (loaded with [`PageQuery::rows_to_load`], in
    /// list order): the extra row, if any, is dropped and only says that a
    /// next page exists, which then starts after the page's last row
    /// (`cursor_of` it). `items` turns the page's rows into what the API
    /// returns.
    pub fn page<R, T>(
        &self,
        mut rows: Vec<R>,
        cursor_of: impl Fn(&R) -> String,
        items: impl FnOnce(Vec<R>) -> Result<Vec<T>, ApiError>,
    ) -> Result<Page<T>, ApiError> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Ok(Page {
            items: items(rows)?,
            next_cursor,
        })
    }
}

fn checked_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_parameter(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// One page of a list, as every list endpoint returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Send back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A position in a list ordered by (instant, id): the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The row's instant, as stored (UTC, microseconds).
    pub at: NaiveDateTime,
    /// The row's id, as stored (UUID text).
    pub id: String,
}

impl Cursor {
    /// The opaque cursor of the row with this stored instant and id.
    pub fn encode(at: NaiveDateTime, id: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}|{id}", at.and_utc().timestamp_micros()))
    }

    /// Reads a cursor that [`Cursor::encode`] made; anything else is 400.
    pub fn decode(cursor: &str) -> Result<Cursor, ApiError> {
        let invalid = || ApiError::bad_parameter("cursor", "not a cursor returned by this list");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let at = DateTime::from_timestamp_micros(micros)
            .ok_or_else(invalid)?
            .naive_utc();
        let id = Uuid::parse_str(id).map_err(|_| invalid())?;
        Ok(Cursor {
            at,
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_the_row_it_names() {
        let at = DateTime::from_timestamp_micros(1_695_724_200_123_456)
            .unwrap()
            .naive_utc();
        let id = "0190a5f0-0000-7000-8000-000000000001";
        let cursor = Cursor::encode(at, id);
        // The encoding is a contract with clients holding cursors.
        assert_eq!(
            cursor,
            "MTY5NTcyNDIwMDEyMzQ1NnwwMTkwYTVmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDE"
        );
        assert_eq!(
            Cursor::decode(&cursor).unwrap(),
            Cursor {
                at,
                id: id.to_string()
            }
        );
        for bad in ["", "not base64!", "MTIz", "MTIzfG5vdC1hLXV1aWQ"] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_extra_row_means_a_next_page_after_the_last_item() {
        let query = PageQuery::limit_only(Some(2)).unwrap();
        assert_eq!(query.rows_to_load(), 3);
        let page = query.page(vec![1, 2, 3], |r| r.to_string(), Ok).unwrap();
        assert_eq!(
            (page.items, page.next_cursor),
            (vec![1, 2], Some("2".into()))
        );
        let last = query.page(vec![1, 2], |r| r.to_string(), Ok).unwrap();
        assert_eq!((last.items, last.next_cursor), (vec![1, 2], None));
    }

    #[test]
    fn limits_outside_the_bounds_are_refused() {
        assert!(PageQuery::limit_only(None).is_ok());
        assert!(PageQuery::limit_only(Some(MAX_LIMIT)).is_ok());
        for bad in [0, -1, MAX_LIMIT + 1] {
            assert!(PageQuery::limit_only(Some(bad)).is_err(), "{bad}");
        }
    }
}

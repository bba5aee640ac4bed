//! The errors an import collects, by line, and the report it sends back.

use super::layout::*;
use crate::error::{ImportErrors, RowError};

/// The errors found so far: the first [`MAX_LISTED_ERRORS`] by line, and how many.
#[derive(Default)]
pub(super) struct Errors {
    pub(super) listed: Vec<RowError>,
    pub(super) count: usize,
}

impl Errors {
    pub(super) fn push(
        &mut self,
        line: u64,
        column: Option<&str>,
        code: &str,
        message: impl Into<String>,
    ) {
        self.count += 1;
        self.listed.push(RowError {
            line,
            column: column.map(str::to_string),
            code: code.to_string(),
            message: message.into(),
        });
        // Errors arrive nearly in line order (fingerprint lookups lag a
        // little): keeping the first by line needs only an occasional trim.
        if self.listed.len() >= 2 * MAX_LISTED_ERRORS {
            self.trim();
        }
    }

    pub(super) fn trim(&mut self) {
        self.listed.sort_by_key(|e| e.line);
        self.listed.truncate(MAX_LISTED_ERRORS);
    }

    pub(super) fn report(mut self, rows: u64) -> ImportErrors {
        self.trim();
        ImportErrors {
            errors: self.listed,
            error_count: self.count,
            rows,
        }
    }
}

//! Reading an import file: rows with physical line numbers, grouped into
//! households by `household_ref`.

use std::io::{BufRead, BufReader, Read};

use super::errors::*;
use super::layout::*;
use crate::error::ApiError;
use crate::registration::MAX_MEMBERS;

/// Where each of [`COLUMNS`] is in the file.
pub(super) struct Layout {
    pub(super) positions: [Option<usize>; COLUMNS.len()],
    pub(super) width: usize,
}

/// Reads the header; `None` (with the errors recorded) if it is unusable.
pub(super) fn layout(header: &csv::ByteRecord, line: u64, errors: &mut Errors) -> Option<Layout> {
    let before = errors.count;
    let mut positions = [None; COLUMNS.len()];
    for (i, raw) in header.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(raw) else {
            errors.push(
                line,
                None,
                "invalid_utf8",
                format!(
                    "column {} of the header is not valid UTF-8; save the file as UTF-8",
                    i + 1
                ),
            );
            continue;
        };
        match COLUMNS.iter().position(|c| *c == name) {
            Some(c) if positions[c].is_some() => {
                errors.push(
                    line,
                    Some(name),
                    "duplicate_column",
                    "this column appears twice in the header",
                );
            }
            Some(c) => positions[c] = Some(i),
            None => errors.push(
                line,
                Some(name),
                "unknown_column",
                format!(
                    "unknown column (names are exact and case-sensitive); the columns are: {}",
                    COLUMNS.join(", ")
                ),
            ),
        }
    }
    for required in REQUIRED_COLUMNS {
        let c = COLUMNS
            .iter()
            .position(|c| *c == required)
            .expect("a column");
        if positions[c].is_none() {
            errors.push(
                line,
                Some(required),
                "missing_column",
                "this required column is missing from the header",
            );
        }
    }
    (errors.count == before).then_some(Layout {
        positions,
        width: header.len(),
    })
}

/// One data row, its cells in [`COLUMNS`] order (empty for absent columns).
pub(super) struct Row {
    pub(super) line: u64,
    pub(super) cells: Vec<String>,
}

impl Row {
    pub(super) fn cell(&self, column: usize) -> &str {
        &self.cells[column]
    }

    /// The cell without surrounding spaces, None when empty: for codes,
    /// dates and numbers (free text is taken exactly as written).
    pub(super) fn code(&self, column: usize) -> Option<&str> {
        Some(self.cells[column].trim()).filter(|v| !v.is_empty())
    }
}

/// The consecutive rows of one household (at most [`MAX_MEMBERS`]).
pub(super) struct Group {
    pub(super) rows: Vec<Row>,
}

impl Group {
    pub(super) fn first(&self) -> &Row {
        &self.rows[0]
    }
}

/// Reads a file as households, streaming.
pub(super) struct Households<R: Read> {
    pub(super) csv: csv::Reader<Lines<BufReader<R>>>,
    pub(super) layout: Layout,
    pub(super) record: csv::ByteRecord,
    /// The first row of the next household, read ahead.
    pub(super) next: Option<Row>,
    /// Data rows read (blank lines not counted).
    pub(super) rows: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> Households<R> {
    /// Reads the header; `None` if it has errors (recorded in `errors`).
    pub(super) fn open(input: R, errors: &mut Errors) -> Result<Option<Self>, ApiError> {
        let mut input = BufReader::with_capacity(64 * 1024, input);
        if input.fill_buf().map_err(read_error)?.starts_with(BOM) {
            input.consume(BOM.len());
        }
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(Lines::new(input));
        let mut header = csv::ByteRecord::new();
        loop {
            if !csv.read_byte_record(&mut header).map_err(csv_error)? {
                errors.push(
                    1,
                    None,
                    "empty_file",
                    "the file is empty; its first line must be the header",
                );
                return Ok(None);
            }
            if !is_blank(&header) {
                break;
            }
        }
        let start = header.position().map_or(0, |p| p.byte());
        let line = csv.get_mut().line_at(start);
        let Some(layout) = layout(&header, line, errors) else {
            return Ok(None);
        };
        Ok(Some(Households {
            csv,
            layout,
            record: csv::ByteRecord::new(),
            next: None,
            rows: 0,
        }))
    }

    /// Bytes of the file read so far (for progress bars).
    pub(super) fn bytes_read(&self) -> u64 {
        self.csv.position().byte()
    }

    /// The next data row that has a `household_ref`; rows that cannot be
    /// read are reported and skipped.
    pub(super) fn next_row(&mut self, errors: &mut Errors) -> Result<Option<Row>, ApiError> {
        loop {
            if !self
                .csv
                .read_byte_record(&mut self.record)
                .map_err(csv_error)?
            {
                return Ok(None);
            }
            if is_blank(&self.record) {
                continue;
            }
            self.rows += 1;
            let start = self.record.position().map_or(0, |p| p.byte());
            let line = self.csv.get_mut().line_at(start);
            if self.record.len() != self.layout.width {
                errors.push(
                    line,
                    None,
                    "field_count",
                    format!(
                        "the row has {} fields, the header {}",
                        self.record.len(),
                        self.layout.width
                    ),
                );
                continue;
            }
            let mut cells = vec![String::new(); COLUMNS.len()];
            for (c, position) in self.layout.positions.iter().enumerate() {
                let Some(position) = position else { continue };
                let raw = &self.record[*position];
                cells[c] = match std::str::from_utf8(raw) {
                    // PostgreSQL cannot store it, and no name or place holds it.
                    Ok(text) if text.contains('\0') => {
                        errors.push(
                            line,
                            Some(COLUMNS[c]),
                            "nul_character",
                            "contains the NUL character (U+0000)",
                        );
                        text.replace('\0', "")
                    }
                    Ok(text) => text.to_string(),
                    Err(_) => {
                        errors.push(
                            line,
                            Some(COLUMNS[c]),
                            "invalid_utf8",
                            "not valid UTF-8; save the file as UTF-8",
                        );
                        String::from_utf8_lossy(raw).into_owned()
                    }
                };
            }
            let row = Row { line, cells };
            if row.cell(col::HOUSEHOLD_REF).is_empty() {
                errors.push(
                    line,
                    Some(COLUMNS[col::HOUSEHOLD_REF]),
                    "required",
                    "every row needs the household_ref of its household",
                );
                continue;
            }
            return Ok(Some(row));
        }
    }

    /// The next household: the rows up to the next change of `household_ref`.
    pub(super) fn next_group(&mut self, errors: &mut Errors) -> Result<Option<Group>, ApiError> {
        let first = match self.next.take() {
            Some(row) => row,
            None => match self.next_row(errors)? {
                Some(row) => row,
                None => return Ok(None),
            },
        };
        let mut group = Group { rows: vec![first] };
        while let Some(row) = self.next_row(errors)? {
            if row.cell(col::HOUSEHOLD_REF) != group.first().cell(col::HOUSEHOLD_REF) {
                self.next = Some(row);
                break;
            }
            if group.rows.len() == MAX_MEMBERS {
                errors.push(
                    row.line,
                    None,
                    "too_many_members",
                    format!(
                        "a household has at most {MAX_MEMBERS} members; this is one more (its first row is line {})",
                        group.first().line
                    ),
                );
            } else {
                group.rows.push(row);
            }
        }
        Ok(Some(group))
    }
}

/// Counts physical lines under the CSV parser. The csv crate's own line
/// numbers are off for CRLF files and skipped blank lines; its byte offsets
/// are reliable up to the line breaks before a record, which this tells
/// from the line breaks it saw pass.
pub(super) struct Lines<R> {
    pub(super) inner: R,
    /// Bytes passed to the parser so far.
    pub(super) offset: u64,
    /// Offsets of the `\r` and `\n` bytes the parser has read but whose
    /// record has not been numbered yet (at most a parser buffer's worth).
    pub(super) breaks: std::collections::VecDeque<(u64, u8)>,
    /// `\n` bytes before the last numbered record.
    pub(super) newlines: u64,
}

impl<R> Lines<R> {
    pub(super) fn new(inner: R) -> Self {
        Lines {
            inner,
            offset: 0,
            breaks: std::collections::VecDeque::new(),
            newlines: 0,
        }
    }

    /// The physical line (from 1) of the record the parser reports at
    /// `start`: the line breaks before it, and those right at `start` (the
    /// end of the previous record's terminator, skipped blank lines), which
    /// the parser counts into the record.
    pub(super) fn line_at(&mut self, start: u64) -> u64 {
        let mut at = start;
        while let Some(&(offset, byte)) = self.breaks.front() {
            if offset < start || offset == at {
                if offset == at {
                    at += 1;
                }
                if byte == b'\n' {
                    self.newlines += 1;
                }
                self.breaks.pop_front();
            } else {
                break;
            }
        }
        self.newlines + 1
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, byte) in buf[..n].iter().enumerate() {
            if *byte == b'\n' || *byte == b'\r' {
                self.breaks.push_back((self.offset + i as u64, *byte));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

pub(super) fn is_blank(record: &csv::ByteRecord) -> bool {
    record
        .iter()
        .all(|field| field.iter().all(u8::is_ascii_whitespace))
}

pub(super) fn read_error(error: std::io::Error) -> ApiError {
    ApiError::internal(format!("reading the import file: {error}"))
}

pub(super) fn csv_error(error: csv::Error) -> ApiError {
    ApiError::internal(format!("reading the import file: {error}"))
}

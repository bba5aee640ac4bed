//! Bulk imports of registrations from CSV files: the layout, parsing and
//! validation, the write, and the HTTP handlers. `refuge import FILE` runs
//! the same code without HTTP.
//!
//! A file has one row per person; the rows of one household are consecutive
//! and share a `household_ref` (the source's own id: a paper form number, a
//! KoboToolbox `_uuid`). An import reads the file twice:
//!
//! 1. **Validation**, streaming: every row is parsed, every household is
//!    checked with the same rules as `POST /api/v1/households`
//!    ([`registration::validate_new`]), and its fingerprint is compared with
//!    what an earlier import stored. Nothing is written unless every row is
//!    valid; otherwise the errors come back by line and column.
//! 2. **Writing**, streaming again: households go to the database in
//!    transactions of [`BATCH`] through the group-commit writer
//!    ([`Db::write`]), so desk registrations are never blocked for long.
//!
//! Memory stays flat: at most one household's rows, one batch, and per
//! household a 64-bit key and a line number (to tell a household whose rows
//! are not consecutive) are held; uploads are spooled to a temporary file.
//!
//! **Idempotency.** A household's id is a UUIDv5 of its center and
//! `household_ref` (in a namespace only imports use), its members' ids
//! UUIDv5s of the household id and their position. Each imported household
//! stores a fingerprint of its content in its row
//! (`households.import_fingerprint`), written with it. Importing the same
//! household again finds the same fingerprint and skips it (`unchanged`);
//! the same `household_ref` with different content is a validation error on
//! its line. So re-running an import that was interrupted half-way writes
//! the rest and nothing twice.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use diesel::prelude::*;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::{Caller, CenterScope};
use crate::config::ImportSettings;
use crate::db::{self, Db, DbConnection, Unit};
use crate::error::{ApiError, FieldError, ImportErrors, RowError};
use crate::extract::Query;
use crate::http::time::{self, Date, Timestamp};
use crate::provinces::Provinces;
use crate::registration::{
    self, Document, DocumentType, NewHousehold, NewMember, Relationship, Sex, MAX_MEMBERS,
};
use crate::schema::{centers, households};

// ---------------------------------------------------------------------------
// The layout
// ---------------------------------------------------------------------------

/// The columns of an import file, in the template's order. Household fields
/// first, then the member fields, named like the JSON API's.
pub const COLUMNS: [&str; 17] = [
    "household_ref",
    "center_code",
    "arrived_at",
    "origin_settlement",
    "intended_destination",
    "phone",
    "given_name",
    "family_name",
    "patronymic",
    "name_latin",
    "sex",
    "birth_date",
    "estimated_age",
    "relationship",
    "document_type",
    "document_number",
    "needs",
];

/// Columns a file must have (the others may be left out).
pub const REQUIRED_COLUMNS: [&str; 8] = [
    "household_ref",
    "center_code",
    "arrived_at",
    "origin_settlement",
    "given_name",
    "family_name",
    "sex",
    "relationship",
];

/// Indexes into [`COLUMNS`].
mod col {
    pub const HOUSEHOLD_REF: usize = 0;
    pub const CENTER_CODE: usize = 1;
    pub const ARRIVED_AT: usize = 2;
    pub const ORIGIN_SETTLEMENT: usize = 3;
    pub const INTENDED_DESTINATION: usize = 4;
    pub const PHONE: usize = 5;
    pub const GIVEN_NAME: usize = 6;
    pub const FAMILY_NAME: usize = 7;
    pub const PATRONYMIC: usize = 8;
    pub const NAME_LATIN: usize = 9;
    pub const SEX: usize = 10;
    pub const BIRTH_DATE: usize = 11;
    pub const ESTIMATED_AGE: usize = 12;
    pub const RELATIONSHIP: usize = 13;
    pub const DOCUMENT_TYPE: usize = 14;
    pub const DOCUMENT_NUMBER: usize = 15;
    pub const NEEDS: usize = 16;
    /// The household fields after `household_ref`: repeated on every row
    /// of a household or left empty after its first row.
    pub const SHARED: std::ops::Range<usize> = 1..6;
}

/// The downloadable template: the header and one household of two.
pub const TEMPLATE: &str = "household_ref,center_code,arrived_at,origin_settlement,intended_destination,phone,\
given_name,family_name,patronymic,name_latin,sex,birth_date,estimated_age,relationship,document_type,document_number,needs\r\n\
GORIS-2023-000123,GORIS,2023-09-26 14:30,Ստեփանակերտ,AM-KT,+37491234567,\
Արամ,Սարգսյան,Գրիգորի,Aram Sargsyan,male,1975-03-01,,head,passport,AN0123456,SM-WD\r\n\
GORIS-2023-000123,,,,,,\
Անի,Սարգսյան,Վարդանի,Ani Sargsyan,female,,44,spouse,,,DS;SM\r\n";

/// Households per write transaction: large enough to be fast, small enough
/// that a desk registration queued behind it waits a fraction of a second.
pub const BATCH: usize = 2000;

/// Households whose fingerprints are looked up in one query while validating.
const LOOKUP_BATCH: usize = 1000;

/// At most this many errors are listed (the first by line); all are counted.
pub const MAX_LISTED_ERRORS: usize = 1000;

/// The namespace of imported households' ids (UUIDv5). Never change it: the
/// ids, and so re-imports, depend on it.
const NAMESPACE: Uuid = Uuid::from_u128(0xb9e5_da08_36ab_4f96_a39b_1cc5_1fc4_c988);

/// Fingerprints of this version of the canonical form; a change to the
/// canonical form needs a new version (and makes every household "changed").
const FINGERPRINT_VERSION: &[u8] = b"refuge-import-v1\n";

const SEXES: &str = "female, male, other or unknown";
const RELATIONSHIPS: &str = "head, spouse, child, parent, sibling, grandchild, grandparent, \
child_in_law, other_relative or not_related";
const DOCUMENT_TYPES: &str = "passport, id_card, birth_certificate or other";

/// The id an imported household gets: the same for the same center and
/// `household_ref`, whoever imports it and however often.
pub fn household_id(center_id: Uuid, household_ref: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("{center_id}\n{household_ref}").as_bytes(),
    )
}

/// The id of the member at `position` (0 for the household's first row).
pub fn member_id(household_id: Uuid, position: usize) -> Uuid {
    Uuid::new_v5(&household_id, position.to_string().as_bytes())
}

// ---------------------------------------------------------------------------
// Errors, collected
// ---------------------------------------------------------------------------

/// The errors found so far: the first [`MAX_LISTED_ERRORS`] by line, and how many.
#[derive(Default)]
struct Errors {
    listed: Vec<RowError>,
    count: usize,
}

impl Errors {
    fn push(&mut self, line: u64, column: Option<&str>, code: &str, message: impl Into<String>) {
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

    fn trim(&mut self) {
        self.listed.sort_by_key(|e| e.line);
        self.listed.truncate(MAX_LISTED_ERRORS);
    }

    fn report(mut self, rows: u64) -> ImportErrors {
        self.trim();
        ImportErrors {
            errors: self.listed,
            error_count: self.count,
            rows,
        }
    }
}

// ---------------------------------------------------------------------------
// Reading: rows, grouped into households
// ---------------------------------------------------------------------------

/// Where each of [`COLUMNS`] is in the file.
struct Layout {
    positions: [Option<usize>; COLUMNS.len()],
    width: usize,
}

/// Reads the header; `None` (with the errors recorded) if it is unusable.
fn layout(header: &csv::ByteRecord, line: u64, errors: &mut Errors) -> Option<Layout> {
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
struct Row {
    line: u64,
    cells: Vec<String>,
}

impl Row {
    fn cell(&self, column: usize) -> &str {
        &self.cells[column]
    }

    /// The cell without surrounding spaces, None when empty: for codes,
    /// dates and numbers (free text is taken exactly as written).
    fn code(&self, column: usize) -> Option<&str> {
        Some(self.cells[column].trim()).filter(|v| !v.is_empty())
    }
}

/// The consecutive rows of one household (at most [`MAX_MEMBERS`]).
struct Group {
    rows: Vec<Row>,
}

impl Group {
    fn first(&self) -> &Row {
        &self.rows[0]
    }
}

/// Reads a file as households, streaming.
struct Households<R: Read> {
    csv: csv::Reader<Lines<BufReader<R>>>,
    layout: Layout,
    record: csv::ByteRecord,
    /// The first row of the next household, read ahead.
    next: Option<Row>,
    /// Data rows read (blank lines not counted).
    rows: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> Households<R> {
    /// Reads the header; `None` if it has errors (recorded in `errors`).
    fn open(input: R, errors: &mut Errors) -> Result<Option<Self>, ApiError> {
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
    fn bytes_read(&self) -> u64 {
        self.csv.position().byte()
    }

    /// The next data row that has a `household_ref`; rows that cannot be
    /// read are reported and skipped.
    fn next_row(&mut self, errors: &mut Errors) -> Result<Option<Row>, ApiError> {
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
    fn next_group(&mut self, errors: &mut Errors) -> Result<Option<Group>, ApiError> {
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
struct Lines<R> {
    inner: R,
    /// Bytes passed to the parser so far.
    offset: u64,
    /// Offsets of the `\r` and `\n` bytes the parser has read but whose
    /// record has not been numbered yet (at most a parser buffer's worth).
    breaks: std::collections::VecDeque<(u64, u8)>,
    /// `\n` bytes before the last numbered record.
    newlines: u64,
}

impl<R> Lines<R> {
    fn new(inner: R) -> Self {
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
    fn line_at(&mut self, start: u64) -> u64 {
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

fn is_blank(record: &csv::ByteRecord) -> bool {
    record
        .iter()
        .all(|field| field.iter().all(u8::is_ascii_whitespace))
}

fn read_error(error: std::io::Error) -> ApiError {
    ApiError::internal(format!("reading the import file: {error}"))
}

fn csv_error(error: csv::Error) -> ApiError {
    ApiError::internal(format!("reading the import file: {error}"))
}

// ---------------------------------------------------------------------------
// Validation: a household from its rows
// ---------------------------------------------------------------------------

/// A center rows may name.
struct CenterInfo {
    id: Uuid,
    timezone: Tz,
}

/// What checking a household needs besides its rows.
pub struct Context {
    centers: HashMap<String, CenterInfo>,
    scope: CenterScope,
    provinces: Provinces,
}

impl Context {
    fn load(
        conn: &mut DbConnection,
        scope: CenterScope,
        provinces: Provinces,
    ) -> Result<Context, ApiError> {
        let rows: Vec<(String, String, String)> = centers::table
            .select((centers::id, centers::code, centers::timezone))
            .load(conn)?;
        let mut centers = HashMap::with_capacity(rows.len());
        for (id, code, timezone) in rows {
            let timezone = timezone.parse::<Tz>().map_err(|_| {
                ApiError::internal(format!("center {code} has an unknown timezone"))
            })?;
            centers.insert(
                code,
                CenterInfo {
                    id: db::parse_uuid(&id)?,
                    timezone,
                },
            );
        }
        Ok(Context {
            centers,
            scope,
            provinces,
        })
    }
}

/// A household ready to write: the registration, its fingerprint, and
/// where it starts in the file.
struct Prepared {
    new: NewHousehold,
    fingerprint: String,
    first_line: u64,
}

impl Prepared {
    fn id(&self) -> Uuid {
        self.new.id.expect("imported households have ids")
    }
}

/// Parses a household's rows; `None` (errors recorded) if any cell cannot be
/// read. The rules that span fields are checked afterwards.
fn parse_group(group: &Group, ctx: &Context, errors: &mut Errors) -> Option<NewHousehold> {
    let before = errors.count;
    let first = group.first();
    let line = first.line;
    for row in &group.rows[1..] {
        for c in col::SHARED {
            if !row.cell(c).is_empty() && row.cell(c) != first.cell(c) {
                errors.push(
                    row.line,
                    Some(COLUMNS[c]),
                    "differs",
                    format!(
                        "differs from the household's first row (line {line}): repeat it exactly or leave it empty"
                    ),
                );
            }
        }
    }
    let household_ref = first.cell(col::HOUSEHOLD_REF);
    if household_ref.chars().count() > 64
        || household_ref.trim().is_empty()
        || household_ref.chars().any(char::is_control)
    {
        errors.push(
            line,
            Some(COLUMNS[col::HOUSEHOLD_REF]),
            "invalid",
            "1 to 64 characters, not only spaces, no control characters",
        );
    }
    let center = match first.code(col::CENTER_CODE) {
        None => {
            errors.push(
                line,
                Some(COLUMNS[col::CENTER_CODE]),
                "required",
                "the first row of a household needs its center_code",
            );
            None
        }
        Some(code) => match ctx.centers.get(code) {
            None => {
                errors.push(
                    line,
                    Some(COLUMNS[col::CENTER_CODE]),
                    "unknown",
                    format!("no center has the code {code:?}"),
                );
                None
            }
            Some(center) if !ctx.scope.allows(center.id) => {
                errors.push(
                    line,
                    Some(COLUMNS[col::CENTER_CODE]),
                    "forbidden",
                    format!("you are not assigned to center {code}"),
                );
                None
            }
            Some(center) => Some(center),
        },
    };
    let arrived_at = match (first.code(col::ARRIVED_AT), center) {
        (None, _) => {
            errors.push(
                line,
                Some(COLUMNS[col::ARRIVED_AT]),
                "required",
                "the first row of a household needs its arrived_at",
            );
            None
        }
        (Some(_), None) => None,
        (Some(text), Some(center)) => match parse_arrival(text, center.timezone) {
            Ok(at) => Some(at),
            Err(message) => {
                errors.push(line, Some(COLUMNS[col::ARRIVED_AT]), "invalid", message);
                None
            }
        },
    };
    let origin_settlement = first.cell(col::ORIGIN_SETTLEMENT);
    if origin_settlement.is_empty() {
        errors.push(
            line,
            Some(COLUMNS[col::ORIGIN_SETTLEMENT]),
            "required",
            "the first row of a household needs its origin_settlement",
        );
    }
    let mut members = Vec::with_capacity(group.rows.len());
    for row in &group.rows {
        if let Some(member) = parse_member(row, errors) {
            members.push(member);
        }
    }
    if errors.count > before {
        return None;
    }
    let (center, arrived_at) = (center?, arrived_at?);
    let id = household_id(center.id, household_ref);
    for (position, member) in members.iter_mut().enumerate() {
        member.id = Some(member_id(id, position));
    }
    Some(NewHousehold {
        id: Some(id),
        center_id: center.id,
        // The stored instant (UTC, microseconds): the fingerprint is then the
        // same whether the file gives a local time or an offset.
        arrived_at: Timestamp::trusted(arrived_at.stored().and_utc()),
        origin_settlement: origin_settlement.to_string(),
        intended_destination: first.code(col::INTENDED_DESTINATION).map(str::to_string),
        phone: first.code(col::PHONE).map(str::to_string),
        members,
    })
}

/// RFC 3339 with an offset, or a local `YYYY-MM-DD HH:MM[:SS]` (or with a
/// `T`) in the center's timezone.
fn parse_arrival(text: &str, timezone: Tz) -> Result<Timestamp, String> {
    let accepted = |at: DateTime<FixedOffset>| {
        Timestamp::new(at).ok_or_else(|| {
            format!(
                "must fall in the years {} to {}",
                time::EARLIEST_YEAR,
                time::LATEST_YEAR
            )
        })
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return accepted(at);
    }
    let local = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .ok_or_else(|| {
        "an RFC 3339 time with offset (2023-09-26T14:30:00+04:00) or a local time at the center \
             (2023-09-26 14:30)"
            .to_string()
    })?;
    match timezone.from_local_datetime(&local) {
        chrono::LocalResult::Single(at) => accepted(at.fixed_offset()),
        chrono::LocalResult::Ambiguous(..) => Err(format!(
            "this local time happened twice in {timezone} (a clock change); give it with its offset"
        )),
        chrono::LocalResult::None => Err(format!(
            "this local time did not happen in {timezone} (a clock change); give it with its offset"
        )),
    }
}

/// Parses a unit enum (`Sex`, `Relationship`, `DocumentType`) from its API name.
fn parse_code<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

/// A required coded cell (sex, relationship): `required` when empty,
/// `invalid` when not one of `choices`.
fn required_code<T: serde::de::DeserializeOwned>(
    row: &Row,
    column: usize,
    choices: &str,
    errors: &mut Errors,
) -> Option<T> {
    let Some(text) = row.code(column) else {
        errors.push(
            row.line,
            Some(COLUMNS[column]),
            "required",
            format!("every member needs this: {choices}"),
        );
        return None;
    };
    let parsed = parse_code::<T>(text);
    if parsed.is_none() {
        errors.push(
            row.line,
            Some(COLUMNS[column]),
            "invalid",
            format!("expected {choices}"),
        );
    }
    parsed
}

fn parse_member(row: &Row, errors: &mut Errors) -> Option<NewMember> {
    let before = errors.count;
    let line = row.line;
    let mut required = |c: usize| -> String {
        let value = row.cell(c);
        if value.is_empty() {
            errors.push(
                line,
                Some(COLUMNS[c]),
                "required",
                "every member needs this",
            );
        }
        value.to_string()
    };
    let given_name = required(col::GIVEN_NAME);
    let family_name = required(col::FAMILY_NAME);
    let optional = |c: usize| {
        Some(row.cell(c))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let sex = required_code::<Sex>(row, col::SEX, SEXES, errors);
    let relationship = required_code::<Relationship>(row, col::RELATIONSHIP, RELATIONSHIPS, errors);
    let birth_date = row
        .code(col::BIRTH_DATE)
        .and_then(|text| match Date::parse(text) {
            Ok(date) => Some(date),
            Err(message) => {
                let (code, message) = match message.strip_prefix(time::OUT_OF_RANGE) {
                    Some(message) => ("out_of_range", message.to_string()),
                    None => ("invalid", message),
                };
                errors.push(line, Some(COLUMNS[col::BIRTH_DATE]), code, message);
                None
            }
        });
    let estimated_age = row.code(col::ESTIMATED_AGE).and_then(|text| {
        text.parse::<i32>().ok().or_else(|| {
            errors.push(
                line,
                Some(COLUMNS[col::ESTIMATED_AGE]),
                "invalid",
                "whole years, e.g. 44",
            );
            None
        })
    });
    let document = match (row.code(col::DOCUMENT_TYPE), optional(col::DOCUMENT_NUMBER)) {
        (None, None) => None,
        (Some(kind), Some(number)) => match parse_code::<DocumentType>(kind) {
            Some(kind) => Some(Document { kind, number }),
            None => {
                errors.push(
                    line,
                    Some(COLUMNS[col::DOCUMENT_TYPE]),
                    "invalid",
                    format!("expected {DOCUMENT_TYPES}"),
                );
                None
            }
        },
        (Some(_), None) => {
            errors.push(
                line,
                Some(COLUMNS[col::DOCUMENT_NUMBER]),
                "required",
                "a document_type needs its document_number",
            );
            None
        }
        (None, Some(_)) => {
            errors.push(
                line,
                Some(COLUMNS[col::DOCUMENT_TYPE]),
                "required",
                format!("a document_number needs its document_type: {DOCUMENT_TYPES}"),
            );
            None
        }
    };
    let mut needs: Vec<String> = row
        .cell(col::NEEDS)
        .split(';')
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(str::to_string)
        .collect();
    // Stored sorted (a set): the order in the file does not change the household.
    needs.sort();
    if errors.count > before {
        return None;
    }
    Some(NewMember {
        id: None,
        given_name,
        family_name,
        patronymic: optional(col::PATRONYMIC),
        name_latin: optional(col::NAME_LATIN),
        sex: sex?,
        birth_date,
        estimated_age,
        relationship: relationship?,
        document,
        needs,
    })
}

/// Reports the JSON API's validation errors of a household on its rows:
/// `members[2].birth_date` on the third row's `birth_date`, household
/// fields on the first row.
fn report_validation(group: &Group, fields: Vec<FieldError>, errors: &mut Errors) {
    let first_line = group.first().line;
    for error in fields {
        let (line, column) = match error.field.strip_prefix("members[") {
            Some(rest) => {
                let (index, field) = rest.split_once("].").unwrap_or((rest, ""));
                let line = index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| group.rows.get(i))
                    .map_or(first_line, |row| row.line);
                let field = field.split('[').next().unwrap_or(field);
                let column = match field {
                    "document.number" => "document_number",
                    "document" | "document.type" => "document_type",
                    other => other,
                };
                (line, COLUMNS.iter().find(|c| **c == column).copied())
            }
            None => match (error.field.as_str(), error.code.as_str()) {
                ("members", "one_head") => (first_line, Some("relationship")),
                ("members", _) | ("id", _) => (first_line, None),
                ("center_id", _) => (first_line, Some("center_code")),
                (field, _) => (first_line, COLUMNS.iter().find(|c| **c == field).copied()),
            },
        };
        errors.push(line, column, &error.code, error.message);
    }
}

/// The fingerprint of a household's content: the same file row for row gives
/// the same fingerprint, any change to what would be stored another.
fn fingerprint(new: &NewHousehold) -> Result<String, ApiError> {
    let mut hasher = Sha256::new();
    hasher.update(FINGERPRINT_VERSION);
    serde_json::to_writer(&mut hasher, new).map_err(ApiError::internal)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Fingerprints already stored for these households, by household id: one
/// primary-key probe each.
///
/// A household with an import's id but no fingerprint was not imported (a
/// client chose that id for a desk registration): its empty fingerprint
/// never matches, so the import reports the household as changed.
fn stored_fingerprints(
    conn: &mut DbConnection,
    ids: &[Uuid],
) -> Result<HashMap<String, String>, ApiError> {
    let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let found: Vec<(String, Option<String>)> = match conn {
        // Not `id = ANY($1)`: mid-import, the statistics still describe the
        // empty table, and PostgreSQL scanned all of it for each lookup,
        // testing each row against the 2,000 ids (0.2 s for the second batch,
        // 1 s for the tenth). A scalar subquery per id is an equality on the
        // primary key, which is an index probe whatever the statistics say.
        DbConnection::Postgres(pg) => {
            #[derive(QueryableByName)]
            struct Found {
                #[diesel(sql_type = diesel::sql_types::Text)]
                id: String,
                #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
                fingerprint: Option<String>,
            }
            diesel::sql_query(
                "SELECT ids.id, (SELECT coalesce(h.import_fingerprint, '') FROM households h \
                                  WHERE h.id = ids.id) AS fingerprint \
                 FROM unnest($1::text[]) AS ids (id)",
            )
            .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&keys)
            .load::<Found>(pg)?
            .into_iter()
            .filter(|f| f.fingerprint.is_some())
            .map(|f| (f.id, f.fingerprint))
            .collect()
        }
        DbConnection::Sqlite(_) => households::table
            .filter(households::id.eq_any(&keys))
            .select((households::id, households::import_fingerprint))
            .load(conn)?,
    };
    Ok(found
        .into_iter()
        .map(|(id, fingerprint)| (id, fingerprint.unwrap_or_default()))
        .collect())
}

/// A 64-bit key for a household's center and `household_ref`, to tell a
/// household whose rows are not consecutive without keeping its rows.
fn seen_key(group: &Group) -> u64 {
    let mut hasher = DefaultHasher::new();
    group
        .first()
        .cell(col::CENTER_CODE)
        .trim()
        .hash(&mut hasher);
    group.first().cell(col::HOUSEHOLD_REF).hash(&mut hasher);
    hasher.finish()
}

// ---------------------------------------------------------------------------
// The two passes
// ---------------------------------------------------------------------------

/// What an import did (or, for a dry run, would do). Also the response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub dry_run: bool,
    /// Data rows (blank lines not counted).
    pub rows: u64,
    pub households: u64,
    pub persons: u64,
    pub created: Created,
    pub unchanged: Unchanged,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub households: u64,
    pub persons: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unchanged {
    pub households: u64,
}

/// An import file that can be read from the start more than once.
pub trait Source: Send + Sync + 'static {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>>;
}

impl Source for std::path::PathBuf {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(self)?))
    }
}

/// An upload spooled to an (unnamed, self-deleting) temporary file.
pub struct Spooled(std::fs::File);

impl Source for Spooled {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        let mut file = self.0.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Box::new(file))
    }
}

/// Which pass an import is in, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Validating,
    Writing,
}

/// Told the pass and the bytes of the file read so far, now and then.
pub type Progress = Arc<dyn Fn(Pass, u64) + Send + Sync>;

/// How to run an import.
pub struct Options {
    /// Validate only; write nothing.
    pub dry_run: bool,
    /// The account recorded as `registered_by`.
    pub registered_by: Uuid,
    /// Centers the account may register at.
    pub scope: CenterScope,
    pub provinces: Provinces,
}

/// Validates the file and, unless it is a dry run or invalid, writes it.
/// An invalid file is [`ApiError::ImportInvalid`], with nothing written.
pub async fn run(
    db: &Db,
    source: Arc<dyn Source>,
    options: Options,
    progress: Progress,
) -> Result<Summary, ApiError> {
    let Options {
        dry_run,
        registered_by,
        scope,
        provinces,
    } = options;
    let validate_source = source.clone();
    let validate_progress = progress.clone();
    let (checked, context) = db
        .read(move |conn| {
            let context = Context::load(conn, scope, provinces)?;
            let input = validate_source.open().map_err(read_error)?;
            let checked = validate(conn, input, &context, &*validate_progress)?;
            Ok((checked, context))
        })
        .await?;
    let mut summary = checked.map_err(|report| ApiError::ImportInvalid(Box::new(report)))?;
    summary.dry_run = dry_run;
    if dry_run || summary.created.households == 0 {
        // Nothing to write (a re-import): the second pass would only skip.
        return Ok(summary);
    }
    let written = write(db, source, Arc::new(context), registered_by, progress).await?;
    summary.created = written.created;
    summary.unchanged = written.unchanged;
    tracing::info!(
        rows = summary.rows,
        households = summary.households,
        created = summary.created.households,
        unchanged = summary.unchanged.households,
        "import written"
    );
    Ok(summary)
}

/// The first pass: every row and household checked, fingerprints compared.
/// `created` and `unchanged` say what writing would do.
fn validate(
    conn: &mut DbConnection,
    input: impl Read,
    context: &Context,
    progress: &(dyn Fn(Pass, u64) + Send + Sync),
) -> Result<Result<Summary, ImportErrors>, ApiError> {
    let mut errors = Errors::default();
    let Some(mut file) = Households::open(input, &mut errors)? else {
        return Ok(Err(errors.report(0)));
    };
    let mut summary = Summary::default();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut pending: Vec<Pending> = Vec::with_capacity(LOOKUP_BATCH);
    while let Some(group) = file.next_group(&mut errors)? {
        summary.households += 1;
        summary.persons += group.rows.len() as u64;
        match seen.entry(seen_key(&group)) {
            Entry::Occupied(first) => {
                errors.push(
                    group.first().line,
                    Some(COLUMNS[col::HOUSEHOLD_REF]),
                    "not_consecutive",
                    format!(
                        "this household_ref was first seen on line {}: the rows of a household must be consecutive",
                        first.get()
                    ),
                );
                continue;
            }
            Entry::Vacant(slot) => {
                slot.insert(group.first().line);
            }
        }
        if let Some(new) = parse_group(&group, context, &mut errors) {
            match registration::validate_new(&new, &context.provinces) {
                Ok(()) => pending.push(Pending {
                    id: new.id.expect("imported households have ids"),
                    fingerprint: fingerprint(&new)?,
                    first_line: group.first().line,
                    persons: new.members.len() as u64,
                }),
                Err(ApiError::Validation(fields)) => report_validation(&group, fields, &mut errors),
                Err(other) => return Err(other),
            }
        }
        if pending.len() >= LOOKUP_BATCH {
            check_fingerprints(conn, &mut pending, &mut summary, &mut errors)?;
        }
        progress(Pass::Validating, file.bytes_read());
    }
    check_fingerprints(conn, &mut pending, &mut summary, &mut errors)?;
    progress(Pass::Validating, file.bytes_read());
    summary.rows = file.rows;
    Ok(if errors.count > 0 {
        Err(errors.report(file.rows))
    } else {
        Ok(summary)
    })
}

/// A valid household whose fingerprint is still to be compared.
struct Pending {
    id: Uuid,
    fingerprint: String,
    first_line: u64,
    persons: u64,
}

/// Compares the pending households' fingerprints with the stored ones (one
/// query for all): new ones would be created, equal ones are unchanged,
/// different ones are errors.
fn check_fingerprints(
    conn: &mut DbConnection,
    pending: &mut Vec<Pending>,
    summary: &mut Summary,
    errors: &mut Errors,
) -> Result<(), ApiError> {
    let ids: Vec<Uuid> = pending.iter().map(|p| p.id).collect();
    let stored = stored_fingerprints(conn, &ids)?;
    for Pending {
        id,
        fingerprint,
        first_line,
        persons,
    } in pending.drain(..)
    {
        match stored.get(&id.to_string()) {
            None => {
                summary.created.households += 1;
                summary.created.persons += persons;
            }
            Some(stored) if *stored == fingerprint => summary.unchanged.households += 1,
            Some(_) => errors.push(
                first_line,
                None,
                "changed",
                format!(
                    "this household was already imported with different data (household {id}); \
                     correct it with PATCH /api/v1/households/{id}, not by importing it again"
                ),
            ),
        }
    }
    Ok(())
}

/// What the write pass did.
#[derive(Default)]
struct Written {
    created: Created,
    unchanged: Unchanged,
}

type Reader = Households<Box<dyn Read + Send>>;

/// The second pass: the (validated) file again, written a batch at a time;
/// the next batch is read while the previous one is being written.
async fn write(
    db: &Db,
    source: Arc<dyn Source>,
    context: Arc<Context>,
    registered_by: Uuid,
    progress: Progress,
) -> Result<Written, ApiError> {
    let reader = web::block(move || -> Result<Reader, ApiError> {
        let mut errors = Errors::default();
        let input = source.open().map_err(read_error)?;
        Households::open(input, &mut errors)?.ok_or_else(|| file_changed(errors))
    })
    .await
    .map_err(ApiError::internal)??;
    let read_batch = |mut reader: Reader, context: Arc<Context>| {
        web::block(move || -> Result<(Reader, Vec<Prepared>), ApiError> {
            let batch = next_batch(&mut reader, &context)?;
            Ok((reader, batch))
        })
    };
    let mut written = Written::default();
    let mut next = read_batch(reader, context.clone());
    loop {
        let (reader, batch) = next.await.map_err(ApiError::internal)??;
        if batch.is_empty() {
            break;
        }
        let bytes = reader.bytes_read();
        next = read_batch(reader, context.clone());
        let (created, unchanged) = db
            .write(move |unit| write_batch(unit, batch, registered_by))
            .await?;
        written.created.households += created.households;
        written.created.persons += created.persons;
        written.unchanged.households += unchanged.households;
        progress(Pass::Writing, bytes);
    }
    Ok(written)
}

/// The next [`BATCH`] households of a file that passed validation.
fn next_batch(reader: &mut Reader, context: &Context) -> Result<Vec<Prepared>, ApiError> {
    let mut errors = Errors::default();
    let mut batch = Vec::with_capacity(BATCH);
    while batch.len() < BATCH {
        let Some(group) = reader.next_group(&mut errors)? else {
            break;
        };
        let Some(new) = parse_group(&group, context, &mut errors) else {
            break;
        };
        if let Err(ApiError::Validation(fields)) =
            registration::validate_new(&new, &context.provinces)
        {
            report_validation(&group, fields, &mut errors);
            break;
        }
        batch.push(Prepared {
            fingerprint: fingerprint(&new)?,
            first_line: group.first().line,
            new,
        });
    }
    if errors.count > 0 {
        return Err(file_changed(errors));
    }
    Ok(batch)
}

/// The file read differently the second time (a file on disk that was
/// edited during `refuge import`): what was written stays, and is skipped
/// when the import is run again.
fn file_changed(errors: Errors) -> ApiError {
    let report = errors.report(0);
    let first = report.errors.first();
    ApiError::Conflict {
        code: "import-file-changed",
        detail: format!(
            "the file changed after it was validated (line {}: {}); the households before that line \
             were imported: validate and import the file again",
            first.map_or(0, |e| e.line),
            first.map_or("", |e| e.message.as_str())
        ),
    }
}

/// Writes one batch in the caller's transaction, skipping households an
/// earlier import (or an earlier run of this one) already wrote.
fn write_batch(
    unit: &mut Unit<'_>,
    batch: Vec<Prepared>,
    registered_by: Uuid,
) -> Result<(Created, Unchanged), ApiError> {
    let ids: Vec<Uuid> = batch.iter().map(Prepared::id).collect();
    let stored = stored_fingerprints(unit, &ids)?;
    let mut unchanged = Unchanged::default();
    let mut fresh = Vec::with_capacity(batch.len());
    for prepared in batch {
        match stored.get(&prepared.id().to_string()) {
            None => fresh.push(prepared),
            Some(fingerprint) if *fingerprint == prepared.fingerprint => unchanged.households += 1,
            Some(_) => {
                // Imported with other data between the two passes.
                let mut errors = Errors::default();
                errors.push(
                    prepared.first_line,
                    None,
                    "changed",
                    "this household was imported with different data while this import ran",
                );
                return Err(ApiError::ImportInvalid(Box::new(errors.report(0))));
            }
        }
    }
    let created = Created {
        households: fresh.len() as u64,
        persons: fresh.iter().map(|p| p.new.members.len() as u64).sum(),
    };
    let news = fresh.into_iter().map(|p| (p.new, p.fingerprint)).collect();
    let race = || {
        ApiError::unavailable(
            "another import wrote some of these households at the same time; run the import again",
        )
    };
    registration::register_many(unit, news, registered_by).map_err(|error| match error {
        ApiError::Conflict { .. } => race(),
        other => other,
    })?;
    Ok((created, unchanged))
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// `POST /api/v1/imports` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/imports`: a CSV file as the body (`text/csv`) or as the
/// part named `file` of a `multipart/form-data` body.
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    settings: web::Data<ImportSettings>,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Roles that can never register are refused before the upload is read.
    let scope = caller.registration_scope()?;
    let file = spool(&req, payload, settings.max_bytes).await?;
    let options = Options {
        dry_run: query.0.dry_run,
        registered_by: caller.user_id,
        scope,
        provinces: provinces.get_ref().clone(),
    };
    let summary = run(&db, Arc::new(Spooled(file)), options, Arc::new(|_, _| {})).await?;
    let status = if summary.created.households > 0 && !summary.dry_run {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(summary))
}

/// `GET /api/v1/imports/template.csv`: the header and an example household.
pub async fn template(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"refuge-import-template.csv\"",
        ))
        .body(TEMPLATE)
}

const ACCEPTED: &str = "text/csv, or multipart/form-data with the file in a part named \"file\"";

/// Streams the upload to a temporary file, refusing it past `limit` bytes.
async fn spool(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: u64,
) -> Result<std::fs::File, ApiError> {
    let mime = req.mime_type().ok().flatten();
    let multipart = match &mime {
        Some(m) if m.type_() == "text" && m.subtype() == "csv" => false,
        Some(m) if m.type_() == "multipart" && m.subtype() == "form-data" => true,
        _ => return Err(ApiError::UnsupportedMediaType(ACCEPTED)),
    };
    let mut spool = Spool::new(limit).await?;
    if !multipart {
        while let Some(chunk) = payload.next().await {
            spool.push(&chunk.map_err(upload_error)?).await?;
        }
        return spool.finish().await;
    }
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut found = false;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(upload_error)?;
        let is_file = field.name() == Some("file");
        if is_file && found {
            return Err(ApiError::bad_parameter(
                "file",
                "send one part named \"file\"",
            ));
        }
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(upload_error)?;
            if is_file {
                spool.push(&chunk).await?;
            } else {
                spool.skip(chunk.len())?;
            }
        }
        found |= is_file;
    }
    if !found {
        return Err(ApiError::bad_parameter(
            "file",
            "the multipart body has no part named \"file\"",
        ));
    }
    spool.finish().await
}

fn upload_error(error: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest {
        detail: format!("the upload could not be read: {error}"),
        errors: vec![],
    }
}

/// Bytes collected before each write to the temporary file.
const SPOOL_BUFFER: usize = 1 << 20;

/// A temporary file being filled, off the async workers, a buffer at a time.
struct Spool {
    file: Option<std::fs::File>,
    buffer: Vec<u8>,
    received: u64,
    limit: u64,
}

impl Spool {
    async fn new(limit: u64) -> Result<Spool, ApiError> {
        let file = web::block(tempfile::tempfile)
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::internal(format!("cannot create a temporary file: {e}")))?;
        Ok(Spool {
            file: Some(file),
            buffer: Vec::with_capacity(SPOOL_BUFFER),
            received: 0,
            limit,
        })
    }

    /// Counts bytes that are not kept (other multipart parts) against the limit.
    fn skip(&mut self, bytes: usize) -> Result<(), ApiError> {
        self.received += bytes as u64;
        if self.received > self.limit {
            return Err(ApiError::PayloadTooLarge {
                limit: usize::try_from(self.limit).unwrap_or(usize::MAX),
            });
        }
        Ok(())
    }

    async fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.skip(chunk.len())?;
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() >= SPOOL_BUFFER {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        let mut file = self.file.take().expect("the spool has its file");
        let mut buffer = std::mem::take(&mut self.buffer);
        let (file, buffer) = web::block(move || {
            file.write_all(&buffer)?;
            buffer.clear();
            Ok::<_, std::io::Error>((file, buffer))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format!("cannot write the temporary file: {e}")))?;
        self.file = Some(file);
        self.buffer = buffer;
        Ok(())
    }

    async fn finish(mut self) -> Result<std::fs::File, ApiError> {
        self.flush().await?;
        Ok(self.file.take().expect("the spool has its file"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (Option<Vec<Row>>, Vec<RowError>) {
        let mut errors = Errors::default();
        let rows = Households::open(text.as_bytes(), &mut errors)
            .unwrap()
            .map(|mut file| {
                let mut rows = Vec::new();
                while let Some(group) = file.next_group(&mut errors).unwrap() {
                    rows.extend(group.rows);
                }
                rows
            });
        (rows, errors.report(0).errors)
    }

    #[test]
    fn the_template_has_every_column_in_order() {
        let (rows, errors) = check(TEMPLATE);
        assert!(errors.is_empty(), "{errors:?}");
        let rows = rows.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[0].cell(col::GIVEN_NAME), "Արամ");
        assert_eq!(
            TEMPLATE
                .lines()
                .next()
                .unwrap()
                .split(',')
                .collect::<Vec<_>>(),
            COLUMNS
        );
    }

    #[test]
    fn header_problems_are_each_reported_on_line_1() {
        let (rows, errors) = check("household_ref,Sex,given_name,given_name\n");
        assert!(rows.is_none());
        let found: Vec<(u64, Option<&str>, &str)> = errors
            .iter()
            .map(|e| (e.line, e.column.as_deref(), e.code.as_str()))
            .collect();
        assert!(found.contains(&(1, Some("Sex"), "unknown_column")));
        assert!(found.contains(&(1, Some("given_name"), "duplicate_column")));
        for missing in [
            "center_code",
            "arrived_at",
            "origin_settlement",
            "family_name",
            "sex",
            "relationship",
        ] {
            assert!(
                found.contains(&(1, Some(missing), "missing_column")),
                "{missing}"
            );
        }
    }

    #[test]
    fn a_bom_and_blank_lines_are_skipped_and_lines_stay_physical() {
        let header = COLUMNS.join(",");
        let empty = ",".repeat(COLUMNS.len() - 1);
        let text =
            format!("\u{feff}{header}\n\n{empty}\nA,\"x\ny\",,,,,,,,,,,,,,,\nB,,,,,,,,,,,,,,,,\n");
        let (rows, errors) = check(&text);
        assert!(errors.is_empty(), "{errors:?}");
        let rows = rows.unwrap();
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 6]);
        assert_eq!(rows[0].cell(col::CENTER_CODE), "x\ny");
    }

    #[test]
    fn lines_are_physical_with_crlf_blank_lines_and_multi_line_fields() {
        let header = COLUMNS.join(",");
        let row = |r: &str| format!("{r}{}", ",".repeat(COLUMNS.len() - 1));
        for newline in ["\n", "\r\n"] {
            let text = format!(
                "{newline}{header}{newline}{a}{newline}{newline}{newline}\"B{newline}{newline}b\"{rest}{newline}{c}{newline}{newline}{d}",
                a = row("A"),
                rest = ",".repeat(COLUMNS.len() - 1),
                c = row("C"),
                d = row("D"),
            );
            let (rows, errors) = check(&text);
            assert!(errors.is_empty(), "{errors:?}");
            let lines: Vec<u64> = rows.unwrap().iter().map(|r| r.line).collect();
            assert_eq!(lines, [3, 6, 9, 11], "{newline:?}");
        }
    }

    #[test]
    fn local_arrival_times_are_read_in_the_centers_timezone() {
        let yerevan: Tz = "Asia/Yerevan".parse().unwrap();
        for text in [
            "2023-09-26 14:30",
            "2023-09-26T14:30:00",
            "2023-09-26T14:30:00+04:00",
        ] {
            let at = parse_arrival(text, yerevan).unwrap();
            assert_eq!(at.to_rfc3339(), "2023-09-26T14:30:00+04:00", "{text}");
        }
        assert!(parse_arrival("26.09.2023 14:30", yerevan).is_err());
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert!(parse_arrival("2023-10-29 02:30", berlin)
            .unwrap_err()
            .contains("twice"));
        assert!(parse_arrival("2023-03-26 02:30", berlin)
            .unwrap_err()
            .contains("did not happen"));
    }

    #[test]
    fn ids_are_deterministic() {
        let center = Uuid::from_u128(1);
        assert_eq!(household_id(center, "17"), household_id(center, "17"));
        assert_ne!(
            household_id(center, "17"),
            household_id(Uuid::from_u128(2), "17")
        );
        let id = household_id(center, "17");
        assert_ne!(member_id(id, 0), member_id(id, 1));
    }

    #[test]
    fn only_the_first_errors_by_line_are_kept() {
        let mut errors = Errors::default();
        for line in (2..5000u64).rev() {
            errors.push(line, None, "x", "y");
        }
        let report = errors.report(4998);
        assert_eq!(report.error_count, 4998);
        assert_eq!(report.errors.len(), MAX_LISTED_ERRORS);
        assert_eq!(report.errors[0].line, 2);
        assert_eq!(report.errors.last().unwrap().line, 1001);
    }
}

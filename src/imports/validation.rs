//! Validation: a household from its rows, checked with the same rules as
//! the JSON API, and its fingerprint (what makes an import idempotent).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::errors::*;
use super::layout::*;
use super::reader::*;
use crate::auth::CenterScope;
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError};
use crate::http::stored::{self, StoredEnum};
use crate::http::time::{self, Date, Timestamp};
use crate::provinces::Provinces;
use crate::registration::{Document, DocumentType, NewHousehold, NewMember, Relationship, Sex};
use crate::schema::{centers, households};

/// A center rows may name.
pub(super) struct CenterInfo {
    pub(super) id: Uuid,
    pub(super) timezone: Tz,
}

/// What checking a household needs besides its rows.
pub struct Context {
    pub(super) centers: HashMap<String, CenterInfo>,
    pub(super) scope: CenterScope,
    pub(super) provinces: Provinces,
}

impl Context {
    pub(super) fn load(
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
                    id: stored::id(&id)?,
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
pub(super) struct Prepared {
    pub(super) new: NewHousehold,
    pub(super) fingerprint: String,
    pub(super) first_line: u64,
}

impl Prepared {
    pub(super) fn id(&self) -> Uuid {
        self.new.id.expect("imported households have ids")
    }
}

/// Parses a household's rows; `None` (errors recorded) if any cell cannot be
/// read. The rules that span fields are checked afterwards.
pub(super) fn parse_group(
    group: &Group,
    ctx: &Context,
    errors: &mut Errors,
) -> Option<NewHousehold> {
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
pub(super) fn parse_arrival(text: &str, timezone: Tz) -> Result<Timestamp, String> {
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
pub(super) fn parse_code<T: StoredEnum>(text: &str) -> Option<T> {
    T::parse(text)
}

/// A required coded cell (sex, relationship): `required` when empty,
/// `invalid` when not one of `choices`.
pub(super) fn required_code<T: StoredEnum>(
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

pub(super) fn parse_member(row: &Row, errors: &mut Errors) -> Option<NewMember> {
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
    let tracing_consent = match row.code(col::TRACING_CONSENT) {
        None => false,
        Some(text) => match text.to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" => true,
            "no" | "false" | "0" => false,
            _ => {
                errors.push(
                    line,
                    Some(COLUMNS[col::TRACING_CONSENT]),
                    "invalid",
                    "yes or no (empty: no)",
                );
                false
            }
        },
    };
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
        tracing_consent,
    })
}

/// Reports the JSON API's validation errors of a household on its rows:
/// `members[2].birth_date` on the third row's `birth_date`, household
/// fields on the first row.
pub(super) fn report_validation(group: &Group, fields: Vec<FieldError>, errors: &mut Errors) {
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
pub(super) fn fingerprint(new: &NewHousehold) -> Result<String, ApiError> {
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
pub(super) fn stored_fingerprints(
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
pub(super) fn seen_key(group: &Group) -> u64 {
    let mut hasher = DefaultHasher::new();
    group
        .first()
        .cell(col::CENTER_CODE)
        .trim()
        .hash(&mut hasher);
    group.first().cell(col::HOUSEHOLD_REF).hash(&mut hasher);
    hasher.finish()
}

//! Household registration: a household and all its members, registered in one
//! transaction, read back, listed, and corrected under optimistic concurrency.
//!
//! Names are stored exactly as entered (Armenian script round-trips byte for
//! byte); search keys derived from them live in `persons`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use crate::auth::{Caller, CenterScope};
use crate::db::{self, parse_uuid, Db, DbConnection, Unit};
use crate::error::{self, ApiError, FieldError};
use crate::extract::{non_null, nullable, JsonBody, Query};
use crate::http::etag::{etag, expected_version};
use crate::http::time::{self, Date, Timestamp};
use crate::idempotency::{self, Key};
use crate::needs;
use crate::persons::name_keys;
use crate::provinces::Provinces;
use crate::schema::{household_revisions, households, person_needs, persons as persons_table};
use crate::stats::aggregates::{self, Arrival, Arriving};

/// Most members one household may have.
pub const MAX_MEMBERS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    /// The stored (and serialized) code.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

/// A member's relationship to the head of the household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Head,
    Spouse,
    Child,
    Parent,
    Sibling,
    Grandchild,
    Grandparent,
    ChildInLaw,
    OtherRelative,
    NotRelated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    Passport,
    IdCard,
    BirthCertificate,
    Other,
}

/// An identity document, when the person has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[serde(rename = "type")]
    pub kind: DocumentType,
    #[validate(custom(function = "document_number"))]
    pub number: String,
}

fn as_text<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("unit enum variants serialize as strings"),
    }
}

fn from_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| ApiError::internal(format!("unexpected stored value {text:?}")))
}

/// `POST /api/v1/households` body.
#[derive(Debug, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewHousehold {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub center_id: Uuid,
    pub arrived_at: Timestamp,
    #[validate(custom(function = "place_name"))]
    pub origin_settlement: String,
    #[serde(default)]
    pub intended_destination: Option<String>,
    #[serde(default)]
    #[validate(custom(function = "e164"))]
    pub phone: Option<String>,
    #[validate(nested)]
    pub members: Vec<NewMember>,
}

/// One member in a registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    #[serde(default)]
    pub id: Option<Uuid>,
    #[validate(custom(function = "person_name"))]
    pub given_name: String,
    #[validate(custom(function = "person_name"))]
    pub family_name: String,
    #[serde(default)]
    #[validate(custom(function = "person_name"))]
    pub patronymic: Option<String>,
    #[serde(default)]
    #[validate(custom(function = "person_name"))]
    pub name_latin: Option<String>,
    pub sex: Sex,
    #[serde(default)]
    pub birth_date: Option<Date>,
    #[serde(default)]
    #[validate(range(min = 0, max = 120, message = "must be between 0 and 120"))]
    pub estimated_age: Option<i32>,
    pub relationship: Relationship,
    #[serde(default)]
    #[validate(nested)]
    pub document: Option<Document>,
    #[serde(default)]
    pub needs: Vec<String>,
}

fn person_name(name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ValidationError::new("invalid_name")
            .with_message("1 to 100 characters, not only spaces, no control characters".into()));
    }
    Ok(())
}

fn place_name(name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ValidationError::new("invalid_place")
            .with_message("1 to 200 characters, not only spaces, no control characters".into()));
    }
    Ok(())
}

fn document_number(number: &str) -> Result<(), ValidationError> {
    if number.trim().is_empty()
        || number.chars().count() > 64
        || number.chars().any(char::is_control)
    {
        return Err(ValidationError::new("invalid_document_number")
            .with_message("1 to 64 characters, no control characters".into()));
    }
    Ok(())
}

/// E.164: a plus sign, then 7 to 15 digits, the first not zero (e.g. +37491234567).
fn e164(phone: &str) -> Result<(), ValidationError> {
    let digits = phone.strip_prefix('+').unwrap_or("");
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !ok {
        return Err(
            ValidationError::new("e164").with_message("an E.164 number like +37491234567".into())
        );
    }
    Ok(())
}

/// Rules that span fields or need context: exactly one head, dates not in the
/// future, age limits, known needs codes and provinces, distinct ids.
fn check_household(
    arrived_at: DateTime<Utc>,
    intended_destination: Option<&str>,
    members: &[MemberFields<'_>],
    provinces: &Provinces,
    now: DateTime<Utc>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if time::in_future(arrived_at.naive_utc(), now.naive_utc()) {
        errors.push(FieldError::new(
            "arrived_at",
            "in_future",
            "must not be in the future",
        ));
    }
    if arrived_at.date_naive() < NaiveDate::from_ymd_opt(1990, 1, 1).expect("valid date") {
        errors.push(FieldError::new(
            "arrived_at",
            "too_early",
            "must be after 1990-01-01",
        ));
    }
    if let Some(destination) = intended_destination {
        if !provinces.contains(destination) {
            errors.push(FieldError::new(
                "intended_destination",
                "unknown",
                provinces.expected(),
            ));
        }
    }
    if members.is_empty() || members.len() > MAX_MEMBERS {
        errors.push(FieldError::new(
            "members",
            "count",
            format!(
                "a household has 1 to {MAX_MEMBERS} members (found {})",
                members.len()
            ),
        ));
    }
    let heads = members
        .iter()
        .filter(|m| m.relationship == Relationship::Head)
        .count();
    if heads != 1 && !members.is_empty() {
        errors.push(FieldError::new(
            "members",
            "one_head",
            format!("exactly one member must have relationship \"head\" (found {heads})"),
        ));
    }
    let today = now.date_naive();
    for (i, member) in members.iter().enumerate() {
        let at = |field: &str| format!("members[{i}].{field}");
        if let Some(birth_date) = member.birth_date {
            if birth_date > today {
                errors.push(FieldError::new(
                    at("birth_date"),
                    "in_future",
                    "must not be in the future",
                ));
            } else if today.years_since(birth_date).unwrap_or(0) > 120 {
                errors.push(FieldError::new(
                    at("birth_date"),
                    "too_old",
                    "gives an age over 120",
                ));
            }
            if member.estimated_age.is_some() {
                errors.push(FieldError::new(
                    at("estimated_age"),
                    "exclusive",
                    "give either birth_date or estimated_age, not both",
                ));
            }
        }
        let mut seen = Vec::new();
        for (j, code) in member.needs.iter().enumerate() {
            if !needs::is_known(code) {
                errors.push(FieldError::new(
                    format!("members[{i}].needs[{j}]"),
                    "unknown",
                    format!("unknown specific-needs code {code:?}; see GET /api/v1/codes/needs"),
                ));
            } else if seen.contains(&code) {
                errors.push(FieldError::new(
                    format!("members[{i}].needs[{j}]"),
                    "duplicate",
                    "listed twice",
                ));
            }
            seen.push(code);
        }
        if let Some(id) = member.id {
            if members[..i].iter().any(|other| other.id == Some(id)) {
                errors.push(FieldError::new(
                    at("id"),
                    "duplicate",
                    "two members have the same id",
                ));
            }
        }
    }
    errors
}

/// The fields of a member that the cross-field rules look at.
struct MemberFields<'a> {
    id: Option<Uuid>,
    relationship: Relationship,
    birth_date: Option<NaiveDate>,
    estimated_age: Option<i32>,
    needs: &'a [String],
}

/// A household as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Household {
    pub id: Uuid,
    pub center_id: Uuid,
    pub arrived_at: DateTime<Utc>,
    pub origin_settlement: String,
    pub intended_destination: Option<String>,
    pub phone: Option<String>,
    pub size: i32,
    pub version: i32,
    pub registered_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub members: Vec<Member>,
}

/// A household member as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: Uuid,
    pub given_name: String,
    pub family_name: String,
    pub patronymic: Option<String>,
    pub name_latin: Option<String>,
    pub sex: Sex,
    pub birth_date: Option<NaiveDate>,
    pub estimated_age: Option<i32>,
    pub relationship: Relationship,
    pub document: Option<Document>,
    pub needs: Vec<String>,
}

impl Household {
    /// This household as the arrival statistics count it.
    pub fn arrival(&self) -> Arrival<'_> {
        Arrival {
            center_id: self.center_id,
            arrived_at: self.arrived_at,
            origin_settlement: &self.origin_settlement,
            intended_destination: self.intended_destination.as_deref(),
            persons: self
                .members
                .iter()
                .map(|m| Arriving {
                    sex: m.sex.as_str(),
                    birth_date: m.birth_date,
                    estimated_age: m.estimated_age,
                    needs: &m.needs,
                })
                .collect(),
        }
    }
}

impl Member {
    /// The names search should find this member by.
    pub fn names(&self) -> Vec<&str> {
        name_keys::name_list(
            &self.given_name,
            &self.family_name,
            self.patronymic.as_deref(),
            self.name_latin.as_deref(),
        )
    }

    fn from_new(mut new: NewMember) -> Member {
        new.needs.sort();
        Member {
            id: new.id.unwrap_or_else(Uuid::now_v7),
            given_name: new.given_name,
            family_name: new.family_name,
            patronymic: new.patronymic,
            name_latin: new.name_latin,
            sex: new.sex,
            birth_date: new.birth_date.map(Into::into),
            estimated_age: new.estimated_age,
            relationship: new.relationship,
            document: new.document,
            needs: new.needs,
        }
    }
}

/// Checks a registration against every rule of the JSON API: the field
/// rules, then the rules that span fields (one head, dates, needs, provinces).
pub fn validate_new(new: &NewHousehold, provinces: &Provinces) -> Result<(), ApiError> {
    let mut errors = match new.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => error::from_validation(&errors),
    };
    let fields: Vec<MemberFields<'_>> = new
        .members
        .iter()
        .map(|m| MemberFields {
            id: m.id,
            relationship: m.relationship,
            birth_date: m.birth_date.map(Into::into),
            estimated_age: m.estimated_age,
            needs: &m.needs,
        })
        .collect();
    errors.extend(check_household(
        new.arrived_at.with_timezone(&Utc),
        new.intended_destination.as_deref(),
        &fields,
        provinces,
        Utc::now(),
    ));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Registers a validated household and its members; used by the API and by
/// every other writer (scenario replay, imports) so that all go through the
/// same rules.
pub fn register(
    unit: &mut Unit<'_>,
    new: NewHousehold,
    registered_by: Uuid,
) -> Result<Household, ApiError> {
    let conn = unit.conn();
    let now = time::now();
    let household = household_from_new(new, registered_by, now);
    diesel::insert_into(households::table)
        .values(HouseholdInsert::of(&household, None, now))
        .execute(conn)
        .map_err(household_insert_error(
            || household.center_id,
            || household.id,
        ))?;
    insert_members(conn, household.id, 0, &household.members, now)?;
    unit.record(aggregates::change(None, Some(&household.arrival())));
    Ok(household)
}

/// Registers many validated households in the caller's transaction: the
/// same rows and statistics as [`register`] for each, written with
/// multi-row INSERTs (households, persons, needs, search keys) and one
/// statistics delta instead of a dozen statements per household. For bulk
/// writers (imports): each household comes with its import fingerprint,
/// stored in its row. Each statement stays under SQLite's bound-parameter
/// limit.
pub fn register_many(
    unit: &mut Unit<'_>,
    news: Vec<(NewHousehold, String)>,
    registered_by: Uuid,
) -> Result<Vec<Household>, ApiError> {
    let conn = unit.conn();
    let now = time::now();
    let (news, fingerprints): (Vec<NewHousehold>, Vec<String>) = news.into_iter().unzip();
    let households: Vec<Household> = news
        .into_iter()
        .map(|new| household_from_new(new, registered_by, now))
        .collect();
    if households.is_empty() {
        return Ok(households);
    }
    let members: Vec<&Member> = households.iter().flat_map(|h| &h.members).collect();
    // The search keys (Unicode folding and transliteration, a tenth of a bulk
    // write's time) are derived on a second thread while the rows go in.
    std::thread::scope(|scope| {
        let keys = scope.spawn(|| {
            name_keys::name_key_rows(members.iter().map(|m| (m.id.to_string(), m.names())))
        });
        let rows: Vec<HouseholdInsert<'_>> = households
            .iter()
            .zip(&fingerprints)
            .map(|(h, fingerprint)| HouseholdInsert::of(h, Some(fingerprint), now))
            .collect();
        for chunk in rows.chunks(db::rows_per_insert(HouseholdInsert::COLUMNS)) {
            crate::per_backend!(conn, |c| diesel::insert_into(households::table)
                .values(chunk)
                .execute(c))
            .map_err(household_insert_error(
                // Which household failed is not reported portably; the caller
                // validated the centers, so this is a race with a center change.
                || households[0].center_id,
                || households[0].id,
            ))?;
        }
        let persons: Vec<PersonInsert<'_>> = households
            .iter()
            .flat_map(|h| {
                let household_id = h.id.to_string();
                h.members
                    .iter()
                    .enumerate()
                    .map(move |(i, m)| PersonInsert::of(household_id.clone(), i as i32, m, now))
            })
            .collect();
        for chunk in persons.chunks(db::rows_per_insert(PersonInsert::COLUMNS)) {
            crate::per_backend!(conn, |c| diesel::insert_into(persons_table::table)
                .values(chunk)
                .execute(c))
            .map_err(person_insert_error)?;
        }
        insert_needs(conn, &members)?;
        let keys = keys
            .join()
            .map_err(|_| ApiError::internal("deriving search keys failed"))?;
        name_keys::insert_name_key_rows(conn, &keys)
    })?;
    unit.record(aggregates::registrations(
        households.iter().map(Household::arrival),
    ));
    Ok(households)
}

/// The household a validated registration creates (ids generated where the
/// client chose none).
fn household_from_new(new: NewHousehold, registered_by: Uuid, now: NaiveDateTime) -> Household {
    Household {
        id: new.id.unwrap_or_else(Uuid::now_v7),
        center_id: new.center_id,
        arrived_at: new.arrived_at.stored().and_utc(),
        origin_settlement: new.origin_settlement,
        intended_destination: new.intended_destination,
        phone: new.phone,
        size: new.members.len() as i32,
        version: 1,
        registered_by,
        created_at: now.and_utc(),
        updated_at: now.and_utc(),
        members: new.members.into_iter().map(Member::from_new).collect(),
    }
}

/// Maps the failures of a household INSERT to API errors.
fn household_insert_error(
    center: impl FnOnce() -> Uuid,
    id: impl FnOnce() -> Uuid,
) -> impl FnOnce(diesel::result::Error) -> ApiError {
    move |error| {
        match error {
        // The only foreign keys of a household row: the center (checked by
        // the database rather than by a separate query) and the registering user.
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _) => {
            ApiError::invalid("center_id", "unknown", format!("no center with id {}", center()))
        }
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            ApiError::Conflict {
                code: "household-exists",
                detail: format!(
                    "a household with id {} already exists (and this is not a retry of its registration)",
                    id()
                ),
            }
        }
        other => other.into(),
    }
    }
}

fn person_insert_error(error: diesel::result::Error) -> ApiError {
    db::unique_violation(|| ApiError::Conflict {
        code: "person-exists",
        detail: "a member id is already registered to another household".into(),
    })(error)
}

/// A `households` row to insert.
///
/// `treat_none_as_default_value = false` (here and on [`PersonInsert`]): an
/// absent value is NULL, as it is anyway (these columns have no defaults),
/// and a batch becomes one multi-row INSERT on SQLite too. With diesel's
/// default, SQLite would run one INSERT per row (to write DEFAULT for
/// `None`), which was a fifth of a bulk import's write time.
#[derive(Insertable)]
#[diesel(table_name = households, treat_none_as_default_value = false)]
struct HouseholdInsert<'a> {
    id: String,
    center_id: String,
    arrived_at: NaiveDateTime,
    origin_settlement: &'a str,
    intended_destination: Option<&'a str>,
    phone: Option<&'a str>,
    size: i32,
    version: i32,
    registered_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    import_fingerprint: Option<&'a str>,
}

impl<'a> HouseholdInsert<'a> {
    const COLUMNS: usize = 12;

    fn of(
        household: &'a Household,
        import_fingerprint: Option<&'a str>,
        now: NaiveDateTime,
    ) -> Self {
        HouseholdInsert {
            id: household.id.to_string(),
            center_id: household.center_id.to_string(),
            arrived_at: household.arrived_at.naive_utc(),
            origin_settlement: &household.origin_settlement,
            intended_destination: household.intended_destination.as_deref(),
            phone: household.phone.as_deref(),
            size: household.size,
            version: household.version,
            registered_by: household.registered_by.to_string(),
            created_at: now,
            updated_at: now,
            import_fingerprint,
        }
    }
}

/// A `persons` row to insert (one multi-row INSERT per batch, see
/// [`HouseholdInsert`]).
#[derive(Insertable)]
#[diesel(table_name = persons_table, treat_none_as_default_value = false)]
struct PersonInsert<'a> {
    id: String,
    household_id: String,
    position: i32,
    given_name: &'a str,
    family_name: &'a str,
    patronymic: Option<&'a str>,
    name_latin: Option<&'a str>,
    sex: String,
    birth_date: Option<NaiveDate>,
    estimated_age: Option<i32>,
    relationship: String,
    document_type: Option<String>,
    document_number: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl<'a> PersonInsert<'a> {
    const COLUMNS: usize = 15;

    fn of(household_id: String, position: i32, m: &'a Member, now: NaiveDateTime) -> Self {
        PersonInsert {
            id: m.id.to_string(),
            household_id,
            position,
            given_name: &m.given_name,
            family_name: &m.family_name,
            patronymic: m.patronymic.as_deref(),
            name_latin: m.name_latin.as_deref(),
            sex: as_text(m.sex),
            birth_date: m.birth_date,
            estimated_age: m.estimated_age,
            relationship: as_text(m.relationship),
            document_type: m.document.as_ref().map(|d| as_text(d.kind)),
            document_number: m.document.as_ref().map(|d| d.number.as_str()),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Inserts member rows (from `first_position` on), their needs and search keys.
fn insert_members(
    conn: &mut DbConnection,
    household_id: Uuid,
    first_position: i32,
    members: &[Member],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let household_id = household_id.to_string();
    let rows: Vec<PersonInsert<'_>> = members
        .iter()
        .enumerate()
        .map(|(i, m)| PersonInsert::of(household_id.clone(), first_position + i as i32, m, now))
        .collect();
    crate::per_backend!(conn, |c| diesel::insert_into(persons_table::table)
        .values(&rows)
        .execute(c))
    .map_err(person_insert_error)?;
    insert_needs_and_keys(conn, members.iter().collect())
}

fn insert_needs_and_keys(conn: &mut DbConnection, members: Vec<&Member>) -> Result<(), ApiError> {
    insert_needs(conn, &members)?;
    name_keys::insert_name_keys(conn, members.into_iter().map(|m| (m.id, m.names())))
}

fn insert_needs(conn: &mut DbConnection, members: &[&Member]) -> Result<(), ApiError> {
    let needs: Vec<_> = members
        .iter()
        .flat_map(|m| {
            m.needs.iter().map(move |code| {
                (
                    person_needs::person_id.eq(m.id.to_string()),
                    person_needs::code.eq(code.as_str()),
                )
            })
        })
        .collect();
    for chunk in needs.chunks(db::rows_per_insert(2)) {
        crate::per_backend!(conn, |c| diesel::insert_into(person_needs::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// A `households` row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = households)]
struct HouseholdRow {
    id: String,
    center_id: String,
    arrived_at: NaiveDateTime,
    origin_settlement: String,
    intended_destination: Option<String>,
    phone: Option<String>,
    size: i32,
    version: i32,
    registered_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// The columns of a `persons` row that make up a member.
#[derive(Queryable, Selectable)]
#[diesel(table_name = persons_table)]
pub(crate) struct PersonRow {
    id: String,
    household_id: String,
    given_name: String,
    family_name: String,
    patronymic: Option<String>,
    name_latin: Option<String>,
    sex: String,
    birth_date: Option<NaiveDate>,
    estimated_age: Option<i32>,
    relationship: String,
    document_type: Option<String>,
    document_number: Option<String>,
}

/// Builds members from person rows, attaching their needs (one query for all).
pub(crate) fn members_from_rows(
    conn: &mut DbConnection,
    rows: Vec<PersonRow>,
) -> Result<Vec<(Uuid, Member)>, ApiError> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let mut needs: Vec<(String, String)> = Vec::new();
    for chunk in ids.chunks(500) {
        needs.extend(
            person_needs::table
                .filter(person_needs::person_id.eq_any(chunk))
                .select((person_needs::person_id, person_needs::code))
                .order((person_needs::person_id, person_needs::code))
                .load::<(String, String)>(conn)?,
        );
    }
    rows.into_iter()
        .map(|row| {
            let PersonRow {
                id,
                household_id,
                given_name,
                family_name,
                patronymic,
                name_latin,
                sex,
                birth_date,
                estimated_age,
                relationship,
                document_type,
                document_number,
            } = row;
            let document = match (document_type, document_number) {
                (Some(kind), Some(number)) => Some(Document {
                    kind: from_text(&kind)?,
                    number,
                }),
                _ => None,
            };
            let member_needs = needs
                .iter()
                .filter(|(p, _)| *p == id)
                .map(|(_, c)| c.clone())
                .collect();
            Ok((
                parse_uuid(&household_id)?,
                Member {
                    id: parse_uuid(&id)?,
                    given_name,
                    family_name,
                    patronymic,
                    name_latin,
                    sex: from_text(&sex)?,
                    birth_date,
                    estimated_age,
                    relationship: from_text(&relationship)?,
                    document,
                    needs: member_needs,
                },
            ))
        })
        .collect()
}

/// Loads households (in the given order) with their members.
fn load_households(
    conn: &mut DbConnection,
    rows: Vec<HouseholdRow>,
) -> Result<Vec<Household>, ApiError> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let person_rows: Vec<PersonRow> = persons_table::table
        .filter(persons_table::household_id.eq_any(&ids))
        .order((persons_table::household_id, persons_table::position))
        .select(PersonRow::as_select())
        .load(conn)?;
    let mut members: std::collections::HashMap<Uuid, Vec<Member>> =
        std::collections::HashMap::with_capacity(rows.len());
    for (household, member) in members_from_rows(conn, person_rows)? {
        members.entry(household).or_default().push(member);
    }
    rows.into_iter()
        .map(|row| {
            let HouseholdRow {
                id,
                center_id,
                arrived_at,
                origin_settlement,
                intended_destination,
                phone,
                size,
                version,
                registered_by,
                created_at,
                updated_at,
            } = row;
            let id = parse_uuid(&id)?;
            Ok(Household {
                id,
                center_id: parse_uuid(&center_id)?,
                arrived_at: arrived_at.and_utc(),
                origin_settlement,
                intended_destination,
                phone,
                size,
                version,
                registered_by: parse_uuid(&registered_by)?,
                created_at: created_at.and_utc(),
                updated_at: updated_at.and_utc(),
                members: members.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

/// Households (with members) that arrived in `[from, to]`, in arrival order.
pub(crate) fn arrived_between(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<Household>, ApiError> {
    let rows: Vec<HouseholdRow> = households::table
        .filter(households::arrived_at.between(from, to))
        .order((households::arrived_at, households::id))
        .select(HouseholdRow::as_select())
        .load(conn)?;
    load_households(conn, rows)
}

/// Up to `limit` households after `after` in id order, for scans over all records.
pub(crate) fn page_by_id(
    conn: &mut DbConnection,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Household>, ApiError> {
    let mut q = households::table
        .select(HouseholdRow::as_select())
        .order(households::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(households::id.gt(after.to_string()));
    }
    let rows = q.load(conn)?;
    load_households(conn, rows)
}

/// Loads one household with its members.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Household>, ApiError> {
    let row: Option<HouseholdRow> = households::table
        .find(id.to_string())
        .select(HouseholdRow::as_select())
        .first(conn)
        .optional()?;
    match row {
        Some(row) => Ok(load_households(conn, vec![row])?.pop()),
        None => Ok(None),
    }
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no household with id {id}"))
}

fn location(id: Uuid) -> String {
    format!("/api/v1/households/{id}")
}

fn respond_with(status: actix_web::http::StatusCode, household: &Household) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(household.version)))
        .insert_header((header::LOCATION, location(household.id)))
        .json(household)
}

/// `POST /api/v1/households`: registers a household with all its members.
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    body: JsonBody<NewHousehold>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    validate_new(&new, &provinces)?;
    caller.require_registration(new.center_id)?;
    let keys = Key::for_create(&req, &caller, "household", new.id)?;
    let request_hash = idempotency::fingerprint(&req, &body.document)?;
    let user_id = caller.user_id;
    let (stored, replayed) = idempotency::run(&db, keys, request_hash, move |conn| {
        let household = register(conn, new, user_id)?;
        Ok(idempotency::Stored {
            status: 201,
            body: serde_json::to_string(&household).map_err(ApiError::internal)?,
            location: location(household.id),
            version: Some(household.version),
        })
    })
    .await?;
    Ok(stored.respond(replayed))
}

/// `GET /api/v1/households/{id}`.
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let household = db
        .read(move |conn| find(conn, id))
        .await?
        .ok_or_else(|| not_found(id))?;
    if !scope.allows(household.center_id) {
        return Err(ApiError::Forbidden(
            "you are not assigned to this household's center".into(),
        ));
    }
    Ok(respond_with(actix_web::http::StatusCode::OK, &household))
}

/// `GET /api/v1/households` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    center_id: Option<Uuid>,
    arrived_from: Option<Timestamp>,
    arrived_to: Option<Timestamp>,
    origin_settlement: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Default and largest page size for lists.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;

/// Validates a requested page size.
pub fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_parameter(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// An opaque position in a list ordered by (instant, id).
pub(crate) fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}|{id}", at.timestamp_micros()))
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<(NaiveDateTime, String), ApiError> {
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
    Ok((at, id.to_string()))
}

/// `GET /api/v1/households`: households by arrival, filtered, a page at a time.
pub async fn list(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let query = query.0;
    if let Some(center) = query.center_id {
        if !scope.allows(center) {
            return Err(ApiError::Forbidden(
                "you are not assigned to this center".into(),
            ));
        }
    }
    let limit = page_size(query.limit)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let page = db
        .read(move |conn| {
            let mut q = households::table
                .select(HouseholdRow::as_select())
                .into_boxed();
            if let Some(center) = query.center_id {
                q = q.filter(households::center_id.eq(center.to_string()));
            }
            if let CenterScope::Only(centers) = &scope {
                let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
                q = q.filter(households::center_id.eq_any(centers));
            }
            if let Some(from) = query.arrived_from {
                q = q.filter(households::arrived_at.ge(from.naive_utc()));
            }
            if let Some(to) = query.arrived_to {
                q = q.filter(households::arrived_at.lt(to.naive_utc()));
            }
            if let Some(origin) = &query.origin_settlement {
                q = q.filter(households::origin_settlement.eq(origin.clone()));
            }
            if let Some((at, id)) = after {
                q = q.filter(
                    households::arrived_at
                        .gt(at)
                        .or(households::arrived_at.eq(at).and(households::id.gt(id))),
                );
            }
            let mut rows: Vec<HouseholdRow> = q
                .order((households::arrived_at, households::id))
                .limit(limit + 1)
                .load(conn)?;
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            let items = load_households(conn, rows)?;
            let next_cursor = match (more, items.last()) {
                (true, Some(last)) => Some(encode_cursor(last.arrived_at, last.id)),
                _ => None,
            };
            Ok(serde_json::json!({ "items": items, "next_cursor": next_cursor }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `PATCH /api/v1/households/{id}` body: corrections. Fields sent replace the
/// stored ones (`null` clears an optional field); `members` corrects existing
/// members by id; `add_members` adds people who joined the household.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HouseholdPatch {
    /// When the correction takes effect for statistics as of a past instant
    /// (default: now): a correction noted at the desk during an outage and
    /// entered later. Not a field of the household.
    #[serde(default, deserialize_with = "non_null")]
    pub effective_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "non_null")]
    pub arrived_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "non_null")]
    pub origin_settlement: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub intended_destination: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<String>>,
    #[serde(default)]
    pub members: Vec<MemberPatch>,
    #[serde(default)]
    pub add_members: Vec<NewMember>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    pub id: Uuid,
    #[serde(default, deserialize_with = "non_null")]
    pub given_name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub family_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub patronymic: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub name_latin: Option<Option<String>>,
    #[serde(default, deserialize_with = "non_null")]
    pub sex: Option<Sex>,
    #[serde(default, deserialize_with = "nullable")]
    pub birth_date: Option<Option<Date>>,
    #[serde(default, deserialize_with = "nullable")]
    pub estimated_age: Option<Option<i32>>,
    #[serde(default, deserialize_with = "non_null")]
    pub relationship: Option<Relationship>,
    #[serde(default, deserialize_with = "nullable")]
    pub document: Option<Option<Document>>,
    #[serde(default, deserialize_with = "non_null")]
    pub needs: Option<Vec<String>>,
}

/// Applies a patch to a loaded household; returns the members that are new.
fn apply_patch(household: &mut Household, patch: HouseholdPatch) -> Result<usize, ApiError> {
    if let Some(at) = patch.arrived_at {
        household.arrived_at = at.stored().and_utc();
    }
    if let Some(origin) = patch.origin_settlement {
        household.origin_settlement = origin;
    }
    if let Some(destination) = patch.intended_destination {
        household.intended_destination = destination;
    }
    if let Some(phone) = patch.phone {
        household.phone = phone;
    }
    for (i, change) in patch.members.into_iter().enumerate() {
        let member = household
            .members
            .iter_mut()
            .find(|m| m.id == change.id)
            .ok_or_else(|| {
                ApiError::invalid(
                    format!("members[{i}].id"),
                    "unknown",
                    "no member with this id in this household",
                )
            })?;
        if let Some(v) = change.given_name {
            member.given_name = v;
        }
        if let Some(v) = change.family_name {
            member.family_name = v;
        }
        if let Some(v) = change.patronymic {
            member.patronymic = v;
        }
        if let Some(v) = change.name_latin {
            member.name_latin = v;
        }
        if let Some(v) = change.sex {
            member.sex = v;
        }
        if let Some(v) = change.birth_date {
            member.birth_date = v.map(Into::into);
        }
        if let Some(v) = change.estimated_age {
            member.estimated_age = v;
        }
        if let Some(v) = change.relationship {
            member.relationship = v;
        }
        if let Some(v) = change.document {
            member.document = v;
        }
        if let Some(mut v) = change.needs {
            v.sort();
            member.needs = v;
        }
    }
    let added = patch.add_members.len();
    household
        .members
        .extend(patch.add_members.into_iter().map(Member::from_new));
    household.size = household.members.len() as i32;
    Ok(added)
}

/// Validates a corrected household with the same rules as a registration.
fn validate_patched(household: &Household, provinces: &Provinces) -> Result<(), ApiError> {
    let as_new = NewHousehold {
        id: Some(household.id),
        center_id: household.center_id,
        arrived_at: Timestamp::trusted(household.arrived_at),
        origin_settlement: household.origin_settlement.clone(),
        intended_destination: household.intended_destination.clone(),
        phone: household.phone.clone(),
        members: household
            .members
            .iter()
            .map(|m| NewMember {
                id: Some(m.id),
                given_name: m.given_name.clone(),
                family_name: m.family_name.clone(),
                patronymic: m.patronymic.clone(),
                name_latin: m.name_latin.clone(),
                sex: m.sex,
                birth_date: m.birth_date.map(Date::trusted),
                estimated_age: m.estimated_age,
                relationship: m.relationship,
                document: m.document.clone(),
                needs: m.needs.clone(),
            })
            .collect(),
    };
    validate_new(&as_new, provinces)
}

/// `PATCH /api/v1/households/{id}`: corrections, with `If-Match` required.
pub async fn patch(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    id: web::Path<Uuid>,
    body: JsonBody<HouseholdPatch>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_version(&req)?;
    let id = id.into_inner();
    let mut patch = body.value;
    let now = time::now();
    let effective_at = match patch.effective_at.take() {
        None => now,
        Some(at) if time::in_future(at.naive_utc(), now) => {
            return Err(ApiError::invalid(
                "effective_at",
                "in_future",
                "a correction cannot take effect in the future",
            ))
        }
        Some(at) => at.stored(),
    };
    let household = db
        .write(move |conn| {
            let correction = Correction {
                id,
                expected_version: expected,
                patch,
                corrected_by: caller.user_id,
                effective_at,
            };
            correct(conn, correction, &provinces, |household| {
                caller.require_registration(household.center_id)
            })
        })
        .await?;
    Ok(respond_with(actix_web::http::StatusCode::OK, &household))
}

/// A correction to apply to a stored household.
pub struct Correction {
    pub id: Uuid,
    /// The version the corrector read; another version means someone else
    /// corrected the household in between (412).
    pub expected_version: i32,
    pub patch: HouseholdPatch,
    pub corrected_by: Uuid,
    /// When the correction takes effect for statistics as of a past instant:
    /// now, unless the client says it took effect earlier; the replayed time
    /// for a scenario replay. Never before the household's arrival nor before
    /// its previous correction.
    pub effective_at: NaiveDateTime,
}

/// Applies a correction in the caller's transaction: keeps the previous state
/// as a revision, bumps the version and keeps the statistics current.
/// `authorize` sees the stored household before anything is written.
pub fn correct(
    unit: &mut Unit<'_>,
    correction: Correction,
    provinces: &Provinces,
    authorize: impl FnOnce(&Household) -> Result<(), ApiError>,
) -> Result<Household, ApiError> {
    let conn = unit.conn();
    let Correction {
        id,
        expected_version: expected,
        patch,
        corrected_by,
        effective_at,
    } = correction;
    let mut household = find(conn, id)?.ok_or_else(|| not_found(id))?;
    authorize(&household)?;
    if household.version != expected {
        return Err(ApiError::PreconditionFailed {
            current_version: household.version,
        });
    }
    if effective_at < household.arrived_at.naive_utc() {
        return Err(ApiError::invalid(
            "effective_at",
            "before_arrival",
            "a correction cannot take effect before the household arrived",
        ));
    }
    let before = household.clone();
    let old_count = household.members.len();
    apply_patch(&mut household, patch)?;
    validate_patched(&household, provinces)?;
    let last_effective: Option<NaiveDateTime> = household_revisions::table
        .filter(household_revisions::household_id.eq(id.to_string()))
        .select(diesel::dsl::max(household_revisions::replaced_at))
        .first(conn)?;
    if last_effective.is_some_and(|last| effective_at < last) {
        return Err(ApiError::invalid(
            "effective_at",
            "before_previous",
            "a correction cannot take effect before the previous one",
        ));
    }
    let now = time::now();
    household.version += 1;
    household.updated_at = now.and_utc();
    // The version in the WHERE clause makes a concurrent correction
    // (another process between our read and this write) fail cleanly.
    let updated = diesel::update(
        households::table
            .find(id.to_string())
            .filter(households::version.eq(expected)),
    )
    .set((
        households::arrived_at.eq(household.arrived_at.naive_utc()),
        households::origin_settlement.eq(&household.origin_settlement),
        households::intended_destination.eq(&household.intended_destination),
        households::phone.eq(&household.phone),
        households::size.eq(household.size),
        households::version.eq(household.version),
        households::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 0 {
        let current: i32 = households::table
            .find(id.to_string())
            .select(households::version)
            .first(conn)?;
        return Err(ApiError::PreconditionFailed {
            current_version: current,
        });
    }
    diesel::insert_into(household_revisions::table)
        .values((
            household_revisions::household_id.eq(id.to_string()),
            household_revisions::version.eq(before.version),
            household_revisions::snapshot
                .eq(serde_json::to_string(&before).map_err(ApiError::internal)?),
            household_revisions::replaced_at.eq(effective_at),
            household_revisions::replaced_by.eq(corrected_by.to_string()),
            household_revisions::recorded_at.eq(now),
        ))
        .execute(conn)?;
    let (existing, added) = household.members.split_at(old_count);
    for member in existing {
        diesel::update(persons_table::table.find(member.id.to_string()))
            .set((
                persons_table::given_name.eq(&member.given_name),
                persons_table::family_name.eq(&member.family_name),
                persons_table::patronymic.eq(&member.patronymic),
                persons_table::name_latin.eq(&member.name_latin),
                persons_table::sex.eq(as_text(member.sex)),
                persons_table::birth_date.eq(member.birth_date),
                persons_table::estimated_age.eq(member.estimated_age),
                persons_table::relationship.eq(as_text(member.relationship)),
                persons_table::document_type.eq(member.document.as_ref().map(|d| as_text(d.kind))),
                persons_table::document_number
                    .eq(member.document.as_ref().map(|d| d.number.clone())),
                persons_table::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    let existing_ids: Vec<String> = existing.iter().map(|m| m.id.to_string()).collect();
    diesel::delete(person_needs::table.filter(person_needs::person_id.eq_any(&existing_ids)))
        .execute(conn)?;
    for member in &before.members {
        name_keys::delete_name_keys(conn, member.id, &member.names())?;
    }
    insert_needs_and_keys(conn, existing.iter().collect())?;
    if !added.is_empty() {
        insert_members(conn, id, old_count as i32, added, now)?;
    }
    unit.record(aggregates::change(
        Some(&before.arrival()),
        Some(&household.arrival()),
    ));
    tracing::info!(household_id = %id, version = household.version, "household corrected");
    Ok(household)
}

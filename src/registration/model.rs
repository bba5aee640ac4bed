//! What a registration is: households and members as sent and as returned,
//! the rules they must meet (one head, dates, needs, provinces...), and how a
//! correction changes a household before it is checked again.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use crate::error::{self, ApiError, FieldError};
use crate::extract::{non_null, nullable};
use crate::http::time::{self, Date, Timestamp};
use crate::matching::keys::Record;
use crate::matching::{Birth, Profile};
use crate::needs;
use crate::persons::name_keys;
use crate::provinces::Provinces;
use crate::stats::aggregates::{Arrival, Arriving, Reached};
use crate::validate::{person_name, place_name};

/// Most members one household may have.
pub const MAX_MEMBERS: usize = 40;

crate::stored_enum! {
    pub enum Sex {
        Female = "female",
        Male = "male",
        Other = "other",
        Unknown = "unknown",
    }
}

crate::stored_enum! {
    /// A member's relationship to the head of the household.
    pub enum Relationship {
        Head = "head",
        Spouse = "spouse",
        Child = "child",
        Parent = "parent",
        Sibling = "sibling",
        Grandchild = "grandchild",
        Grandparent = "grandparent",
        ChildInLaw = "child_in_law",
        OtherRelative = "other_relative",
        NotRelated = "not_related",
    }
}

crate::stored_enum! {
    pub enum DocumentType {
        Passport = "passport",
        IdCard = "id_card",
        BirthCertificate = "birth_certificate",
        Other = "other",
    }
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
    /// The member agrees to be found by relatives looking for them (family
    /// tracing). Unaccompanied and separated children (needs `SC-UC`,
    /// `SC-SC`) may be traced whatever this says. Left out of what an import
    /// fingerprints when false, so households imported before it existed
    /// stay unchanged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tracing_consent: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
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
    /// Every member was merged into a person registered elsewhere
    /// ([`Household::is_duplicate`]): a duplicate household, counted no more.
    #[serde(default)]
    pub duplicate: bool,
    /// When each kind of assistance first reached the household (kept by
    /// housing, distributions and transport; what coverage counts). Not
    /// part of the record the API returns, nor of its revisions.
    #[serde(skip)]
    pub reached: Reached,
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
    /// The person this record was found to be a duplicate of, and merged
    /// into (`POST /api/v1/duplicates/{id}/decision`): this record then
    /// counts no more. Absent from revisions stored before merges existed.
    #[serde(default)]
    pub merged_into: Option<Uuid>,
    /// Whether relatives' tracing requests may find this member (see
    /// [`NewMember::tracing_consent`]). False in revisions stored before
    /// tracing existed.
    #[serde(default)]
    pub tracing_consent: bool,
}

impl Household {
    /// Its members as the matcher sees them, with their ids: names, sex,
    /// birth, document, and the household's phone, origin and size.
    pub fn profiles(&self) -> Vec<(Uuid, Profile)> {
        self.members
            .iter()
            .map(|m| {
                let profile = Profile {
                    given_name: m.given_name.clone(),
                    family_name: m.family_name.clone(),
                    patronymic: m.patronymic.clone(),
                    // A sex not recorded is no evidence either way.
                    sex: Some(m.sex)
                        .filter(|s| *s != Sex::Unknown)
                        .map(|s| s.as_str().to_string()),
                    birth: Birth {
                        date: m.birth_date,
                        estimated_age: m.estimated_age,
                        registered_on: self.arrived_at.date_naive(),
                    },
                    document_number: m.document.as_ref().map(|d| d.number.clone()),
                    phone: self.phone.clone(),
                    origin_settlement: Some(self.origin_settlement.clone()),
                    household_size: Some(self.members.len() as i32),
                };
                (m.id, profile)
            })
            .collect()
    }

    /// Its members as records for the matching engine (duplicates).
    pub fn records(&self) -> Vec<Record> {
        self.records_where(|_| true)
    }

    /// The members relatives' tracing requests may find, as records for
    /// the matching engine ([`Member::may_be_traced`]).
    pub fn traced_records(&self) -> Vec<Record> {
        self.records_where(Member::may_be_traced)
    }

    fn records_where(&self, keep: impl Fn(&Member) -> bool) -> Vec<Record> {
        self.profiles()
            .into_iter()
            .zip(&self.members)
            .filter(|(_, member)| keep(member))
            .map(|((person_id, profile), _)| Record {
                person_id,
                household_id: self.id,
                center_id: self.center_id,
                profile,
            })
            .collect()
    }

    /// Whether every member was merged into a person registered elsewhere:
    /// the household is then a duplicate and counts no more.
    pub fn is_duplicate(&self) -> bool {
        !self.members.is_empty() && self.members.iter().all(|m| m.merged_into.is_some())
    }

    /// This household as the arrival statistics count it: its members not
    /// merged into another record (none, for a duplicate household).
    pub fn arrival(&self) -> Arrival<'_> {
        Arrival {
            center_id: self.center_id,
            arrived_at: self.arrived_at,
            origin_settlement: &self.origin_settlement,
            intended_destination: self.intended_destination.as_deref(),
            persons: self
                .members
                .iter()
                .filter(|m| m.merged_into.is_none())
                .map(|m| Arriving {
                    sex: m.sex.as_str(),
                    birth_date: m.birth_date,
                    estimated_age: m.estimated_age,
                    needs: &m.needs,
                })
                .collect(),
            reached: self.reached,
        }
    }
}

impl Member {
    /// Whether relatives' tracing requests may find this member: with their
    /// consent, or as an unaccompanied or separated child (needs `SC-UC`,
    /// `SC-SC`).
    pub fn may_be_traced(&self) -> bool {
        self.tracing_consent
            || self
                .needs
                .iter()
                .any(|n| needs::ALWAYS_TRACEABLE.contains(&n.as_str()))
    }

    /// The names search should find this member by.
    pub fn names(&self) -> Vec<&str> {
        name_keys::name_list(
            &self.given_name,
            &self.family_name,
            self.patronymic.as_deref(),
            self.name_latin.as_deref(),
        )
    }
    pub(super) fn from_new(mut new: NewMember) -> Member {
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
            merged_into: None,
            tracing_consent: new.tracing_consent,
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
    #[serde(default, deserialize_with = "non_null")]
    pub tracing_consent: Option<bool>,
}

/// Applies a patch to a loaded household; returns the members that are new.
pub(super) fn apply_patch(
    household: &mut Household,
    patch: HouseholdPatch,
) -> Result<usize, ApiError> {
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
        if let Some(v) = change.tracing_consent {
            member.tracing_consent = v;
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
pub(super) fn validate_patched(
    household: &Household,
    provinces: &Provinces,
) -> Result<(), ApiError> {
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
                tracing_consent: m.tracing_consent,
            })
            .collect(),
    };
    validate_new(&as_new, provinces)
}

/// `GET /api/v1/households` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub center_id: Option<Uuid>,
    pub arrived_from: Option<Timestamp>,
    pub arrived_to: Option<Timestamp>,
    pub origin_settlement: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

//! The layout of an import file: its columns, the template, batch sizes and
//! the ids an import gives households and members.

use uuid::Uuid;

/// The columns of an import file, in the template's order. Household fields
/// first, then the member fields, named like the JSON API's.
pub const COLUMNS: [&str; 18] = [
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
    "tracing_consent",
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
pub(super) mod col {
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
    pub const TRACING_CONSENT: usize = 17;
    /// The household fields after `household_ref`: repeated on every row
    /// of a household or left empty after its first row.
    pub const SHARED: std::ops::Range<usize> = 1..6;
}

/// The downloadable template: the header and one household of two.
pub const TEMPLATE: &str = "household_ref,center_code,arrived_at,origin_settlement,intended_destination,phone,\
given_name,family_name,patronymic,name_latin,sex,birth_date,estimated_age,relationship,document_type,document_number,needs,tracing_consent\r\n\
GORIS-2023-000123,GORIS,2023-09-26 14:30,Ստեփանակերտ,AM-KT,+37491234567,\
Արամ,Սարգսյան,Գրիգորի,Aram Sargsyan,male,1975-03-01,,head,passport,AN0123456,SM-WD,yes\r\n\
GORIS-2023-000123,,,,,,\
Անի,Սարգսյան,Վարդանի,Ani Sargsyan,female,,44,spouse,,,DS;SM,no\r\n";

/// Households per write transaction: large enough to be fast, small enough
/// that a desk registration queued behind it waits a fraction of a second.
pub const BATCH: usize = 2000;

/// Households whose fingerprints are looked up in one query while validating.
pub(super) const LOOKUP_BATCH: usize = 1000;

/// At most this many errors are listed (the first by line); all are counted.
pub const MAX_LISTED_ERRORS: usize = 1000;

/// The namespace of imported households' ids (UUIDv5). Never change it: the
/// ids, and so re-imports, depend on it.
pub(super) const NAMESPACE: Uuid = Uuid::from_u128(0xb9e5_da08_36ab_4f96_a39b_1cc5_1fc4_c988);

/// Fingerprints of this version of the canonical form; a change to the
/// canonical form needs a new version (and makes every household "changed").
pub(super) const FINGERPRINT_VERSION: &[u8] = b"refuge-import-v1\n";

pub(super) const SEXES: &str = "female, male, other or unknown";
pub(super) const RELATIONSHIPS: &str =
    "head, spouse, child, parent, sibling, grandchild, grandparent, \
child_in_law, other_relative or not_related";
pub(super) const DOCUMENT_TYPES: &str = "passport, id_card, birth_certificate or other";

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

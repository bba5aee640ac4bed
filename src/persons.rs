//! Registered persons: reading one, and searching by name.
//!
//! Search is a case-insensitive prefix match that works across scripts: every
//! name is stored with lower-cased NFC keys for each word and for the whole
//! name, plus their Latin transliteration, so "Հովհ", "հովհ" and "hovh" all
//! find Հովհաննիսյան. Keys are compared byte-wise, so a prefix is a range scan
//! on an index in both databases.

use std::collections::BTreeSet;

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::auth::{Caller, CenterScope};
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::registration::{self, Member, PersonRow};
use crate::schema::{households, person_name_keys, persons};

/// The names of a member that search should find it by.
pub fn names_of(member: &Member) -> Vec<&str> {
    [
        Some(&member.given_name),
        Some(&member.family_name),
        member.patronymic.as_ref(),
        member.name_latin.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect()
}

/// Normalizes text for matching: NFC, then Unicode lower case.
fn fold(text: &str) -> String {
    text.nfc().collect::<String>().to_lowercase()
}

/// Every key a name is found by: the whole name and each word, in its own
/// script and transliterated to Latin.
pub fn search_keys(names: &[&str]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for name in names {
        let whole = fold(name.trim());
        let mut variants = vec![whole.clone()];
        variants.extend(
            whole
                .split(|c: char| c.is_whitespace() || c == '-')
                .map(str::to_string),
        );
        for variant in variants {
            if variant.is_empty() {
                continue;
            }
            let latin = fold(&deunicode::deunicode(&variant));
            if !latin.is_empty() {
                keys.insert(latin);
            }
            keys.insert(variant);
        }
    }
    keys
}

/// Stores the search keys of the given persons.
pub fn insert_name_keys<'a>(
    conn: &mut DbConnection,
    persons: impl Iterator<Item = (Uuid, Vec<&'a str>)>,
) -> Result<(), ApiError> {
    let keys: Vec<(String, String)> = persons
        .flat_map(|(id, names)| {
            let id = id.to_string();
            search_keys(&names)
                .into_iter()
                .map(move |key| (key, id.clone()))
        })
        .collect();
    let rows: Vec<_> = keys
        .iter()
        .map(|(key, id)| {
            (
                person_name_keys::name_key.eq(key),
                person_name_keys::person_id.eq(id),
            )
        })
        .collect();
    for chunk in rows.chunks(crate::db::rows_per_insert(2)) {
        crate::per_backend!(conn, |c| diesel::insert_into(person_name_keys::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// Removes the search keys of the given persons (before re-deriving them).
pub fn delete_name_keys(conn: &mut DbConnection, person_ids: &[String]) -> Result<(), ApiError> {
    diesel::delete(person_name_keys::table.filter(person_name_keys::person_id.eq_any(person_ids)))
        .execute(conn)?;
    Ok(())
}

/// A person as the API returns it: the member record plus where it belongs.
#[derive(Debug, Serialize)]
pub struct Person {
    pub household_id: Uuid,
    pub center_id: Uuid,
    #[serde(flatten)]
    pub member: Member,
}

fn load_persons(conn: &mut DbConnection, ids: Vec<String>) -> Result<Vec<Person>, ApiError> {
    let rows = persons::table
        .filter(persons::id.eq_any(&ids))
        .order(persons::id)
        .select(PersonRow::as_select())
        .load(conn)?;
    let members = registration::members_from_rows(conn, rows)?;
    let household_ids: Vec<String> = members.iter().map(|(h, _)| h.to_string()).collect();
    let centers: Vec<(String, String)> = households::table
        .filter(households::id.eq_any(&household_ids))
        .select((households::id, households::center_id))
        .load(conn)?;
    members
        .into_iter()
        .map(|(household_id, member)| {
            let center = centers
                .iter()
                .find(|(h, _)| *h == household_id.to_string())
                .ok_or_else(|| ApiError::internal("person without household"))?;
            Ok(Person {
                household_id,
                center_id: crate::db::parse_uuid(&center.1)?,
                member,
            })
        })
        .collect()
}

/// `GET /api/v1/persons/{id}`.
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let person = db
        .read(move |conn| load_persons(conn, vec![id.to_string()]))
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("no person with id {id}")))?;
    if !scope.allows(person.center_id) {
        return Err(ApiError::Forbidden(
            "you are not assigned to this person's center".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(person))
}

/// `GET /api/v1/persons` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    name: Option<String>,
    birth_date: Option<NaiveDate>,
    limit: Option<i64>,
    cursor: Option<Uuid>,
}

/// `GET /api/v1/persons?name=&birth_date=`: every word of `name` must begin
/// one of the person's names (in any script); `birth_date` must match exactly.
pub async fn search(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let query = query.0;
    let words: Vec<String> = query
        .name
        .as_deref()
        .map(|name| fold(name).split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if words.is_empty() && query.birth_date.is_none() {
        return Err(ApiError::bad_parameter(
            "name",
            "give a name (or its beginning), a birth_date, or both",
        ));
    }
    if words.len() > 5 {
        return Err(ApiError::bad_parameter("name", "at most 5 words"));
    }
    let limit = registration::page_size(query.limit)?;
    let page = db
        .read(move |conn| {
            let mut q = persons::table
                .inner_join(households::table)
                .select(persons::id)
                .into_boxed();
            for word in &words {
                // Every string that starts with `word` sorts between `word` and `word` + U+10FFFF.
                let upper = format!("{word}\u{10FFFF}");
                q = q.filter(
                    persons::id.eq_any(
                        person_name_keys::table
                            .filter(person_name_keys::name_key.ge(word.clone()))
                            .filter(person_name_keys::name_key.lt(upper))
                            .select(person_name_keys::person_id),
                    ),
                );
            }
            if let Some(birth_date) = query.birth_date {
                q = q.filter(persons::birth_date.eq(birth_date));
            }
            if let CenterScope::Only(centers) = &scope {
                let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
                q = q.filter(households::center_id.eq_any(centers));
            }
            if let Some(after) = query.cursor {
                q = q.filter(persons::id.gt(after.to_string()));
            }
            let mut ids: Vec<String> = q.order(persons::id).limit(limit + 1).load(conn)?;
            let more = ids.len() as i64 > limit;
            ids.truncate(limit as usize);
            let next_cursor = if more { ids.last().cloned() } else { None };
            let items = load_persons(conn, ids)?;
            Ok(serde_json::json!({ "items": items, "next_cursor": next_cursor }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armenian_names_get_native_and_latin_keys() {
        let keys = search_keys(&["Հովհաննիսյան"]);
        assert!(keys.contains("հովհաննիսյան"));
        assert!(keys.contains("hovhannisyan"), "{keys:?}");
    }

    #[test]
    fn compound_names_are_found_by_each_part_and_whole() {
        let keys = search_keys(&["Ter-Petrosyan"]);
        assert!(keys.contains("ter-petrosyan"));
        assert!(keys.contains("ter"));
        assert!(keys.contains("petrosyan"));
    }

    #[test]
    fn upper_case_armenian_folds_to_lower_case() {
        assert_eq!(fold("ԱՐԱՄ"), "արամ");
    }
}

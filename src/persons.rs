//! Registered persons: reading one, and searching by name.
//!
//! Search is a case-insensitive prefix match that works across scripts: every
//! name is stored with a key for the whole name and for each word, its Latin
//! fold (NFC, lower case, transliterated), and each query word is folded the
//! same way, so "Հովհ", "հովհ" and "hovh" all find Հովհաննիսյան. Keys are
//! compared byte-wise, so a prefix is a range scan on an index in both
//! databases. The keys are derived rows ([`name_keys`]), written with the
//! records and rebuilt on start when their derivation changes.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, CenterScope};
use crate::db::audit::Event;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::paging::PageQuery;
use crate::http::routes::resource;
use crate::http::stored;
use crate::registration::{self, Member, PersonRow};
use crate::schema::{households, person_name_keys, person_name_keys_recent, persons};
use name_keys::key_of;

pub mod name_keys;

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
                center_id: stored::id(&center.1)?,
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
    scope.require(person.center_id, "this person's center")?;
    db.record(
        &caller.actor(),
        vec![Event::new("person.read")
            .resource("person", person.member.id)
            .center(person.center_id)
            .persons([person.member.id])],
    )
    .await?;
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
        .map(|name| name.split_whitespace().map(key_of).collect())
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
    let paging = PageQuery::limit_only(query.limit)?;
    // Which filters were used, never what was searched for.
    let detail = serde_json::json!({
        "by_name": !words.is_empty(),
        "by_birth_date": query.birth_date.is_some(),
    });
    let page = db
        .read(move |conn| {
            let mut q = persons::table
                .inner_join(households::table)
                .select(persons::id)
                .into_boxed();
            for word in &words {
                // Every string that starts with `word` sorts between `word` and `word` + U+10FFFF.
                let upper = format!("{word}\u{10FFFF}");
                // The keys of persons registered lately are in a table of
                // their own until they join the others (see `name_keys`).
                // One IN list of both keeps the plan of one table: walked in
                // id order, it stops at the page's end (an OR of two lists
                // reads every match, then sorts).
                q = q.filter(
                    persons::id.eq_any(
                        person_name_keys::table
                            .filter(person_name_keys::name_key.ge(word.clone()))
                            .filter(person_name_keys::name_key.lt(upper.clone()))
                            .select(person_name_keys::person_id)
                            .union_all(
                                person_name_keys_recent::table
                                    .filter(person_name_keys_recent::name_key.ge(word.clone()))
                                    .filter(person_name_keys_recent::name_key.lt(upper))
                                    .select(person_name_keys_recent::person_id),
                            ),
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
            // Pages by person id: the cursor is the last id of the page.
            let ids: Vec<String> = q
                .order(persons::id)
                .limit(paging.rows_to_load())
                .load(conn)?;
            paging.page(ids, String::clone, |ids| load_persons(conn, ids))
        })
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("person.search")
            .detail(detail)
            .persons(page.items.iter().map(|p| p.member.id))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The persons routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/persons").get(search))
        .service(resource("/persons/{id}").get(get));
}

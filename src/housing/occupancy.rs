//! Occupancy: who is housed where, now or as of an instant, per site and
//! per province.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::sites::{find_site, site_not_found, Site, SiteKind, SPHERE_MIN_AREA_PER_PERSON_M2};
use crate::auth::Caller;
use crate::db::tallies;
pub use crate::db::tallies::SiteSet;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::organizations::OrganizationKind;
use crate::schema::{organizations as organizations_table, placements, sites};

/// Persons and households at each site at `as_of`: those checked in at or
/// before it and not checked out by then: who was present at the end of the
/// last hour before (see [`crate::db::tallies`]) and, for the part of the
/// last hour up to `as_of`, the placements themselves.
pub fn occupied_at(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
    sites: SiteSet,
) -> Result<BTreeMap<Uuid, (i64, i64)>, ApiError> {
    let hour = time::hour_of(as_of);
    let mut out = tallies::occupancy_before(conn, hour, sites)?;
    // The placements of the last partial hour, of every site: read by time
    // (the check-in and check-out indexes), at most an hour's worth, and
    // kept for `sites` here. Filtered by site in SQL, SQLite read a site's
    // every check-out ever instead.
    let checked_in = placements::table
        .filter(placements::checked_in_at.ge(hour))
        .filter(placements::checked_in_at.le(as_of))
        .select((placements::site_id, placements::persons));
    let checked_out = placements::table
        .filter(placements::checked_out_at.ge(hour))
        .filter(placements::checked_out_at.le(as_of))
        .select((placements::site_id, placements::persons));
    for (rows, sign) in [(checked_in.load(conn)?, 1), (checked_out.load(conn)?, -1)] {
        for (site, persons) in rows as Vec<(String, i32)> {
            // `out` holds every site of `sites`, those nobody was at too.
            let Some(present) = out.get_mut(&stored::id(&site)?) else {
                continue;
            };
            present.0 += sign * i64::from(persons);
            present.1 += sign;
        }
    }
    Ok(out)
}

/// A site's occupancy.
#[derive(Debug, Clone, Serialize)]
pub struct Occupancy {
    pub site_id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: SiteKind,
    pub province: String,
    pub as_of: DateTime<Utc>,
    pub capacity_beds: i32,
    pub occupied_beds: i64,
    pub available_beds: i64,
    pub households: i64,
    pub floor_area_m2: Option<f64>,
    /// Floor area per person present; null without an area or without people.
    pub area_per_person_m2: Option<f64>,
    /// Sphere minimum covered living space (3.5 m² per person).
    pub sphere_min_area_per_person_m2: f64,
}

fn occupancy_of(site: Site, as_of: NaiveDateTime, persons: i64, households: i64) -> Occupancy {
    Occupancy {
        site_id: site.id,
        code: site.code,
        name: site.name,
        kind: site.kind,
        province: site.province,
        as_of: as_of.and_utc(),
        capacity_beds: site.capacity_beds,
        occupied_beds: persons,
        available_beds: (i64::from(site.capacity_beds) - persons).max(0),
        households,
        floor_area_m2: site.floor_area_m2,
        area_per_person_m2: site
            .floor_area_m2
            .filter(|_| persons > 0)
            .map(|area| area / persons as f64),
        sphere_min_area_per_person_m2: SPHERE_MIN_AREA_PER_PERSON_M2,
    }
}

/// Occupancy per province at `as_of`: sites, beds, persons, households, and
/// persons in state-provided accommodation (sites of a government organization).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProvinceOccupancy {
    pub province: String,
    pub sites: i64,
    pub capacity_beds: i64,
    pub occupied_beds: i64,
    pub households: i64,
    pub state_provided_persons: i64,
}

pub fn occupancy_by_province(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
) -> Result<Vec<ProvinceOccupancy>, ApiError> {
    let occupied = occupied_at(conn, as_of, SiteSet::All)?;
    let rows: Vec<(String, String, i32, String)> = sites::table
        .inner_join(organizations_table::table)
        .select((
            sites::id,
            sites::province,
            sites::capacity_beds,
            organizations_table::kind,
        ))
        .load(conn)?;
    let mut out: BTreeMap<String, ProvinceOccupancy> = BTreeMap::new();
    for (site, province, capacity, kind) in rows {
        let (persons, households) = occupied.get(&stored::id(&site)?).copied().unwrap_or((0, 0));
        let entry = out
            .entry(province.clone())
            .or_insert_with(|| ProvinceOccupancy {
                province,
                ..ProvinceOccupancy::default()
            });
        entry.sites += 1;
        entry.capacity_beds += i64::from(capacity);
        entry.occupied_beds += persons;
        entry.households += households;
        if kind == OrganizationKind::Government.as_str() {
            entry.state_provided_persons += persons;
        }
    }
    Ok(out.into_values().collect())
}

/// `as_of` for occupancy reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsOfQuery {
    as_of: Option<Timestamp>,
}

/// `GET /api/v1/sites/{id}/occupancy[?as_of=]`: capacity, beds taken,
/// households and living space. Aggregate: any role.
pub async fn site_occupancy(
    _caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    query: Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let as_of = query
        .0
        .as_of
        .map(|t| t.naive_utc())
        .unwrap_or_else(time::now);
    let occupancy = db
        .read(move |conn| {
            let site = find_site(conn, id)?.ok_or_else(|| site_not_found(id))?;
            let (persons, households) = occupied_at(conn, as_of, SiteSet::One(id))?
                .get(&id)
                .copied()
                .unwrap_or((0, 0));
            Ok(occupancy_of(site, as_of, persons, households))
        })
        .await?;
    Ok(HttpResponse::Ok().json(occupancy))
}

/// `GET /api/v1/occupancy[?as_of=]`: occupancy per province. Aggregate: any role.
pub async fn province_occupancy(
    _caller: Caller,
    db: web::Data<Db>,
    query: Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let as_of = query
        .0
        .as_of
        .map(|t| t.naive_utc())
        .unwrap_or_else(time::now);
    let provinces = db
        .read(move |conn| occupancy_by_province(conn, as_of))
        .await?;
    let total = provinces
        .iter()
        .fold(ProvinceOccupancy::default(), |mut t, p| {
            t.sites += p.sites;
            t.capacity_beds += p.capacity_beds;
            t.occupied_beds += p.occupied_beds;
            t.households += p.households;
            t.state_provided_persons += p.state_provided_persons;
            t
        });
    Ok(HttpResponse::Ok().json(json!({
        "as_of": as_of.and_utc(),
        "provinces": provinces,
        "total": {
            "sites": total.sites,
            "capacity_beds": total.capacity_beds,
            "occupied_beds": total.occupied_beds,
            "households": total.households,
            "state_provided_persons": total.state_provided_persons,
        },
    })))
}

//! `shelters.csv`: one row per site, by site code: what it is, who runs it,
//! its beds and who is in them at the end of the period (`to`, excluded:
//! placements checked in before it and not checked out by then), or now.
//!
//! Columns (HXL): `site_code` (`#loc+code`), `site_name` (`#loc+name`),
//! `site_type` (`#loc+type`), `province_code` (`#adm1+code`),
//! `province_name` (`#adm1+name`), `settlement` (`#adm3+name`),
//! `organization_code` (`#org+code`), `organization_name` (`#org+name`),
//! `organization_type` (`#org+type`), `state_provided` (`#meta+type`:
//! `true` for a site of a government organization, the state-provided
//! accommodation of the government's figures), `as_of` (`#date+reported`,
//! UTC), `capacity_beds` (`#capacity+num`), `occupied_beds`
//! (`#capacity+num+used`), `free_beds` (`#meta+num`: HXL has no attribute
//! for free capacity, and a second `#capacity+num` would be summed with the
//! first), `households` (`#population+refugees+hh`), `persons`
//! (`#population+refugees+ind`; a bed per person, so equal to
//! `occupied_beds`), `floor_area_m2` (`#indicator+num`) and
//! `area_per_person_m2` (`#indicator+num+ind`, rounded to 0.01; empty
//! without an area or without people: compare with Sphere's 3.5 m², 4.5 in
//! cold climates).
//!
//! The report is a snapshot, so `from` is refused (400 naming `from`)
//! rather than ignored. Sites are not at centers: `center_id` narrows the
//! report to the sites in that center's province. Access as
//! `GET /api/v1/occupancy`: any role, every site (occupancy per site is not
//! personal data and the JSON API publishes it unsuppressed). Sites are a
//! catalogue (hundreds, not millions), read in one query.

use std::collections::HashMap;
use std::io::Write;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::{column, Column, Csv, Request};
use crate::auth::CenterScope;
use crate::centers;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::stored;
use crate::http::time;
use crate::organizations::OrganizationKind;
use crate::schema::{organizations, sites};

pub const COLUMNS: &[Column] = &[
    column("site_code", "#loc+code"),
    column("site_name", "#loc+name"),
    column("site_type", "#loc+type"),
    column("province_code", "#adm1+code"),
    column("province_name", "#adm1+name"),
    column("settlement", "#adm3+name"),
    column("organization_code", "#org+code"),
    column("organization_name", "#org+name"),
    column("organization_type", "#org+type"),
    column("state_provided", "#meta+type"),
    column("as_of", "#date+reported"),
    column("capacity_beds", "#capacity+num"),
    column("occupied_beds", "#capacity+num+used"),
    column("free_beds", "#meta+num"),
    column("households", "#population+refugees+hh"),
    column("persons", "#population+refugees+ind"),
    column("floor_area_m2", "#indicator+num"),
    column("area_per_person_m2", "#indicator+num+ind"),
];

/// id, code, name, kind, province, settlement, beds, floor area,
/// organization code, name and kind.
type SiteRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i32,
    Option<f64>,
    String,
    String,
    String,
);

pub fn write<W: Write>(
    conn: &mut DbConnection,
    request: &Request,
    out: &mut Csv<W>,
) -> Result<(), ApiError> {
    // The instant the snapshot holds at: placements before `to` count
    // (the database keeps microseconds, so "at or before `to` - 1µs").
    let (as_of, counted_at): (NaiveDateTime, NaiveDateTime) = match request.period.to {
        Some(to) => (to, to - TimeDelta::microseconds(1)),
        None => {
            let now = time::now();
            (now, now)
        }
    };
    let provinces: Option<Vec<String>> = match &request.scope {
        CenterScope::All => None,
        CenterScope::Only(ids) => Some(
            centers::all(conn)?
                .into_iter()
                .filter(|c| ids.contains(&c.id))
                .map(|c| c.province)
                .collect(),
        ),
    };
    let mut query = sites::table
        .inner_join(organizations::table)
        .select((
            sites::id,
            sites::code,
            sites::name,
            sites::kind,
            sites::province,
            sites::settlement,
            sites::capacity_beds,
            sites::floor_area_m2,
            organizations::code,
            organizations::name,
            organizations::kind,
        ))
        .order(sites::code.asc())
        .into_boxed();
    if let Some(provinces) = provinces {
        query = query.filter(sites::province.eq_any(provinces));
    }
    let rows: Vec<SiteRow> = query.load(conn)?;
    let occupied: HashMap<uuid::Uuid, (i64, i64)> =
        crate::housing::occupied_at(conn, counted_at, crate::housing::SiteSet::All)?
            .into_iter()
            .collect();
    for (id, code, name, kind, province, settlement, beds, area, org_code, org_name, org_kind) in
        rows
    {
        let (persons, households) = occupied.get(&stored::id(&id)?).copied().unwrap_or((0, 0));
        out.text(&code);
        out.text(&name);
        out.text(&kind);
        out.text(&province);
        out.text(crate::provinces::name(&province).unwrap_or(""));
        out.opt_text(settlement.as_deref());
        out.text(&org_code);
        out.text(&org_name);
        out.text(&org_kind);
        out.text(if org_kind == OrganizationKind::Government.as_str() {
            "true"
        } else {
            "false"
        });
        out.instant(as_of);
        out.int(i64::from(beds));
        out.int(persons);
        out.int((i64::from(beds) - persons).max(0));
        out.int(households);
        out.int(persons);
        match area {
            Some(area) => out.float(area),
            None => out.empty(),
        }
        match area.filter(|_| persons > 0) {
            Some(area) => out.float((area / persons as f64 * 100.0).round() / 100.0),
            None => out.empty(),
        }
        out.end_row()?;
    }
    Ok(())
}

//! `assistance.csv`: who delivered what, where and to how many, per day, in
//! the 3W/4W layout the clusters collect. One row per local date (Asia/Yerevan,
//! [`super::timezone`]), center, organization, sector and item, from the
//! distributions; and one `shelter` row per local date, province and
//! organization, from the placements in sites.
//!
//! Columns:
//!
//! | column | HXL | distribution rows | shelter rows |
//! |---|---|---|---|
//! | `date` | `#date` | local date of `distributed_at` | local date of `checked_in_at` |
//! | `center_code`, `center_name` | `#loc+code`, `#loc+name` | the distributing center | empty (sites are not at centers) |
//! | `province_code`, `province_name` | `#adm1+code`, `#adm1+name` | the center's province | the site's province |
//! | `organization_code`, `organization_name`, `organization_type` | `#org+code`, `#org+name`, `#org+type` | the distributing organization | the site's organization |
//! | `sector` | `#sector+code` | the item's sector | `shelter` |
//! | `item_code`, `item_name` | `#item+code`, `#item+name` | the item | empty |
//! | `unit` | `#meta+type` | the item's unit (HXL has no hashtag for a unit of measure) | empty |
//! | `households_reached` | `#reached+hh` | distinct households | distinct households placed |
//! | `persons_reached` | `#reached+ind` | their members (see below) | their members (beds taken) |
//! | `quantity` | `#output+num` | units handed out | empty |
//! | `first_at`, `last_at` | `#date+start`, `#date+end` | first and last distribution that day (UTC) | first and last check-in that day |
//! | `suppressed` | `#meta` | withheld columns, `;`-separated | same |
//!
//! Rows are ordered by date, then distribution rows by center, organization,
//! sector and item codes, then shelter rows by province and organization.
//!
//! **Persons reached** is the sum, over the row's distinct households, of
//! the household's members when it was served (`distributions.persons`,
//! taken once per household however often it was served in the row), as
//! [`crate::distributions::persons_reached`] counts. Distributions are to
//! households, not persons, so there are no person ids to count distinct;
//! summing `distributions.persons` over every distribution would count a
//! household served twice in a day twice.
//!
//! **Shelter rows** count every placement that starts in the period, moves
//! included (a move is a placement at a new site, possibly by another
//! organization); a household placed twice in one row counts once. Their
//! `quantity` is empty: the beds taken equal `persons_reached`, and a
//! quantity repeated under another name would double it in any sum of the
//! column.
//!
//! **Filters**: `from`/`to` on `distributed_at` and `checked_in_at`;
//! `center_id` (and a registrar's or aid worker's own centers) on the
//! distributing center and on the placed household's registration center.
//!
//! **Access and suppression** as the statistics API: withheld by default for
//! everyone, `suppress=0` for roles with person-level access (never
//! analysts). Households and persons reached from 1 to k-1 are withheld; when
//! either is, the whole row's figures are: persons and quantity would give
//! the household count away (a ration per household, a household's size),
//! and so would `first_at` equal to `last_at` (one distribution), so those
//! are withheld too. There are no totals in this report, so no cell can be
//! worked out from the others and primary suppression is complete.
//!
//! Streaming: distributions and placements are read in keyset-paged chunks
//! on `(time, id)` and merged day by day; only one day's groups are held.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::{column, Column, Csv, Keyset, Paged, Request};
use crate::centers::Center;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{distributions, households, items, organizations, placements, sites};
use crate::suppression::Table;

pub const COLUMNS: &[Column] = &[
    column("date", "#date"),
    column("center_code", "#loc+code"),
    column("center_name", "#loc+name"),
    column("province_code", "#adm1+code"),
    column("province_name", "#adm1+name"),
    column("organization_code", "#org+code"),
    column("organization_name", "#org+name"),
    column("organization_type", "#org+type"),
    column("sector", "#sector+code"),
    column("item_code", "#item+code"),
    column("item_name", "#item+name"),
    column("unit", "#meta+type"),
    column("households_reached", "#reached+hh"),
    column("persons_reached", "#reached+ind"),
    column("quantity", "#output+num"),
    column("first_at", "#date+start"),
    column("last_at", "#date+end"),
    column("suppressed", "#meta"),
];

/// The sector of placement rows.
const SHELTER: &str = "shelter";

/// id, distributed_at, household, center, item, organization, quantity, persons.
type DistributionRow = (
    String,
    NaiveDateTime,
    String,
    String,
    String,
    String,
    i64,
    i32,
);

/// id, checked_in_at, household, persons, site province, site organization.
type PlacementRow = (String, NaiveDateTime, String, i32, String, String);

/// An item's code, name, unit and sector.
struct ItemInfo {
    code: String,
    name: String,
    unit: String,
    sector: String,
}

/// An organization's code, name and kind.
struct OrganizationInfo {
    code: String,
    name: String,
    kind: String,
}

/// A row's place in the day's order: distributions (false) before shelter
/// (true), then center code, province, organization code, sector, item code.
type Order = (bool, String, String, String, String, String);

/// One row being summed up.
struct Group<'a> {
    center: Option<&'a Center>,
    province: String,
    organization: Option<&'a OrganizationInfo>,
    sector: String,
    item: Option<&'a ItemInfo>,
    /// Each household once, with its members when first seen in the row.
    households: HashMap<String, i64>,
    quantity: Option<i64>,
    first: NaiveDateTime,
    last: NaiveDateTime,
}

impl Group<'_> {
    fn add(&mut self, household: String, persons: i32, quantity: Option<i64>, at: NaiveDateTime) {
        self.households
            .entry(household)
            .or_insert(i64::from(persons));
        if let Some(q) = quantity {
            *self.quantity.get_or_insert(0) += q;
        }
        self.first = self.first.min(at);
        self.last = self.last.max(at);
    }
}

fn local_date(at: NaiveDateTime) -> NaiveDate {
    at.and_utc().with_timezone(&super::timezone()).date_naive()
}

pub fn write<W: Write>(
    conn: &mut DbConnection,
    request: &Request,
    out: &mut Csv<W>,
) -> Result<(), ApiError> {
    let centers = super::centers_by_id(conn)?;
    let item_rows: Vec<(String, String, String, String, String)> = items::table
        .select((
            items::id,
            items::code,
            items::name,
            items::unit,
            items::sector,
        ))
        .load(conn)?;
    let items: HashMap<String, ItemInfo> = item_rows
        .into_iter()
        .map(|(id, code, name, unit, sector)| {
            (
                id,
                ItemInfo {
                    code,
                    name,
                    unit,
                    sector,
                },
            )
        })
        .collect();
    let organization_rows: Vec<(String, String, String, String)> = organizations::table
        .select((
            organizations::id,
            organizations::code,
            organizations::name,
            organizations::kind,
        ))
        .load(conn)?;
    let organizations: HashMap<String, OrganizationInfo> = organization_rows
        .into_iter()
        .map(|(id, code, name, kind)| (id, OrganizationInfo { code, name, kind }))
        .collect();

    let mut given = Paged::new(
        super::CHUNK_ROWS,
        next_distributions,
        |r: &DistributionRow| (r.1, r.0.clone()),
    );
    let mut placed = Paged::new(super::CHUNK_ROWS, next_placements, |r: &PlacementRow| {
        (r.1, r.0.clone())
    });
    loop {
        let next_given = given.peek(conn, request)?.map(|r| local_date(r.1));
        let next_placed = placed.peek(conn, request)?.map(|r| local_date(r.1));
        let Some(day) = next_given.into_iter().chain(next_placed).min() else {
            return Ok(());
        };
        let mut groups: BTreeMap<Order, Group> = BTreeMap::new();
        while given
            .peek(conn, request)?
            .is_some_and(|r| local_date(r.1) == day)
        {
            let Some((_, at, household, center_id, item_id, organization_id, quantity, persons)) =
                given.next(conn, request)?
            else {
                break;
            };
            let center = centers.get(&center_id);
            let item = items.get(&item_id);
            let organization = organizations.get(&organization_id);
            let province = center.map(|c| c.province.clone()).unwrap_or_default();
            let sector = item.map(|i| i.sector.clone()).unwrap_or_default();
            let order = (
                false,
                center.map(|c| c.code.clone()).unwrap_or(center_id),
                province.clone(),
                organization
                    .map(|o| o.code.clone())
                    .unwrap_or(organization_id),
                sector.clone(),
                item.map(|i| i.code.clone()).unwrap_or(item_id),
            );
            groups
                .entry(order)
                .or_insert_with(|| Group {
                    center,
                    province,
                    organization,
                    sector,
                    item,
                    households: HashMap::new(),
                    quantity: Some(0),
                    first: at,
                    last: at,
                })
                .add(household, persons, Some(quantity), at);
        }
        while placed
            .peek(conn, request)?
            .is_some_and(|r| local_date(r.1) == day)
        {
            let Some((_, at, household, persons, province, organization_id)) =
                placed.next(conn, request)?
            else {
                break;
            };
            let organization = organizations.get(&organization_id);
            let order = (
                true,
                String::new(),
                province.clone(),
                organization
                    .map(|o| o.code.clone())
                    .unwrap_or(organization_id),
                SHELTER.to_string(),
                String::new(),
            );
            groups
                .entry(order)
                .or_insert_with(|| Group {
                    center: None,
                    province,
                    organization,
                    sector: SHELTER.to_string(),
                    item: None,
                    households: HashMap::new(),
                    quantity: None,
                    first: at,
                    last: at,
                })
                .add(household, persons, None, at);
        }
        write_day(out, request, day, groups.into_values())?;
    }
}

/// Writes one day's rows, withholding small counts.
fn write_day<'a, W: Write>(
    out: &mut Csv<W>,
    request: &Request,
    day: NaiveDate,
    groups: impl Iterator<Item = Group<'a>>,
) -> Result<(), ApiError> {
    let groups: Vec<Group> = groups.collect();
    let mut table = Table::new();
    let cells: Vec<(usize, usize)> = groups
        .iter()
        .map(|g| {
            let households = table.cell(g.households.len() as i64);
            let persons = table.cell(g.households.values().sum());
            (households, persons)
        })
        .collect();
    let hidden = match request.suppress_below {
        Some(k) => table.suppress(k),
        None => vec![false; table.len()],
    };
    for (group, (households, persons)) in groups.iter().zip(cells) {
        let withheld = hidden[households] || hidden[persons];
        out.date(day);
        out.opt_text(group.center.map(|c| c.code.as_str()));
        out.opt_text(group.center.map(|c| c.name.as_str()));
        out.text(&group.province);
        out.text(crate::provinces::name(&group.province).unwrap_or(""));
        out.opt_text(group.organization.map(|o| o.code.as_str()));
        out.opt_text(group.organization.map(|o| o.name.as_str()));
        out.opt_text(group.organization.map(|o| o.kind.as_str()));
        out.text(&group.sector);
        out.opt_text(group.item.map(|i| i.code.as_str()));
        out.opt_text(group.item.map(|i| i.name.as_str()));
        out.opt_text(group.item.map(|i| i.unit.as_str()));
        if withheld {
            let mut names = vec!["households_reached", "persons_reached"];
            if group.quantity.is_some() {
                names.push("quantity");
            }
            names.extend(["first_at", "last_at"]);
            for _ in 0..5 {
                out.empty();
            }
            out.text(&names.join(";"));
        } else {
            out.int(table.value(households));
            out.int(table.value(persons));
            out.opt_int(group.quantity);
            out.instant(group.first);
            out.instant(group.last);
            out.empty();
        }
        out.end_row()?;
    }
    Ok(())
}

/// The next chunk of distributions in the period and scope, by time.
fn next_distributions(
    conn: &mut DbConnection,
    request: &Request,
    after: Option<&Keyset>,
    limit: i64,
) -> Result<Vec<DistributionRow>, ApiError> {
    let mut query = distributions::table
        .select((
            distributions::id,
            distributions::distributed_at,
            distributions::household_id,
            distributions::center_id,
            distributions::item_id,
            distributions::organization_id,
            distributions::quantity,
            distributions::persons,
        ))
        .order((distributions::distributed_at.asc(), distributions::id.asc()))
        .limit(limit)
        .into_boxed();
    in_window!(
        query,
        request,
        after,
        center: distributions::center_id,
        time: distributions::distributed_at,
        id: distributions::id,
    );
    Ok(query.load(conn)?)
}

/// The next chunk of placements in the period, of households registered in
/// scope, by check-in time.
fn next_placements(
    conn: &mut DbConnection,
    request: &Request,
    after: Option<&Keyset>,
    limit: i64,
) -> Result<Vec<PlacementRow>, ApiError> {
    let mut query = placements::table
        .inner_join(households::table)
        .inner_join(sites::table)
        .select((
            placements::id,
            placements::checked_in_at,
            placements::household_id,
            placements::persons,
            sites::province,
            sites::organization_id,
        ))
        .order((placements::checked_in_at.asc(), placements::id.asc()))
        .limit(limit)
        .into_boxed();
    in_window!(
        query,
        request,
        after,
        center: households::center_id,
        time: placements::checked_in_at,
        id: placements::id,
    );
    Ok(query.load(conn)?)
}

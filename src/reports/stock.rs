//! `stock.csv`: stock per center and item, as two kinds of rows told apart
//! by the `record` column:
//!
//! - `level`: one per center and item ever stocked, the quantity on hand at
//!   the end of the period (the ledger up to, not including, `to`), or now
//!   from `stock_levels` when there is no `to`; a stocked-out item shows 0.
//!   `as_of` says when.
//! - `movement`: each ledger row of the period (`from`/`to` on
//!   `occurred_at`), oldest first: its kind (`receipt`, `transfer_in`,
//!   `transfer_out`, `distribution`, `adjustment`), the signed quantity
//!   (into the center's stock positive, out of it negative), the
//!   organization (of a receipt or distribution), both ends of a transfer,
//!   and the adjustment's reason or the waybill reference.
//!
//! The opening level of the period is the closing one minus the period's
//! movements, so it is not repeated.
//!
//! Columns (HXL): `record` (`#meta+code`), `as_of` (`#date+reported`, level
//! rows), `occurred_at` (`#date+occurred`, movement rows), `center_code`
//! (`#loc+code`), `center_name` (`#loc+name`), `province_code`
//! (`#adm1+code`), `item_code` (`#item+code`), `item_name` (`#item+name`),
//! `sector` (`#sector+code`), `unit` (`#meta+type`: HXL has no hashtag for a
//! unit of measure), `quantity` (`#item+num`), `kind` (`#activity+type`),
//! `organization_code` (`#org+code`), `organization_name` (`#org+name`),
//! `transfer_from` (`#loc+code+origin`) and `transfer_to` (`#loc+code+dest`):
//! the sending and receiving centers' codes on both legs of a transfer, so
//! each leg reads the same way whichever center's file it is in; `reason`
//! (`#description`) and `reference` (`#meta+id`). Instants are UTC.
//!
//! Stock is not personal data: access as `GET /api/v1/stock` (registrars and
//! aid workers their centers, other roles all). Movements are read in
//! keyset-paged chunks on `(occurred_at, id)`.

use std::collections::HashMap;
use std::io::Write;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::{column, Column, Csv, Keyset, Paged, Request};
use crate::centers::Center;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::time;
use crate::schema::{items, organizations, stock_movements};

pub const COLUMNS: &[Column] = &[
    column("record", "#meta+code"),
    column("as_of", "#date+reported"),
    column("occurred_at", "#date+occurred"),
    column("center_code", "#loc+code"),
    column("center_name", "#loc+name"),
    column("province_code", "#adm1+code"),
    column("item_code", "#item+code"),
    column("item_name", "#item+name"),
    column("sector", "#sector+code"),
    column("unit", "#meta+type"),
    column("quantity", "#item+num"),
    column("kind", "#activity+type"),
    column("organization_code", "#org+code"),
    column("organization_name", "#org+name"),
    column("transfer_from", "#loc+code+origin"),
    column("transfer_to", "#loc+code+dest"),
    column("reason", "#description"),
    column("reference", "#meta+id"),
];

/// id, occurred_at, center, item, kind, quantity, organization,
/// counterpart center, reason, reference.
type MovementRow = (
    String,
    NaiveDateTime,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// An item's code, name, sector and unit.
type ItemInfo = (String, String, String, String);

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
            items::sector,
            items::unit,
        ))
        .load(conn)?;
    let items: HashMap<String, ItemInfo> = item_rows
        .into_iter()
        .map(|(id, code, name, sector, unit)| (id, (code, name, sector, unit)))
        .collect();
    let organization_rows: Vec<(String, String, String)> = organizations::table
        .select((organizations::id, organizations::code, organizations::name))
        .load(conn)?;
    let organizations: HashMap<String, (String, String)> = organization_rows
        .into_iter()
        .map(|(id, code, name)| (id, (code, name)))
        .collect();

    // Levels: the ledger before `to` (the database keeps microseconds, so
    // "at or before `to` - 1µs" is "before `to`"), or the levels now.
    let (as_of, ledger_as_of) = match request.period.to {
        Some(to) => (to, Some(to - TimeDelta::microseconds(1))),
        None => (time::now(), None),
    };
    let mut levels: Vec<(&str, &str, crate::stock::Level)> =
        crate::stock::levels(conn, None, ledger_as_of)?
            .into_iter()
            .filter(|l| request.scope.allows(l.center_id))
            .map(|l| {
                let center = centers
                    .get(&l.center_id.to_string())
                    .map_or("", |c| c.code.as_str());
                let item = items
                    .get(&l.item_id.to_string())
                    .map_or("", |i| i.0.as_str());
                (center, item, l)
            })
            .collect();
    levels.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (_, _, level) in &levels {
        out.text("level");
        out.instant(as_of);
        out.empty();
        place(out, &centers, &level.center_id.to_string());
        item(out, &items, &level.item_id.to_string());
        out.int(level.quantity);
        for _ in 0..7 {
            out.empty();
        }
        out.end_row()?;
    }

    let mut movements = Paged::new(super::CHUNK_ROWS, next_movements, |r: &MovementRow| {
        (r.1, r.0.clone())
    });
    while let Some(m) = movements.next(conn, request)? {
        let (_, at, center, item_id, kind, quantity, organization, counterpart, reason, reference) =
            m;
        out.text("movement");
        out.empty();
        out.instant(at);
        place(out, &centers, &center);
        item(out, &items, &item_id);
        out.int(quantity);
        out.text(&kind);
        let organization = organization.as_ref().and_then(|o| organizations.get(o));
        out.opt_text(organization.map(|o| o.0.as_str()));
        out.opt_text(organization.map(|o| o.1.as_str()));
        let code = |id: &str| centers.get(id).map(|c| c.code.as_str());
        let (from, to) = match (kind.as_str(), counterpart.as_deref()) {
            ("transfer_out", Some(other)) => (code(&center), code(other)),
            ("transfer_in", Some(other)) => (code(other), code(&center)),
            _ => (None, None),
        };
        out.opt_text(from);
        out.opt_text(to);
        // Free text typed at a desk: `text` keeps a spreadsheet from running it.
        out.opt_text(reason.as_deref());
        out.opt_text(reference.as_deref());
        out.end_row()?;
    }
    Ok(())
}

fn place<W: Write>(out: &mut Csv<W>, centers: &HashMap<String, Center>, id: &str) {
    let center = centers.get(id);
    out.opt_text(center.map(|c| c.code.as_str()));
    out.opt_text(center.map(|c| c.name.as_str()));
    out.opt_text(center.map(|c| c.province.as_str()));
}

fn item<W: Write>(out: &mut Csv<W>, items: &HashMap<String, ItemInfo>, id: &str) {
    let item = items.get(id);
    out.opt_text(item.map(|i| i.0.as_str()));
    out.opt_text(item.map(|i| i.1.as_str()));
    out.opt_text(item.map(|i| i.2.as_str()));
    out.opt_text(item.map(|i| i.3.as_str()));
}

/// The next chunk of ledger rows in the period and scope, oldest first.
fn next_movements(
    conn: &mut DbConnection,
    request: &Request,
    after: Option<&Keyset>,
    limit: i64,
) -> Result<Vec<MovementRow>, ApiError> {
    let mut query = stock_movements::table
        .select((
            stock_movements::id,
            stock_movements::occurred_at,
            stock_movements::center_id,
            stock_movements::item_id,
            stock_movements::kind,
            stock_movements::quantity,
            stock_movements::organization_id,
            stock_movements::counterpart_center_id,
            stock_movements::reason,
            stock_movements::reference,
        ))
        .order((
            stock_movements::occurred_at.asc(),
            stock_movements::id.asc(),
        ))
        .limit(limit)
        .into_boxed();
    in_window!(
        query,
        request,
        after,
        center: stock_movements::center_id,
        time: stock_movements::occurred_at,
        id: stock_movements::id,
    );
    Ok(query.load(conn)?)
}

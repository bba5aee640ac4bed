//! Supplies: the item catalogue and each center's stock, kept as an
//! append-only ledger (receipts from an organization, transfers between
//! centers, distributions, adjustments with a reason).
//!
//! `stock_levels` holds each center's current quantity per item and is
//! changed by the same transaction that appends the ledger row. Stock leaves
//! only through [`take`], one conditional UPDATE (`quantity >= n`): on
//! PostgreSQL a concurrent withdrawal waits for the row and re-checks, so
//! stock never goes negative, whatever the number of server processes; on
//! SQLite writes are serialized. A CHECK constraint backs it up, and
//! [`verify`] checks that every level equals the sum of its ledger rows.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Caller, CenterScope};
use crate::centers;
use crate::db::audit::Event;
use crate::db::{self, Db, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::extract::{JsonBody, Query};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::paging::{Cursor, PageQuery};
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::organizations;
use crate::schema::{items, stock_levels, stock_movements};
use crate::validate::{check_code, check_name};

/// Largest quantity in one movement (e.g. 10 billion AMD, or liters).
const MAX_QUANTITY: i64 = 10_000_000_000;

crate::stored_enum! {
    pub enum Unit {
        Piece = "piece",
        Kit = "kit",
        Ration = "ration",
        Parcel = "parcel",
        Meal = "meal",
        Liter = "liter",
        Kg = "kg",
        /// Armenian dram, for cash assistance.
        Amd = "amd",
    }
}

crate::stored_enum! {
    pub enum Sector {
        Food = "food",
        Health = "health",
        Shelter = "shelter",
        Nfi = "nfi",
        Wash = "wash",
        Fuel = "fuel",
        Cash = "cash",
        Protection = "protection",
        Other = "other",
    }
}

/// An item of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: Uuid,
    /// e.g. `FOOD-RATION`, `FUEL`, `CASH-AMD`.
    pub code: String,
    pub name: String,
    pub unit: Unit,
    pub sector: Sector,
    pub kcal_per_unit: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = items)]
struct ItemRow {
    id: String,
    code: String,
    name: String,
    unit: String,
    sector: String,
    kcal_per_unit: Option<i32>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<ItemRow> for Item {
    type Error = ApiError;

    fn try_from(row: ItemRow) -> Result<Item, ApiError> {
        Ok(Item {
            id: stored::id(&row.id)?,
            code: row.code,
            name: row.name,
            unit: Unit::from_stored(&row.unit)?,
            sector: Sector::from_stored(&row.sector)?,
            kcal_per_unit: row.kcal_per_unit,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// `POST /api/v1/items` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub code: String,
    pub name: String,
    pub unit: Unit,
    pub sector: Sector,
    #[serde(default)]
    pub kcal_per_unit: Option<i32>,
}

pub fn find_item(conn: &mut DbConnection, id: Uuid) -> Result<Option<Item>, ApiError> {
    items::table
        .find(id.to_string())
        .select(ItemRow::as_select())
        .first(conn)
        .optional()?
        .map(Item::try_from)
        .transpose()
}

/// Loads an item by code.
pub fn find_item_by_code(conn: &mut DbConnection, code: &str) -> Result<Option<Item>, ApiError> {
    items::table
        .filter(items::code.eq(code))
        .select(ItemRow::as_select())
        .first(conn)
        .optional()?
        .map(Item::try_from)
        .transpose()
}

/// The item a request names in `field`: 422 if there is none.
pub fn require_item(conn: &mut DbConnection, id: Uuid, field: &str) -> Result<Item, ApiError> {
    find_item(conn, id)?
        .ok_or_else(|| ApiError::invalid(field, "unknown", format!("no item with id {id}")))
}

/// Adds an item to the catalogue.
pub fn create_item(conn: &mut DbConnection, new: NewItem) -> Result<Item, ApiError> {
    let mut errors = Vec::new();
    check_code(&new.code, &mut errors);
    check_name(&new.name, &mut errors);
    if new
        .kcal_per_unit
        .is_some_and(|k| !(1..=1_000_000).contains(&k))
    {
        errors.push(FieldError::new(
            "kcal_per_unit",
            "range",
            "must be between 1 and 1000000",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = Uuid::new_v4();
    let now = time::now();
    diesel::insert_into(items::table)
        .values((
            items::id.eq(id.to_string()),
            items::code.eq(&new.code),
            items::name.eq(&new.name),
            items::unit.eq(new.unit.as_str()),
            items::sector.eq(new.sector.as_str()),
            items::kcal_per_unit.eq(new.kcal_per_unit),
            items::created_at.eq(now),
            items::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| ApiError::Conflict {
            code: "item-code-taken",
            detail: format!("an item with code {} already exists", new.code),
        }))?;
    find_item(conn, id)?.ok_or_else(|| ApiError::internal("item vanished after insert"))
}

/// A center that a request names in `field`: 422 if there is none.
fn require_center(conn: &mut DbConnection, id: Uuid, field: &str) -> Result<(), ApiError> {
    centers::find(conn, id)?
        .map(|_| ())
        .ok_or_else(|| ApiError::invalid(field, "unknown", format!("no center with id {id}")))
}

fn check_quantity(quantity: i64, field: &str, errors: &mut Vec<FieldError>) {
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        errors.push(FieldError::new(
            field,
            "range",
            format!("must be between 1 and {MAX_QUANTITY}"),
        ));
    }
}

fn check_text(text: Option<&str>, field: &str, max: usize, errors: &mut Vec<FieldError>) {
    if text.is_some_and(|t| t.trim().is_empty() || t.chars().count() > max) {
        errors.push(FieldError::new(
            field,
            "length",
            format!("1 to {max} characters, not only spaces"),
        ));
    }
}

// ---------------------------------------------------------------- ledger

crate::stored_enum! {
    pub enum MovementKind {
        Receipt = "receipt",
        TransferOut = "transfer_out",
        TransferIn = "transfer_in",
        Distribution = "distribution",
        Adjustment = "adjustment",
    }
}

/// One ledger row.
#[derive(Debug, Clone, Serialize)]
pub struct Movement {
    pub id: Uuid,
    pub center_id: Uuid,
    pub item_id: Uuid,
    pub kind: MovementKind,
    /// Signed: positive into the center's stock, negative out of it.
    pub quantity: i64,
    pub occurred_at: DateTime<Utc>,
    pub organization_id: Option<Uuid>,
    pub counterpart_center_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
    pub distribution_id: Option<Uuid>,
    pub reason: Option<String>,
    pub reference: Option<String>,
    pub recorded_by: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = stock_movements)]
struct MovementRow {
    id: String,
    center_id: String,
    item_id: String,
    kind: String,
    quantity: i64,
    occurred_at: NaiveDateTime,
    organization_id: Option<String>,
    counterpart_center_id: Option<String>,
    transfer_id: Option<String>,
    distribution_id: Option<String>,
    reason: Option<String>,
    reference: Option<String>,
    recorded_by: String,
    created_at: NaiveDateTime,
}

impl TryFrom<MovementRow> for Movement {
    type Error = ApiError;

    fn try_from(row: MovementRow) -> Result<Movement, ApiError> {
        let uuid = |t: Option<String>| t.as_deref().map(stored::id).transpose();
        Ok(Movement {
            id: stored::id(&row.id)?,
            center_id: stored::id(&row.center_id)?,
            item_id: stored::id(&row.item_id)?,
            kind: MovementKind::from_stored(&row.kind)?,
            quantity: row.quantity,
            occurred_at: row.occurred_at.and_utc(),
            organization_id: uuid(row.organization_id)?,
            counterpart_center_id: uuid(row.counterpart_center_id)?,
            transfer_id: uuid(row.transfer_id)?,
            distribution_id: uuid(row.distribution_id)?,
            reason: row.reason,
            reference: row.reference,
            recorded_by: stored::id(&row.recorded_by)?,
            created_at: row.created_at.and_utc(),
        })
    }
}

/// A ledger row to append.
pub(crate) struct Entry {
    pub id: Uuid,
    pub center_id: Uuid,
    pub item_id: Uuid,
    pub kind: MovementKind,
    pub quantity: i64,
    pub occurred_at: NaiveDateTime,
    pub organization_id: Option<Uuid>,
    pub counterpart_center_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
    pub distribution_id: Option<Uuid>,
    pub reason: Option<String>,
    pub reference: Option<String>,
    pub recorded_by: Uuid,
}

/// Appends a ledger row and applies it to the center's level, in the
/// caller's transaction: a negative quantity goes through [`take`] and is
/// refused (409 `insufficient-stock`) rather than go below zero.
pub(crate) fn record(conn: &mut DbConnection, entry: Entry) -> Result<Movement, ApiError> {
    if entry.quantity < 0 {
        take(
            conn,
            entry.center_id,
            entry.item_id,
            -entry.quantity,
            entry.occurred_at,
        )?;
    } else {
        put(conn, entry.center_id, entry.item_id, entry.quantity)?;
    }
    let opt = |id: Option<Uuid>| id.map(|id| id.to_string());
    let created_at = time::now();
    diesel::insert_into(stock_movements::table)
        .values((
            stock_movements::id.eq(entry.id.to_string()),
            stock_movements::center_id.eq(entry.center_id.to_string()),
            stock_movements::item_id.eq(entry.item_id.to_string()),
            stock_movements::kind.eq(entry.kind.as_str()),
            stock_movements::quantity.eq(entry.quantity),
            stock_movements::occurred_at.eq(entry.occurred_at),
            stock_movements::organization_id.eq(opt(entry.organization_id)),
            stock_movements::counterpart_center_id.eq(opt(entry.counterpart_center_id)),
            stock_movements::transfer_id.eq(opt(entry.transfer_id)),
            stock_movements::distribution_id.eq(opt(entry.distribution_id)),
            stock_movements::reason.eq(&entry.reason),
            stock_movements::reference.eq(&entry.reference),
            stock_movements::recorded_by.eq(entry.recorded_by.to_string()),
            stock_movements::created_at.eq(created_at),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| {
            idempotent::id_taken("movement-exists", "stock movement", entry.id)
        }))?;
    Ok(Movement {
        id: entry.id,
        center_id: entry.center_id,
        item_id: entry.item_id,
        kind: entry.kind,
        quantity: entry.quantity,
        occurred_at: entry.occurred_at.and_utc(),
        organization_id: entry.organization_id,
        counterpart_center_id: entry.counterpart_center_id,
        transfer_id: entry.transfer_id,
        distribution_id: entry.distribution_id,
        reason: entry.reason,
        reference: entry.reference,
        recorded_by: entry.recorded_by,
        created_at: created_at.and_utc(),
    })
}

fn put(conn: &mut DbConnection, center: Uuid, item: Uuid, quantity: i64) -> Result<(), ApiError> {
    crate::db::lock_counters(conn)?;
    let now = time::now();
    crate::per_backend!(conn, |c| diesel::insert_into(stock_levels::table)
        .values((
            stock_levels::center_id.eq(center.to_string()),
            stock_levels::item_id.eq(item.to_string()),
            stock_levels::quantity.eq(quantity),
            stock_levels::updated_at.eq(now),
        ))
        .on_conflict((stock_levels::center_id, stock_levels::item_id))
        .do_update()
        .set((
            stock_levels::quantity.eq(stock_levels::quantity + excluded(stock_levels::quantity)),
            stock_levels::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Takes `quantity` out of a center's stock, as of `at`, if it is there;
/// 409 `insufficient-stock`, naming what is available, if not.
///
/// A backdated outflow must also have been possible then: the stock may not
/// go below zero at any instant from `at` on, or `GET /stock?as_of=` would
/// report a negative level. The level row is locked by the update first, so
/// movements of the same item at the center are checked one at a time; only
/// the movements dated after `at` are read (none, for an outflow recorded
/// as it happens).
fn take(
    conn: &mut DbConnection,
    center: Uuid,
    item: Uuid,
    quantity: i64,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    crate::db::lock_counters(conn)?;
    let left: Option<i64> = diesel::update(
        stock_levels::table
            .find((center.to_string(), item.to_string()))
            .filter(stock_levels::quantity.ge(quantity)),
    )
    .set((
        stock_levels::quantity.eq(stock_levels::quantity - quantity),
        stock_levels::updated_at.eq(time::now()),
    ))
    .returning(stock_levels::quantity)
    .get_result(conn)
    .optional()?;
    if let Some(left) = left {
        // The level just after the outflow at `at` is `left` minus what
        // moved later; it must stay >= 0 after every later movement too:
        // `left` must cover the largest sum of a tail of later movements.
        let later: Vec<i64> = stock_movements::table
            .filter(stock_movements::center_id.eq(center.to_string()))
            .filter(stock_movements::item_id.eq(item.to_string()))
            .filter(stock_movements::occurred_at.gt(at))
            .order((
                stock_movements::occurred_at.desc(),
                stock_movements::id.desc(),
            ))
            .select(stock_movements::quantity)
            .load(conn)?;
        let mut tail = 0i64;
        let mut largest_tail = 0i64;
        for moved in later {
            tail += moved;
            largest_tail = largest_tail.max(tail);
        }
        if left >= largest_tail {
            return Ok(());
        }
        return Err(ApiError::Conflict {
            code: "insufficient-stock",
            detail: format!(
                "{quantity} needed at that time, but only {} was in stock then or after at this center",
                left + quantity - largest_tail
            ),
        });
    }
    let available: i64 = stock_levels::table
        .find((center.to_string(), item.to_string()))
        .select(stock_levels::quantity)
        .first(conn)
        .optional()?
        .unwrap_or(0);
    Err(ApiError::Conflict {
        code: "insufficient-stock",
        detail: format!("{quantity} needed, {available} in stock at this center"),
    })
}

/// `POST /api/v1/stock/receipts` body: supplies arriving at a center from an organization.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReceipt {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub center_id: Uuid,
    pub item_id: Uuid,
    pub quantity: i64,
    /// The donor or supplying organization.
    pub organization_id: Uuid,
    #[serde(default)]
    pub received_at: Option<Timestamp>,
    /// Waybill or delivery note number.
    #[serde(default)]
    pub reference: Option<String>,
}

pub fn receive(conn: &mut DbConnection, new: NewReceipt, by: Uuid) -> Result<Movement, ApiError> {
    let mut errors = Vec::new();
    check_quantity(new.quantity, "quantity", &mut errors);
    let at = time::happened_at(new.received_at, "received_at", time::now(), &mut errors);
    check_text(new.reference.as_deref(), "reference", 100, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    require_center(conn, new.center_id, "center_id")?;
    require_item(conn, new.item_id, "item_id")?;
    organizations::require(conn, new.organization_id, "organization_id")?;
    record(
        conn,
        Entry {
            id: new.id.unwrap_or_else(Uuid::now_v7),
            center_id: new.center_id,
            item_id: new.item_id,
            kind: MovementKind::Receipt,
            quantity: new.quantity,
            occurred_at: at,
            organization_id: Some(new.organization_id),
            counterpart_center_id: None,
            transfer_id: None,
            distribution_id: None,
            reason: None,
            reference: new.reference,
            recorded_by: by,
        },
    )
}

/// `POST /api/v1/stock/transfers` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTransfer {
    /// The transfer's id (both ledger rows carry it).
    #[serde(default)]
    pub id: Option<Uuid>,
    pub from_center_id: Uuid,
    pub to_center_id: Uuid,
    pub item_id: Uuid,
    pub quantity: i64,
    #[serde(default)]
    pub transferred_at: Option<Timestamp>,
    #[serde(default)]
    pub reference: Option<String>,
}

/// Both legs of a transfer.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub id: Uuid,
    pub out: Movement,
    #[serde(rename = "in")]
    pub into: Movement,
}

pub fn transfer(conn: &mut DbConnection, new: NewTransfer, by: Uuid) -> Result<Transfer, ApiError> {
    let mut errors = Vec::new();
    check_quantity(new.quantity, "quantity", &mut errors);
    if new.from_center_id == new.to_center_id {
        errors.push(FieldError::new(
            "to_center_id",
            "same_center",
            "must differ from from_center_id",
        ));
    }
    let at = time::happened_at(
        new.transferred_at,
        "transferred_at",
        time::now(),
        &mut errors,
    );
    check_text(new.reference.as_deref(), "reference", 100, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    require_center(conn, new.from_center_id, "from_center_id")?;
    require_center(conn, new.to_center_id, "to_center_id")?;
    require_item(conn, new.item_id, "item_id")?;
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    let leg = |center, counterpart, kind, quantity| Entry {
        id: Uuid::now_v7(),
        center_id: center,
        item_id: new.item_id,
        kind,
        quantity,
        occurred_at: at,
        organization_id: None,
        counterpart_center_id: Some(counterpart),
        transfer_id: Some(id),
        distribution_id: None,
        reason: None,
        reference: new.reference.clone(),
        recorded_by: by,
    };
    let out = leg(
        new.from_center_id,
        new.to_center_id,
        MovementKind::TransferOut,
        -new.quantity,
    );
    let into = leg(
        new.to_center_id,
        new.from_center_id,
        MovementKind::TransferIn,
        new.quantity,
    );
    // Levels are locked in center order: two opposite transfers wait for
    // each other instead of deadlocking.
    let (out, into) = if new.from_center_id < new.to_center_id {
        let out = record(conn, out)?;
        (out, record(conn, into)?)
    } else {
        let into = record(conn, into)?;
        (record(conn, out)?, into)
    };
    Ok(Transfer { id, out, into })
}

/// `POST /api/v1/stock/adjustments` body: a count that differs from the
/// ledger (loss, damage, expiry, a recount), with the reason.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAdjustment {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub center_id: Uuid,
    pub item_id: Uuid,
    /// Signed: positive adds, negative removes (never below zero).
    pub quantity: i64,
    pub reason: String,
    #[serde(default)]
    pub adjusted_at: Option<Timestamp>,
}

pub fn adjust(conn: &mut DbConnection, new: NewAdjustment, by: Uuid) -> Result<Movement, ApiError> {
    let mut errors = Vec::new();
    check_quantity(new.quantity.saturating_abs(), "quantity", &mut errors);
    check_text(Some(&new.reason), "reason", 500, &mut errors);
    let at = time::happened_at(new.adjusted_at, "adjusted_at", time::now(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    require_center(conn, new.center_id, "center_id")?;
    require_item(conn, new.item_id, "item_id")?;
    record(
        conn,
        Entry {
            id: new.id.unwrap_or_else(Uuid::now_v7),
            center_id: new.center_id,
            item_id: new.item_id,
            kind: MovementKind::Adjustment,
            quantity: new.quantity,
            occurred_at: at,
            organization_id: None,
            counterpart_center_id: None,
            transfer_id: None,
            distribution_id: None,
            reason: Some(new.reason),
            reference: None,
            recorded_by: by,
        },
    )
}

/// A center's quantity of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Level {
    pub center_id: Uuid,
    pub item_id: Uuid,
    pub quantity: i64,
}

/// Levels now (from `stock_levels`) or as of an instant (the ledger summed up
/// to it), optionally for one center; items never stocked are left out.
pub fn levels(
    conn: &mut DbConnection,
    center: Option<Uuid>,
    as_of: Option<NaiveDateTime>,
) -> Result<Vec<Level>, ApiError> {
    let rows: Vec<(String, String, i64)> = match as_of {
        None => {
            let mut q = stock_levels::table
                .select((
                    stock_levels::center_id,
                    stock_levels::item_id,
                    stock_levels::quantity,
                ))
                .into_boxed();
            if let Some(center) = center {
                q = q.filter(stock_levels::center_id.eq(center.to_string()));
            }
            q.load(conn)?
        }
        Some(as_of) => ledger_sums(conn, center, Some(as_of))?,
    };
    let mut out = rows
        .into_iter()
        .map(|(center, item, quantity)| {
            Ok(Level {
                center_id: stored::id(&center)?,
                item_id: stored::id(&item)?,
                quantity,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    out.sort_by_key(|l| (l.center_id, l.item_id));
    Ok(out)
}

/// The ledger summed per center and item, up to `as_of` (None: all of it).
fn ledger_sums(
    conn: &mut DbConnection,
    center: Option<Uuid>,
    as_of: Option<NaiveDateTime>,
) -> Result<Vec<(String, String, i64)>, ApiError> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back, as SQLite's already is.
    let total = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "CAST(COALESCE(SUM(stock_movements.quantity), 0) AS BIGINT)",
    );
    let mut q = stock_movements::table
        .group_by((stock_movements::center_id, stock_movements::item_id))
        .select((stock_movements::center_id, stock_movements::item_id, total))
        .into_boxed();
    if let Some(as_of) = as_of {
        q = q.filter(stock_movements::occurred_at.le(as_of));
    }
    if let Some(center) = center {
        q = q.filter(stock_movements::center_id.eq(center.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Levels that differ from the sum of their ledger rows: (center, item,
/// level, ledger). Empty when the invariant holds.
pub fn verify(conn: &mut DbConnection) -> Result<Vec<(Uuid, Uuid, i64, i64)>, ApiError> {
    let now: BTreeMap<(Uuid, Uuid), i64> = levels(conn, None, None)?
        .into_iter()
        .map(|l| ((l.center_id, l.item_id), l.quantity))
        .collect();
    let ledger: BTreeMap<(Uuid, Uuid), i64> = ledger_sums(conn, None, None)?
        .into_iter()
        .map(|(center, item, quantity)| Ok(((stored::id(&center)?, stored::id(&item)?), quantity)))
        .collect::<Result<_, ApiError>>()?;
    let keys: std::collections::BTreeSet<_> = now.keys().chain(ledger.keys()).copied().collect();
    Ok(keys
        .into_iter()
        .filter_map(|k| {
            let (a, b) = (
                now.get(&k).copied().unwrap_or(0),
                ledger.get(&k).copied().unwrap_or(0),
            );
            (a != b).then_some((k.0, k.1, a, b))
        })
        .collect())
}

// ---------------------------------------------------------------- HTTP

/// `GET /api/v1/items`: the catalogue, by code. Any role.
pub async fn list_items(_caller: Caller, db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    let items = db
        .read(|conn| {
            items::table
                .select(ItemRow::as_select())
                .order(items::code)
                .load(conn)?
                .into_iter()
                .map(Item::try_from)
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST /api/v1/items` (admin).
pub async fn create_item_handler(
    caller: Caller,
    db: web::Data<Db>,
    body: JsonBody<NewItem>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let item = db
        .write(&caller.actor(), move |unit| {
            let item = create_item(unit, body.value)?;
            unit.audit(Event::new("item.create").resource("item", item.id));
            Ok(item)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/items/{}", item.id)))
        .json(item))
}

/// `GET /api/v1/items/{id}`.
pub async fn get_item(
    _caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let item = db
        .read(move |conn| find_item(conn, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no item with id {id}")))?;
    Ok(HttpResponse::Ok().json(item))
}

/// Runs a ledger write through the idempotency guard and answers 201.
async fn create_movement<T: Serialize + Send + 'static>(
    req: &HttpRequest,
    caller: &Caller,
    db: &Db,
    kind: &'static str,
    client_id: Option<Uuid>,
    document: &serde_json::Value,
    work: impl FnOnce(&mut DbConnection) -> Result<(T, Uuid), ApiError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let client_id = ClientId::of(kind, client_id);
    idempotent::create(db, req, caller, document, client_id, move |conn| {
        let (body, id) = work(conn)?;
        conn.audit(Event::new(format!("stock.{kind}")).resource(kind, id));
        let location = match kind {
            "transfer" => format!("/api/v1/stock/movements?transfer_id={id}"),
            _ => format!("/api/v1/stock/movements?id={id}"),
        };
        Ok(Created::new(body, location))
    })
    .await
}

/// `POST /api/v1/stock/receipts`: admins anywhere; registrars and aid workers at the center.
pub async fn receive_handler(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    body: JsonBody<NewReceipt>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    caller.require_aid(new.center_id)?;
    let by = caller.user_id;
    create_movement(
        &req,
        &caller,
        &db,
        "receipt",
        new.id,
        &body.document,
        move |conn| {
            let movement = receive(conn, new, by)?;
            let id = movement.id;
            Ok((movement, id))
        },
    )
    .await
}

/// `POST /api/v1/stock/transfers`: by staff of the sending center.
pub async fn transfer_handler(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    body: JsonBody<NewTransfer>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    caller.require_aid(new.from_center_id)?;
    let by = caller.user_id;
    create_movement(
        &req,
        &caller,
        &db,
        "transfer",
        new.id,
        &body.document,
        move |conn| {
            let transfer = transfer(conn, new, by)?;
            let id = transfer.id;
            Ok((transfer, id))
        },
    )
    .await
}

/// `POST /api/v1/stock/adjustments`: by staff of the center.
pub async fn adjust_handler(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    body: JsonBody<NewAdjustment>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    caller.require_aid(new.center_id)?;
    let by = caller.user_id;
    create_movement(
        &req,
        &caller,
        &db,
        "adjustment",
        new.id,
        &body.document,
        move |conn| {
            let movement = adjust(conn, new, by)?;
            let id = movement.id;
            Ok((movement, id))
        },
    )
    .await
}

/// `GET /api/v1/stock` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelsQuery {
    center_id: Option<Uuid>,
    as_of: Option<Timestamp>,
}

/// `GET /api/v1/stock[?center_id=&as_of=]`: quantity per center and item,
/// now or as of an instant. Not personal data; registrars and aid workers see
/// their centers, other roles all.
pub async fn levels_handler(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<LevelsQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.aggregate_read_scope();
    let LevelsQuery { center_id, as_of } = query.0;
    scope.require_filter(center_id)?;
    let as_of = as_of.map(|t| t.naive_utc());
    let items = db
        .read(move |conn| {
            let levels = levels(conn, center_id, as_of)?;
            Ok(levels
                .into_iter()
                .filter(|l| scope.allows(l.center_id))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "as_of": as_of.unwrap_or_else(time::now).and_utc(),
        "items": items,
    })))
}

/// `GET /api/v1/stock/movements` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementsQuery {
    center_id: Option<Uuid>,
    item_id: Option<Uuid>,
    /// One movement (as a receipt's or adjustment's `Location` names it).
    id: Option<Uuid>,
    transfer_id: Option<Uuid>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/v1/stock/movements`: the ledger, oldest first, a page at a time.
pub async fn movements_handler(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<MovementsQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.aggregate_read_scope();
    let query = query.0;
    scope.require_filter(query.center_id)?;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let page = db
        .read(move |conn| {
            let mut q = stock_movements::table
                .select(MovementRow::as_select())
                .into_boxed();
            if let Some(center) = query.center_id {
                q = q.filter(stock_movements::center_id.eq(center.to_string()));
            }
            if let CenterScope::Only(centers) = &scope {
                let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
                q = q.filter(stock_movements::center_id.eq_any(centers));
            }
            if let Some(item) = query.item_id {
                q = q.filter(stock_movements::item_id.eq(item.to_string()));
            }
            if let Some(id) = query.id {
                q = q.filter(stock_movements::id.eq(id.to_string()));
            }
            if let Some(id) = query.transfer_id {
                q = q.filter(stock_movements::transfer_id.eq(id.to_string()));
            }
            if let Some(from) = query.from {
                q = q.filter(stock_movements::occurred_at.ge(from.naive_utc()));
            }
            if let Some(to) = query.to {
                q = q.filter(stock_movements::occurred_at.lt(to.naive_utc()));
            }
            if let Some(Cursor { at, id }) = paging.after.clone() {
                q = q.filter(
                    stock_movements::occurred_at
                        .gt(at)
                        .or(stock_movements::occurred_at
                            .eq(at)
                            .and(stock_movements::id.gt(id))),
                );
            }
            let rows: Vec<MovementRow> = q
                .order((stock_movements::occurred_at, stock_movements::id))
                .limit(paging.rows_to_load())
                .load(conn)?;
            paging.page(
                rows,
                |r| Cursor::encode(r.occurred_at, &r.id),
                |rows| rows.into_iter().map(Movement::try_from).collect(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The stock routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/items").get(list_items).post(create_item_handler))
        .service(resource("/items/{id}").get(get_item))
        .service(resource("/stock").get(levels_handler))
        .service(resource("/stock/movements").get(movements_handler))
        .service(resource("/stock/receipts").post(receive_handler))
        .service(resource("/stock/transfers").post(transfer_handler))
        .service(resource("/stock/adjustments").post(adjust_handler));
}

//! Distributions: items handed to a household from a center's stock, by an
//! organization, within the household's entitlement.
//!
//! One transaction locks the household, checks the item's entitlement rule
//! against what the household already received, records the distribution
//! and takes the quantity out of the center's stock (which refuses to go
//! negative). Either all of it is written or none. Beyond the entitlement an
//! admin or aid worker may record an override with a reason; the stock check
//! still holds.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::Role;
use crate::auth::{Caller, CenterScope};
use crate::db::audit::Event;
use crate::db::tallies::TallyDelta;
use crate::db::{Db, DbConnection, Unit};
use crate::entitlements;
use crate::error::{ApiError, FieldError};
use crate::extract::{JsonBody, Query};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::paging::{Cursor, PageQuery};
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::organizations;
use crate::registration;
use crate::schema::{distributions, households, items};
use crate::stats;
use crate::stock::{self, Entry, MovementKind};

/// A distribution as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    pub id: Uuid,
    pub household_id: Uuid,
    pub center_id: Uuid,
    pub item_id: Uuid,
    pub quantity: i64,
    /// Members of the household at the time: the persons reached.
    pub persons: i32,
    pub organization_id: Uuid,
    pub distributed_at: DateTime<Utc>,
    pub override_reason: Option<String>,
    pub recorded_by: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = distributions)]
struct DistributionRow {
    id: String,
    household_id: String,
    center_id: String,
    item_id: String,
    quantity: i64,
    persons: i32,
    organization_id: String,
    distributed_at: NaiveDateTime,
    override_reason: Option<String>,
    recorded_by: String,
    created_at: NaiveDateTime,
}

impl TryFrom<DistributionRow> for Distribution {
    type Error = ApiError;

    fn try_from(row: DistributionRow) -> Result<Distribution, ApiError> {
        Ok(Distribution {
            id: stored::id(&row.id)?,
            household_id: stored::id(&row.household_id)?,
            center_id: stored::id(&row.center_id)?,
            item_id: stored::id(&row.item_id)?,
            quantity: row.quantity,
            persons: row.persons,
            organization_id: stored::id(&row.organization_id)?,
            distributed_at: row.distributed_at.and_utc(),
            override_reason: row.override_reason,
            recorded_by: stored::id(&row.recorded_by)?,
            created_at: row.created_at.and_utc(),
        })
    }
}

/// `POST /api/v1/distributions` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDistribution {
    /// Client-chosen id: makes retries safe without an `Idempotency-Key`.
    #[serde(default)]
    pub id: Option<Uuid>,
    pub household_id: Uuid,
    /// Where the items are handed out: the stock they come from.
    pub center_id: Uuid,
    pub item_id: Uuid,
    /// Default: what remains of the household's entitlement in this period.
    /// Required for items without an entitlement rule.
    #[serde(default)]
    pub quantity: Option<i64>,
    /// The organization handing it out.
    pub organization_id: Uuid,
    #[serde(default)]
    pub distributed_at: Option<Timestamp>,
    /// Beyond the entitlement, why (admins and aid workers only).
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// Locks the household row until the transaction ends (a no-op update: on
/// PostgreSQL a second distribution to it waits here, then sees the first).
/// It sets a column no foreign key refers to: SQLite re-checks every child
/// table when a referenced key is written, even to the same value.
fn lock_household(conn: &mut DbConnection, id: Uuid) -> Result<(), ApiError> {
    diesel::update(households::table.find(id.to_string()))
        .set(households::version.eq(households::version))
        .execute(conn)?;
    Ok(())
}

/// Records a distribution in the caller's transaction: an override (a
/// reason given) skips the entitlement check, never the stock check. Who may
/// override is the caller's to check.
pub fn distribute(
    unit: &mut Unit<'_>,
    new: NewDistribution,
    recorded_by: Uuid,
) -> Result<Distribution, ApiError> {
    let conn = unit.conn();
    let mut errors = Vec::new();
    let at = time::happened_at(
        new.distributed_at,
        "distributed_at",
        time::now(),
        &mut errors,
    );
    if new
        .quantity
        .is_some_and(|q| !(1..=10_000_000_000).contains(&q))
    {
        errors.push(FieldError::new(
            "quantity",
            "range",
            "must be between 1 and 10000000000",
        ));
    }
    if new
        .override_reason
        .as_deref()
        .is_some_and(|r| r.trim().is_empty() || r.chars().count() > 500)
    {
        errors.push(FieldError::new(
            "override_reason",
            "length",
            "1 to 500 characters, not only spaces",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (arrived_at, reached) =
        registration::arrival_of(conn, new.household_id)?.ok_or_else(|| {
            ApiError::invalid(
                "household_id",
                "unknown",
                format!("no household with id {}", new.household_id),
            )
        })?;
    let item = stock::require_item(conn, new.item_id, "item_id")?;
    organizations::require(conn, new.organization_id, "organization_id")?;
    if at < arrived_at {
        return Err(ApiError::invalid(
            "distributed_at",
            "before_arrival",
            "a household cannot receive anything before it arrived",
        ));
    }
    lock_household(conn, new.household_id)?;
    // The household and every household merged with it (a person
    // registered twice) share one entitlement; a merge locks the
    // households it joins, so with all of the group locked in id order
    // (rarely more than one), two desks cannot both give the last of it.
    let mut group = registration::merge_group(conn, new.household_id)?;
    while group.households.len() > 1 {
        for household in &group.households {
            lock_household(conn, *household)?;
        }
        let now = registration::merge_group(conn, new.household_id)?;
        if now == group {
            break;
        }
        group = now;
    }
    // Members now, less those merged into another record.
    let persons = group.members;
    let rule = entitlements::for_item(conn, new.item_id)?;
    let quantity = match (&rule, &new.override_reason) {
        (Some(rule), None) => rule.check(conn, &group, arrived_at, at, new.quantity)?,
        (_, _) => new.quantity.ok_or_else(|| {
            ApiError::invalid(
                "quantity",
                "required",
                if rule.is_some() {
                    "an override must say how much is given"
                } else {
                    "this item has no entitlement rule: say how much is given"
                },
            )
        })?,
    };
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    let created_at = time::now();
    diesel::insert_into(distributions::table)
        .values((
            distributions::id.eq(id.to_string()),
            distributions::household_id.eq(new.household_id.to_string()),
            distributions::center_id.eq(new.center_id.to_string()),
            distributions::item_id.eq(new.item_id.to_string()),
            distributions::quantity.eq(quantity),
            distributions::persons.eq(persons as i32),
            distributions::organization_id.eq(new.organization_id.to_string()),
            distributions::distributed_at.eq(at),
            distributions::override_reason.eq(&new.override_reason),
            distributions::recorded_by.eq(recorded_by.to_string()),
            distributions::created_at.eq(created_at),
        ))
        .execute(conn)
        .map_err(|error| match error {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            ) => ApiError::invalid(
                "center_id",
                "unknown",
                format!("no center with id {}", new.center_id),
            ),
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => idempotent::id_taken("distribution-exists", "distribution", id),
            other => other.into(),
        })?;
    stock::record(
        conn,
        Entry {
            id: Uuid::now_v7(),
            center_id: new.center_id,
            item_id: new.item_id,
            kind: MovementKind::Distribution,
            quantity: -quantity,
            occurred_at: at,
            organization_id: Some(new.organization_id),
            counterpart_center_id: None,
            transfer_id: None,
            distribution_id: Some(id),
            reason: None,
            reference: None,
            recorded_by,
        },
    )?;
    unit.record(TallyDelta::distributed(new.center_id, new.item_id, at, quantity).into());
    if let Some(sector) = stats::Sector::of_item(item.sector.as_str()) {
        registration::record_reach(unit, new.household_id, &reached, sector, at)?;
    }
    Ok(Distribution {
        id,
        household_id: new.household_id,
        center_id: new.center_id,
        item_id: new.item_id,
        quantity,
        persons: persons as i32,
        organization_id: new.organization_id,
        distributed_at: at.and_utc(),
        override_reason: new.override_reason,
        recorded_by,
        created_at: created_at.and_utc(),
    })
}

fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Distribution>, ApiError> {
    distributions::table
        .find(id.to_string())
        .select(DistributionRow::as_select())
        .first(conn)
        .optional()?
        .map(Distribution::try_from)
        .transpose()
}

/// Whether a distribution with this id was recorded.
pub fn exists(conn: &mut DbConnection, id: Uuid) -> Result<bool, ApiError> {
    Ok(find(conn, id)?.is_some())
}

/// Persons reached with the item `code` by `until` (each household's
/// members at the time, counted once however often it received the item).
pub fn persons_reached(
    conn: &mut DbConnection,
    code: &str,
    until: NaiveDateTime,
) -> Result<i64, ApiError> {
    let rows: Vec<(String, i32)> = distributions::table
        .inner_join(items::table)
        .filter(items::code.eq(code))
        .filter(distributions::distributed_at.le(until))
        .select((distributions::household_id, distributions::persons))
        .load(conn)?;
    let mut seen = std::collections::HashMap::new();
    for (household, persons) in rows {
        seen.entry(household).or_insert(i64::from(persons));
    }
    Ok(seen.values().sum())
}

/// A household's distributions, oldest first.
pub fn of_household(
    conn: &mut DbConnection,
    household: Uuid,
) -> Result<Vec<Distribution>, ApiError> {
    distributions::table
        .filter(distributions::household_id.eq(household.to_string()))
        .order((distributions::distributed_at, distributions::id))
        .select(DistributionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Distribution::try_from)
        .collect()
}

/// `POST /api/v1/distributions`: admins anywhere; registrars and aid
/// workers at the distributing center; overrides by admins and aid workers.
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    body: JsonBody<NewDistribution>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    caller.require_aid(new.center_id)?;
    if new.override_reason.is_some() && !matches!(caller.role, Role::Admin | Role::AidWorker) {
        return Err(ApiError::Forbidden(
            "only an admin or an aid worker may give more than the entitlement".into(),
        ));
    }
    let by = caller.user_id;
    let client_id = ClientId::of("distribution", new.id);
    idempotent::create(&db, &req, &caller, &body.document, client_id, move |conn| {
        let distribution = distribute(conn, new, by)?;
        conn.audit(
            Event::new("distribution.create")
                .resource("distribution", distribution.id)
                .center(distribution.center_id)
                .household(distribution.household_id),
        );
        if distribution.override_reason.is_some() {
            // The reason itself is the recorder's words and could name someone: not logged.
            tracing::info!(distribution_id = %distribution.id, "distribution beyond the entitlement recorded");
        }
        let location = format!("/api/v1/distributions/{}", distribution.id);
        Ok(Created::new(distribution, location))
    })
    .await
}

/// `GET /api/v1/distributions/{id}`: person-level (it names a household),
/// for callers who may read the distributing center's records.
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let distribution = db
        .read(move |conn| find(conn, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no distribution with id {id}")))?;
    scope.require(distribution.center_id, "this center")?;
    db.record(
        &caller.actor(),
        vec![Event::new("distribution.read")
            .resource("distribution", distribution.id)
            .center(distribution.center_id)
            .household(distribution.household_id)],
    )
    .await?;
    Ok(HttpResponse::Ok().json(distribution))
}

/// `GET /api/v1/distributions` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    household_id: Option<Uuid>,
    center_id: Option<Uuid>,
    item_id: Option<Uuid>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/v1/distributions`: oldest first, a page at a time; person-level.
pub async fn list(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let query = query.0;
    scope.require_filter(query.center_id)?;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let detail = serde_json::json!({
        "household_id": query.household_id,
        "center_id": query.center_id,
        "item_id": query.item_id,
    });
    let page = db
        .read(move |conn| {
            let mut q = distributions::table
                .select(DistributionRow::as_select())
                .into_boxed();
            if let Some(h) = query.household_id {
                q = q.filter(distributions::household_id.eq(h.to_string()));
            }
            if let Some(c) = query.center_id {
                q = q.filter(distributions::center_id.eq(c.to_string()));
            }
            if let CenterScope::Only(centers) = &scope {
                let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
                q = q.filter(distributions::center_id.eq_any(centers));
            }
            if let Some(i) = query.item_id {
                q = q.filter(distributions::item_id.eq(i.to_string()));
            }
            if let Some(from) = query.from {
                q = q.filter(distributions::distributed_at.ge(from.naive_utc()));
            }
            if let Some(to) = query.to {
                q = q.filter(distributions::distributed_at.lt(to.naive_utc()));
            }
            if let Some(Cursor { at, id }) = paging.after.clone() {
                q = q.filter(
                    distributions::distributed_at
                        .gt(at)
                        .or(distributions::distributed_at
                            .eq(at)
                            .and(distributions::id.gt(id))),
                );
            }
            let rows: Vec<DistributionRow> = q
                .order((distributions::distributed_at, distributions::id))
                .limit(paging.rows_to_load())
                .load(conn)?;
            paging.page(
                rows,
                |r| Cursor::encode(r.distributed_at, &r.id),
                |rows| rows.into_iter().map(Distribution::try_from).collect(),
            )
        })
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("distribution.list")
            .detail(detail)
            .households(page.items.iter().map(|d| d.household_id))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The distributions routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/distributions").get(list).post(create))
        .service(resource("/distributions/{id}").get(get));
}

//! Entitlements: what a household may receive of an item, as data rather
//! than code. One rule per item:
//!
//! - `basis`: the quantity is per `household` or per `person` (members at
//!   the time of the distribution);
//! - no period: once (fuel, 5 liters per family; cash, 100,000 AMD per person);
//! - `every_days` or `every_months`: again in every period of that length
//!   (a food ration per person per 7 days; rent support every month),
//!   counted from `starts_at`, or from the household's arrival when unset;
//!   months are calendar months on Yerevan's clock;
//! - `max_times`: for that many periods only (6 months of rent support).
//!
//! [`Entitlement::check`] is called by a distribution inside its
//! transaction, after locking the household, so two desks cannot both hand
//! out the last of an entitlement.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Datelike, Months, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::centers::DEFAULT_TIMEZONE;
use crate::db::audit::Event;
use crate::db::{self, Db, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::extract::JsonBody;
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::registration::MergeGroup;
use crate::schema::{distributions, entitlements};
use crate::stock;

crate::stored_enum! {
    pub enum Basis {
        Household = "household",
        Person = "person",
    }
}

/// An entitlement rule.
#[derive(Debug, Clone, Serialize)]
pub struct Entitlement {
    pub id: Uuid,
    pub item_id: Uuid,
    pub basis: Basis,
    /// Per household or per person, per period.
    pub quantity: i64,
    pub every_days: Option<i32>,
    pub every_months: Option<i32>,
    pub max_times: Option<i32>,
    pub starts_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = entitlements)]
struct EntitlementRow {
    id: String,
    item_id: String,
    basis: String,
    quantity: i64,
    every_days: Option<i32>,
    every_months: Option<i32>,
    max_times: Option<i32>,
    starts_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<EntitlementRow> for Entitlement {
    type Error = ApiError;

    fn try_from(row: EntitlementRow) -> Result<Entitlement, ApiError> {
        Ok(Entitlement {
            id: stored::id(&row.id)?,
            item_id: stored::id(&row.item_id)?,
            basis: match row.basis.as_str() {
                "household" => Basis::Household,
                "person" => Basis::Person,
                other => {
                    return Err(ApiError::internal(format!(
                        "unknown stored basis {other:?}"
                    )))
                }
            },
            quantity: row.quantity,
            every_days: row.every_days,
            every_months: row.every_months,
            max_times: row.max_times,
            starts_at: row.starts_at.map(|t| t.and_utc()),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// `POST /api/v1/entitlements` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEntitlement {
    pub item_id: Uuid,
    pub basis: Basis,
    pub quantity: i64,
    #[serde(default)]
    pub every_days: Option<i32>,
    #[serde(default)]
    pub every_months: Option<i32>,
    #[serde(default)]
    pub max_times: Option<i32>,
    #[serde(default)]
    pub starts_at: Option<Timestamp>,
}

/// The period of a rule that contains an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// 0 for the first period.
    pub index: i64,
    pub start: NaiveDateTime,
    /// None for a once-only rule.
    pub end: Option<NaiveDateTime>,
}

impl Entitlement {
    /// The period containing `at`, for a household that arrived at
    /// `arrived_at`; None before the rule starts.
    pub fn period(&self, arrived_at: NaiveDateTime, at: NaiveDateTime) -> Option<Period> {
        let anchor = self.starts_at.map_or(arrived_at, |t| t.naive_utc());
        if at < anchor {
            return None;
        }
        if let Some(days) = self.every_days {
            let length = TimeDelta::days(i64::from(days));
            let index = (at - anchor).num_seconds() / length.num_seconds();
            let start = anchor + length * index as i32;
            return Some(Period {
                index,
                start,
                end: Some(start + length),
            });
        }
        if let Some(months) = self.every_months {
            // Calendar months on the local clock (a month from 1 October
            // 00:00 is 1 November 00:00 in Yerevan, whatever UTC says).
            let tz: Tz = DEFAULT_TIMEZONE
                .parse()
                .expect("the default timezone is valid");
            let local = |t: NaiveDateTime| t.and_utc().with_timezone(&tz).naive_local();
            let (anchor, at) = (local(anchor), local(at));
            let step = |k: i64| {
                u32::try_from(k * i64::from(months))
                    .ok()
                    .and_then(|m| anchor.checked_add_months(Months::new(m)))
            };
            let elapsed = i64::from(at.year() - anchor.year()) * 12 + i64::from(at.month())
                - i64::from(anchor.month());
            let mut index = (elapsed / i64::from(months)).max(0);
            while index > 0 && step(index).is_none_or(|start| start > at) {
                index -= 1;
            }
            let utc =
                |t: NaiveDateTime| tz.from_local_datetime(&t).earliest().map(|d| d.naive_utc());
            return Some(Period {
                index,
                start: utc(step(index)?)?,
                end: step(index + 1).and_then(utc),
            });
        }
        Some(Period {
            index: 0,
            start: anchor,
            end: None,
        })
    }

    /// What the rule allows a household per period, with the households
    /// merged with it: per household counted, or per person counted (a
    /// person registered twice counts once).
    pub fn allowance(&self, group: &MergeGroup) -> i64 {
        match self.basis {
            Basis::Household => self.quantity * group.counted_households,
            Basis::Person => self.quantity * group.persons,
        }
    }

    /// Checks that `household` may receive `quantity` (None: the rest of its
    /// allowance) at `at`; returns the quantity to give. Refusals are 409
    /// with the rule and what was already received.
    pub fn check(
        &self,
        conn: &mut DbConnection,
        group: &MergeGroup,
        arrived_at: NaiveDateTime,
        at: NaiveDateTime,
        quantity: Option<i64>,
    ) -> Result<i64, ApiError> {
        let allowed = self.allowance(group);
        let Some(period) = self.period(arrived_at, at) else {
            return Err(self.refusal(
                "not-entitled",
                format!(
                    "this entitlement starts at {}",
                    self.starts_at
                        .map_or(arrived_at, |t| t.naive_utc())
                        .and_utc()
                        .to_rfc3339()
                ),
                json!({"allowed": allowed, "received": 0, "remaining": 0}),
            ));
        };
        if self
            .max_times
            .is_some_and(|max| period.index >= i64::from(max))
        {
            return Err(self.refusal(
                "not-entitled",
                format!(
                    "this entitlement covered {} periods, which have ended",
                    self.max_times.unwrap_or_default()
                ),
                json!({"allowed": 0, "received": 0, "remaining": 0, "period": period.index + 1}),
            ));
        }
        let mut received = distributions::table
            .filter(
                distributions::household_id.eq_any(
                    group
                        .households
                        .iter()
                        .map(Uuid::to_string)
                        .collect::<Vec<_>>(),
                ),
            )
            .filter(distributions::item_id.eq(self.item_id.to_string()))
            .filter(distributions::distributed_at.ge(period.start))
            .into_boxed();
        if let Some(end) = period.end {
            received = received.filter(distributions::distributed_at.lt(end));
        }
        let rows: Vec<(i64, NaiveDateTime)> = received
            .select((distributions::quantity, distributions::distributed_at))
            .load(conn)?;
        let already: i64 = rows.iter().map(|(q, _)| q).sum();
        let last = rows.iter().map(|(_, at)| *at).max();
        let remaining = (allowed - already).max(0);
        let quantity = quantity.unwrap_or(remaining);
        if quantity == 0 || quantity > remaining {
            return Err(self.refusal(
                "entitlement-exceeded",
                format!(
                    "the household may receive {allowed} in this period and has received {already}; \
                     {quantity} more would exceed it (an admin or aid worker may record an override with a reason)"
                ),
                json!({
                    "allowed": allowed,
                    "received": already,
                    "remaining": remaining,
                    "last_received_at": last.map(|t| t.and_utc()),
                    "period": period.index + 1,
                    "period_start": period.start.and_utc(),
                    "period_end": period.end.map(|t| t.and_utc()),
                }),
            ));
        }
        Ok(quantity)
    }

    fn refusal(
        &self,
        code: &'static str,
        detail: String,
        mut status: serde_json::Value,
    ) -> ApiError {
        status["entitlement_id"] = json!(self.id);
        status["item_id"] = json!(self.item_id);
        status["basis"] = json!(self.basis);
        status["quantity"] = json!(self.quantity);
        ApiError::EntitlementRefused {
            code,
            detail,
            entitlement: status,
        }
    }
}

/// The rule for an item, if there is one.
pub fn for_item(conn: &mut DbConnection, item: Uuid) -> Result<Option<Entitlement>, ApiError> {
    entitlements::table
        .filter(entitlements::item_id.eq(item.to_string()))
        .select(EntitlementRow::as_select())
        .first(conn)
        .optional()?
        .map(Entitlement::try_from)
        .transpose()
}

fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Entitlement>, ApiError> {
    entitlements::table
        .find(id.to_string())
        .select(EntitlementRow::as_select())
        .first(conn)
        .optional()?
        .map(Entitlement::try_from)
        .transpose()
}

/// Creates the rule for an item (one per item: 409 `entitlement-exists`).
pub fn create(conn: &mut DbConnection, new: NewEntitlement) -> Result<Entitlement, ApiError> {
    let mut errors = Vec::new();
    if !(1..=10_000_000_000).contains(&new.quantity) {
        errors.push(FieldError::new(
            "quantity",
            "range",
            "must be between 1 and 10000000000",
        ));
    }
    if new.every_days.is_some_and(|d| !(1..=3660).contains(&d)) {
        errors.push(FieldError::new(
            "every_days",
            "range",
            "must be between 1 and 3660",
        ));
    }
    if new.every_months.is_some_and(|m| !(1..=120).contains(&m)) {
        errors.push(FieldError::new(
            "every_months",
            "range",
            "must be between 1 and 120",
        ));
    }
    if new.every_days.is_some() && new.every_months.is_some() {
        errors.push(FieldError::new(
            "every_months",
            "exclusive",
            "give every_days or every_months, not both",
        ));
    }
    match new.max_times {
        Some(n) if !(1..=1000).contains(&n) => errors.push(FieldError::new(
            "max_times",
            "range",
            "must be between 1 and 1000",
        )),
        Some(_) if new.every_days.is_none() && new.every_months.is_none() => {
            errors.push(FieldError::new(
                "max_times",
                "without_period",
                "only for a rule that repeats (every_days or every_months)",
            ))
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    stock::require_item(conn, new.item_id, "item_id")?;
    let id = Uuid::new_v4();
    let now = time::now();
    diesel::insert_into(entitlements::table)
        .values((
            entitlements::id.eq(id.to_string()),
            entitlements::item_id.eq(new.item_id.to_string()),
            entitlements::basis.eq(new.basis.as_str()),
            entitlements::quantity.eq(new.quantity),
            entitlements::every_days.eq(new.every_days),
            entitlements::every_months.eq(new.every_months),
            entitlements::max_times.eq(new.max_times),
            entitlements::starts_at.eq(new.starts_at.map(|t| t.stored())),
            entitlements::created_at.eq(now),
            entitlements::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| ApiError::Conflict {
            code: "entitlement-exists",
            detail: "this item already has an entitlement rule".into(),
        }))?;
    find(conn, id)?.ok_or_else(|| ApiError::internal("entitlement vanished after insert"))
}

/// `GET /api/v1/entitlements`: every rule. Any role.
pub async fn list(_caller: Caller, db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    let items = db
        .read(|conn| {
            entitlements::table
                .select(EntitlementRow::as_select())
                .order(entitlements::created_at)
                .load(conn)?
                .into_iter()
                .map(Entitlement::try_from)
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST /api/v1/entitlements` (admin).
pub async fn create_handler(
    caller: Caller,
    db: web::Data<Db>,
    body: JsonBody<NewEntitlement>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let rule = db
        .write(&caller.actor(), move |unit| {
            let rule = create(unit, body.value)?;
            unit.audit(Event::new("entitlement.create").resource("entitlement", rule.id));
            Ok(rule)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/entitlements/{}", rule.id),
        ))
        .json(rule))
}

/// `GET /api/v1/entitlements/{id}`.
pub async fn get(
    _caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let rule = db
        .read(move |conn| find(conn, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no entitlement with id {id}")))?;
    Ok(HttpResponse::Ok().json(rule))
}

/// The entitlements routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/entitlements").get(list).post(create_handler))
        .service(resource("/entitlements/{id}").get(get));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn rule(
        every_days: Option<i32>,
        every_months: Option<i32>,
        starts: Option<&str>,
    ) -> Entitlement {
        Entitlement {
            id: Uuid::nil(),
            item_id: Uuid::nil(),
            basis: Basis::Person,
            quantity: 1,
            every_days,
            every_months,
            max_times: None,
            starts_at: starts.map(|s| s.parse::<DateTime<Utc>>().unwrap()),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn at(s: &str) -> NaiveDateTime {
        s.parse::<DateTime<Utc>>().unwrap().naive_utc()
    }

    #[test]
    fn periods_of_days_count_from_the_arrival() {
        let food = rule(Some(7), None, None);
        let arrived = at("2023-09-26T10:00:00Z");
        assert_eq!(food.period(arrived, at("2023-09-26T09:59:59Z")), None);
        let first = food.period(arrived, at("2023-10-03T09:59:59Z")).unwrap();
        assert_eq!(
            (first.index, first.start, first.end),
            (0, arrived, Some(at("2023-10-03T10:00:00Z")))
        );
        assert_eq!(
            food.period(arrived, at("2023-10-03T10:00:00Z"))
                .unwrap()
                .index,
            1
        );
    }

    #[test]
    fn periods_of_months_count_from_the_start_date() {
        let rent = rule(None, Some(1), Some("2023-10-01T00:00:00Z"));
        let arrived = at("2023-09-26T10:00:00Z");
        assert_eq!(rent.period(arrived, at("2023-09-30T23:59:59Z")), None);
        let october = rent.period(arrived, at("2023-10-31T23:59:59Z")).unwrap();
        assert_eq!(
            (october.index, october.end),
            (0, Some(at("2023-11-01T00:00:00Z")))
        );
        let march = rent.period(arrived, at("2024-03-15T00:00:00Z")).unwrap();
        assert_eq!(march.index, 5);
        assert_eq!(
            march.start.date(),
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        );
        // A month anchored on the 31st ends on the last day of shorter months.
        let end_of_month = rule(None, Some(1), Some("2023-01-31T00:00:00Z"));
        let february = end_of_month
            .period(arrived, at("2023-03-01T00:00:00Z"))
            .unwrap();
        assert_eq!(february.index, 1);
        assert_eq!(february.start, at("2023-02-28T00:00:00Z"));
    }

    #[test]
    fn a_once_only_rule_has_one_endless_period() {
        let cash = rule(None, None, Some("2023-10-02T00:00:00Z"));
        let arrived = at("2023-09-26T10:00:00Z");
        assert_eq!(cash.period(arrived, at("2023-10-01T00:00:00Z")), None);
        let p = cash.period(arrived, at("2025-01-01T00:00:00Z")).unwrap();
        assert_eq!((p.index, p.end), (0, None));
        // Per person (the rule's basis here): the persons counted in the
        // household and those merged with it; per household, the households
        // counted (a duplicate household adds none).
        let group = |persons, counted_households| MergeGroup {
            households: vec![],
            persons,
            counted_households,
            members: persons,
        };
        assert_eq!(cash.allowance(&group(4, 1)), 4);
        let per_household = Entitlement {
            basis: Basis::Household,
            ..cash
        };
        assert_eq!(per_household.allowance(&group(5, 1)), 1);
        assert_eq!(per_household.allowance(&group(5, 2)), 2);
    }
}

//! The replay over HTTP (`refuge scenario nk-2023 --url URL`): the same plan
//! sent to a running server through its public API, as border counters and
//! registration desks would send it, then checked against the server's own
//! `/stats/summary?as_of=`.
//!
//! Every planned record carries its id, so a request that timed out can be
//! sent again (the server replays its first answer) and a stopped replay can
//! be started again: nothing is recorded twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use indicatif::ProgressBar;
use serde_json::{json, Value};
use uuid::Uuid;

use super::replay::{
    aid_rule, compare, compare_accommodation, compare_cash, flow_id, site_capacity,
    state_site_name, Mismatch, Report,
};
use super::{
    accommodation, aid, centers as planned_centers, checkpoints, nk2023, plan, state_site_code,
    Event, Options, STATE_ORGANIZATION,
};
use crate::stats::Figures;

/// Requests in flight at once, as from several desks.
const CLIENTS: usize = 8;

/// Attempts per request when the network or the server fails (503).
const ATTEMPTS: u32 = 5;

/// A logged-in API client.
pub struct Server {
    agent: ureq::Agent,
    base: String,
    authorization: String,
}

/// A response: status, whether the server replayed an earlier answer, body.
struct Answer {
    status: u16,
    replayed: bool,
    body: Value,
}

impl Answer {
    /// The body of a 2xx answer; anything else is an error naming the request
    /// and the server's problem document.
    fn ok(self, what: &str) -> Result<Value, String> {
        if (200..300).contains(&self.status) {
            Ok(self.body)
        } else {
            Err(format!("{what}: HTTP {}: {}", self.status, self.body))
        }
    }
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

impl Server {
    /// Logs in at `url` (e.g. `http://127.0.0.1:8080`) as `username`; the
    /// account must be an admin (the replay creates centers and writes at all of them).
    pub fn login(url: &str, username: &str, password: &str) -> Result<Server, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut server = Server {
            agent,
            base: url.trim_end_matches('/').to_string(),
            authorization: String::new(),
        };
        let body = json!({"username": username, "password": password});
        let answer = server
            .request(Method::Post, "/api/v1/auth/login", Some(&body), None)?
            .ok("logging in")?;
        let token = answer["access_token"]
            .as_str()
            .ok_or("logging in: the server sent no access_token")?;
        server.authorization = format!("Bearer {token}");
        Ok(server)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<i64>,
    ) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 1;
        loop {
            let sent = match method {
                Method::Get => self
                    .agent
                    .get(&url)
                    .header("authorization", &self.authorization)
                    .call(),
                Method::Post => self
                    .agent
                    .post(&url)
                    .header("authorization", &self.authorization)
                    .send_json(body.unwrap_or(&Value::Null)),
                Method::Patch => self
                    .agent
                    .patch(&url)
                    .header("authorization", &self.authorization)
                    .header("if-match", format!("\"{}\"", if_match.unwrap_or_default()))
                    .send_json(body.unwrap_or(&Value::Null)),
            };
            let retry = match sent {
                Ok(mut response) if response.status().as_u16() != 503 || attempt == ATTEMPTS => {
                    let replayed = response
                        .headers()
                        .get("idempotent-replayed")
                        .is_some_and(|v| v == "true");
                    return Ok(Answer {
                        status: response.status().as_u16(),
                        replayed,
                        body: response.body_mut().read_json().unwrap_or(Value::Null),
                    });
                }
                Ok(_) => "HTTP 503".to_string(),
                Err(error) if attempt < ATTEMPTS => error.to_string(),
                Err(error) => return Err(format!("{path}: {error}")),
            };
            tracing::warn!(path, attempt, cause = %retry, "retrying");
            std::thread::sleep(Duration::from_millis(200 << attempt));
            attempt += 1;
        }
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        self.request(Method::Get, path, None, None)?.ok(path)
    }

    /// Creates a planned record with its own id: true if it was new, false
    /// if the server already had it (an earlier run, or an earlier attempt).
    fn create(&self, path: &str, body: &Value) -> Result<bool, String> {
        let answer = self.request(Method::Post, path, Some(body), None)?;
        let replayed = answer.replayed;
        answer.ok(path)?;
        Ok(!replayed)
    }
}

/// Center ids by code, creating the planned centers the server lacks.
fn prepare(server: &Server) -> Result<Vec<(&'static str, Uuid)>, String> {
    let existing = server.get("/api/v1/centers")?;
    let mut ids = Vec::new();
    for spec in planned_centers() {
        let found = existing["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["code"] == spec.code)
            .cloned();
        let center = match found {
            Some(center) => center,
            None => server
                .request(
                    Method::Post,
                    "/api/v1/centers",
                    Some(&json!({
                        "code": spec.code,
                        "name": spec.name,
                        "kind": spec.kind,
                        "province": spec.province,
                        "latitude": spec.latitude,
                        "longitude": spec.longitude,
                    })),
                    None,
                )?
                .ok("creating a center")?,
        };
        let id = center["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| format!("center {} has no id", spec.code))?;
        ids.push((spec.code, id));
    }
    Ok(ids)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Sends the plan for `options` to the server.
pub fn replay(
    server: &Server,
    options: &Options,
    progress: &ProgressBar,
) -> Result<Report, String> {
    let lookup = |ids: &[(&'static str, Uuid)], code: &str| {
        ids.iter()
            .find(|(c, _)| *c == code)
            .map(|(_, id)| *id)
            .ok_or_else(|| format!("the plan names an unknown place {code}"))
    };
    let center_ids = prepare(server)?;
    let organization_ids = prepare_organizations(server)?;
    let state = lookup(&organization_ids, STATE_ORGANIZATION)?;
    let site_ids = prepare_sites(server, options, state)?;
    let item_ids = prepare_items(server)?;
    let events = plan(options);
    progress.set_length(events.len() as u64);
    // Flow counts and registrations carry their own times, so their order
    // does not matter; corrections, placements, moves and departures each
    // need the step before them done, so they go in that order.
    let phase = |e: &Event| match e {
        Event::Receive { .. } => 0,
        Event::Flow { .. } | Event::Register { .. } => 1,
        Event::SetSex { .. } => 2,
        Event::Distribute { .. } | Event::Trip { .. } => 3,
        Event::Board { .. } | Event::Place { moved: false, .. } => 4,
        Event::Place { moved: true, .. } => 5,
        Event::Leave { .. } => 6,
    };
    let mut phases: [Vec<Event>; 7] = Default::default();
    for event in events {
        phases[phase(&event)].push(event);
    }
    let report = Mutex::new(Report::default());
    for (i, events) in phases.iter().enumerate() {
        // Corrections and moves are few and touch shared rows: one at a time.
        let clients = if i == 2 || i == 5 { 1 } else { CLIENTS };
        let ids = Ids {
            center: &|c| lookup(&center_ids, c),
            site: &|p| lookup(&site_ids, p),
            item: &|i| lookup(&item_ids, i),
            organization: &|o| lookup(&organization_ids, o),
        };
        run(events, clients, progress, |event| {
            let sent = send(server, event, options, &ids)?;
            let mut report = report.lock().unwrap_or_else(|p| p.into_inner());
            match sent {
                Sent::Flow => report.flow_counts += 1,
                Sent::Household(persons) => {
                    report.households += 1;
                    report.persons += persons;
                }
                Sent::Correction => report.corrections += 1,
                Sent::Placement => report.placements += 1,
                Sent::Departure => report.departures += 1,
                Sent::Receipt => report.receipts += 1,
                Sent::Distribution => report.distributions += 1,
                Sent::Trip => report.trips += 1,
                Sent::Boarding => report.boardings += 1,
                Sent::Already => report.already_there += 1,
            }
            Ok(())
        })?;
    }
    progress.finish_with_message("replayed");
    Ok(report.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Runs `work` over `events` from `clients` threads; stops at the first error.
fn run(
    events: &[Event],
    clients: usize,
    progress: &ProgressBar,
    work: impl Fn(&Event) -> Result<(), String> + Sync,
) -> Result<(), String> {
    let next = AtomicUsize::new(0);
    let failure = Mutex::new(None::<String>);
    std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| loop {
                if failure.lock().is_ok_and(|f| f.is_some()) {
                    return;
                }
                let Some(event) = events.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                if let Err(error) = work(event) {
                    failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(error);
                    return;
                }
                progress.inc(1);
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Ids on the server by the plan's codes.
type Codes = Vec<(&'static str, Uuid)>;

/// The state's accommodation sites (run by `organization`), created if
/// missing; site ids by province.
fn prepare_sites(server: &Server, options: &Options, organization: Uuid) -> Result<Codes, String> {
    let sites = server.get("/api/v1/sites")?;
    let mut ids = Vec::new();
    for province in accommodation::PROVINCES
        .iter()
        .chain([&accommodation::TRANSIT])
    {
        let code = state_site_code(province);
        let found = sites["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["code"] == code.as_str())
            .cloned();
        let site = match found {
            Some(site) => site,
            None => server
                .request(
                    Method::Post,
                    "/api/v1/sites",
                    Some(&json!({
                        "code": code,
                        "name": state_site_name(province),
                        "kind": "collective_center",
                        "province": province,
                        "capacity_beds": site_capacity(options, province),
                        "organization_id": organization,
                    })),
                    None,
                )?
                .ok("creating a state accommodation site")?,
        };
        let id = site["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| format!("site {code} has no id"))?;
        ids.push((*province, id));
    }
    Ok(ids)
}

/// The replay's organizations, created if missing; ids by code.
fn prepare_organizations(server: &Server) -> Result<Codes, String> {
    let existing = server.get("/api/v1/organizations")?;
    let mut ids = Vec::new();
    for (code, name, kind) in aid::ORGANIZATIONS {
        let found = existing["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["code"] == code)
            .cloned();
        let organization = match found {
            Some(o) => o,
            None => server
                .request(
                    Method::Post,
                    "/api/v1/organizations",
                    Some(&json!({"code": code, "name": name, "kind": kind})),
                    None,
                )?
                .ok("creating an organization")?,
        };
        let id = organization["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| format!("organization {code} has no id"))?;
        ids.push((code, id));
    }
    Ok(ids)
}

enum Sent {
    Flow,
    Household(usize),
    Correction,
    Placement,
    Departure,
    Receipt,
    Distribution,
    Trip,
    Boarding,
    Already,
}

/// Ids on the server of what the plan names by code.
struct Ids<'a> {
    center: &'a (dyn Fn(&str) -> Result<Uuid, String> + Sync),
    site: &'a (dyn Fn(&str) -> Result<Uuid, String> + Sync),
    item: &'a (dyn Fn(&str) -> Result<Uuid, String> + Sync),
    organization: &'a (dyn Fn(&str) -> Result<Uuid, String> + Sync),
}

/// The replay's items, and their entitlement rules, created if missing;
/// item ids by code.
fn prepare_items(server: &Server) -> Result<Vec<(&'static str, Uuid)>, String> {
    let items = server.get("/api/v1/items")?;
    let rules = server.get("/api/v1/entitlements")?;
    let mut ids = Vec::new();
    for (code, name, unit, sector, kcal_per_unit) in aid::ITEMS {
        let found = items["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["code"] == code)
            .cloned();
        let item = match found {
            Some(item) => item,
            None => server
                .request(
                    Method::Post,
                    "/api/v1/items",
                    Some(
                        &json!({"code": code, "name": name, "unit": unit, "sector": sector,
                                 "kcal_per_unit": kcal_per_unit}),
                    ),
                    None,
                )?
                .ok("creating an item")?,
        };
        let id = item["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| format!("item {code} has no id"))?;
        let has_rule = rules["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["item_id"] == id.to_string());
        let rule = aid_rule(code, id).map_err(|e| e.to_string())?;
        if let (false, Some(rule)) = (has_rule, rule) {
            server
                .request(
                    Method::Post,
                    "/api/v1/entitlements",
                    Some(&json!({
                        "item_id": rule.item_id,
                        "basis": rule.basis,
                        "quantity": rule.quantity,
                        "starts_at": rule.starts_at,
                    })),
                    None,
                )?
                .ok("creating an entitlement rule")?;
        }
        ids.push((code, id));
    }
    Ok(ids)
}

fn send(server: &Server, event: &Event, options: &Options, ids: &Ids<'_>) -> Result<Sent, String> {
    let (center, site, item) = (ids.center, ids.site, ids.item);
    match event {
        Event::Flow {
            center: code,
            start,
            end,
            people,
            vehicles,
        } => {
            let body = json!({
                "id": flow_id(options, code, *start),
                "center_id": center(code)?,
                "window_start": rfc3339(*start),
                "window_end": rfc3339(*end),
                "direction": "in",
                "people": people,
                "vehicles": vehicles,
            });
            let new = server.create("/api/v1/flow-counts", &body)?;
            Ok(if new { Sent::Flow } else { Sent::Already })
        }
        Event::Register {
            center: code,
            household,
        } => {
            let new = household.to_new(center(code)?);
            let persons = new.members.len();
            let body = serde_json::to_value(&new).map_err(|e| e.to_string())?;
            let created = server.create("/api/v1/households", &body)?;
            Ok(if created {
                Sent::Household(persons)
            } else {
                Sent::Already
            })
        }
        Event::SetSex { .. } => Ok(if send_correction(server, event.clone())? {
            Sent::Correction
        } else {
            Sent::Already
        }),
        Event::Place {
            at,
            placement_id,
            household_id,
            province,
            moved,
        } => {
            let body = json!({
                "id": placement_id,
                "household_id": household_id,
                "checked_in_at": rfc3339(*at),
                "move": moved,
            });
            let path = format!("/api/v1/sites/{}/placements", site(province)?);
            let answer = server.request(Method::Post, &path, Some(&body), None)?;
            if answer.status == 409 && answer.body["code"] == "household-already-placed" {
                return Ok(Sent::Already);
            }
            let replayed = answer.replayed;
            answer.ok("placing a household")?;
            Ok(if replayed {
                Sent::Already
            } else {
                Sent::Placement
            })
        }
        Event::Leave { at, placement_id } => {
            let body = json!({"checked_out_at": rfc3339(*at), "reason": "left"});
            let path = format!("/api/v1/placements/{placement_id}/checkout");
            let answer = server.request(Method::Post, &path, Some(&body), None)?;
            if answer.status == 409 && answer.body["code"] == "already-checked-out" {
                return Ok(Sent::Already);
            }
            answer.ok("checking a household out")?;
            Ok(Sent::Departure)
        }
        Event::Trip {
            at,
            trip_id,
            center: code,
            province,
            seats,
        } => {
            let body = json!({
                "id": trip_id,
                "center_id": center(code)?,
                "destination_province": province,
                "departs_at": rfc3339(*at),
                "vehicle": "state bus",
                "seats": seats,
                "organization_id": (ids.organization)(STATE_ORGANIZATION)?,
            });
            let new = server.create("/api/v1/trips", &body)?;
            Ok(if new { Sent::Trip } else { Sent::Already })
        }
        Event::Board {
            boarding_id,
            trip_id,
            household_id,
            ..
        } => {
            let body = json!({"id": boarding_id, "household_id": household_id});
            let new = server.create(&format!("/api/v1/trips/{trip_id}/boardings"), &body)?;
            Ok(if new { Sent::Boarding } else { Sent::Already })
        }
        Event::Receive {
            at,
            receipt_id,
            center: code,
            item: item_code,
            quantity,
            organization,
        } => {
            let body = json!({
                "id": receipt_id,
                "center_id": center(code)?,
                "item_id": item(item_code)?,
                "quantity": quantity,
                "organization_id": (ids.organization)(organization)?,
                "received_at": rfc3339(*at),
            });
            let new = server.create("/api/v1/stock/receipts", &body)?;
            Ok(if new { Sent::Receipt } else { Sent::Already })
        }
        Event::Distribute {
            at,
            distribution_id,
            household_id,
            center: code,
            item: item_code,
            quantity,
            organization,
        } => {
            let body = json!({
                "id": distribution_id,
                "household_id": household_id,
                "center_id": center(code)?,
                "item_id": item(item_code)?,
                "quantity": quantity,
                "organization_id": (ids.organization)(organization)?,
                "distributed_at": rfc3339(*at),
            });
            let new = server.create("/api/v1/distributions", &body)?;
            Ok(if new {
                Sent::Distribution
            } else {
                Sent::Already
            })
        }
    }
}

/// Records a member's sex as of the planned time; false if it already was.
fn send_correction(server: &Server, event: Event) -> Result<bool, String> {
    let Event::SetSex {
        at,
        household_id,
        member_id,
        sex,
    } = event
    else {
        return Err("not a correction".into());
    };
    let path = format!("/api/v1/households/{household_id}");
    let household = server.get(&path)?;
    let sex = serde_json::to_value(sex).map_err(|e| e.to_string())?;
    let already = household["members"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["id"] == member_id.to_string() && m["sex"] == sex);
    if already {
        return Ok(false);
    }
    let version = household["version"]
        .as_i64()
        .ok_or_else(|| format!("{path}: no version"))?;
    let body = json!({
        "effective_at": rfc3339(at),
        "members": [{"id": member_id, "sex": sex}],
    });
    server
        .request(Method::Patch, &path, Some(&body), Some(version))?
        .ok("correcting a household")?;
    Ok(true)
}

/// Compares the server's summary at every checkpoint with the documented
/// figures; empty when it reproduces them all.
pub fn check(server: &Server, options: &Options) -> Result<Vec<Mismatch>, String> {
    let mut mismatches = Vec::new();
    for checkpoint in checkpoints(options.scale) {
        let as_of = rfc3339(checkpoint.observed_at.with_timezone(&Utc));
        let summary = server.get(&format!(
            "/api/v1/stats/summary?suppress=false&as_of={as_of}"
        ))?;
        let count = |section: &str, field: &str| {
            summary[section][field]
                .as_i64()
                .ok_or_else(|| format!("the summary as of {as_of} has no {section}.{field}"))
        };
        let figures = Figures {
            registered: count("registered", "persons")?,
            registered_male: count("registered", "male")?,
            registered_female: count("registered", "female")?,
            registered_unknown: count("registered", "unknown")?,
            crossed: count("crossed", "people")?,
            vehicles: count("crossed", "vehicles")?,
        };
        mismatches.extend(compare(&checkpoint, &figures));
    }
    let events = plan(options);
    // Cash paid by 20 October: what the centers received less what they hold.
    let received: i64 = events
        .iter()
        .filter_map(|e| match e {
            Event::Receive { item, quantity, .. } if *item == aid::CASH => Some(*quantity),
            _ => None,
        })
        .sum();
    let paid_by: DateTime<FixedOffset> = aid::CASH_PAID_BY.0.parse().map_err(|e| format!("{e}"))?;
    let items = server.get("/api/v1/items")?;
    let cash_item = items["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["code"] == aid::CASH)
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .ok_or("the server has no cash item")?;
    let levels = server.get(&format!(
        "/api/v1/stock?as_of={}",
        rfc3339(paid_by.with_timezone(&Utc))
    ))?;
    let held: i64 = levels["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["item_id"] == cash_item.as_str())
        .filter_map(|l| l["quantity"].as_i64())
        .sum();
    mismatches.extend(compare_cash(
        paid_by,
        options.scale,
        (received - held) / aid::CASH_PER_PERSON,
    ));
    for (at, planned) in nk2023::accommodation_planned(&events, options.scale) {
        let as_of = rfc3339(at.with_timezone(&Utc));
        let occupancy = server.get(&format!("/api/v1/occupancy?as_of={as_of}"))?;
        let by_province: BTreeMap<String, i64> = occupancy["provinces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p["province"].as_str()?.to_string(),
                    p["state_provided_persons"].as_i64()?,
                ))
            })
            .collect();
        mismatches.extend(compare_accommodation(at, &planned, &by_province));
    }
    Ok(mismatches)
}

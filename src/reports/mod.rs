//! CSV reports for aid agencies, dashboards and spreadsheets:
//! `GET /api/v1/reports/{name}.csv` and `refuge export <name>`.
//!
//! Every report is written by one function per report (the submodules), row
//! by row into a [`Csv`], whatever the destination: over HTTP the rows go
//! through a bounded channel in 64 KiB chunks while the database is still
//! being read, so memory stays flat however many rows there are and a slow
//! client slows the reading down rather than filling memory; from the command
//! line they go to a file. Large tables are read in keyset-paged chunks inside
//! one read-only transaction (a repeatable-read snapshot on PostgreSQL, a WAL
//! read snapshot on SQLite), so a report is consistent even while desks keep
//! registering.
//!
//! Who may pull what follows the JSON API the report mirrors: person-level
//! reports are scoped like person records, aggregate ones like statistics,
//! with the same small-cell suppression (see each report).
//!
//! The reports: [`displacement`] and [`registrations`] (arrivals and the
//! people registered), [`assistance`] (who gave what to how many, 3W/4W),
//! [`stock`] (levels and the ledger), [`shelters`] (capacity and occupancy
//! per site), [`transport`] (trips and manifests) and [`reviews`] (the
//! duplicate and tracing-match queues). Each module lists its columns and
//! their HXL hashtags.

/// Narrows a boxed query of a keyset-paged report reader to the request's
/// centers (`center`, or `either_center` of two columns) and period (on
/// `time`), after the last row read (`after`: that row's `(time, id)`).
/// Written once for every reader: the columns differ by table, the rules do
/// not.
macro_rules! in_window {
    ($query:ident, $request:expr, $after:expr, center: $center:expr, time: $time:expr, id: $id:expr $(,)?) => {
        if let Some(centers) = $request.scope.stored_ids() {
            $query = $query.filter($center.eq_any(centers));
        }
        in_window!($query, $request, $after, time: $time, id: $id);
    };
    ($query:ident, $request:expr, $after:expr, either_center: ($a:expr, $b:expr), time: $time:expr, id: $id:expr $(,)?) => {
        if let Some(centers) = $request.scope.stored_ids() {
            $query = $query.filter($a.eq_any(centers.clone()).or($b.eq_any(centers)));
        }
        in_window!($query, $request, $after, time: $time, id: $id);
    };
    ($query:ident, $request:expr, $after:expr, time: $time:expr, id: $id:expr $(,)?) => {
        if let Some(from) = $request.period.from {
            $query = $query.filter($time.ge(from));
        }
        if let Some(to) = $request.period.to {
            $query = $query.filter($time.lt(to));
        }
        if let Some((at, id)) = $after {
            $query = $query.filter($time.gt(*at).or($time.eq(*at).and($id.gt(id.clone()))));
        }
    };
}

pub mod assistance;
pub mod csv;
pub mod displacement;
pub mod registrations;
pub mod reviews;
pub mod shelters;
pub mod stock;
pub mod transport;

use std::io::Write;

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use futures_util::StreamExt as _;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::auth::{Caller, CenterScope};
use crate::config::StatsSettings;
use crate::db::audit::Event;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::routes::resource;
use crate::http::time::{self, Date, Timestamp};

pub use self::csv::{column, Column, Csv, Format};

/// The reports, by the name in their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Displacement,
    Registrations,
    /// Who delivered what, where, to how many (3W/4W): [`assistance`].
    Assistance,
    /// Stock levels and ledger movements per center and item: [`stock`].
    Stock,
    /// Capacity and occupancy per site: [`shelters`].
    Shelters,
    /// Trips and their manifests, by person id: [`transport`].
    Transport,
    /// The duplicate and tracing-match review queues: [`reviews`].
    Reviews,
}

impl Report {
    pub const ALL: [Report; 7] = [
        Report::Displacement,
        Report::Registrations,
        Report::Assistance,
        Report::Stock,
        Report::Shelters,
        Report::Transport,
        Report::Reviews,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Report::Displacement => "displacement",
            Report::Registrations => "registrations",
            Report::Assistance => "assistance",
            Report::Stock => "stock",
            Report::Shelters => "shelters",
            Report::Transport => "transport",
            Report::Reviews => "reviews",
        }
    }

    pub fn from_name(name: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The report's columns, in its order.
    pub fn columns(self, options: &Options) -> &'static [Column] {
        match self {
            Report::Displacement => displacement::columns(options),
            Report::Registrations => registrations::COLUMNS,
            Report::Assistance => assistance::COLUMNS,
            Report::Stock => stock::COLUMNS,
            Report::Shelters => shelters::COLUMNS,
            Report::Transport => transport::COLUMNS,
            Report::Reviews => reviews::COLUMNS,
        }
    }

    /// Writes the report's rows.
    fn write<W: Write>(
        self,
        conn: &mut DbConnection,
        request: &Request,
        out: &mut Csv<W>,
    ) -> Result<(), ApiError> {
        match self {
            Report::Displacement => displacement::write(conn, request, out),
            Report::Registrations => registrations::write(conn, request, out),
            Report::Assistance => assistance::write(conn, request, out),
            Report::Stock => stock::write(conn, request, out),
            Report::Shelters => shelters::write(conn, request, out),
            Report::Transport => transport::write(conn, request, out),
            Report::Reviews => reviews::write(conn, request, out),
        }
    }
}

/// Report-specific choices.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Displacement only: one row per sex and age band as well.
    pub by_sex_and_age: bool,
}

/// A report request, checked and resolved: what to read and for whom.
#[derive(Debug, Clone)]
pub struct Request {
    pub report: Report,
    pub period: Period,
    /// The centers whose records may appear (the caller's scope, narrowed
    /// to `center_id` when given).
    pub scope: CenterScope,
    /// Counts from 1 to k-1 are withheld (aggregate reports), or `None`.
    pub suppress_below: Option<i64>,
    pub options: Options,
    pub format: Format,
}

/// `[from, to)` in UTC, each end optional, and how to name it in a filename.
#[derive(Debug, Clone, Default)]
pub struct Period {
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    from_label: Option<String>,
    to_label: Option<String>,
}

impl Period {
    /// From the `from` and `to` parameters: a date (`2023-09-24`, a whole day
    /// in the reports' timezone, Asia/Yerevan; `to` includes that day) or an
    /// RFC 3339 instant (`to` excluded).
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Period, ApiError> {
        let from_end = from.map(|t| bound("from", t, false)).transpose()?;
        let to_end = to.map(|t| bound("to", t, true)).transpose()?;
        if let (Some((from, _)), Some((to, _))) = (&from_end, &to_end) {
            if from >= to {
                return Err(ApiError::bad_parameter("from", "must be before `to`"));
            }
        }
        let (from, from_label) = from_end.unzip();
        let (to, to_label) = to_end.unzip();
        Ok(Period {
            from,
            to,
            from_label,
            to_label,
        })
    }

    /// Whether an instant falls in the period.
    pub fn contains(&self, at: NaiveDateTime) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }

    /// `2023-09-19_2023-10-05`, `from-2023-09-19`, `to-2023-10-05` or `all-dates`.
    pub fn label(&self) -> String {
        match (&self.from_label, &self.to_label) {
            (Some(from), Some(to)) => format!("{from}_{to}"),
            (Some(from), None) => format!("from-{from}"),
            (None, Some(to)) => format!("to-{to}"),
            (None, None) => "all-dates".into(),
        }
    }
}

/// The timezone in which report dates are days.
pub fn timezone() -> Tz {
    chrono_tz::Asia::Yerevan
}

/// One end of a period, in UTC, and its label for the filename.
fn bound(field: &str, text: &str, is_end: bool) -> Result<(NaiveDateTime, String), ApiError> {
    // Parsed by the same rules as every other date and instant (openapi.yaml's
    // `Day` and `Instant`): ten characters can only be a date.
    let refused = |message: String| {
        if message.starts_with(time::OUT_OF_RANGE) {
            time::out_of_range(field)
        } else {
            ApiError::bad_parameter(
                field,
                "must be a date (2023-09-24) or an RFC 3339 instant (2023-09-24T08:00:00+04:00)",
            )
        }
    };
    if text.len() == 10 {
        let date = Date::parse(text).map_err(refused)?;
        let day = if is_end { date.succ_opt() } else { Some(*date) };
        let start = day
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| timezone().from_local_datetime(&t).earliest())
            .ok_or_else(|| time::out_of_range(field))?;
        return Ok((start.naive_utc(), date.to_string()));
    }
    let utc = Timestamp::parse(text).map_err(refused)?.stored();
    Ok((utc, utc.format("%Y-%m-%dT%H%MZ").to_string()))
}

/// `GET /api/v1/reports/{name}.csv` query; also what `refuge export` asks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub center_id: Option<Uuid>,
    #[serde(default, deserialize_with = "flag")]
    pub bom: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub hxl: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub suppress: Option<bool>,
    pub columns: Option<String>,
    /// Displacement only: `sex_age` for one row per sex and age band.
    pub disaggregate: Option<Disaggregate>,
}

/// How the displacement report breaks its counts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disaggregate {
    SexAge,
}

/// `1`, `0`, `true` or `false`.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.as_str() {
        "1" | "true" => Ok(Some(true)),
        "0" | "false" => Ok(Some(false)),
        _ => Err(serde::de::Error::custom("expected 1, 0, true or false")),
    }
}

impl ReportQuery {
    /// Checks the parameters and the caller's right to this report.
    fn resolve(self, report: Report, caller: &Caller, k: i64) -> Result<Request, ApiError> {
        let (scope, suppress_below) = access(report, caller, self.center_id, self.suppress, k)?;
        self.into_request(report, scope, suppress_below)
    }

    /// For the command line, whose user holds the database itself: every
    /// center, and exact counts when `suppress` is false.
    pub fn resolve_for_operator(self, report: Report, k: i64) -> Result<Request, ApiError> {
        let scope = match self.center_id {
            Some(center) => CenterScope::Only(vec![center]),
            None => CenterScope::All,
        };
        let suppress_below = (self.suppress != Some(false)).then_some(k);
        self.into_request(report, scope, suppress_below)
    }

    fn into_request(
        self,
        report: Report,
        scope: CenterScope,
        suppress_below: Option<i64>,
    ) -> Result<Request, ApiError> {
        let options = Options {
            by_sex_and_age: match (report, self.disaggregate) {
                (_, None) => false,
                (Report::Displacement, Some(Disaggregate::SexAge)) => true,
                (_, Some(_)) => {
                    return Err(ApiError::bad_parameter(
                        "disaggregate",
                        "only the displacement report is disaggregated",
                    ))
                }
            },
        };
        let format = Format {
            bom: self.bom.unwrap_or(false),
            hxl: self.hxl.unwrap_or(false),
            columns: self
                .columns
                .as_deref()
                .map(|list| Format::select(list, report.columns(&options)))
                .transpose()?,
        };
        if self.suppress.is_some() && !report.suppressible() {
            return Err(ApiError::bad_parameter(
                "suppress",
                format!(
                    "the {} report has no small counts to withhold",
                    report.name()
                ),
            ));
        }
        if report == Report::Shelters && self.from.is_some() {
            // A snapshot has no start: refusing `from` is clearer than
            // silently ignoring it.
            return Err(ApiError::bad_parameter(
                "from",
                "the shelters report is a snapshot at `to` (or now): give `to` only",
            ));
        }
        Ok(Request {
            report,
            period: Period::parse(self.from.as_deref(), self.to.as_deref())?,
            scope,
            suppress_below: suppress_below.filter(|_| report.suppressible()),
            options,
            format,
        })
    }
}

impl Report {
    /// Whether the report publishes counts of people that small-cell
    /// suppression applies to.
    fn suppressible(self) -> bool {
        matches!(self, Report::Displacement | Report::Assistance)
    }
}

/// Who may pull which report, and whether small counts are withheld.
fn access(
    report: Report,
    caller: &Caller,
    center: Option<Uuid>,
    suppress: Option<bool>,
    k: i64,
) -> Result<(CenterScope, Option<i64>), ApiError> {
    let narrow = |scope: CenterScope| -> Result<CenterScope, ApiError> {
        match center {
            Some(center) => {
                scope.require(center, "this center")?;
                Ok(CenterScope::Only(vec![center]))
            }
            None => Ok(scope),
        }
    };
    match report {
        // As the statistics API: suppressed unless a role with person-level
        // access asks otherwise.
        Report::Displacement | Report::Assistance => {
            let access = crate::stats::access(caller, center, suppress, k)?;
            Ok((access.scope, access.suppress_below))
        }
        // Names, documents and needs: admins, and registrars of the center.
        Report::Registrations => {
            use crate::accounts::Role;
            let scope = match caller.role {
                Role::Admin => CenterScope::All,
                Role::Registrar => CenterScope::Only(caller.centers.clone()),
                role => {
                    return Err(ApiError::Forbidden(format!(
                        "the registrations report lists persons: only admins and the center's \
                         registrars may pull it, not the {role} role"
                    )))
                }
            };
            Ok((narrow(scope)?, None))
        }
        // Not personal data: as `/api/v1/stock`.
        Report::Stock => Ok((narrow(caller.aggregate_read_scope())?, None)),
        // As `/api/v1/occupancy`: sites are not at centers and any role sees
        // every site; `center_id` (checked against the caller's centers)
        // narrows the report to the sites in that center's province.
        Report::Shelters => match center {
            Some(_) => Ok((narrow(caller.aggregate_read_scope())?, None)),
            None => Ok((CenterScope::All, None)),
        },
        // Household and person ids: as trip manifests (person-level).
        Report::Transport => Ok((narrow(caller.person_read_scope()?)?, None)),
        // About persons, though without names: as the review lists.
        Report::Reviews => Ok((narrow(caller.person_read_scope()?)?, None)),
    }
}

impl Request {
    /// The audit entry of an export of this report with `rows` rows, for
    /// the reports about persons (registrations, transport, reviews); None
    /// for aggregate reports, which hold no personal data.
    fn audit_event(&self, rows: u64, touched: csv::Touched) -> Option<Event> {
        if !matches!(
            self.report,
            Report::Registrations | Report::Transport | Report::Reviews
        ) {
            return None;
        }
        let ids = |ids: Vec<String>| {
            let mut ids: Vec<Uuid> = ids.iter().filter_map(|id| id.parse().ok()).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let centers = match &self.scope {
            CenterScope::All => None,
            CenterScope::Only(centers) => Some(centers.clone()),
        };
        let event = Event::new("report.export")
            .resource("report", self.report.name())
            .detail(serde_json::json!({
                "report": self.report.name(),
                "from": self.period.from.map(|t| t.and_utc()),
                "to": self.period.to.map(|t| t.and_utc()),
                "centers": centers,
                "rows": rows,
            }))
            .households(ids(touched.households))
            .persons(ids(touched.persons));
        Some(match &self.scope {
            CenterScope::Only(centers) if centers.len() == 1 => event.center(centers[0]),
            _ => event,
        })
    }
}

/// What a report's file is called: `refuge-registrations_2023-09-19_2023-10-05.csv`.
pub fn filename(request: &Request) -> String {
    format!(
        "refuge-{}_{}.csv",
        request.report.name(),
        request.period.label()
    )
}

/// Writes a whole report to `out` on `conn`, in one read-only snapshot.
/// Returns the number of rows, `out` (flushed), and the audit entry of the
/// export if the report lists persons.
pub fn export<W: Write>(
    conn: &mut DbConnection,
    request: &Request,
    out: W,
) -> Result<(u64, W, Option<Event>), ApiError> {
    use diesel::connection::{Connection, SimpleConnection};
    conn.transaction(|conn| {
        if let DbConnection::Postgres(pg) = conn {
            // The first statement of the transaction: later chunks see the
            // same snapshot as the first.
            pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        let columns = request.report.columns(&request.options);
        let mut csv = Csv::start(out, columns, &request.format)?;
        csv.count_in(crate::metrics::ExportRun::start(request.report.name()));
        request.report.write(conn, request, &mut csv)?;
        let rows = csv.rows();
        let event = request.audit_event(rows, csv.take_touched());
        Ok((rows, csv.finish()?, event))
    })
}

/// Every center by its id as stored, for the readers that print a row's
/// center code and name.
pub(crate) fn centers_by_id(
    conn: &mut DbConnection,
) -> Result<std::collections::HashMap<String, crate::centers::Center>, ApiError> {
    Ok(crate::centers::all(conn)?
        .into_iter()
        .map(|c| (c.id.to_string(), c))
        .collect())
}

/// Rows are read in chunks of this many.
pub(crate) const CHUNK_ROWS: i64 = 10_000;

/// The position of a row in a keyset-paged read: its time, then its id.
pub(crate) type Keyset = (NaiveDateTime, String);

/// Reads at most `limit` rows after the given position, in order.
pub(crate) type Fetch<R> =
    fn(&mut DbConnection, &Request, Option<&Keyset>, i64) -> Result<Vec<R>, ApiError>;

/// Reads a table in keyset-paged chunks, ordered by `(time, id)`, and hands
/// the rows out one at a time: only one chunk is held, however many rows
/// there are.
pub(crate) struct Paged<R> {
    rows: std::collections::VecDeque<R>,
    after: Option<Keyset>,
    done: bool,
    chunk: i64,
    fetch: Fetch<R>,
    /// A row's position.
    key: fn(&R) -> Keyset,
}

impl<R> Paged<R> {
    pub(crate) fn new(chunk: i64, fetch: Fetch<R>, key: fn(&R) -> Keyset) -> Paged<R> {
        Paged {
            rows: std::collections::VecDeque::new(),
            after: None,
            done: false,
            chunk,
            fetch,
            key,
        }
    }

    /// The next row, without taking it; reads the next chunk when needed.
    pub(crate) fn peek(
        &mut self,
        conn: &mut DbConnection,
        request: &Request,
    ) -> Result<Option<&R>, ApiError> {
        if self.rows.is_empty() && !self.done {
            let chunk = (self.fetch)(conn, request, self.after.as_ref(), self.chunk)?;
            self.done = (chunk.len() as i64) < self.chunk;
            if let Some(last) = chunk.last() {
                self.after = Some((self.key)(last));
            }
            self.rows.extend(chunk);
        }
        Ok(self.rows.front())
    }

    /// Takes the next row.
    pub(crate) fn next(
        &mut self,
        conn: &mut DbConnection,
        request: &Request,
    ) -> Result<Option<R>, ApiError> {
        self.peek(conn, request)?;
        Ok(self.rows.pop_front())
    }
}

/// Bytes handed to the HTTP response at a time.
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks in flight between the database thread and the response: with
/// [`CHUNK_BYTES`], at most half a mebibyte per export.
const CHUNKS_IN_FLIGHT: usize = 8;

type Chunk = Result<Bytes, ApiError>;

/// An `io::Write` that hands the response fixed-size chunks, waiting while
/// the client is slower than the database.
struct Chunks {
    buffer: Vec<u8>,
    sender: tokio::sync::mpsc::Sender<Chunk>,
}

impl Chunks {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Chunks {
    /// Hands over the last, partial chunk: the report is complete.
    async fn done(self) -> Result<(), ApiError> {
        self.sender
            .send(Ok(Bytes::from(self.buffer)))
            .await
            .map_err(|_| ApiError::internal("the report could not be sent: the client went away"))
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    /// Does not send a partial chunk (that is [`Chunks::done`]'s job): a
    /// report that fails before its first full chunk then sends nothing,
    /// and the client gets a problem response instead of a cut-off file.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /api/v1/reports/{name}.csv`.
pub async fn download(
    caller: Caller,
    db: web::Data<Db>,
    settings: web::Data<StatsSettings>,
    path: web::Path<String>,
    query: Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let report = path
        .strip_suffix(".csv")
        .and_then(Report::from_name)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no such report; there are {}",
                Report::ALL.map(|r| format!("{}.csv", r.name())).join(", ")
            ))
        })?;
    let request = query.0.resolve(report, &caller, settings.suppression_k)?;
    let filename = filename(&request);

    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let failed = sender.clone();
    let db = db.get_ref().clone();
    let actor = caller.actor();
    actix_web::rt::spawn(async move {
        let result = async {
            let (event, out) = db
                .read(move |conn| {
                    let out = Chunks {
                        buffer: Vec::with_capacity(CHUNK_BYTES),
                        sender,
                    };
                    let (_, out, event) = export(conn, &request, out)?;
                    Ok((event, out))
                })
                .await?;
            // A person-level export is recorded, durably, before its last
            // chunk goes out: the client never holds a complete file that
            // the trail does not know of.
            if let Some(event) = event {
                db.record(&actor, vec![event]).await?;
            }
            out.done().await
        }
        .await;
        if let Err(error) = result {
            // Before the first chunk this becomes the response; after it, the
            // stream ends in an error and the client sees a truncated body.
            let _ = failed.send(Err(error)).await;
        }
    });
    // Small reports arrive whole, so that a failure is still a problem response.
    let first = match receiver.recv().await {
        Some(Ok(first)) => first,
        Some(Err(error)) => return Err(error),
        None => return Err(ApiError::internal("the report writer stopped")),
    };
    let rest = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((
            chunk.map_err(|error| {
                tracing::error!(%error, "a report failed while it was being sent");
                actix_web::error::ErrorInternalServerError("the report failed")
            }),
            receiver,
        ))
    });
    let body = futures_util::stream::once(async move { Ok(first) }).chain(rest);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8; header=present")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename)],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .streaming(body))
}

/// The reports routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/reports/{name}").get(download));
}

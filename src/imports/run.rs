//! An import run: the validation pass, then the writing pass through the
//! group-commit writer, each streaming the file.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use actix_web::web;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::errors::*;
use super::layout::*;
use super::reader::*;
use super::validation::*;
use crate::auth::CenterScope;
use crate::db::audit::{Actor, Event};
use crate::db::{Db, DbConnection, Unit};
use crate::duplicates;
use crate::error::{ApiError, ImportErrors};
use crate::family_tracing;
use crate::matching::Weights;
use crate::provinces::Provinces;
use crate::registration::{self, Household};

/// What an import did (or, for a dry run, would do). Also the response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub dry_run: bool,
    /// Data rows (blank lines not counted).
    pub rows: u64,
    pub households: u64,
    pub persons: u64,
    pub created: Created,
    pub unchanged: Unchanged,
    /// Pairs of records (a created person and anyone registered, at any
    /// center) put in the duplicate review queue.
    pub possible_duplicates: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub households: u64,
    pub persons: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unchanged {
    pub households: u64,
}

/// An import file that can be read from the start more than once.
pub trait Source: Send + Sync + 'static {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>>;
}

impl Source for std::path::PathBuf {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(self)?))
    }
}

/// An upload spooled to an (unnamed, self-deleting) temporary file.
pub struct Spooled(pub(super) std::fs::File);

impl Source for Spooled {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        let mut file = self.0.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Box::new(file))
    }
}

/// Which pass an import is in, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Validating,
    Writing,
}

/// Told the pass and the bytes of the file read so far, now and then.
pub type Progress = Arc<dyn Fn(Pass, u64) + Send + Sync>;

/// How to run an import.
pub struct Options {
    /// Validate only; write nothing.
    pub dry_run: bool,
    /// The account recorded as `registered_by`.
    pub registered_by: Uuid,
    /// Who runs the import, for the audit trail.
    pub actor: Actor,
    /// Centers the account may register at.
    pub scope: CenterScope,
    pub provinces: Provinces,
    /// The matcher's settings, for the duplicates of created records.
    pub weights: Weights,
}

/// Validates the file and, unless it is a dry run or invalid, writes it.
/// An invalid file is [`ApiError::ImportInvalid`], with nothing written.
pub async fn run(
    db: &Db,
    source: Arc<dyn Source>,
    options: Options,
    progress: Progress,
) -> Result<Summary, ApiError> {
    let Options {
        dry_run,
        registered_by,
        actor,
        scope,
        provinces,
        weights,
    } = options;
    // Counted in the metrics as running until it returns, and how far it has read.
    let metric = Arc::new(crate::metrics::ImportRun::start());
    let progress: Progress = {
        let metric = metric.clone();
        Arc::new(move |pass, offset| {
            metric.read_to(pass == Pass::Writing, offset);
            progress(pass, offset)
        })
    };
    let validate_source = source.clone();
    let validate_progress = progress.clone();
    let (checked, context) = db
        .read(move |conn| {
            let context = Context::load(conn, scope, provinces)?;
            let input = validate_source.open().map_err(read_error)?;
            let checked = validate(conn, input, &context, &*validate_progress)?;
            Ok((checked, context))
        })
        .await?;
    let mut summary = checked.map_err(|report| ApiError::ImportInvalid(Box::new(report)))?;
    summary.dry_run = dry_run;
    if dry_run || summary.created.households == 0 {
        // Nothing to write (a re-import): the second pass would only skip.
        db.record(&actor, vec![audit_event(&summary)]).await?;
        if !dry_run {
            metric.finished(0, summary.unchanged.households);
        }
        return Ok(summary);
    }
    let written = write(
        db,
        &actor,
        source,
        Arc::new(context),
        registered_by,
        weights,
        progress,
    )
    .await?;
    summary.created = written.created;
    summary.unchanged = written.unchanged;
    summary.possible_duplicates = written.possible_duplicates;
    db.record(&actor, vec![audit_event(&summary)]).await?;
    metric.finished(summary.created.households, summary.unchanged.households);
    tracing::info!(
        rows = summary.rows,
        households = summary.households,
        created = summary.created.households,
        unchanged = summary.unchanged.households,
        "import written"
    );
    Ok(summary)
}

/// The audit entry of a finished import: its row and household counts.
fn audit_event(summary: &Summary) -> Event {
    Event::new(if summary.dry_run {
        "import.dry_run"
    } else {
        "import.create"
    })
    .resource("import", "registrations")
    .detail(serde_json::json!({
        "rows": summary.rows,
        "households": summary.households,
        "households_created": summary.created.households,
        "persons_created": summary.created.persons,
        "households_unchanged": summary.unchanged.households,
        "possible_duplicates": summary.possible_duplicates,
    }))
}

/// The first pass: every row and household checked, fingerprints compared.
/// `created` and `unchanged` say what writing would do.
pub(super) fn validate(
    conn: &mut DbConnection,
    input: impl Read,
    context: &Context,
    progress: &(dyn Fn(Pass, u64) + Send + Sync),
) -> Result<Result<Summary, ImportErrors>, ApiError> {
    let mut errors = Errors::default();
    let Some(mut file) = Households::open(input, &mut errors)? else {
        return Ok(Err(errors.report(0)));
    };
    let mut summary = Summary::default();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut pending: Vec<Pending> = Vec::with_capacity(LOOKUP_BATCH);
    while let Some(group) = file.next_group(&mut errors)? {
        summary.households += 1;
        summary.persons += group.rows.len() as u64;
        match seen.entry(seen_key(&group)) {
            Entry::Occupied(first) => {
                errors.push(
                    group.first().line,
                    Some(COLUMNS[col::HOUSEHOLD_REF]),
                    "not_consecutive",
                    format!(
                        "this household_ref was first seen on line {}: the rows of a household must be consecutive",
                        first.get()
                    ),
                );
                continue;
            }
            Entry::Vacant(slot) => {
                slot.insert(group.first().line);
            }
        }
        if let Some(new) = parse_group(&group, context, &mut errors) {
            match registration::validate_new(&new, &context.provinces) {
                Ok(()) => pending.push(Pending {
                    id: new.id.expect("imported households have ids"),
                    fingerprint: fingerprint(&new)?,
                    first_line: group.first().line,
                    persons: new.members.len() as u64,
                }),
                Err(ApiError::Validation(fields)) => report_validation(&group, fields, &mut errors),
                Err(other) => return Err(other),
            }
        }
        if pending.len() >= LOOKUP_BATCH {
            check_fingerprints(conn, &mut pending, &mut summary, &mut errors)?;
        }
        progress(Pass::Validating, file.bytes_read());
    }
    check_fingerprints(conn, &mut pending, &mut summary, &mut errors)?;
    progress(Pass::Validating, file.bytes_read());
    summary.rows = file.rows;
    Ok(if errors.count > 0 {
        Err(errors.report(file.rows))
    } else {
        Ok(summary)
    })
}

/// A valid household whose fingerprint is still to be compared.
pub(super) struct Pending {
    pub(super) id: Uuid,
    pub(super) fingerprint: String,
    pub(super) first_line: u64,
    pub(super) persons: u64,
}

/// Compares the pending households' fingerprints with the stored ones (one
/// query for all): new ones would be created, equal ones are unchanged,
/// different ones are errors.
pub(super) fn check_fingerprints(
    conn: &mut DbConnection,
    pending: &mut Vec<Pending>,
    summary: &mut Summary,
    errors: &mut Errors,
) -> Result<(), ApiError> {
    let ids: Vec<Uuid> = pending.iter().map(|p| p.id).collect();
    let stored = stored_fingerprints(conn, &ids)?;
    for Pending {
        id,
        fingerprint,
        first_line,
        persons,
    } in pending.drain(..)
    {
        match stored.get(&id.to_string()) {
            None => {
                summary.created.households += 1;
                summary.created.persons += persons;
            }
            Some(stored) if *stored == fingerprint => summary.unchanged.households += 1,
            Some(_) => errors.push(
                first_line,
                None,
                "changed",
                format!(
                    "this household was already imported with different data (household {id}); \
                     correct it with PATCH /api/v1/households/{id}, not by importing it again"
                ),
            ),
        }
    }
    Ok(())
}

/// What the write pass did.
#[derive(Default)]
pub(super) struct Written {
    pub(super) created: Created,
    pub(super) unchanged: Unchanged,
    pub(super) possible_duplicates: u64,
}

pub(super) type Reader = Households<Box<dyn Read + Send>>;

/// The second pass: the (validated) file again, written a batch at a time;
/// the next batch is read while the previous one is being written.
pub(super) async fn write(
    db: &Db,
    actor: &Actor,
    source: Arc<dyn Source>,
    context: Arc<Context>,
    registered_by: Uuid,
    weights: Weights,
    progress: Progress,
) -> Result<Written, ApiError> {
    let reader = web::block(move || -> Result<Reader, ApiError> {
        let mut errors = Errors::default();
        let input = source.open().map_err(read_error)?;
        Households::open(input, &mut errors)?.ok_or_else(|| file_changed(errors))
    })
    .await
    .map_err(ApiError::internal)??;
    let read_batch = |mut reader: Reader, context: Arc<Context>| {
        web::block(move || -> Result<(Reader, Vec<Prepared>), ApiError> {
            let batch = next_batch(&mut reader, &context)?;
            Ok((reader, batch))
        })
    };
    let mut written = Written::default();
    let mut next = read_batch(reader, context.clone());
    loop {
        let (reader, batch) = next.await.map_err(ApiError::internal)??;
        if batch.is_empty() {
            break;
        }
        let bytes = reader.bytes_read();
        next = read_batch(reader, context.clone());
        let (created, unchanged, duplicates) = db
            .write(actor, move |unit| {
                let (created, unchanged, duplicates) =
                    write_batch(unit, batch, registered_by, &weights)?;
                unit.audit(Event::new("import.batch").detail(serde_json::json!({
                    "households_created": created.households,
                    "persons_created": created.persons,
                    "possible_duplicates": duplicates,
                })));
                Ok((created, unchanged, duplicates))
            })
            .await?;
        written.possible_duplicates += duplicates;
        written.created.households += created.households;
        written.created.persons += created.persons;
        written.unchanged.households += unchanged.households;
        progress(Pass::Writing, bytes);
    }
    Ok(written)
}

/// The next [`BATCH`] households of a file that passed validation.
pub(super) fn next_batch(
    reader: &mut Reader,
    context: &Context,
) -> Result<Vec<Prepared>, ApiError> {
    let mut errors = Errors::default();
    let mut batch = Vec::with_capacity(BATCH);
    while batch.len() < BATCH {
        let Some(group) = reader.next_group(&mut errors)? else {
            break;
        };
        let Some(new) = parse_group(&group, context, &mut errors) else {
            break;
        };
        if let Err(ApiError::Validation(fields)) =
            registration::validate_new(&new, &context.provinces)
        {
            report_validation(&group, fields, &mut errors);
            break;
        }
        batch.push(Prepared {
            fingerprint: fingerprint(&new)?,
            first_line: group.first().line,
            new,
        });
    }
    if errors.count > 0 {
        return Err(file_changed(errors));
    }
    Ok(batch)
}

/// The file read differently the second time (a file on disk that was
/// edited during `refuge import`): what was written stays, and is skipped
/// when the import is run again.
pub(super) fn file_changed(errors: Errors) -> ApiError {
    let report = errors.report(0);
    let first = report.errors.first();
    ApiError::Conflict {
        code: "import-file-changed",
        detail: format!(
            "the file changed after it was validated (line {}: {}); the households before that line \
             were imported: validate and import the file again",
            first.map_or(0, |e| e.line),
            first.map_or("", |e| e.message.as_str())
        ),
    }
}

/// Writes one batch in the caller's transaction, skipping households an
/// earlier import (or an earlier run of this one) already wrote, and
/// matches what it created against everyone registered (and each other):
/// returns what was created, left unchanged, and how many pairs went to
/// the duplicate review queue.
pub(super) fn write_batch(
    unit: &mut Unit<'_>,
    batch: Vec<Prepared>,
    registered_by: Uuid,
    weights: &Weights,
) -> Result<(Created, Unchanged, u64), ApiError> {
    let ids: Vec<Uuid> = batch.iter().map(Prepared::id).collect();
    let stored = stored_fingerprints(unit, &ids)?;
    let mut unchanged = Unchanged::default();
    let mut fresh = Vec::with_capacity(batch.len());
    for prepared in batch {
        match stored.get(&prepared.id().to_string()) {
            None => fresh.push(prepared),
            Some(fingerprint) if *fingerprint == prepared.fingerprint => unchanged.households += 1,
            Some(_) => {
                // Imported with other data between the two passes.
                let mut errors = Errors::default();
                errors.push(
                    prepared.first_line,
                    None,
                    "changed",
                    "this household was imported with different data while this import ran",
                );
                return Err(ApiError::ImportInvalid(Box::new(errors.report(0))));
            }
        }
    }
    let created = Created {
        households: fresh.len() as u64,
        persons: fresh.iter().map(|p| p.new.members.len() as u64).sum(),
    };
    let news = fresh.into_iter().map(|p| (p.new, p.fingerprint)).collect();
    let race = || {
        ApiError::unavailable(
            "another import wrote some of these households at the same time; run the import again",
        )
    };
    let households =
        registration::register_many(unit, news, registered_by).map_err(|error| match error {
            ApiError::Conflict { .. } => race(),
            other => other,
        })?;
    let records: Vec<_> = households.iter().flat_map(Household::records).collect();
    let matched =
        duplicates::match_records(unit.conn(), &records, false, weights, &CenterScope::All)?;
    let traced: Vec<_> = households
        .iter()
        .flat_map(Household::traced_records)
        .collect();
    family_tracing::match_records(unit.conn(), &traced, weights)?;
    Ok((created, unchanged, matched.pending.len() as u64))
}

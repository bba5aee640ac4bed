//! The group-commit writer: the one way writes reach the database.

use std::sync::Arc;
use std::time::Instant;

use super::aggregates::Delta;
use super::audit::{Actor, Event};
use super::{Db, DbConnection, Pool, Unit};
use crate::error::ApiError;

/// A write job for a writer thread: runs in its own savepoint and returns
/// what it adds to the group.
pub(super) type Job = Box<dyn FnOnce(&mut DbConnection) -> Done + Send>;

/// A job that has run: its aggregate changes and audit entries (none if it
/// failed) and what to do once the enclosing transaction has (or has not)
/// committed.
pub(super) struct Done {
    aggregates: Delta,
    audit: Option<(Actor, Vec<Event>)>,
    answer: Box<dyn FnOnce(bool) + Send>,
}

/// Most jobs committed together.
const MAX_GROUP: usize = 64;

/// Writes are group-committed: a writer thread commits the jobs that queued
/// up while its previous commit was flushing in one transaction, each in a
/// savepoint of its own so that one failing job rolls back alone. Every
/// caller is answered only after the commit that contains its work is durable.
///
/// SQLite allows one writer at a time and, with `synchronous=FULL`, each
/// commit waits for the disk: it gets one writer thread. PostgreSQL gets
/// several (`database.writers`), each with its own connection. In both, the
/// statistics aggregates are written once per group, for the sum of the
/// deltas its jobs' [`Unit`]s carry, instead of once per job.
pub(super) struct Writer {
    jobs: std::sync::mpsc::Sender<Queued>,
}

/// A job waiting for the writer, and since when (for the metrics).
struct Queued {
    job: Job,
    at: Instant,
}

impl Writer {
    /// Queues `job` for a writer thread; fails once the writer has stopped.
    fn send(&self, job: Job) -> Result<(), ()> {
        // Counted before it can be taken, so the depth never reads negative.
        crate::metrics::write_queued(1);
        self.jobs
            .send(Queued {
                job,
                at: Instant::now(),
            })
            .map_err(|_| crate::metrics::write_queued(-1))
    }

    pub(super) fn start(pool: Pool, threads: usize) -> Writer {
        let (jobs, queue) = std::sync::mpsc::channel::<Queued>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads.max(1) {
            let pool = pool.clone();
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("db-writer-{i}"))
                .spawn(move || {
                    while let Some(group) = next_group(&queue) {
                        commit_group(&pool, group);
                    }
                })
                .expect("a database writer thread starts");
        }
        Writer { jobs }
    }
}

/// Waits for a job, then takes whatever else is queued (up to [`MAX_GROUP`]).
/// None once every sender is gone.
fn next_group(queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Queued>>) -> Option<Vec<Queued>> {
    let queue = queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut group = vec![queue.recv().ok()?];
    while group.len() < MAX_GROUP {
        match queue.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    crate::metrics::writes_taken(group.len());
    Some(group)
}

fn commit_group(pool: &Pool, mut group: Vec<Queued>) {
    let started = Instant::now();
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(%error, "a database writer has no connection");
            crate::metrics::group_done(started, false, &[]);
            // Dropping the jobs answers their callers with an error.
            return;
        }
    };
    let mut answers = Vec::with_capacity(group.len());
    // When each job carrying audit entries was queued, and how many it carries.
    let mut audited = Vec::new();
    let committed = super::write_transaction::<_, ApiError>(&mut conn, |conn| {
        let mut aggregates = Delta::default();
        let mut audit = Vec::new();
        for Queued { job, at } in group.drain(..) {
            let done = job(conn);
            aggregates.merge(done.aggregates);
            if let Some((_, events)) = &done.audit {
                audited.push((at, events.len()));
            }
            audit.extend(done.audit);
            answers.push(done.answer);
        }
        super::audit::append_all(
            conn,
            crate::http::time::now(),
            audit
                .iter()
                .map(|(actor, events)| (actor, events.as_slice())),
        )?;
        aggregates.write(conn)
    })
    .inspect_err(|error| tracing::error!(%error, "group commit failed"))
    .is_ok();
    crate::metrics::group_done(started, committed, &audited);
    for answer in answers {
        answer(committed);
    }
}

impl Db {
    /// Runs `work` by `actor` in one transaction on the writer connection,
    /// off the async workers, with a [`Unit`] carrying the connection, the
    /// statistics the work records and its audit entries. The transaction
    /// (rows, statistics and audit entries together) commits only if `work`
    /// returns `Ok`.
    pub async fn write<F, T>(&self, actor: &Actor, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Unit<'_>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_with(actor, work).await
    }

    /// Appends audit entries by `actor` (reads of personal data), durably:
    /// it returns once the group commit that carries them is on disk, so a
    /// handler that awaits it before answering never acknowledges a read
    /// that a crash could leave unrecorded. Concurrent reads share commits,
    /// and a group's entries are inserted together.
    pub async fn record(&self, actor: &Actor, events: Vec<Event>) -> Result<(), ApiError> {
        if events.is_empty() {
            return Ok(());
        }
        let (answer, answered) = tokio::sync::oneshot::channel::<bool>();
        let actor = actor.clone();
        // Nothing to roll back alone: no savepoint, only the rows.
        let job: Job = Box::new(move |_| Done {
            aggregates: Delta::default(),
            audit: Some((actor, events)),
            answer: Box::new(move |committed| {
                let _ = answer.send(committed);
            }),
        });
        self.writer()
            .send(job)
            .map_err(|_| ApiError::internal("the database writer has stopped"))?;
        match answered.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ApiError::unavailable(
                "the audit entry could not be committed",
            )),
            Err(_) => Err(ApiError::internal("the database writer dropped a write")),
        }
    }

    fn writer(&self) -> &Writer {
        self.writer
            .get_or_init(|| Writer::start(self.write.clone(), self.writers))
    }

    /// [`Db::write`] for work with its own error type.
    pub async fn write_with<F, T, E>(&self, actor: &Actor, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Unit<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<ApiError> + From<diesel::result::Error> + Send + 'static,
    {
        let writer = self.writer();
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let actor = actor.clone();
        let job: Job = Box::new(move |conn| {
            // A savepoint inside the group's transaction; the statistics its
            // unit recorded join the group's sum only if it succeeded.
            let (result, aggregates, audit) = match Unit::run(conn, &actor, work) {
                Ok((value, aggregates, events)) => (Ok(value), aggregates, Some((actor, events))),
                Err(error) => (Err(error), Delta::default(), None),
            };
            Done {
                aggregates,
                audit,
                answer: Box::new(move |committed| {
                    let result = match result {
                        Ok(_) if !committed => Err(E::from(ApiError::unavailable(
                            "the write could not be committed",
                        ))),
                        other => other,
                    };
                    let _ = answer.send(result);
                }),
            }
        });
        writer
            .send(job)
            .map_err(|_| E::from(ApiError::internal("the database writer has stopped")))?;
        answered
            .await
            .map_err(|_| E::from(ApiError::internal("the database writer dropped a write")))?
    }
}

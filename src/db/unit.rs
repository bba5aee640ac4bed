//! The unit of work: what one write must commit together.

use std::ops::{Deref, DerefMut};

use diesel::Connection;

use super::aggregates::Delta;
use super::audit::{self, Actor, Event};
use super::DbConnection;
use crate::error::ApiError;

/// One write in progress: its transaction's connection, the change to the
/// arrival statistics its records make, and the audit entries that say who
/// made them, all of which commit together.
///
/// A write by an account must record at least one audit [`Event`] (what it
/// changed, with the version it produced): one that records none is refused
/// as a bug, so no write escapes the trail.
///
/// Every writer gets one: a request through [`Db::write`](super::Db::write)
/// (where the group-commit writer sums the deltas of a group's units and
/// writes the sum once), and the command line, imports and the scenario
/// replay through [`Unit::transaction`]. Either way the aggregates are
/// written in the transaction of the rows they count, and only if it
/// commits.
///
/// It dereferences to the connection, so work written against
/// `&mut DbConnection` takes a `&mut Unit` unchanged; a diesel query, which
/// wants the connection type itself, runs on [`Unit::conn`].
pub struct Unit<'a> {
    conn: &'a mut DbConnection,
    aggregates: Delta,
    events: Vec<Event>,
}

impl<'a> Unit<'a> {
    fn new(conn: &'a mut DbConnection) -> Unit<'a> {
        Unit {
            conn,
            aggregates: Delta::default(),
            events: Vec::new(),
        }
    }

    /// Records an audit entry, written with this unit's rows.
    pub fn audit(&mut self, event: Event) {
        self.events.push(event);
    }

    /// The transaction's connection.
    pub fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// Records a change to the arrival statistics, to be written with this
    /// unit's rows.
    pub fn record(&mut self, aggregates: Delta) {
        self.aggregates.merge(aggregates);
    }

    /// Runs `work` in a savepoint: if it fails, its rows are rolled back and
    /// the changes it recorded are dropped with them.
    pub fn savepoint<T, E>(
        &mut self,
        work: impl FnOnce(&mut Unit<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        let (value, aggregates, events) = self.conn.transaction(|conn| {
            let mut unit = Unit::new(conn);
            let value = work(&mut unit)?;
            Ok::<_, E>((value, unit.aggregates, unit.events))
        })?;
        self.aggregates.merge(aggregates);
        self.events.extend(events);
        Ok(value)
    }

    /// Runs `work` in a transaction of its own on `conn` (a savepoint if one
    /// is open) and writes the changes it recorded before committing: for
    /// work outside the group-commit writer (the command line, the replay,
    /// maintenance and tests).
    pub fn transaction<T, E>(
        conn: &mut DbConnection,
        actor: &Actor,
        work: impl FnOnce(&mut Unit<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<ApiError>,
    {
        super::write_transaction(conn, |conn| {
            let mut unit = Unit::new(conn);
            let value = work(&mut unit)?;
            let Unit {
                conn,
                aggregates,
                events,
            } = unit;
            finish(conn, actor, &events)?;
            aggregates.write(conn)?;
            Ok(value)
        })
    }

    /// Runs `work` in a transaction (a savepoint inside the writer's group)
    /// and returns the statistics changes and audit entries it recorded, to
    /// be written by the caller, for the whole group, before the enclosing
    /// transaction commits.
    pub(super) fn run<T, E>(
        conn: &mut DbConnection,
        actor: &Actor,
        work: impl FnOnce(&mut Unit<'_>) -> Result<T, E>,
    ) -> Result<(T, Delta, Vec<Event>), E>
    where
        E: From<diesel::result::Error> + From<ApiError>,
    {
        conn.transaction(|conn| {
            let mut unit = Unit::new(conn);
            let value = work(&mut unit)?;
            require_events(actor, &unit.events)?;
            Ok((value, unit.aggregates, unit.events))
        })
    }
}

/// Refuses an account's write that recorded no audit entry (a bug).
fn require_events(actor: &Actor, events: &[Event]) -> Result<(), ApiError> {
    if events.is_empty() && actor.account_id.is_some() {
        return Err(ApiError::internal(
            "a write by an account recorded no audit event",
        ));
    }
    Ok(())
}

/// Appends a unit's audit entries (outside the group-commit writer).
fn finish(conn: &mut DbConnection, actor: &Actor, events: &[Event]) -> Result<(), ApiError> {
    require_events(actor, events)?;
    audit::append(conn, actor, crate::http::time::now(), events)
}

impl Deref for Unit<'_> {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        self.conn
    }
}

impl DerefMut for Unit<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        self.conn
    }
}

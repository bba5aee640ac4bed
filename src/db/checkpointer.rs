//! SQLite's WAL checkpoints, on a thread of their own.
//!
//! In WAL mode a commit appends the pages it changed to the log, and a
//! checkpoint copies them back into the database file. By default the
//! committing connection does that itself whenever the log passes 1,000
//! pages: the one writer then spends part of its time copying pages while
//! registrations wait, the more so the larger the database (a million
//! persons spread each commit over hundreds of pages). Here a thread
//! checkpoints in PASSIVE mode a few times a second, beside the writer: a
//! passive checkpoint waits for no reader and holds no lock the writer
//! needs, and copies each page once however many commits changed it in
//! between. The writer keeps its own automatic checkpoint only as a safety
//! limit ([`WRITER_CHECKPOINT_PAGES`]), should this thread fall behind or
//! fail to connect.

use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::Backend;

/// Log pages after which the writer checkpoints at commit itself (80 MiB of
/// 4 KiB pages): reached only if the checkpointer falls behind.
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 20_000;

/// How often the checkpointer copies the log back.
const INTERVAL: Duration = Duration::from_millis(100);

/// Runs the checkpoints until dropped (with the last clone of its [`super::Db`]).
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts the thread, on a connection of its own opened with `init`.
    pub(super) fn start(backend: &Backend, init: String) -> Checkpointer {
        let (stop, stopped) = mpsc::channel::<()>();
        let backend = backend.clone();
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut conn = match backend.establish() {
                    Ok(conn) => conn,
                    Err(error) => {
                        tracing::warn!(%error, "no WAL checkpointer: the writer checkpoints alone");
                        return;
                    }
                };
                if let Err(error) = conn.batch_execute(&init) {
                    tracing::warn!(%error, "no WAL checkpointer: the writer checkpoints alone");
                    return;
                }
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    // Busy (another process's checkpoint running) or an I/O
                    // error: the next round tries again, and the writer's
                    // safety limit bounds the log meanwhile.
                    if let Err(error) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::debug!(%error, "WAL checkpoint failed");
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no WAL checkpointer: the writer checkpoints alone");
        }
        Checkpointer { _stop: stop }
    }
}

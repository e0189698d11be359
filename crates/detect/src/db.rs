//! SQLite settings shared by the alert and CTI databases.

use std::time::Duration;

use rusqlite::Connection;

/// How long a writer waits for another process (server or CLI) holding the lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL mode lets the CLI read and write while the server runs; NORMAL sync is durable across
/// process crashes (an OS crash may lose the last transactions, never corrupt the file).
pub fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

//! The database schema, created on first start. The two backends differ only in the
//! name of the byte-string type.

/// Schema version written to `virgil_schema`; bump with a migration when it changes.
/// 2: `activates_at` (pending reset cards), `revocation_record` (who revoked).
/// 3: the key directory: `directory_pending` (owners whose entry changed since the last
/// epoch), `directory_checkpoints` (every epoch's signed checkpoint); the directory's own
/// tables are `virgil_directory`'s.
/// 4: `backup_guesses` (each identity's key-backup password evaluations).
pub(crate) const SCHEMA_VERSION: i64 = 4;

/// What turns a version-1 database into version 2.
pub(crate) const FROM_1: [&str; 2] = [
    "ALTER TABLE cards ADD COLUMN activates_at BIGINT NULL",
    "ALTER TABLE cards ADD COLUMN revocation_record TEXT NULL",
];

/// What turns a version-2 database into version 3 (the tables exist by then): every
/// owner with cards is published into the directory by the first epoch.
pub(crate) const FROM_2: [&str; 1] = [
    "INSERT INTO directory_pending (app_id, identity, change) SELECT DISTINCT app_id, identity, 1 FROM cards",
];

pub(crate) fn statements(bytes_type: &str) -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS virgil_schema (version BIGINT NOT NULL)".to_owned(),
        format!(
            "CREATE TABLE IF NOT EXISTS cards (
                id TEXT PRIMARY KEY,
                app_id TEXT NOT NULL,
                identity TEXT NOT NULL,
                identity_type TEXT NOT NULL,
                snapshot {bytes_type} NOT NULL,
                signatures TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                published_at BIGINT NOT NULL,
                previous_card_id TEXT NULL,
                superseded_by TEXT NULL,
                revoked_at BIGINT NULL,
                revocation_reason TEXT NULL,
                activates_at BIGINT NULL,
                revocation_record TEXT NULL
            )"
        ),
        // One row per owner whose directory entry is not yet published; `change` counts
        // the changes, so the publisher clears only what it published.
        "CREATE TABLE IF NOT EXISTS directory_pending (
            app_id TEXT NOT NULL,
            identity TEXT NOT NULL,
            change BIGINT NOT NULL,
            PRIMARY KEY (app_id, identity)
        )"
        .to_owned(),
        // One row per identity that asked for a backup-password evaluation
        // (crate::backup::GuessState).
        "CREATE TABLE IF NOT EXISTS backup_guesses (
            app_id TEXT NOT NULL,
            identity TEXT NOT NULL,
            window_start BIGINT NOT NULL,
            used BIGINT NOT NULL,
            total BIGINT NOT NULL,
            last_at BIGINT NOT NULL,
            next_at BIGINT NOT NULL,
            PRIMARY KEY (app_id, identity)
        )"
        .to_owned(),
        format!(
            "CREATE TABLE IF NOT EXISTS directory_checkpoints (
                epoch BIGINT PRIMARY KEY,
                signed {bytes_type} NOT NULL
            )"
        ),
    ]
}

/// Indexes, created after any migration (they may name new columns).
pub(crate) fn indexes() -> Vec<String> {
    vec![
        // Search reads active cards by (app, identity[, type]).
        "CREATE INDEX IF NOT EXISTS cards_by_identity ON cards (app_id, identity, identity_type)"
            .to_owned(),
        // Every request settles the resets that are due: find them without a scan.
        "CREATE INDEX IF NOT EXISTS cards_pending ON cards (activates_at)".to_owned(),
    ]
}

//! The name search keys: derived rows that make a prefix search by name a
//! range scan in any script. A registration or correction writes its
//! persons' keys with the records into `person_name_keys_recent`, a small
//! table; [`merge_recent`] moves them into `person_name_keys` in key order,
//! a range of keys per transaction, once there are many (a key row written
//! there at once took a page of its own at a million persons). Imports
//! write theirs, in bulk, straight into `person_name_keys`. Search reads
//! both. [`rebuild_stale_name_keys`] re-derives them all when their
//! derivation changes (run at start-up and by `refuge migrate`).

use std::collections::BTreeSet;

use diesel::prelude::*;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{person_name_keys, person_name_keys_recent, persons};

/// The names a person is found by: given, family, patronymic and Latin.
pub fn name_list<'a>(
    given: &'a str,
    family: &'a str,
    patronymic: Option<&'a str>,
    latin: Option<&'a str>,
) -> Vec<&'a str> {
    [Some(given), Some(family), patronymic, latin]
        .into_iter()
        .flatten()
        .collect()
}

/// Normalizes text for matching: NFC, then Unicode lower case.
fn fold(text: &str) -> String {
    text.nfc().collect::<String>().to_lowercase()
}

/// The key a name word (or a query word) is stored and searched by: its fold
/// transliterated to Latin and folded again, so that one key serves every
/// script ("Հովհաննիսյան" and "Hovhannisyan" both give "hovhannisyan"). Text
/// with no transliteration keeps its own fold. Transliteration goes character
/// by character, so the key of a word's beginning begins the word's key: a
/// prefix search stays a prefix search.
pub fn key_of(word: &str) -> String {
    key_of_folded(fold(word))
}

fn key_of_folded(folded: String) -> String {
    // deunicode's output is ASCII, where folding is lower-casing.
    let latin = deunicode::deunicode(&folded).to_ascii_lowercase();
    if latin.is_empty() {
        folded
    } else {
        latin
    }
}

/// Every key a person's names are found by: each whole name and each of its
/// words (split at spaces and hyphens).
pub fn search_keys(names: &[&str]) -> BTreeSet<String> {
    let is_separator = |c: char| c.is_whitespace() || c == '-';
    let mut keys = BTreeSet::new();
    for name in names {
        let whole = fold(name.trim());
        if whole.contains(is_separator) {
            for word in whole.split(is_separator).filter(|w| !w.is_empty()) {
                keys.insert(key_of_folded(word.to_string()));
            }
        }
        if !whole.is_empty() {
            keys.insert(key_of_folded(whole));
        }
    }
    keys
}

/// Which derivation of the keys is stored (`derived_versions`). Change it
/// whenever [`search_keys`] would give other keys for the same names,
/// including after an upgrade of `deunicode` that changes a transliteration
/// (the `keys_are_derived_as_recorded` test notices): every database then
/// rebuilds its keys on its next start ([`rebuild_stale_name_keys`]).
pub const NAME_KEYS_VERSION: &str = "2: latin fold of whole names and words";

/// The `derived_versions` row of the name keys.
const NAME_KEYS: &str = "person_name_keys";

/// Stores the search keys of the given persons, among the recent ones (see
/// the module's documentation).
pub fn insert_name_keys<'a>(
    conn: &mut DbConnection,
    persons: impl Iterator<Item = (Uuid, Vec<&'a str>)>,
) -> Result<(), ApiError> {
    let rows: Vec<_> = name_key_rows(persons.map(|(id, names)| (id.to_string(), names)))
        .into_iter()
        .map(|(key, id)| {
            (
                person_name_keys_recent::name_key.eq(key),
                person_name_keys_recent::person_id.eq(id),
            )
        })
        .collect();
    for chunk in rows.chunks(crate::db::rows_per_insert(2)) {
        crate::per_backend!(conn, |c| diesel::insert_into(
            person_name_keys_recent::table
        )
        .values(chunk)
        .execute(c))?;
    }
    Ok(())
}

/// The (key, person id) rows of the given persons, to store with
/// [`insert_name_key_rows`]: deriving them takes no connection, so a bulk
/// write can derive them on another thread meanwhile.
pub fn name_key_rows<'a>(
    persons: impl Iterator<Item = (String, Vec<&'a str>)>,
) -> Vec<(String, String)> {
    persons
        .flat_map(|(id, names)| {
            search_keys(&names)
                .into_iter()
                .map(move |key| (key, id.clone()))
        })
        .collect()
}

/// Stores rows from [`name_key_rows`] in `person_name_keys` (bulk writes,
/// whose rows are many enough to share pages).
pub fn insert_name_key_rows(
    conn: &mut DbConnection,
    rows: &[(String, String)],
) -> Result<(), ApiError> {
    Ok(write_keys(conn, rows, false)?)
}

/// Inserts (key, person id) rows; with `skip_existing`, rows already there
/// (written meanwhile by another process) are left as they are.
fn write_keys(
    conn: &mut DbConnection,
    keys: &[(String, String)],
    skip_existing: bool,
) -> QueryResult<()> {
    let rows: Vec<_> = keys
        .iter()
        .map(|(key, id)| {
            (
                person_name_keys::name_key.eq(key),
                person_name_keys::person_id.eq(id),
            )
        })
        .collect();
    for chunk in rows.chunks(crate::db::rows_per_insert(2)) {
        let insert = diesel::insert_into(person_name_keys::table).values(chunk);
        if skip_existing {
            crate::per_backend!(conn, |c| insert.on_conflict_do_nothing().execute(c))?;
        } else {
            crate::per_backend!(conn, |c| insert.execute(c))?;
        }
    }
    Ok(())
}

/// Removes the search keys a person's names (as stored until now) gave, before
/// new ones are derived. The keys are recomputed rather than looked up by
/// person, so the table needs no index by person; they are what was stored
/// because stored keys are always of the current derivation
/// ([`rebuild_stale_name_keys`]).
pub fn delete_name_keys(
    conn: &mut DbConnection,
    person: Uuid,
    names: &[&str],
) -> Result<(), ApiError> {
    let keys: Vec<String> = search_keys(names).into_iter().collect();
    // The recent table first: [`merge_recent`] on PostgreSQL deletes its
    // rows there before it inserts them, so once this delete has waited for
    // a merge moving this person's rows, the one below sees them moved.
    diesel::delete(
        person_name_keys_recent::table
            .filter(person_name_keys_recent::name_key.eq_any(&keys))
            .filter(person_name_keys_recent::person_id.eq(person.to_string())),
    )
    .execute(conn)?;
    diesel::delete(
        person_name_keys::table
            .filter(person_name_keys::name_key.eq_any(&keys))
            .filter(person_name_keys::person_id.eq(person.to_string())),
    )
    .execute(conn)?;
    Ok(())
}

/// How many key rows wait in `person_name_keys_recent`.
pub fn recent_rows(conn: &mut DbConnection) -> QueryResult<i64> {
    person_name_keys_recent::table.count().get_result(conn)
}

/// Moves the recent key rows, up to `at_most` of them and the first in key
/// order, into `person_name_keys`, in key order: neighbouring rows share
/// their pages there. Run in a write transaction; the server calls it again
/// (a transaction each, serving registrations in between) while it returns
/// `true`, that rows beyond those moved were there.
///
/// On PostgreSQL the rows are deleted first and inserted as deleted, so a
/// correction running meanwhile ([`delete_name_keys`], recent table first)
/// either takes a row before the merge does or waits and then finds it
/// moved: no stale key is left behind. SQLite's one writer runs them one
/// after the other.
pub fn merge_recent(conn: &mut DbConnection, at_most: i64) -> QueryResult<bool> {
    use diesel::sql_types::Text;
    // The first row left for a later transaction, if there are more.
    let bound: Option<(String, String)> = person_name_keys_recent::table
        .select((
            person_name_keys_recent::name_key,
            person_name_keys_recent::person_id,
        ))
        .order((
            person_name_keys_recent::name_key,
            person_name_keys_recent::person_id,
        ))
        .offset(at_most)
        .first(conn)
        .optional()?;
    let before = match bound {
        Some(_) => "WHERE (name_key, person_id) < ($1, $2)",
        None => "",
    };
    // Runs `sql`, with the bound's key and person id as its parameters.
    macro_rules! run {
        ($c:expr, $sql:expr) => {
            match &bound {
                Some((key, id)) => diesel::sql_query($sql)
                    .bind::<Text, _>(key)
                    .bind::<Text, _>(id)
                    .execute($c),
                None => diesel::sql_query($sql).execute($c),
            }
        };
    }
    match conn {
        DbConnection::Postgres(c) => {
            run!(
                c,
                format!(
                    "WITH moved AS (DELETE FROM person_name_keys_recent {before} \
                     RETURNING name_key, person_id) \
                     INSERT INTO person_name_keys (name_key, person_id) \
                     SELECT name_key, person_id FROM moved ORDER BY name_key, person_id \
                     ON CONFLICT DO NOTHING"
                )
            )?;
        }
        DbConnection::Sqlite(c) => {
            let before = before.replace("$1", "?").replace("$2", "?");
            run!(
                c,
                format!(
                    "INSERT OR IGNORE INTO person_name_keys (name_key, person_id) \
                     SELECT name_key, person_id FROM person_name_keys_recent {before} \
                     ORDER BY name_key, person_id"
                )
            )?;
            run!(c, format!("DELETE FROM person_name_keys_recent {before}"))?;
        }
    }
    Ok(bound.is_some())
}

/// Moves every recent key into `person_name_keys`, [`merge_recent`] with
/// `per_write` rows per write transaction, on a connection of the
/// caller's: for tools and tests beside the server (the server goes through
/// its writer, a transaction at a time). Returns how many transactions it
/// took.
pub fn merge_all_recent(conn: &mut DbConnection, per_write: i64) -> QueryResult<usize> {
    let mut writes = 1;
    while crate::db::write_transaction(conn, |c| merge_recent(c, per_write))? {
        writes += 1;
    }
    Ok(writes)
}

/// A person's id and names: given, family, patronymic, Latin.
type NamesRow = (String, String, String, Option<String>, Option<String>);

/// Persons whose keys are derived per statement when rebuilding.
const REBUILD_CHUNK: i64 = 5_000;

/// Rebuilds every person's name keys if they were derived differently from
/// [`NAME_KEYS_VERSION`] (or never): run on start, after the migrations.
/// Returns how many persons were re-keyed, if any were.
pub fn rebuild_stale_name_keys(conn: &mut DbConnection) -> QueryResult<Option<u64>> {
    crate::db::derived::rebuild_if_stale(conn, NAME_KEYS, NAME_KEYS_VERSION, |conn| {
        diesel::delete(person_name_keys::table).execute(conn)?;
        diesel::delete(person_name_keys_recent::table).execute(conn)?;
        let mut rekeyed = 0u64;
        let mut after = String::new();
        loop {
            let chunk: Vec<NamesRow> = persons::table
                .filter(persons::id.gt(&after))
                .order(persons::id)
                .limit(REBUILD_CHUNK)
                .select((
                    persons::id,
                    persons::given_name,
                    persons::family_name,
                    persons::patronymic,
                    persons::name_latin,
                ))
                .load(conn)?;
            let Some((last, ..)) = chunk.last() else {
                break;
            };
            after = last.clone();
            rekeyed += chunk.len() as u64;
            let keys = name_key_rows(chunk.iter().map(|(id, given, family, patronymic, latin)| {
                let names = name_list(given, family, patronymic.as_deref(), latin.as_deref());
                (id.clone(), names)
            }));
            write_keys(conn, &keys, true)?;
        }
        Ok(rekeyed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_in_any_script_gets_one_latin_key() {
        assert_eq!(
            search_keys(&["Հովհաննիսյան"]),
            BTreeSet::from(["hovhannisyan".to_string()])
        );
        assert_eq!(key_of("ՀՈՎՀ"), "hovh", "a query word folds the same way");
    }

    /// Pins what [`search_keys`] derives for names in the scripts refuge
    /// meets. If this fails after a change to the derivation or an upgrade of
    /// `deunicode`, the stored keys no longer match what searches look for:
    /// change [`NAME_KEYS_VERSION`] (every database then rebuilds its keys on
    /// start) and update the expectations here.
    #[test]
    fn keys_are_derived_as_recorded() {
        let derived: Vec<Vec<String>> = [
            "Ղազարյան",
            "Ծառուկյան-Էլոյան",
            "Мария Петросян",
            "ნინო",
            "Şahbazyan Ağa",
            "José Müller",
            "محمد",
            "🙂",
        ]
        .iter()
        .map(|name| search_keys(&[name]).into_iter().collect())
        .collect();
        let recorded: Vec<Vec<&str>> = vec![
            vec!["ghazaryan"],
            vec!["eloyan", "tsarhowkyan", "tsarhowkyan-eloyan"],
            vec!["mariia", "mariia petrosian", "petrosian"],
            vec!["nino"],
            vec!["aga", "sahbazyan", "sahbazyan aga"],
            vec!["jose", "jose muller", "muller"],
            vec!["mhmd"],
            vec!["slight smile"],
        ];
        assert_eq!(derived, recorded, "NAME_KEYS_VERSION {NAME_KEYS_VERSION:?}");
    }

    #[test]
    fn compound_names_are_found_by_each_part_and_whole() {
        let keys = search_keys(&["Ter-Petrosyan"]);
        assert!(keys.contains("ter-petrosyan"));
        assert!(keys.contains("ter"));
        assert!(keys.contains("petrosyan"));
    }

    #[test]
    fn upper_case_armenian_folds_to_lower_case() {
        assert_eq!(fold("ԱՐԱՄ"), "արամ");
    }
}

//! Accounts in the database: creating, reading, listing and changing them.
//!
//! Any change that must cut off the account's existing tokens (disabling
//! it, changing its role or centers, setting its password) bumps its token
//! generation in the same transaction; see `auth::revocation`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uuid::Uuid;

use super::{Passwords, Role, User};
use crate::db::audit::Event;
use crate::db::{self, DbConnection, Unit};
use crate::error::{ApiError, FieldError};
use crate::extract::non_null;
use crate::http::paging::{Cursor, PageQuery};
use crate::http::{stored, time};
use crate::schema::{centers, user_centers, users};

/// What creating an account needs.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: Option<&'a str>,
    pub password: &'a str,
    pub role: Role,
    /// Center codes (e.g. `GORIS`), required for center-scoped roles.
    pub center_codes: &'a [String],
    /// The password policy and hash cost.
    pub passwords: &'a Passwords,
}

/// How many accounts exist.
pub fn count(conn: &mut DbConnection) -> Result<i64, ApiError> {
    Ok(users::table.count().get_result(conn)?)
}

/// The ids of the centers with `codes`; an unknown code is a field error.
pub fn centers_by_code(
    conn: &mut DbConnection,
    codes: &[String],
) -> Result<(Vec<Uuid>, Vec<FieldError>), ApiError> {
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for code in codes {
        let found: Option<String> = centers::table
            .filter(centers::code.eq(code))
            .select(centers::id)
            .first(conn)
            .optional()?;
        match found {
            Some(id) => ids.push(stored::id(&id)?),
            None => errors.push(FieldError::new(
                "centers",
                "unknown",
                format!("no center with code {code}"),
            )),
        }
    }
    Ok((ids, errors))
}

/// Field errors for center ids that name no center.
pub fn unknown_centers(conn: &mut DbConnection, ids: &[Uuid]) -> Result<Vec<FieldError>, ApiError> {
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let exists: i64 = centers::table
            .filter(centers::id.eq(id.to_string()))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            errors.push(FieldError::new(
                format!("centers[{i}]"),
                "unknown",
                format!("no center with id {id}"),
            ));
        }
    }
    Ok(errors)
}

/// Refuses center scopes that do not fit the role.
pub fn check_scope(role: Role, centers: &[Uuid], errors: &mut Vec<FieldError>) {
    match (role.is_center_scoped(), centers.is_empty()) {
        (true, true) => errors.push(FieldError::new(
            "centers",
            "required",
            "this role needs at least one center",
        )),
        (false, false) => errors.push(FieldError::new(
            "centers",
            "not_allowed",
            "this role is not scoped to centers",
        )),
        _ => {}
    }
}

/// A username: 3 to 64 of lower-case letters, digits, '.', '_' and '-'.
pub fn check_username(username: &str, errors: &mut Vec<FieldError>) {
    let valid = (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid {
        errors.push(FieldError::new(
            "username",
            "invalid",
            "3 to 64 characters: lower-case letters, digits, '.', '_' or '-'",
        ));
    }
}

/// A display name: 1 to 100 characters, no control characters.
pub fn check_display_name(name: &str, errors: &mut Vec<FieldError>) {
    let length = name.trim().chars().count();
    if length == 0 || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "display_name",
            "invalid",
            "1 to 100 characters, without control characters",
        ));
    }
}

/// Creates an account (the command line, the first admin, the scenario):
/// refuses taken usernames, weak passwords, unknown centers, and center
/// scopes that do not fit the role.
pub fn create_user(conn: &mut DbConnection, new: NewUser<'_>) -> Result<User, ApiError> {
    let (center_ids, mut errors) = centers_by_code(conn, new.center_codes)?;
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    errors.clear();
    insert(
        conn,
        new.username,
        new.display_name,
        new.password,
        new.role,
        &center_ids,
        new.passwords,
    )
}

/// Checks and inserts an account whose centers are given by id.
pub fn insert(
    conn: &mut DbConnection,
    username: &str,
    display_name: Option<&str>,
    password: &str,
    role: Role,
    center_ids: &[Uuid],
    passwords: &Passwords,
) -> Result<User, ApiError> {
    let mut errors = Vec::new();
    check_username(username, &mut errors);
    if let Some(name) = display_name {
        check_display_name(name, &mut errors);
    }
    check_scope(role, center_ids, &mut errors);
    let mut context = vec![username];
    context.extend(display_name);
    errors.extend(passwords.check("password", password, &context));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = Uuid::new_v4();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id.to_string()),
            users::username.eq(username),
            users::display_name.eq(display_name.map(|n| n.trim())),
            users::password_hash.eq(passwords.hash(password)?),
            users::role.eq(role.as_str()),
            users::disabled.eq(false),
            users::created_at.eq(time::now()),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| ApiError::Conflict {
            code: "username-taken",
            detail: format!("the username {username} is already taken"),
        }))?;
    set_centers(conn, id, center_ids)?;
    find(conn, id)?.ok_or_else(|| ApiError::internal("user vanished after insert"))
}

fn set_centers(conn: &mut DbConnection, id: Uuid, center_ids: &[Uuid]) -> Result<(), ApiError> {
    diesel::delete(user_centers::table.filter(user_centers::user_id.eq(id.to_string())))
        .execute(conn)?;
    let mut center_ids = center_ids.to_vec();
    center_ids.sort_unstable();
    center_ids.dedup();
    for center_id in &center_ids {
        diesel::insert_into(user_centers::table)
            .values((
                user_centers::user_id.eq(id.to_string()),
                user_centers::center_id.eq(center_id.to_string()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

type Row = (
    String,
    String,
    Option<String>,
    String,
    String,
    bool,
    i32,
    bool,
    i32,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

macro_rules! user_columns {
    () => {
        (
            users::id,
            users::username,
            users::display_name,
            users::password_hash,
            users::role,
            users::disabled,
            users::token_generation,
            users::must_change_password,
            users::version,
            users::created_at,
            users::updated_at,
        )
    };
}

fn centers_of(conn: &mut DbConnection, id: &str) -> Result<Vec<Uuid>, ApiError> {
    user_centers::table
        .filter(user_centers::user_id.eq(id))
        .select(user_centers::center_id)
        .order(user_centers::center_id)
        .load::<String>(conn)?
        .iter()
        .map(|c| stored::id(c))
        .collect()
}

fn from_row(conn: &mut DbConnection, row: Row) -> Result<User, ApiError> {
    let (
        id,
        username,
        display_name,
        password_hash,
        role,
        disabled,
        token_generation,
        must_change_password,
        version,
        created_at,
        updated_at,
    ) = row;
    Ok(User {
        centers: centers_of(conn, &id)?,
        id: stored::id(&id)?,
        username,
        display_name,
        role: Role::from_stored(&role)?,
        disabled,
        token_generation,
        must_change_password,
        version,
        created_at,
        updated_at,
        password_hash,
    })
}

/// Loads an account and its centers by username.
pub fn find_by_username(conn: &mut DbConnection, username: &str) -> Result<Option<User>, ApiError> {
    let row: Option<Row> = users::table
        .filter(users::username.eq(username))
        .select(user_columns!())
        .first(conn)
        .optional()?;
    row.map(|row| from_row(conn, row)).transpose()
}

/// Loads an account and its centers by id.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<User>, ApiError> {
    let row: Option<Row> = users::table
        .find(id.to_string())
        .select(user_columns!())
        .first(conn)
        .optional()?;
    row.map(|row| from_row(conn, row)).transpose()
}

/// Which accounts to list.
#[derive(Debug, Default)]
pub struct Filter {
    pub role: Option<Role>,
    pub center_id: Option<Uuid>,
    pub disabled: Option<bool>,
}

/// A page of accounts, oldest first (by creation, then id).
pub fn list(
    conn: &mut DbConnection,
    filter: &Filter,
    page: &PageQuery,
) -> Result<Vec<User>, ApiError> {
    let mut query = users::table.select(user_columns!()).into_boxed();
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role.as_str()));
    }
    if let Some(disabled) = filter.disabled {
        query = query.filter(users::disabled.eq(disabled));
    }
    if let Some(center) = filter.center_id {
        query = query.filter(
            users::id.eq_any(
                user_centers::table
                    .filter(user_centers::center_id.eq(center.to_string()))
                    .select(user_centers::user_id),
            ),
        );
    }
    if let Some(Cursor { at, id }) = &page.after {
        query = query.filter(
            users::created_at
                .gt(*at)
                .or(users::created_at.eq(*at).and(users::id.gt(id.to_string()))),
        );
    }
    let rows: Vec<Row> = query
        .order((users::created_at.asc(), users::id.asc()))
        .limit(page.rows_to_load())
        .load(conn)?;
    rows.into_iter().map(|row| from_row(conn, row)).collect()
}

/// A change to an account (absent fields stay as they are): the body of
/// `PATCH /api/v1/users/{id}`, and what `refuge user` changes.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[serde(default, deserialize_with = "non_null")]
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "non_null")]
    pub centers: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "non_null")]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub disabled: Option<bool>,
}

/// What [`update`] did.
pub struct Updated {
    pub user: User,
    /// The account's existing tokens stopped working.
    pub revoked: bool,
}

/// Applies `change` to the account `id` if it is at `expected_version`
/// (412 otherwise), and audits it (`account.update`). Disabling the last
/// active admin, or making it something else, is refused (409
/// `last-admin`): admin rows are locked before they are counted, so two
/// concurrent demotions on PostgreSQL cannot both pass.
pub fn update(
    unit: &mut Unit<'_>,
    id: Uuid,
    expected_version: i32,
    change: Change,
) -> Result<Updated, ApiError> {
    let updated = apply(unit, id, expected_version, &change)?;
    let user = &updated.user;
    unit.audit(
        Event::new("account.update")
            .resource("account", user.id)
            .version(user.version)
            .detail(serde_json::json!({
                "role": user.role,
                "centers": user.centers,
                "disabled": user.disabled,
                "display_name_changed": change.display_name.is_some(),
                "tokens_revoked": updated.revoked,
            })),
    );
    Ok(updated)
}

fn apply(
    conn: &mut DbConnection,
    id: Uuid,
    expected_version: i32,
    change: &Change,
) -> Result<Updated, ApiError> {
    let user =
        find(conn, id)?.ok_or_else(|| ApiError::NotFound("no account has this id".into()))?;
    if user.version != expected_version {
        return Err(ApiError::PreconditionFailed {
            current_version: user.version,
        });
    }
    let role = change.role.unwrap_or(user.role);
    let centers = change.centers.clone().unwrap_or_else(|| {
        // A role that is no longer center-scoped drops its centers.
        if role.is_center_scoped() {
            user.centers.clone()
        } else {
            Vec::new()
        }
    });
    let disabled = change.disabled.unwrap_or(user.disabled);
    let mut errors = Vec::new();
    check_scope(role, &centers, &mut errors);
    if let Some(name) = &change.display_name {
        check_display_name(name, &mut errors);
    }
    if change.centers.is_some() {
        errors.extend(unknown_centers(conn, &centers)?);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let stays_active_admin = role == Role::Admin && !disabled;
    if user.role == Role::Admin && !user.disabled && !stays_active_admin {
        require_another_active_admin(conn, id)?;
    }
    let mut sorted_centers = centers.clone();
    sorted_centers.sort_unstable();
    sorted_centers.dedup();
    let revoked = role != user.role || sorted_centers != user.centers || disabled != user.disabled;
    let changed = revoked
        || change
            .display_name
            .as_deref()
            .is_some_and(|name| Some(name.trim()) != user.display_name.as_deref());
    if !changed {
        return Ok(Updated {
            user,
            revoked: false,
        });
    }
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::role.eq(role.as_str()),
            users::disabled.eq(disabled),
            users::display_name.eq(change
                .display_name
                .as_deref()
                .map(str::trim)
                .or(user.display_name.as_deref())),
            users::token_generation.eq(user.token_generation + i32::from(revoked)),
            users::version.eq(user.version + 1),
            users::updated_at.eq(time::now()),
        ))
        .execute(conn)?;
    if sorted_centers != user.centers {
        set_centers(conn, id, &sorted_centers)?;
    }
    let user = find(conn, id)?.ok_or_else(|| ApiError::internal("user vanished after update"))?;
    Ok(Updated { user, revoked })
}

/// 409 `last-admin` unless an active admin other than `id` remains. Locks
/// the active admin rows first (PostgreSQL), so that concurrent changes to
/// admins are counted one after the other.
fn require_another_active_admin(conn: &mut DbConnection, id: Uuid) -> Result<(), ApiError> {
    let active_admins = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::disabled.eq(false));
    // A no-op UPDATE takes the row locks (SQLite has one writer anyway).
    diesel::update(active_admins)
        .set(users::version.eq(users::version))
        .execute(conn)?;
    let others: i64 = active_admins
        .filter(users::id.ne(id.to_string()))
        .count()
        .get_result(conn)?;
    if others == 0 {
        return Err(ApiError::Conflict {
            code: "last-admin",
            detail: "this is the last active admin: make another account admin first".into(),
        });
    }
    Ok(())
}

/// Sets the account's password (checked against the policy), revokes its
/// tokens, and audits it; `temporary` makes it one that must be changed at
/// the next login (an admin's reset, `account.password_reset`; otherwise
/// the holder's own change, `account.password_change`).
pub fn set_password(
    unit: &mut Unit<'_>,
    user: &User,
    password: &str,
    temporary: bool,
    field: &str,
    passwords: &Passwords,
) -> Result<User, ApiError> {
    if let Some(error) = passwords.check(field, password, &user.own_words()) {
        return Err(ApiError::Validation(vec![error]));
    }
    if user.password_matches(password) {
        return Err(ApiError::Validation(vec![FieldError::new(
            field,
            "unchanged",
            "choose a password different from the current one",
        )]));
    }
    let conn = unit.conn();
    diesel::update(users::table.find(user.id.to_string()))
        .set((
            users::password_hash.eq(passwords.hash(password)?),
            users::must_change_password.eq(temporary),
            users::token_generation.eq(users::token_generation + 1),
            users::version.eq(users::version + 1),
            users::updated_at.eq(time::now()),
        ))
        .execute(conn)?;
    let user =
        find(conn, user.id)?.ok_or_else(|| ApiError::internal("user vanished after update"))?;
    let action = if temporary {
        "account.password_reset"
    } else {
        "account.password_change"
    };
    unit.audit(
        Event::new(action)
            .resource("account", user.id)
            .version(user.version),
    );
    Ok(user)
}

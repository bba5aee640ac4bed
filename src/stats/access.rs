//! Who sees what: the center scope of a statistics request, whether small
//! counts are withheld, and publishing counts with their suppression.

use std::collections::HashMap;

use chrono_tz::Tz;
use diesel::prelude::*;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::Role;
use crate::auth::{Caller, CenterScope};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::stored;
use crate::schema::centers;
use crate::suppression::{Cell, Table};

/// How a statistics request is scoped and whether small counts are withheld.
pub struct Access {
    pub scope: CenterScope,
    pub suppress_below: Option<i64>,
}

pub fn access(
    caller: &Caller,
    center: Option<Uuid>,
    suppress: Option<bool>,
    k: i64,
) -> Result<Access, ApiError> {
    let scope = caller.aggregate_read_scope();
    scope.require_filter(center)?;
    let suppressed = match (suppress, caller.role) {
        (Some(false), Role::Analyst) => {
            return Err(ApiError::Forbidden(
                "the analyst role sees suppressed statistics only".into(),
            ))
        }
        (Some(wanted), _) => wanted,
        (None, _) => true,
    };
    let scope = match center {
        Some(center) => CenterScope::Only(vec![center]),
        None => scope,
    };
    Ok(Access {
        scope,
        suppress_below: suppressed.then_some(k),
    })
}

/// Centers by id: code, name and timezone.
#[derive(Debug, Clone)]
pub struct CenterInfo {
    pub code: String,
    pub name: String,
    pub timezone: Tz,
}

pub fn center_infos(conn: &mut DbConnection) -> Result<HashMap<Uuid, CenterInfo>, ApiError> {
    let rows: Vec<(String, String, String, String)> = centers::table
        .select((centers::id, centers::code, centers::name, centers::timezone))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, code, name, timezone)| {
            let timezone = timezone.parse::<Tz>().unwrap_or(chrono_tz::Asia::Yerevan);
            Ok((
                stored::id(&id)?,
                CenterInfo {
                    code,
                    name,
                    timezone,
                },
            ))
        })
        .collect()
}

/// Publishes counts: the value, or null when withheld, and the names of
/// withheld fields in the object's `suppressed` list.
pub struct Publisher {
    table: Table,
    hidden: Vec<bool>,
}

impl Publisher {
    pub fn finish(table: Table, k: Option<i64>) -> Publisher {
        let hidden = match k {
            Some(k) => table.suppress(k),
            None => vec![false; table.len()],
        };
        Publisher { table, hidden }
    }

    pub fn put(&self, object: &mut Map<String, Value>, field: &str, cell: Cell) {
        if self.hidden[cell] {
            object.insert(field.into(), Value::Null);
            let list = object
                .entry("suppressed")
                .or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(list) = list {
                list.push(Value::String(field.into()));
            }
        } else {
            object.insert(field.into(), json!(self.table.value(cell)));
        }
    }

    pub fn value(&self, cell: Cell) -> i64 {
        self.table.value(cell)
    }

    pub fn hidden(&self, cell: Cell) -> bool {
        self.hidden[cell]
    }
}

/// Starts every published object with an empty `suppressed` list.
pub fn object() -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("suppressed".into(), Value::Array(vec![]));
    map
}

pub fn suppression_note(k: Option<i64>) -> Value {
    match k {
        Some(k) => json!({ "applied": true, "k": k }),
        None => json!({ "applied": false, "k": null }),
    }
}

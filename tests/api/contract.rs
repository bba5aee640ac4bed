//! Checks every response the suite receives against openapi.yaml: the path
//! and method must be documented, the status must be listed for the
//! operation, and the body must validate against the documented schema. The
//! implementation and the document therefore cannot drift apart silently.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{Response, OPENAPI};

const BASE: &str = "urn:refuge:openapi";

static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    let mut cache = VALIDATORS.lock().unwrap();
    cache
        .entry(pointer.to_string())
        .or_insert_with(|| {
            let resource = jsonschema::Draft::Draft202012.create_resource(OPENAPI.clone());
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .with_resource(BASE, resource)
                .build(&json!({ "$ref": format!("{BASE}#{}", uri_fragment(pointer)) }))
                .unwrap_or_else(|e| {
                    panic!("openapi.yaml schema at {pointer} does not compile: {e}")
                });
            Arc::new(validator)
        })
        .clone()
}

/// Whether `value` is valid against the schema at `pointer` in openapi.yaml
/// (e.g. `/components/schemas/Instant`).
pub fn schema_accepts(pointer: &str, value: &Value) -> bool {
    validator(pointer).is_valid(value)
}

/// A JSON pointer as a URI fragment: path templates' braces must be percent-encoded.
fn uri_fragment(pointer: &str) -> String {
    pointer.replace('{', "%7B").replace('}', "%7D")
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The documented path template matching a concrete path.
pub fn find_path(path: &str) -> Option<String> {
    let concrete: Vec<&str> = path.split('/').collect();
    OPENAPI["paths"].as_object()?.keys().find_map(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        let matches = parts.len() == concrete.len()
            && parts
                .iter()
                .zip(&concrete)
                .all(|(t, c)| (t.starts_with('{') && !c.is_empty()) || t == c);
        matches.then(|| template.clone())
    })
}

fn resolve(value: &Value) -> (Value, Option<String>) {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            (
                OPENAPI.pointer(pointer).cloned().unwrap_or(Value::Null),
                Some(pointer.to_string()),
            )
        }
        None => (value.clone(), None),
    }
}

pub fn check(method: &Method, path: &str, response: &Response) {
    let path = path.split('?').next().unwrap();
    let content_type = response
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let Some(template) = find_path(path) else {
        assert!(
            matches!(response.status, 404 | 405) && content_type == "application/problem+json",
            "{method} {path}: not in openapi.yaml, yet answered {}",
            response.status
        );
        return;
    };
    let method_name = method.as_str().to_lowercase();
    let operation = &OPENAPI["paths"][&template][&method_name];
    if operation.is_null() {
        assert_eq!(
            response.status, 405,
            "{method} {template} is not documented, yet answered {}",
            response.status
        );
        return;
    }
    let status = response.status.to_string();
    let (documented, status_key) = if !operation["responses"][&status].is_null() {
        (&operation["responses"][&status], status.clone())
    } else if !operation["responses"]["default"].is_null() {
        (&operation["responses"]["default"], "default".to_string())
    } else {
        panic!(
            "{method} {template} answered {} which openapi.yaml does not list: {}",
            response.status, response.text
        )
    };
    let (documented, referenced) = resolve(documented);
    let Some(content) = documented.get("content") else {
        assert!(
            response.text.is_empty(),
            "{method} {template} {status}: body not documented"
        );
        return;
    };
    assert!(
        content.get(&content_type).is_some(),
        "{method} {template} {status}: content type {content_type:?} not documented"
    );
    if !content_type.ends_with("json") {
        // CSV reports: the media type is the contract; their columns are
        // checked by the report tests.
        return;
    }
    let base = referenced.unwrap_or_else(|| {
        format!(
            "/paths/{}/{}/responses/{}",
            escape(&template),
            method_name,
            escape(&status_key)
        )
    });
    let pointer = format!("{base}/content/{}/schema", escape(&content_type));
    let validator = validator(&pointer);
    let errors: Vec<String> = validator
        .iter_errors(&response.body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: body does not match openapi.yaml:\n{}\nbody: {}",
        errors.join("\n"),
        response.text
    );
}

//! The HTTP side: `POST /api/v1/imports` (spooling the upload) and the
//! template download.

use std::io::Write;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

use super::layout::*;
use super::run::*;
use crate::auth::Caller;
use crate::config::ImportSettings;
use crate::db::Db;
use crate::error::ApiError;
use crate::extract::Query;
use crate::matching::Weights;
use crate::provinces::Provinces;

/// `POST /api/v1/imports` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/imports`: a CSV file as the body (`text/csv`) or as the
/// part named `file` of a `multipart/form-data` body.
// Each argument is an actix extractor: the request's parts and the app's settings.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    settings: web::Data<ImportSettings>,
    weights: web::Data<Weights>,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Roles that can never register are refused before the upload is read.
    let scope = caller.registration_scope()?;
    let file = spool(&req, payload, settings.max_bytes).await?;
    let options = Options {
        dry_run: query.0.dry_run,
        registered_by: caller.user_id,
        actor: caller.actor(),
        scope,
        provinces: provinces.get_ref().clone(),
        weights: **weights,
    };
    let summary = run(&db, Arc::new(Spooled(file)), options, Arc::new(|_, _| {})).await?;
    let status = if summary.created.households > 0 && !summary.dry_run {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(summary))
}

/// `GET /api/v1/imports/template.csv`: the header and an example household.
pub async fn template(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"refuge-import-template.csv\"",
        ))
        .body(TEMPLATE)
}

const ACCEPTED: &str = "text/csv, or multipart/form-data with the file in a part named \"file\"";

/// Streams the upload to a temporary file, refusing it past `limit` bytes.
async fn spool(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: u64,
) -> Result<std::fs::File, ApiError> {
    let mime = req.mime_type().ok().flatten();
    let multipart = match &mime {
        Some(m) if m.type_() == "text" && m.subtype() == "csv" => false,
        Some(m) if m.type_() == "multipart" && m.subtype() == "form-data" => true,
        _ => return Err(ApiError::UnsupportedMediaType(ACCEPTED)),
    };
    let mut spool = Spool::new(limit).await?;
    if !multipart {
        while let Some(chunk) = payload.next().await {
            spool.push(&chunk.map_err(upload_error)?).await?;
        }
        return spool.finish().await;
    }
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut found = false;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(upload_error)?;
        let is_file = field.name() == Some("file");
        if is_file && found {
            return Err(ApiError::bad_parameter(
                "file",
                "send one part named \"file\"",
            ));
        }
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(upload_error)?;
            if is_file {
                spool.push(&chunk).await?;
            } else {
                spool.skip(chunk.len())?;
            }
        }
        found |= is_file;
    }
    if !found {
        return Err(ApiError::bad_parameter(
            "file",
            "the multipart body has no part named \"file\"",
        ));
    }
    spool.finish().await
}

fn upload_error(error: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest {
        detail: format!("the upload could not be read: {error}"),
        errors: vec![],
    }
}

/// Bytes collected before each write to the temporary file.
const SPOOL_BUFFER: usize = 1 << 20;

/// A temporary file being filled, off the async workers, a buffer at a time.
struct Spool {
    file: Option<std::fs::File>,
    buffer: Vec<u8>,
    received: u64,
    limit: u64,
}

impl Spool {
    async fn new(limit: u64) -> Result<Spool, ApiError> {
        let file = web::block(tempfile::tempfile)
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::internal(format!("cannot create a temporary file: {e}")))?;
        Ok(Spool {
            file: Some(file),
            buffer: Vec::with_capacity(SPOOL_BUFFER),
            received: 0,
            limit,
        })
    }

    /// Counts bytes that are not kept (other multipart parts) against the limit.
    fn skip(&mut self, bytes: usize) -> Result<(), ApiError> {
        self.received += bytes as u64;
        if self.received > self.limit {
            return Err(ApiError::PayloadTooLarge {
                limit: usize::try_from(self.limit).unwrap_or(usize::MAX),
            });
        }
        Ok(())
    }

    async fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.skip(chunk.len())?;
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() >= SPOOL_BUFFER {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        let mut file = self.file.take().expect("the spool has its file");
        let mut buffer = std::mem::take(&mut self.buffer);
        let (file, buffer) = web::block(move || {
            file.write_all(&buffer)?;
            buffer.clear();
            Ok::<_, std::io::Error>((file, buffer))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format!("cannot write the temporary file: {e}")))?;
        self.file = Some(file);
        self.buffer = buffer;
        Ok(())
    }

    async fn finish(mut self) -> Result<std::fs::File, ApiError> {
        self.flush().await?;
        Ok(self.file.take().expect("the spool has its file"))
    }
}

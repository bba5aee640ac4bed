//! The specific-needs code list, modelled on UNHCR's standardized specific
//! needs codes (families CR, SC, DS, SM, ER, WR, SP, FU, LP, TR, SV), with the
//! codes the 2023 response needed named explicitly (wounded; pregnant or
//! lactating). Versioned: a code is never reused for another meaning.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::auth::Caller;
use crate::http::routes::resource;

/// Version of the list below; bump it when a code is added or retired.
pub const VERSION: &str = "2023.1";

/// One specific-needs code.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NeedCode {
    pub code: &'static str,
    /// The UNHCR family the code belongs to.
    pub family: &'static str,
    pub label: &'static str,
}

pub const CODES: &[NeedCode] = &[
    NeedCode {
        code: "DS",
        family: "DS",
        label: "Disability",
    },
    NeedCode {
        code: "SM",
        family: "SM",
        label: "Serious medical condition",
    },
    NeedCode {
        code: "SM-WD",
        family: "SM",
        label: "Wounded (conflict-related injury)",
    },
    NeedCode {
        code: "SC-UC",
        family: "SC",
        label: "Unaccompanied child",
    },
    NeedCode {
        code: "SC-SC",
        family: "SC",
        label: "Separated child",
    },
    NeedCode {
        code: "CR",
        family: "CR",
        label: "Child at risk",
    },
    NeedCode {
        code: "ER",
        family: "ER",
        label: "Older person at risk",
    },
    NeedCode {
        code: "WR",
        family: "WR",
        label: "Woman at risk",
    },
    NeedCode {
        code: "WR-PL",
        family: "WR",
        label: "Pregnant or lactating",
    },
    NeedCode {
        code: "SP",
        family: "SP",
        label: "Single parent or caregiver",
    },
    NeedCode {
        code: "FU",
        family: "FU",
        label: "Family unity (tracing or reunification needed)",
    },
    NeedCode {
        code: "LP",
        family: "LP",
        label: "Specific legal and physical protection needs",
    },
    NeedCode {
        code: "TR",
        family: "TR",
        label: "Survivor of torture",
    },
    NeedCode {
        code: "SV",
        family: "SV",
        label: "Sexual and gender-based violence",
    },
];

/// Needs whose holders relatives' tracing requests may always find,
/// whatever their consent: unaccompanied and separated children.
pub const ALWAYS_TRACEABLE: [&str; 2] = ["SC-UC", "SC-SC"];

/// Whether `code` is in the current list.
pub fn is_known(code: &str) -> bool {
    CODES.iter().any(|c| c.code == code)
}

/// `GET /api/v1/codes/needs`.
pub async fn list(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "version": VERSION, "items": CODES }))
}

/// The needs routes, under `/api/v1`.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(resource("/codes/needs").get(list));
}

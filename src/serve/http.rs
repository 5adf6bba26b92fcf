//! The serve HTTP API: /healthz, /readyz, /decisions, /metrics (docs/serve.md).

use super::config::mode_label;
use super::publish::Shared;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

#[derive(serde::Deserialize)]
pub struct DecisionsQuery {
    pub service: Option<String>,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/decisions", get(decisions))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// The service loops' state: 200 while every loop is up, 503 while one is restarting after a
/// panic (so a loop that panics on every tick ends in a pod restart, not silence).
async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    let (ok, loops) = s.loops();
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = if ok { "ok" } else { "degraded" };
    (code, axum::Json(serde_json::json!({"status": status, "loops": loops}))).into_response()
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    match s.not_ready() {
        None => (StatusCode::OK, axum::Json(serde_json::json!({"ready": true}))).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "reason": reason})),
        )
            .into_response(),
    }
}

/// Recent records, oldest first; `mode` as in the config (`forecast_only`).
async fn decisions(State(s): State<Arc<Shared>>, Query(q): Query<DecisionsQuery>) -> Response {
    let list: Vec<serde_json::Value> = s
        .decisions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|d| q.service.as_deref().is_none_or(|n| n == d.service))
        .filter_map(|d| {
            let mut v = serde_json::to_value(d).ok()?;
            v["mode"] = mode_label(d.record.mode).into();
            Some(v)
        })
        .collect();
    axum::Json(list).into_response()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

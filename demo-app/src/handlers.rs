//! The endpoints. Latencies are simulated with a short random sleep plus a little real work, scaled by
//! `LATENCY_SCALE`; `/api/suspicious` is slow, fails often and answers with odd payload sizes. Each
//! simulated query is logged (`db: query took N ms`), and orders, misses and failures have their
//! messages (see `app_log`, which also says how `X-Demo-Fault` stages a failure).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app_log::{self, Fault};
use crate::AppState;

const FIRST_NAMES: [&str; 8] = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances"];
const PRODUCTS: [(&str, f64); 6] =
    [("keyboard", 49.9), ("mouse", 19.5), ("monitor", 229.0), ("dock", 129.0), ("cable", 9.9), ("webcam", 74.0)];
const USERS: u64 = 500;

/// The largest page `GET /api/users` serves (`per_page`).
const MAX_PER_PAGE: u64 = 1000;
/// One order in this many logs the payment gateway's retry warning (rare, so a surge of it stands out).
const GATEWAY_WARNING_ONE_IN: u32 = 400;

/// Sleep for a random time in `[min_ms, max_ms)`, scaled; the milliseconds slept.
async fn work(state: &AppState, min_ms: f64, max_ms: f64) -> f64 {
    let ms = rand::thread_rng().gen_range(min_ms..max_ms) * state.latency_scale;
    if ms > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(ms / 1000.0)).await;
    }
    ms
}

/// A simulated query: sleeps, then logs how long it took.
async fn query(state: &AppState, min_ms: f64, max_ms: f64) {
    let ms = work(state, min_ms, max_ms).await;
    app_log::write(&*state.log, "info", "db", &format!("query took {ms:.0} ms"));
}

fn user(id: u64) -> Value {
    let name = FIRST_NAMES[(id % FIRST_NAMES.len() as u64) as usize];
    json!({ "id": id, "name": format!("{name} {id}"), "active": !id.is_multiple_of(7), "created": "2025-01-01" })
}

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    page: Option<u64>,
    per_page: Option<u64>,
}

pub(crate) async fn list_users(State(state): State<AppState>, Query(p): Query<Page>) -> Response {
    query(&state, 12.0, 45.0).await;
    let per_page = p.per_page.unwrap_or(20).clamp(1, MAX_PER_PAGE);
    let page = p.page.unwrap_or(1).max(1);
    let start = (page - 1).saturating_mul(per_page) + 1;
    let users: Vec<Value> = (start..start.saturating_add(per_page)).filter(|id| *id <= USERS).map(user).collect();
    Json(json!({ "page": page, "per_page": per_page, "total": USERS, "users": users })).into_response()
}

pub(crate) async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    query(&state, 8.0, 30.0).await;
    match id.parse::<u64>() {
        Ok(n) if (1..=USERS).contains(&n) => Json(user(n)).into_response(),
        Ok(n) => {
            app_log::write(&*state.log, "warn", "users", &format!("user {n} not found"));
            (StatusCode::NOT_FOUND, Json(json!({ "error": "user not found" }))).into_response()
        }
        Err(_) => (StatusCode::BAD_REQUEST, Json(json!({ "error": "id must be a number" }))).into_response(),
    }
}

pub(crate) async fn list_products(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    query(&state, 20.0, 70.0).await;
    let filter = q.get("q").map(|s| s.to_lowercase());
    let items: Vec<Value> = PRODUCTS
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| filter.as_deref().is_none_or(|f| name.contains(f)))
        .map(|(i, (name, price))| json!({ "id": i + 1, "name": name, "price": price, "in_stock": i % 4 != 3 }))
        .collect();
    Json(json!({ "products": items })).into_response()
}

pub(crate) async fn list_orders(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if Fault::of(&headers) == Some(Fault::DbSlow) {
        query(&state, 900.0, 1500.0).await;
    } else {
        query(&state, 30.0, 90.0).await;
    }
    let last = state.next_order_id.load(Ordering::Relaxed);
    let orders: Vec<Value> = (last.saturating_sub(10)..last)
        .map(|id| json!({ "id": id, "user_id": id % USERS + 1, "total": (id % 97) as f64 * 3.5, "status": "shipped" }))
        .collect();
    Json(json!({ "orders": orders })).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewOrder {
    user_id: u64,
    items: Vec<OrderItem>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OrderItem {
    product_id: u64,
    quantity: u32,
}

pub(crate) async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewOrder>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let ms = work(&state, 60.0, 160.0).await;
    let log = &*state.log;
    let reject = |status: StatusCode, reason: &str| {
        app_log::write(log, "warn", "checkout", &format!("order rejected: {reason}"));
        (status, Json(json!({ "error": reason }))).into_response()
    };
    let Json(order) = match body {
        Ok(b) => b,
        Err(rejection) => return reject(rejection.status(), "invalid order body"),
    };
    if order.items.is_empty() || order.user_id == 0 || order.user_id > USERS {
        return reject(StatusCode::UNPROCESSABLE_ENTITY, "order needs a known user and items");
    }
    let mut total = 0.0;
    for item in &order.items {
        let Some((_, price)) = PRODUCTS.get((item.product_id as usize).wrapping_sub(1)) else {
            return reject(StatusCode::UNPROCESSABLE_ENTITY, "unknown product");
        };
        total += price * f64::from(item.quantity);
    }
    let fault = Fault::of(&headers);
    if fault == Some(Fault::LedgerDown) {
        app_log::write(log, "error", "checkout", "connection to ledger at 10.0.4.17:7000 refused");
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "ledger unavailable" }))).into_response();
    }
    let retries = if fault == Some(Fault::GatewaySlow) {
        3
    } else {
        u32::from(rand::thread_rng().gen_ratio(1, GATEWAY_WARNING_ONE_IN))
    };
    for attempt in 1..=retries {
        app_log::write(log, "warn", "payments", &format!("gateway slow, retrying (attempt {attempt})"));
    }
    let id = state.next_order_id.fetch_add(1, Ordering::Relaxed);
    app_log::write(log, "info", "checkout", &format!("order {id} placed by user {} in {ms:.0} ms", order.user_id));
    (StatusCode::CREATED, Json(json!({ "id": id, "user_id": order.user_id, "total": total, "status": "created" })))
        .into_response()
}

/// Slow, error-prone and with odd payload sizes: a legacy endpoint that misbehaves.
pub(crate) async fn suspicious(State(state): State<AppState>) -> Response {
    let (slow, fail, size) = {
        let mut rng = rand::thread_rng();
        (rng.gen_range(250.0..2500.0), rng.gen_bool(0.3), rng.gen_range(0..200_000usize))
    };
    work(&state, slow, slow + 1.0).await;
    if fail {
        let status = if size % 2 == 0 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::SERVICE_UNAVAILABLE };
        let msg = format!("report service failed: upstream returned {}", status.as_u16());
        app_log::write(&*state.log, "error", "reports", &msg);
        return (status, Json(json!({ "error": "upstream failed" }))).into_response();
    }
    let blob: String = "x".repeat(size);
    Json(json!({ "report": blob })).into_response()
}

pub(crate) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not found" }))).into_response()
}

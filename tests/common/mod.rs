//! Helpers shared by the unit tests (included by `src/lib.rs` under `cfg(test)`) and the
//! integration tests: times from text, and a real database holding a scripted history.
//! Paths go through `tcss_audit::`, which names the library in both.

#![allow(dead_code)]

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use tcss_audit::store::{NewSnapshot, OpenMode, Store};
use tcss_audit::task::normalize::{Prepared, normalize, status_of};
use tcss_audit::task::source::Source;

/// The reference page's example answer, `{"Response": {...}}`.
pub const SEED: &str = include_str!("../fixtures/api/describe_seed_example.json");

/// An RFC 3339 time.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .with_timezone(&Utc)
}

/// A `YYYY-MM-DD` date.
pub fn date(text: &str) -> NaiveDate {
    text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The normalized config of a JSON object.
pub fn config(v: Value) -> tcss_audit::task::normalize::Config {
    match v {
        Value::Object(m) => normalize(&m),
        other => panic!("not an object: {other}"),
    }
}

/// Records one target's answers (inner objects, status fields included) at the given times, as
/// imports with RequestIds `req-0`, `req-1`, … and returns the store.
pub fn store_with(path: &Path, target: &str, points: &[(&str, Value)]) -> Store {
    let mut store = Store::open(path, OpenMode::Create).unwrap();
    record_points(&mut store, target, points);
    store
}

/// Records answers as [`store_with`] does, into an open store.
pub fn record_points(store: &mut Store, target: &str, points: &[(&str, Value)]) {
    for (i, (when, answer)) in points.iter().enumerate() {
        let raw = serde_json::to_vec(&serde_json::json!({ "Response": answer })).unwrap();
        let fields = answer.as_object().expect("an answer is an object");
        let request_id = format!("req-{i}");
        store
            .record(&NewSnapshot {
                target,
                observed_at: at(when),
                recorded_at: at(when),
                source: Source::Import,
                endpoint: None,
                request_id: Some(&request_id),
                raw: &raw,
                config: &Prepared::new(normalize(fields)),
                status: &status_of(fields),
                identity: None,
            })
            .unwrap();
    }
}

/// The reference answer with another RequestId: what the API gives on another night.
pub fn seed_with_request_id(request_id: &str) -> String {
    let mut seed: Value = serde_json::from_str(SEED).unwrap();
    seed["Response"]["RequestId"] = Value::String(request_id.to_string());
    serde_json::to_string_pretty(&seed).unwrap()
}

/// A JSON value of any shape, for property tests: strings with quotes, escapes, control
/// characters and non-ASCII text, integers at the edges of 64 bits, floats, nested arrays and
/// objects.
pub fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".*".prop_map(Value::String),
        "[a-z\\\\\"\u{1b}\u{7f}é ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zB-Z\"]{0,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

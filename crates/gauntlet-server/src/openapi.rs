//! The OpenAPI 3.1 document, generated from the route table and the request types' schemas.

use serde_json::{Map, Value, json};

use crate::routes::{Access, Body, Reply, table};

pub fn document() -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let error_schema = generator.subschema_for::<crate::error::ErrorBody>();
    let mut paths = Map::new();
    for r in table() {
        let mut op = Map::new();
        op.insert("operationId".into(), r.operation.into());
        op.insert("summary".into(), r.summary.into());
        op.insert("tags".into(), json!([r.tag]));
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                       "schema": {"type": "string", "minLength": 1, "maxLength": 200}})
            })
            .collect();
        params.extend(r.query.iter().map(|(name, description, required)| {
            json!({"name": name, "in": "query", "required": required,
                   "description": description, "schema": {"type": "string"}})
        }));
        if r.operation == "createRun" {
            params.push(
                json!({"name": "Idempotency-Key", "in": "header", "required": false,
                "description": "retrying with the same key returns the run created first",
                "schema": {"type": "string", "maxLength": 200}}),
            );
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Body::Json(schema) = r.body {
            let s = schema(&mut generator);
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": s}}}),
            );
        }
        let mut responses = Map::new();
        match r.reply {
            Reply::Json(code, schema) => {
                let s = schema(&mut generator);
                if matches!(r.operation, "createRun" | "uploadSuite") {
                    responses.insert(
                        "200".into(),
                        json!({"description": "already done: the run of this idempotency key, or the unchanged latest version",
                        "content": {"application/json": {"schema": s.clone()}}}),
                    );
                }
                responses.insert(
                    code.to_string(),
                    json!({"description": "success",
                    "content": {"application/json": {"schema": s}}}),
                );
            }
            Reply::Text(mime) => {
                responses.insert(
                    "200".into(),
                    json!({"description": "success",
                    "content": {mime: {"schema": {"type": "string"}}}}),
                );
            }
            Reply::EventStream => {
                responses.insert(
                    "200".into(),
                    json!({"description": "a stream of run events",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}}),
                );
            }
            Reply::WebSocket => {
                responses.insert("101".into(), json!({"description": "switches to a WebSocket carrying run events as text messages"}));
            }
            Reply::NoContent => {
                responses.insert("204".into(), json!({"description": "done"}));
            }
        }
        let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": error_schema.clone()}}});
        responses.insert("400".into(), err("malformed request"));
        if r.access != Access::Public {
            responses.insert(
                "401".into(),
                err("missing, unknown, expired or revoked credentials"),
            );
            responses.insert("403".into(), err("the role lacks the permission"));
            responses.insert("429".into(), err("rate limited or a quota is used up"));
            op.insert("security".into(), json!([{"apiKey": []}]));
        }
        if r.path.contains('{') {
            responses.insert("404".into(), err("no such object in your tenant"));
        }
        if matches!(r.body, Body::Json(_)) {
            responses.insert("409".into(), err("conflict"));
            responses.insert("413".into(), err("body too large"));
            responses.insert("415".into(), err("not JSON"));
            responses.insert("422".into(), err("the specification does not validate"));
        }
        responses.insert("503".into(), err("the database is unavailable"));
        responses.insert("500".into(), err("internal error"));
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(r.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(r.method.as_str().to_ascii_lowercase(), Value::Object(op));
        }
    }
    let mut schemas = Map::new();
    for (name, schema) in generator.take_definitions(true) {
        schemas.insert(name, schema);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gauntlet API",
            "version": gauntlet_core::VERSION,
            "description": "Errors share one body: {code, message, details, request_id}; codes are listed in docs/api-errors.md.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "an API key `gnt_…`, or a JWT from the configured OIDC issuer"}
            }
        }
    })
}

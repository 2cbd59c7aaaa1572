//! The route table: every endpoint with the access it needs and what the OpenAPI document
//! says of it. The router, the authorisation middleware and the OpenAPI document are all
//! built from this one list.

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use schemars::Schema;

use crate::rbac::{Action, Perm, Resource};
use crate::{AppState, handlers as h, replies as rp, runs as r, suites as su};
use gauntlet_store::accounts::{ApiKey, Tenant, User};

/// What a route needs of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credentials (health, readiness, metrics, the OpenAPI document).
    Public,
    /// Any valid credential.
    Authenticated,
    /// A platform administrator (tenant provisioning).
    Platform,
    /// This permission in the caller's tenant.
    Perm(Perm),
}

/// The request body a route takes.
#[derive(Clone, Copy)]
pub enum Body {
    None,
    Json(fn(&mut schemars::SchemaGenerator) -> Schema),
}

/// The success response.
#[derive(Clone, Copy)]
pub enum Reply {
    /// A status and the schema of the body, from the type the handler answers with.
    Json(u16, fn(&mut schemars::SchemaGenerator) -> Schema),
    Text(&'static str),
    EventStream,
    WebSocket,
    NoContent,
}

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub operation: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub body: Body,
    pub reply: Reply,
    /// Query parameters: (name, description, required).
    pub query: &'static [(&'static str, &'static str, bool)],
    pub handler: MethodRouter<AppState>,
}

fn schema_of<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

const fn perm(r: Resource, a: Action) -> Access {
    Access::Perm(Perm(r, a))
}

use Action::{Delete as D, Execute as X, Read as R, Write as W};
use Resource::{Agents, Audit, Baselines, Runs, Settings, Suites, Users};

#[allow(clippy::too_many_arguments)]
fn route(
    method: Method,
    path: &'static str,
    access: Access,
    operation: &'static str,
    summary: &'static str,
    tag: &'static str,
    body: Body,
    reply: Reply,
    handler: MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        access,
        operation,
        summary,
        tag,
        body,
        reply,
        query: &[],
        handler,
    }
}

fn with_query(mut r: Route, query: &'static [(&'static str, &'static str, bool)]) -> Route {
    r.query = query;
    r
}

/// Every endpoint of the server.
pub fn table() -> Vec<Route> {
    use Access::{Authenticated, Platform, Public};
    use Body::{Json as JsonBody, None as NoBody};
    use Reply::{EventStream, Json, NoContent, Text, WebSocket};
    let j = |s| JsonBody(s);
    vec![
        route(
            Method::GET,
            "/healthz",
            Public,
            "health",
            "Liveness: the process answers",
            "operations",
            NoBody,
            Text("text/plain"),
            get(h::healthz),
        ),
        route(
            Method::GET,
            "/readyz",
            Public,
            "ready",
            "Readiness: the database answers and is migrated",
            "operations",
            NoBody,
            Json(200, schema_of::<rp::Ready>),
            get(h::readyz),
        ),
        route(
            Method::GET,
            "/metrics",
            Public,
            "metrics",
            "Prometheus metrics",
            "operations",
            NoBody,
            Text("text/plain; version=0.0.4"),
            get(h::metrics),
        ),
        route(
            Method::GET,
            "/api/v1/openapi.json",
            Public,
            "openapi",
            "This document",
            "operations",
            NoBody,
            Json(200, schema_of::<rp::Object>),
            get(h::openapi),
        ),
        route(
            Method::GET,
            "/api/v1/me",
            Authenticated,
            "whoami",
            "The caller: tenant, user, role and permissions",
            "identity",
            NoBody,
            Json(200, schema_of::<rp::Me>),
            get(h::me),
        ),
        // Platform administration.
        route(
            Method::GET,
            "/api/v1/tenants",
            Platform,
            "listTenants",
            "All tenants",
            "tenants",
            NoBody,
            Json(200, schema_of::<rp::Tenants>),
            get(h::list_tenants),
        ),
        route(
            Method::POST,
            "/api/v1/tenants",
            Platform,
            "createTenant",
            "Provision a tenant with its first admin; answers the admin's API key once",
            "tenants",
            j(schema_of::<h::NewTenant>),
            Json(201, schema_of::<rp::CreatedTenant>),
            post(h::create_tenant),
        ),
        route(
            Method::GET,
            "/api/v1/tenants/{tenant}",
            Platform,
            "getTenant",
            "One tenant",
            "tenants",
            NoBody,
            Json(200, schema_of::<Tenant>),
            get(h::get_tenant),
        ),
        route(
            Method::PUT,
            "/api/v1/tenants/{tenant}/quotas",
            Platform,
            "setQuotas",
            "Replace a tenant's quotas",
            "tenants",
            j(schema_of::<h::QuotasBody>),
            Json(200, schema_of::<Tenant>),
            put(h::set_quotas),
        ),
        route(
            Method::DELETE,
            "/api/v1/tenants/{tenant}",
            Platform,
            "deleteTenant",
            "Deprovision a tenant, removing all its data",
            "tenants",
            NoBody,
            Json(200, schema_of::<rp::TenantDeleted>),
            delete(h::delete_tenant),
        ),
        route(
            Method::GET,
            "/api/v1/tenant",
            perm(Settings, R),
            "getOwnTenant",
            "The caller's tenant, its quotas and usage",
            "tenants",
            NoBody,
            Json(200, schema_of::<rp::OwnTenant>),
            get(h::own_tenant),
        ),
        // Users, roles, keys.
        route(
            Method::GET,
            "/api/v1/users",
            perm(Users, R),
            "listUsers",
            "Users of the tenant",
            "identity",
            NoBody,
            Json(200, schema_of::<rp::Users>),
            get(h::list_users),
        ),
        route(
            Method::POST,
            "/api/v1/users",
            perm(Users, W),
            "createUser",
            "Add a user",
            "identity",
            j(schema_of::<h::NewUser>),
            Json(201, schema_of::<User>),
            post(h::create_user),
        ),
        route(
            Method::GET,
            "/api/v1/users/{user}",
            perm(Users, R),
            "getUser",
            "One user",
            "identity",
            NoBody,
            Json(200, schema_of::<User>),
            get(h::get_user),
        ),
        route(
            Method::PATCH,
            "/api/v1/users/{user}",
            perm(Users, W),
            "updateUser",
            "Change a user's role",
            "identity",
            j(schema_of::<h::UserPatch>),
            Json(200, schema_of::<User>),
            patch(h::update_user),
        ),
        route(
            Method::DELETE,
            "/api/v1/users/{user}",
            perm(Users, D),
            "deleteUser",
            "Remove a user and revoke their keys",
            "identity",
            NoBody,
            NoContent,
            delete(h::delete_user),
        ),
        route(
            Method::GET,
            "/api/v1/roles",
            perm(Users, R),
            "listRoles",
            "Built-in and custom roles with their permissions",
            "identity",
            NoBody,
            Json(200, schema_of::<rp::Roles>),
            get(h::list_roles),
        ),
        route(
            Method::PUT,
            "/api/v1/roles/{role}",
            perm(Users, W),
            "putRole",
            "Create or replace a custom role",
            "identity",
            j(schema_of::<h::RoleBody>),
            Json(200, schema_of::<rp::Role>),
            put(h::put_role),
        ),
        route(
            Method::DELETE,
            "/api/v1/roles/{role}",
            perm(Users, D),
            "deleteRole",
            "Delete a custom role nobody holds",
            "identity",
            NoBody,
            NoContent,
            delete(h::delete_role),
        ),
        route(
            Method::GET,
            "/api/v1/keys",
            perm(Users, R),
            "listKeys",
            "API keys of the tenant (never their secrets)",
            "identity",
            NoBody,
            Json(200, schema_of::<rp::Keys>),
            get(h::list_keys),
        ),
        route(
            Method::POST,
            "/api/v1/keys",
            perm(Users, W),
            "createKey",
            "Make an API key; the token is in this answer only",
            "identity",
            j(schema_of::<h::NewKey>),
            Json(201, schema_of::<rp::CreatedKey>),
            post(h::create_key),
        ),
        route(
            Method::DELETE,
            "/api/v1/keys/{key}",
            perm(Users, D),
            "revokeKey",
            "Revoke an API key",
            "identity",
            NoBody,
            Json(200, schema_of::<ApiKey>),
            delete(h::revoke_key),
        ),
        // Suites and agents.
        route(
            Method::GET,
            "/api/v1/suites",
            perm(Suites, R),
            "listSuites",
            "The newest version of every suite",
            "suites",
            NoBody,
            Json(200, schema_of::<rp::Suites>),
            get(su::list_suites),
        ),
        route(
            Method::POST,
            "/api/v1/suites",
            perm(Suites, W),
            "uploadSuite",
            "Upload a project (files by path); validated, stored versioned and content-hashed",
            "suites",
            j(schema_of::<su::Upload>),
            Json(201, schema_of::<rp::Uploaded>),
            post(su::upload_suite),
        ),
        route(
            Method::POST,
            "/api/v1/suites/validate",
            perm(Suites, R),
            "validateSuite",
            "Validate a project without storing it",
            "suites",
            j(schema_of::<su::Upload>),
            Json(200, schema_of::<rp::Validated>),
            post(su::validate_suite),
        ),
        with_query(
            route(
                Method::GET,
                "/api/v1/suites/{suite}",
                perm(Suites, R),
                "getSuite",
                "A version of a suite with its files",
                "suites",
                NoBody,
                Json(200, schema_of::<rp::SuiteWithFiles>),
                get(su::get_suite),
            ),
            &[("version", "the version (default: newest)", false)],
        ),
        route(
            Method::GET,
            "/api/v1/suites/{suite}/versions",
            perm(Suites, R),
            "listSuiteVersions",
            "Every version of a suite",
            "suites",
            NoBody,
            Json(200, schema_of::<rp::Versions>),
            get(su::suite_versions),
        ),
        route(
            Method::DELETE,
            "/api/v1/suites/{suite}",
            perm(Suites, D),
            "deleteSuite",
            "Delete every version of a suite",
            "suites",
            NoBody,
            NoContent,
            delete(su::delete_suite),
        ),
        route(
            Method::GET,
            "/api/v1/agents",
            perm(Agents, R),
            "listAgents",
            "Agents defined by the newest version of each suite",
            "suites",
            NoBody,
            Json(200, schema_of::<rp::Agents>),
            get(su::list_agents),
        ),
        // Runs.
        with_query(
            route(
                Method::GET,
                "/api/v1/runs",
                perm(Runs, R),
                "listRuns",
                "Runs, newest first",
                "runs",
                NoBody,
                Json(200, schema_of::<rp::Runs>),
                get(r::list_runs),
            ),
            &[("limit", "at most this many (1-500, default 50)", false)],
        ),
        route(
            Method::POST,
            "/api/v1/runs",
            perm(Suites, X),
            "createRun",
            "Queue a run of a stored suite; honours Idempotency-Key",
            "runs",
            j(schema_of::<r::NewRun>),
            Json(202, schema_of::<rp::Run>),
            post(r::create_run),
        ),
        route(
            Method::GET,
            "/api/v1/runs/{run}",
            perm(Runs, R),
            "getRun",
            "A run's state and totals",
            "runs",
            NoBody,
            Json(200, schema_of::<rp::Run>),
            get(r::get_run),
        ),
        route(
            Method::DELETE,
            "/api/v1/runs/{run}",
            perm(Runs, D),
            "deleteRun",
            "Delete a finished run and its results",
            "runs",
            NoBody,
            NoContent,
            delete(r::delete_run),
        ),
        route(
            Method::POST,
            "/api/v1/runs/{run}/cancel",
            perm(Suites, X),
            "cancelRun",
            "Cancel a queued, paused or running run",
            "runs",
            NoBody,
            Json(200, schema_of::<rp::Run>),
            post(r::cancel_run),
        ),
        route(
            Method::POST,
            "/api/v1/runs/{run}/pause",
            perm(Suites, X),
            "pauseRun",
            "Pause a run at its next case boundary",
            "runs",
            NoBody,
            Json(200, schema_of::<rp::Run>),
            post(r::pause_run),
        ),
        route(
            Method::POST,
            "/api/v1/runs/{run}/resume",
            perm(Suites, X),
            "resumeRun",
            "Resume a paused run where it stopped",
            "runs",
            NoBody,
            Json(200, schema_of::<rp::Run>),
            post(r::resume_run),
        ),
        route(
            Method::GET,
            "/api/v1/runs/{run}/results",
            perm(Runs, R),
            "getResults",
            "Every case result of a run",
            "runs",
            NoBody,
            Json(200, schema_of::<rp::Results>),
            get(r::results),
        ),
        with_query(
            route(
                Method::GET,
                "/api/v1/runs/{run}/report",
                perm(Runs, R),
                "getReport",
                "The run's report in a CLI format",
                "runs",
                NoBody,
                Text("text/plain"),
                get(r::report),
            ),
            &[("format", "json, junit, markdown, csv or html", true)],
        ),
        route(
            Method::GET,
            "/api/v1/runs/{run}/events",
            perm(Runs, R),
            "runEvents",
            "Live events of a run (Server-Sent Events)",
            "runs",
            NoBody,
            EventStream,
            get(r::events),
        ),
        route(
            Method::GET,
            "/api/v1/runs/{run}/ws",
            perm(Runs, R),
            "runEventsWs",
            "Live events of a run over WebSocket (the same JSON as the event stream)",
            "runs",
            NoBody,
            WebSocket,
            get(r::events_ws),
        ),
        // Baselines and diffs.
        route(
            Method::GET,
            "/api/v1/baselines",
            perm(Baselines, R),
            "listBaselines",
            "Named baselines",
            "baselines",
            NoBody,
            Json(200, schema_of::<rp::Baselines>),
            get(r::list_baselines),
        ),
        route(
            Method::PUT,
            "/api/v1/baselines/{baseline}",
            perm(Baselines, W),
            "setBaseline",
            "Point a baseline at a run",
            "baselines",
            j(schema_of::<r::BaselineBody>),
            Json(200, schema_of::<rp::BaselineSet>),
            put(r::set_baseline),
        ),
        with_query(
            route(
                Method::GET,
                "/api/v1/diff",
                perm(Runs, R),
                "diffRuns",
                "Case-by-case difference of two runs",
                "runs",
                NoBody,
                Json(200, schema_of::<rp::Object>),
                get(r::diff),
            ),
            &[("a", "the earlier run", true), ("b", "the later run", true)],
        ),
        // Audit.
        with_query(
            route(
                Method::GET,
                "/api/v1/audit/events",
                perm(Audit, R),
                "auditEvents",
                "The tenant's audit events about a resource",
                "audit",
                NoBody,
                Json(200, schema_of::<rp::AuditEvents>),
                get(su::audit_events),
            ),
            &[("resource", "the resource, e.g. run/<id>", true)],
        ),
    ]
}

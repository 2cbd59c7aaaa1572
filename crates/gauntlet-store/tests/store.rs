#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The store on both backends: round trip, lookups, tenancy, migrations.

use gauntlet_core::ids::{RunId, TenantId};
use gauntlet_core::result::{
    AssertionResult, CaseResult, CaseStatus, RunRecord, RunStatus, StepRecord, Tokens,
    ToolCallRecord, Totals,
};
use gauntlet_store::db::{Db, Dialect};
use gauntlet_store::sqlite::SqliteStore;
use gauntlet_store::{RunFilter, RunStore, Store, StoreError};

mod support;

use support::{Backend, backends, fresh_db};

/// A fresh, migrated store (the SQLite file under `dir`).
fn fresh(b: Backend, dir: &tempfile::TempDir, name: &str) -> Store {
    Store::from_db(fresh_db(b, dir, name)).unwrap()
}

use serde_json::json;

fn run(id: u64, suite: &str) -> RunRecord {
    RunRecord {
        id: RunId::from_parts(1_700_000_000_000 + id, u128::from(id)),
        project: "p".into(),
        suite: suite.into(),
        seed: u64::MAX,
        status: RunStatus::Running,
        config_hash: "sha256:abc".into(),
        gauntlet_version: "0.0.0".into(),
        started_at: format!("2026-01-01T00:00:0{id}.000Z"),
        finished_at: None,
        totals: Totals::default(),
    }
}

fn case(index: u32) -> CaseResult {
    CaseResult {
        index,
        id: format!("case-{index}"),
        trial: index % 2,
        target: "graph:g".into(),
        status: if index.is_multiple_of(2) {
            CaseStatus::Passed
        } else {
            CaseStatus::Failed
        },
        score: 0.5,
        input: "héllo\nworld".into(),
        output: Some("out".into()),
        reason: (index % 2 == 1).then(|| "contains: nope".into()),
        tokens: Tokens {
            input: 10,
            output: 5,
        },
        cost_usd: 0.000_125,
        latency_ms: 12.5,
        steps: vec![
            StepRecord {
                node: Some("a".into()),
                agent: "agent-a".into(),
                provider: "m".into(),
                model: "gpt-4o-mini".into(),
                input: "in".into(),
                output: Some("{\"x\": 1}".into()),
                tool_calls: vec![
                    ToolCallRecord {
                        name: "t".into(),
                        args: json!({"id": 1}),
                        result: Some(json!({"ok": true})),
                        error: None,
                        latency_ms: 3.0,
                    },
                    ToolCallRecord {
                        name: "t".into(),
                        args: json!({}),
                        result: None,
                        error: Some("boom".into()),
                        latency_ms: 0.0,
                    },
                ],
                tokens: Tokens {
                    input: 10,
                    output: 5,
                },
                cost_usd: 0.000_125,
                latency_ms: 12.5,
                model_calls: 3,
                retries: 1,
                error: None,
                violations: vec!["too slow".into()],
                ttft_ms: Some(4.5),
                faults: vec![gauntlet_core::result::Fault {
                    at: "tool:t".into(),
                    turn: 1,
                    kind: "tool_error".into(),
                    detail: "injected".into(),
                }],
                served_by: None,
                tokens_per_s: None,
                start_ms: 0.0,
                spans: vec![gauntlet_core::result::Span {
                    kind: gauntlet_core::result::SpanKind::Model,
                    name: "gpt-4o-mini".into(),
                    start_ms: 0.0,
                    duration_ms: 9.5,
                    turn: 1,
                    error: None,
                }],
            },
            StepRecord {
                node: Some("b".into()),
                agent: "agent-b".into(),
                provider: "m".into(),
                model: "mock".into(),
                input: "x".into(),
                output: None,
                tool_calls: vec![],
                tokens: Tokens::default(),
                cost_usd: 0.0,
                latency_ms: 0.0,
                model_calls: 1,
                retries: 0,
                error: Some("auth: bad key".into()),
                violations: vec![],
                ttft_ms: None,
                faults: vec![],
                served_by: Some("backup".into()),
                tokens_per_s: Some(42.5),
                start_ms: 12.5,
                spans: vec![],
            },
        ],
        assertions: vec![AssertionResult {
            kind: "not-contains".into(),
            pass: true,
            score: 1.0,
            weight: 2.0,
            reason: "ok".into(),
            node: Some("a".into()),
            metric: Some("m".into()),
            details: Some(json!({"findings": [{"kind": "email"}]})),
            cost_usd: 0.002,
        }],
        trace: Some(gauntlet_core::result::GraphTrace {
            graph: "g".into(),
            start: "a".into(),
            nodes: vec![gauntlet_core::result::NodeTrace {
                name: "a".into(),
                agent: "agent-a".into(),
                state: gauntlet_core::result::NodeState::Failed,
            }],
            edges: vec![gauntlet_core::result::EdgeTrace {
                from: "a".into(),
                to: "b".into(),
                taken: None,
                when: Some("otherwise".into()),
            }],
        }),
        tags: vec!["smoke".into()],
    }
}

#[test]
fn results_round_trip_exactly_in_index_order() {
    for b in backends("results_round_trip_exactly_in_index_order") {
        results_round_trip_exactly_in_index_order_on(b);
    }
}

fn results_round_trip_exactly_in_index_order_on(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh(b, &dir, "nested/g.db");
    let t = TenantId::local();
    let r = run(1, "s");
    store.create_run(&t, &r, &json!({"seed": 1})).unwrap();
    let writer = store.writer(&t, &r.id).unwrap();
    // Sent out of order, as the engine completes them.
    for i in [3, 0, 2, 1] {
        writer.send(case(i)).unwrap();
    }
    assert_eq!(writer.finish().unwrap().cases, 4);
    let mut totals = Totals::default();
    (0..4).for_each(|i| totals.add(&case(i)));
    store
        .finish_run(
            &t,
            &r.id,
            RunStatus::Failed,
            &totals,
            "2026-01-01T00:01:00.000Z",
        )
        .unwrap();

    let mut back = Vec::new();
    store
        .for_each_case(&t, &r.id, &mut |c| {
            back.push(c);
            Ok(())
        })
        .unwrap();
    assert_eq!(back, (0..4).map(case).collect::<Vec<_>>());
    let stored = store.get_run(&t, r.id.as_str()).unwrap();
    assert_eq!(stored.status, RunStatus::Failed);
    assert_eq!(stored.totals, totals);
    assert_eq!(stored.seed, u64::MAX);
    assert_eq!(store.snapshot(&t, &r.id).unwrap(), json!({"seed": 1}));
}

#[test]
fn runs_are_found_by_prefix_latest_and_are_tenant_scoped() {
    for b in backends("runs_are_found_by_prefix_latest_and_are_tenant_scoped") {
        runs_are_found_by_prefix_latest_and_are_tenant_scoped_on(b);
    }
}

fn runs_are_found_by_prefix_latest_and_are_tenant_scoped_on(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh(b, &dir, "g.db");
    let t = TenantId::local();
    let (a, b) = (run(1, "s1"), run(2, "s2"));
    store.create_run(&t, &a, &json!({})).unwrap();
    store.create_run(&t, &b, &json!({})).unwrap();
    assert_eq!(store.get_run(&t, "latest").unwrap().id, b.id);
    assert_eq!(
        store
            .get_run(&t, &a.id.as_str()[..24].to_lowercase())
            .unwrap()
            .id,
        a.id
    );
    assert!(matches!(
        store.get_run(&t, "0"),
        Err(StoreError::AmbiguousRun { .. })
    ));
    assert!(matches!(
        store.get_run(&t, "ZZZ"),
        Err(StoreError::RunNotFound(_))
    ));
    assert!(matches!(
        store.get_run(&t, "%"),
        Err(StoreError::RunNotFound(_))
    ));
    let listed = store
        .list_runs(
            &t,
            &RunFilter {
                suite: Some("s1".into()),
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        store.list_runs(&t, &RunFilter::default()).unwrap()[0].id,
        b.id
    );

    let other = TenantId::new("other");
    assert!(
        store
            .list_runs(&other, &RunFilter::default())
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.get_run(&other, a.id.as_str()),
        Err(StoreError::RunNotFound(_))
    ));
    assert!(store.snapshot(&other, &a.id).is_err());
    assert!(
        store
            .finish_run(&other, &a.id, RunStatus::Passed, &Totals::default(), "x")
            .is_err()
    );
}

#[test]
fn every_migration_file_is_applied_in_order() {
    for b in backends("every_migration_file_is_applied_in_order") {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(b, &dir, "g.db");
        let sub = match store.db().dialect() {
            Dialect::Sqlite => "migrations/sqlite",
            Dialect::Postgres => "migrations/postgres",
        };
        let files = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(sub))
            .unwrap()
            .count();
        assert_eq!(
            store.db().schema_version().unwrap() as usize,
            files,
            "a migration file of {sub} is not listed"
        );
    }
}

#[test]
fn migrations_are_idempotent_and_newer_schemas_are_refused() {
    for b in backends("migrations_are_idempotent_and_newer_schemas_are_refused") {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(b, &dir, "g.db");
        let db = store.db().clone();
        drop(store);
        drop(Store::from_db(db.clone()).unwrap());
        db.with_conn(|c| {
            c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)",
                &[],
            )
        })
        .unwrap();
        assert!(matches!(
            Store::from_db(db),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}

#[test]
fn a_store_made_before_schema_migrations_is_adopted() {
    // Stores of earlier versions counted migrations in `PRAGMA user_version` only.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for name in ["0001_runs", "0002_baselines", "0003_case_trials"] {
            let sql = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("migrations/sqlite/{name}.sql")),
            )
            .unwrap();
            conn.execute_batch(&sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO runs (tenant_id, id, project, suite, seed, status, config_hash, config_snapshot, gauntlet_version, started_at)
             VALUES ('local', 'R1', 'p', 's', '1', 'passed', 'h', '{}', '0', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get_run(&TenantId::local(), "R1").unwrap().suite, "s");
    assert_eq!(
        store.db().schema_version().unwrap() as usize,
        gauntlet_store::migrations(Dialect::Sqlite).len()
    );
    // A store newer than this build is refused the old way too.
    let newer = dir.path().join("newer.db");
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    assert!(matches!(
        Store::from_db(Db::sqlite(&newer).unwrap()),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn a_failed_batch_leaves_no_partial_case() {
    for b in backends("a_failed_batch_leaves_no_partial_case") {
        a_failed_batch_leaves_no_partial_case_on(b);
    }
}

fn a_failed_batch_leaves_no_partial_case_on(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh(b, &dir, "g.db");
    let t = TenantId::local();
    let r = run(1, "s");
    store.create_run(&t, &r, &json!({})).unwrap();
    let writer = store.writer(&t, &r.id).unwrap();
    // The same index twice violates the primary key: the whole batch rolls back.
    writer.send(case(0)).unwrap();
    writer.send(case(0)).unwrap();
    assert!(writer.finish().is_err());
    let mut n = 0;
    store
        .for_each_case(&t, &r.id, &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn baselines_are_named_replaced_and_tenant_scoped() {
    for b in backends("baselines_are_named_replaced_and_tenant_scoped") {
        baselines_are_named_replaced_and_tenant_scoped_on(b);
    }
}

fn baselines_are_named_replaced_and_tenant_scoped_on(b: Backend) {
    use gauntlet_store::BaselineStore;
    let dir = tempfile::tempdir().unwrap();
    let store = fresh(b, &dir, "g.db");
    let t = TenantId::local();
    let (a, b) = (run(1, "s"), run(2, "s"));
    assert_eq!(store.set_baseline(&t, "main", &a, "t1").unwrap(), None);
    let previous = store.set_baseline(&t, "main", &b, "t2").unwrap().unwrap();
    assert_eq!(previous.run_id, a.id);
    assert_eq!(store.get_baseline(&t, "main").unwrap().run_id, b.id);
    store.set_baseline(&t, "release", &a, "t3").unwrap();
    let names: Vec<String> = store
        .list_baselines(&t)
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["main", "release"]);
    let other = TenantId::new("other");
    assert!(matches!(
        store.get_baseline(&other, "main"),
        Err(StoreError::BaselineNotFound(_))
    ));
    assert!(store.list_baselines(&other).unwrap().is_empty());
}

#[test]
fn sources_are_streamed_content_addressed_and_tenant_scoped() {
    for b in backends("sources_are_streamed_content_addressed_and_tenant_scoped") {
        sources_are_streamed_content_addressed_and_tenant_scoped_on(b);
    }
}

fn sources_are_streamed_content_addressed_and_tenant_scoped_on(b: Backend) {
    use gauntlet_store::SourceStore;
    let dir = tempfile::tempdir().unwrap();
    let store = fresh(b, &dir, "g.db");
    let t = TenantId::local();
    let (a, b) = (run(1, "s"), run(2, "s"));
    store.create_run(&t, &a, &json!({})).unwrap();
    store.create_run(&t, &b, &json!({})).unwrap();
    let big = "x: 1\n".repeat(200_000);
    let digest = gauntlet_core::hash::sha256_hex(big.as_bytes());
    for r in [&a, &b] {
        store
            .save_source(
                &t,
                &r.id,
                "suite.yaml",
                &digest,
                big.len() as u64,
                &mut big.as_bytes(),
            )
            .unwrap();
    }
    assert_eq!(
        store.sources(&t, &b.id).unwrap(),
        vec![("suite.yaml".to_owned(), big.clone())]
    );
    let stored = store
        .db()
        .with_conn(|c| c.query_one("SELECT count(*) FROM sources", &[])?.int(0))
        .unwrap();
    assert_eq!(stored, 1, "identical files are kept once");
    // A reader shorter than announced is refused, and nothing is half-written.
    let err = store.save_source(&t, &a.id, "other.yaml", "feed", 10, &mut &b"short"[..]);
    assert!(err.is_err());
    assert!(
        store
            .sources(&TenantId::new("other"), &a.id)
            .unwrap()
            .is_empty()
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Tenancy, suites and the run queue on both backends.

use std::collections::BTreeMap;

use gauntlet_core::TenantId;
use gauntlet_store::accounts::{Accounts, ApiKey, CustomRole, Quotas, Tenant, User};
use gauntlet_store::db::Db;
use gauntlet_store::queue::{JobState, NewJob, Outcome, Queue};
use gauntlet_store::suites::Suites;
use gauntlet_store::{StoreError, schema};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

mod support;

/// Awaits an async store read on a runtime of its own, as a request handler would. Each call's
/// runtime ends with it, taking PostgreSQL's shared reader connections along, so the next
/// call also checks that they are reopened.
fn block<F: std::future::Future>(f: F) -> F::Output {
    ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build())
    .block_on(f)
}

/// Runs `f` against a fresh SQLite file and, when configured, a fresh PostgreSQL database.
fn on_both(test: &str, f: impl Fn(&Db)) {
    for b in support::backends(test) {
        let dir = ok(tempfile::tempdir());
        let db = support::fresh_db(b, &dir, "server.db");
        ok(db.migrate(schema::server(db.dialect())));
        f(&db);
    }
}

fn tenant(accounts: &Accounts, id: &str) -> TenantId {
    ok(accounts.create_tenant(&Tenant {
        id: id.into(),
        name: id.into(),
        quotas: Quotas::default(),
        created_at: "2026-01-01T00:00:00Z".into(),
    }));
    TenantId::new(id)
}

fn user(id: &str, role: &str) -> User {
    User {
        id: id.into(),
        name: id.into(),
        email: Some(format!("{id}@example.com")),
        role: role.into(),
        platform_admin: false,
        created_at: "2026-01-01T00:00:00Z".into(),
    }
}

#[test]
fn accounts_are_tenant_scoped_and_deprovisioning_removes_everything() {
    on_both("accounts", |db| {
        let accounts = Accounts::new(db.clone());
        let a = tenant(&accounts, "acme");
        let b = tenant(&accounts, "globex");
        assert!(matches!(
            accounts.create_tenant(&ok(accounts.tenant(&a))),
            Err(StoreError::Conflict(_))
        ));
        ok(accounts.create_user(&a, &user("alice", "admin")));
        assert!(matches!(
            accounts.create_user(&a, &user("alice", "viewer")),
            Err(StoreError::Conflict(_))
        ));
        // Same id in another tenant is another user.
        ok(accounts.create_user(&b, &user("alice", "viewer")));
        assert_eq!(ok(accounts.user(&a, "alice")).role, "admin");
        assert_eq!(ok(accounts.user(&b, "alice")).role, "viewer");
        assert!(matches!(
            accounts.user(&b, "nobody"),
            Err(StoreError::NotFound(_))
        ));

        let key = ApiKey {
            id: "k1".into(),
            user_id: "alice".into(),
            name: "ci".into(),
            role: "developer".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: Some(1),
            revoked_at: None,
            issued_by: None,
        };
        ok(accounts.create_key(&a, &key, "hash"));
        // A key for a user of another tenant is refused.
        let mut other = key.clone();
        other.id = "k2".into();
        other.user_id = "bob".into();
        assert!(matches!(
            accounts.create_key(&b, &other, "h"),
            Err(StoreError::NotFound(_))
        ));
        let rec = ok(accounts.key_for_auth("k1")).unwrap_or_else(|| panic!("key missing"));
        assert_eq!(rec.tenant, a);
        assert_eq!(rec.secret_hash, "hash");
        assert!(matches!(
            accounts.key(&b, "k1"),
            Err(StoreError::NotFound(_))
        ));
        let revoked = ok(accounts.revoke_key(&a, "k1", "2026-02-01T00:00:00Z"));
        assert_eq!(revoked.revoked_at.as_deref(), Some("2026-02-01T00:00:00Z"));
        let again = ok(accounts.revoke_key(&a, "k1", "2026-03-01T00:00:00Z"));
        assert_eq!(again.revoked_at.as_deref(), Some("2026-02-01T00:00:00Z"));

        let role = CustomRole {
            name: "runner".into(),
            permissions: vec!["runs:execute".into()],
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        assert_eq!(ok(accounts.put_role(&a, &role)), None);
        assert!(ok(accounts.role(&b, "runner")).is_none());
        ok(accounts.set_user_role(&a, "alice", "runner"));
        assert!(matches!(
            accounts.delete_role(&a, "runner"),
            Err(StoreError::Conflict(_))
        ));

        let suites = Suites::new(db.clone());
        let files = BTreeMap::from([("s.yaml".to_owned(), "suites: {}".to_owned())]);
        ok(suites.put(&a, "s", &files, &serde_json::json!({}), "alice", "t"));
        let removed = ok(accounts.delete_tenant(&a));
        assert!(removed >= 4, "{removed}");
        assert!(matches!(accounts.tenant(&a), Err(StoreError::NotFound(_))));
        assert!(ok(accounts.key_for_auth("k1")).is_none());
        assert!(matches!(
            suites.get(&a, "s", None),
            Err(StoreError::NotFound(_))
        ));
        // The other tenant is untouched.
        assert_eq!(ok(accounts.list_users(&b)).len(), 1);
    });
}

#[test]
fn suites_are_versioned_by_content() {
    on_both("suites", |db| {
        let accounts = Accounts::new(db.clone());
        let a = tenant(&accounts, "acme");
        let b = tenant(&accounts, "globex");
        let suites = Suites::new(db.clone());
        let one = BTreeMap::from([("a.yaml".to_owned(), "x: 1".to_owned())]);
        let two = BTreeMap::from([("a.yaml".to_owned(), "x: 2".to_owned())]);
        let (v1, new1) = ok(suites.put(&a, "s", &one, &serde_json::json!({"n": 1}), "u", "t1"));
        let (v2, new2) = ok(suites.put(&a, "s", &two, &serde_json::json!({}), "u", "t2"));
        let (v1b, new3) = ok(suites.put(&a, "s", &one, &serde_json::json!({}), "u", "t3"));
        assert_eq!((v1.version, new1, v2.version, new2), (1, true, 2, true));
        assert_eq!((v1b.version, new3), (1, false));
        assert_eq!(ok(suites.get(&a, "s", None)).files, two);
        assert_eq!(ok(suites.get(&a, "s", Some(1))).files, one);
        assert_eq!(ok(block(suites.list(&a))).len(), 1);
        assert!(ok(block(suites.list(&b))).is_empty());
        assert!(matches!(
            suites.get(&b, "s", None),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(ok(suites.stored_bytes(&a)), 8);
    });
}

fn job(id: &str, key: Option<&str>) -> NewJob {
    NewJob {
        id: id.into(),
        queue: "runs".into(),
        priority: 0,
        max_attempts: 3,
        idempotency_key: key.map(str::to_owned),
        request: serde_json::json!({"suite": "s"}),
        created_by: "alice".into(),
    }
}

#[test]
fn queue_leases_fence_and_signal() {
    on_both("queue", |db| {
        let accounts = Accounts::new(db.clone());
        let a = tenant(&accounts, "acme");
        let b = tenant(&accounts, "globex");
        let q = Queue::new(db.clone());
        let (j, created) = ok(q.enqueue(&a, &job("r1", Some("k"))));
        assert!(created);
        let (same, created) = ok(q.enqueue(&a, &job("r2", Some("k"))));
        assert!(!created);
        assert_eq!(same.id, j.id);
        // The key is per tenant.
        assert!(ok(q.enqueue(&b, &job("r3", Some("k")))).1);
        assert!(matches!(q.get(&b, "r1"), Err(StoreError::NotFound(_))));

        let leases = ok(q.claim("runs", "w1", 10, 30_000, 600_000));
        assert_eq!(leases.len(), 2);
        let l1 = leases
            .iter()
            .find(|l| l.id == "r1")
            .cloned()
            .unwrap_or_else(|| panic!("r1"));
        assert_eq!(l1.attempt, 1);
        assert!(ok(q.claim("runs", "w2", 10, 30_000, 600_000)).is_empty());
        assert_eq!(ok(q.heartbeat(&l1, 30_000)).map(|s| s.cancel), Some(false));
        ok(q.cancel(&a, "r1"));
        assert_eq!(ok(q.heartbeat(&l1, 30_000)).map(|s| s.cancel), Some(true));
        assert!(ok(q.journal_put(&l1, "step-1", "out")));
        assert!(ok(q.journal_put(&l1, "step-1", "other")));
        assert_eq!(
            ok(q.journal_get(&a, "r1", "step-1")).as_deref(),
            Some("out")
        );
        assert!(ok(q.finish(&l1, Outcome::Cancelled, None)));
        assert_eq!(ok(q.get(&a, "r1")).state, JobState::Cancelled);
        // A finished lease writes nothing more.
        assert!(!ok(q.finish(&l1, Outcome::Succeeded, None)));
        assert!(!ok(q.journal_put(&l1, "step-2", "late")));
        assert_eq!(ok(q.heartbeat(&l1, 30_000)), None);

        // A lease that expires is reaped; the old attempt is fenced off.
        let l3 = leases
            .iter()
            .find(|l| l.id == "r3")
            .cloned()
            .unwrap_or_else(|| panic!("r3"));
        assert!(ok(q.heartbeat(&l3, -1)).is_some());
        assert_eq!(ok(q.reap()), vec!["r3".to_owned()]);
        assert_eq!(ok(q.get(&b, "r3")).state, JobState::Retryable);
        let again = ok(q.claim("runs", "w2", 10, 30_000, 600_000));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempt, 2);
        assert!(!ok(q.finish(&l3, Outcome::Succeeded, None)));
        assert!(ok(q.finish(&again[0], Outcome::Succeeded, None)));
        assert_eq!(ok(q.get(&b, "r3")).state, JobState::Succeeded);

        // Pause, resume.
        ok(q.enqueue(&a, &job("r4", None)));
        assert_eq!(ok(q.pause(&a, "r4")).state, JobState::Paused);
        assert!(ok(q.claim("runs", "w1", 10, 30_000, 600_000)).is_empty());
        assert_eq!(ok(q.resume(&a, "r4")).state, JobState::Pending);
        let l4 = ok(q.claim("runs", "w1", 10, 30_000, 600_000));
        ok(q.pause(&a, "r4"));
        assert_eq!(ok(q.heartbeat(&l4[0], 30_000)).map(|s| s.pause), Some(true));
        assert!(ok(q.finish(&l4[0], Outcome::Paused, None)));
        assert_eq!(ok(q.get(&a, "r4")).state, JobState::Paused);
        // Retry until the attempts run out.
        ok(q.resume(&a, "r4"));
        for attempt in 2..=3 {
            let l = ok(q.claim("runs", "w1", 10, 30_000, 600_000));
            assert_eq!(l[0].attempt, attempt);
            assert!(ok(q.retry_later(&l[0], "boom", 0)));
        }
        let j4 = ok(q.get(&a, "r4"));
        assert_eq!(
            (j4.state, j4.last_error.as_deref()),
            (JobState::Failed, Some("boom"))
        );
        let (today, active) = ok(q.counts(&a, 0));
        assert_eq!((today, active), (2, 0));
    });
}

#[test]
fn concurrent_enqueues_with_one_key_create_one_job() {
    on_both("idempotency", |db| {
        let accounts = Accounts::new(db.clone());
        let a = tenant(&accounts, "acme");
        let q = Queue::new(db.clone());
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (q, a) = (q.clone(), a.clone());
                    s.spawn(move || {
                        ok(q.enqueue(&a, &job(&format!("run{i}"), Some("same"))))
                            .0
                            .id
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("thread")))
                .collect()
        });
        assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
        assert_eq!(ok(block(q.list_with_records(&a, 100))).len(), 1);
    });
}

#[test]
fn async_reads_join_jobs_to_their_runs() {
    use gauntlet_core::ids::RunId;
    use gauntlet_core::result::{RunRecord, RunStatus, Totals};
    use gauntlet_store::RunStore;
    on_both("async_reads_join_jobs_to_their_runs", |db| {
        let accounts = Accounts::new(db.clone());
        let (a, b) = (tenant(&accounts, "a"), tenant(&accounts, "b"));
        let q = Queue::new(db.clone());
        let store = ok(gauntlet_store::Store::from_db(db.clone()));
        let started = RunId::from_parts(1_700_000_000_000, 7);
        let waiting = RunId::from_parts(1_700_000_000_001, 8);
        ok(q.enqueue(&a, &job(started.as_str(), None)));
        ok(q.enqueue(&a, &job(waiting.as_str(), None)));
        let record = RunRecord {
            id: started.clone(),
            project: "p".into(),
            suite: "s".into(),
            seed: 42,
            status: RunStatus::Running,
            config_hash: "sha256:abc".into(),
            gauntlet_version: "0.0.0".into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            finished_at: None,
            totals: Totals {
                cases: 3,
                passed: 2,
                failed: 1,
                tokens_input: 10,
                tokens_output: 5,
                tokens: 15,
                cost_usd: 0.25,
                ..Totals::default()
            },
        };
        ok(store.create_run(&a, &record, &serde_json::json!({})));
        let record = RunRecord {
            status: RunStatus::Passed,
            finished_at: Some("2026-01-01T00:00:01.000Z".into()),
            ..record
        };
        ok(store.finish_run(
            &a,
            &started,
            record.status,
            &record.totals,
            "2026-01-01T00:00:01.000Z",
        ));

        let (job_of, found) = ok(block(q.get_with_record(&a, started.as_str())));
        assert_eq!(job_of.id, started.as_str());
        assert_eq!(found.as_ref(), Some(&record));
        let (job_of, found) = ok(block(q.get_with_record(&a, waiting.as_str())));
        assert_eq!((job_of.id.as_str(), found), (waiting.as_str(), None));
        // Another tenant's run does not exist for this one.
        assert!(matches!(
            block(q.get_with_record(&b, started.as_str())),
            Err(StoreError::NotFound(_))
        ));

        // Newest first, limited, each with its record (or none).
        let listed = ok(block(q.list_with_records(&a, 10)));
        let seen: Vec<(&str, bool)> = listed
            .iter()
            .map(|(j, r)| (j.id.as_str(), r.is_some()))
            .collect();
        assert_eq!(seen, [(waiting.as_str(), false), (started.as_str(), true)]);
        assert_eq!(ok(block(q.list_with_records(&a, 1))).len(), 1);
        assert!(ok(block(q.list_with_records(&b, 10))).is_empty());
        // Reads are retried, so writes are refused.
        assert!(block(db.fetch("DELETE FROM jobs", Vec::new())).is_err());
        assert_eq!(ok(block(q.list_with_records(&a, 10))).len(), 2);

        if db.dialect() == gauntlet_store::db::Dialect::Postgres {
            // The server drops the shared readers' connections while their runtime is not
            // looking, so the next read is sent on a dead connection: it is tried again on a
            // new one instead of failing.
            let rt = ok(tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build());
            rt.block_on(async {
                for _ in 0..8 {
                    ok(q.get_with_record(&a, started.as_str()).await);
                }
                let killed = ok(db.with_conn(|c| {
                    c.query_one(
                        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                        &[],
                    )?
                    .int(0)
                }));
                assert!(killed >= 1, "no reader connection was open");
                std::thread::sleep(std::time::Duration::from_millis(300));
                for _ in 0..8 {
                    let (_, found) = ok(q.get_with_record(&a, started.as_str()).await);
                    assert!(found.is_some());
                }
                // Now every pooled connection but the reader's dies while idle: the pool
                // drops them instead of failing the next statements on them.
                let killed = ok(db
                    .fetch(
                        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                        Vec::new(),
                    )
                    .await);
                assert!(
                    killed[0].int(0).unwrap_or(0) >= 1,
                    "no pooled connection was open"
                );
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            for _ in 0..4 {
                assert_eq!(ok(q.get(&a, started.as_str())).id, started.as_str());
            }
        }
    });
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The audit log on SQLite, and every class of tampering an attacker with database access can
//! try: each must be detected, naming the first bad index.

use gauntlet_audit::log::{AuditStorage, Checkpoint};
use gauntlet_audit::merkle::{self, Frontier};
use gauntlet_audit::verify::{ProblemKind, verify};
use gauntlet_audit::{AuditLog, Event, LocalSigner, NewEvent, Signer, TrustedKeys};
use gauntlet_store::sqlite::SqliteStore;
use rusqlite::params;

const EVENTS: u64 = 10;

struct Log {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: SqliteStore,
    signer: LocalSigner,
}

impl Log {
    fn trusted(&self) -> TrustedKeys {
        let mut t = TrustedKeys::new();
        t.add(*self.signer.public_key());
        t
    }

    /// A raw connection without the append-only triggers, as an attacker would use.
    fn attacker(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER audit_events_append_only_update;
             DROP TRIGGER audit_events_append_only_delete;
             DROP TRIGGER audit_checkpoints_sign_once;
             DROP TRIGGER audit_checkpoints_no_delete;",
        )
        .unwrap();
        conn
    }

    fn check(&self) -> gauntlet_audit::verify::Verification {
        verify(&self.store, &self.trusted(), None).unwrap()
    }
}

fn event(i: u64) -> NewEvent {
    NewEvent::new("local", "cli:tester", "run.start", format!("run/{i}"))
        .digest(format!("sha256:{i:064}"))
        .details(serde_json::json!({ "suite": "basics", "n": i }))
}

/// Ten events, each appended in its own batch (as the CLI does), so each has a signed head.
fn log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let store = SqliteStore::open(&path).unwrap();
    let signer = LocalSigner::generate().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for i in 0..EVENTS {
        let appended = rt
            .block_on(
                AuditLog {
                    storage: &store,
                    signer: &signer,
                }
                .append(vec![event(i)]),
            )
            .unwrap();
        assert_eq!(appended.first_seq, i);
        assert_eq!(appended.checkpoint.tree_size, i + 1);
    }
    Log {
        _dir: dir,
        path,
        store,
        signer,
    }
}

fn kinds(v: &gauntlet_audit::verify::Verification) -> Vec<ProblemKind> {
    v.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn an_untouched_log_verifies_and_batches_share_one_head() {
    let l = log();
    let v = l.check();
    assert!(v.ok(), "{:?}", v.problems);
    assert_eq!(
        (v.events, v.checkpoints, v.signed_checkpoints),
        (10, 10, 10)
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let batch = (10..15).map(event).collect();
    let appended = rt
        .block_on(
            AuditLog {
                storage: &l.store,
                signer: &l.signer,
            }
            .append(batch),
        )
        .unwrap();
    assert_eq!(
        (appended.first_seq, appended.checkpoint.tree_size),
        (10, 15)
    );
    let v = l.check();
    assert!(v.ok(), "{:?}", v.problems);
    assert_eq!(v.checkpoints, 11);

    // Proofs for every event verify against the newest signed head, offline.
    let proofs =
        gauntlet_audit::log::proofs(&l.store, &(0..15).collect::<Vec<_>>(), &l.trusted()).unwrap();
    for p in &proofs {
        p.verify(&l.trusted()).unwrap();
    }
    // …and a consistency proof links every older head to the newest.
    let heads = l.store.checkpoints().unwrap();
    let newest = heads.last().unwrap();
    for old in &heads {
        let proof: Vec<_> = gauntlet_audit::log::consistency(&l.store, old.tree_size, 15)
            .unwrap()
            .iter()
            .map(|h| merkle::from_hex(h).unwrap())
            .collect();
        assert!(merkle::verify_consistency(
            old.tree_size,
            15,
            &old.root_hash().unwrap(),
            &newest.root_hash().unwrap(),
            &proof
        ));
    }
}

#[test]
fn the_triggers_refuse_ordinary_updates_and_deletes() {
    let l = log();
    let conn = rusqlite::Connection::open(&l.path).unwrap();
    let err = conn
        .execute("UPDATE audit_events SET actor = 'x' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(conn.execute("DELETE FROM audit_events", []).is_err());
    assert!(conn.execute("DELETE FROM audit_checkpoints", []).is_err());
    assert!(l.check().ok());
}

#[test]
fn a_modified_event_is_named() {
    let l = log();
    l.attacker()
        .execute(
            "UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 4",
            [],
        )
        .unwrap();
    let v = l.check();
    assert!(!v.ok());
    assert_eq!(v.first_bad_index(), Some(4));
    assert!(
        kinds(&v).contains(&ProblemKind::ModifiedEvent),
        "{:?}",
        v.problems
    );
}

#[test]
fn a_modified_event_with_a_rewritten_leaf_hash_breaks_its_signed_head() {
    let l = log();
    let mut e = l.store.event(4).unwrap().unwrap().event;
    e.actor = "cli:mallory".into();
    l.attacker()
        .execute(
            "UPDATE audit_events SET actor = ?1, leaf_hash = ?2 WHERE seq = 4",
            params![e.actor, &e.leaf_hash()[..]],
        )
        .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(4), "{:?}", v.problems);
    assert_eq!(kinds(&v)[0], ProblemKind::TreeHeadMismatch);
}

#[test]
fn a_deleted_event_is_named() {
    let l = log();
    l.attacker()
        .execute("DELETE FROM audit_events WHERE seq = 6", [])
        .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(6), "{:?}", v.problems);
    assert!(kinds(&v).contains(&ProblemKind::MissingEvent));

    let l = log();
    l.attacker()
        .execute("DELETE FROM audit_events WHERE seq = 9", [])
        .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(9), "{:?}", v.problems);
    assert!(kinds(&v).contains(&ProblemKind::TruncatedLog));
}

#[test]
fn reordered_events_are_named() {
    let l = log();
    let conn = l.attacker();
    // Swap every column but the index of events 2 and 5.
    conn.execute_batch(
        "UPDATE audit_events SET seq = -1 WHERE seq = 2;
         UPDATE audit_events SET seq = 2 WHERE seq = 5;
         UPDATE audit_events SET seq = 5 WHERE seq = -1;",
    )
    .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(2), "{:?}", v.problems);
    assert_eq!(kinds(&v)[0], ProblemKind::ReorderedEvent);
}

#[test]
fn an_inserted_event_is_named() {
    let l = log();
    let conn = l.attacker();
    // Make room at index 3 and insert a well-formed event with a correct leaf hash.
    for seq in (3..EVENTS).rev() {
        conn.execute(
            "UPDATE audit_events SET seq = seq + 1 WHERE seq = ?1",
            params![seq as i64],
        )
        .unwrap();
    }
    let forged = Event {
        seq: 3,
        time: "2026-01-01T00:00:00.000Z".into(),
        tenant: "local".into(),
        actor: "cli:mallory".into(),
        action: "baseline.set".into(),
        resource: "baseline/main".into(),
        decision: None,
        reason: None,
        request_id: None,
        payload_digest: None,
        details: serde_json::json!({}),
    };
    conn.execute(
        "INSERT INTO audit_events (seq, time, tenant_id, actor, action, resource, details, leaf_hash) VALUES (3, ?1, 'local', 'cli:mallory', 'baseline.set', 'baseline/main', '{}', ?2)",
        params![forged.time, &forged.leaf_hash()[..]],
    )
    .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(3), "{:?}", v.problems);

    // Appended at the end, past every tree head.
    let l = log();
    let mut late = forged.clone();
    late.seq = EVENTS;
    l.attacker()
        .execute(
            "INSERT INTO audit_events (seq, time, tenant_id, actor, action, resource, details, leaf_hash) VALUES (?1, ?2, 'local', 'cli:mallory', 'baseline.set', 'baseline/main', '{}', ?3)",
            params![EVENTS as i64, late.time, &late.leaf_hash()[..]],
        )
        .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(EVENTS), "{:?}", v.problems);
    assert!(kinds(&v).contains(&ProblemKind::UncoveredEvent));
}

#[test]
fn a_forged_checkpoint_is_detected() {
    // Rewriting an event, its leaf and every later head's root: the signatures give it away.
    let l = log();
    let conn = l.attacker();
    let mut e = l.store.event(4).unwrap().unwrap().event;
    e.actor = "cli:mallory".into();
    conn.execute(
        "UPDATE audit_events SET actor = ?1, leaf_hash = ?2 WHERE seq = 4",
        params![e.actor, &e.leaf_hash()[..]],
    )
    .unwrap();
    let leaves = l.store.leaf_hashes(EVENTS).unwrap();
    let mut f = Frontier::new();
    let forger = LocalSigner::generate().unwrap();
    for (i, leaf) in leaves.iter().enumerate() {
        f.push(*leaf);
        let root = merkle::to_hex(&f.root());
        let size = i as i64 + 1;
        let time: String = conn
            .query_row(
                "SELECT time FROM audit_checkpoints WHERE tree_size = ?1",
                [size],
                |r| r.get(0),
            )
            .unwrap();
        let cp = Checkpoint {
            tree_size: size as u64,
            root: root.clone(),
            time,
            signature: None,
        };
        let sig = serde_json::to_string(&forger.sign_now(&cp.message())).unwrap();
        conn.execute(
            "UPDATE audit_checkpoints SET root = ?1, frontier = ?2, signature = ?3 WHERE tree_size = ?4",
            params![root, f.hashes().concat(), sig, size],
        )
        .unwrap();
    }
    let v = l.check();
    assert!(!v.ok());
    assert!(
        kinds(&v).contains(&ProblemKind::ForgedCheckpoint),
        "{:?}",
        v.problems
    );
    assert_eq!(v.signed_checkpoints, 0);

    // The same root with a trusted key's signature of another message: forged too.
    let l = log();
    let other = l.store.checkpoints().unwrap()[2].signature.clone().unwrap();
    l.attacker()
        .execute(
            "UPDATE audit_checkpoints SET signature = ?1 WHERE tree_size = 5",
            [serde_json::to_string(&other).unwrap()],
        )
        .unwrap();
    let v = l.check();
    assert_eq!(kinds(&v), vec![ProblemKind::ForgedCheckpoint]);
}

#[test]
fn truncation_is_caught_by_a_saved_head() {
    let l = log();
    let witness = gauntlet_audit::log::latest_signed(&l.store)
        .unwrap()
        .unwrap();
    let conn = l.attacker();
    conn.execute_batch(
        "DELETE FROM audit_events WHERE seq >= 8; DELETE FROM audit_checkpoints WHERE tree_size > 8;",
    )
    .unwrap();
    // Without a saved head, a clean cut at a signed head looks like a shorter log…
    assert!(l.check().ok());
    // …which the head saved earlier exposes.
    let v = verify(&l.store, &l.trusted(), Some(&witness)).unwrap();
    assert_eq!(kinds(&v), vec![ProblemKind::WitnessMismatch]);
    assert_eq!(v.first_bad_index(), Some(8));
}

#[test]
fn an_unknown_key_is_not_trusted() {
    let l = log();
    let mut other = TrustedKeys::new();
    other.add(*LocalSigner::generate().unwrap().public_key());
    let v = verify(&l.store, &other, None).unwrap();
    assert_eq!(v.signed_checkpoints, 0);
    assert!(
        v.problems
            .iter()
            .all(|p| p.kind == ProblemKind::ForgedCheckpoint && p.message.contains("not trusted"))
    );
}

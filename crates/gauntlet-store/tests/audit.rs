#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The audit log on both backends, and every class of tampering an attacker with database
//! access can try: each must be detected, naming the first bad index.

use gauntlet_audit::log::{AuditStorage, Checkpoint};
use gauntlet_audit::merkle::{self, Frontier};
use gauntlet_audit::verify::{ProblemKind, verify};
use gauntlet_audit::{AuditLog, Event, LocalSigner, NewEvent, Signer, TrustedKeys};
use gauntlet_store::db::{Db, Dialect, Val};
use gauntlet_store::{Store, params};

const EVENTS: u64 = 10;

mod support;

use support::{Backend, backends, fresh_db};

struct Log {
    _dir: tempfile::TempDir,
    db: Db,
    store: Store,
    signer: LocalSigner,
}

/// A connection as an attacker would use it: plain SQL, the append-only triggers removed.
struct Raw(Db);

impl Raw {
    fn execute(&self, sql: &str, params: &[Val]) -> Result<u64, gauntlet_store::StoreError> {
        self.0.with_conn(|c| c.execute(sql, params))
    }
    fn execute_batch(&self, sql: &str) -> Result<(), gauntlet_store::StoreError> {
        self.0.with_conn(|c| c.batch(sql))
    }
    fn query_text(&self, sql: &str, params: &[Val]) -> String {
        self.0
            .with_conn(|c| c.query_one(sql, params)?.text(0))
            .unwrap()
    }
}

impl Log {
    fn trusted(&self) -> TrustedKeys {
        let mut t = TrustedKeys::new();
        t.add(*self.signer.public_key());
        t
    }

    /// The database with its triggers in place.
    fn raw(&self) -> Raw {
        Raw(self.db.clone())
    }

    fn attacker(&self) -> Raw {
        let raw = self.raw();
        match self.db.dialect() {
            Dialect::Sqlite => raw.execute_batch(
                "DROP TRIGGER audit_events_append_only_update;
                 DROP TRIGGER audit_events_append_only_delete;
                 DROP TRIGGER audit_checkpoints_sign_once;
                 DROP TRIGGER audit_checkpoints_no_delete;",
            ),
            Dialect::Postgres => raw.execute_batch(
                "ALTER TABLE audit_events DISABLE TRIGGER USER;
                 ALTER TABLE audit_checkpoints DISABLE TRIGGER USER;",
            ),
        }
        .unwrap();
        raw
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
fn log(b: Backend) -> Log {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(b, &dir, "audit.db");
    let store = Store::from_db(db.clone()).unwrap();
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
        db,
        store,
        signer,
    }
}

fn kinds(v: &gauntlet_audit::verify::Verification) -> Vec<ProblemKind> {
    v.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn an_untouched_log_verifies_and_batches_share_one_head() {
    for b in backends("an_untouched_log_verifies_and_batches_share_one_head") {
        an_untouched_log_verifies_and_batches_share_one_head_on(b);
    }
}

fn an_untouched_log_verifies_and_batches_share_one_head_on(b: Backend) {
    let l = log(b);
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
    for b in backends("the_triggers_refuse_ordinary_updates_and_deletes") {
        the_triggers_refuse_ordinary_updates_and_deletes_on(b);
    }
}

fn the_triggers_refuse_ordinary_updates_and_deletes_on(b: Backend) {
    let l = log(b);
    let conn = l.raw();
    let err = conn
        .execute("UPDATE audit_events SET actor = 'x' WHERE seq = 1", &[])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(conn.execute("DELETE FROM audit_events", &[]).is_err());
    assert!(conn.execute("DELETE FROM audit_checkpoints", &[]).is_err());
    assert!(l.check().ok());
}

#[test]
fn a_modified_event_is_named() {
    for b in backends("a_modified_event_is_named") {
        a_modified_event_is_named_on(b);
    }
}

fn a_modified_event_is_named_on(b: Backend) {
    let l = log(b);
    l.attacker()
        .execute(
            "UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 4",
            &[],
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
    for b in backends("a_modified_event_with_a_rewritten_leaf_hash_breaks_its_signed_head") {
        a_modified_event_with_a_rewritten_leaf_hash_breaks_its_signed_head_on(b);
    }
}

fn a_modified_event_with_a_rewritten_leaf_hash_breaks_its_signed_head_on(b: Backend) {
    let l = log(b);
    let mut e = l.store.event(4).unwrap().unwrap().event;
    e.actor = "cli:mallory".into();
    l.attacker()
        .execute(
            "UPDATE audit_events SET actor = $1, leaf_hash = $2 WHERE seq = 4",
            params![e.actor.as_str(), &e.leaf_hash()[..]],
        )
        .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(4), "{:?}", v.problems);
    assert_eq!(kinds(&v)[0], ProblemKind::TreeHeadMismatch);
}

#[test]
fn a_deleted_event_is_named() {
    for b in backends("a_deleted_event_is_named") {
        a_deleted_event_is_named_on(b);
    }
}

fn a_deleted_event_is_named_on(b: Backend) {
    let l = log(b);
    l.attacker()
        .execute("DELETE FROM audit_events WHERE seq = 6", &[])
        .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(6), "{:?}", v.problems);
    assert!(kinds(&v).contains(&ProblemKind::MissingEvent));

    let l = log(b);
    l.attacker()
        .execute("DELETE FROM audit_events WHERE seq = 9", &[])
        .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(9), "{:?}", v.problems);
    assert!(kinds(&v).contains(&ProblemKind::TruncatedLog));
}

#[test]
fn reordered_events_are_named() {
    for b in backends("reordered_events_are_named") {
        reordered_events_are_named_on(b);
    }
}

fn reordered_events_are_named_on(b: Backend) {
    let l = log(b);
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
    for b in backends("an_inserted_event_is_named") {
        an_inserted_event_is_named_on(b);
    }
}

fn an_inserted_event_is_named_on(b: Backend) {
    let l = log(b);
    let conn = l.attacker();
    // Make room at index 3 and insert a well-formed event with a correct leaf hash.
    for seq in (3..EVENTS).rev() {
        conn.execute(
            "UPDATE audit_events SET seq = seq + 1 WHERE seq = $1",
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
        "INSERT INTO audit_events (seq, time, tenant_id, actor, action, resource, details, leaf_hash) VALUES (3, $1, 'local', 'cli:mallory', 'baseline.set', 'baseline/main', '{}', $2)",
        params![forged.time.as_str(), &forged.leaf_hash()[..]],
    )
    .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(3), "{:?}", v.problems);

    // Appended at the end, past every tree head.
    let l = log(b);
    let mut late = forged.clone();
    late.seq = EVENTS;
    l.attacker()
        .execute(
            "INSERT INTO audit_events (seq, time, tenant_id, actor, action, resource, details, leaf_hash) VALUES ($1, $2, 'local', 'cli:mallory', 'baseline.set', 'baseline/main', '{}', $3)",
            params![EVENTS as i64, late.time.as_str(), &late.leaf_hash()[..]],
        )
        .unwrap();
    let v = l.check();
    assert_eq!(v.first_bad_index(), Some(EVENTS), "{:?}", v.problems);
    assert!(kinds(&v).contains(&ProblemKind::UncoveredEvent));
}

#[test]
fn a_forged_checkpoint_is_detected() {
    for b in backends("a_forged_checkpoint_is_detected") {
        a_forged_checkpoint_is_detected_on(b);
    }
}

fn a_forged_checkpoint_is_detected_on(b: Backend) {
    // Rewriting an event, its leaf and every later head's root: the signatures give it away.
    let l = log(b);
    let conn = l.attacker();
    let mut e = l.store.event(4).unwrap().unwrap().event;
    e.actor = "cli:mallory".into();
    conn.execute(
        "UPDATE audit_events SET actor = $1, leaf_hash = $2 WHERE seq = 4",
        params![e.actor.as_str(), &e.leaf_hash()[..]],
    )
    .unwrap();
    let leaves = l.store.leaf_hashes(EVENTS).unwrap();
    let mut f = Frontier::new();
    let forger = LocalSigner::generate().unwrap();
    for (i, leaf) in leaves.iter().enumerate() {
        f.push(*leaf);
        let root = merkle::to_hex(&f.root());
        let size = i as i64 + 1;
        let time = conn.query_text(
            "SELECT time FROM audit_checkpoints WHERE tree_size = $1",
            params![size],
        );
        let cp = Checkpoint {
            tree_size: size as u64,
            root: root.clone(),
            time,
            signature: None,
        };
        let sig = serde_json::to_string(&forger.sign_now(&cp.message())).unwrap();
        conn.execute(
            "UPDATE audit_checkpoints SET root = $1, frontier = $2, signature = $3 WHERE tree_size = $4",
            params![root.as_str(), f.hashes().concat(), sig, size],
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
    let l = log(b);
    let other = l.store.checkpoints().unwrap()[2].signature.clone().unwrap();
    l.attacker()
        .execute(
            "UPDATE audit_checkpoints SET signature = $1 WHERE tree_size = 5",
            params![serde_json::to_string(&other).unwrap()],
        )
        .unwrap();
    let v = l.check();
    assert_eq!(kinds(&v), vec![ProblemKind::ForgedCheckpoint]);
}

#[test]
fn truncation_is_caught_by_a_saved_head() {
    for b in backends("truncation_is_caught_by_a_saved_head") {
        truncation_is_caught_by_a_saved_head_on(b);
    }
}

fn truncation_is_caught_by_a_saved_head_on(b: Backend) {
    let l = log(b);
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
    for b in backends("an_unknown_key_is_not_trusted") {
        an_unknown_key_is_not_trusted_on(b);
    }
}

fn an_unknown_key_is_not_trusted_on(b: Backend) {
    let l = log(b);
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

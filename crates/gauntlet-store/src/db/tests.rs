//! The SQL interface's tests: placeholder rewriting, and both backends running the same statements.

mod rewriting {
    use super::super::*;

    #[test]
    fn placeholders_are_rewritten_outside_quotes() {
        assert_eq!(
            sqlite_placeholders("SELECT $1, '$2' FROM t WHERE a = $12"),
            "SELECT ?1, '$2' FROM t WHERE a = ?12"
        );
        assert_eq!(sqlite_placeholders("SELECT 1"), "SELECT 1");
    }
}

mod pg_tests {
    use super::super::*;

    #[test]
    fn both_backends_run_the_same_statements() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut dbs = vec![Db::sqlite(&dir.path().join("t.db")).unwrap_or_else(|e| panic!("{e}"))];
        match scratch::postgres("db_layer").unwrap_or_else(|e| panic!("{e}")) {
            Some((db, _)) => dbs.push(db),
            None => scratch::skipped("both_backends_run_the_same_statements"),
        }
        for db in dbs {
            let migrations = [(
                "t",
                "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION, raw BYTEA)",
            )];
            let migrations: Vec<(&str, String)> = migrations
                .iter()
                .map(|(n, s)| {
                    let s = if db.dialect() == Dialect::Sqlite {
                        s.replace("BYTEA", "BLOB")
                    } else {
                        (*s).to_owned()
                    };
                    (*n, s)
                })
                .collect();
            let refs: Vec<(&str, &str)> =
                migrations.iter().map(|(n, s)| (*n, s.as_str())).collect();
            assert_eq!(db.migrate(&refs).unwrap_or_else(|e| panic!("{e}")), 1);
            assert_eq!(db.migrate(&refs).unwrap_or_else(|e| panic!("{e}")), 0);
            db.transaction(|c| {
                c.execute(
                    "INSERT INTO t (id, name, score, raw) VALUES ($1, $2, $3, $4)",
                    params![7i64, "a'$1", 0.5, vec![1u8, 2]],
                )?;
                c.execute(
                    "INSERT INTO t (id, name, score, raw) VALUES ($1, $2, $3, $4)",
                    params![8i64, Option::<String>::None, 1.0, Option::<Vec<u8>>::None],
                )
            })
            .unwrap_or_else(|e| panic!("{e}"));
            let rows = db
                .with_conn(|c| {
                    c.query(
                        "SELECT id, name, score, raw, now_ms() FROM t ORDER BY id",
                        &[],
                    )
                })
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[0].text(1).ok().as_deref(), Some("a'$1"));
            assert_eq!(rows[0].blob(3).ok(), Some(vec![1, 2]));
            assert_eq!(rows[1].opt_text(1).ok(), Some(None));
            assert!(rows[0].int(4).unwrap_or(0) > 1_700_000_000_000);
            // A failed transaction leaves nothing behind.
            let failed = db.transaction(|c| {
                c.execute("INSERT INTO t (id) VALUES ($1)", params![9i64])?;
                c.execute("INSERT INTO t (id) VALUES ($1)", params![9i64])
            });
            assert!(failed.is_err());
            let n = db
                .with_conn(|c| c.query_one("SELECT COUNT(*) FROM t", &[])?.int(0))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(n, 2);
        }
    }
}

//! What the dashboard reads: runs by filter, a run's cases and assertions a page at a time,
//! the values to filter on. Every read is one indexed statement bounded by its page, so a page
//! costs the same with a thousand stored results or a million.

use gauntlet_core::ids::{RunId, TenantId};
use gauntlet_core::result::{CaseStatus, RunRecord, RunStats, Tokens};

use crate::db::{Db, Row, Val};
use crate::store::runs::{RUN_COLUMNS, run_from_row};
use crate::{Result, StoreError};

/// The longest page any read returns.
pub const MAX_PAGE: usize = 500;

/// Which runs to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct RunQuery {
    pub suite: Option<String>,
    /// Runs with at least one case of this target.
    pub target: Option<String>,
    pub status: Option<String>,
    /// Runs with at least one case carrying this tag.
    pub tag: Option<String>,
    /// RFC 3339 bounds on the start time (inclusive, exclusive); a date alone is its midnight.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Part of the id, project or suite.
    pub text: Option<String>,
    /// Continue after this run (the last of the previous page).
    pub after: Option<RunCursor>,
    pub limit: usize,
}

/// Where a page of runs ends: its last run's start time and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunCursor {
    pub started_at: String,
    pub id: String,
}

impl RunCursor {
    /// `started_at|id`, as links carry it.
    pub fn encode(&self) -> String {
        format!("{}|{}", self.started_at, self.id)
    }

    pub fn decode(s: &str) -> Option<RunCursor> {
        let (started_at, id) = s.split_once('|')?;
        Some(RunCursor {
            started_at: started_at.to_owned(),
            id: id.to_owned(),
        })
    }
}

pub struct Page<T> {
    pub items: Vec<T>,
    /// More follow.
    pub more: bool,
}

/// A case as a list shows it: no transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseRow {
    pub index: u32,
    pub id: String,
    pub trial: u32,
    pub target: String,
    pub status: CaseStatus,
    pub score: f64,
    pub reason: Option<String>,
    pub latency_ms: f64,
    pub cost_usd: f64,
    pub tokens: Tokens,
}

#[derive(Clone, Debug, Default)]
pub struct CaseQuery {
    pub status: Option<CaseStatus>,
    pub target: Option<String>,
    /// Part of the case id, its reason or its input.
    pub text: Option<String>,
    /// Continue after this index.
    pub after: Option<u32>,
    pub limit: usize,
}

/// One assertion of one case.
#[derive(Clone, Debug, PartialEq)]
pub struct AssertionRow {
    pub case_index: u32,
    pub assertion_index: u32,
    pub case_id: String,
    pub target: String,
    pub kind: String,
    pub pass: bool,
    pub score: f64,
    pub reason: String,
    pub node: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct AssertionQuery {
    pub kind: Option<String>,
    pub failed_only: bool,
    /// Continue after this (case index, assertion index).
    pub after: Option<(u32, u32)>,
    pub limit: usize,
}

#[derive(Clone)]
pub struct Explore {
    db: Db,
}

fn page_size(limit: usize) -> usize {
    if limit == 0 { 50 } else { limit.min(MAX_PAGE) }
}

/// `%text%` for LIKE, with the wildcards of the text escaped (`\` is the escape character).
fn like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Statement text and its values, built up clause by clause.
struct Sql {
    text: String,
    values: Vec<Val>,
}

impl Sql {
    fn new(text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            values: Vec::new(),
        }
    }

    /// Appends `clause`, in which `?` stands for the next value.
    fn and(&mut self, clause: &str, values: impl IntoIterator<Item = Val>) {
        let mut clause = clause.to_owned();
        for v in values {
            self.values.push(v);
            clause = clause.replacen('?', &format!("${}", self.values.len()), 1);
        }
        self.text.push_str(" AND ");
        self.text.push_str(&clause);
    }

    fn bind(&mut self, v: Val) -> String {
        self.values.push(v);
        format!("${}", self.values.len())
    }
}

fn status_of(s: &str) -> Result<CaseStatus> {
    CaseStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown case status `{s}`")))
}

impl Explore {
    pub fn new(db: Db) -> Explore {
        Explore { db }
    }

    /// A page of runs, newest first.
    pub fn runs(&self, tenant: &TenantId, q: &RunQuery) -> Result<Page<RunRecord>> {
        let limit = page_size(q.limit);
        let mut sql = Sql::new(format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1"
        ));
        sql.values.push(tenant.as_str().into());
        if let Some(s) = &q.suite {
            sql.and("suite = ?", [s.as_str().into()]);
        }
        if let Some(s) = &q.status {
            sql.and("status = ?", [s.as_str().into()]);
        }
        for (kind, value) in [("target", &q.target), ("tag", &q.tag)] {
            if let Some(v) = value {
                sql.and(
                    &format!("EXISTS (SELECT 1 FROM run_facets f WHERE f.tenant_id = runs.tenant_id AND f.kind = '{kind}' AND f.value = ? AND f.run_id = runs.id)"),
                    [v.as_str().into()],
                );
            }
        }
        if let Some(s) = &q.since {
            sql.and("started_at >= ?", [s.as_str().into()]);
        }
        if let Some(s) = &q.until {
            sql.and("started_at < ?", [s.as_str().into()]);
        }
        if let Some(t) = &q.text {
            let pattern = like(&t.to_ascii_uppercase());
            let any = like(t);
            sql.and(
                "(id LIKE ? ESCAPE '\\' OR suite LIKE ? ESCAPE '\\' OR project LIKE ? ESCAPE '\\')",
                [pattern.into(), any.clone().into(), any.into()],
            );
        }
        if let Some(c) = &q.after {
            let (a, b) = (
                sql.bind(c.started_at.as_str().into()),
                sql.bind(c.id.as_str().into()),
            );
            sql.text.push_str(&format!(
                " AND (started_at < {a} OR (started_at = {a} AND id < {b}))"
            ));
        }
        let n = sql.bind(Val::Int((limit + 1) as i64));
        sql.text
            .push_str(&format!(" ORDER BY started_at DESC, id DESC LIMIT {n}"));
        let rows = self.db.with_conn(|c| c.query(&sql.text, &sql.values))?;
        let mut items: Vec<RunRecord> = rows.iter().map(run_from_row).collect::<Result<_>>()?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, more })
    }

    /// The suites a tenant has runs of, and the targets and tags of its finished runs.
    pub fn facets(&self, tenant: &TenantId) -> Result<Facets> {
        self.db.with_conn(|c| {
            let suites = c
                .query(
                    "SELECT DISTINCT suite FROM runs WHERE tenant_id = $1 ORDER BY suite LIMIT 200",
                    &[tenant.as_str().into()],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect::<Result<_>>()?;
            let mut of = |kind: &str| -> Result<Vec<String>> {
                c.query(
                    "SELECT DISTINCT value FROM run_facets WHERE tenant_id = $1 AND kind = $2 ORDER BY value LIMIT 200",
                    &[tenant.as_str().into(), kind.into()],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect()
            };
            Ok(Facets {
                suites,
                targets: of("target")?,
                tags: of("tag")?,
            })
        })
    }

    /// A finished run's statistics (none while it runs, or for runs stored before them).
    pub fn stats(&self, tenant: &TenantId, run: &RunId) -> Result<Option<RunStats>> {
        let text = self.db.with_conn(|c| {
            c.query_opt(
                "SELECT stats FROM runs WHERE tenant_id = $1 AND id = $2",
                &[tenant.as_str().into(), run.as_str().into()],
            )?
            .map(|r| r.opt_text(0))
            .transpose()
        })?;
        match text.flatten() {
            Some(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("run statistics: {e}"))),
            None => Ok(None),
        }
    }

    /// A page of a run's cases, in index order.
    pub fn cases(&self, tenant: &TenantId, run: &RunId, q: &CaseQuery) -> Result<Page<CaseRow>> {
        let limit = page_size(q.limit);
        let mut sql = Sql::new(
            "SELECT idx, case_id, trial, target, status, score, reason, latency_ms, cost_usd, tokens_input, tokens_output
             FROM cases WHERE tenant_id = $1 AND run_id = $2",
        );
        sql.values
            .extend([tenant.as_str().into(), run.as_str().into()]);
        if let Some(s) = q.status {
            sql.and("status = ?", [s.as_str().into()]);
        }
        if let Some(t) = &q.target {
            sql.and("target = ?", [t.as_str().into()]);
        }
        if let Some(t) = &q.text {
            let p = like(t);
            sql.and(
                "(case_id LIKE ? ESCAPE '\\' OR reason LIKE ? ESCAPE '\\' OR input LIKE ? ESCAPE '\\')",
                [p.clone().into(), p.clone().into(), p.into()],
            );
        }
        if let Some(a) = q.after {
            sql.and("idx > ?", [Val::Int(i64::from(a))]);
        }
        let n = sql.bind(Val::Int((limit + 1) as i64));
        sql.text.push_str(&format!(" ORDER BY idx LIMIT {n}"));
        let rows = self.db.with_conn(|c| c.query(&sql.text, &sql.values))?;
        let mut items = rows.iter().map(case_row).collect::<Result<Vec<_>>>()?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, more })
    }

    /// How many cases of a run have each status (for the filter's counts).
    pub fn case_counts(&self, tenant: &TenantId, run: &RunId) -> Result<Vec<(CaseStatus, u64)>> {
        let rows = self.db.with_conn(|c| {
            c.query(
                "SELECT status, COUNT(*) FROM cases WHERE tenant_id = $1 AND run_id = $2 GROUP BY status",
                &[tenant.as_str().into(), run.as_str().into()],
            )
        })?;
        rows.iter()
            .map(|r| Ok((status_of(&r.text(0)?)?, r.int(1)? as u64)))
            .collect()
    }

    /// A page of a run's assertions across its cases.
    pub fn assertions(
        &self,
        tenant: &TenantId,
        run: &RunId,
        q: &AssertionQuery,
    ) -> Result<Page<AssertionRow>> {
        let limit = page_size(q.limit);
        let mut sql = Sql::new(
            "SELECT a.case_idx, a.assertion_idx, c.case_id, c.target, a.type, a.pass, a.score, a.reason, a.node
             FROM assertions a JOIN cases c ON c.tenant_id = a.tenant_id AND c.run_id = a.run_id AND c.idx = a.case_idx
             WHERE a.tenant_id = $1 AND a.run_id = $2",
        );
        sql.values
            .extend([tenant.as_str().into(), run.as_str().into()]);
        if let Some(k) = &q.kind {
            sql.and("a.type = ?", [k.as_str().into()]);
        }
        if q.failed_only {
            sql.text.push_str(" AND a.pass = 0");
        }
        if let Some((ci, ai)) = q.after {
            let (c, a) = (
                sql.bind(Val::Int(i64::from(ci))),
                sql.bind(Val::Int(i64::from(ai))),
            );
            sql.text.push_str(&format!(
                " AND (a.case_idx > {c} OR (a.case_idx = {c} AND a.assertion_idx > {a}))"
            ));
        }
        let n = sql.bind(Val::Int((limit + 1) as i64));
        sql.text
            .push_str(&format!(" ORDER BY a.case_idx, a.assertion_idx LIMIT {n}"));
        let rows = self.db.with_conn(|c| c.query(&sql.text, &sql.values))?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(AssertionRow {
                    case_index: r.int(0)? as u32,
                    assertion_index: r.int(1)? as u32,
                    case_id: r.text(2)?,
                    target: r.text(3)?,
                    kind: r.text(4)?,
                    pass: r.bool(5)?,
                    score: r.real(6)?,
                    reason: r.text(7)?,
                    node: r.opt_text(8)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, more })
    }
}

/// What the run list can be filtered on.
#[derive(Clone, Debug, Default)]
pub struct Facets {
    pub suites: Vec<String>,
    pub targets: Vec<String>,
    pub tags: Vec<String>,
}

fn case_row(r: &Row) -> Result<CaseRow> {
    Ok(CaseRow {
        index: u32::try_from(r.int(0)?)
            .map_err(|_| StoreError::Corrupt("a case index is out of range".into()))?,
        id: r.text(1)?,
        trial: r.int(2)? as u32,
        target: r.text(3)?,
        status: status_of(&r.text(4)?)?,
        score: r.real(5)?,
        reason: r.opt_text(6)?,
        latency_ms: r.real(7)?,
        cost_usd: r.real(8)?,
        tokens: Tokens {
            input: r.int(9)? as u64,
            output: r.int(10)? as u64,
        },
    })
}

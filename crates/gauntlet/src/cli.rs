//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gauntlet",
    version,
    about = "Test and govern multi-agent AI systems",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Scaffold a working example project
    Init(InitArgs),
    /// Check specification files; every error as file:line:col with a hint
    Validate(ValidateArgs),
    /// Run suites and store the results
    Run(RunArgs),
    /// Stored run history
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Write a stored run as a report
    Report(ReportArgs),
    /// Compare two stored runs: configuration, and case by case; exit 1 on a regression
    Diff(DiffArgs),
    /// Turn a stored run into a regression suite (anonymised, deduplicated)
    GenerateTests(GenerateArgs),
    /// Detect drift over the stored history of a suite; exit 1 when something drifted
    Drift(DriftArgs),
    /// Re-execute a stored run from its files, seed and cassettes; exit 0 when it reproduces exactly
    Replay(ReplayArgs),
    /// Compare the targets of a stored run: leaderboard, significance, winners
    Compare(CompareArgs),
    /// Run a suite N times with derived seeds: pass rates with 95% intervals, readiness
    Simulate(SimulateArgs),
    /// Named reference runs for regression gates (`run --baseline NAME`)
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// The tamper-evident audit log: verify, proofs, export, signed run bundles
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Signed contract versions: sign them, and check them in CI (exit 1 on an unsigned change)
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Retention policies: delete old runs, purge or anonymise their transcripts
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Serve the project's mock agents as an OpenAI- and Anthropic-compatible HTTP API
    MockServer(MockServerArgs),
    /// The governance gateway: an OpenAI- and Anthropic-compatible proxy that enforces the
    /// project's `gateway` block (keys, budgets, rate limits, guardrails, kill switches)
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// MCP servers of the project
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Print the JSON Schema of the specification format
    Schema,
    /// Open the dashboard over the local store beside a project (loopback only, no sign-in)
    View(ViewArgs),
    /// Serve the multi-tenant REST API (/api/v1) and the dashboard, with its run workers
    Serve(ServeArgs),
    /// Execute queued runs from the server's database (PostgreSQL: any number of workers on
    /// any number of machines), without serving the API
    Worker(WorkerArgs),
    /// Apply the database migrations and exit
    Migrate(ServerDbArgs),
    /// Server administration
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Args, Clone)]
pub struct ServerDbArgs {
    /// The server's database: a SQLite file path or a postgres:// URL
    #[arg(
        long = "database-url",
        env = "GAUNTLET_DATABASE_URL",
        default_value = ".gauntlet/server.db"
    )]
    pub database_url: String,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: ServerDbArgs,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Runs executed at once by this process (0: serve the API only and leave the runs to
    /// `gauntlet worker` processes on the same PostgreSQL database)
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    #[command(flatten)]
    pub runner: RunnerArgs,
    /// Requests per second allowed per API key (burst: twice that)
    #[arg(long, default_value_t = 100)]
    pub rate_limit: u32,
    /// Largest request body accepted, in bytes
    #[arg(long, default_value_t = 8 << 20)]
    pub max_body: usize,
    /// Failed authentications allowed per client address and second (burst: twice that)
    #[arg(long, default_value_t = 20)]
    pub auth_failure_limit: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it)
    #[arg(long)]
    pub trust_forwarded_for: bool,
    /// Also accept JWT bearer tokens from this OIDC issuer (its `iss`)
    #[arg(long, env = "GAUNTLET_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The audience (`aud`) bearer tokens must be for [default: --oidc-client-id]
    #[arg(long, env = "GAUNTLET_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// The issuer's JWKS URL [default: the jwks_uri of its discovery document]
    #[arg(long, env = "GAUNTLET_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,
    /// The claim naming the caller's tenant
    #[arg(long, default_value = "gauntlet_tenant")]
    pub oidc_tenant_claim: String,
    /// The claim naming a role, used when no stored user matches the token
    #[arg(long, default_value = "gauntlet_role")]
    pub oidc_role_claim: String,
    /// Match a token whose subject is no stored user by its `email` claim, when the issuer
    /// marked it `email_verified`
    #[arg(long)]
    pub oidc_match_email: bool,
    /// Clock skew allowed on `exp` and `nbf`, in seconds
    #[arg(long, default_value_t = 60)]
    pub oidc_leeway: u64,
    /// Single sign-on to the dashboard: this server's client id at the issuer
    #[arg(long, env = "GAUNTLET_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// The client secret, for issuers that want one besides PKCE
    #[arg(long, env = "GAUNTLET_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// The dashboard's callback URL as registered at the issuer [default: http://ADDRESS/auth/callback, the address it listens on]
    #[arg(long, env = "GAUNTLET_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,
    /// The ID token claim that lists the user's groups
    #[arg(long, default_value = "groups")]
    pub oidc_groups_claim: String,
    /// GROUP=ROLE: users in GROUP get ROLE (repeatable; the first match wins; synced at each sign-in)
    #[arg(
        long = "oidc-group-role",
        value_name = "GROUP=ROLE",
        env = "GAUNTLET_OIDC_GROUP_ROLES",
        value_delimiter = ','
    )]
    pub oidc_group_roles: Vec<String>,
    /// The role of a new single sign-on user whose groups map to none [default: refuse them]
    #[arg(long, env = "GAUNTLET_OIDC_DEFAULT_ROLE")]
    pub oidc_default_role: Option<String>,
    /// The tenant of single sign-on users whose token names none
    #[arg(long, env = "GAUNTLET_OIDC_TENANT")]
    pub oidc_tenant: Option<String>,
    /// How long a dashboard session lasts, in hours
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub session_hours: u64,
}

/// What every process that executes runs needs: `gauntlet serve` and `gauntlet worker`.
#[derive(Args)]
pub struct RunnerArgs {
    /// Seconds a worker's claim on a run lasts without a heartbeat (renewed every third of
    /// it): a run whose process died is taken up again after at most this long
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease: u64,
    /// On SIGTERM, seconds the runs in hand may take to finish before they are handed back
    /// to the queue (another worker resumes them from their journal) [default: 0 for serve,
    /// 25 for worker, inside Kubernetes' 30 s termination grace]
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub grace: Option<u64>,
    /// The queues to claim runs from, in order (comma-separated)
    #[arg(long, value_delimiter = ',', default_value = "runs")]
    pub queues: Vec<String>,
    /// The Ed25519 key (PKCS#8 PEM) that signs audit tree heads [default: ~/.config/gauntlet/audit-ed25519.pem]
    #[arg(long, env = "GAUNTLET_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,
    /// The key that seals tenants' secrets (created on first use; keep it out of the
    /// database's backups; every process on one database needs the same) [default: ~/.config/gauntlet/secrets.key]
    #[arg(long, env = "GAUNTLET_SECRETS_KEY")]
    pub secrets_key: Option<PathBuf>,
    /// Where the server makes private directories for sandboxed programs
    #[arg(long, env = "GAUNTLET_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
}

/// `gauntlet worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// The server's PostgreSQL database (postgres://…), shared with `gauntlet serve`
    #[arg(long = "database-url", env = "GAUNTLET_DATABASE_URL")]
    pub database_url: String,
    /// Runs executed at once by this process
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
    /// Serve /metrics, /healthz and /readyz on this address (no sign-in: keep it off public
    /// networks)
    #[arg(long)]
    pub metrics_listen: Option<String>,
    #[command(flatten)]
    pub runner: RunnerArgs,
}

#[derive(Args)]
pub struct ViewArgs {
    /// The project whose results to show (its .gauntlet/gauntlet.db)
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Address to listen on (a loopback address: the local view has no sign-in)
    #[arg(long, default_value = "127.0.0.1:8484")]
    pub listen: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a platform administrator and print its API key (shown once)
    Create(AdminCreateArgs),
}

#[derive(Args)]
pub struct AdminCreateArgs {
    #[command(flatten)]
    pub db: ServerDbArgs,
    /// The administrator's tenant (created if missing)
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// The administrator's user id
    #[arg(long, default_value = "admin")]
    pub user: String,
}

#[derive(Args)]
pub struct MockServerArgs {
    /// A specification file or a directory of them; the request's `model` names the agent
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Port to listen on (0 picks a free one and prints it)
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Seed of the mock's random choices (each request derives its own from it)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Subcommand)]
pub enum GatewayCommand {
    /// Serve the proxy (/v1/chat/completions, /v1/messages, /v1/models) and its
    /// administration (/gateway/v1/…), /metrics and /healthz
    Serve(GatewayServeArgs),
    /// Create a gateway key in the database, bound to a tenant and an agent; prints it once
    Key(GatewayKeyArgs),
    /// Stop all traffic of every gateway on the database (the global kill switch)
    Kill(GatewaySwitchArgs),
    /// Lift the global kill switch
    Resume(GatewaySwitchArgs),
}

#[derive(Args)]
pub struct GatewayServeArgs {
    /// The project whose `providers` and `gateway` block the gateway serves
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Address to listen on (port 0 picks a free one and prints it)
    #[arg(long, default_value = "127.0.0.1:8790")]
    pub listen: String,
    /// A database shared with other gateway instances (a postgres:// URL or a SQLite path):
    /// budgets, rate windows, kill switches and keys are then counted and read there. Without
    /// it, counters are kept in memory and written to the local store once a second
    #[arg(long = "database-url", env = "GAUNTLET_GATEWAY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Without --database-url: the local store for usage, counters and the audit log
    /// [default: .gauntlet/gauntlet.db beside the project]
    #[arg(long, env = "GAUNTLET_DATABASE_URL")]
    pub store: Option<String>,
    /// The Ed25519 key (PKCS#8 PEM) that signs audit tree heads [default: ~/.config/gauntlet/audit-ed25519.pem]
    #[arg(long, env = "GAUNTLET_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,
}

#[derive(Args)]
pub struct GatewayKeyArgs {
    #[arg(long = "database-url", env = "GAUNTLET_GATEWAY_DATABASE_URL")]
    pub database_url: String,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub agent: String,
    /// The key may flip its tenant's switches, manage its agents and read invoices
    #[arg(long)]
    pub admin: bool,
}

#[derive(Args)]
pub struct GatewaySwitchArgs {
    #[arg(long = "database-url", env = "GAUNTLET_GATEWAY_DATABASE_URL")]
    pub database_url: String,
    /// The global switch (every tenant); required, so that it is never flipped by accident
    #[arg(long, required = true)]
    pub global: bool,
    #[arg(long, default_value = "stopped by the operator")]
    pub reason: String,
}

#[derive(Subcommand)]
pub enum McpCommand {
    /// Connect to a server and list its tools (after `tools_filter`), resources and prompts
    List(McpListArgs),
}

#[derive(Args)]
pub struct McpListArgs {
    /// The server's name in `mcp_servers:`
    pub server: String,
    /// A specification file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Most resources to list
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Args)]
pub struct InitArgs {
    /// Directory to create the project in
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite existing files
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// A specification file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

#[derive(Args, Clone)]
pub struct StoreArgs {
    /// The result store: a SQLite file path or `sqlite://PATH` (commands that read, such as
    /// `audit verify`, also a postgres:// URL) [default: .gauntlet/gauntlet.db beside the project]
    #[arg(
        long,
        visible_alias = "database-url",
        env = "GAUNTLET_DATABASE_URL",
        global = true
    )]
    pub db: Option<String>,
    /// The Ed25519 key (PKCS#8 PEM) that signs audit tree heads, created with mode 0600 on first use [default: ~/.config/gauntlet/audit-ed25519.pem]
    #[arg(long, env = "GAUNTLET_AUDIT_KEY", global = true)]
    pub audit_key: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct ReadStoreArgs {
    /// The project whose results to read (its .gauntlet/gauntlet.db)
    #[arg(long, short = 'p', default_value = ".")]
    pub project: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct RunArgs {
    /// A specification file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Run only these suites (repeatable) [default: all]
    #[arg(long = "suite", short = 's')]
    pub suites: Vec<String>,
    /// Run only cases with these ids (repeatable)
    #[arg(long = "case")]
    pub cases: Vec<String>,
    /// Seed for every random choice; the same seed and files give the same results
    #[arg(long, env = "GAUNTLET_SEED")]
    pub seed: Option<u64>,
    /// Cases in flight at once [default: 4 × CPU cores]
    #[arg(short = 'j', long = "concurrency", env = "GAUNTLET_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Write a report; the format follows the extension: .json .xml .md .csv .html (repeatable)
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<PathBuf>,
    /// No progress bar, even on a terminal
    #[arg(long, env = "GAUNTLET_NO_PROGRESS")]
    pub no_progress: bool,
    /// Print only the summary and the run id
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Run every case N times with derived seeds and classify flaky cases
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repeat: u32,
    /// Inject faults into every suite of the run with a named profile (cases with their own
    /// `chaos` block keep it); seeded, so the same `--seed` injects the same faults.
    #[arg(long, value_name = "PROFILE", value_parser = gauntlet_core::chaos::Chaos::PROFILES)]
    pub chaos: Option<String>,
    /// Record every provider and tool interaction under .gauntlet/cassettes/SUITE/
    /// Run as the server runs a tenant's suite: only the project directory's files, no
    /// process environment, no programs, no internal network addresses.
    #[arg(long, conflicts_with_all = ["record", "replay"])]
    pub sandbox: bool,
    #[arg(long, conflicts_with = "replay")]
    pub record: bool,
    /// Serve recorded interactions: `strict` fails a case on an unrecorded request, `lenient`
    /// calls the provider and records it
    #[arg(long, num_args = 0..=1, default_missing_value = "strict", value_parser = ["strict", "lenient"])]
    pub replay: Option<String>,
    /// Set by `replay`: where cassettes live when the files run from elsewhere.
    #[arg(skip)]
    pub cassette_dir: Option<PathBuf>,
    /// Set by commands built on `run` that print their own report instead of the summary.
    #[arg(skip)]
    pub no_summary: bool,
    /// Fail (exit 1) when the run is worse than this baseline beyond the tolerances
    #[arg(long)]
    pub baseline: Option<String>,
    /// Gate: percentage points the pass rate may fall
    #[arg(long, default_value_t = 0.0, requires = "baseline")]
    pub max_pass_rate_drop: f64,
    /// Gate: how far any case's score (0–1) may fall
    #[arg(long, default_value_t = 0.0, requires = "baseline")]
    pub max_score_drop: f64,
    /// Gate: relative rise of the mean cost per case, e.g. 10% or 0.1
    #[arg(long, default_value = "10%", value_parser = parse_ratio, requires = "baseline")]
    pub max_cost_increase: f64,
    /// Gate: relative rise of the mean latency per case, e.g. 20% or 0.2
    #[arg(long, default_value = "20%", value_parser = parse_ratio, requires = "baseline")]
    pub max_latency_increase: f64,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand)]
pub enum RunsCommand {
    /// List stored runs, newest first
    List(ListArgs),
    /// Show one run: summary and every case
    Show(ShowArgs),
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long)]
    pub suite: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct ShowArgs {
    /// Run id, a unique prefix of it, or `latest`
    pub run: String,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Run id, a unique prefix of it, or `latest`
    pub run: String,
    /// json, junit, markdown, csv or html
    #[arg(long, short = 'f', default_value = "markdown")]
    pub format: String,
    /// Write to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The earlier run (id, unique prefix, or `latest`)
    pub a: String,
    /// The later run (id, unique prefix, or `latest`)
    pub b: String,
    /// text, markdown, json or html
    #[arg(long, short = 'f', default_value = "text")]
    pub format: String,
    /// Write to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

/// `10%` or `0.1`.
fn parse_ratio(s: &str) -> Result<f64, String> {
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a ratio such as 10% or 0.1"))?;
    if v.is_nan() || v < 0.0 {
        return Err(format!("`{s}` must not be negative"));
    }
    Ok(v)
}

#[derive(Subcommand)]
pub enum BaselineCommand {
    /// Make a stored run the baseline called NAME (replacing any earlier one)
    Set(BaselineSetArgs),
    /// List baselines
    List(BaselineListArgs),
}

#[derive(Args)]
pub struct BaselineSetArgs {
    /// Run id, a unique prefix of it, or `latest`
    pub run: String,
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct BaselineListArgs {
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// A specification file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The suite to simulate [default: every suite]
    #[arg(long = "suite", short = 's')]
    pub suites: Vec<String>,
    /// Trials per case
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub trials: u32,
    /// Seed of the first trial; later trials derive theirs from it
    #[arg(long, env = "GAUNTLET_SEED")]
    pub seed: Option<u64>,
    #[arg(short = 'j', long = "concurrency", env = "GAUNTLET_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Check the results against expectations (YAML or JSON); exit 1 when one is not met
    #[arg(long)]
    pub expect: Option<PathBuf>,
    /// Write the simulation results as JSON
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Run id, a unique prefix of it, or `latest`
    pub run: String,
    /// text or json
    #[arg(long, short = 'f', default_value = "text")]
    pub format: String,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct DriftArgs {
    /// The project whose stored history to analyse
    #[arg(default_value = ".")]
    pub path: PathBuf,
    #[arg(long, short = 's')]
    pub suite: String,
    /// How many of the most recent finished runs to analyse
    #[arg(long, default_value_t = 30)]
    pub last: usize,
    /// Significance level (after Bonferroni correction)
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Outputs less similar than this to the first recorded one have drifted
    #[arg(long, default_value_t = 0.8)]
    pub min_similarity: f64,
    /// text or json
    #[arg(long, short = 'f', default_value = "text")]
    pub format: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Run id, a unique prefix of it, or `latest`
    #[arg(required_unless_present = "traffic", conflicts_with = "traffic")]
    pub run: Option<String>,
    /// Traffic the gateway recorded instead of a run: a `traffic-<day>.jsonl` file or the
    /// directory of them (the gateway's `record.dir`)
    #[arg(long, value_name = "PATH")]
    pub traffic: Option<PathBuf>,
    /// Name of the generated suite [default: SUITE-regression, or `traffic` for --traffic]
    #[arg(long)]
    pub name: Option<String>,
    /// Write the suite to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// Run id, a unique prefix of it, or `latest`
    pub run: String,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the Merkle tree and check every signed tree head; exit 1 naming the first bad event
    Verify(AuditVerifyArgs),
    /// List audit events, newest last
    Log(AuditLogArgs),
    /// Print an inclusion proof of an event (JSON), checkable offline with `audit verify-proof`
    Proof(AuditProofArgs),
    /// Check an inclusion proof offline with a public key
    VerifyProof(VerifyFileArgs),
    /// Export events for a SIEM: JSON lines or RFC 5424 syslog
    Export(AuditExportArgs),
    /// Write a signed, gzip-compressed audit bundle of a run
    Bundle(AuditBundleArgs),
    /// Check an audit bundle offline with a public key
    VerifyBundle(VerifyFileArgs),
    /// Print the newest signed tree head; keep it, and `verify --witness` detects rewritten history
    Head(AuditReadArgs),
    /// Print the public half of the audit signing key (PEM) and its id
    Key(AuditKeyArgs),
}

#[derive(Args)]
pub struct AuditReadArgs {
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct AuditVerifyArgs {
    /// Trusted public key (PEM); repeat for rotated keys [default: the local audit key]
    #[arg(long = "public-key")]
    pub public_keys: Vec<PathBuf>,
    /// A tree head saved earlier with `audit head`: the log must still contain it unchanged
    #[arg(long)]
    pub witness: Option<PathBuf>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct AuditLogArgs {
    /// Only events with this action (e.g. `run.finish`)
    #[arg(long)]
    pub action: Option<String>,
    /// Show at most this many (the newest)
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct AuditProofArgs {
    /// The event's index in the log
    pub event: u64,
    /// Write the proof to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct VerifyFileArgs {
    /// The file to check
    pub file: PathBuf,
    /// Trusted public key (PEM); repeat for rotated keys [default: the local audit key]
    #[arg(long = "public-key")]
    pub public_keys: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct AuditExportArgs {
    /// jsonl or syslog
    #[arg(long, short = 'f', default_value = "jsonl")]
    pub format: String,
    /// Start at this event index (for incremental shipping)
    #[arg(long, default_value_t = 0)]
    pub since: u64,
    /// Write to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct AuditBundleArgs {
    /// Run id, a unique prefix of it, or `latest`
    pub run: String,
    /// The bundle file [default: audit-bundle-RUN.jsonl.gz]
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: ReadStoreArgs,
}

#[derive(Args)]
pub struct AuditKeyArgs {
    /// Write the public key to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand)]
pub enum ContractCommand {
    /// Sign the current version of named contracts into gauntlet.contracts.lock
    Sign(ContractSignArgs),
    /// Check contracts against gauntlet.contracts.lock; exit 1 on a change without a new signed version
    Check(ContractCheckArgs),
}

#[derive(Args)]
pub struct ContractSignArgs {
    /// A specification file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Only these contracts [default: every named contract]
    #[arg(long = "contract")]
    pub contracts: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct ContractCheckArgs {
    /// A specification file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Pin the signing key (PEM) instead of trusting the keys recorded in the lock
    #[arg(long = "public-key")]
    pub public_keys: Vec<PathBuf>,
    /// Fail on contracts that were never signed
    #[arg(long)]
    pub require_signed: bool,
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Apply the retention policies of the project and its suites to the stored runs
    Apply(RetentionApplyArgs),
}

#[derive(Args)]
pub struct RetentionApplyArgs {
    /// A specification file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Show what would be purged, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Judge ages as of this time (RFC 3339) instead of now
    #[arg(long)]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

//! The `gauntlet` command: parses arguments, wires the library crates together and maps
//! outcomes to exit codes (0 passed, 1 failed, 2 invalid input or usage, 3 internal error).

mod audit;
mod cassettes;
mod cli;
mod contract;
mod external;
mod gateway;
mod history;
mod init;
mod output;
mod project;
mod replay;
mod retention;
mod run;
mod server;
mod simulate;

use std::process::ExitCode;

use clap::Parser;

// Specification loading and result streaming make millions of small allocations; mimalloc
// handles them about twice as fast as the system allocator (see `cargo bench-run`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a command concluded, mapped to the process exit code.
pub enum Outcome {
    Passed,
    Failed,
    Invalid,
}

/// An error that is the user's to fix (bad input or usage): exit 2 instead of 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The async runtime a command that serves or connects runs on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let result = match args.command {
        cli::Command::Init(a) => init::run(&a),
        cli::Command::Validate(a) => project::validate_command(&a),
        cli::Command::Run(a) => run::run(a),
        cli::Command::Runs(cli::RunsCommand::List(a)) => history::list(&a),
        cli::Command::Runs(cli::RunsCommand::Show(a)) => history::show(&a),
        cli::Command::Report(a) => history::report(&a),
        cli::Command::Diff(a) => history::diff(&a),
        cli::Command::Simulate(a) => simulate::simulate(a),
        cli::Command::Compare(a) => history::compare(&a),
        cli::Command::Replay(a) => replay::replay(&a),
        cli::Command::Drift(a) => history::drift(&a),
        cli::Command::GenerateTests(a) => history::generate_tests(&a),
        cli::Command::Baseline(cli::BaselineCommand::Set(a)) => history::baseline_set(&a),
        cli::Command::Baseline(cli::BaselineCommand::List(a)) => history::baseline_list(&a),
        cli::Command::Audit(c) => match c {
            cli::AuditCommand::Verify(a) => audit::verify(&a),
            cli::AuditCommand::Log(a) => audit::log(&a),
            cli::AuditCommand::Proof(a) => audit::proof(&a),
            cli::AuditCommand::VerifyProof(a) => audit::verify_proof(&a),
            cli::AuditCommand::Export(a) => audit::export(&a),
            cli::AuditCommand::Bundle(a) => audit::bundle(&a),
            cli::AuditCommand::VerifyBundle(a) => audit::verify_bundle(&a),
            cli::AuditCommand::Head(a) => audit::head(&a),
            cli::AuditCommand::Key(a) => audit::key(&a),
        },
        cli::Command::Contract(cli::ContractCommand::Sign(a)) => contract::sign(&a),
        cli::Command::Contract(cli::ContractCommand::Check(a)) => contract::check(&a),
        cli::Command::Retention(cli::RetentionCommand::Apply(a)) => retention::apply(&a),
        cli::Command::MockServer(a) => external::mock_server(&a),
        cli::Command::Gateway(c) => gateway::run(&c),
        cli::Command::Serve(a) => server::serve(&a),
        cli::Command::Worker(a) => server::worker(&a),
        cli::Command::View(a) => server::view(&a),
        cli::Command::Migrate(a) => server::migrate(&a),
        cli::Command::Admin(cli::AdminCommand::Create(a)) => server::admin_create(&a),
        cli::Command::Mcp(cli::McpCommand::List(a)) => external::mcp_list(&a),
        cli::Command::Schema => {
            output::out(&gauntlet_spec::schema::json_schema());
            Ok(Outcome::Passed)
        }
    };
    match result {
        Ok(Outcome::Passed) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Invalid) => ExitCode::from(2),
        Err(e) => {
            output::err(&format!("error: {e:#}"));
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(3)
            }
        }
    }
}

//! Command dispatch: the one match from parsed arguments to a command's `run`.

pub mod check;
pub mod fraud;
pub mod gold;
pub mod ingest_drive;
pub mod ingest_kafka;
pub mod kyc;
pub mod load;
pub mod silver;
pub mod status;

use crate::cli::{Cli, Command, FraudCommand, IngestCommand, KycCommand};
use crate::config::Config;
use crate::run::{Report, RunContext};

pub use crate::run::ExitStatus;

impl Command {
    /// The command's words and the name it works on (source, table, job).
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Command::Ingest(IngestCommand::Drive(a)) => {
                ("ingest drive", a.source_name().to_string())
            }
            Command::Ingest(IngestCommand::Kafka(a)) => {
                ("ingest kafka", a.group.clone().unwrap_or_default())
            }
            Command::Silver(s) => (silver::command_name(s), silver::source_name(s).to_string()),
            Command::Gold(_) => ("gold", String::new()),
            Command::Load(a) => ("load", a.db.schema.clone().unwrap_or_default()),
            Command::Check(a) => ("check", a.db.schema.clone().unwrap_or_default()),
            Command::Fraud(FraudCommand::Run(a)) => ("fraud run", a.job.name().to_string()),
            Command::Kyc(KycCommand::Verify(_)) => ("kyc verify", String::new()),
            Command::Kyc(KycCommand::Serve(_)) => ("kyc serve", String::new()),
            Command::Kyc(KycCommand::Purge(_)) => ("kyc purge", String::new()),
            Command::Kyc(KycCommand::Erase(_)) => ("kyc erase", String::new()),
            Command::Status(_) => ("status", String::new()),
            Command::Completions(_) => ("completions", String::new()),
            Command::Man => ("man", String::new()),
        }
    }
}

/// Run the parsed command line to completion and say how it ended.
pub async fn run(cli: &Cli) -> ExitStatus {
    // Generated from the CLI definition: no configuration, no lake.
    match &cli.command {
        Command::Completions(a) => return print_completions(a.shell),
        Command::Man => return print_man(),
        _ => {}
    }
    let (command, name) = cli.command.describe();
    let ctx = match Config::load(cli.global.config.as_deref())
        .map_err(anyhow::Error::from)
        .and_then(|c| RunContext::new(&cli.global, c))
    {
        Ok(ctx) => ctx,
        Err(e) => {
            // No context yet: report with a throwaway one so the summary line still appears.
            let ctx = RunContext::bare(Config::default(), chrono::Utc::now());
            let job = crate::run::job_name(command, &name);
            return ctx.finish(command, &name, &job, Report::failed(&e)).await;
        }
    };
    match &cli.command {
        Command::Ingest(IngestCommand::Drive(a)) => ingest_drive::run(a, &ctx).await,
        Command::Ingest(IngestCommand::Kafka(a)) => ingest_kafka::run(a, &ctx).await,
        Command::Silver(s) => silver::run(s, &ctx).await,
        Command::Gold(a) => gold::run(a, &ctx).await,
        Command::Load(a) => load::run(a, &ctx).await,
        Command::Check(a) => check::run(a, &ctx).await,
        Command::Fraud(FraudCommand::Run(a)) => fraud::run(a, &ctx).await,
        Command::Kyc(k) => kyc::run(k, &ctx).await,
        Command::Status(a) => status::run(a, &ctx).await,
        Command::Completions(_) | Command::Man => unreachable!("handled above"),
    }
}

fn print_completions(shell: clap_complete::Shell) -> ExitStatus {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "kvt", &mut std::io::stdout());
    ExitStatus::Success
}

fn print_man() -> ExitStatus {
    let cmd = <Cli as clap::CommandFactory>::command();
    match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
        Ok(()) => ExitStatus::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            eprintln!("kvt man: {e}");
            ExitStatus::Error
        }
    }
}

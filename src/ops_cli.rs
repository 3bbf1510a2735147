//! `fleuve dlq ...` and `fleuve projections ...`: clients of a running node's
//! `fleuve.ops.v1.OperationsService`, authenticated as an administrator.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use fleuve_mesh::{MeshConfig, Role};
use fleuve_proto::ops::v1 as pb;
use pb::operations_service_client::OperationsServiceClient;
use tonic::transport::Channel;

use crate::dev::{self, DataDir};

/// Where the node is and how to authenticate to it.
#[derive(Debug, Args)]
pub struct Target {
    /// gRPC address of the node.
    #[arg(long, env = "FLEUVE_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: String,
    /// An admin token; without it, one is minted from the `fleuve dev` data directory.
    #[arg(long, env = "FLEUVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[arg(long, default_value = ".fleuve")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Lists dead letters, oldest first.
    List {
        #[command(flatten)]
        target: Target,
        /// Only this consumer's.
        #[arg(long)]
        consumer: Option<String>,
        /// parked, redriven or discarded; every status by default.
        #[arg(long)]
        status: Option<String>,
    },
    /// Applies parked records again (exactly once); by id, or every parked one with --all.
    Redrive {
        #[command(flatten)]
        target: Target,
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        #[arg(long)]
        all: bool,
        /// With --all: only this consumer's letters.
        #[arg(long)]
        consumer: Option<String>,
    },
    /// Gives up a parked record for good, with a reason.
    Discard {
        #[command(flatten)]
        target: Target,
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// The projections the node runs, with applied events and parked letters.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Rebuilds a read model from the event store and swaps it in while queries go on.
    Rebuild {
        #[command(flatten)]
        target: Target,
        name: String,
    },
}

async fn connect(config: &MeshConfig, target: &Target) -> anyhow::Result<(OperationsServiceClient<Channel>, String)> {
    let token = match &target.token {
        Some(token) => token.clone(),
        None => dev::mint_token(config.clone(), &DataDir::new(&target.data_dir), Role::Admin, None, None)
            .await
            .context("no --token given and no dev data directory to mint one from")?,
    };
    let uri = if target.addr.contains("://") { target.addr.clone() } else { format!("http://{}", target.addr) };
    let channel = Channel::from_shared(uri.clone())?.connect().await.with_context(|| format!("connecting to {uri}"))?;
    Ok((OperationsServiceClient::new(channel), token))
}

fn authed<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

fn status_of(text: &str) -> anyhow::Result<pb::DeadLetterStatus> {
    Ok(match text {
        "parked" => pb::DeadLetterStatus::Parked,
        "redriven" => pb::DeadLetterStatus::Redriven,
        "discarded" => pb::DeadLetterStatus::Discarded,
        other => anyhow::bail!("unknown status {other:?}: parked, redriven or discarded"),
    })
}

fn status_name(status: i32) -> &'static str {
    match pb::DeadLetterStatus::try_from(status) {
        Ok(pb::DeadLetterStatus::Parked) => "parked",
        Ok(pb::DeadLetterStatus::Redriven) => "redriven",
        Ok(pb::DeadLetterStatus::Discarded) => "discarded",
        _ => "unknown",
    }
}

pub async fn dlq(config: &MeshConfig, command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List { target, consumer, status } => {
            let (mut client, token) = connect(config, &target).await?;
            let status = status.as_deref().map(status_of).transpose()?.map_or(0, |s| s as i32);
            let mut page_token = String::new();
            println!(
                "{:>6}  {:<9}  {:<22}  {:<34}  {:>9}  {:<36}  error",
                "id", "status", "consumer", "topic", "p/offset", "correlation id"
            );
            loop {
                let request = pb::ListDeadLettersRequest {
                    consumer: consumer.clone().unwrap_or_default(),
                    status,
                    page_size: 200,
                    page_token: page_token.clone(),
                };
                let page = client.list_dead_letters(authed(request, &token)?).await?.into_inner();
                for letter in &page.dead_letters {
                    println!(
                        "{:>6}  {:<9}  {:<22}  {:<34}  {:>9}  {:<36}  {}",
                        letter.id,
                        status_name(letter.status),
                        letter.consumer,
                        letter.topic,
                        format!("{}/{}", letter.partition, letter.offset),
                        letter.correlation_id,
                        letter.error
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            Ok(())
        }
        DlqCommand::Redrive { target, id, all, consumer } => {
            let (mut client, token) = connect(config, &target).await?;
            let target = match (id, all) {
                (Some(id), false) => pb::redrive_dead_letters_request::Target::Id(id),
                _ => pb::redrive_dead_letters_request::Target::All(true),
            };
            let request =
                pb::RedriveDeadLettersRequest { target: Some(target), consumer: consumer.unwrap_or_default() };
            let outcomes = client.redrive_dead_letters(authed(request, &token)?).await?.into_inner().outcomes;
            let mut failed = 0;
            for outcome in &outcomes {
                if outcome.redriven {
                    println!("{:>6}  redriven", outcome.id);
                } else {
                    failed += 1;
                    println!("{:>6}  still parked: {}", outcome.id, outcome.error);
                }
            }
            println!("{} redriven, {failed} still parked", outcomes.len() - failed);
            anyhow::ensure!(failed == 0, "{failed} dead letters could not be redriven");
            Ok(())
        }
        DlqCommand::Discard { target, id, reason } => {
            let (mut client, token) = connect(config, &target).await?;
            let request = pb::DiscardDeadLetterRequest { id, reason };
            let letter = client.discard_dead_letter(authed(request, &token)?).await?.into_inner().dead_letter;
            let letter = letter.context("the node answered without the letter")?;
            println!("{:>6}  {}  ({})", letter.id, status_name(letter.status), letter.resolution);
            Ok(())
        }
    }
}

pub async fn projections(config: &MeshConfig, command: ProjectionsCommand) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::List { target } => {
            let (mut client, token) = connect(config, &target).await?;
            let list = client.list_projections(authed(pb::ListProjectionsRequest {}, &token)?).await?.into_inner();
            println!("{:<22}  {:>8}  {:>7}  {:<11}  topics", "name", "applied", "parked", "rebuildable");
            for p in list.projections {
                println!(
                    "{:<22}  {:>8}  {:>7}  {:<11}  {}",
                    p.name,
                    p.applied_events,
                    p.parked_dead_letters,
                    if p.rebuildable { "yes" } else { "no" },
                    p.topics.join(",")
                );
            }
            Ok(())
        }
        ProjectionsCommand::Rebuild { target, name } => {
            let (mut client, token) = connect(config, &target).await?;
            let request = pb::RebuildProjectionRequest { name };
            let report = client.rebuild_projection(authed(request, &token)?).await?.into_inner();
            println!(
                "rebuilt {}: {} events replayed, {} caught up during the swap, {:.3} s",
                report.name, report.replayed_events, report.caught_up_events, report.elapsed_seconds
            );
            Ok(())
        }
    }
}

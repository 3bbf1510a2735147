//! `fleuve dev` killed with SIGKILL right after a burst of commands, then started again on the
//! same data directory: its broker and schema registry come back from the directory, and every
//! projection catches up on what was acknowledged before the kill.

use std::time::{Duration, Instant};

use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use fleuve_proto::order::v1 as order;
use fleuve_proto::statistics::v1 as st;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use tonic::transport::Channel;

use crate::processes::free_port;
use crate::saga::{line, place};
use crate::support::{Parties, RemoteParties, authed, certified_dossier, submitted_dossier, temp_dir};
use crate::tools::start_dev;

async fn connect(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect().await.expect("connect to fleuve dev")
}

/// Every record of `topic` as a consumer reads it: (partition, offset, key, payload), in order.
fn records_on(bootstrap: &str, topic: &str) -> Vec<(i32, i64, Vec<u8>, Vec<u8>)> {
    let consumer: BaseConsumer =
        fleuve_bus::BusConfig::new(bootstrap).consumer_config("fleuve-durable-probe").create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len());
    let mut records = Vec::new();
    for partition in 0..i32::try_from(partitions).unwrap() {
        let (_, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)).expect("watermarks");
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
        consumer.assign(&assignment).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut next = 0;
        while next < high {
            assert!(Instant::now() < deadline, "{topic}/{partition}: read up to {next} of {high}");
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let message = message.expect("record");
                next = message.offset() + 1;
                records.push((
                    partition,
                    message.offset(),
                    message.key().unwrap_or_default().to_vec(),
                    message.payload().unwrap_or_default().to_vec(),
                ));
            }
        }
    }
    records
}

async fn all_dossiers(channel: &Channel, admin: &str) -> usize {
    let mut queries = pb::homologation_query_service_client::HomologationQueryServiceClient::new(channel.clone());
    let (mut count, mut token) = (0, String::new());
    loop {
        let request = pb::ListDossiersRequest { page_size: 100, page_token: token, ..Default::default() };
        let page = queries.list_dossiers(authed(request, admin)).await.expect("list dossiers").into_inner();
        count += page.dossiers.len();
        if page.next_page_token.is_empty() {
            return count;
        }
        token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fleuve_dev_killed_and_restarted_on_its_data_directory_loses_nothing() {
    let dir = temp_dir("fleuve-durable");
    let port = free_port();
    let (mut dev, vars) = tokio::task::block_in_place(|| start_dev(&dir, port));
    let parties = RemoteParties { channel: connect(port).await, vars: vars.clone() };
    let customer = parties.token(Role::Applicant);

    // A burst of acknowledged commands: dossiers approved and filed, then orders placed. The
    // kill comes right after the last order is acknowledged, its saga and others in flight.
    let mut certificates = Vec::new();
    for n in 0..4 {
        certificates.push(certified_dossier(&parties, "Tecno", &format!("Spark {n}")).await.1);
    }
    for n in 0..6 {
        submitted_dossier(&parties, "Itel", &format!("A{n}")).await;
    }
    let mut orders = order::order_service_client::OrderServiceClient::new(parties.channel());
    let mut placed = Vec::new();
    for n in 0..20 {
        let request = authed(place(&format!("durable-{n}"), vec![line("sku-pen", 1, 100)], "tok_visa"), &customer);
        placed.push(orders.place_order(request).await.expect("place").into_inner().order.expect("order").order_id);
    }
    let bootstrap = vars["KAFKA_BOOTSTRAP_SERVERS"].clone();
    let on_broker = tokio::task::block_in_place(|| records_on(&bootstrap, "homologation.dossier.v1"));
    dev.kill();
    eprintln!("durable: killed with {} dossier records on the broker", on_broker.len());
    assert!(!on_broker.is_empty(), "the relay had published before the kill");

    // The same data directory: the broker replays its journal.
    let (_dev, vars) = tokio::task::block_in_place(|| start_dev(&dir, port));
    let started = Instant::now();
    let bootstrap = vars["KAFKA_BOOTSTRAP_SERVERS"].clone();
    let after = tokio::task::block_in_place(|| records_on(&bootstrap, "homologation.dossier.v1"));
    let kept = on_broker.iter().filter(|record| after.contains(record)).count();
    assert_eq!(kept, on_broker.len(), "records at their offsets after the restart: {kept} of {}", on_broker.len());
    let parties = RemoteParties { channel: connect(port).await, vars };
    let admin = parties.token(Role::Admin);

    // Every order is confirmed; the statistics count every dossier once; the public registry verifies
    // every certificate.
    let mut orders = order::order_service_client::OrderServiceClient::new(parties.channel());
    let deadline = Instant::now() + Duration::from_secs(120);
    for order_id in &placed {
        loop {
            let request = authed(order::GetOrderRequest { order_id: order_id.clone() }, &customer);
            let status =
                orders.get_order(request).await.expect("get order").into_inner().order.expect("order").status();
            // Stock and money suffice: a saga whose records were lost would fail on a deadline.
            if status == order::OrderStatus::Confirmed {
                break;
            }
            assert_ne!(status, order::OrderStatus::Failed, "order {order_id} failed across the restart");
            assert!(Instant::now() < deadline, "order {order_id} still {status:?} after the restart");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let dossiers = all_dossiers(&parties.channel(), &admin).await;
    let mut statistics = st::statistics_service_client::StatisticsServiceClient::new(parties.channel());
    loop {
        let figures =
            statistics.get_statistics(authed(st::GetStatisticsRequest::default(), &admin)).await.unwrap().into_inner();
        let counted = usize::try_from(figures.dossiers.map_or(0, |d| d.total)).unwrap();
        if counted >= dossiers {
            assert_eq!(counted, dossiers, "each dossier counted once");
            break;
        }
        assert!(Instant::now() < deadline, "the statistics count {counted} of {dossiers} dossiers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut registry =
        pb::certificate_registry_service_client::CertificateRegistryServiceClient::new(parties.channel());
    for number in &certificates {
        loop {
            let request = pb::VerifyCertificateRequest { certificate_number: number.clone() };
            match registry.verify_certificate(request).await {
                Ok(answer) if answer.get_ref().certificate.is_some() => break,
                _ => {
                    assert!(
                        Instant::now() < deadline,
                        "certificate {number} unknown to the registry after the restart"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    eprintln!(
        "durable: {} orders ended, {dossiers} dossiers counted, {} certificates verified, {:?} after the restart",
        placed.len(),
        certificates.len(),
        started.elapsed()
    );
}

//! `fleuve bench saga`: completed order sagas per second and end-to-end latency (PlaceOrder
//! sent → WatchOrder shows a terminal state) at each concurrency, on a full node (as
//! `fleuve dev`, on PostgreSQL, every message through the embedded Kafka-API broker). In the
//! same run, two references on the same server:
//! - a synchronous chain of unary gRPC writes per order, one in each service (PlaceOrder,
//!   RestockProduct, CreditAccount, then GetOrder), on a node without the bus: what the same
//!   three services cost when called in a row, with no broker, relay or consumer between them;
//! - pgbench one-row INSERTs: the server's commit ceiling.

use std::time::{Duration, Instant};

use fleuve_mesh::{MeshConfig, Role, auth::SigningKey, auth::TokenIssuer};
use fleuve_proto::billing::v1 as billing;
use fleuve_proto::common::v1::Money;
use fleuve_proto::order::v1 as order;
use fleuve_proto::stock::v1 as stock;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::bench::{ScratchDatabase, percentile, pgbench_insert_tps};
use crate::dev::{self, DataDir, DevListen};
use crate::node;

const UNIT_PRICE: i64 = 100;

pub(crate) fn authed<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

/// One worker's customer: a token, a product and an account of its own, so that workers do
/// not contend on one stream (contention is not what is measured).
#[derive(Clone)]
pub(crate) struct Customer {
    id: String,
    token: String,
    product: String,
}

pub(crate) struct Clients {
    pub(crate) orders: order::order_service_client::OrderServiceClient<Channel>,
    stock: stock::stock_service_client::StockServiceClient<Channel>,
    billing: billing::billing_service_client::BillingServiceClient<Channel>,
}

impl Clients {
    /// Clients of three services on their own servers (a split deployment).
    pub(crate) async fn split(order: &str, stock: &str, billing: &str) -> anyhow::Result<Clients> {
        let connect = |addr: &str| Channel::from_shared(format!("http://{addr}")).map(|e| e.connect_lazy());
        Ok(Clients {
            orders: order::order_service_client::OrderServiceClient::new(connect(order)?),
            stock: stock::stock_service_client::StockServiceClient::new(connect(stock)?),
            billing: billing::billing_service_client::BillingServiceClient::new(connect(billing)?),
        })
    }

    pub(crate) async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Clients> {
        let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
        Ok(Clients {
            orders: order::order_service_client::OrderServiceClient::new(channel.clone()),
            stock: stock::stock_service_client::StockServiceClient::new(channel.clone()),
            billing: billing::billing_service_client::BillingServiceClient::new(channel),
        })
    }
}

/// Products and accounts for `n` customers, created through the gRPC API as an admin would.
pub(crate) async fn seed(
    clients: &mut Clients,
    issuer: &TokenIssuer,
    admin: &str,
    n: usize,
) -> anyhow::Result<Vec<Customer>> {
    let mut customers = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("bench-customer-{i}-{}", Uuid::new_v4().simple());
        let product = format!("bench-sku-{i}");
        let create = stock::CreateProductRequest {
            product_id: product.clone(),
            name: product.clone(),
            quantity: 1 << 40,
            price: None,
        };
        match clients.stock.create_product(authed(create, admin)?).await {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::AlreadyExists => {}
            Err(status) => return Err(status.into()),
        }
        let open = billing::OpenAccountRequest {
            customer_id: id.clone(),
            currency: "XAF".into(),
            credit_limit: 0,
            opening_balance: 1 << 50,
        };
        clients.billing.open_account(authed(open, admin)?).await?;
        let (token, _) = issuer.issue(&id, Role::Applicant, "bench")?;
        customers.push(Customer { id, token, product });
    }
    Ok(customers)
}

fn place(customer: &Customer) -> order::PlaceOrderRequest {
    order::PlaceOrderRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: String::new(),
        lines: vec![order::OrderLine { product_id: customer.product.clone(), quantity: 1, unit_price: UNIT_PRICE }],
        currency: "XAF".into(),
        payment_token: "tok_bench".into(),
    }
}

fn is_terminal(status: order::OrderStatus) -> bool {
    matches!(status, order::OrderStatus::Confirmed | order::OrderStatus::Failed | order::OrderStatus::Cancelled)
}

/// One saga: PlaceOrder, then WatchOrder until it ends. `Ok(true)` when confirmed.
pub(crate) async fn one_saga(
    orders: &mut order::order_service_client::OrderServiceClient<Channel>,
    customer: &Customer,
) -> anyhow::Result<bool> {
    let placed = orders.place_order(authed(place(customer), &customer.token)?).await?.into_inner();
    let order_id = placed.order.map(|o| o.order_id).unwrap_or_default();
    let watch = order::WatchOrderRequest { order_id: order_id.clone() };
    let mut stream = orders.watch_order(authed(watch, &customer.token)?).await?.into_inner();
    while let Some(update) = tokio::time::timeout(Duration::from_secs(120), stream.message()).await?? {
        let status = update.order.map(|o| o.status()).unwrap_or_default();
        if is_terminal(status) {
            return Ok(status == order::OrderStatus::Confirmed);
        }
    }
    anyhow::bail!("the watch of order {order_id} ended before the saga did")
}

/// One synchronous chain: a write in each service, then the order read back.
async fn one_chain(clients: &mut Clients, customer: &Customer, admin: &str) -> anyhow::Result<bool> {
    let placed = clients.orders.place_order(authed(place(customer), &customer.token)?).await?.into_inner();
    let restock = stock::RestockProductRequest {
        product_id: customer.product.clone(),
        quantity: 1,
        reference: "bench".into(),
        expected_version: 0,
    };
    clients.stock.restock_product(authed(restock, admin)?).await?;
    let credit = billing::CreditAccountRequest {
        customer_id: customer.id.clone(),
        amount: Some(Money { currency: "XAF".into(), amount: UNIT_PRICE }),
        reference: "bench".into(),
    };
    clients.billing.credit_account(authed(credit, admin)?).await?;
    let get = order::GetOrderRequest { order_id: placed.order.map(|o| o.order_id).unwrap_or_default() };
    Ok(clients.orders.get_order(authed(get, &customer.token)?).await?.into_inner().order.is_some())
}

#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) completed: usize,
    pub(crate) failed: usize,
    pub(crate) per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Machine CPU time (all processes: node, PostgreSQL, broker) per completed job, and the
    /// share of time the hypervisor took away, when `/proc/stat` is readable.
    pub(crate) cpu: Option<crate::bench::CpuUse>,
}

/// `customers.len()` workers, each running `job` back to back for `duration`.
pub(crate) async fn run<F, Fut>(customers: &[Customer], duration: Duration, job: F) -> anyhow::Result<Run>
where
    F: Fn(Customer) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<bool>> + Send,
{
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let cpu_before = crate::bench::CpuTimes::read();
    let mut tasks = Vec::new();
    for customer in customers {
        let (customer, job) = (customer.clone(), job.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match job(customer.clone()).await {
                    Ok(true) => latencies.push(t0.elapsed()),
                    Ok(false) => failed += 1,
                    Err(error) => return Err(error),
                }
            }
            Ok::<_, anyhow::Error>((latencies, failed))
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (l, f) = task.await??;
        latencies.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu =
        cpu_before.zip(crate::bench::CpuTimes::read()).map(|(before, after)| after.since(&before, latencies.len()));
    latencies.sort();
    Ok(Run {
        cpu,
        completed: latencies.len(),
        failed,
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
    })
}

/// `base` contributes its bus tuning (`bus.consumer_concurrency`, ...); the rest is the bench's.
pub async fn saga(base: &MeshConfig, admin_url: &str, concurrency: &[usize], duration: Duration) -> anyhow::Result<()> {
    let most = concurrency.iter().copied().max().unwrap_or(1);
    let mut config = MeshConfig::default();
    config.bus.consumer_concurrency = base.bus.consumer_concurrency;
    config.bus.consumer_transactions = base.bus.consumer_transactions;
    config.database_pool_size = 32;
    config.log.level = "warn".into();

    // The saga on a full node.
    let scratch = ScratchDatabase::create(admin_url)?;
    let dir = std::env::temp_dir().join(format!("fleuve-bench-{}", Uuid::new_v4().simple()));
    let node =
        dev::prepare_on(config.clone(), &DataDir::new(&dir), DevListen::ephemeral(), Some(scratch.url.clone())).await?;
    let (addr, issuer) = (node.addr, node.issuer.clone());
    let admin = node.demo_token(Role::Admin)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(node.run(async move {
        let _ = stopped.await;
    }));
    let mut clients = Clients::connect(addr).await?;
    let customers = seed(&mut clients, &issuer, &admin, most).await?;
    // Warm-up: every consumer joined its group and saw records before the clock starts.
    for customer in customers.iter().take(4) {
        anyhow::ensure!(one_saga(&mut clients.orders, customer).await?, "a warm-up saga failed");
    }
    let mut saga_runs = Vec::new();
    for &n in concurrency {
        let orders = clients.orders.clone();
        let run = run(&customers[..n], duration, move |customer| {
            let mut orders = orders.clone();
            async move { one_saga(&mut orders, &customer).await }
        })
        .await?;
        saga_runs.push((n, run));
    }
    let _ = stop.send(());
    serving.await??;
    let _ = std::fs::remove_dir_all(&dir);
    drop(scratch);

    // The synchronous chain on the same services without the bus.
    let scratch = ScratchDatabase::create(admin_url)?;
    let mut chain_config = config.clone();
    chain_config.database_url = scratch.url.clone();
    let db = node::open_database(&chain_config).await?;
    let issuer = TokenIssuer::new(SigningKey::generate(), &chain_config.auth);
    let apps = node::Apps::new(&chain_config, &db, issuer.clone())?;
    let ops = node::operations(&db, Vec::new(), &node::Projections::default());
    let server = node::all_services(&chain_config, &apps, ops)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let chain_addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    let (admin, _) = issuer.issue("bench-admin", Role::Admin, "bench")?;
    let mut clients = Clients::connect(chain_addr).await?;
    let customers = seed(&mut clients, &issuer, &admin, most).await?;
    let mut chain_runs = Vec::new();
    for &n in concurrency {
        let (orders, stock, billing) = (clients.orders.clone(), clients.stock.clone(), clients.billing.clone());
        let admin = admin.clone();
        let run = run(&customers[..n], duration, move |customer| {
            let mut clients = Clients { orders: orders.clone(), stock: stock.clone(), billing: billing.clone() };
            let admin = admin.clone();
            async move { one_chain(&mut clients, &customer, &admin).await }
        })
        .await?;
        chain_runs.push((n, run));
    }
    let _ = stop.send(());
    serving.await??;

    // The commit ceiling of the server.
    let url = scratch.url.clone();
    let levels = concurrency.to_vec();
    let ceilings = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<f64>> {
        levels.iter().map(|n| pgbench_insert_tps(&url, *n, duration)).collect()
    })
    .await??;
    drop(scratch);

    println!(
        "fleuve bench saga: {} s per run, PostgreSQL at {}, Kafka API in-process",
        duration.as_secs(),
        node::redact(admin_url)
    );
    println!(
        "{:>11} {:>10} {:>8} {:>9} {:>9} {:>8} {:>7} | {:>10} {:>9} {:>9} {:>8} | {:>11} | {:>9} {:>11}",
        "concurrent",
        "sagas/s",
        "failed",
        "p50 ms",
        "p99 ms",
        "cpu ms",
        "steal",
        "chain/s",
        "p50 ms",
        "p99 ms",
        "cpu ms",
        "pgbench tps",
        "vs chain",
        "vs pgbench"
    );
    for (((n, saga), (_, chain)), ceiling) in saga_runs.iter().zip(&chain_runs).zip(&ceilings) {
        println!(
            "{:>11} {:>10.1} {:>8} {:>9.1} {:>9.1} {:>8} {:>7} | {:>10.1} {:>9.1} {:>9.1} {:>8} | {:>11.0} | {:>9.2} {:>11.3}",
            n,
            saga.per_second,
            saga.failed,
            saga.p50_ms,
            saga.p99_ms,
            crate::bench::CpuUse::ms_per_job(saga.cpu.as_ref()),
            crate::bench::CpuUse::steal(saga.cpu.as_ref()),
            chain.per_second,
            chain.p50_ms,
            chain.p99_ms,
            crate::bench::CpuUse::ms_per_job(chain.cpu.as_ref()),
            ceiling,
            saga.per_second / chain.per_second,
            saga.per_second / ceiling
        );
        tracing::debug!(sagas = saga.completed, chains = chain.completed, "run done");
    }
    println!(
        "  a saga commits 6 transactions (PlaceOrder with the saga's start, reservation, stock reply, payment, \
         payment reply, notification), 2 more to deliver the notification, and the relay's marks, over 5 Kafka hops; \
         the chain commits 3 writes and reads 1"
    );
    println!(
        "  cpu ms: CPU time of the whole machine (node, PostgreSQL, broker) per completed saga or chain, from \
         /proc/stat; steal: share of the run's time the hypervisor gave to other guests"
    );
    Ok(())
}

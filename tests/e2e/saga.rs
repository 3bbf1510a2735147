//! The commerce saga as a user runs it: `fleuve infra` (Kafka-API broker and schema registry)
//! and `fleuve serve order|stock|billing|notification` as four processes, each on its own
//! PostgreSQL database, driven through their gRPC APIs; then the same with processes killed
//! (SIGKILL) at random points and restarted, and with the broker frozen (SIGSTOP) past every
//! consumer's session timeout.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use crate::support::{authed, fleuve_command, temp_dir};
use fleuve_mesh::{
    MeshConfig, Role,
    auth::{SigningKey, TokenIssuer},
};
use fleuve_proto::billing::v1 as billing;
use fleuve_proto::notification::v1 as notification;
use fleuve_proto::order::v1 as order;
use fleuve_proto::stock::v1 as stock;
use fleuve_store::testing::TestDatabase;
use rand::Rng;
use tonic::transport::Channel;

use crate::processes::{Process, free_port, start_infra, start_infra_kept, wait_for_port};

/// The saga's services, their databases and the bus, as separate processes.
struct Cluster {
    dir: crate::support::TempDir,
    infra: Process,
    /// The broker's and registry's fixed ports when `fleuve infra` keeps them in `dir/infra`.
    infra_ports: Option<(u16, u16)>,
    bus: HashMap<String, String>,
    jwks: PathBuf,
    issuer: TokenIssuer,
    databases: BTreeMap<&'static str, TestDatabase>,
    ports: BTreeMap<&'static str, u16>,
    processes: BTreeMap<&'static str, Process>,
    starts: usize,
    /// `FAILPOINTS` of the services started from now on.
    failpoints: Option<String>,
}

const SERVICES: [&str; 4] = ["order", "stock", "billing", "notification"];
/// The payment deadline the order service is started with: short, so that a provider timeout
/// or a billing process down for long fails the saga within the test.
const PAYMENT_TIMEOUT_SECONDS: &str = "8";

impl Cluster {
    async fn start() -> Cluster {
        Cluster::start_on(None).await
    }

    /// A cluster whose `fleuve infra` keeps its broker and registry in a directory, on fixed
    /// ports, so that [`Cluster::restart_infra`] brings the same broker back.
    async fn start_kept() -> Cluster {
        Cluster::start_on(Some((free_port(), free_port()))).await
    }

    /// SIGKILL `fleuve infra`, then start it again on its directory and ports after `down_for`.
    fn restart_infra(&mut self, down_for: Duration) {
        let (kafka, registry) = self.infra_ports.expect("a cluster started with start_kept");
        self.infra.kill();
        std::thread::sleep(down_for);
        let (infra, _) = start_infra_kept(&self.dir.join("infra"), kafka, registry);
        self.infra = infra;
    }

    async fn start_on(infra_ports: Option<(u16, u16)>) -> Cluster {
        let dir = temp_dir("fleuve-saga");
        let migrate_all = |url: &str| {
            let out = fleuve_command().args(["migrate", "--database-url", url]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        let mut databases = BTreeMap::new();
        for service in SERVICES {
            let db = TestDatabase::postgres(&[]).await.expect("postgres");
            migrate_all(db.url());
            databases.insert(service, db);
        }
        let (infra, bus) = tokio::task::block_in_place(|| match infra_ports {
            Some((kafka, registry)) => start_infra_kept(&dir.join("infra"), kafka, registry),
            None => start_infra(),
        });
        let key = SigningKey::generate();
        let issuer = TokenIssuer::new(key, &MeshConfig::default().auth);
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, serde_json::to_string(&issuer.jwks()).unwrap()).unwrap();
        let ports = SERVICES.iter().map(|s| (*s, free_port())).collect();
        let mut cluster = Cluster {
            dir,
            infra,
            infra_ports,
            bus,
            jwks,
            issuer,
            databases,
            ports,
            processes: BTreeMap::new(),
            starts: 0,
            failpoints: None,
        };
        for service in SERVICES {
            cluster.spawn(service);
        }
        for service in SERVICES {
            wait_for_port(cluster.ports[service], Duration::from_secs(60));
        }
        cluster
    }

    fn spawn(&mut self, service: &'static str) {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("{service}-{}.log", self.starts))).unwrap();
        let mut cmd = fleuve_command();
        cmd.args(["serve", service])
            .env("FLEUVE_LISTEN", format!("127.0.0.1:{}", self.ports[service]))
            .env("FLEUVE_DATABASE_URL", self.databases[service].url())
            .env("FLEUVE_DATABASE_POOL_SIZE", "8")
            .env("FLEUVE_AUTH__JWKS_FILE", &self.jwks)
            .env("FLEUVE_BUS__BOOTSTRAP_SERVERS", &self.bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"])
            .env("FLEUVE_BUS__SCHEMA_REGISTRY_URL", &self.bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"])
            .env("FLEUVE_BUS__INSTANCE_ID", format!("{service}-0"))
            .env("FLEUVE_ORDER__PAYMENT_TIMEOUT_SECONDS", PAYMENT_TIMEOUT_SECONDS)
            .env("FLEUVE_ORDER__STOCK_CHECK_TIMEOUT_SECONDS", "20")
            .env("FLEUVE_ORDER__STOCK_RELEASE_TIMEOUT_SECONDS", "5")
            .env("FLEUVE_ORDER__MAX_RELEASE_ATTEMPTS", "20")
            .env("FLEUVE_ORDER__DEADLINE_INTERVAL_MS", "200")
            .env("FLEUVE_LOG__LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if let Some(failpoints) = &self.failpoints {
            cmd.env("FAILPOINTS", failpoints);
        }
        self.processes.insert(service, Process(cmd.spawn().expect("fleuve serve")));
    }

    /// SIGKILL, then a fresh process on the same database and port.
    fn crash_and_restart(&mut self, service: &'static str, down_for: Duration) {
        if let Some(mut process) = self.processes.remove(service) {
            process.kill();
        }
        std::thread::sleep(down_for);
        self.spawn(service);
        wait_for_port(self.ports[service], Duration::from_secs(60));
    }

    /// Restarts every service with `failpoints` armed (none: a clean restart).
    fn arm(&mut self, failpoints: Option<String>) {
        self.failpoints = failpoints;
        for service in SERVICES {
            if let Some(mut process) = self.processes.remove(service) {
                process.kill();
            }
            self.spawn(service);
        }
        // An armed point may abort a process before it listens: start it again meanwhile.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !SERVICES.iter().all(|s| std::net::TcpStream::connect(("127.0.0.1", self.ports[s])).is_ok()) {
            self.respawn_exited();
            assert!(Instant::now() < deadline, "the services did not all listen within two minutes");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts again every service whose process a crash point killed (SIGKILL); returns how
    /// many. A process that ended any other way (a panic, a failed start) fails the test.
    fn respawn_exited(&mut self) -> usize {
        use std::os::unix::process::ExitStatusExt as _;
        let mut exited: Vec<&'static str> = Vec::new();
        for (service, process) in &mut self.processes {
            if let Ok(Some(status)) = process.0.try_wait() {
                assert_eq!(
                    status.signal(),
                    Some(9),
                    "{service} ended by itself ({status}): see {}",
                    self.dir.display()
                );
                exited.push(*service);
            }
        }
        for service in &exited {
            self.processes.remove(service);
            self.spawn(service);
        }
        exited.len()
    }

    /// A channel to the service, waiting (up to a minute) for a restarting process.
    async fn channel(&self, service: &str) -> Channel {
        let url = format!("http://127.0.0.1:{}", self.ports[service]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match Channel::from_shared(url.clone()).unwrap().connect().await {
                Ok(channel) => return channel,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("{service} unreachable: {error}"),
            }
        }
    }

    async fn orders(&self) -> order::order_service_client::OrderServiceClient<Channel> {
        order::order_service_client::OrderServiceClient::new(self.channel("order").await)
    }

    async fn stock(&self) -> stock::stock_service_client::StockServiceClient<Channel> {
        stock::stock_service_client::StockServiceClient::new(self.channel("stock").await)
    }

    async fn billing(&self) -> billing::billing_service_client::BillingServiceClient<Channel> {
        billing::billing_service_client::BillingServiceClient::new(self.channel("billing").await)
    }

    fn token(&self, subject: &str, role: Role) -> String {
        self.issuer.issue(subject, role, "org-shop").unwrap().0
    }

    fn admin(&self) -> String {
        self.token("admin-1", Role::Admin)
    }

    async fn create_product(&self, id: &str, quantity: u64) {
        let request =
            stock::CreateProductRequest { product_id: id.into(), name: format!("Product {id}"), quantity, price: None };
        self.stock().await.create_product(authed(request, &self.admin())).await.expect("create product");
    }

    async fn open_account(&self, customer: &str, balance: i64, credit_limit: i64) {
        let request = billing::OpenAccountRequest {
            customer_id: customer.into(),
            currency: "XAF".into(),
            credit_limit,
            opening_balance: balance,
        };
        self.billing().await.open_account(authed(request, &self.admin())).await.expect("open account");
    }

    async fn product(&self, id: &str) -> stock::Product {
        let request = stock::GetProductRequest { product_id: id.into() };
        let response = self.stock().await.get_product(authed(request, &self.admin())).await.expect("product");
        response.into_inner().product.expect("product")
    }

    async fn account(&self, customer: &str) -> billing::Account {
        let request = billing::GetAccountRequest { customer_id: customer.into() };
        let response = self.billing().await.get_account(authed(request, &self.admin())).await.expect("account");
        response.into_inner().account.expect("account")
    }

    async fn charge(&self, order_id: &str) -> Option<billing::Charge> {
        let request = billing::GetChargeRequest { order_id: order_id.into() };
        match self.billing().await.get_charge(authed(request, &self.admin())).await {
            Ok(response) => response.into_inner().charge,
            Err(status) if status.code() == tonic::Code::NotFound => None,
            Err(status) => panic!("GetCharge {order_id}: {status}"),
        }
    }

    async fn all_charges(&self) -> Vec<billing::Charge> {
        let mut client = self.billing().await;
        let mut charges = Vec::new();
        let mut token = String::new();
        loop {
            let request = billing::ListChargesRequest { page_size: 100, page_token: token, ..Default::default() };
            let page = client.list_charges(authed(request, &self.admin())).await.expect("charges").into_inner();
            charges.extend(page.charges);
            if page.next_page_token.is_empty() {
                return charges;
            }
            token = page.next_page_token;
        }
    }

    async fn all_orders(&self) -> Vec<order::Order> {
        let mut client = self.orders().await;
        let mut orders = Vec::new();
        let mut token = String::new();
        loop {
            let request = order::ListOrdersRequest { page_size: 200, page_token: token, ..Default::default() };
            let page = client.list_orders(authed(request, &self.admin())).await.expect("orders").into_inner();
            orders.extend(page.orders);
            if page.next_page_token.is_empty() {
                return orders;
            }
            token = page.next_page_token;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A process that ended on its own (a crash) explains a stalled saga.
            let infra = std::iter::once(("infra", &mut self.infra));
            for (name, process) in self.processes.iter_mut().map(|(s, p)| (*s, p)).chain(infra) {
                if let Ok(Some(status)) = process.0.try_wait() {
                    eprintln!("--- {name} had ended: {status}");
                }
            }
        }
        self.processes.clear();
        // The directory goes with the cluster, but for a failed test: kept, its path printed.
        if std::thread::panicking() {
            crate::processes::print_log_digest(&self.dir);
        }
    }
}

pub(crate) fn line(product: &str, quantity: u32, unit_price: i64) -> order::OrderLine {
    order::OrderLine { product_id: product.into(), quantity, unit_price }
}

pub(crate) fn place(key: &str, lines: Vec<order::OrderLine>, token: &str) -> order::PlaceOrderRequest {
    order::PlaceOrderRequest {
        idempotency_key: key.into(),
        customer_id: String::new(),
        lines,
        currency: "XAF".into(),
        payment_token: token.into(),
    }
}

fn is_terminal(status: order::OrderStatus) -> bool {
    matches!(status, order::OrderStatus::Confirmed | order::OrderStatus::Failed | order::OrderStatus::Cancelled)
}

/// Follows the order with WatchOrder until it ends.
async fn settled(cluster: &Cluster, order_id: &str, customer_token: &str, within: Duration) -> order::Order {
    let mut client = cluster.orders().await;
    let request = authed(order::WatchOrderRequest { order_id: order_id.into() }, customer_token);
    let mut stream = client.watch_order(request).await.expect("watch").into_inner();
    let mut last = None;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(update))) => {
                let order = update.order.expect("order");
                if is_terminal(order.status()) {
                    return order;
                }
                last = Some(order);
            }
            Ok(Ok(None)) => panic!("watch of {order_id} ended before a terminal state: {last:?}"),
            Ok(Err(status)) => panic!("watch of {order_id} failed: {status}"),
            Err(_) => panic!("order {order_id} did not settle within {within:?}: {last:?}"),
        }
    }
}

/// The seed's flow through four processes: happy path, insufficient stock, declined payment
/// with the stock released, a provider timeout failing at the payment deadline, one order for
/// two PlaceOrder calls with one key, no oversell on the last units under concurrent orders,
/// and the customer notified of each outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_saga_runs_across_four_processes_on_postgres_and_kafka() {
    let cluster = Cluster::start().await;
    let alice = cluster.token("alice", Role::Applicant);
    cluster.create_product("sku-pen", 100).await;
    cluster.create_product("sku-ink", 1).await;
    cluster.create_product("sku-last", 3).await;
    cluster.open_account("alice", 1_000_000, 0).await;
    let mut orders = cluster.orders().await;
    let within = Duration::from_secs(60);

    // Happy path.
    let placed = orders
        .place_order(authed(place("happy", vec![line("sku-pen", 2, 1500)], "tok_visa"), &alice))
        .await
        .expect("place")
        .into_inner();
    assert!(placed.created);
    let happy = placed.order.expect("order");
    let done = settled(&cluster, &happy.order_id, &alice, within).await;
    assert_eq!(done.status(), order::OrderStatus::Confirmed, "{done:?}");
    let charge = cluster.charge(&happy.order_id).await.expect("charge");
    assert_eq!(charge.status(), billing::ChargeStatus::Approved);
    assert_eq!(charge.amount.as_ref().map(|m| m.amount), Some(3000));
    assert_eq!(done.charge_id, charge.charge_id);
    let pen = cluster.product("sku-pen").await;
    assert_eq!((pen.available, pen.reserved), (98, 2));
    assert_eq!(cluster.account("alice").await.balance, 1_000_000 - 3000);

    // Idempotency: the same key again is the same order, and still one charge.
    let retry = orders
        .place_order(authed(place("happy", vec![line("sku-pen", 2, 1500)], "tok_visa"), &alice))
        .await
        .expect("retry")
        .into_inner();
    assert!(!retry.created);
    assert_eq!(retry.order.as_ref().map(|o| o.order_id.as_str()), Some(happy.order_id.as_str()));
    let other_content = orders
        .place_order(authed(place("happy", vec![line("sku-pen", 3, 1500)], "tok_visa"), &alice))
        .await
        .unwrap_err();
    assert_eq!(other_content.code(), tonic::Code::FailedPrecondition);
    let alices = cluster.all_charges().await.into_iter().filter(|c| c.customer_id == "alice").count();
    assert_eq!(alices, 1, "one order, one charge");
    assert_eq!(cluster.account("alice").await.balance, 1_000_000 - 3000, "charged once");

    // Insufficient stock: failed, nothing charged.
    let short = orders
        .place_order(authed(place("short", vec![line("sku-pen", 1, 10), line("sku-ink", 2, 700)], "tok_visa"), &alice))
        .await
        .expect("place")
        .into_inner()
        .order
        .expect("order");
    let done = settled(&cluster, &short.order_id, &alice, within).await;
    assert_eq!(done.status(), order::OrderStatus::Failed);
    let failure = done.failure.expect("failure");
    assert_eq!(failure.code(), order::FailureCode::OutOfStock);
    assert!(failure.reason.contains("sku-ink (requested 2, available 1)"), "{}", failure.reason);
    assert!(cluster.charge(&short.order_id).await.is_none(), "no payment was requested");
    assert_eq!(cluster.product("sku-pen").await.available, 98, "nothing of the order was held");

    // Payment declined: the stock comes back, then the order fails.
    let flagged = orders
        .place_order(authed(place("flagged", vec![line("sku-pen", 5, 100)], "tok_flagged_1"), &alice))
        .await
        .expect("place")
        .into_inner()
        .order
        .expect("order");
    let done = settled(&cluster, &flagged.order_id, &alice, within).await;
    assert_eq!(done.status(), order::OrderStatus::Failed);
    let failure = done.failure.expect("failure");
    assert_eq!(failure.code(), order::FailureCode::PaymentDeclined);
    assert!(failure.compensation_confirmed);
    assert_eq!(cluster.charge(&flagged.order_id).await.map(|c| c.status()), Some(billing::ChargeStatus::Declined));
    let pen = cluster.product("sku-pen").await;
    assert_eq!((pen.available, pen.reserved), (98, 2), "the declined order's 5 units were released");

    // Provider timeout: no reply; the payment deadline fails the step and compensates.
    let started = Instant::now();
    let slow = orders
        .place_order(authed(place("slow", vec![line("sku-pen", 1, 100)], "tok_timeout_1"), &alice))
        .await
        .expect("place")
        .into_inner()
        .order
        .expect("order");
    let done = settled(&cluster, &slow.order_id, &alice, within).await;
    assert_eq!(done.status(), order::OrderStatus::Failed);
    assert_eq!(done.failure.as_ref().map(|f| f.code()), Some(order::FailureCode::PaymentTimedOut));
    assert!(started.elapsed() >= Duration::from_secs(5), "failed at the deadline, not before");
    let pen = cluster.product("sku-pen").await;
    assert_eq!((pen.available, pen.reserved), (98, 2));
    assert_eq!(cluster.account("alice").await.balance, 1_000_000 - 3000, "nothing taken on a timeout");

    // Concurrent orders on the last 3 units: exactly 3 succeed, no oversell.
    let mut tasks = Vec::new();
    for n in 0..10 {
        let token = cluster.token(&format!("buyer-{n}"), Role::Applicant);
        cluster.open_account(&format!("buyer-{n}"), 10_000, 0).await;
        let mut client = cluster.orders().await;
        tasks.push(tokio::spawn(async move {
            let request = authed(place("last", vec![line("sku-last", 1, 900)], "tok_visa"), &token);
            let order = client.place_order(request).await.expect("place").into_inner().order.expect("order");
            (order.order_id, token)
        }));
    }
    let mut outcomes = BTreeMap::new();
    for task in tasks {
        let (id, token) = task.await.unwrap();
        let done = settled(&cluster, &id, &token, within).await;
        *outcomes.entry(format!("{:?}", done.status())).or_insert(0) += 1;
    }
    assert_eq!(outcomes.get("Confirmed"), Some(&3), "{outcomes:?}");
    assert_eq!(outcomes.get("Failed"), Some(&7), "{outcomes:?}");
    let last = cluster.product("sku-last").await;
    assert_eq!((last.available, last.reserved), (0, 3));

    // The customer was told of each outcome by the notification service.
    let channel = cluster.channel("notification").await;
    let mut notifications = notification::notification_service_client::NotificationServiceClient::new(channel);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = notifications
            .list_notifications(authed(notification::ListNotificationsRequest::default(), &alice))
            .await
            .expect("notifications")
            .into_inner();
        let confirmed = list.notifications.iter().filter(|n| n.kind == "order.confirmed").count();
        let failed = list.notifications.iter().filter(|n| n.kind == "order.failed").count();
        if confirmed == 1 && failed == 3 {
            assert!(list.notifications.iter().any(|n| n.body.contains("card flagged")), "{list:?}");
            break;
        }
        assert!(Instant::now() < deadline, "customer notifications: {list:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Orders keep flowing while order, stock and billing are killed with SIGKILL at random
/// points (20 rounds) and restarted. Afterwards every order is in exactly one terminal state,
/// none is left pending, the stock is conserved (initial = available + reserved, and the
/// reserved units are exactly those of the confirmed orders, i.e. sold), each order has at
/// most one charge, and the accounts' balances match the charges.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashes_at_random_points_leave_every_saga_settled_and_consistent() {
    const INITIAL: u64 = 500;
    const OPENING: i64 = 100_000;
    let mut cluster = Cluster::start().await;
    let (products, customers, mut placed) = open_shop(&cluster, INITIAL, OPENING).await;
    let victims: [&'static str; 3] = ["billing", "order", "stock"];
    let mut rng = rand::thread_rng();
    for round in 0..20 {
        // A burst of orders (some declined, some on scarce stock), then a crash at a random
        // moment inside it.
        let mut client = cluster.orders().await;
        let burst = rng.gen_range(3..8);
        for n in 0..burst {
            let (customer, token) = &customers[rng.gen_range(0..customers.len())];
            let product = products[rng.gen_range(0..products.len())];
            let quantity = rng.gen_range(1..4);
            let payment = if rng.gen_bool(0.2) { "tok_flagged" } else { "tok_visa" };
            let key = format!("r{round}-{n}");
            let request = authed(place(&key, vec![line(product, quantity, 250)], payment), token);
            match client.place_order(request).await {
                Ok(response) => placed.push((response.into_inner().order.expect("order").order_id, customer.clone())),
                Err(status) => panic!("PlaceOrder {key}: {status}"),
            }
        }
        let victim = victims[round % victims.len()];
        let delay = Duration::from_millis(rng.gen_range(0..600));
        tokio::time::sleep(delay).await;
        let down_for = Duration::from_millis(rng.gen_range(0..1500));
        tokio::task::block_in_place(|| cluster.crash_and_restart(victim, down_for));
        // The restarted service is back in the flow (its consumer group re-formed) before the
        // next crash: an order goes through end to end.
        recovered(&cluster, &customers[round % customers.len()], &format!("probe-{round}"), &mut placed).await;
    }

    let (orders, confirmed, spent) =
        settled_and_consistent(&cluster, &placed, &products, INITIAL, &customers, OPENING).await;
    eprintln!(
        "crash test: {} orders, {} confirmed, {} failed, {} charged in all, {} process starts",
        orders,
        confirmed,
        orders - confirmed,
        spent,
        cluster.starts
    );
}

/// Waits (three minutes at most) until every placed order is terminal, then checks the saga's
/// invariants: one order per PlaceOrder key, failed orders compensated, stock conserved with
/// the reserved units exactly those sold, at most one charge per order, confirmed orders paid
/// once, balances matching the charges. Returns the orders, the confirmed ones and the money
/// taken.
async fn settled_and_consistent(
    cluster: &Cluster,
    placed: &[(String, String)],
    products: &[&str],
    initial: u64,
    customers: &[(String, String)],
    opening: i64,
) -> (usize, usize, i64) {
    // Every saga settles: confirmed, or failed with its compensation confirmed.
    let deadline = Instant::now() + Duration::from_secs(180);
    let orders = loop {
        let orders = cluster.all_orders().await;
        let open: Vec<&order::Order> = orders.iter().filter(|o| !is_terminal(o.status())).collect();
        if orders.len() == placed.len() && open.is_empty() {
            break orders;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} orders still open, e.g. {:?}",
            open.len(),
            placed.len(),
            open.first()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let by_id: BTreeMap<&str, &order::Order> = orders.iter().map(|o| (o.order_id.as_str(), o)).collect();
    assert_eq!(by_id.len(), placed.len(), "one order per PlaceOrder key");
    let confirmed: Vec<&order::Order> = orders.iter().filter(|o| o.status() == order::OrderStatus::Confirmed).collect();
    assert!(!confirmed.is_empty(), "some orders went through");
    for o in &orders {
        if o.status() == order::OrderStatus::Failed {
            let failure = o.failure.as_ref().expect("a failed order says why");
            assert!(!failure.reason.is_empty());
            assert!(failure.compensation_confirmed, "compensation of {} unconfirmed: {failure:?}", o.order_id);
        }
    }

    // Stock conserved; reserved units are exactly the confirmed (sold) ones.
    let mut sold: BTreeMap<&str, u64> = BTreeMap::new();
    for o in &confirmed {
        for l in &o.lines {
            *sold.entry(products.iter().find(|p| **p == l.product_id).copied().unwrap()).or_default() +=
                u64::from(l.quantity);
        }
    }
    for product in products.iter().copied() {
        let p = cluster.product(product).await;
        let sold = sold.get(product).copied().unwrap_or(0);
        assert_eq!(p.available + p.reserved, initial, "{product}: {p:?}");
        assert_eq!(p.reserved, sold, "{product}: reserved units are those of confirmed orders");
    }

    // One charge at most per order; confirmed orders paid once; balances match the charges.
    // A payment approved after its saga gave up is refunded asynchronously: wait for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let spent = loop {
        match charges_consistent(cluster, &by_id, customers, opening).await {
            Ok(spent) => break spent,
            Err(problem) if Instant::now() < deadline => {
                eprintln!("waiting: {problem}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(problem) => panic!("{problem}"),
        }
    };
    (orders.len(), confirmed.len(), spent)
}

/// `fleuve infra` killed with SIGKILL with orders in flight, kept down 5 s (orders still
/// accepted: the outbox holds their events), then started again on its directory and ports:
/// the broker replays its journal (records, committed offsets, idempotent producers), the
/// groups form again, and every order ends in one terminal state, none charged twice, stock
/// conserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_broker_restarted_on_its_directory_loses_no_saga() {
    const INITIAL: u64 = 1_000;
    const OPENING: i64 = 1_000_000;
    let mut cluster = Cluster::start_kept().await;
    let (products, customers, mut placed) = open_shop(&cluster, INITIAL, OPENING).await;
    let total = fault_orders();
    placed.extend(place_batch(&cluster, &customers, &products, 0..total / 2).await);
    tokio::task::block_in_place(|| cluster.infra.kill());
    let killed = Instant::now();
    placed.extend(place_batch(&cluster, &customers, &products, total / 2..total).await);
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(killed.elapsed())).await;
    tokio::task::block_in_place(|| cluster.restart_infra(Duration::ZERO));
    let restarted = Instant::now();
    eprintln!("broker kill: down {:?}, {} orders placed meanwhile", killed.elapsed(), total - total / 2);
    recovered(&cluster, &customers[1], "after-restart", &mut placed).await;
    let (orders, confirmed, spent) =
        settled_and_consistent(&cluster, &placed, &products, INITIAL, &customers, OPENING).await;
    eprintln!(
        "broker kill test: {orders} orders, {confirmed} confirmed, {} failed, {spent} charged, settled {:?} after the restart",
        orders - confirmed,
        restarted.elapsed()
    );
}

/// Crashes per failpoint in the suite (`FLEUVE_FAILPOINT_ROUNDS` for a larger run).
fn failpoint_rounds() -> usize {
    std::env::var("FLEUVE_FAILPOINT_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(10)
}

/// One PlaceOrder attempt on a fresh connection (the order service may be down or crashing);
/// the order id if it answered.
async fn try_place(cluster: &Cluster, key: &str, product: &str, customer: &(String, String)) -> Option<String> {
    let url = format!("http://127.0.0.1:{}", cluster.ports["order"]);
    let endpoint = Channel::from_shared(url).ok()?.connect_timeout(Duration::from_secs(1));
    let channel = endpoint.timeout(Duration::from_secs(10)).connect().await.ok()?;
    let request = authed(place(key, vec![line(product, 1, 250)], "tok_visa"), &customer.1);
    let response = order::order_service_client::OrderServiceClient::new(channel).place_order(request).await.ok()?;
    Some(response.into_inner().order.expect("order").order_id)
}

/// Processes aborted at the exact windows where a crash could lose or repeat work, armed one
/// at a time in every service (order, stock, billing, notification) with `FAILPOINTS`:
/// after a consumer's transaction commits and before its offset is stored; after the broker
/// acknowledged the relay's batch and before its checkpoint moves past it; inside a consumer's
/// transaction before it commits. Orders flow until each point has aborted a process
/// `failpoint_rounds()` times, every aborted process restarted at once; then the services
/// restart unarmed and every saga must settle consistently (one terminal state per order, at
/// most one charge, stock conserved, balances matching the charges).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashes_in_the_exact_windows_leave_every_saga_settled_and_consistent() {
    const INITIAL: u64 = 100_000;
    const OPENING: i64 = 100_000_000;
    let mut cluster = Cluster::start().await;
    let (products, customers, mut placed) = open_shop(&cluster, INITIAL, OPENING).await;
    let rounds = failpoint_rounds();
    let mut report = Vec::new();
    for (point, chance) in
        [("consumer-before-offset-store", "3%"), ("relay-before-mark", "10%"), ("consumer-before-commit", "1%")]
    {
        tokio::task::block_in_place(|| cluster.arm(Some(format!("{point}={chance}return"))));
        let started = Instant::now();
        let before = placed.len();
        let mut crashes = 0;
        let mut n = 0;
        while crashes < rounds {
            for _ in 0..3 {
                let customer = &customers[n % customers.len()];
                let key = format!("{point}-{n}");
                // Again with the same key until the order service answers: one order per key
                // whatever happened to the earlier attempts.
                let order_id = loop {
                    if let Some(id) = try_place(&cluster, &key, products[n % products.len()], customer).await {
                        break id;
                    }
                    crashes += tokio::task::block_in_place(|| cluster.respawn_exited());
                    assert!(started.elapsed() < Duration::from_secs(600), "{point}: PlaceOrder {key} unanswered");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                };
                placed.push((order_id, customer.0.clone()));
                n += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            crashes += tokio::task::block_in_place(|| cluster.respawn_exited());
            assert!(started.elapsed() < Duration::from_secs(600), "{point}: {crashes} crashes in ten minutes");
        }
        eprintln!(
            "failpoint {point}: {crashes} processes aborted over {} orders in {:?}",
            placed.len() - before,
            started.elapsed()
        );
        report.push((point, crashes, placed.len() - before));
    }
    tokio::task::block_in_place(|| cluster.arm(None));
    let (orders, confirmed, spent) =
        settled_and_consistent(&cluster, &placed, &products, INITIAL, &customers, OPENING).await;
    eprintln!(
        "failpoint test: {report:?}; {orders} orders, {confirmed} confirmed, {} failed, {spent} charged, {} process starts",
        orders - confirmed,
        cluster.starts
    );
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(process: &Process, signal: &str) {
    let status = std::process::Command::new("kill").args([&format!("-{signal}"), &process.0.id().to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{signal}");
}

/// Orders the freeze test places: half before the freeze, half while the broker is frozen
/// (`FLEUVE_FAULT_ORDERS` for a larger run).
fn fault_orders() -> usize {
    std::env::var("FLEUVE_FAULT_ORDERS").ok().and_then(|n| n.parse().ok()).unwrap_or(500)
}

/// Places the orders numbered `range` one after the other, spread over the customers and
/// products; returns each order's id and customer.
async fn place_batch(
    cluster: &Cluster,
    customers: &[(String, String)],
    products: &[&str],
    range: std::ops::Range<usize>,
) -> Vec<(String, String)> {
    let mut client = cluster.orders().await;
    let mut placed = Vec::new();
    for n in range {
        let (customer, token) = &customers[n % customers.len()];
        let product = products[n % products.len()];
        let quantity = 1 + u32::try_from(n % 3).unwrap();
        let request = authed(place(&format!("batch-{n}"), vec![line(product, quantity, 250)], "tok_visa"), token);
        let order = client.place_order(request).await.unwrap_or_else(|s| panic!("PlaceOrder {n}: {s}"));
        placed.push((order.into_inner().order.expect("order").order_id, customer.clone()));
    }
    placed
}

/// `fleuve infra` (broker and registry) frozen with SIGSTOP for 30 s while orders are in
/// flight, then resumed. The freeze outlasts the consumers' 10 s session timeout, so every
/// member of every consumer group has lapsed when the broker wakes up; the groups must form
/// again (tansu 0.6.0's own coordinator never did: see `broker/groups.rs`). Orders keep being
/// accepted during the freeze (the outbox holds their events). Afterwards every order is in
/// one terminal state, none is charged twice and the stock is conserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_broker_delays_sagas_but_loses_none() {
    const INITIAL: u64 = 1_000;
    const OPENING: i64 = 1_000_000;
    const FREEZE: Duration = Duration::from_secs(30);
    let cluster = Cluster::start().await;
    let (products, customers, mut placed) = open_shop(&cluster, INITIAL, OPENING).await;

    let total = fault_orders();
    placed.extend(place_batch(&cluster, &customers, &products, 0..total / 2).await);
    signal(&cluster.infra, "STOP");
    let frozen_at = Instant::now();
    let during = place_batch(&cluster, &customers, &products, total / 2..total).await;
    let placed_frozen = during.len();
    placed.extend(during);
    tokio::time::sleep(FREEZE.saturating_sub(frozen_at.elapsed())).await;
    signal(&cluster.infra, "CONT");
    let resumed = Instant::now();
    eprintln!("freeze: {placed_frozen} orders placed while the broker was frozen for {:?}", frozen_at.elapsed());

    // The flow is back: an order placed now goes through end to end.
    recovered(&cluster, &customers[1], "after-freeze", &mut placed).await;
    eprintln!("freeze: an order went through {:?} after the broker resumed", resumed.elapsed());
    let (orders, confirmed, spent) =
        settled_and_consistent(&cluster, &placed, &products, INITIAL, &customers, OPENING).await;
    eprintln!(
        "freeze test: {orders} orders, {confirmed} confirmed, {} failed, {spent} charged, all settled {:?} after the resume",
        orders - confirmed,
        resumed.elapsed()
    );
}

/// Opens the shop of the fault tests: three products with `initial` units each, four customers
/// with `opening` in their accounts; then waits until one order goes through (every consumer
/// group formed). Returns the products, the customers (id, token) and the orders placed.
async fn open_shop(
    cluster: &Cluster,
    initial: u64,
    opening: i64,
) -> ([&'static str; 3], Vec<(String, String)>, Vec<(String, String)>) {
    let products = ["sku-a", "sku-b", "sku-c"];
    for product in products {
        cluster.create_product(product, initial).await;
    }
    let customers: Vec<(String, String)> = (0..4)
        .map(|n| {
            let id = format!("customer-{n}");
            (id.clone(), cluster.token(&id, Role::Applicant))
        })
        .collect();
    for (id, _) in &customers {
        cluster.open_account(id, opening, 0).await;
    }
    let mut placed = Vec::new();
    recovered(cluster, &customers[0], "warm-up", &mut placed).await;
    (products, customers, placed)
}

/// Places orders until one is confirmed (within two minutes), so the whole saga flows again;
/// every order placed is recorded in `placed`.
async fn recovered(cluster: &Cluster, customer: &(String, String), label: &str, placed: &mut Vec<(String, String)>) {
    let (id, token) = customer;
    let deadline = Instant::now() + Duration::from_secs(120);
    for attempt in 0.. {
        let key = format!("{label}-{attempt}");
        let request = authed(place(&key, vec![line("sku-a", 1, 250)], "tok_visa"), token);
        let order = cluster.orders().await.place_order(request).await.expect("probe order").into_inner().order;
        let order_id = order.expect("order").order_id;
        placed.push((order_id.clone(), id.clone()));
        let done = settled(cluster, &order_id, token, Duration::from_secs(120)).await;
        if done.status() == order::OrderStatus::Confirmed {
            return;
        }
        assert!(Instant::now() < deadline, "{label}: no order went through within two minutes: {done:?}");
    }
}

/// Checks the charges against the settled orders; the money taken in all, or what is wrong.
async fn charges_consistent(
    cluster: &Cluster,
    orders: &BTreeMap<&str, &order::Order>,
    customers: &[(String, String)],
    opening: i64,
) -> Result<i64, String> {
    let charges = cluster.all_charges().await;
    let mut per_order: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &charges {
        *per_order.entry(c.order_id.as_str()).or_default() += 1;
    }
    if let Some((id, n)) = per_order.iter().find(|(_, n)| **n > 1) {
        return Err(format!("order {id} has {n} charges"));
    }
    let mut spent: BTreeMap<&str, i64> = BTreeMap::new();
    for c in &charges {
        let Some(order) = orders.get(c.order_id.as_str()) else {
            return Err(format!("charge {} belongs to no order", c.charge_id));
        };
        let approved = matches!(c.status(), billing::ChargeStatus::Approved | billing::ChargeStatus::Refunded);
        let taken = if approved { c.amount.as_ref().map_or(0, |m| m.amount) - c.refunded } else { 0 };
        if order.status() == order::OrderStatus::Confirmed {
            if c.status() != billing::ChargeStatus::Approved
                || c.amount.as_ref().map(|m| m.amount) != order.total.as_ref().map(|m| m.amount)
            {
                return Err(format!("confirmed order {} has charge {c:?}", order.order_id));
            }
        } else if taken != 0 {
            return Err(format!("failed order {} still holds {taken}: {c:?}", order.order_id));
        }
        *spent.entry(c.customer_id.as_str()).or_default() += taken;
    }
    for o in orders.values().filter(|o| o.status() == order::OrderStatus::Confirmed) {
        if !per_order.contains_key(o.order_id.as_str()) {
            return Err(format!("confirmed order {} has no charge", o.order_id));
        }
    }
    for (id, _) in customers {
        let balance = cluster.account(id).await.balance;
        let expected = opening - spent.get(id.as_str()).copied().unwrap_or(0);
        if balance != expected {
            return Err(format!("{id}: balance {balance}, charges say {expected}"));
        }
    }
    Ok(spent.values().sum())
}

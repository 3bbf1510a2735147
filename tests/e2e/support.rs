//! The end-to-end tests' harness: starts the same node `fleuve dev` starts (all services, common layers) on an
//! ephemeral port over SQLite or a throwaway PostgreSQL database, and gives typed clients.

use std::{net::SocketAddr, path::PathBuf};

use fleuve::{
    dev::{self, DataDir},
    node,
};
use fleuve_identity::DemoAccounts;
use fleuve_mesh::{MeshConfig, Role, auth::TokenIssuer};
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::testing::TestDatabase;
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub use fleuve_proto;

/// The database a node runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running node; stops and cleans up on drop.
///
/// The node (gRPC server, schema registry, Kafka-API broker, outbox relay and projection
/// consumers: what `fleuve dev` runs) lives on its own multi-thread runtime on its own thread,
/// so stopping it — which closes Kafka clients, a blocking operation — never depends on the
/// test's runtime being polled.
pub struct TestNode {
    pub addr: SocketAddr,
    pub channel: Channel,
    pub demo: DemoAccounts,
    pub issuer: TokenIssuer,
    pub config: MeshConfig,
    pub database: fleuve_store::Database,
    /// `http://host:port` of the node's schema registry.
    pub registry_url: String,
    /// Bootstrap servers of the node's Kafka-API broker.
    pub bootstrap_servers: String,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: Option<std::sync::mpsc::Receiver<()>>,
    _pg: Option<TestDatabase>,
    _dir: TempDir,
}

impl std::fmt::Debug for TestNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNode").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// A fresh directory under the system's temporary directory, removed when dropped, unless the
/// test is failing: then it is kept and its path printed, for what it holds (logs, data).
pub fn temp_dir(prefix: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

/// See [`temp_dir`].
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = PathBuf;

    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else if self.0.exists() {
            eprintln!("kept {}", self.0.display());
        }
    }
}

/// What the node thread reports once it is up.
struct Started {
    addr: SocketAddr,
    demo: DemoAccounts,
    issuer: TokenIssuer,
    config: MeshConfig,
    database: fleuve_store::Database,
    registry_url: String,
    bootstrap_servers: String,
}

/// How long a stopping node may take before the test gives up waiting for it.
const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl TestNode {
    pub async fn start(backend: Backend) -> TestNode {
        Self::start_with(backend, MeshConfig::default()).await
    }

    pub async fn start_with(backend: Backend, config: MeshConfig) -> TestNode {
        let dir = temp_dir("fleuve-node");
        let data = DataDir::new(dir.as_path());
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDatabase::postgres(&node::MIGRATIONS).await.expect("postgres test database")),
        };
        let database_url = pg.as_ref().map(|db| db.url().to_owned());
        let (ready_tx, ready_rx) = oneshot::channel::<Result<Started, String>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped_rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("fleuve-test-node".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(4)
                    .enable_all()
                    .build()
                    .expect("node runtime");
                runtime.block_on(async move {
                    match dev::prepare_on(config, &data, dev::DevListen::ephemeral(), database_url).await {
                        Err(error) => {
                            let _ = ready_tx.send(Err(format!("{error:#}")));
                        }
                        Ok(node) => {
                            let started = Started {
                                addr: node.addr,
                                demo: node.demo.clone(),
                                issuer: node.issuer.clone(),
                                config: node.config.clone(),
                                database: node.database.clone(),
                                registry_url: format!("http://{}", node.registry_addr),
                                bootstrap_servers: node.broker.bootstrap_servers(),
                            };
                            let _ = ready_tx.send(Ok(started));
                            if let Err(error) = node
                                .run(async move {
                                    let _ = shutdown_rx.await;
                                })
                                .await
                            {
                                eprintln!("test node stopped with an error: {error:#}");
                            }
                        }
                    }
                });
                let _ = stopped_tx.send(());
            })
            .expect("node thread");
        let started = ready_rx.await.expect("node thread ended before it was ready").expect("start the node");
        let channel = Channel::from_shared(format!("http://{}", started.addr)).expect("uri").connect_lazy();
        TestNode {
            addr: started.addr,
            channel,
            demo: started.demo,
            issuer: started.issuer,
            config: started.config,
            database: started.database,
            registry_url: started.registry_url,
            bootstrap_servers: started.bootstrap_servers,
            shutdown: Some(shutdown_tx),
            stopped: Some(stopped_rx),
            _pg: pg,
            _dir: dir,
        }
    }

    /// A token for a demo user.
    pub fn token(&self, role: Role) -> String {
        let user = match role {
            Role::Admin => &self.demo.admin,
            Role::Reviewer => &self.demo.reviewer,
            Role::Applicant => &self.demo.applicant,
        };
        self.issuer.issue(&user.user_id, role, &user.organisation_id).expect("token").0
    }

    /// How many rows `table` holds in the node's database.
    pub async fn count_rows(&self, table: &'static str) -> i64 {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.database
            .run(move |conn| {
                diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                    .get_result::<Count>(conn)
                    .map(|c| c.n)
                    .map_err(anyhow::Error::from)
            })
            .await
            .expect("count rows")
    }

    /// A token for the applicant of the second demo organisation.
    pub fn other_applicant_token(&self) -> String {
        let user = &self.demo.second_applicant;
        self.issuer.issue(&user.user_id, Role::Applicant, &user.organisation_id).expect("token").0
    }

    pub fn dossiers(&self) -> pb::dossier_service_client::DossierServiceClient<Channel> {
        pb::dossier_service_client::DossierServiceClient::new(self.channel.clone())
    }

    pub fn certificates(&self) -> pb::certificate_service_client::CertificateServiceClient<Channel> {
        pb::certificate_service_client::CertificateServiceClient::new(self.channel.clone())
    }

    pub fn queries(&self) -> pb::homologation_query_service_client::HomologationQueryServiceClient<Channel> {
        pb::homologation_query_service_client::HomologationQueryServiceClient::new(self.channel.clone())
    }

    pub fn registry(&self) -> pb::certificate_registry_service_client::CertificateRegistryServiceClient<Channel> {
        pb::certificate_registry_service_client::CertificateRegistryServiceClient::new(self.channel.clone())
    }

    pub fn identity(&self) -> fleuve_proto::identity::v1::identity_service_client::IdentityServiceClient<Channel> {
        fleuve_proto::identity::v1::identity_service_client::IdentityServiceClient::new(self.channel.clone())
    }

    /// How many events the store holds, all streams together.
    pub async fn event_count(&self) -> usize {
        self.database
            .run(|conn| fleuve_store::event_store::read_all(conn, 0, i64::MAX))
            .await
            .expect("read the event store")
            .len()
    }

    /// Stops the node (server, consumers, relay, registry, broker) and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            let _ = tokio::task::spawn_blocking(move || stopped.recv_timeout(STOP_TIMEOUT)).await;
        }
    }

    /// Waits until `check` holds (projections are eventually consistent), up to 30 s.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while !check().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            // The node runs on its own runtime, so waiting here cannot deadlock it.
            let _ = stopped.recv_timeout(STOP_TIMEOUT);
        }
    }
}

/// A request with a bearer token.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    request
}

pub fn sha256_of(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// A valid mobile terminal.
pub fn equipment(brand: &str, model: &str) -> pb::Equipment {
    pb::Equipment {
        brand: brand.into(),
        model: model.into(),
        category: pb::EquipmentCategory::MobileTerminal as i32,
        frequency_bands: vec![pb::FrequencyBand { lower_khz: 880_000, upper_khz: 960_000 }],
        characteristics: vec![pb::Characteristic { name: "max_power".into(), value: "2 W".into() }],
    }
}

pub fn document(dossier_id: &str, kind: pb::DocumentKind) -> pb::AttachDocumentRequest {
    pb::AttachDocumentRequest {
        dossier_id: dossier_id.into(),
        kind: kind as i32,
        file_name: format!("{}.pdf", kind.as_str_name().to_lowercase()),
        media_type: "application/pdf".into(),
        size_bytes: 48_213,
        sha256: sha256_of(kind.as_str_name()),
        ..Default::default()
    }
}

pub const MANDATORY: [pb::DocumentKind; 4] = [
    pb::DocumentKind::TechnicalDatasheet,
    pb::DocumentKind::DeclarationOfConformity,
    pb::DocumentKind::TradeRegisterExtract,
    pb::DocumentKind::Photos,
];

/// Creates a dossier as the demo applicant, attaches the mandatory documents and submits it.
/// Who takes part in a dossier's life, and where: an in-process [`TestNode`], or a `fleuve
/// dev` process reached through its banner ([`RemoteParties`]).
pub trait Parties {
    fn token(&self, role: Role) -> String;
    fn channel(&self) -> Channel;
    /// The demo reviewer's user id (dossiers are assigned to them).
    fn reviewer_id(&self) -> String;
}

impl Parties for TestNode {
    fn token(&self, role: Role) -> String {
        TestNode::token(self, role)
    }
    fn channel(&self) -> Channel {
        self.channel.clone()
    }
    fn reviewer_id(&self) -> String {
        self.demo.reviewer.user_id.clone()
    }
}

/// The demo users of a `fleuve dev` process, from its banner's `export` lines.
#[derive(Debug, Clone)]
pub struct RemoteParties {
    pub channel: Channel,
    pub vars: std::collections::HashMap<String, String>,
}

impl Parties for RemoteParties {
    fn token(&self, role: Role) -> String {
        let name = match role {
            Role::Admin => "ADMIN_TOKEN",
            Role::Reviewer => "REVIEWER_TOKEN",
            Role::Applicant => "APPLICANT_TOKEN",
        };
        self.vars[name].clone()
    }
    fn channel(&self) -> Channel {
        self.channel.clone()
    }
    fn reviewer_id(&self) -> String {
        self.vars["REVIEWER_ID"].clone()
    }
}

pub async fn submitted_dossier(node: &impl Parties, brand: &str, model: &str) -> String {
    let applicant = node.token(Role::Applicant);
    let mut dossiers = pb::dossier_service_client::DossierServiceClient::new(node.channel());
    let id = dossiers
        .create_dossier(authed(pb::CreateDossierRequest { equipment: Some(equipment(brand, model)) }, &applicant))
        .await
        .expect("create")
        .into_inner()
        .dossier_id;
    for kind in MANDATORY {
        dossiers.attach_document(authed(document(&id, kind), &applicant)).await.expect("attach");
    }
    dossiers
        .submit_dossier(authed(pb::SubmitDossierRequest { dossier_id: id.clone(), expected_version: 0 }, &applicant))
        .await
        .expect("submit");
    id
}

/// A dossier filed, reviewed and approved (a certificate issued); returns its id.
pub async fn approved_dossier(node: &impl Parties, brand: &str, model: &str) -> String {
    certified_dossier(node, brand, model).await.0
}

/// A dossier filed, reviewed and approved; returns its id and its certificate's number.
pub async fn certified_dossier(node: &impl Parties, brand: &str, model: &str) -> (String, String) {
    let id = submitted_dossier(node, brand, model).await;
    ready_for_decision(node, &id).await;
    let approved = pb::dossier_service_client::DossierServiceClient::new(node.channel())
        .approve_dossier(authed(
            pb::ApproveDossierRequest { dossier_id: id.clone(), expected_version: 0, validity_years: 0 },
            &node.token(Role::Admin),
        ))
        .await
        .expect("approve")
        .into_inner();
    (id, approved.certificate_number)
}

/// Takes a submitted dossier to the point where only the decision is missing: invoiced, paid,
/// reviewer assigned, CE certificate recognised, favourable opinion.
pub async fn ready_for_decision(node: &impl Parties, id: &str) {
    let (admin, reviewer) = (node.token(Role::Admin), node.token(Role::Reviewer));
    let mut dossiers = pb::dossier_service_client::DossierServiceClient::new(node.channel());
    let invoice = dossiers
        .invoice_fee(authed(pb::InvoiceFeeRequest { dossier_id: id.into(), expected_version: 0 }, &admin))
        .await
        .expect("invoice")
        .into_inner()
        .invoice
        .expect("invoice");
    dossiers
        .record_payment(authed(
            pb::RecordPaymentRequest {
                dossier_id: id.into(),
                expected_version: 0,
                payment_reference: "MOMO-2026-0001".into(),
                amount: invoice.amount,
            },
            &admin,
        ))
        .await
        .expect("payment");
    dossiers
        .assign_reviewer(authed(
            pb::AssignReviewerRequest { dossier_id: id.into(), expected_version: 0, reviewer_id: node.reviewer_id() },
            &admin,
        ))
        .await
        .expect("assign");
    dossiers
        .recognize_foreign_certificate(authed(
            pb::RecognizeForeignCertificateRequest {
                dossier_id: id.into(),
                expected_version: 0,
                scheme: pb::ForeignScheme::Ce as i32,
                reference: "CE-RED-2025-0042".into(),
                issuer: "TUV Rheinland".into(),
            },
            &reviewer,
        ))
        .await
        .expect("foreign certificate");
    dossiers
        .give_technical_opinion(authed(
            pb::GiveTechnicalOpinionRequest {
                dossier_id: id.into(),
                expected_version: 0,
                favorable: true,
                comments: "conforme aux normes ETSI".into(),
            },
            &reviewer,
        ))
        .await
        .expect("opinion");
}

/// The `fleuve` binary Cargo built for these tests.
pub fn fleuve_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fleuve"))
}

/// A command running the `fleuve` binary, its admin server on an ephemeral port (tests run
/// many processes at once; one that scrapes its metrics sets `FLEUVE_ADMIN__LISTEN`).
pub fn fleuve_command() -> std::process::Command {
    let mut command = std::process::Command::new(fleuve_binary());
    command.env("FLEUVE_ADMIN__LISTEN", "127.0.0.1:0");
    command
}

/// Public verification of `number` once the certificate-registry projection shows what
/// `check` expects (it consumes the certificate events from Kafka, so it lags the command).
pub async fn verified_when(
    node: &TestNode,
    number: &str,
    what: &str,
    check: impl Fn(&pb::VerifyCertificateResponse) -> bool,
) -> pb::VerifyCertificateResponse {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let answer = node
            .registry()
            .verify_certificate(pb::VerifyCertificateRequest { certificate_number: number.to_owned() })
            .await;
        match answer {
            Ok(response) if check(response.get_ref()) => return response.into_inner(),
            Ok(_) | Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            Ok(response) => panic!("certificate {number}: never {what}: last answer {response:?}"),
            Err(status) => panic!("certificate {number}: never {what}: last answer {status:?}"),
        }
    }
}

//! Identity against real databases: every test body runs on SQLite and on PostgreSQL.

use argon2::PasswordHash;
use diesel::prelude::*;
use fleuve_aggregate::{AppError, DomainError};
use fleuve_identity::{
    DEMO_PASSWORD, DemoAccounts, DisplayName, Email, Identity, IdentityGrpc, MIGRATIONS, NewUser, PageRequest,
    Password, User,
};
use fleuve_mesh::{
    Principal, Role,
    auth::{Jwk, JwkSet, SigningKey, TokenIssuer, TokenVerifier},
    config::AuthConfig,
};
use fleuve_proto::identity::v1 as pb;
use fleuve_proto::identity::v1::identity_service_server::IdentityService;
use fleuve_store::testing::TestDatabase;
use tonic::{Code, Request};

struct Harness {
    identity: Identity,
    grpc: IdentityGrpc,
    auth: AuthConfig,
    demo: DemoAccounts,
    // Last, so it is dropped (and the database removed) after the pools above.
    db: TestDatabase,
}

impl Harness {
    async fn new(db: TestDatabase) -> Harness {
        let auth = AuthConfig::default();
        let issuer = TokenIssuer::new(SigningKey::generate(), &auth);
        let identity = Identity::new(db.database().clone(), issuer);
        let demo = identity.seed_demo().await.expect("seed demo accounts");
        let grpc = IdentityGrpc::new(identity.clone());
        Harness { db, identity, grpc, auth, demo }
    }

    /// A verifier built only from what GetJwks publishes.
    async fn verifier(&self) -> TokenVerifier {
        let jwks = self.grpc.get_jwks(Request::new(pb::GetJwksRequest {})).await.unwrap().into_inner();
        let keys = JwkSet { keys: jwks.keys.iter().map(Jwk::from_proto).collect() };
        TokenVerifier::new(&self.auth, &keys).unwrap()
    }

    /// The principal the auth layer would derive from a token minted for `user`.
    async fn principal(&self, user: &User) -> Principal {
        let (token, _) = self.identity.token_for(user).unwrap();
        self.verifier().await.verify(&token).unwrap()
    }

    fn count(&self, table: &'static str) -> i64 {
        let mut conn = self.db.database().pool().get().unwrap();
        match table {
            "users" => fleuve_identity::schema::users::table.count().get_result(&mut *conn).unwrap(),
            _ => fleuve_identity::schema::organisations::table.count().get_result(&mut *conn).unwrap(),
        }
    }

    fn stored_hash(&self, email: &str) -> String {
        use fleuve_identity::schema::users;
        let mut conn = self.db.database().pool().get().unwrap();
        users::table.filter(users::email.eq(email)).select(users::password_hash).first(&mut *conn).unwrap()
    }
}

fn as_caller<T>(principal: &Principal, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(principal.clone());
    request
}

fn login(email: &str, password: &str) -> Request<pb::LoginRequest> {
    Request::new(pb::LoginRequest { email: email.into(), password: password.into() })
}

fn new_org(name: &str, registration_number: &str) -> pb::CreateOrganisationRequest {
    pb::CreateOrganisationRequest {
        name: name.into(),
        registration_number: registration_number.into(),
        country: "cg".into(),
    }
}

fn new_user(email: &str, role: pb::Role, organisation_id: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        email: email.into(),
        display_name: "Jean Malonga".into(),
        password: "pointe-noire-2024".into(),
        role: role.into(),
        organisation_id: organisation_id.into(),
    }
}

async fn create_org_and_user_then_login(h: Harness) {
    let admin = h.principal(&h.demo.admin).await;
    let org = h
        .grpc
        .create_organisation(as_caller(&admin, new_org("  Ouesso Telecom SARL ", "cg-ous-01-2025-b11-00001")))
        .await
        .unwrap()
        .into_inner()
        .organisation
        .unwrap();
    assert_eq!(org.name, "Ouesso Telecom SARL");
    assert_eq!(org.registration_number, "CG-OUS-01-2025-B11-00001");
    assert_eq!(org.country, "CG");
    assert!(uuid::Uuid::parse_str(&org.organisation_id).is_ok());

    let user = h
        .grpc
        .create_user(as_caller(&admin, new_user("Jean.Malonga@Ouesso.cg", pb::Role::Applicant, &org.organisation_id)))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(user.email, "jean.malonga@ouesso.cg");
    assert_eq!(user.role, i32::from(pb::Role::Applicant));
    assert_eq!(user.organisation_id, org.organisation_id);

    // Emails are matched case-insensitively.
    let response = h.grpc.login(login(" JEAN.MALONGA@ouesso.cg", "pointe-noire-2024")).await.unwrap().into_inner();
    assert_eq!(response.token_type, "Bearer");
    assert_eq!(response.expires_in_seconds, i64::try_from(h.auth.token_ttl_seconds).unwrap());
    assert_eq!(response.user.as_ref().unwrap().user_id, user.user_id);

    let header = jsonwebtoken::decode_header(&response.access_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(h.identity.issuer().key().kid()));

    let principal = h.verifier().await.verify(&response.access_token).unwrap();
    assert_eq!(principal.subject, user.user_id);
    assert_eq!(principal.role, Role::Applicant);
    assert_eq!(principal.organisation_id, org.organisation_id);

    let me = h.grpc.who_am_i(as_caller(&principal, pb::WhoAmIRequest {})).await.unwrap().into_inner();
    assert_eq!(me.subject, user.user_id);
    assert_eq!(me.role, i32::from(pb::Role::Applicant));
    assert_eq!(me.organisation_id, org.organisation_id);
    assert_eq!(me.expires_at.unwrap().seconds, principal.expires_at);

    let mine = h.grpc.list_users(as_caller(&principal, pb::ListUsersRequest::default())).await.unwrap().into_inner();
    assert_eq!(mine.users, vec![user]);
    assert!(mine.next_page_token.is_empty());
}

async fn wrong_password_and_unknown_email_look_the_same(h: Harness) {
    let wrong_password = h.grpc.login(login("admin@arpce.cg", "not-the-password")).await.unwrap_err();
    let unknown_email = h.grpc.login(login("nobody@arpce.cg", DEMO_PASSWORD)).await.unwrap_err();
    let malformed_email = h.grpc.login(login("nobody", DEMO_PASSWORD)).await.unwrap_err();
    for status in [&wrong_password, &unknown_email, &malformed_email] {
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "invalid email or password");
    }

    let missing = h.grpc.login(login("", DEMO_PASSWORD)).await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(missing.message().contains("email"), "{missing:?}");
    let missing = h.grpc.login(login("admin@arpce.cg", "")).await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(missing.message().contains("password"), "{missing:?}");

    // The app layer says the same.
    assert!(matches!(
        h.identity.login("admin@arpce.cg", "not-the-password").await,
        Err(AppError::Domain(e)) if e == fleuve_identity::invalid_credentials()
    ));
}

async fn duplicates_already_exist(h: Harness) {
    let admin = h.principal(&h.demo.admin).await;
    let org_id = &h.demo.applicant_organisation.organisation_id;
    h.grpc.create_user(as_caller(&admin, new_user("twice@congomobile.cg", pb::Role::Applicant, org_id))).await.unwrap();
    let status = h
        .grpc
        .create_user(as_caller(&admin, new_user("TWICE@congomobile.cg", pb::Role::Applicant, org_id)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    // Registration numbers are compared in their normalised (uppercase) form.
    let status = h
        .grpc
        .create_organisation(as_caller(&admin, new_org("Congo Mobile bis", "CG-BZV-01-2024-B12-00042")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let status = h
        .grpc
        .create_organisation(as_caller(&admin, new_org("Congo Mobile ter", "cg-bzv-01-2024-b12-00042")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(h.count("users"), 5);
    assert_eq!(h.count("organisations"), 3);
}

async fn only_admins_manage(h: Harness) {
    let org_id = h.demo.applicant_organisation.organisation_id.clone();
    for user in [&h.demo.applicant, &h.demo.reviewer] {
        let caller = h.principal(user).await;
        let status = h.grpc.create_organisation(as_caller(&caller, new_org("Rogue SA", "CG-X-1"))).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        // Refused before validation: bad input from a non-admin is still PERMISSION_DENIED.
        let status = h.grpc.create_organisation(as_caller(&caller, new_org("", ""))).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        let status = h
            .grpc
            .create_user(as_caller(&caller, new_user("rogue@congomobile.cg", pb::Role::Admin, &org_id)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        let status =
            h.grpc.list_organisations(as_caller(&caller, pb::ListOrganisationsRequest::default())).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

        // The app layer enforces it too, whoever calls it.
        let new = NewUser {
            email: Email::parse("rogue@congomobile.cg").unwrap(),
            display_name: DisplayName::parse("Rogue").unwrap(),
            password: Password::parse("rogue-password").unwrap(),
            role: Role::Admin,
            organisation_id: Some(org_id.clone()),
        };
        assert!(matches!(h.identity.create_user(&caller, new).await, Err(AppError::Domain(DomainError::Forbidden(_)))));
    }
    assert_eq!(h.count("users"), 4);

    let anonymous = h.grpc.create_user(Request::new(new_user("x@y.cg", pb::Role::Admin, &org_id))).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let anonymous = h.grpc.who_am_i(Request::new(pb::WhoAmIRequest {})).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}

async fn users_are_listed_within_their_organisation(h: Harness) {
    let d = &h.demo;
    let list = |caller: Principal, organisation_id: &str| {
        let request =
            as_caller(&caller, pb::ListUsersRequest { organisation_id: organisation_id.into(), ..Default::default() });
        let grpc = h.grpc.clone();
        async move { grpc.list_users(request).await }
    };
    let emails = |r: pb::ListUsersResponse| r.users.into_iter().map(|u| u.email).collect::<Vec<_>>();

    let applicant = h.principal(&d.applicant).await;
    let own = list(applicant.clone(), "").await.unwrap().into_inner();
    assert_eq!(emails(own), ["applicant@congomobile.cg"]);
    let own = list(applicant.clone(), &d.applicant_organisation.organisation_id).await.unwrap().into_inner();
    assert_eq!(emails(own), ["applicant@congomobile.cg"]);
    let other = list(applicant, &d.second_applicant_organisation.organisation_id).await.unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);

    let reviewer = h.principal(&d.reviewer).await;
    let mut staff = emails(list(reviewer.clone(), "").await.unwrap().into_inner());
    staff.sort();
    assert_eq!(staff, ["admin@arpce.cg", "reviewer@arpce.cg"]);
    let other = list(reviewer, &d.applicant_organisation.organisation_id).await.unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);

    let admin = h.principal(&d.admin).await;
    let theirs = list(admin.clone(), &d.second_applicant_organisation.organisation_id).await.unwrap().into_inner();
    assert_eq!(emails(theirs), ["applicant@brazzaradio.cg"]);
    assert_eq!(list(admin.clone(), "").await.unwrap().into_inner().users.len(), 4);
    let unknown = list(admin, &uuid::Uuid::now_v7().to_string()).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn create_user_validates_its_input(h: Harness) {
    let admin = h.principal(&h.demo.admin).await;
    let applicant_org = h.demo.applicant_organisation.organisation_id.clone();
    let create = |request: pb::CreateUserRequest| {
        let grpc = h.grpc.clone();
        let request = as_caller(&admin, request);
        async move { grpc.create_user(request).await }
    };
    let invalid = |field: &'static str, request: pb::CreateUserRequest| {
        let create = &create;
        async move {
            let status = create(request).await.unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().contains(field), "{field}: {status:?}");
        }
    };

    invalid("role", new_user("a@congomobile.cg", pb::Role::Unspecified, &applicant_org)).await;
    invalid(
        "role",
        pb::CreateUserRequest { role: 42, ..new_user("a@congomobile.cg", pb::Role::Applicant, &applicant_org) },
    )
    .await;
    invalid("email", new_user("", pb::Role::Applicant, &applicant_org)).await;
    invalid("email", new_user("not-an-email", pb::Role::Applicant, &applicant_org)).await;
    invalid("email", new_user(&format!("{}@congomobile.cg", "a".repeat(250)), pb::Role::Applicant, &applicant_org))
        .await;
    invalid(
        "display_name",
        pb::CreateUserRequest {
            display_name: " ".into(),
            ..new_user("a@congomobile.cg", pb::Role::Applicant, &applicant_org)
        },
    )
    .await;
    invalid(
        "display_name",
        pb::CreateUserRequest {
            display_name: "x".repeat(201),
            ..new_user("a@congomobile.cg", pb::Role::Applicant, &applicant_org)
        },
    )
    .await;
    invalid(
        "password",
        pb::CreateUserRequest {
            password: "short".into(),
            ..new_user("a@congomobile.cg", pb::Role::Applicant, &applicant_org)
        },
    )
    .await;
    invalid(
        "password",
        pb::CreateUserRequest {
            password: "x".repeat(129),
            ..new_user("a@congomobile.cg", pb::Role::Applicant, &applicant_org)
        },
    )
    .await;
    invalid("organisation_id", new_user("a@congomobile.cg", pb::Role::Applicant, "")).await;
    // Staff roles belong to the regulator, never to an applicant's organisation.
    invalid("organisation_id", new_user("a@congomobile.cg", pb::Role::Reviewer, &applicant_org)).await;

    let unknown =
        create(new_user("a@congomobile.cg", pb::Role::Applicant, &uuid::Uuid::now_v7().to_string())).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert!(unknown.message().contains("unknown organisation"));
    assert_eq!(h.count("users"), 4);

    // Staff without an organisation join the admin's, the regulator.
    let reviewer =
        create(new_user("second.reviewer@arpce.cg", pb::Role::Reviewer, "")).await.unwrap().into_inner().user.unwrap();
    assert_eq!(reviewer.organisation_id, h.demo.regulator.organisation_id);
    assert_eq!(reviewer.role, i32::from(pb::Role::Reviewer));
    let status = h.grpc.login(login("second.reviewer@arpce.cg", "pointe-noire-2024")).await.unwrap();
    assert_eq!(status.into_inner().user.unwrap().user_id, reviewer.user_id);
}

async fn seed_demo_is_idempotent(h: Harness) {
    let again = h.identity.seed_demo().await.unwrap();
    let ids = |d: &DemoAccounts| {
        let mut ids: Vec<String> = d.organisations().iter().map(|o| o.organisation_id.clone()).collect();
        ids.extend(d.users().iter().map(|u| u.user_id.clone()));
        ids
    };
    assert_eq!(ids(&again), ids(&h.demo));
    assert_eq!(again.admin, h.demo.admin);
    assert_eq!(h.count("organisations"), 3);
    assert_eq!(h.count("users"), 4);

    // Concurrent starts (several processes on one database) agree too.
    let (a, b) = tokio::join!(h.identity.seed_demo(), h.identity.seed_demo());
    assert_eq!(ids(&a.unwrap()), ids(&h.demo));
    assert_eq!(ids(&b.unwrap()), ids(&h.demo));
    assert_eq!(h.count("users"), 4);

    let d = &h.demo;
    assert_eq!(d.regulator.name, "ARPCE");
    assert_eq!(d.regulator.registration_number, "CG-BZV-ARPCE");
    assert_eq!(d.regulator.country, "CG");
    assert_eq!(d.applicant_organisation.name, "Congo Mobile Equipements SA");
    assert_eq!(d.applicant_organisation.registration_number, "CG-BZV-01-2024-B12-00042");
    assert_eq!(d.second_applicant_organisation.name, "Brazza Radio Import SARL");
    assert_eq!(d.second_applicant_organisation.registration_number, "CG-BZV-01-2023-B14-00777");
    let expected = [
        ("admin@arpce.cg", Role::Admin, &d.regulator),
        ("reviewer@arpce.cg", Role::Reviewer, &d.regulator),
        ("applicant@congomobile.cg", Role::Applicant, &d.applicant_organisation),
        ("applicant@brazzaradio.cg", Role::Applicant, &d.second_applicant_organisation),
    ];
    for (user, (email, role, org)) in d.users().into_iter().zip(expected) {
        assert_eq!(user.email, email);
        assert_eq!(user.role, role);
        assert_eq!(user.organisation_id, org.organisation_id);
        let outcome = h.identity.login(email, DEMO_PASSWORD).await.unwrap();
        assert_eq!(&outcome.user, user);
        assert_eq!(d.password, DEMO_PASSWORD);
    }
}

/// Another process inserts the regulator while our seed runs: the seed must wait for it, lose
/// the race on the unique registration number, and retry onto the winner's row.
async fn seed_demo_loses_a_race_gracefully(h: Harness) {
    use fleuve_identity::schema::organisations;
    use std::sync::mpsc;

    let sets = [MIGRATIONS];
    let empty = match h.db.backend() {
        fleuve_store::Backend::Sqlite => TestDatabase::sqlite(&sets).await,
        fleuve_store::Backend::Postgres => TestDatabase::postgres(&sets).await,
    }
    .unwrap();
    let winner_id = uuid::Uuid::now_v7().to_string();

    // The rival holds an uncommitted insert of the regulator on its own connection.
    let rival_db = fleuve_store::Database::connect(empty.url(), 1).unwrap();
    let (inserted_tx, inserted_rx) = mpsc::channel();
    let (commit_tx, commit_rx) = mpsc::channel::<()>();
    let rival = {
        let winner_id = winner_id.clone();
        std::thread::spawn(move || {
            let mut conn = rival_db.pool().get().unwrap();
            diesel::sql_query("BEGIN").execute(&mut *conn).unwrap();
            diesel::insert_into(organisations::table)
                .values((
                    organisations::organisation_id.eq(&winner_id),
                    organisations::name.eq("ARPCE"),
                    organisations::registration_number.eq("CG-BZV-ARPCE"),
                    organisations::country.eq("CG"),
                    organisations::created_at.eq(chrono::Utc::now().naive_utc()),
                ))
                .execute(&mut *conn)
                .unwrap();
            inserted_tx.send(()).unwrap();
            commit_rx.recv().unwrap();
            diesel::sql_query("COMMIT").execute(&mut *conn).unwrap();
        })
    };
    inserted_rx.recv().unwrap();

    let issuer = TokenIssuer::new(SigningKey::generate(), &h.auth);
    let identity = Identity::new(empty.database().clone(), issuer);
    let seeding = tokio::spawn(async move { identity.seed_demo().await });

    if h.db.backend() == fleuve_store::Backend::Postgres {
        // Commit only once the seed is blocked behind the rival's row, so that it must retry.
        let watcher = fleuve_store::Database::connect(empty.url(), 1).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            #[derive(QueryableByName)]
            struct Waiting {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let waiting: Waiting = watcher
                .run(|conn| {
                    diesel::sql_query(
                        "SELECT count(*) AS n FROM pg_stat_activity \
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    )
                    .get_result(conn)
                    .map_err(fleuve_store::StoreError::from)
                })
                .await
                .unwrap();
            if waiting.n > 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the seed never waited for the rival");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    } else {
        // SQLite: the seed's BEGIN IMMEDIATE simply queues behind the rival; let it get there.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    commit_tx.send(()).unwrap();
    rival.join().unwrap();

    let demo = seeding.await.unwrap().unwrap();
    assert_eq!(demo.regulator.organisation_id, winner_id);
    assert_eq!(demo.admin.organisation_id, winner_id);
}

async fn stored_hash_is_argon2id_phc(h: Harness) {
    let admin = h.principal(&h.demo.admin).await;
    h.grpc
        .create_user(as_caller(
            &admin,
            new_user("hash@congomobile.cg", pb::Role::Applicant, &h.demo.applicant_organisation.organisation_id),
        ))
        .await
        .unwrap();
    for email in ["hash@congomobile.cg", "admin@arpce.cg"] {
        let stored = h.stored_hash(email);
        assert!(!stored.contains("pointe-noire-2024") && !stored.contains(DEMO_PASSWORD));
        let phc = PasswordHash::new(&stored).unwrap();
        assert_eq!(phc.algorithm.as_str(), "argon2id");
        assert_eq!(phc.version, Some(19));
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(phc.salt.is_some() && phc.hash.is_some());
    }
    // Same password, different salts.
    assert_ne!(h.stored_hash("reviewer@arpce.cg"), h.stored_hash("admin@arpce.cg"));
}

async fn organisations_page_without_gaps(h: Harness) {
    let admin = h.principal(&h.demo.admin).await;
    for i in 0..4 {
        h.grpc
            .create_organisation(as_caller(
                &admin,
                new_org(&format!("Importer {i}"), &format!("CG-PNR-01-2025-B10-0000{i}")),
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = h
            .grpc
            .list_organisations(as_caller(&admin, pb::ListOrganisationsRequest { page_size: 3, page_token: token }))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.organisations.len() <= 3);
        seen.extend(page.organisations.into_iter().map(|o| o.organisation_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique, seen, "ids come in order, once each");

    let all = h.identity.list_organisations(&admin, PageRequest::default()).await.unwrap();
    assert_eq!(all.items.len(), 7);
    assert_eq!(all.next_page_token, None);

    for (page_size, page_token) in [(101, ""), (-1, ""), (10, "bm90LWEtdG9rZW4")] {
        let status = h
            .grpc
            .list_organisations(as_caller(
                &admin,
                pb::ListOrganisationsRequest { page_size, page_token: page_token.into() },
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{page_size} {page_token}: {status:?}");
    }
}

async fn jwks_publishes_the_signing_key(h: Harness) {
    let jwks = h.grpc.get_jwks(Request::new(pb::GetJwksRequest {})).await.unwrap().into_inner();
    assert_eq!(jwks.keys.len(), 1);
    let key = &jwks.keys[0];
    assert_eq!(
        (key.kty.as_str(), key.crv.as_str(), key.alg.as_str(), key.r#use.as_str()),
        ("EC", "P-256", "ES256", "sig")
    );
    assert_eq!(key.kid, h.identity.issuer().key().kid());

    // A key the JWKS does not publish verifies nothing.
    let stranger = TokenIssuer::new(SigningKey::generate(), &h.auth);
    let (forged, _) = stranger.issue(&h.demo.admin.user_id, Role::Admin, &h.demo.regulator.organisation_id).unwrap();
    assert!(h.verifier().await.verify(&forged).is_err());
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = fleuve_store::testing::TestDatabase::sqlite(&[super::MIGRATIONS]).await.unwrap();
                    super::$test(super::Harness::new(db).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = fleuve_store::testing::TestDatabase::postgres(&[super::MIGRATIONS]).await.unwrap();
                    super::$test(super::Harness::new(db).await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    create_org_and_user_then_login,
    wrong_password_and_unknown_email_look_the_same,
    duplicates_already_exist,
    only_admins_manage,
    users_are_listed_within_their_organisation,
    create_user_validates_its_input,
    seed_demo_is_idempotent,
    seed_demo_loses_a_race_gracefully,
    stored_hash_is_argon2id_phc,
    organisations_page_without_gaps,
    jwks_publishes_the_signing_key,
);

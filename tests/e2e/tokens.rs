//! Forged, expired, mis-addressed and malformed access tokens are refused with UNAUTHENTICATED by
//! a running node, a correct token is accepted, and the public methods stay callable without one.

use std::marker::PhantomData;

use crate::support::{Backend, TestNode, authed, equipment};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use fleuve_mesh::{Role, auth::Claims};
use fleuve_proto::{homologation::v1 as pb, identity::v1 as idp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::{
    ecdsa::signature::Signer,
    elliptic_curve::sec1::ToEncodedPoint,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding},
};
use serde_json::{Value, json};
use tonic::{Code, Status, metadata::MetadataValue};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Valid claims for the demo applicant, expiring `exp_in` seconds from now.
fn claims(node: &TestNode, exp_in: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: node.demo.applicant.user_id.clone(),
        iss: node.config.auth.issuer.clone(),
        aud: node.config.auth.audience.clone(),
        exp: now + exp_in,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        role: Role::Applicant,
        org: node.demo.applicant.organisation_id.clone(),
    }
}

fn claims_json(node: &TestNode) -> Value {
    serde_json::to_value(claims(node, 600)).expect("claims as json")
}

fn without(mut value: Value, field: &str) -> Value {
    value.as_object_mut().expect("claims object").remove(field).expect("field present");
    value
}

fn with(mut value: Value, field: &str, new: Value) -> Value {
    value.as_object_mut().expect("claims object").insert(field.to_owned(), new);
    value
}

/// The PKCS#8 PEM of the node's real signing key, from its data directory.
fn server_key_pem(node: &TestNode) -> String {
    std::fs::read_to_string(&node.config.auth.signing_key_file).expect("node signing key file")
}

fn real_kid(node: &TestNode) -> String {
    node.issuer.key().kid().to_owned()
}

/// Arbitrary JSON claims signed ES256 with a PKCS#8 PEM key, under the given `kid`.
fn sign_json_es256(pem: &str, kid: Option<&str>, claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).expect("ES256 encoding key");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload` of a hand-built JWS.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

/// A hand-built ES256 JWS (r || s signature) made without jsonwebtoken: the control for the
/// hand-built `alg: none` token, so that token is refused for its algorithm and nothing else.
fn hand_built_es256(pem: &str, kid: &str, claims: &Value) -> String {
    let secret = p256::SecretKey::from_pkcs8_pem(pem).expect("pkcs8 key");
    let signer = p256::ecdsa::SigningKey::from(secret);
    let input = signing_input(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), claims);
    let signature: p256::ecdsa::Signature = signer.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

/// A freshly generated P-256 key the server has never seen, as PKCS#8 PEM.
fn foreign_key_pem() -> String {
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    secret.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string()
}

/// Calls a protected query with `authorization` set to exactly `header` (or absent).
async fn list_dossiers(node: &TestNode, header: Option<&str>) -> Result<pb::ListDossiersResponse, Status> {
    let mut request = tonic::Request::new(pb::ListDossiersRequest::default());
    if let Some(value) = header {
        request.metadata_mut().insert("authorization", MetadataValue::try_from(value).expect("ascii header"));
    }
    node.queries().list_dossiers(request).await.map(tonic::Response::into_inner)
}

/// Calls a protected command (CreateDossier) with `authorization` set to exactly `header`.
async fn create_dossier(node: &TestNode, header: Option<&str>) -> Result<pb::CreateDossierResponse, Status> {
    let mut request =
        tonic::Request::new(pb::CreateDossierRequest { equipment: Some(equipment("Itel", "A70 forged")) });
    if let Some(value) = header {
        request.metadata_mut().insert("authorization", MetadataValue::try_from(value).expect("ascii header"));
    }
    node.dossiers().create_dossier(request).await.map(tonic::Response::into_inner)
}

/// Both a query and a command refuse `header` with UNAUTHENTICATED.
async fn assert_refused(node: &TestNode, what: &str, header: Option<&str>) {
    match list_dossiers(node, header).await {
        Ok(_) => panic!("{what}: ListDossiers accepted the token"),
        Err(status) => assert_eq!(status.code(), Code::Unauthenticated, "{what}: ListDossiers: {}", status.message()),
    }
    match create_dossier(node, header).await {
        Ok(created) => panic!("{what}: CreateDossier accepted the token and created {}", created.dossier_id),
        Err(status) => assert_eq!(status.code(), Code::Unauthenticated, "{what}: CreateDossier: {}", status.message()),
    }
}

async fn assert_refused_token(node: &TestNode, what: &str, token: &str) {
    assert_refused(node, what, Some(&format!("Bearer {token}"))).await;
}

async fn assert_accepted_token(node: &TestNode, what: &str, token: &str) {
    let header = format!("Bearer {token}");
    if let Err(status) = list_dossiers(node, Some(&header)).await {
        panic!("{what}: a valid token was refused: {status:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The control: correct tokens work

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_token_is_accepted_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let node = TestNode::start(backend).await;
        let token = node.token(Role::Applicant);
        let before = list_dossiers(&node, Some(&format!("Bearer {token}"))).await.expect("list with a valid token");
        let created = create_dossier(&node, Some(&format!("Bearer {token}"))).await.expect("create with a valid token");
        let after = list_dossiers(&node, Some(&format!("Bearer {token}"))).await.expect("list with a valid token");
        assert_eq!(after.dossiers.len(), before.dossiers.len() + 1, "{backend:?}");
        assert!(after.dossiers.iter().any(|d| d.dossier_id == created.dossier_id), "{backend:?}");

        // A token obtained through Login is accepted too, and so is one signed with the real key
        // from outside the issuer (the path the forged-claims tests below go through).
        let login = node
            .identity()
            .login(idp::LoginRequest {
                email: node.demo.applicant.email.clone(),
                password: node.demo.password.to_owned(),
            })
            .await
            .expect("login")
            .into_inner();
        assert_accepted_token(&node, "login token", &login.access_token).await;
        let pem = server_key_pem(&node);
        assert_accepted_token(
            &node,
            "jsonwebtoken, real key",
            &sign_json_es256(&pem, Some(&real_kid(&node)), &claims_json(&node)),
        )
        .await;
        assert_accepted_token(
            &node,
            "hand-built ES256, real key",
            &hand_built_es256(&pem, &real_kid(&node), &claims_json(&node)),
        )
        .await;
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Forged signatures and algorithms

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alg_none_is_refused() {
    let node = TestNode::start(Backend::Sqlite).await;
    let events = node.event_count().await;
    let kid = real_kid(&node);
    let claims = claims_json(&node);
    for (what, header) in [
        ("alg none", json!({"alg": "none", "typ": "JWT", "kid": kid})),
        ("alg None", json!({"alg": "None", "typ": "JWT", "kid": kid})),
        ("alg NONE", json!({"alg": "NONE", "typ": "JWT", "kid": kid})),
    ] {
        let input = signing_input(&header, &claims);
        assert_refused_token(&node, &format!("{what}, empty signature"), &format!("{input}.")).await;
        assert_refused_token(&node, &format!("{what}, no signature part"), &input).await;
    }
    // An ES256 header over an empty signature is no better.
    let input = signing_input(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), &claims);
    assert_refused_token(&node, "ES256 header, empty signature", &format!("{input}.")).await;
    assert_eq!(node.event_count().await, events, "a refused token wrote events");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_signed_with_the_public_key_is_refused() {
    let node = TestNode::start(Backend::Sqlite).await;
    let events = node.event_count().await;
    let kid = real_kid(&node);
    // What an attacker knows: the public JWK set, served without a token.
    let jwks = node.identity().get_jwks(idp::GetJwksRequest {}).await.expect("jwks").into_inner();
    let jwk = jwks.keys.iter().find(|k| k.kid == kid).expect("the signing key is published");
    let x = URL_SAFE_NO_PAD.decode(&jwk.x).expect("x");
    let y = URL_SAFE_NO_PAD.decode(&jwk.y).expect("y");
    let sec1 = [&[0x04u8][..], &x, &y].concat();
    let public = p256::PublicKey::from_sec1_bytes(&sec1).expect("public key");
    assert_eq!(public.to_encoded_point(false).as_bytes(), &sec1[..]);
    let spki_pem = public.to_public_key_pem(LineEnding::LF).expect("spki pem");
    let spki_der = public.to_public_key_der().expect("spki der");
    let jwk_json =
        serde_json::to_string(&json!({"crv": jwk.crv, "kty": jwk.kty, "x": jwk.x, "y": jwk.y})).expect("jwk");
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("SPKI PEM", spki_pem.as_bytes().to_vec()),
        ("SPKI PEM without the final newline", spki_pem.trim_end().as_bytes().to_vec()),
        ("SPKI DER", spki_der.as_bytes().to_vec()),
        ("SEC1 uncompressed point", sec1.clone()),
        ("SEC1 compressed point", public.to_encoded_point(true).as_bytes().to_vec()),
        ("JWK x || y", [x.clone(), y.clone()].concat()),
        ("JWK JSON", jwk_json.into_bytes()),
    ];
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        for (form, secret) in &secrets {
            let mut header = Header::new(alg);
            header.kid = Some(kid.clone());
            let token =
                jsonwebtoken::encode(&header, &claims(&node, 600), &EncodingKey::from_secret(secret)).expect("hmac");
            assert_refused_token(&node, &format!("{alg:?} keyed with the public key as {form}"), &token).await;
        }
    }
    assert_eq!(node.event_count().await, events, "a refused token wrote events");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_signed_with_a_foreign_key_is_refused() {
    let node = TestNode::start(Backend::Sqlite).await;
    let events = node.event_count().await;
    let kid = real_kid(&node);

    // A well-formed key of the mesh's own type, unknown to this node, under its own kid.
    let foreign = fleuve_mesh::auth::SigningKey::generate();
    assert_ne!(foreign.kid(), kid);
    let token = foreign.sign(&claims(&node, 600)).expect("sign");
    assert_refused_token(&node, "foreign key, its own kid", &token).await;

    // A foreign key claiming the server's kid.
    let pem = foreign_key_pem();
    let json = claims_json(&node);
    assert_refused_token(&node, "foreign key, server kid", &sign_json_es256(&pem, Some(&kid), &json)).await;
    assert_refused_token(&node, "foreign key, server kid, hand-built", &hand_built_es256(&pem, &kid, &json)).await;

    // The server's own kid pattern but unknown, and no kid at all (even with the real key).
    assert_refused_token(&node, "foreign key, no kid", &sign_json_es256(&pem, None, &json)).await;
    let real_pem = server_key_pem(&node);
    assert_refused_token(&node, "real key, no kid", &sign_json_es256(&real_pem, None, &json)).await;
    assert_refused_token(&node, "real key, unknown kid", &sign_json_es256(&real_pem, Some("not-a-kid"), &json)).await;

    // A genuine token whose payload was edited after signing (applicant -> admin).
    let genuine = node.token(Role::Applicant);
    let parts: Vec<&str> = genuine.split('.').collect();
    assert_eq!(parts.len(), 3);
    let edited = with(claims_json(&node), "role", json!("admin"));
    let tampered = format!("{}.{}.{}", parts[0], b64(edited.to_string().as_bytes()), parts[2]);
    assert_refused_token(&node, "genuine signature over an edited payload", &tampered).await;
    // A genuine token with its signature truncated or flipped.
    assert_refused_token(&node, "truncated signature", &genuine[..genuine.len() - 4]).await;
    let mut flipped = genuine.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    assert_refused_token(&node, "altered signature", &String::from_utf8(flipped).expect("ascii")).await;

    assert_eq!(node.event_count().await, events, "a refused token wrote events");
    node.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Claims: expiry, issuer, audience

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_enforced_with_a_small_leeway() {
    let node = TestNode::start(Backend::Sqlite).await;
    assert_eq!(node.config.auth.leeway_seconds, 30, "the test assumes the default leeway");
    let key = node.issuer.key();

    let long_expired = key.sign(&claims(&node, -120)).expect("sign");
    assert_refused_token(&node, "expired 120 s ago (beyond the 30 s leeway)", &long_expired).await;
    let expired_hour = key.sign(&claims(&node, -3600)).expect("sign");
    assert_refused_token(&node, "expired an hour ago", &expired_hour).await;

    // Within the leeway: clock skew is tolerated, so the leeway is small but not absent.
    let just_expired = key.sign(&claims(&node, -10)).expect("sign");
    assert_accepted_token(&node, "expired 10 s ago (within the leeway)", &just_expired).await;
    assert!(
        create_dossier(&node, Some(&format!("Bearer {just_expired}"))).await.is_ok(),
        "a token expired by less than the leeway is accepted by commands too"
    );

    // A token not valid yet (nbf in the future beyond the leeway) is refused too.
    let pem = server_key_pem(&node);
    let future = with(claims_json(&node), "nbf", json!(chrono::Utc::now().timestamp() + 600));
    assert_refused_token(&node, "nbf ten minutes ahead", &sign_json_es256(&pem, Some(&real_kid(&node)), &future)).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_registered_claims_are_refused() {
    let node = TestNode::start(Backend::Sqlite).await;
    let events = node.event_count().await;
    let key = node.issuer.key();
    let pem = server_key_pem(&node);
    let kid = real_kid(&node);

    let mut wrong_iss = claims(&node, 600);
    wrong_iss.iss = "evil-identity".into();
    assert_refused_token(&node, "wrong iss", &key.sign(&wrong_iss).expect("sign")).await;
    let mut empty_iss = claims(&node, 600);
    empty_iss.iss = String::new();
    assert_refused_token(&node, "empty iss", &key.sign(&empty_iss).expect("sign")).await;
    let mut wrong_aud = claims(&node, 600);
    wrong_aud.aud = "another-mesh".into();
    assert_refused_token(&node, "wrong aud", &key.sign(&wrong_aud).expect("sign")).await;
    let mut empty_aud = claims(&node, 600);
    empty_aud.aud = String::new();
    assert_refused_token(&node, "empty aud", &key.sign(&empty_aud).expect("sign")).await;

    let cases: Vec<(&str, Value)> = vec![
        ("missing iss", without(claims_json(&node), "iss")),
        ("missing aud", without(claims_json(&node), "aud")),
        ("missing exp", without(claims_json(&node), "exp")),
        ("missing sub", without(claims_json(&node), "sub")),
        ("null exp", with(claims_json(&node), "exp", Value::Null)),
        ("exp as a string", with(claims_json(&node), "exp", json!("9999999999"))),
        ("wrong iss (raw json)", with(claims_json(&node), "iss", json!("fleuve-identity-evil"))),
        ("aud list without ours", with(claims_json(&node), "aud", json!(["another-mesh"]))),
        ("unknown role", with(claims_json(&node), "role", json!("superuser"))),
    ];
    for (what, body) in &cases {
        assert_refused_token(&node, what, &sign_json_es256(&pem, Some(&kid), body)).await;
    }
    assert_eq!(node.event_count().await, events, "a refused token wrote events");
    node.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Malformed headers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_headers_are_refused() {
    let node = TestNode::start(Backend::Sqlite).await;
    let events = node.event_count().await;
    let token = node.token(Role::Applicant);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("garbage token", Some("Bearer abc".into())),
        ("three garbage segments", Some("Bearer a.b.c".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("bare word", Some("Bearer".into())),
        ("token without the Bearer prefix", Some(token.clone())),
        ("Basic scheme", Some(format!("Basic {token}"))),
        ("no space after Bearer", Some(format!("Bearer{token}"))),
        ("two tokens", Some(format!("Bearer {token} {token}"))),
    ];
    for (what, header) in &cases {
        assert_refused(&node, what, header.as_deref()).await;
    }
    assert_eq!(node.event_count().await, events, "a refused request wrote events");
    node.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Public methods stay public

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    /// 1 = SERVING.
    #[prost(int32, tag = "1")]
    status: i32,
}

/// A prost codec for any message type: the two health messages (the test crate does not depend on
/// tonic-health), and the empty message of every method in the walk below.
struct Prost<E, D>(PhantomData<fn() -> (E, D)>);
struct ProstEncoder<E>(PhantomData<fn() -> E>);
struct ProstDecoder<D>(PhantomData<fn() -> D>);

impl<E: prost::Message + Send + 'static, D: prost::Message + Default + Send + 'static> tonic::codec::Codec
    for Prost<E, D>
{
    type Encode = E;
    type Decode = D;
    type Encoder = ProstEncoder<E>;
    type Decoder = ProstDecoder<D>;
    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }
    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder(PhantomData)
    }
}

impl<E: prost::Message> tonic::codec::Encoder for ProstEncoder<E> {
    type Item = E;
    type Error = Status;
    fn encode(&mut self, item: E, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst).map_err(|e| Status::internal(e.to_string()))
    }
}

impl<D: prost::Message + Default> tonic::codec::Decoder for ProstDecoder<D> {
    type Item = D;
    type Error = Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(src).map(Some).map_err(|e| Status::internal(e.to_string()))
    }
}

async fn health_check(node: &TestNode, service: &str, header: Option<&str>) -> Result<HealthCheckResponse, Status> {
    let mut grpc = tonic::client::Grpc::new(node.channel.clone());
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(HealthCheckRequest { service: service.to_owned() });
    if let Some(value) = header {
        request.metadata_mut().insert("authorization", MetadataValue::try_from(value).expect("ascii header"));
    }
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check");
    grpc.unary(request, path, Prost::<HealthCheckRequest, HealthCheckResponse>(PhantomData))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_methods_need_no_token_but_verify_one_they_carry() {
    let node = TestNode::start(Backend::Sqlite).await;

    // The public registry answers without a token.
    let search = node
        .registry()
        .search_certificates(pb::SearchCertificatesRequest { brand: "Tecno".into(), ..Default::default() })
        .await;
    match &search {
        Ok(found) => assert!(found.get_ref().certificates.is_empty(), "no certificate issued yet"),
        Err(status) => panic!("SearchCertificates without a token: {status:?}"),
    }
    let verify = node
        .registry()
        .verify_certificate(pb::VerifyCertificateRequest { certificate_number: "ARPCE-HOM-2026-000001".into() })
        .await;
    if let Err(status) = &verify {
        assert_ne!(status.code(), Code::Unauthenticated, "VerifyCertificate without a token: {status:?}");
    }

    // Login and GetJwks answer without a token, and the login token opens protected methods.
    let login = node
        .identity()
        .login(idp::LoginRequest { email: node.demo.reviewer.email.clone(), password: node.demo.password.to_owned() })
        .await
        .expect("Login without a token")
        .into_inner();
    assert_eq!(login.token_type, "Bearer");
    let jwks = node.identity().get_jwks(idp::GetJwksRequest {}).await.expect("GetJwks without a token");
    assert!(jwks.get_ref().keys.iter().any(|k| k.kid == real_kid(&node)));
    let who = node.identity().who_am_i(authed(idp::WhoAmIRequest {}, &login.access_token)).await.expect("WhoAmI");
    assert_eq!(who.get_ref().subject, node.demo.reviewer.user_id);
    // WhoAmI itself is protected.
    let anonymous = node.identity().who_am_i(idp::WhoAmIRequest {}).await.expect_err("WhoAmI without a token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    // A wrong password is not an authentication bypass either way.
    let bad_login = node
        .identity()
        .login(idp::LoginRequest { email: node.demo.reviewer.email.clone(), password: "wrong-password".into() })
        .await
        .expect_err("wrong password");
    assert_eq!(bad_login.code(), Code::Unauthenticated, "{bad_login:?}");

    // Health answers without a token, for the server and for a named service.
    let overall = health_check(&node, "", None).await.expect("health without a token");
    assert_eq!(overall.status, 1, "SERVING");
    let dossiers = health_check(&node, "fleuve.homologation.v1.DossierService", None).await.expect("service health");
    assert_eq!(dossiers.status, 1, "SERVING");

    // A public method still verifies a token it is given: a forged one is refused.
    let forged = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(real_kid(&node));
        jsonwebtoken::encode(&header, &claims(&node, 600), &EncodingKey::from_secret(b"guess")).expect("hmac")
    };
    let bearer = format!("Bearer {forged}");
    let mut request =
        tonic::Request::new(pb::SearchCertificatesRequest { brand: "Tecno".into(), ..Default::default() });
    request.metadata_mut().insert("authorization", MetadataValue::try_from(bearer.as_str()).expect("ascii"));
    let status = node.registry().search_certificates(request).await.expect_err("forged token on a public method");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = health_check(&node, "", Some(&bearer)).await.expect_err("forged token on health");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let mut request = tonic::Request::new(idp::LoginRequest {
        email: node.demo.reviewer.email.clone(),
        password: node.demo.password.to_owned(),
    });
    request.metadata_mut().insert("authorization", MetadataValue::try_from("Bearer abc").expect("ascii"));
    let status = node.identity().login(request).await.expect_err("garbage token on Login");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    node.stop().await;
}

/// The methods that answer without a token, as the node declares them; every other method of
/// every service in the contracts is protected.
fn declared_public(path: &str) -> bool {
    path == "/fleuve.identity.v1.IdentityService/Login"
        || path == "/fleuve.identity.v1.IdentityService/GetJwks"
        || path.starts_with("/fleuve.homologation.v1.CertificateRegistryService/")
}

/// The auth layer, not the handlers, refuses a tokenless call to any protected method: a
/// handler that forgets to ask for the caller must not open its method. Until `285c875` the
/// console's public root made every path public and only the handlers' own check ("this
/// method needs a bearer token") stood in the way; this walks every method in the contracts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protected_method_is_refused_by_the_layer_without_a_token() {
    use prost::Message;
    let node = TestNode::start(Backend::Sqlite).await;
    let set = prost_types::FileDescriptorSet::decode(fleuve_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut grpc = tonic::client::Grpc::new(node.channel.clone());
    let (mut protected, mut public) = (0, 0);
    for file in &set.file {
        for service in &file.service {
            let full = format!("{}.{}", file.package(), service.name());
            for method in &service.method {
                let path = format!("/{full}/{}", method.name());
                grpc.ready().await.expect("channel ready");
                let uri = tonic::codegen::http::uri::PathAndQuery::try_from(path.as_str()).expect("path");
                // An empty message is a valid encoding of every request type.
                let answer = grpc.unary(tonic::Request::new(()), uri, Prost::<(), ()>(PhantomData)).await;
                if declared_public(&path) {
                    public += 1;
                    if let Err(status) = &answer {
                        assert_ne!(status.message(), "missing bearer token", "{path} is public: {status:?}");
                        assert_ne!(status.code(), Code::Unimplemented, "{path} is declared public but not served");
                    }
                } else {
                    protected += 1;
                    let status = answer.expect_err(&path);
                    assert_eq!(status.code(), Code::Unauthenticated, "{path}: {status:?}");
                    assert_eq!(status.message(), "missing bearer token", "{path} must be refused by the layer");
                }
            }
        }
    }
    // The walk covered the contracts: every service of both contexts and the operations.
    assert!(protected >= 60, "only {protected} protected methods in the contracts");
    assert_eq!(public, 5, "Login, GetJwks and the registry's three methods");
    node.stop().await;
}

//! What a browser reaches on `fleuve dev` without a proxy: grpc-web (binary and text, unary
//! and a server stream) over HTTP/1.1, CORS for the configured origins only, and the signing
//! keys at `/.well-known/jwks.json`.

use std::time::Duration;

use fleuve_mesh::Role;
use fleuve_proto::{
    homologation::v1 as homologation, identity::v1 as identity, order::v1 as order, stock::v1 as stock,
};

use crate::grpc_web::{self, Format};
use crate::support::{Backend, TestNode, authed};

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_calls_reach_the_node_in_binary_and_text() {
    let node = TestNode::start(Backend::Sqlite).await;
    let (client, base) = (http(), format!("http://{}", node.addr));

    // A public RPC without a token, binary.
    let search = homologation::SearchCertificatesRequest { brand: "Acme".into(), ..Default::default() };
    let reply = grpc_web::call(
        &client,
        &base,
        "/fleuve.homologation.v1.CertificateRegistryService/SearchCertificates",
        &search,
        None,
        Format::Binary,
        &[],
    )
    .await;
    assert_eq!((reply.http_status, reply.grpc_status()), (200, Some(0)), "{reply:?}");
    let found: homologation::SearchCertificatesResponse = reply.message(0);
    assert!(found.certificates.is_empty());

    // A protected RPC in text mode, with and without a token.
    let whoami = "/fleuve.identity.v1.IdentityService/WhoAmI";
    let token = node.token(Role::Applicant);
    let reply =
        grpc_web::call(&client, &base, whoami, &identity::WhoAmIRequest {}, Some(&token), Format::Text, &[]).await;
    assert_eq!(reply.grpc_status(), Some(0), "{reply:?}");
    assert!(reply.headers["content-type"].to_str().unwrap().starts_with("application/grpc-web-text"));
    let me: identity::WhoAmIResponse = reply.message(0);
    assert_eq!(me.subject, node.demo.applicant.user_id);
    let refused = grpc_web::call(&client, &base, whoami, &identity::WhoAmIRequest {}, None, Format::Text, &[]).await;
    assert_eq!(refused.grpc_status(), Some(tonic::Code::Unauthenticated as i32), "{refused:?}");

    // Another service of the same node.
    let reply = grpc_web::call(
        &client,
        &base,
        "/fleuve.stock.v1.StockService/ListProducts",
        &stock::ListProductsRequest::default(),
        Some(&node.token(Role::Admin)),
        Format::Binary,
        &[],
    )
    .await;
    assert_eq!(reply.grpc_status(), Some(0), "{reply:?}");
    let products: stock::ListProductsResponse = reply.message(0);
    assert!(products.products.iter().any(|p| p.product_id == "sku-pen"), "{products:?}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_streams_each_status_over_grpc_web_until_the_order_settles() {
    let node = TestNode::start(Backend::Sqlite).await;
    let token = node.token(Role::Applicant);
    let mut orders = order::order_service_client::OrderServiceClient::new(node.channel.clone());
    let placed = orders
        .place_order(authed(
            order::PlaceOrderRequest {
                idempotency_key: "browser-watch-1".into(),
                customer_id: String::new(),
                lines: vec![order::OrderLine { product_id: "sku-pen".into(), quantity: 2, unit_price: 150 }],
                currency: "XAF".into(),
                payment_token: "tok_visa".into(),
            },
            &token,
        ))
        .await
        .expect("place an order")
        .into_inner();
    let order_id = placed.order.expect("order").order_id;

    let reply = grpc_web::call(
        &http(),
        &format!("http://{}", node.addr),
        "/fleuve.order.v1.OrderService/WatchOrder",
        &order::WatchOrderRequest { order_id: order_id.clone() },
        Some(&token),
        Format::Text,
        &[],
    )
    .await;
    assert_eq!(reply.grpc_status(), Some(0), "{reply:?}");
    let statuses: Vec<order::OrderStatus> = (0..reply.messages.len())
        .map(|i| reply.message::<order::WatchOrderResponse>(i).order.unwrap().status())
        .collect();
    assert_eq!(statuses.last(), Some(&order::OrderStatus::Confirmed), "{statuses:?}");
    let mut ranks: Vec<i32> = statuses.iter().map(|s| *s as i32).collect();
    ranks.dedup();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "each status once, in the saga's order: {statuses:?}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_grants_the_configured_origins_and_no_other() {
    let mut config = fleuve_mesh::MeshConfig::default();
    config.cors.allowed_origins = vec!["https://console.example.org".into(), "http://localhost:*".into()];
    config.cors.max_age_seconds = 600;
    let node = TestNode::start_with(Backend::Sqlite, config).await;
    let client = http();
    let url = format!("http://{}/fleuve.identity.v1.IdentityService/WhoAmI", node.addr);
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-grpc-web,authorization")
            .send()
    };
    for origin in ["https://console.example.org", "http://localhost:5173"] {
        let answer = preflight(origin).await.expect("preflight");
        assert!(answer.status().is_success(), "{origin}: {}", answer.status());
        let h = answer.headers();
        assert_eq!(h["access-control-allow-origin"], origin);
        let allowed = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
        for needed in ["authorization", "x-grpc-web", "content-type"] {
            assert!(allowed.contains(needed), "{allowed}");
        }
        assert_eq!(h["access-control-max-age"], "600");
    }
    let foreign = preflight("https://evil.example").await.expect("preflight");
    assert!(foreign.headers().get("access-control-allow-origin").is_none(), "{:?}", foreign.headers());

    // The actual call carries the grant and exposes the status headers to the page.
    let reply = grpc_web::call(
        &client,
        &format!("http://{}", node.addr),
        "/fleuve.identity.v1.IdentityService/WhoAmI",
        &identity::WhoAmIRequest {},
        Some(&node.token(Role::Reviewer)),
        Format::Binary,
        &[("origin", "https://console.example.org")],
    )
    .await;
    assert_eq!(reply.grpc_status(), Some(0));
    assert_eq!(reply.headers["access-control-allow-origin"], "https://console.example.org");
    assert!(reply.headers["access-control-expose-headers"].to_str().unwrap().contains("grpc-status"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_keys_are_published_at_well_known_jwks() {
    let node = TestNode::start(Backend::Sqlite).await;
    let answer =
        http().get(format!("http://{}/.well-known/jwks.json", node.addr)).send().await.expect("GET the JWK set");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    let served: fleuve_mesh::auth::JwkSet = answer.json().await.expect("a JWK set");
    assert_eq!(served, node.issuer.jwks());
    assert_eq!(served.keys[0].kty, "EC");
    // The same keys as the gRPC method, and a token they verify.
    let mut identity = identity::identity_service_client::IdentityServiceClient::new(node.channel.clone());
    let grpc = identity.get_jwks(identity::GetJwksRequest {}).await.expect("GetJwks").into_inner();
    assert_eq!(grpc.keys.len(), served.keys.len());
    let verifier = fleuve_mesh::auth::TokenVerifier::new(&node.config.auth, &served).expect("verifier");
    verifier.verify(&node.token(Role::Admin)).expect("a node's token verifies with the published keys");
    node.stop().await;
}

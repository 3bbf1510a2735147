//! The gRPC face: who sees which notifications, paging, and the watch stream.

use std::time::Duration;

use fleuve_mesh::{Principal, Role};
use fleuve_notification::{NotificationGrpc, Notifications, Settings};
use fleuve_proto::homologation::v1::{self as pb, dossier_event::Event as D};
use fleuve_proto::notification::v1 as npb;
use fleuve_store::testing::TestDatabase;
use futures::StreamExt;
use npb::notification_service_server::NotificationService;
use tonic::{Code, Request};

use crate::support::*;

fn caller(subject: &str, role: Role) -> Principal {
    Principal { subject: subject.to_owned(), role, organisation_id: "org-1".to_owned(), expires_at: i64::MAX }
}

fn as_caller<T>(principal: &Principal, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(principal.clone());
    request
}

/// A rejection of a fresh dossier of `applicant`, through `app`'s projection.
async fn rejected(db: &TestDatabase, app: &Notifications, applicant: &str, reason: &str) {
    let projection = app.projection();
    let dossier = new_id();
    apply(db, &projection, &created(&dossier, applicant)).await.unwrap();
    let event = dossier_event(
        &dossier,
        "DossierRejected",
        D::Rejected(pb::DossierRejected { reasons: vec![reason.to_owned()], decided_by: new_id() }),
    );
    apply(db, &projection, &event).await.unwrap();
}

fn list(recipient: &str, page_size: i32, page_token: &str) -> npb::ListNotificationsRequest {
    npb::ListNotificationsRequest { recipient_id: recipient.into(), page_size, page_token: page_token.into() }
}

pub async fn list_shows_own_notifications_with_deliveries(db: TestDatabase) {
    let app = app(&db, quick_settings());
    let grpc = NotificationGrpc::new(app.clone());
    let alice = new_id();
    let bob = new_id();
    for reason in ["first", "second", "third"] {
        rejected(&db, &app, &alice, reason).await;
    }
    rejected(&db, &app, &bob, "bob's").await;
    let as_alice = caller(&alice, Role::Applicant);

    // Newest first, two pages.
    let first = grpc.list_notifications(as_caller(&as_alice, list("", 2, ""))).await.unwrap().into_inner();
    assert_eq!(first.notifications.len(), 2);
    assert!(first.notifications[0].body.contains("third"));
    assert!(!first.next_page_token.is_empty());
    let second =
        grpc.list_notifications(as_caller(&as_alice, list("", 2, &first.next_page_token))).await.unwrap().into_inner();
    assert_eq!(second.notifications.len(), 1);
    assert!(second.notifications[0].body.contains("first"));
    assert!(second.next_page_token.is_empty());

    let shown = &first.notifications[0];
    assert_eq!(shown.recipient_id, alice);
    assert_eq!(shown.kind, "dossier.rejected");
    assert!(shown.created_at.is_some());
    assert_eq!(shown.deliveries.len(), 1);
    assert_eq!(shown.deliveries[0].channel(), npb::DeliveryChannel::Log);
    assert_eq!(shown.deliveries[0].status(), npb::DeliveryStatus::Pending);

    // Another applicant's notifications are refused; an admin may read them.
    let refused = grpc.list_notifications(as_caller(&as_alice, list(&bob, 0, ""))).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let reviewer = caller(&new_id(), Role::Reviewer);
    let refused = grpc.list_notifications(as_caller(&reviewer, list(&bob, 0, ""))).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let admin = caller(&new_id(), Role::Admin);
    let bobs = grpc.list_notifications(as_caller(&admin, list(&bob, 0, ""))).await.unwrap().into_inner();
    assert_eq!(bobs.notifications.len(), 1);
    assert!(bobs.notifications[0].body.contains("bob's"));
    // An admin's own (empty) list.
    let own = grpc.list_notifications(as_caller(&admin, list("", 0, ""))).await.unwrap().into_inner();
    assert!(own.notifications.is_empty());

    let anonymous = grpc.list_notifications(Request::new(list("", 0, ""))).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let bad = grpc.list_notifications(as_caller(&as_alice, list("", 1000, ""))).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let bad = grpc.list_notifications(as_caller(&as_alice, list("", 0, "abc"))).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

async fn next(
    stream: &mut (impl futures::Stream<Item = Result<npb::WatchNotificationsResponse, tonic::Status>> + Unpin),
) -> npb::Notification {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a notification within 10 s")
        .expect("the stream is open")
        .expect("no error")
        .notification
        .unwrap()
}

pub async fn watch_receives_notifications_created_after_it_started(db: TestDatabase) {
    // A long poll: only the in-process wake-up can deliver within the test's patience.
    let app = app(&db, Settings { watch_poll: Duration::from_secs(3600), ..quick_settings() });
    let grpc = NotificationGrpc::new(app.clone());
    let alice = new_id();
    let as_alice = caller(&alice, Role::Applicant);
    rejected(&db, &app, &alice, "before the watch").await;
    rejected(&db, &app, &new_id(), "someone else's").await;

    let request = npb::WatchNotificationsRequest { recipient_id: String::new(), after_id: 0 };
    let mut stream = grpc.watch_notifications(as_caller(&as_alice, request)).await.unwrap().into_inner();
    let first = next(&mut stream).await;
    assert!(first.body.contains("before the watch"));

    rejected(&db, &app, &alice, "after the watch started").await;
    let second = next(&mut stream).await;
    assert!(second.body.contains("after the watch started"), "{second:?}");
    assert!(second.notification_id > first.notification_id);
    assert_eq!(second.recipient_id, alice);
    // Nothing of other recipients came through.
    assert!(tokio::time::timeout(Duration::from_millis(300), stream.next()).await.is_err());
    drop(stream);

    // Resuming after the first one starts at the second.
    let request = npb::WatchNotificationsRequest { recipient_id: String::new(), after_id: first.notification_id };
    let mut resumed = grpc.watch_notifications(as_caller(&as_alice, request)).await.unwrap().into_inner();
    assert_eq!(next(&mut resumed).await.notification_id, second.notification_id);

    // Watching someone else's needs the admin role.
    let request = npb::WatchNotificationsRequest { recipient_id: new_id(), after_id: 0 };
    let refused = grpc.watch_notifications(as_caller(&as_alice, request)).await.err().unwrap();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

pub async fn watch_sees_notifications_written_by_another_process(db: TestDatabase) {
    // Two instances share the database but not their wake-ups, like two processes.
    let watcher = app(&db, Settings { watch_poll: Duration::from_millis(200), ..quick_settings() });
    let writer = app(&db, quick_settings());
    let grpc = NotificationGrpc::new(watcher);
    let alice = new_id();
    let request = npb::WatchNotificationsRequest { recipient_id: String::new(), after_id: 0 };
    let mut stream =
        grpc.watch_notifications(as_caller(&caller(&alice, Role::Applicant), request)).await.unwrap().into_inner();
    assert!(tokio::time::timeout(Duration::from_millis(300), stream.next()).await.is_err());
    rejected(&db, &writer, &alice, "from elsewhere").await;
    assert!(next(&mut stream).await.body.contains("from elsewhere"));
}

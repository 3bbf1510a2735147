//! The gRPC face of the notification service: who may read whose notifications, and the
//! mapping of notifications to protobuf. Errors leave through `ServiceError`.

use std::pin::Pin;

use fleuve_mesh::page::PageSize;
use fleuve_mesh::{Principal, RequestContext, Role, ServiceError};
use fleuve_proto::notification::v1 as pb;
use futures::Stream;
use pb::notification_service_server::{NotificationService, NotificationServiceServer};
use tonic::{Request, Response, Status};

use crate::app::Notifications;
use crate::domain::{Channel, Delivery, DeliveryStatus, Notification};
use crate::time;

const PAGE_SIZE: PageSize = PageSize { default: 50, max: 100 };

/// `NotificationService` over [`Notifications`]; every method needs a token.
#[derive(Debug, Clone)]
pub struct NotificationGrpc {
    app: Notifications,
}

impl NotificationGrpc {
    pub fn new(app: Notifications) -> NotificationGrpc {
        NotificationGrpc { app }
    }
}

/// The tonic service to add to a `MeshServer`.
pub fn server(app: Notifications) -> NotificationServiceServer<NotificationGrpc> {
    NotificationServiceServer::new(NotificationGrpc::new(app))
}

/// Whose notifications the caller asks for: its own, or anyone's for an admin.
fn recipient(principal: &Principal, requested: &str) -> Result<String, ServiceError> {
    let requested = requested.trim();
    if requested.is_empty() || requested == principal.subject {
        Ok(principal.subject.clone())
    } else if principal.role == Role::Admin {
        Ok(requested.to_owned())
    } else {
        Err(ServiceError::denied("only an admin may read another user's notifications"))
    }
}

fn page_token(token: &str) -> Result<Option<i64>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    match token.parse::<i64>() {
        Ok(id) if id > 0 => Ok(Some(id)),
        _ => Err(ServiceError::invalid("page_token is not a token this server issued")),
    }
}

pub fn notification_to_pb(n: Notification) -> pb::Notification {
    pb::Notification {
        notification_id: n.id,
        kind: n.kind,
        recipient_id: n.recipient_id,
        subject: n.subject,
        body: n.body,
        references: n.references.into_iter().collect(),
        source_id: n.source_id,
        created_at: Some(time::to_proto(n.created_at)),
        deliveries: n.deliveries.into_iter().map(delivery_to_pb).collect(),
    }
}

fn delivery_to_pb(d: Delivery) -> pb::Delivery {
    let channel = match d.channel {
        Channel::Log => pb::DeliveryChannel::Log,
        Channel::Email => pb::DeliveryChannel::Email,
        Channel::Webhook => pb::DeliveryChannel::Webhook,
    };
    let status = match d.status {
        DeliveryStatus::Pending => pb::DeliveryStatus::Pending,
        DeliveryStatus::Sent => pb::DeliveryStatus::Sent,
        DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
    };
    pb::Delivery {
        channel: channel.into(),
        status: status.into(),
        attempts: d.attempts,
        last_error: d.last_error.unwrap_or_default(),
        delivered_at: d.delivered_at.map(time::to_proto),
        // Only a pending delivery has a next attempt; a taken one shows its lease end.
        next_attempt_at: d.next_attempt_at.filter(|_| d.status == DeliveryStatus::Pending).map(time::to_proto),
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchNotificationsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl NotificationService for NotificationGrpc {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let context = RequestContext::from_request(&request);
        let r = request.into_inner();
        let who = recipient(context.principal()?, &r.recipient_id)?;
        let size = PAGE_SIZE.parse(r.page_size)?;
        let before = page_token(&r.page_token)?;
        let page = self.app.list(who, before, size).await.map_err(ServiceError::from)?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: page.items.into_iter().map(notification_to_pb).collect(),
            next_page_token: page.next_token,
        }))
    }

    type WatchNotificationsStream = WatchStream;

    async fn watch_notifications(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Result<Response<Self::WatchNotificationsStream>, Status> {
        let context = RequestContext::from_request(&request);
        let r = request.into_inner();
        let who = recipient(context.principal()?, &r.recipient_id)?;
        if r.after_id < 0 {
            return Err(ServiceError::invalid("after_id cannot be negative").into());
        }
        let receiver = self.app.watch(who, r.after_id);
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let stream = futures::StreamExt::map(stream, |item| match item {
            Ok(n) => Ok(pb::WatchNotificationsResponse { notification: Some(notification_to_pb(n)) }),
            Err(error) => Err(Status::from(ServiceError::from(error))),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

import { useEffect } from "react";
import { Link, useOutletContext } from "react-router";
import { useTranslation } from "react-i18next";
import { DeliveryChannel, DeliveryStatus } from "../gen/fleuve/notification/v1/notification_pb";
import { formatDateTime } from "../format";
import { markSeen, useNotificationList } from "../notifications";
import { useSession } from "../session";

export function Notifications() {
  const { t } = useTranslation();
  const { onSeen } = useOutletContext<{ onSeen: () => void }>();
  const { session } = useSession();
  const list = useNotificationList(session);
  const newest = list[0]?.notificationId ?? 0n;
  useEffect(() => {
    markSeen(session, newest);
    onSeen();
  }, [session, newest, onSeen]);

  return (
    <section>
      <h1>{t("notifications.title")}</h1>
      {list.length === 0 ? (
        <p>{t("notifications.none")}</p>
      ) : (
        <ol className="notifications" aria-live="polite">
          {list.map((n) => (
            <li key={n.notificationId.toString()} className="card" data-kind={n.kind}>
              <h2>{n.subject}</h2>
              <p className="muted">{formatDateTime(n.createdAt)}</p>
              <p className="body">{n.body}</p>
              {n.references["dossier_id"] && (
                <p>
                  <Link to={`/dossiers/${n.references["dossier_id"]}`}>{t("notifications.openDossier")}</Link>
                </p>
              )}
              <ul className="deliveries">
                {n.deliveries.map((d) => (
                  <li key={d.channel}>
                    {t("notifications.deliveryLine", {
                      channel: t(`notifications.channel.${DeliveryChannel[d.channel]}`, {
                        defaultValue: DeliveryChannel[d.channel],
                      }),
                      status: t(`notifications.delivery.${DeliveryStatus[d.status]}`, {
                        defaultValue: DeliveryStatus[d.status],
                      }),
                    })}
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

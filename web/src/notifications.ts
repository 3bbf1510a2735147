// The signed-in user's notifications, live: the first page from ListNotifications, then
// WatchNotifications (a grpc-web server stream) appends each new one as it is recorded. The
// list lives in TanStack Query's cache under ["notifications", user]; a notification about a
// dossier also refreshes that dossier and the lists, which is how a page shows a status
// changed by someone else without a reload.
import { useEffect } from "react";
import { useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { ConnectError, Code } from "@connectrpc/connect";
import { notifications } from "./api";
import type { Notification } from "./gen/fleuve/notification/v1/notification_pb";
import type { Session } from "./session";

const KEEP = 100;

export function notificationsKey(session: Session | null) {
  return ["notifications", session?.userId ?? ""];
}

function merge(queryClient: QueryClient, key: unknown[], notification: Notification) {
  queryClient.setQueryData<Notification[]>(key, (old = []) => {
    if (old.some((n) => n.notificationId === notification.notificationId)) return old;
    return [notification, ...old].slice(0, KEEP);
  });
  const dossierId = notification.references["dossier_id"];
  if (dossierId) {
    void queryClient.invalidateQueries({ queryKey: ["dossier", dossierId] });
    void queryClient.invalidateQueries({ queryKey: ["dossiers"] });
  }
}

/** The notifications, newest first (the first page, then what the stream adds). */
export function useNotificationList(session: Session | null): Notification[] {
  const list = useQuery({
    queryKey: notificationsKey(session),
    queryFn: async () => (await notifications.listNotifications({ pageSize: 50 })).notifications,
    enabled: session !== null,
    staleTime: Infinity,
  });
  return list.data ?? [];
}

/** Keeps the list up to date while the session lasts: mounted once, by the layout. */
export function useNotificationStream(session: Session | null): Notification[] {
  const queryClient = useQueryClient();
  const list = useNotificationList(session);
  const loaded = queryClient.getQueryState(notificationsKey(session))?.status === "success";

  useEffect(() => {
    if (!session || !loaded) return;
    const key = notificationsKey(session);
    const abort = new AbortController();
    let delay = 1000;
    (async () => {
      // Resume after the newest notification already shown; reconnect after a dropped stream.
      while (!abort.signal.aborted) {
        const newest = queryClient.getQueryData<Notification[]>(key)?.[0]?.notificationId ?? 0n;
        try {
          for await (const message of notifications.watchNotifications({ afterId: newest }, { signal: abort.signal })) {
            delay = 1000;
            if (message.notification) merge(queryClient, key, message.notification);
          }
        } catch (error) {
          if (abort.signal.aborted) return;
          // A refused token ends the session elsewhere; nothing to retry then.
          if (error instanceof ConnectError && error.code === Code.Unauthenticated) return;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    })();
    return () => abort.abort();
  }, [session, loaded, queryClient]);

  return list;
}

const SEEN = "fleuve.notifications.seen";

/** The newest notification id the user has looked at (per user, in this browser). */
export function lastSeen(session: Session | null): bigint {
  if (!session) return 0n;
  try {
    return BigInt(localStorage.getItem(`${SEEN}.${session.userId}`) ?? "0");
  } catch {
    return 0n;
  }
}

export function markSeen(session: Session | null, id: bigint) {
  if (session) localStorage.setItem(`${SEEN}.${session.userId}`, id.toString());
}

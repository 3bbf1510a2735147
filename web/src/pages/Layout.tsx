import { useCallback, useEffect, useState } from "react";
import { NavLink, Outlet, useNavigate } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { LANGUAGES, setLanguage } from "../i18n";
import { isUnauthenticated } from "../api";
import { lastSeen, useNotificationStream } from "../notifications";
import { Role, useSession } from "../session";

export function roleKey(role: Role | undefined): "applicant" | "reviewer" | "admin" | "unknown" {
  switch (role) {
    case Role.APPLICANT:
      return "applicant";
    case Role.REVIEWER:
      return "reviewer";
    case Role.ADMIN:
      return "admin";
    default:
      return "unknown";
  }
}

export function Layout() {
  const { t, i18n } = useTranslation();
  const { session, signOut } = useSession();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const notifications = useNotificationStream(session);
  const [seen, setSeen] = useState(() => lastSeen(session));
  const onSeen = useCallback(() => setSeen(lastSeen(session)), [session]);
  useEffect(() => setSeen(lastSeen(session)), [session]);
  const unread = notifications.filter((n) => n.notificationId > seen).length;

  // A token the server no longer accepts ends the session, wherever the call was made.
  useEffect(() => {
    const end = (error: unknown) => {
      if (isUnauthenticated(error)) {
        signOut();
        queryClient.clear();
        navigate("/sign-in");
      }
    };
    const queries = queryClient.getQueryCache().subscribe((event) => {
      if (event.type === "updated" && event.action.type === "error") end(event.action.error);
    });
    const mutations = queryClient.getMutationCache().subscribe((event) => {
      if (event.type === "updated" && event.action.type === "error") end(event.action.error);
    });
    return () => {
      queries();
      mutations();
    };
  }, [queryClient, signOut, navigate]);

  const onSignOut = () => {
    signOut();
    queryClient.clear();
    navigate("/sign-in");
  };

  return (
    <>
      <a className="skip" href="#content">
        {t("nav.skip")}
      </a>
      <header className="top">
        <div className="brand">
          <strong>{t("app.name")}</strong>
          <span>{t("app.tagline")}</span>
        </div>
        <nav aria-label={t("nav.main")}>
          <ul>
            {session && (
              <li>
                <NavLink to="/dossiers" end>
                  {t("nav.dossiers")}
                </NavLink>
              </li>
            )}
            {session?.role === Role.APPLICANT && (
              <li>
                <NavLink to="/dossiers/new">{t("nav.newDossier")}</NavLink>
              </li>
            )}
            {(session?.role === Role.REVIEWER || session?.role === Role.ADMIN) && (
              <li>
                <NavLink to="/queue">{t("nav.queue")}</NavLink>
              </li>
            )}
            {session && (
              <li>
                <NavLink to="/shop">{t("nav.shop")}</NavLink>
              </li>
            )}
            {session && (
              <li>
                <NavLink to="/orders" end>
                  {t("nav.orders")}
                </NavLink>
              </li>
            )}
            {(session?.role === Role.REVIEWER || session?.role === Role.ADMIN) && (
              <li>
                <NavLink to="/statistics">{t("nav.statistics")}</NavLink>
              </li>
            )}
            {session?.role === Role.ADMIN && (
              <li>
                <NavLink to="/organisations">{t("nav.organisations")}</NavLink>
              </li>
            )}
            {session?.role === Role.ADMIN && (
              <li>
                <NavLink to="/operations">{t("nav.operations")}</NavLink>
              </li>
            )}
            {session && (
              <li>
                <NavLink to="/notifications">
                  {t("nav.notifications")}
                  {unread > 0 && (
                    <>
                      <span className="badge" data-testid="unread" aria-hidden="true">
                        {unread}
                      </span>
                      <span className="visually-hidden">{t("nav.notificationsUnread", { count: unread })}</span>
                    </>
                  )}
                </NavLink>
              </li>
            )}
            <li>
              <NavLink to="/verify">{t("nav.verify")}</NavLink>
            </li>
            <li>
              <NavLink to="/search">{t("nav.search")}</NavLink>
            </li>
          </ul>
        </nav>
        <div className="account">
          <label>
            <span className="visually-hidden">{t("nav.language")}</span>
            <select value={i18n.language} onChange={(e) => setLanguage(e.target.value)} aria-label={t("nav.language")}>
              {LANGUAGES.map((l) => (
                <option key={l.code} value={l.code} lang={l.code}>
                  {l.label}
                </option>
              ))}
            </select>
          </label>
          {session ? (
            <>
              <span className="who">
                {t("nav.signedInAs", { name: session.displayName, role: t(`role.${roleKey(session.role)}`) })}
              </span>
              <button type="button" onClick={onSignOut}>
                {t("nav.signOut")}
              </button>
            </>
          ) : (
            <NavLink to="/sign-in">{t("nav.signIn")}</NavLink>
          )}
        </div>
      </header>
      <main id="content" tabIndex={-1}>
        <Outlet context={{ onSeen }} />
      </main>
    </>
  );
}

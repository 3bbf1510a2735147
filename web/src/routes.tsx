import { createBrowserRouter, Navigate, useLocation, type RouteObject } from "react-router";
import { lazy, Suspense, type ReactNode } from "react";
import { Layout } from "./pages/Layout";
import { SignIn } from "./pages/SignIn";
import { Dossiers } from "./pages/Dossiers";
import { NewDossier } from "./pages/NewDossier";
import { DossierPage } from "./pages/DossierPage";
import { Verify } from "./pages/Verify";
import { Search } from "./pages/Search";
import { NotFound } from "./pages/NotFound";
import { Notifications } from "./pages/Notifications";
import { Queue } from "./pages/Queue";
import { Operations } from "./pages/Operations";
import { Shop } from "./pages/Shop";
import { Orders } from "./pages/Orders";
import { OrderPage } from "./pages/OrderPage";
import { CertificatePage } from "./pages/CertificatePage";
import { Organisations } from "./pages/Organisations";
import { Role, useSession } from "./session";

// Charts are heavy and only staff need them: the page and Chart.js load when first visited.
const Statistics = lazy(() => import("./pages/Statistics"));
// So is the QR code generator, for the printable certificate.
const CertificatePrint = lazy(() => import("./pages/CertificatePrint"));

/** Children for a signed-in user with one of `roles` (any role when empty), else the sign-in page. */
function RequireSession({ roles = [], children }: { roles?: Role[]; children: ReactNode }) {
  const { session } = useSession();
  const location = useLocation();
  if (!session) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/sign-in?next=${next}`} replace />;
  }
  if (roles.length > 0 && !roles.includes(session.role)) return <NotFound />;
  return <>{children}</>;
}

function Home() {
  const { session } = useSession();
  return <Navigate to={session ? "/dossiers" : "/verify"} replace />;
}

export const routes: RouteObject[] = [
  {
    element: <Layout />,
    children: [
      { index: true, element: <Home /> },
      { path: "sign-in", element: <SignIn /> },
      { path: "verify", element: <Verify /> },
      { path: "search", element: <Search /> },
      {
        path: "dossiers",
        element: (
          <RequireSession>
            <Dossiers />
          </RequireSession>
        ),
      },
      {
        path: "dossiers/new",
        element: (
          <RequireSession roles={[Role.APPLICANT]}>
            <NewDossier />
          </RequireSession>
        ),
      },
      {
        path: "dossiers/:dossierId",
        element: (
          <RequireSession>
            <DossierPage />
          </RequireSession>
        ),
      },
      {
        path: "queue",
        element: (
          <RequireSession roles={[Role.REVIEWER, Role.ADMIN]}>
            <Queue />
          </RequireSession>
        ),
      },
      {
        path: "certificates/:number",
        element: (
          <RequireSession>
            <CertificatePage />
          </RequireSession>
        ),
      },
      {
        path: "certificates/:number/print",
        element: (
          <RequireSession>
            <Suspense fallback={<p aria-live="polite">…</p>}>
              <CertificatePrint />
            </Suspense>
          </RequireSession>
        ),
      },
      {
        path: "organisations",
        element: (
          <RequireSession roles={[Role.ADMIN]}>
            <Organisations />
          </RequireSession>
        ),
      },
      {
        path: "shop",
        element: (
          <RequireSession>
            <Shop />
          </RequireSession>
        ),
      },
      {
        path: "orders",
        element: (
          <RequireSession>
            <Orders />
          </RequireSession>
        ),
      },
      {
        path: "orders/:orderId",
        element: (
          <RequireSession>
            <OrderPage />
          </RequireSession>
        ),
      },
      {
        path: "statistics",
        element: (
          <RequireSession roles={[Role.REVIEWER, Role.ADMIN]}>
            <Suspense fallback={<p aria-live="polite">…</p>}>
              <Statistics />
            </Suspense>
          </RequireSession>
        ),
      },
      {
        path: "operations",
        element: (
          <RequireSession roles={[Role.ADMIN]}>
            <Operations />
          </RequireSession>
        ),
      },
      {
        path: "notifications",
        element: (
          <RequireSession>
            <Notifications />
          </RequireSession>
        ),
      },
      { path: "*", element: <NotFound /> },
    ],
  },
];

export const router = createBrowserRouter(routes, { basename: "/console" });

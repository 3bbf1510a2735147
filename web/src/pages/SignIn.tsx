import { useState, type FormEvent } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { useMutation } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { errorMessage, identity } from "../api";
import { useSession } from "../session";

/** Only paths of this application: `next` must not send the user to another site. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/dossiers";
}

export function SignIn() {
  const { t } = useTranslation();
  const { session, signIn } = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const next = safeNext(params.get("next"));

  const login = useMutation({
    mutationFn: () => identity.login({ email, password }),
    onSuccess: (response) => {
      const user = response.user!;
      signIn({
        token: response.accessToken,
        expiresAt: Date.now() + Number(response.expiresInSeconds) * 1000,
        userId: user.userId,
        email: user.email,
        displayName: user.displayName,
        role: user.role,
        organisationId: user.organisationId,
      });
      navigate(next, { replace: true });
    },
  });

  if (session && !login.isSuccess) return <Navigate to={next} replace />;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate();
  };

  return (
    <section className="narrow">
      <h1>{t("signIn.title")}</h1>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="email">{t("signIn.email")}</label>
          <input
            id="email"
            type="email"
            autoComplete="username"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            required
          />
        </div>
        <div className="field">
          <label htmlFor="password">{t("signIn.password")}</label>
          <input
            id="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </div>
        {login.isError && (
          <p className="error" role="alert">
            {errorMessage(login.error)}
          </p>
        )}
        <button type="submit" disabled={login.isPending}>
          {login.isPending ? t("signIn.busy") : t("signIn.submit")}
        </button>
      </form>
    </section>
  );
}

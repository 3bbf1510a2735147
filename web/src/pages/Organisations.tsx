import { useState, type FormEvent, type ReactNode } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { fieldErrors, identity } from "../api";
import { Role } from "../gen/fleuve/identity/v1/identity_pb";
import { formatDate } from "../format";
import { roleKey } from "./Layout";
import { ErrorNotice } from "./ErrorNotice";

function Input({ id, label, error, children }: { id: string; label: string; error?: string; children: ReactNode }) {
  return (
    <div className={error ? "field invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children}
      {error && (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** Admins: the organisations and their users, and forms to add both. */
export function Organisations() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [selected, setSelected] = useState("");
  const [org, setOrg] = useState({ name: "", registrationNumber: "", country: "CG" });
  const [user, setUser] = useState({ email: "", displayName: "", password: "", role: Role.APPLICANT });
  const organisations = useQuery({
    queryKey: ["organisations"],
    queryFn: async () => (await identity.listOrganisations({ pageSize: 100 })).organisations,
  });
  const users = useQuery({
    queryKey: ["users", selected],
    queryFn: async () => (await identity.listUsers({ organisationId: selected, pageSize: 100 })).users,
    enabled: selected !== "",
  });
  const createOrg = useMutation({
    mutationFn: () => identity.createOrganisation(org),
    onSuccess: async (response) => {
      setOrg({ name: "", registrationNumber: "", country: "CG" });
      await queryClient.invalidateQueries({ queryKey: ["organisations"] });
      setSelected(response.organisation!.organisationId);
    },
  });
  const createUser = useMutation({
    mutationFn: () => identity.createUser({ ...user, organisationId: selected }),
    onSuccess: async () => {
      setUser({ email: "", displayName: "", password: "", role: Role.APPLICANT });
      await queryClient.invalidateQueries({ queryKey: ["users", selected] });
    },
  });
  const orgErrors = fieldErrors(createOrg.error);
  const userErrors = fieldErrors(createUser.error);
  const onOrg = (event: FormEvent) => {
    event.preventDefault();
    createOrg.mutate();
  };
  const onUser = (event: FormEvent) => {
    event.preventDefault();
    createUser.mutate();
  };
  const aria = (errors: Record<string, string>, field: string, id: string) => ({
    id,
    "aria-invalid": Boolean(errors[field]),
    "aria-describedby": errors[field] ? `${id}-error` : undefined,
  });

  return (
    <section>
      <h1>{t("orgs.title")}</h1>
      {organisations.isError && <ErrorNotice error={organisations.error} />}
      <table className="list">
        <thead>
          <tr>
            <th scope="col">{t("orgs.name")}</th>
            <th scope="col">{t("orgs.registration")}</th>
            <th scope="col">{t("orgs.country")}</th>
            <th scope="col">{t("orgs.created")}</th>
          </tr>
        </thead>
        <tbody>
          {organisations.data?.map((o) => (
            <tr key={o.organisationId} aria-selected={o.organisationId === selected}>
              <td>
                <button type="button" className="link" onClick={() => setSelected(o.organisationId)}>
                  {o.name}
                </button>
              </td>
              <td>{o.registrationNumber}</td>
              <td>{o.country}</td>
              <td>{formatDate(o.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form onSubmit={onOrg} className="step" noValidate>
        <h2>{t("orgs.add")}</h2>
        {createOrg.isError && Object.keys(orgErrors).length === 0 && <ErrorNotice error={createOrg.error} />}
        <div className="row">
          <Input id="org-name" label={t("orgs.name")} error={orgErrors["name"]}>
            <input {...aria(orgErrors, "name", "org-name")} value={org.name} onChange={(e) => setOrg({ ...org, name: e.target.value })} />
          </Input>
          <Input id="org-registration" label={t("orgs.registration")} error={orgErrors["registration_number"]}>
            <input
              {...aria(orgErrors, "registration_number", "org-registration")}
              value={org.registrationNumber}
              onChange={(e) => setOrg({ ...org, registrationNumber: e.target.value })}
            />
          </Input>
          <Input id="org-country" label={t("orgs.country")} error={orgErrors["country"]}>
            <input {...aria(orgErrors, "country", "org-country")} value={org.country} onChange={(e) => setOrg({ ...org, country: e.target.value })} />
          </Input>
        </div>
        <button type="submit" disabled={createOrg.isPending}>
          {t("orgs.create")}
        </button>
      </form>
      {selected && (
        <section aria-labelledby="users-title">
          <h2 id="users-title">
            {t("orgs.users", { name: organisations.data?.find((o) => o.organisationId === selected)?.name ?? "" })}
          </h2>
          {users.isError && <ErrorNotice error={users.error} />}
          <table className="list" data-testid="users">
            <thead>
              <tr>
                <th scope="col">{t("orgs.displayName")}</th>
                <th scope="col">{t("signIn.email")}</th>
                <th scope="col">{t("orgs.role")}</th>
              </tr>
            </thead>
            <tbody>
              {users.data?.map((u) => (
                <tr key={u.userId}>
                  <td>{u.displayName}</td>
                  <td>{u.email}</td>
                  <td>{t(`role.${roleKey(u.role)}`)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <form onSubmit={onUser} className="step" noValidate>
            <h3>{t("orgs.addUser")}</h3>
            {createUser.isError && Object.keys(userErrors).length === 0 && <ErrorNotice error={createUser.error} />}
            <div className="row">
              <Input id="user-name" label={t("orgs.displayName")} error={userErrors["display_name"]}>
                <input
                  {...aria(userErrors, "display_name", "user-name")}
                  value={user.displayName}
                  onChange={(e) => setUser({ ...user, displayName: e.target.value })}
                />
              </Input>
              <Input id="user-email" label={t("signIn.email")} error={userErrors["email"]}>
                <input {...aria(userErrors, "email", "user-email")} value={user.email} onChange={(e) => setUser({ ...user, email: e.target.value })} />
              </Input>
              <Input id="user-password" label={t("signIn.password")} error={userErrors["password"]}>
                <input
                  {...aria(userErrors, "password", "user-password")}
                  type="password"
                  autoComplete="new-password"
                  value={user.password}
                  onChange={(e) => setUser({ ...user, password: e.target.value })}
                />
              </Input>
              <Input id="user-role" label={t("orgs.role")} error={userErrors["role"]}>
                <select id="user-role" value={user.role} onChange={(e) => setUser({ ...user, role: Number(e.target.value) })}>
                  {[Role.APPLICANT, Role.REVIEWER, Role.ADMIN].map((r) => (
                    <option key={r} value={r}>
                      {t(`role.${roleKey(r)}`)}
                    </option>
                  ))}
                </select>
              </Input>
            </div>
            <button type="submit" disabled={createUser.isPending}>
              {t("orgs.createUser")}
            </button>
          </form>
        </section>
      )}
    </section>
  );
}

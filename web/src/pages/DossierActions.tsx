import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { dossiers } from "../api";
import { DossierStatus } from "../gen/fleuve/homologation/v1/types_pb";
import type { Dossier } from "../gen/fleuve/homologation/v1/query_service_pb";
import { ErrorNotice } from "./ErrorNotice";

/** What the applicant may do with its dossier now: submit a draft, complete an incomplete
 * one, withdraw it before the decision. Each sends the version on screen: a dossier changed
 * meanwhile is refused (ABORTED) rather than acted on blindly. */
export function ApplicantActions({ dossier }: { dossier: Dossier }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [note, setNote] = useState("");
  const [reason, setReason] = useState("");
  const [withdrawing, setWithdrawing] = useState(false);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["dossier", dossier.dossierId] });
  const common = { dossierId: dossier.dossierId, expectedVersion: dossier.version };

  const submit = useMutation({ mutationFn: () => dossiers.submitDossier(common), onSuccess: refresh });
  const complete = useMutation({ mutationFn: () => dossiers.completeDossier({ ...common, note }), onSuccess: refresh });
  const withdraw = useMutation({
    mutationFn: () => dossiers.withdrawDossier({ ...common, reason }),
    onSuccess: async () => {
      setWithdrawing(false);
      await refresh();
    },
  });
  const failed = [submit, complete, withdraw].find((m) => m.isError);
  const decided = [DossierStatus.APPROVED, DossierStatus.REJECTED, DossierStatus.WITHDRAWN].includes(dossier.status);
  if (decided) return null;

  const onWithdraw = (event: FormEvent) => {
    event.preventDefault();
    withdraw.mutate();
  };

  return (
    <section className="actions" aria-labelledby="actions-title">
      <h2 id="actions-title">{t("actions.title")}</h2>
      {failed && <ErrorNotice error={failed.error} />}
      {dossier.status === DossierStatus.DRAFT && (
        <div>
          <p className="hint">{t("actions.submitHint")}</p>
          <button type="button" onClick={() => submit.mutate()} disabled={submit.isPending}>
            {t("actions.submit")}
          </button>
        </div>
      )}
      {dossier.status === DossierStatus.INCOMPLETE && (
        <div className="field">
          <label htmlFor="complete-note">{t("actions.note")}</label>
          <textarea id="complete-note" rows={2} value={note} onChange={(e) => setNote(e.target.value)} />
          <div>
            <button type="button" onClick={() => complete.mutate()} disabled={complete.isPending}>
              {t("actions.complete")}
            </button>
          </div>
        </div>
      )}
      {withdrawing ? (
        <form onSubmit={onWithdraw} className="field">
          <label htmlFor="withdraw-reason">{t("actions.withdrawReason")}</label>
          <textarea id="withdraw-reason" rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />
          <div className="row">
            <button type="submit" className="danger" disabled={withdraw.isPending}>
              {t("actions.confirmWithdraw")}
            </button>
            <button type="button" className="secondary" onClick={() => setWithdrawing(false)}>
              {t("actions.cancel")}
            </button>
          </div>
        </form>
      ) : (
        <p>
          <button type="button" className="secondary" onClick={() => setWithdrawing(true)}>
            {t("actions.withdraw")}
          </button>
        </p>
      )}
    </section>
  );
}

import { useRef, useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { dossiers, fieldErrors, homologation } from "../api";
import { DocumentKind } from "../gen/fleuve/homologation/v1/types_pb";
import type { Dossier } from "../gen/fleuve/homologation/v1/query_service_pb";
import { ACCEPTED, formatBytes, mediaTypeOf, saveFile, sha256Hex } from "../files";
import { formatDateTime } from "../format";
import { ErrorNotice } from "./ErrorNotice";

/** The server's default upload limit (`homologation.max_upload_bytes`); it refuses larger files. */
export const MAX_UPLOAD_BYTES = 16 * 1024 * 1024;

const KINDS = [
  DocumentKind.TECHNICAL_DATASHEET,
  DocumentKind.TEST_REPORT,
  DocumentKind.DECLARATION_OF_CONFORMITY,
  DocumentKind.PHOTOS,
  DocumentKind.USER_MANUAL,
  DocumentKind.TRADE_REGISTER_EXTRACT,
];

export function kindName(kind: DocumentKind): string {
  return DocumentKind[kind] ?? "UNSPECIFIED";
}

/** A dossier's documents: each uploaded file downloadable; an upload form while `editable`. */
export function Documents({ dossier, editable }: { dossier: Dossier; editable: boolean }) {
  const { t, i18n } = useTranslation();
  const download = useMutation({
    mutationFn: (documentId: string) =>
      homologation.getDocumentContent({ dossierId: dossier.dossierId, documentId }),
    onSuccess: (file) => saveFile(file.content, file.fileName, file.mediaType),
  });

  return (
    <section aria-labelledby="documents-title">
      <h2 id="documents-title">{t("documents.title")}</h2>
      {dossier.documents.length === 0 ? (
        <p>{t("documents.none")}</p>
      ) : (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">{t("documents.kind")}</th>
              <th scope="col">{t("documents.file")}</th>
              <th scope="col">{t("documents.size")}</th>
              <th scope="col">{t("documents.attached")}</th>
              <th scope="col">
                <span className="visually-hidden">{t("documents.actions")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {dossier.documents.map((doc) => (
              <tr key={doc.documentId}>
                <td>{t(`documentKind.${kindName(doc.kind)}`)}</td>
                <td>
                  {doc.fileName}
                  <div className="digest" title="SHA-256">
                    {doc.sha256}
                  </div>
                </td>
                <td>{formatBytes(doc.sizeBytes, i18n.language)}</td>
                <td>{formatDateTime(doc.attachedAt)}</td>
                <td>
                  {doc.storageUri.startsWith("/v1/dossiers/") && (
                    <button
                      type="button"
                      className="secondary"
                      disabled={download.isPending}
                      onClick={() => download.mutate(doc.documentId)}
                      aria-label={t("documents.downloadNamed", { name: doc.fileName })}
                    >
                      {t("documents.download")}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {download.isError && <ErrorNotice error={download.error} />}
      {editable && <UploadForm dossierId={dossier.dossierId} />}
    </section>
  );
}

function UploadForm({ dossierId }: { dossierId: string }) {
  const { t, i18n } = useTranslation();
  const queryClient = useQueryClient();
  const input = useRef<HTMLInputElement>(null);
  const [kind, setKind] = useState<DocumentKind>(DocumentKind.UNSPECIFIED);
  const [file, setFile] = useState<File | null>(null);
  const [laboratory, setLaboratory] = useState("");
  const [standards, setStandards] = useState("");
  const [tooLarge, setTooLarge] = useState(false);

  const upload = useMutation({
    mutationFn: async () => {
      const content = new Uint8Array(await file!.arrayBuffer());
      return dossiers.uploadDocument({
        dossierId,
        kind,
        fileName: file!.name,
        mediaType: mediaTypeOf(file!),
        sha256: await sha256Hex(content),
        content,
        laboratory: kind === DocumentKind.TEST_REPORT ? laboratory : "",
        standards:
          kind === DocumentKind.TEST_REPORT
            ? standards
                .split(",")
                .map((s) => s.trim())
                .filter(Boolean)
            : [],
      });
    },
    onSuccess: async () => {
      setFile(null);
      setKind(DocumentKind.UNSPECIFIED);
      if (input.current) input.current.value = "";
      await queryClient.invalidateQueries({ queryKey: ["dossier", dossierId] });
    },
  });
  const errors = fieldErrors(upload.error);
  const fileError = tooLarge
    ? t("documents.tooLarge", { max: formatBytes(MAX_UPLOAD_BYTES, i18n.language) })
    : (errors["content"] ?? errors["sha256"] ?? errors["media_type"]);
  const kindError = errors["kind"];
  const generalError = upload.isError && Object.keys(errors).length === 0;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (file && file.size <= MAX_UPLOAD_BYTES) upload.mutate();
  };

  return (
    <form onSubmit={submit} className="upload" aria-labelledby="upload-title" noValidate>
      <h3 id="upload-title">{t("documents.add")}</h3>
      <div className="row">
        <div className={kindError ? "field invalid" : "field"}>
          <label htmlFor="document-kind">{t("documents.kind")}</label>
          <select
            id="document-kind"
            value={kind}
            onChange={(e) => setKind(Number(e.target.value))}
            aria-invalid={Boolean(kindError)}
          >
            <option value={DocumentKind.UNSPECIFIED}>{t("documents.chooseKind")}</option>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {t(`documentKind.${kindName(k)}`)}
              </option>
            ))}
          </select>
        </div>
        <div className={fileError ? "field invalid" : "field"}>
          <label htmlFor="document-file">{t("documents.file")}</label>
          <input
            id="document-file"
            ref={input}
            type="file"
            accept={ACCEPTED}
            aria-invalid={Boolean(fileError)}
            aria-describedby={fileError ? "document-file-error" : "document-file-hint"}
            onChange={(e) => {
              const chosen = e.target.files?.[0] ?? null;
              setFile(chosen);
              setTooLarge(Boolean(chosen && chosen.size > MAX_UPLOAD_BYTES));
              upload.reset();
            }}
          />
          {fileError ? (
            <p className="field-error" id="document-file-error">
              {fileError}
            </p>
          ) : (
            <p className="hint" id="document-file-hint">
              {t("documents.hint", { max: formatBytes(MAX_UPLOAD_BYTES, i18n.language) })}
            </p>
          )}
        </div>
      </div>
      {kind === DocumentKind.TEST_REPORT && (
        <div className="row">
          <div className="field">
            <label htmlFor="laboratory">{t("documents.laboratory")}</label>
            <input id="laboratory" value={laboratory} onChange={(e) => setLaboratory(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="standards">{t("documents.standards")}</label>
            <input id="standards" value={standards} onChange={(e) => setStandards(e.target.value)} />
          </div>
        </div>
      )}
      {generalError && <ErrorNotice error={upload.error} />}
      <button type="submit" disabled={!file || tooLarge || upload.isPending}>
        {upload.isPending ? t("documents.uploading") : t("documents.upload")}
      </button>
      {upload.isSuccess && (
        <p role="status" className="ok">
          {t("documents.uploaded")}
        </p>
      )}
    </form>
  );
}

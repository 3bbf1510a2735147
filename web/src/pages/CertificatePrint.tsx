import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import QRCode from "qrcode";
import { homologation } from "../api";
import { formatDate } from "../format";
import { categoryName } from "./Dossiers";
import { ErrorNotice } from "./ErrorNotice";

/** The printable certificate: its essentials and a QR code carrying the regulator's seal,
 * which any phone opens on the public verification page. */
export default function CertificatePrint() {
  const { t } = useTranslation();
  const { number = "" } = useParams();
  const certificate = useQuery({
    queryKey: ["certificate", number],
    queryFn: async () => (await homologation.getCertificate({ certificateNumber: number })).certificate!,
    retry: false,
  });
  const seal = useQuery({
    queryKey: ["seal-of", number],
    queryFn: () => homologation.getCertificateSeal({ certificateNumber: number }),
    retry: false,
  });
  const url = seal.data ? `${window.location.origin}/console/verify?seal=${seal.data.seal}` : "";
  const [qr, setQr] = useState("");
  useEffect(() => {
    if (url) void QRCode.toDataURL(url, { errorCorrectionLevel: "M", margin: 1, width: 240 }).then(setQr);
  }, [url]);
  const c = certificate.data;

  return (
    <section className="printable">
      <p className="no-print">
        <Link to={`/certificates/${encodeURIComponent(number)}`}>{t("print.back")}</Link>{" "}
        <button type="button" onClick={() => window.print()}>
          {t("print.print")}
        </button>
      </p>
      {certificate.isError && <ErrorNotice error={certificate.error} />}
      {seal.isError && <ErrorNotice error={seal.error} />}
      {c && (
        <article className="certificate">
          <h1>{t("print.title")}</h1>
          <p className="issuer">{t("print.issuer")}</p>
          <dl>
            <dt>{t("verify.number")}</dt>
            <dd>{c.certificateNumber}</dd>
            <dt>{t("verify.brand")}</dt>
            <dd>{c.equipment?.brand}</dd>
            <dt>{t("verify.model")}</dt>
            <dd>{c.equipment?.model}</dd>
            <dt>{t("newDossier.category")}</dt>
            <dd>{t(`category.${categoryName(c.equipment?.category)}`, { defaultValue: "" })}</dd>
            <dt>{t("verify.validFrom")}</dt>
            <dd>{formatDate(c.validFrom)}</dd>
            <dt>{t("verify.validUntil")}</dt>
            <dd>{formatDate(c.validUntil)}</dd>
          </dl>
          {qr && (
            <figure className="qr">
              <img src={qr} alt={t("print.qrAlt")} width={240} height={240} />
              <figcaption>
                {t("print.scan")}{" "}
                <a href={url} data-testid="seal-link">
                  {t("print.open")}
                </a>
              </figcaption>
            </figure>
          )}
        </article>
      )}
    </section>
  );
}

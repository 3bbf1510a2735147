import { Link } from "react-router";
import { useTranslation } from "react-i18next";

export function NotFound() {
  const { t } = useTranslation();
  return (
    <section>
      <h1>{t("notFound.title")}</h1>
      <p>
        <Link to="/">{t("notFound.home")}</Link>
      </p>
    </section>
  );
}

import { useTranslation } from "react-i18next";
import { errorMessage } from "../api";

export function ErrorNotice({ error, retry }: { error: unknown; retry?: () => void }) {
  const { t } = useTranslation();
  return (
    <div className="error" role="alert">
      <strong>{t("error.title")}</strong> 
      {errorMessage(error)}
      {retry && (
        <button type="button" onClick={retry}>
          {t("error.retry")}
        </button>
      )}
    </div>
  );
}

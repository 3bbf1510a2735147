// French by default (the regulator works in French); English selectable, remembered per browser.
import i18next from "i18next";
import { initReactI18next } from "react-i18next";
import { fr } from "./locales/fr";
import { en } from "./locales/en";

export const LANGUAGES = [
  { code: "fr", label: "Français" },
  { code: "en", label: "English" },
] as const;

const KEY = "fleuve.language";
const saved = localStorage.getItem(KEY);
const initial = saved === "en" || saved === "fr" ? saved : "fr";

i18next.use(initReactI18next).init({
  resources: { fr: { translation: fr }, en: { translation: en } },
  lng: initial,
  fallbackLng: "fr",
  interpolation: { escapeValue: false },
});
document.documentElement.lang = initial;

export function setLanguage(code: string) {
  localStorage.setItem(KEY, code);
  document.documentElement.lang = code;
  void i18next.changeLanguage(code);
}

export default i18next;

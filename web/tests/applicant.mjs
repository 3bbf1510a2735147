// An applicant in the console, against a running `fleuve dev` (CONSOLE = its /console/ URL):
// the public page, sign-in, a new dossier refused field by field then created, the list with
// its filter, four documents uploaded (one refused) and one downloaded, submission and
// withdrawal, English, sign-out; another organisation's applicant typing the dossier's URL sees
// no dossier; a wrong password is refused. Prints one JSON line.
//
// Env: CONSOLE, APPLICANT_EMAIL, OTHER_APPLICANT_EMAIL, PASSWORD, ARTIFACTS (optional dir).
import { readFile } from "node:fs/promises";
import {
  accessible,
  ask,
  check,
  doneAsking,
  launch,
  mandatoryDocuments,
  newPage,
  PNG,
  pdf,
  screenshot,
  signIn,
  uploadDocument,
} from "./browser.mjs";

const CONSOLE = process.env.CONSOLE.replace(/\/$/, "");
const out = { axe: {} };

const browser = await launch();
try {
  const page = await newPage(browser);

  // Signed out, the console opens on the public certificate check, in French.
  await page.goto(`${CONSOLE}/`);
  await page.getByRole("heading", { name: "Vérifier un certificat d'homologation" }).waitFor();
  check(new URL(page.url()).pathname === "/console/verify", `landing ${page.url()}`);
  check((await page.getAttribute("html", "lang")) === "fr", "French by default");
  out.axe.verify = await accessible(page, "verify");
  await screenshot(page, "verify");

  // A protected page sends to the sign-in, and back after it.
  await page.goto(`${CONSOLE}/dossiers/new`);
  await page.getByRole("heading", { name: "Connexion" }).waitFor();
  out.axe.signIn = await accessible(page, "sign-in");
  await screenshot(page, "sign-in");
  await signIn(page, process.env.APPLICANT_EMAIL);
  await page.getByRole("heading", { name: "Nouveau dossier" }).waitFor();
  check(page.url().endsWith("/console/dossiers/new"), `after sign-in ${page.url()}`);

  // Nothing filled in: the server refuses each field, and each message sits by its field.
  await page.getByRole("button", { name: "Créer le dossier" }).click();
  await page.getByText("Le dossier n'a pas été créé : corrigez les champs signalés.").waitFor();
  const fieldError = async (label) => {
    const input = page.getByLabel(label, { exact: true }).first();
    check((await input.getAttribute("aria-invalid")) === "true", `${label} is not marked invalid`);
    const id = await input.getAttribute("aria-describedby");
    return (await page.locator(`#${id}`).textContent()).trim();
  };
  out.fieldErrors = {
    brand: await fieldError("Marque"),
    model: await fieldError("Modèle"),
    category: await fieldError("Catégorie"),
    band: await fieldError("Fréquence basse (kHz)"),
  };
  out.axe.newDossierErrors = await accessible(page, "new dossier with errors");
  await screenshot(page, "new-dossier-errors");

  // Filled in: created as a draft, its page shows it.
  await page.getByLabel("Marque", { exact: true }).fill("Tecno");
  await page.getByLabel("Modèle", { exact: true }).fill("Spark 30");
  await page.getByLabel("Catégorie", { exact: true }).selectOption({ label: "Terminal mobile" });
  await page.getByLabel("Fréquence basse (kHz)").fill("880000");
  await page.getByLabel("Fréquence haute (kHz)").fill("915000");
  await page.getByRole("button", { name: "Ajouter une caractéristique" }).click();
  await page.getByLabel("Nom", { exact: true }).fill("Puissance");
  await page.getByLabel("Valeur", { exact: true }).fill("2 W");
  await page.getByRole("button", { name: "Créer le dossier" }).click();
  await page.getByRole("heading", { name: "Tecno Spark 30" }).waitFor();
  out.dossierUrl = page.url();
  out.dossierId = out.dossierUrl.split("/").pop();
  out.status = (await page.getByTestId("dossier-status").textContent()).trim();
  out.axe.dossier = await accessible(page, "dossier");
  await screenshot(page, "dossier");

  // The list: the new draft, found by the filter, absent from the approved ones.
  await page.getByRole("link", { name: "Retour aux dossiers" }).click();
  await page.getByRole("heading", { name: "Les dossiers de mon organisation" }).waitFor();
  await page.getByRole("link", { name: "Tecno" }).first().waitFor();
  await page.getByLabel("Statut").selectOption({ label: "Brouillon" });
  await page.waitForURL(/status=DRAFT/);
  await page.getByRole("link", { name: "Tecno" }).first().waitFor();
  out.axe.dossiers = await accessible(page, "dossiers");
  await screenshot(page, "dossiers");
  await page.getByLabel("Statut").selectOption({ label: "Homologué" });
  await page.getByText("Aucun dossier.").waitFor();

  // Back to the draft: the four mandatory documents uploaded (the browser computes each
  // file's SHA-256, the server verifies it and stores the bytes); a file whose bytes are not
  // its type is refused, the message by the file field.
  await page.getByLabel("Statut").selectOption({ label: "Tous" });
  await page.getByRole("link", { name: "Tecno" }).first().click();
  await page.getByRole("heading", { name: "Tecno Spark 30" }).waitFor();
  const uploads = mandatoryDocuments("tecno");
  for (const [kind, file] of uploads) await uploadDocument(page, kind, file);
  await page.getByLabel("Type de document").selectOption({ label: "Photos" });
  await page.getByLabel("Fichier", { exact: true }).setInputFiles({ name: "fake.png", mimeType: "image/png", buffer: pdf("not a png") });
  await page.getByRole("button", { name: "Envoyer" }).click();
  const refusedFile = page.locator("#document-file-error");
  await refusedFile.waitFor();
  out.refusedUpload = (await refusedFile.textContent()).trim();
  out.documents = await page.locator("table.list tbody tr").count();
  out.axe.documents = await accessible(page, "dossier with documents");
  await screenshot(page, "documents");

  // A download gives back the very bytes uploaded.
  const downloading = page.waitForEvent("download");
  await page.getByRole("button", { name: `Télécharger ${uploads[0][1].name}` }).click();
  const downloaded = await downloading;
  const bytes = await readFile(await downloaded.path());
  out.downloadMatches = Buffer.compare(bytes, uploads[0][1].buffer) === 0;
  out.downloadName = downloaded.suggestedFilename();

  // Submitted. A reviewer declares it incomplete meanwhile: the page shows it without a
  // reload (the notification stream), the header counts the unread notification, and the
  // applicant completes the dossier.
  await page.getByRole("button", { name: "Soumettre le dossier" }).click();
  await page.getByTestId("dossier-status").filter({ hasText: "Soumis" }).waitFor();
  await ask({ action: "declare-incomplete", dossierId: out.dossierId });
  const declared = Date.now();
  await page.getByTestId("dossier-status").filter({ hasText: "Incomplet" }).waitFor();
  out.liveUpdateMs = Date.now() - declared;
  await page.getByText("photos en meilleure résolution").waitFor();
  await page.getByTestId("unread").filter({ hasText: "1" }).waitFor();
  await page.getByRole("link", { name: /^Notifications/ }).click();
  await page.getByRole("heading", { name: "Notifications", level: 1 }).waitFor();
  out.notification = (await page.locator("ol.notifications li h2").first().textContent()).trim();
  check((await page.getByTestId("unread").count()) === 0, "the notifications page marks them read");
  out.axe.notifications = await accessible(page, "notifications");
  await screenshot(page, "notifications");
  await page.getByRole("link", { name: "Voir le dossier" }).first().click();
  await page.getByLabel("Note pour l'instructeur").fill("photos ajoutées");
  await uploadDocument(page, "Photos", { name: "photo-hd.png", mimeType: "image/png", buffer: PNG });
  await page.getByRole("button", { name: "Compléter le dossier" }).click();
  await page.getByTestId("dossier-status").filter({ hasText: "Soumis" }).waitFor();

  // Withdrawn with a reason.
  await page.getByRole("button", { name: "Retirer le dossier" }).click();
  await page.getByLabel("Motif du retrait").fill("modèle abandonné");
  await page.getByRole("button", { name: "Confirmer le retrait" }).click();
  await page.getByTestId("dossier-status").filter({ hasText: "Retiré" }).waitFor();
  out.finalStatus = (await page.getByTestId("dossier-status").textContent()).trim();
  await page.getByRole("link", { name: "Retour aux dossiers" }).click();
  await page.getByRole("heading", { name: "Les dossiers de mon organisation" }).waitFor();

  // English, remembered for the next page.
  await page.getByLabel("Langue").selectOption({ label: "English" });
  await page.getByRole("heading", { name: "My organisation's dossiers" }).waitFor();
  check((await page.getAttribute("html", "lang")) === "en", "html lang follows the language");
  await page.reload();
  await page.getByRole("heading", { name: "My organisation's dossiers" }).waitFor();
  await page.getByLabel("Language").selectOption({ label: "Français" });

  // Sign-out forgets the token: the protected page asks for a sign-in again.
  await page.getByRole("button", { name: "Se déconnecter" }).click();
  await page.getByRole("heading", { name: "Connexion" }).waitFor();
  await page.goto(out.dossierUrl);
  await page.getByRole("heading", { name: "Connexion" }).waitFor();

  // Another organisation's applicant, typing the dossier's URL, does not see it.
  await signIn(page, process.env.OTHER_APPLICANT_EMAIL);
  const denied = page.getByRole("alert");
  await denied.waitFor();
  out.otherOrganisation = (await denied.textContent()).trim();
  check((await page.getByRole("heading", { name: "Tecno Spark 30" }).count()) === 0, "the other organisation sees the dossier");
  await page.getByRole("button", { name: "Se déconnecter" }).click();

  // A wrong password: the server's refusal, shown.
  await signIn(page, process.env.APPLICANT_EMAIL, "not-the-password");
  out.wrongPassword = (await page.getByRole("alert").textContent()).trim();

  out.problems = page.problems;
  console.log(JSON.stringify(out));
} finally {
  doneAsking();
  await browser.close();
}

// A dossier's whole life in the console, each party in its own browser context (its own tab
// session), against a running `fleuve dev`: the applicant files a dossier with four uploaded
// documents and submits; the admin invoices, records the payment and assigns the reviewer;
// the reviewer finds it in the queue, recognises a CE certificate and gives a favourable
// opinion; the admin approves; the public verification page (signed out) shows the
// certificate valid; the applicant, whose page followed live, downloads a document and gets
// the same bytes. Prints one JSON line.
//
// Env: CONSOLE, APPLICANT_EMAIL, ADMIN_EMAIL, REVIEWER_EMAIL, PASSWORD, ARTIFACTS (optional).
import { readFile } from "node:fs/promises";
import { accessible, launch, mandatoryDocuments, newPage, screenshot, signIn, uploadDocument } from "./browser.mjs";

const CONSOLE = process.env.CONSOLE.replace(/\/$/, "");
const out = { axe: {} };
const status = (page) => page.getByTestId("dossier-status");

const browser = await launch();
try {
  // The applicant files and submits.
  const applicant = await newPage(browser);
  await applicant.goto(`${CONSOLE}/dossiers/new`);
  await signIn(applicant, process.env.APPLICANT_EMAIL);
  await applicant.getByRole("heading", { name: "Nouveau dossier" }).waitFor();
  await applicant.getByLabel("Marque", { exact: true }).fill("Itel");
  await applicant.getByLabel("Modèle", { exact: true }).fill("A80");
  await applicant.getByLabel("Catégorie", { exact: true }).selectOption({ label: "Terminal mobile" });
  await applicant.getByLabel("Fréquence basse (kHz)").fill("1710000");
  await applicant.getByLabel("Fréquence haute (kHz)").fill("1785000");
  await applicant.getByRole("button", { name: "Créer le dossier" }).click();
  await applicant.getByRole("heading", { name: "Itel A80" }).waitFor();
  const dossierUrl = applicant.url();
  out.dossierId = dossierUrl.split("/").pop();
  const documents = mandatoryDocuments("itel");
  for (const [kind, file] of documents) await uploadDocument(applicant, kind, file);
  await applicant.getByRole("button", { name: "Soumettre le dossier" }).click();
  await status(applicant).filter({ hasText: "Soumis" }).waitFor();

  // The admin invoices, records the payment, assigns the reviewer.
  const admin = await newPage(browser);
  await admin.goto(dossierUrl);
  await signIn(admin, process.env.ADMIN_EMAIL);
  await admin.getByRole("heading", { name: "Itel A80" }).waitFor();
  await admin.getByRole("button", { name: "Émettre la facture" }).click();
  await admin.getByText(/^Facture ARPCE-INV-/).waitFor();
  out.invoice = (await admin.getByText(/^Facture ARPCE-INV-/).textContent()).trim();
  await admin.getByLabel("Référence du paiement").fill("MOMO-778899");
  await admin.getByRole("button", { name: "Enregistrer le paiement" }).click();
  await admin.getByText("Payé", { exact: true }).waitFor();
  await admin.getByLabel("Instructeur", { exact: true }).selectOption({ label: `ARPCE Reviewer (${process.env.REVIEWER_EMAIL})` });
  await admin.getByRole("button", { name: "Affecter", exact: true }).click();
  await status(admin).filter({ hasText: "En instruction" }).waitFor();
  out.axe.adminDossier = await accessible(admin, "admin's dossier page");
  await screenshot(admin, "admin-dossier");

  // The reviewer finds it in the queue, recognises the CE certificate, gives the opinion.
  const reviewer = await newPage(browser);
  await reviewer.goto(`${CONSOLE}/queue`);
  await signIn(reviewer, process.env.REVIEWER_EMAIL);
  await reviewer.getByRole("heading", { name: "Ma file d'instruction" }).waitFor();
  out.axe.queue = await accessible(reviewer, "queue");
  await screenshot(reviewer, "queue");
  await reviewer.getByRole("link", { name: "Itel" }).first().click();
  await reviewer.getByRole("heading", { name: "Itel A80" }).waitFor();
  await reviewer.getByLabel("Référentiel").selectOption({ label: "CE" });
  await reviewer.getByLabel("Référence", { exact: true }).fill("CE-RED-2026-0042");
  await reviewer.getByLabel("Organisme émetteur").fill("TÜV Rheinland");
  await reviewer.getByRole("button", { name: "Reconnaître", exact: true }).click();
  await reviewer.locator('[data-event="foreignCertificateRecognized"]').waitFor();
  await reviewer.getByLabel("Favorable", { exact: true }).check();
  await reviewer.getByLabel("Commentaires").fill("conforme aux exigences essentielles");
  await reviewer.getByRole("button", { name: "Donner l'avis" }).click();
  await reviewer.locator('[data-event="technicalOpinionGiven"]').waitFor();

  // The admin approves: the certificate is issued.
  await admin.reload();
  await admin.getByRole("button", { name: "Homologuer et délivrer le certificat" }).click();
  await status(admin).filter({ hasText: "Homologué" }).waitFor();
  const certificate = admin.getByRole("link", { name: /^ARPCE-HOM-/ });
  out.certificateNumber = (await certificate.textContent()).trim();
  // The history is fetched on its own: wait until it shows the decision before reading it.
  await admin.locator('ol.timeline li[data-event="approved"]').waitFor();
  out.timeline = await admin.locator("ol.timeline li").evaluateAll((items) => items.map((li) => li.dataset.event));
  out.axe.approved = await accessible(admin, "approved dossier");
  await screenshot(admin, "approved-dossier");

  // The dashboard counts the approval once the statistics projection has it.
  await admin.getByRole("link", { name: "Statistiques" }).click();
  await admin.getByRole("heading", { name: "Statistiques", level: 1 }).waitFor();
  for (let attempt = 0; ; attempt++) {
    await admin.getByTestId("by-status").waitFor({ state: "attached" });
    const approved = await admin.getByTestId("by-status").locator("tr", { hasText: "Homologué" }).count();
    if (approved === 1) break;
    if (attempt === 40) throw new Error("the approval never reached the statistics");
    await admin.waitForTimeout(250);
    await admin.reload();
  }
  out.statistics = await admin.getByTestId("decisions").locator("tr").evaluateAll((rows) =>
    rows.map((r) => [r.querySelector("th").textContent, r.querySelector("td").textContent]),
  );
  out.axe.statistics = await accessible(admin, "statistics");
  await screenshot(admin, "statistics");

  // Anyone, signed out, verifies the certificate.
  const visitor = await newPage(browser);
  await visitor.goto(`${CONSOLE}/verify`);
  await visitor.getByLabel("Numéro du certificat").fill(out.certificateNumber);
  await visitor.getByRole("button", { name: "Vérifier" }).click();
  await visitor.getByRole("heading", { name: "Certificat valide" }).waitFor();
  out.verified = (await visitor.getByRole("status").textContent()).includes("Itel");
  out.axe.verified = await accessible(visitor, "verification");
  await screenshot(visitor, "verified");

  // ... and finds it by brand and model prefix.
  await visitor.getByRole("link", { name: "Rechercher" }).click();
  await visitor.getByLabel("Marque").fill("itel");
  await visitor.getByLabel("Modèle").fill("A8");
  await visitor.getByRole("button", { name: "Rechercher" }).click();
  await visitor.getByTestId("search-results").getByRole("link", { name: out.certificateNumber }).waitFor();
  out.axe.search = await accessible(visitor, "search");

  // The admin suspends the certificate: the public page says it is not valid (once the
  // registry projection has it); reinstated, it is valid again.
  await admin.goto(`${CONSOLE}/certificates/${out.certificateNumber}`);
  await admin.getByTestId("certificate-status").filter({ hasText: "Valide" }).waitFor();
  await admin.getByRole("button", { name: "Suspendre" }).click();
  await admin.getByLabel("Motif").fill("non-conformité constatée sur le marché");
  await admin.getByRole("button", { name: "Confirmer" }).click();
  await admin.getByTestId("certificate-status").filter({ hasText: "Suspendu" }).waitFor();
  out.axe.certificate = await accessible(admin, "certificate");
  await screenshot(admin, "certificate-suspended");
  const verdict = async (expected) => {
    for (let attempt = 0; ; attempt++) {
      await visitor.goto(`${CONSOLE}/verify?number=${out.certificateNumber}`);
      const heading = visitor.getByRole("status").getByRole("heading");
      await heading.waitFor();
      if ((await heading.textContent()).trim() === expected) return;
      if (attempt === 40) throw new Error(`the public page never said ${expected}`);
      await visitor.waitForTimeout(250);
    }
  };
  await verdict("Ce certificat n'est pas valide");
  out.suspendedShown = true;
  await admin.getByRole("button", { name: "Rétablir" }).click();
  await admin.getByLabel("Note").fill("mise en conformité vérifiée");
  await admin.getByRole("button", { name: "Confirmer" }).click();
  await admin.getByTestId("certificate-status").filter({ hasText: "Valide" }).waitFor();
  await verdict("Certificat valide");
  out.reinstatedShown = true;

  // The printable certificate carries the regulator's seal in its QR code: opened signed out,
  // the seal is authentic and the registry says valid; the same seal with its brand altered
  // is shown as forged.
  await admin.goto(`${CONSOLE}/certificates/${out.certificateNumber}/print`);
  await admin.getByRole("img", { name: "QR code du sceau de l'ARPCE" }).waitFor();
  const sealUrl = await admin.getByTestId("seal-link").getAttribute("href");
  out.axe.print = await accessible(admin, "printable certificate");
  await screenshot(admin, "certificate-print");
  await visitor.goto(sealUrl);
  await visitor.getByTestId("seal").getByRole("heading", { name: "Sceau authentique de l'ARPCE" }).waitFor();
  await visitor.getByRole("heading", { name: "Certificat valide" }).waitFor();
  out.sealSays = (await visitor.getByTestId("seal").textContent()).trim();
  await screenshot(visitor, "seal-authentic");
  const seal = new URL(sealUrl).searchParams.get("seal");
  const [head, body, signature] = seal.split(".");
  const claims = JSON.parse(Buffer.from(body, "base64url").toString());
  claims.brand = "Itel Pro";
  const forged = `${head}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
  await visitor.goto(`${CONSOLE}/verify?seal=${forged}`);
  const verdictOfForged = visitor.getByTestId("seal");
  await verdictOfForged.getByRole("heading", { name: /^Sceau falsifié/ }).waitFor();
  out.forged = (await verdictOfForged.textContent()).trim();
  out.axe.forged = await accessible(visitor, "forged seal");
  await screenshot(visitor, "seal-forged");

  // The applicant's open page followed the decision; a download gives the uploaded bytes.
  await status(applicant).filter({ hasText: "Homologué" }).waitFor();
  const downloading = applicant.waitForEvent("download");
  await applicant.getByRole("button", { name: `Télécharger ${documents[1][1].name}` }).click();
  const downloaded = await downloading;
  out.downloadMatches = Buffer.compare(await readFile(await downloaded.path()), documents[1][1].buffer) === 0;

  out.problems = [...applicant.problems, ...admin.problems, ...reviewer.problems, ...visitor.problems];
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}

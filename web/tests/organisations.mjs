// An admin adds an importer and its first user in the console: refused fields shown by
// their inputs, then both created; the new user signs in and sees its (empty) dossiers.
//
// Env: CONSOLE, ADMIN_EMAIL, PASSWORD, ARTIFACTS (optional).
import { accessible, launch, newPage, screenshot, signIn } from "./browser.mjs";

const CONSOLE = process.env.CONSOLE.replace(/\/$/, "");
const out = { axe: {} };
const browser = await launch();
try {
  const admin = await newPage(browser);
  await admin.goto(`${CONSOLE}/organisations`);
  await signIn(admin, process.env.ADMIN_EMAIL);
  await admin.getByRole("heading", { name: "Organisations et utilisateurs" }).waitFor();
  await admin.getByRole("button", { name: "Créer l'organisation" }).click();
  await admin.locator("#org-name-error").waitFor();
  out.orgError = (await admin.locator("#org-name-error").textContent()).trim();
  await admin.getByLabel("Raison sociale").fill("Pointe-Noire Télécom Import");
  await admin.getByLabel("Numéro RCCM").fill("CG-PNR-01-2026-B12-00777");
  await admin.getByRole("button", { name: "Créer l'organisation" }).click();
  await admin.getByRole("heading", { name: "Utilisateurs de Pointe-Noire Télécom Import" }).waitFor();
  await admin.getByLabel("Nom affiché").fill("Importateur PNR");
  await admin.getByLabel("Adresse e-mail").fill("not-an-email");
  await admin.getByLabel("Mot de passe").fill("un mot de passe assez long");
  await admin.getByRole("button", { name: "Créer l'utilisateur" }).click();
  await admin.locator("#user-email-error").waitFor();
  out.emailError = (await admin.locator("#user-email-error").textContent()).trim();
  await admin.getByLabel("Adresse e-mail").fill("import@pnr-telecom.cg");
  await admin.getByRole("button", { name: "Créer l'utilisateur" }).click();
  await admin.getByTestId("users").getByRole("cell", { name: "import@pnr-telecom.cg" }).waitFor();
  out.axe.organisations = await accessible(admin, "organisations");
  await screenshot(admin, "organisations");

  const newcomer = await newPage(browser);
  await newcomer.goto(`${CONSOLE}/dossiers`);
  await signIn(newcomer, "import@pnr-telecom.cg", "un mot de passe assez long");
  await newcomer.getByRole("heading", { name: "Les dossiers de mon organisation" }).waitFor();
  await newcomer.getByText("Aucun dossier.").waitFor();
  out.newcomerSignedIn = true;
  out.problems = [...admin.problems, ...newcomer.problems];
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}

// Certificate seals: the regulator's compact JWS (ES256) over a certificate's essentials,
// carried by the QR code of a printed certificate. Verified here against the published keys
// (CertificateRegistryService.GetSealKeys) with Web Crypto.
import { registry } from "./api";

export interface SealPayload {
  iss: string;
  sub: string;
  brand: string;
  model: string;
  category: string;
  holder: string;
  valid_from: number;
  valid_until: number;
  iat: number;
}

export type SealCheck =
  | { kind: "authentic"; payload: SealPayload }
  | { kind: "forged"; reason: "malformed" | "unknown-key" | "bad-signature" }
  | { kind: "unverifiable" };

function base64url(text: string): Uint8Array<ArrayBuffer> {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Whether `seal` was signed by one of the regulator's published keys, and what it says. */
export async function checkSeal(seal: string): Promise<SealCheck> {
  const parts = seal.split(".");
  if (parts.length !== 3) return { kind: "forged", reason: "malformed" };
  let header: { alg?: string; kid?: string };
  let payload: SealPayload;
  try {
    header = JSON.parse(new TextDecoder().decode(base64url(parts[0])));
    payload = JSON.parse(new TextDecoder().decode(base64url(parts[1])));
  } catch {
    return { kind: "forged", reason: "malformed" };
  }
  if (header.alg !== "ES256") return { kind: "forged", reason: "malformed" };
  if (!globalThis.crypto?.subtle) return { kind: "unverifiable" };
  const { keys } = await registry.getSealKeys({});
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk) return { kind: "forged", reason: "unknown-key" };
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, ext: true },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, base64url(parts[2]), signed);
  return ok ? { kind: "authentic", payload } : { kind: "forged", reason: "bad-signature" };
}

// Files in the browser: the SHA-256 the server verifies, computed before the upload, and a
// downloaded file handed to the user.

/** Hex SHA-256 of `bytes`: Web Crypto where the page is a secure context (HTTPS, localhost),
 * else @noble/hashes, loaded only then. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  let digest: Uint8Array;
  if (globalThis.crypto?.subtle) {
    digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  } else {
    const { sha256 } = await import("@noble/hashes/sha2.js");
    digest = sha256(bytes);
  }
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The media types the server accepts, by file extension (some systems give no type). */
const BY_EXTENSION: Record<string, string> = {
  pdf: "application/pdf",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
};

export const ACCEPTED = ".pdf,.png,.jpg,.jpeg,.webp,application/pdf,image/png,image/jpeg,image/webp";

export function mediaTypeOf(file: File): string {
  if (file.type) return file.type;
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return BY_EXTENSION[extension] ?? "application/octet-stream";
}

/** Offers `content` to the user as a download named `fileName`. */
export function saveFile(content: Uint8Array, fileName: string, mediaType: string) {
  const url = URL.createObjectURL(new Blob([content as Uint8Array<ArrayBuffer>], { type: mediaType }));
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function formatBytes(bytes: bigint | number, language: string): string {
  const n = Number(bytes);
  const units = language.startsWith("fr") ? ["o", "Ko", "Mo"] : ["B", "KB", "MB"];
  const [value, unit] = n >= 1024 * 1024 ? [n / 1024 / 1024, units[2]] : n >= 1024 ? [n / 1024, units[1]] : [n, units[0]];
  return `${new Intl.NumberFormat(language, { maximumFractionDigits: 1 }).format(value)} ${unit}`;
}

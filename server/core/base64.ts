// Strict base64 for job data. Node's decoder skips characters it does not
// know, so "decode then compare with the canonical encoding" is what rejects
// whitespace, base64url characters, missing or extra padding and non-zero
// trailing bits: a job is printed from exactly the bytes the client meant.

export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Size the text would decode to, computed without decoding (to refuse huge jobs cheaply). */
export function base64DecodedLength(text: string): number {
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor(text.length / 4) * 3 - pad);
}

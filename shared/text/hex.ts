/** Bytes as lowercase hex, two digits each: digests, SIDs and generated secrets. */
export function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

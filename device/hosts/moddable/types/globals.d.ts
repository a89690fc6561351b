// Globals of the XS runtime the firmware relies on, missing from the ES2022
// library: `trace` (to xsbug or the serial console) comes from xs.d.ts in
// the npm typings; these are the rest.

interface ArrayBufferConstructor {
  /** UTF-8 encodes a string into a new ArrayBuffer (XS extension). */
  fromString?(s: string): ArrayBuffer;
}

interface StringConstructor {
  /** UTF-8 decodes an ArrayBuffer (XS extension). */
  fromArrayBuffer?(b: ArrayBuffer): string;
}

// eslint-disable-next-line no-var
declare var abort: ((reason: string, error?: unknown) => boolean | void) | undefined;

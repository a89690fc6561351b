// WebSocket text frames built by hand, as a client sends them (masked, here
// with a zero key, which leaves the payload as it is). Concatenated and put
// on the socket in one write, they reach the server all at once, the way a
// hostile peer floods it; `ws.send` in a loop would not promise that.

export function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const n = payload.length;
  let head: Buffer;
  if (n < 126) head = Buffer.from([0x81, 0x80 | n]);
  else if (n < 0x10000) head = Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff]);
  else throw new RangeError('frames of 64 KiB and more are not needed here');
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

/** The frames of `texts`, back to back, for one write. */
export function textFrames(texts: Iterable<string>): Buffer {
  const parts: Buffer[] = [];
  for (const text of texts) parts.push(textFrame(text));
  return Buffer.concat(parts);
}

// A text frame as a server sends it (RFC 6455 §5.2: FIN, opcode 1, no mask),
// built once for a text that many sockets get. ws frames each send itself:
// for a broadcast to 10,000 devices that is 10,000 headers, UTF-8 copies and
// two-buffer writes where one shared buffer written to each socket does.

/** The frame for `text`, header and payload in one buffer. */
export function serverTextFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const n = payload.length;
  const head = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81;
  if (n < 126) {
    frame[1] = n;
  } else if (n < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(frame, head);
  return frame;
}

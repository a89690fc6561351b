// Frames as a server sends them (RFC 6455 §5.2: FIN, no mask), header and
// payload in one buffer: one write each. A broadcast's text frame is built
// once and the same buffer written to every device's socket.

export const OP_TEXT = 1;
export const OP_BINARY = 2;
export const OP_CLOSE = 8;
export const OP_PING = 9;
export const OP_PONG = 10;

/** A frame of `opcode` with room for `n` payload bytes after its header (the header's length is returned with it). */
function frameFor(opcode: number, n: number): [frame: Buffer, head: number] {
  const head = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x80 | opcode;
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
  return [frame, head];
}

/** The frame for `payload` with `opcode`. */
export function serverFrame(opcode: number, payload: Uint8Array): Buffer {
  const [frame, head] = frameFor(opcode, payload.length);
  frame.set(payload, head);
  return frame;
}

/** The text frame for `text`: its UTF-8 bytes written straight into the frame. */
export function serverTextFrame(text: string): Buffer {
  const [frame, head] = frameFor(OP_TEXT, Buffer.byteLength(text, 'utf8'));
  frame.write(text, head, 'utf8');
  return frame;
}

// The Weblink endpoint (/weblink by default): where Link-OS printers dial in.
//
// Upgrade: the printer offers the subprotocol v1.weblink.zebra.com and the
// 101 must echo it and carry Content-Length: 0, or the printer gives up.
// A printer sends no credentials until challenged, so a request without them
// gets 401 with a Basic challenge; user = serial, password = the token
// `printbridge devices add SERIAL --weblink` printed. Only devices registered
// that way (tag `weblink`) may log in here. Each serial may hold at most
// maxWeblinkConnections sockets (main and channels), so a printer that keeps
// opening connections is bounded; over it the upgrade gets 503.
//
// After the upgrade a connection is nothing until its first message says
// what it is: {"discovery_b64"} makes it the printer's main connection (the
// serial in the packet must be the login's), {"channel_name"} a raw or
// config channel of the printer's current main. Anything else, or nothing
// within helloTimeoutMs, closes it. JSON split over several messages is
// put back together (messages.ts) under maxWeblinkMessage.
//
// This file decodes; what a connection means is decided in printer.ts.

import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { CLOSE } from '../../protocol/errors.js';
import type { Hub } from '../core/hub.js';
import { checkDeviceLogin, getDevice, WEBLINK_TAG } from '../store/devices.js';
import { LoginRefusals } from '../transports/login-refusals.js';
import { WsPeer } from '../transports/ws-peer.js';
import { parseDiscovery } from './discovery.js';
import { CONFIG_CHANNEL, classifyFirst, MAIN_SUBPROTOCOL, RAW_CHANNEL, Reassembler, type ChannelName } from './messages.js';
import { DEFAULT_WEBLINK_TIMING, WeblinkPrinter, type Link, type WeblinkTiming } from './printer.js';

export const WEBLINK_PATH = '/weblink';
const REALM = 'printbridge weblink';

export interface WeblinkEndpointOptions {
  closeGraceMs: number;
  timing?: WeblinkTiming | undefined;
}

export interface WeblinkEndpoint {
  /** Handles an upgrade request for the Weblink path. */
  /** `address`: the peer's, as the HTTP transport worked it out (behind a trusted proxy, the forwarded one). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, address: string | undefined): void;
  readonly sockets: ReadonlySet<WebSocket>;
}

export function createWeblinkEndpoint(hub: Hub, opts: WeblinkEndpointOptions): WeblinkEndpoint {
  const wss = new WebSocketServer({
    noServer: true, maxPayload: hub.limits.maxWeblinkMessage, perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(MAIN_SUBPROTOCOL) ? MAIN_SUBPROTOCOL : false),
  });
  // Link-OS waits for a body after the 101 unless told there is none.
  wss.on('headers', (headers) => headers.push('Content-Length: 0'));
  const refusals = new LoginRefusals(hub.log, () => hub.clock.now());
  const perSerial = new Map<string, number>();

  return {
    sockets: wss.clients,
    upgrade(req, socket, head, address) {
      const login = basicLogin(req.headers.authorization);
      if (login === undefined) {
        // The normal first step of a printer: it answers the challenge with its credentials.
        hub.log('debug', 'weblink upgrade without credentials challenged', { address });
        return challenge(socket);
      }
      const known = getDevice(hub.store, login.user);
      if (checkDeviceLogin(hub.store, login.user, login.password) !== 'ok' || known?.tags.includes(WEBLINK_TAG) !== true) {
        refusals.refused(login.user, address, known === undefined ? 'unknown device' : 'wrong token');
        return challenge(socket);
      }
      const count = perSerial.get(login.user) ?? 0;
      if (count >= hub.limits.maxWeblinkConnections) {
        refusals.refused(login.user, address, 'too many connections');
        return plainRefusal(socket, 503, 'too many Weblink connections for this printer');
      }
      perSerial.set(login.user, count + 1);
      socket.once('close', () => {
        const left = (perSerial.get(login.user) ?? 1) - 1;
        if (left <= 0) perSerial.delete(login.user);
        else perSerial.set(login.user, left);
      });
      wss.handleUpgrade(req, socket, head, (ws) => attach(hub, ws, login.user, address, opts));
    },
  };
}

/** What one connection is, once its first message said so. */
type Role =
  | { kind: 'first' }
  | { kind: 'main'; printer: WeblinkPrinter }
  | { kind: 'channel'; name: ChannelName; printer: WeblinkPrinter }
  | { kind: 'closed' };

function attach(hub: Hub, ws: WebSocket, serial: string, address: string | undefined, opts: WeblinkEndpointOptions): void {
  const peer = new WsPeer(ws, opts.closeGraceMs);
  const link: Link = {
    send: (bytes, sent) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(bytes, { binary: true }, sent);
    },
    close: (code, reason) => peer.close(code, reason),
    terminate: () => peer.terminate(),
    ping: () => peer.ping(),
    bufferedAmount: () => peer.bufferedAmount(),
  };
  const assembler = new Reassembler(hub.limits.maxWeblinkMessage);
  let role: Role = { kind: 'first' };
  const cancelFirst = hub.clock.after(hub.helloTimeoutMs, () => {
    if (role.kind !== 'first') return;
    hub.log('info', 'weblink connection said nothing in time', { printer: serial, address });
    close(CLOSE.HELLO_TIMEOUT.code, 'no discovery or channel message in time');
  });

  /** We close this connection: the printer hears of it now, as when the printer closes it. */
  function close(code: number, reason: string): void {
    peer.close(code, reason);
    ended(code);
  }

  /** Whoever closed it, the role's end runs once. */
  function ended(code: number): void {
    const was = role;
    role = { kind: 'closed' };
    cancelFirst();
    if (was.kind === 'closed') return;
    hub.log('debug', 'weblink socket closed', { printer: serial, code, role: was.kind === 'channel' ? was.name : was.kind });
    if (was.kind === 'main') {
      was.printer.mainClosed();
      hub.weblink.delete(was.printer);
    } else if (was.kind === 'channel') {
      was.printer.channelClosed(was.name, link);
    }
  }

  function first(value: unknown): void {
    cancelFirst();
    const said = classifyFirst(value);
    switch (said.kind) {
      case 'unknown':
        hub.log('warn', 'weblink connection refused: unknown first message', { printer: serial, address, reason: said.message });
        return close(CLOSE.POLICY.code, said.message);
      case 'main': {
        const discovery = parseDiscovery(said.discovery);
        if (!discovery.ok) {
          hub.log('warn', 'weblink main connection refused: bad discovery', { printer: serial, address, reason: discovery.message });
          return close(CLOSE.POLICY.code, discovery.message);
        }
        if (discovery.value.serial !== serial) {
          hub.log('warn', 'weblink main connection refused: the discovery serial is not the login', { login: serial, discovered: discovery.value.serial, address });
          return close(CLOSE.POLICY.code, `discovery names serial ${discovery.value.serial}, the login was ${serial}`);
        }
        const printer = new WeblinkPrinter(hub, serial, discovery.value, link, address, opts.timing ?? DEFAULT_WEBLINK_TIMING);
        const older = hub.weblink.set(printer);
        // An older main that went online steps aside when the newer says hello
        // (the registry); one that had not yet is closed here.
        if (older !== undefined && older.session.phase === 'hello') older.session.close(CLOSE.REPLACED);
        hub.log('info', 'weblink printer connected', { printer: serial, product: discovery.value.product, fw: discovery.value.firmware, address });
        role = { kind: 'main', printer };
        return;
      }
      case 'channel': {
        const name = said.name === RAW_CHANNEL || said.name === CONFIG_CHANNEL ? said.name : undefined;
        if (name === undefined) {
          hub.log('warn', 'weblink channel refused: unknown channel', { printer: serial, channel: said.name, address });
          return close(CLOSE.POLICY.code, `unknown channel ${said.name}`);
        }
        if (said.uniqueId !== undefined && said.uniqueId !== serial) {
          hub.log('warn', 'weblink channel refused: unique_id is not the login', { login: serial, uniqueId: said.uniqueId, address });
          return close(CLOSE.POLICY.code, 'unique_id does not match the login');
        }
        const printer = hub.weblink.get(serial);
        if (printer === undefined || !printer.online) {
          hub.log('info', 'weblink channel refused: the printer has no main connection', { printer: serial, channel: name });
          return close(CLOSE.POLICY.code, 'no main connection for this printer');
        }
        role = { kind: 'channel', name, printer };
        printer.channelOpened(name, link);
        return;
      }
    }
  }

  function json(text: string): unknown {
    const got = assembler.push(text);
    switch (got.kind) {
      case 'more':
        return undefined;
      case 'json':
        return got.value;
      case 'too-large':
        hub.log('warn', 'weblink message too large', { printer: serial, bytes: got.bytes, limit: hub.limits.maxWeblinkMessage });
        close(CLOSE.TOO_BIG.code, `a message of more than ${hub.limits.maxWeblinkMessage} bytes`);
        return undefined;
      case 'bad':
        hub.log('warn', 'weblink message is not JSON', { printer: serial, reason: got.message });
        if (role.kind === 'first') close(CLOSE.POLICY.code, got.message);
        return undefined;
    }
  }

  function message(bytes: Buffer): void {
    switch (role.kind) {
      case 'closed':
        return;
      case 'first': {
        const value = json(bytes.toString('utf8'));
        if (value !== undefined) first(value);
        return;
      }
      case 'main': {
        const value = json(bytes.toString('utf8'));
        if (value !== undefined) role.printer.mainMessage(value);
        return;
      }
      case 'channel': {
        if (role.name === RAW_CHANNEL) return role.printer.channelData(role.name, link, bytes, undefined);
        const value = json(bytes.toString('utf8'));
        if (value !== undefined && role.kind === 'channel') role.printer.channelData(role.name, link, bytes, value);
        return;
      }
    }
  }

  // Our own failure on one connection closes that connection only.
  const guarded = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      hub.log('error', `weblink ${what} failed`, { printer: serial, error: e instanceof Error ? e.stack : String(e) });
      // Closing runs the role's end, which may fail too; it marks the role closed first, so this ends.
      if (role.kind === 'closed') peer.close(CLOSE.INTERNAL.code, CLOSE.INTERNAL.text);
      else guarded(`${what} cleanup`, () => close(CLOSE.INTERNAL.code, CLOSE.INTERNAL.text));
    }
  };

  ws.on('message', (data) => guarded('message', () => message(toBuffer(data))));
  ws.on('pong', () =>
    guarded('pong', () => {
      if (role.kind === 'main') role.printer.session.life();
      else if (role.kind === 'channel') role.printer.channelLife(link);
    }),
  );
  ws.on('close', (code) => guarded('close', () => ended(code)));
  ws.on('error', (err) => hub.log('info', 'weblink socket error', { printer: serial, error: err.message }));
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** The Basic credentials of a request, if it has well-formed ones. */
export function basicLogin(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]{1,512})\s*$/i.exec(header ?? '');
  if (m === null) return undefined;
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function challenge(socket: Duplex): void {
  plainRefusal(socket, 401, 'credentials required', `WWW-Authenticate: Basic realm="${REALM}", charset="UTF-8"\r\n`);
}

function plainRefusal(socket: Duplex, status: number, message: string, extra = ''): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify({ ok: false, error: { code: status === 401 ? 'UNAUTHORIZED' : undefined, message } });
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${extra}Connection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

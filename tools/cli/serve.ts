// `printbridge serve`: run the server until SIGINT/SIGTERM, after telling the
// operator where devices and clients connect and which admin token to use.
// With TLS, SIGHUP reloads the certificate and key.

import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import type { MqttOptions } from '../../server/mqtt/link.js';
import { TrustedProxies } from '../../server/transports/peer-address.js';
import { EXIT_OK, integer, parse, untilSignal, UsageError, type Command } from './command.js';
import { STORE_OPTIONS, storeUrl } from './store-option.js';
import { scopeList } from './tokens.js';

const HELP = `Usage: printbridge serve [--host H] [--port N] [--data DIR] [--store URL] [--json] [--compat-port N ...]
                        [--tls-cert FILE --tls-key FILE] [--weblink-path P]
                        [--trust-proxy ADDR ...]
                        [--mqtt URL [--mqtt-username U] [--mqtt-ca FILE]
                         [--mqtt-prefix P] [--mqtt-discovery-prefix P|none]
                         [--mqtt-scopes LIST] [--mqtt-require-key]]

Runs the printbridge server: devices (bridges) connect to ws://HOST:PORT/v1/device,
clients (web apps, back-ends, 'printbridge print') to ws://HOST:PORT/v1/client
(https and wss:// with --tls-cert; docs/deploy.md also shows nginx in front).
Zebra Link-OS printers dial in over Weblink at wss://HOST:PORT/weblink
(docs/weblink.md).
Stops cleanly on Ctrl-C or SIGTERM.

Options:
  --host H     address to listen on (env PRINTBRIDGE_HOST, default 0.0.0.0 = all)
  --port N     TCP port, 0 picks a free one (env PRINTBRIDGE_PORT, default 8080)
  --data DIR   where the database and the admin token live
               (env PRINTBRIDGE_DATA, default ./data)
  --store URL  keep the rows in this PostgreSQL database instead, shared by
               every server node given the same URL: postgres://USER:PASSWORD@
               HOST:PORT/DB (env PRINTBRIDGE_STORE; docs/cluster.md)
  --node NAME  this node's name among those sharing --store, in logs and in
               the store, and in MQTT topics (env PRINTBRIDGE_NODE, default the
               host name)
  --json       print the listening details as one JSON line instead of text
  --tls-cert FILE    serve https and wss with this PEM certificate (with its
                     chain) (env PRINTBRIDGE_TLS_CERT); kill -HUP reloads it
  --tls-key FILE     its private key, PEM (env PRINTBRIDGE_TLS_KEY)
  --weblink-path P   where Link-OS printers dial in over Weblink (default /weblink)
  --trust-proxy ADDR behind nginx or haproxy: a connection from ADDR (an IP or
                     CIDR, e.g. 127.0.0.1, 10.0.0.0/8, ::1; repeatable) is known
                     by the address its X-Forwarded-For names (env
                     PRINTBRIDGE_TRUST_PROXY, a comma or space separated list;
                     default none). Trust only your own proxies (docs/deploy.md)
  --compat-port N    also serve the PrinterWebSocket.js-style API at ws://HOST:N/
                     (its usual port is 8765; see docs/compat.md)
  --compat-host H    its address (default 127.0.0.1: this machine only)
  --compat-token T   require ?token=T on it (off 127.0.0.1 the admin token is
                     required unless this is given)
  --compat-origin O  web pages from origin O may connect (repeatable; 'null' for
                     file:// pages, '*' for any); by default a browser is refused
                     and only programs that send no Origin are let in
  --mqtt URL         also publish devices, printers and jobs on this MQTT
                     broker and take commands from it: mqtt://HOST:1883,
                     mqtts://HOST:8883, ws:// or wss:// (env PRINTBRIDGE_MQTT;
                     docs/mqtt.md). The server serves whatever the broker does
                     and reconnects with backoff
  --mqtt-username U  the broker user (env PRINTBRIDGE_MQTT_USERNAME)
  --mqtt-password P  its password; env PRINTBRIDGE_MQTT_PASSWORD keeps it out of ps
  --mqtt-ca FILE     the CA (PEM) of an mqtts:// or wss:// broker's certificate
  --mqtt-prefix P    the topics' first levels (default printbridge)
  --mqtt-discovery-prefix P
                     Home Assistant's discovery prefix (default homeassistant;
                     none: no discovery messages)
  --mqtt-scopes LIST what commands over MQTT may do, as a token's scopes,
                     comma-separated (default print,control; pause, resume
                     and cancel need jobs:any)
  --mqtt-require-key refuse a print over MQTT that carries no idempotency key
                     (MISSING_FIELD) instead of printing it at least once
  -h, --help   show this help

The admin token authenticates clients. Set PRINTBRIDGE_ADMIN_TOKEN to choose it;
otherwise the first start generates one, shows it that once and keeps it in
DIR/admin-token (readable by this user only, as is the database).`;

const ANY_HOST = new Set(['0.0.0.0', '::', '']);

/** Where a person on this machine (first) or the LAN can reach a server bound to `host`. */
export function reachableHosts(host: string): string[] {
  if (!ANY_HOST.has(host)) return [host];
  const lan: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) lan.push(a.address);
  }
  return ['127.0.0.1', ...lan];
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Both files or neither. */
function tlsFiles(cert: string | undefined, key: string | undefined): { cert: string; key: string } | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError('--tls-cert and --tls-key go together: give both or neither');
  return { cert: resolve(cert), key: resolve(key) };
}

/** --trust-proxy, else the environment's list; checked here so that a bad entry is a usage error naming it. */
function trustedProxyList(given: string[] | undefined, fromEnv: string | undefined): string[] {
  const list = given ?? (fromEnv ?? '').split(/[\s,]+/).filter((e) => e !== '');
  const what = given !== undefined ? '--trust-proxy' : 'PRINTBRIDGE_TRUST_PROXY';
  try {
    new TrustedProxies(list);
  } catch (e) {
    throw new UsageError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return list;
}

type MqttValues = Partial<Record<'mqtt-username' | 'mqtt-password' | 'mqtt-ca' | 'mqtt-prefix' | 'mqtt-discovery-prefix' | 'mqtt-scopes', string>> & {
  'mqtt-require-key'?: boolean | undefined;
};

/** The MQTT options, checked (and the CA read) before anything starts; undefined without a URL. */
async function mqttOptions(values: MqttValues, url: string | undefined): Promise<MqttOptions | undefined> {
  const env = process.env;
  if (url === undefined) {
    const stray = (['mqtt-username', 'mqtt-password', 'mqtt-ca', 'mqtt-prefix', 'mqtt-discovery-prefix', 'mqtt-scopes', 'mqtt-require-key'] as const).find((k) => values[k] !== undefined);
    if (stray !== undefined) throw new UsageError(`--${stray} goes with --mqtt URL (or PRINTBRIDGE_MQTT)`);
    return undefined;
  }
  const discovery = values['mqtt-discovery-prefix'];
  const opts: MqttOptions = {
    url,
    username: values['mqtt-username'] ?? (env['PRINTBRIDGE_MQTT_USERNAME'] || undefined),
    password: values['mqtt-password'] ?? (env['PRINTBRIDGE_MQTT_PASSWORD'] || undefined),
    ca: values['mqtt-ca'] === undefined ? undefined : resolve(values['mqtt-ca']),
    prefix: values['mqtt-prefix'],
    discoveryPrefix: discovery === 'none' ? false : discovery,
    scopes: scopeList(values['mqtt-scopes']?.split(',').map((x) => x.trim()).filter((x) => x !== ''), '--mqtt-scopes'),
    requireKey: values['mqtt-require-key'],
  };
  // Loaded only with --mqtt, as the server is.
  const { resolveMqtt } = await import('../../server/mqtt/link.js');
  try {
    resolveMqtt(opts);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  return opts;
}

export const serve: Command = {
  name: 'serve',
  summary: 'run the server that devices and clients connect to',
  help: HELP,
  async run(args) {
    const { values } = parse(args, {
      host: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      ...STORE_OPTIONS,
      node: { type: 'string' },
      json: { type: 'boolean' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'weblink-path': { type: 'string' },
      'trust-proxy': { type: 'string', multiple: true },
      'compat-port': { type: 'string' },
      'compat-host': { type: 'string' },
      'compat-token': { type: 'string' },
      'compat-origin': { type: 'string', multiple: true },
      mqtt: { type: 'string' },
      'mqtt-username': { type: 'string' },
      'mqtt-password': { type: 'string' },
      'mqtt-ca': { type: 'string' },
      'mqtt-prefix': { type: 'string' },
      'mqtt-discovery-prefix': { type: 'string' },
      'mqtt-scopes': { type: 'string' },
      'mqtt-require-key': { type: 'boolean' },
    });
    const env = process.env;
    const host = values.host ?? env['PRINTBRIDGE_HOST'] ?? '0.0.0.0';
    const port = integer(values.port ?? env['PRINTBRIDGE_PORT'], '--port', 0, 65535) ?? 8080;
    const dataDir = resolve(values.data ?? env['PRINTBRIDGE_DATA'] ?? './data');
    const store = storeUrl(values);
    const node = values.node ?? (env['PRINTBRIDGE_NODE'] || undefined);
    const mqttUrl = values.mqtt ?? (env['PRINTBRIDGE_MQTT'] || undefined);
    if (node !== undefined && store === undefined && mqttUrl === undefined) throw new UsageError('--node names a node among several sharing --store (or on the MQTT broker); give --store or --mqtt too');
    if (node !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(node)) throw new UsageError(`--node must be 1-64 letters, digits, dot, dash or underscore: ${JSON.stringify(node)}`);
    const envToken = env['PRINTBRIDGE_ADMIN_TOKEN'] || undefined;
    const tls = tlsFiles(values['tls-cert'] ?? (env['PRINTBRIDGE_TLS_CERT'] || undefined), values['tls-key'] ?? (env['PRINTBRIDGE_TLS_KEY'] || undefined));
    const weblinkPath = values['weblink-path'];
    if (weblinkPath !== undefined && !/^\/[A-Za-z0-9._~\/-]*$/.test(weblinkPath)) throw new UsageError('--weblink-path must be a URL path starting with /');
    const trustProxy = trustedProxyList(values['trust-proxy'], env['PRINTBRIDGE_TRUST_PROXY']);
    const compatPort = integer(values['compat-port'], '--compat-port', 0, 65535);
    const compat = compatPort === undefined ? undefined
      : { port: compatPort, host: values['compat-host'], token: values['compat-token'], origins: values['compat-origin'] };

    const mqtt = await mqttOptions(values, mqttUrl);

    // Loaded here so that other commands do not pay for (or depend on) the server.
    const { startServer } = await import('../../server/server.js');
    const { adminTokenPath } = await import('../../server/admin-token.js');
    // Listen for signals before anything announces the server: whoever reads
    // "listening" may stop us at once.
    const stopped = untilSignal();
    const server = await startServer({ host, port, dataDir, ...(store !== undefined && { storeUrl: store }), ...(node !== undefined && { node }), adminToken: envToken, compat, ...(tls && { tls }), ...(weblinkPath !== undefined && { weblinkPath }), trustProxy, ...(mqtt !== undefined && { mqtt }) });
    // Installed only with TLS: otherwise SIGHUP keeps its usual meaning (the terminal went away, stop).
    if (tls) process.on('SIGHUP', () => server.reloadTls());
    const [http, ws] = tls ? ['https', 'wss'] : ['http', 'ws'];
    const shown = reachableHosts(server.host).map((h) => `${hostForUrl(h)}:${server.port}`);
    const main = shown[0]!;
    // The token is shown only when this start generated it: whoever set it
    // knows it, and a log or a terminal is read by others.
    const shownToken = server.adminTokenGenerated ? server.adminToken : undefined;
    const tokenSource = server.adminTokenGenerated
      ? `generated now and kept in ${adminTokenPath(server.dataDir)}; shown only this once`
      : envToken !== undefined
        ? 'from PRINTBRIDGE_ADMIN_TOKEN'
        : `kept in ${adminTokenPath(server.dataDir)}`;

    if (values.json) {
      process.stdout.write(`${JSON.stringify({
        event: 'listening', host: server.host, port: server.port, url: `${http}://${main}`,
        device: `${ws}://${main}/v1/device`, client: `${ws}://${main}/v1/client`, weblink: `${ws}://${main}${weblinkPath ?? '/weblink'}`, dashboard: `${http}://${main}/`, also: shown.slice(1).map((h) => `${http}://${h}`),
        ...(shownToken !== undefined && { adminToken: shownToken }), adminTokenGenerated: server.adminTokenGenerated, dataDir: server.dataDir,
        ...(server.node !== undefined && { store: server.store, node: server.node }),
        ...(server.compat && { compat: server.compat.url, compatPort: server.compat.port }),
        ...(server.mqtt && { mqtt: server.mqtt.shownUrl, mqttNode: server.mqtt.node }),
      })}\n`);
    } else {
      process.stdout.write([
        `printbridge server listening on ${hostForUrl(server.host)}:${server.port}`,
        `  ${`${http}:`.padEnd(9)}${http}://${main}`,
        `  devices: ${ws}://${main}/v1/device`,
        `  clients: ${ws}://${main}/v1/client`,
        ...(server.compat ? [`  compat:  ${server.compat.url} (PrinterWebSocket.js API${server.compat.tokenRequired ? ', ?token= required' : ''})`] : []),
        ...(server.mqtt ? [`  mqtt:    ${server.mqtt.shownUrl} (topics ${server.mqtt.topics.prefix}/…, node ${server.mqtt.node})`] : []),
        ...shown.slice(1).map((h) => `  also:    ${http}://${h}`),
        `  data:    ${server.dataDir}`,
        ...(server.node !== undefined ? [`  store:   ${server.store}`, `  node:    ${server.node}`] : []),
        ...(shownToken !== undefined
          ? [
            `  admin token: ${shownToken}`,
            `    (${tokenSource})`,
            // The token rides in the fragment, which browsers never send to a server.
            `  dashboard: ${http}://${main}/#token=${encodeURIComponent(shownToken)}`,
          ]
          : [
            `  admin token: not shown (${tokenSource})`,
            `  dashboard: ${http}://${main}/#token=<admin token>`,
          ]),
        '',
      ].join('\n'));
    }

    const signal = await stopped;
    process.stderr.write(`${signal}: closing the server\n`);
    await server.close();
    return EXIT_OK;
  },
};

// The dashboard served at /: a page a shop owner keeps open. It connects
// through the browser SDK (same origin, admin token from the URL fragment or
// the token dialog, kept for the session unless remembered: token.ts),
// subscribes, and redraws from the SDK's LiveState at most once per
// animation frame. Sections: printers, devices, jobs, printing a file, a
// control form, the connected clients, an activity log. See app.ts for what
// they share.

import { connect, LiveState, type PrintbridgeClient } from '../sdk/index.js';
import { activityLog, followEvents } from './activity.js';
import type { App } from './app.js';
import { broadcastSection } from './broadcast.js';
import { clientsSection } from './clients.js';
import { devicesSection } from './devices.js';
import { byId, h, setAttr, setText } from './dom.js';
import { grouped, NEEDS_ATTENTION, type Tone } from './format.js';
import { jobsSection } from './jobs.js';
import { printersSection } from './printers.js';
import { JobRates } from './rates.js';
import { TempHistory } from './temps.js';
import { forgetToken, remembered, saveToken, savedToken, tokenFromFragment } from './token.js';
import { uploadSection } from './upload.js';

const TOAST_MS = 6000;
/** How often the client list is asked for again: events tell who comes and goes, not who subscribed since. */
const CLIENTS_EVERY_MS = 30_000;
/** How often the page is drawn without an event while time matters to it (temperature charts, a job's time left). */
const CLOCK_EVERY_MS = 2000;

function toaster(): (text: string, tone?: Tone) => void {
  const region = byId('toasts');
  return (text, tone = 'neutral') => {
    const el = h('div', { class: 'toast', text, attrs: { 'data-tone': tone } });
    region.append(el);
    while (region.childElementCount > 4) region.firstElementChild?.remove();
    setTimeout(() => el.remove(), TOAST_MS);
  };
}

function askForToken(message = ''): void {
  const dialog = byId<HTMLDialogElement>('token-dialog');
  setText(byId('token-error'), message);
  byId('token-error').hidden = message === '';
  byId<HTMLInputElement>('token-remember').checked = remembered();
  if (!dialog.open) dialog.showModal();
  byId<HTMLInputElement>('token-input').focus();
}

function setupTokenDialog(): void {
  byId<HTMLFormElement>('token-form').addEventListener('submit', (e) => {
    const token = byId<HTMLInputElement>('token-input').value.trim();
    if (token === '') {
      e.preventDefault();
      return;
    }
    saveToken(token, byId<HTMLInputElement>('token-remember').checked);
    location.reload();
  });
  byId('change-token').addEventListener('click', () => askForToken());
  byId('forget-token').addEventListener('click', () => {
    forgetToken();
    // Reloaded without a token, the page asks for one and holds no connection.
    location.reload();
  });
}

async function serverReachable(): Promise<boolean> {
  try {
    return (await fetch('/healthz', { cache: 'no-store' })).ok;
  } catch {
    return false;
  }
}

function start(token: string): PrintbridgeClient {
  const client = connect({ token, subscribe: true, coalesce: true });
  const live = new LiveState(client);
  const activity = activityLog();
  const app: App = {
    client, live, log: activity.log, toast: toaster(), rates: new JobRates(client), temps: new TempHistory(client),
    printFile: (printer, file) => upload.print(printer, file),
    showJob: (id) => jobs.show(id),
  };
  const conn = byId('conn');
  const connText = byId('conn-text');
  const summary = byId('summary');

  const renderSummary = (): void => {
    let online = 0;
    for (const d of live.devices.values()) if (d.online) online++;
    let trouble = 0;
    for (const p of live.printers.values()) if (NEEDS_ATTENTION.includes(p.status)) trouble++;
    const printers = live.printers.size;
    const clients = live.clients.size;
    setText(
      summary,
      [
        `${grouped(online)}/${grouped(live.devices.size)} devices online`,
        `${grouped(printers)} printer${printers === 1 ? '' : 's'}`,
        clients > 0 ? `${clients} client${clients === 1 ? '' : 's'} connected` : '',
      ].filter(Boolean).join(' · '),
    );
    document.title = trouble ? `(${trouble}) printer needs attention — printbridge` : 'printbridge';
  };
  // However many events arrive (a reconnect storm brings four per device),
  // the page is drawn at most once per frame, from the state they left.
  let scheduled = false;
  /** What the next frame draws: everything, or (for the clock alone) what moves with time. */
  let everything = false;
  const schedule = (all: boolean): void => {
    everything ||= all;
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(render);
  };
  const redraw = (): void => schedule(true);
  const jobs = jobsSection(app, redraw);
  const upload = uploadSection(app);
  const printers = printersSection(app, redraw);
  const renders = [printers, devicesSection(app, redraw), jobs.render, upload.render, clientsSection(app)];
  // Time moves charts, rates and times left: the printers and the jobs, not the other lists.
  const timed = [printers, jobs.render];
  broadcastSection(app);
  function render(): void {
    scheduled = false;
    const all = everything;
    everything = false;
    for (const r of all ? renders : timed) r();
    if (all) renderSummary();
  }
  live.on('change', redraw);
  followEvents(app);
  setInterval(() => {
    if ((app.temps.any || app.rates.moving) && document.visibilityState === 'visible') schedule(false);
  }, CLOCK_EVERY_MS);

  setInterval(() => {
    if (client.state === 'open') client.clients().then((list) => live.setClients(list), () => undefined);
  }, CLIENTS_EVERY_MS);

  let everOpen = false;
  /** Logged the current outage already (each failed attempt closes again). */
  let down = false;
  let countdown: ReturnType<typeof setInterval> | undefined;
  const connRetry = byId('conn-retry');
  const stopCountdown = (): void => {
    if (countdown) clearInterval(countdown);
    countdown = undefined;
    setText(connRetry, '');
  };
  client.on('state', (state) => {
    setAttr(conn, 'data-state', state);
    if (state === 'connecting') {
      stopCountdown();
      setText(connText, everOpen ? 'Reconnecting…' : 'Connecting…');
    }
    if (state === 'closed') setText(connText, 'Disconnected');
    document.body.dataset['conn'] = state;
  });
  client.on('open', (info) => {
    everOpen = true;
    down = false;
    stopCountdown();
    setText(connText, `Connected · ${info.server} ${info.version}`);
    app.log(info.reconnected ? 'Reconnected; everything shown is fresh' : `Connected to ${info.server} ${info.version}`, 'ok');
    byId<HTMLDialogElement>('token-dialog').close();
    // The snapshot holds the unfinished jobs and the latest finished ones; fetch more history beside it.
    client.jobs({ limit: 200 }).then((jobs) => live.merge(jobs), () => undefined);
  });
  client.on('close', (e) => {
    stopCountdown();
    if (e.retryIn === undefined) return;
    // The state is announced once (role=status); the ticking seconds are for the eye only.
    setText(connText, 'Connection lost');
    let left = Math.ceil(e.retryIn / 1000);
    const tick = (): void => setText(connRetry, left > 0 ? ` · retrying in ${left} s` : ' · retrying…');
    tick();
    countdown = setInterval(() => {
      left--;
      tick();
      if (left <= 0 && countdown) clearInterval(countdown);
    }, 1000);
    if (everOpen) {
      if (!down) app.log(`Connection lost (${e.code}); retrying`, 'warn');
      down = true;
    } else {
      // Never connected: if the server answers HTTP, the token is what it refuses.
      void serverReachable().then((ok) => {
        if (ok && !everOpen) askForToken('The server did not accept this token. Paste the admin token again.');
      });
    }
  });
  client.on('error', (e) => app.log(`Stopped: ${e.message}`, 'bad'));
  render();
  return client;
}

function main(): void {
  setupTokenDialog();
  const fromFragment = tokenFromFragment();
  // A token remembered before is replaced by the new one; otherwise it is this tab's only.
  if (fromFragment) saveToken(fromFragment, remembered());
  const token = fromFragment ?? savedToken();
  if (!token) {
    setAttr(byId('conn'), 'data-state', 'closed');
    setText(byId('conn-text'), 'Not connected');
    askForToken();
    return;
  }
  const client = start(token);
  // For people poking around in the console.
  (window as unknown as { printbridgeClient: PrintbridgeClient }).printbridgeClient = client;
}

main();

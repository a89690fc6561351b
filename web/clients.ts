// Connected clients: who uses the server right now (this page included),
// from the subscribe snapshot and the client.connected / client.disconnected
// events. The events do not say when a client subscribes, so the dashboard
// also asks for clients.list now and then (dashboard.ts).

import type { ClientView } from '../sdk/index.js';
import type { App } from './app.js';
import { byId, h, KeyedList, setAttr, setText, type Row } from './dom.js';
import { agentName, time } from './format.js';

const TOKEN_TITLE: Record<ClientView['token'], string> = {
  admin: 'uses the admin token',
  client: 'uses a client token (tokens issue)',
  listener: 'let in by the compat listener (loopback or its compat token)',
};

export function clientsSection(app: App): () => void {
  const list = new KeyedList<ClientView>(byId('client-list'), (c) => c.id, () => clientRow());
  return () => {
    const clients = app.live.clientList();
    list.sync(clients);
    setText(byId('clients-count'), clients.length ? `${clients.length} connected` : '');
    byId('clients-empty').hidden = clients.length > 0;
  };
}

function clientRow(): Row<ClientView> {
  const name = h('span', { class: 'client-name' });
  const token = h('span', { class: 'badge' });
  const sub = h('p', { class: 'client-sub' });
  const el = h('li', { class: 'client' }, h('div', { class: 'client-head' }, name, token), sub);
  return {
    el,
    update(c) {
      const agent = agentName(c.userAgent);
      setText(name, agent ?? 'No User-Agent');
      name.classList.toggle('muted', agent === undefined);
      setAttr(name, 'title', c.userAgent);
      setText(token, c.token === 'client' ? `token ${c.tokenId ?? ''}`.trim() : c.token);
      setAttr(token, 'data-tone', c.token === 'admin' ? 'busy' : undefined);
      setAttr(token, 'title', TOKEN_TITLE[c.token] + (c.scopes === undefined ? '' : `; scopes: ${c.scopes.join(', ')}`));
      const endpoint = c.transport === 'ws' ? 'client API' : c.transport;
      setText(sub, [c.address ?? 'address unknown', endpoint, c.subscribed ? 'events' : '', `since ${time(c.since)}`].filter(Boolean).join(' · '));
      setAttr(el, 'aria-label', `Client ${agent ?? 'without User-Agent'} from ${c.address ?? 'an unknown address'}`);
      setAttr(el, 'title', `client ${c.id}`);
    },
  };
}

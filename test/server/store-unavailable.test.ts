// A node whose PostgreSQL goes away keeps serving: what needs the database
// is answered STORE_UNAVAILABLE (503 over REST) instead of hanging or
// INTERNAL, /healthz and connected clients stay up, and when the database
// is back (a new server process on the same folder) the node works again
// by itself.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openStore } from '../../server/store/db.js';
import { addDevice, recordHello } from '../../server/store/devices.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { rest, TestClient } from './peers.js';

const ADMIN = 'test-admin-token';
let pg: Postgres | undefined;
let t: TestServer | undefined;
after(async () => {
  await t?.close();
  await pg?.stop();
});

describe('the database out of reach', () => {
  it('answers STORE_UNAVAILABLE while PostgreSQL is down, keeps its clients, and works again once it is back', async () => {
    pg = await startPostgres();
    const url = await pg.createDatabase();
    const setup = openStore(tempDir(), url);
    addDevice(setup, 'dark-1', []);
    recordHello(setup, 'dark-1', { fw: 'fake-1.0', ports: [{ port: 0, dialect: 'escpos' }] }, Date.now());
    setup.close();
    t = await startTestServer({ storeUrl: url });
    const client = await TestClient.connect(t, ADMIN);
    const job = { printer: 'dark-1/0', text: 'hello\n' };
    assert.equal((await client.request('job.submit', job))['ok'], true);

    await pg.kill();
    const refused = await client.request('job.submit', job);
    assert.equal((refused['error'] as { code: string }).code, 'STORE_UNAVAILABLE', JSON.stringify(refused));
    const viaRest = await rest(t, ADMIN, 'POST', '/jobs', job);
    assert.equal(viaRest.status, 503);
    assert.equal((viaRest.body['error'] as { code: string }).code, 'STORE_UNAVAILABLE');
    assert.equal((await fetch(`${t.server.url}/healthz`)).status, 200);

    await pg.restart();
    assert.equal((await client.request('job.submit', job))['ok'], true, 'the node reconnects by itself');
    client.close();
  });
});

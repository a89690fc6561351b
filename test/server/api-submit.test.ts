// job.submit since 1.2 over a real /v1/client socket: text and lines with a
// chosen line ending and encoding (cp437 for receipts), resume passed to the
// device in job.start, and the refusals, each with its code. The bytes are
// checked where they matter: in the data frames the device receives.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice } from './peers.js';

type Job = { id: string; state: string; size: number; resume?: boolean };

describe('api: job.submit with text, lines, eol, encoding and resume', () => {
  let t: TestServer;
  let dev: FakeDevice;
  let client: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxJobBytes: 4096 } });
    dev = await FakeDevice.connect(t, 'sub-1', registerDevice(t, 'sub-1'), { ports: [{ port: 0, dialect: 'escpos' }] });
    client = await TestClient.connect(t);
  });
  after(() => t.close());

  /** Submits, lets the device take the whole job and finish it; returns the bytes it got and its job.start. */
  async function print(fields: Record<string, unknown>): Promise<{ bytes: number[]; start: Record<string, unknown>; job: Job }> {
    const job = await client.call<Job>('job.submit', { printer: 'sub-1/0', ...fields });
    const start = await dev.jobStart();
    assert.equal(start['id'], job.id);
    dev.sendJson({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
    const bytes: number[] = [];
    while (bytes.length < job.size) bytes.push(...(await dev.frame()).payload);
    dev.sendJson({ t: 'job.done', id: job.id });
    await client.event('job.updated', (e) => (e['job'] as Job).id === job.id && (e['job'] as Job).state === 'done');
    return { bytes, start, job };
  }

  it('lines end with lf by default, the last one included, in utf8', async () => {
    const { bytes, start, job } = await print({ lines: ['Café', 'x'] });
    assert.deepEqual(bytes, [...Buffer.from('Café\nx\n', 'utf8')]);
    assert.equal(start['resume'], undefined, 'no resume unless asked');
    assert.equal(job.resume, undefined);
  });

  it('lines with crlf in cp437: accented letters, currency and box drawing take their code page bytes', async () => {
    const { bytes } = await print({ lines: ['é£─', 'ü½°'], eol: 'crlf', encoding: 'cp437' });
    assert.deepEqual(bytes, [0x82, 0x9c, 0xc4, 0x0d, 0x0a, 0x81, 0xab, 0xf8, 0x0d, 0x0a]);
  });

  it('text keeps its own line breaks unless eol is given, then every break becomes that one', async () => {
    assert.deepEqual((await print({ text: 'a\r\nb\nc' })).bytes, [...Buffer.from('a\r\nb\nc')]);
    assert.deepEqual((await print({ text: 'a\r\nb\nc\rd', eol: 'cr' })).bytes, [...Buffer.from('a\rb\rc\rd')]);
    assert.deepEqual((await print({ lines: ['a', 'b'], eol: 'none' })).bytes, [...Buffer.from('ab')]);
  });

  it('latin1 and ascii take one byte per character', async () => {
    assert.deepEqual((await print({ text: 'é\u00ff', encoding: 'latin1' })).bytes, [0xe9, 0xff]);
    assert.deepEqual((await print({ text: 'ok~', encoding: 'ascii' })).bytes, [...Buffer.from('ok~')]);
  });

  it('resume: true is stored on the job and passed to the device in job.start', async () => {
    const { start, job } = await print({ lines: ['G28', 'G1 X10'], resume: true });
    assert.equal(start['resume'], true);
    assert.equal(job.resume, true);
    assert.equal((await client.call<Job>('job.get', { job: job.id })).resume, true);
  });

  it('refuses a character the encoding lacks with UNENCODABLE, naming it and where it is', async () => {
    const euro = await client.request('job.submit', { printer: 'sub-1/0', text: 'total 5€', encoding: 'cp437' });
    assert.equal(euro['ok'], false);
    assert.equal((euro['error'] as { code: string }).code, 'UNENCODABLE');
    assert.match((euro['error'] as { message: string }).message, /U\+20AC.*character 7.*cp437/);
    const accent = await client.request('job.submit', { printer: 'sub-1/0', lines: ['é'], encoding: 'ascii' });
    assert.equal((accent['error'] as { code: string }).code, 'UNENCODABLE');
    const wide = await client.request('job.submit', { printer: 'sub-1/0', text: '\u0100', encoding: 'latin1' });
    assert.equal((wide['error'] as { code: string }).code, 'UNENCODABLE');
  });

  it('refuses anything but exactly one of data, text and lines, and eol or encoding with base64 data', async () => {
    const code = async (fields: Record<string, unknown>): Promise<string> => {
      const r = await client.request('job.submit', { printer: 'sub-1/0', ...fields });
      assert.equal(r['ok'], false, JSON.stringify(fields));
      return (r['error'] as { code: string }).code;
    };
    assert.equal(await code({}), 'MISSING_FIELD');
    assert.equal(await code({ data: 'aGk=', text: 'hi' }), 'BAD_FIELD');
    assert.equal(await code({ text: 'hi', lines: ['hi'] }), 'BAD_FIELD');
    assert.equal(await code({ data: 'aGk=', eol: 'crlf' }), 'BAD_FIELD');
    assert.equal(await code({ data: 'aGk=', encoding: 'cp437' }), 'BAD_FIELD');
    assert.equal(await code({ lines: 'not an array' }), 'BAD_FIELD');
    assert.equal(await code({ lines: ['ok', 3] }), 'BAD_FIELD');
    assert.equal(await code({ text: 'hi', eol: 'lfcr' }), 'BAD_FIELD');
    assert.equal(await code({ text: 'hi', encoding: 'ebcdic' }), 'BAD_FIELD');
    assert.equal(await code({ text: 'hi', resume: 'yes' }), 'BAD_FIELD');
    assert.equal(await code({ text: '' }), 'BAD_FIELD'); // empty job
    assert.equal(await code({ text: 'x'.repeat(4097) }), 'JOB_TOO_LARGE');
    assert.equal(await code({ lines: ['é'.repeat(2048)] }), 'JOB_TOO_LARGE'); // 2 UTF-8 bytes each, plus lf
  });
});

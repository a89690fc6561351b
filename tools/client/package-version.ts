// The version of the printbridge package these tools belong to, read once
// from package.json: what `printbridge --version` prints and what the tools
// name themselves with (User-Agent, a bridge's firmware string). The
// protocol's version is another thing: the wire's, in protocol/version.ts.
// (The CLI's build keeps import.meta.url pointing at this source's place, so
// the path holds in dist/cli too.)

import { readFileSync } from 'node:fs';

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

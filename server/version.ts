// The version of the printbridge package, read once from package.json: what
// /healthz and the client hello report, what `printbridge --version` prints
// and what the tools name themselves with (the CLI's User-Agent, a Node
// bridge's firmware string). The wire's version is another thing
// (protocol/version.ts). The CLI's build keeps import.meta.url pointing at
// this source's place, so the path holds in dist/cli too.

import { readFileSync } from 'node:fs';

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

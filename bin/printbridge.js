#!/usr/bin/env node
// The package's command. The CLI is TypeScript run through tsx, so register
// its loader before importing the entry point.
import { register } from 'tsx/esm/api';

register();
await import('../tools/cli/main.ts');

// The tests' throwaway PostgreSQL is the one the benches start too: its code
// lives in tools/postgres-cluster.ts (binaries from /usr/lib/postgresql,
// which is how tools/run-tests.mjs knows the tests that import this helper
// need the `postgresql` part of scripts/install-system-deps.sh).

export * from '../../tools/postgres-cluster.js';

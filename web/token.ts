// Where the dashboard keeps the admin token. It arrives in the URL fragment
// (#token=…, which never reaches a server or a log; removed from the address
// bar once read) or from the token dialog, and is kept for this tab's session
// only (sessionStorage: gone when the tab closes) unless the person ticks
// "remember me", which keeps it in localStorage on this browser. Forgetting
// clears both.

const KEY = 'printbridge.token';

export function tokenFromFragment(): string | undefined {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = params.get('token') ?? undefined;
  if (token === undefined) return undefined;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  return token || undefined;
}

/** Storage may be disabled (a privacy setting): then every call here does nothing and the token lasts as long as the page. */
function store(kind: 'session' | 'local'): Storage | undefined {
  try {
    return kind === 'session' ? sessionStorage : localStorage;
  } catch {
    return undefined;
  }
}

function read(kind: 'session' | 'local'): string | undefined {
  try {
    return store(kind)?.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function write(kind: 'session' | 'local', token: string | undefined): void {
  try {
    if (token === undefined) store(kind)?.removeItem(KEY);
    else store(kind)?.setItem(KEY, token);
  } catch {
    // Full or disabled: the token lasts as long as the page.
  }
}

/** This tab's token first, then a remembered one. */
export function savedToken(): string | undefined {
  return read('session') ?? read('local');
}

/** Whether a token is remembered on this browser (localStorage). */
export function remembered(): boolean {
  return read('local') !== undefined;
}

/**
 * Keeps `token` for this tab; with `remember`, also on this browser for
 * later visits. Without it, a token remembered before is removed: the
 * person chose not to keep one.
 */
export function saveToken(token: string, remember: boolean): void {
  write('session', token);
  write('local', remember ? token : undefined);
}

/** Clears the token from this tab and from the browser. */
export function forgetToken(): void {
  write('session', undefined);
  write('local', undefined);
}

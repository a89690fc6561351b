// Calls `fn` once performance.now() has reached `deadline`, never before,
// and never synchronously (a caller may store the returned cancel function
// after this returns). setTimeout alone can fire early by up to a
// millisecond (libuv measures from the loop's cached time), which would make
// a paced line or a G-code `ok` delay faster than asked; the last stretch
// waits with setImmediate.

export interface Cancel {
  (): void;
}

export function atDeadline(deadline: number, fn: () => void): Cancel {
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const schedule = (): void => {
    const left = deadline - performance.now();
    if (left >= 1.5) timer = setTimeout(check, Math.floor(left - 0.5));
    else immediate = setImmediate(check);
  };
  const check = (): void => {
    timer = undefined;
    immediate = undefined;
    if (performance.now() >= deadline) fn();
    else schedule();
  };
  schedule();
  return () => {
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  };
}

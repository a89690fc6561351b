// The firmware's clock for the core: Time.ticks, monotonic milliseconds,
// unlike Date.now(), which jumps when SNTP sets the time. The tick counter
// is 32 bits wide on the ESP32 and wraps after 24.8 or 49.7 days (signed or
// unsigned); the core wants a clock that never goes back, so a large
// backwards step is read as a wrap and carried.

import Time from 'time';

const WRAP = 2 ** 32;
let last: number | undefined;
let carry = 0;

export function now(): number {
  const raw = Time.ticks;
  if (last !== undefined && raw < last - WRAP / 4) carry += WRAP;
  last = raw;
  return raw + carry;
}

// The jobs bench's jobs and printers. The job bytes: the bench submits them and the device
// processes check every frame against them, so both sides derive them from
// the device's index alone and nothing but the wire carries them across.

/** Printable bytes with line feeds, like a receipt, different for every seed. */
export function jobPayload(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 48 === 47 ? 0x0a : 0x20 + ((x >>> 16) % 95);
  }
  return out;
}

export const JOB_BYTES = 64 * 1024;

/** The bench's device ids, `job-00042`: the index is the payload's seed. */
export const benchDeviceId = (i: number): string => `job-${String(i).padStart(5, '0')}`;
export const benchDeviceIndex = (id: string): number => Number(id.slice(id.indexOf('-') + 1));

/**
 * How fast each bench printer takes bytes. A network printer on TCP :9100
 * takes bytes as fast as it prints them once its receive buffer is full: an
 * 80 mm receipt printer printing raster at ~280 mm/s takes 72 bytes a dot
 * line × 8 lines/mm × 280 mm/s ≈ 160 KiB/s; a label printer takes less, and
 * text arrives as fewer bytes per length of paper. 160 KiB/s each is a busy shop.
 */
export const PRINTER_RATE = 160 * 1024;

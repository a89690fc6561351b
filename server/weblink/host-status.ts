// The answer to ~HS on the raw channel: three STX…ETX strings of comma
// separated fields. We read two numbers from it: formats still in the
// receive buffer (string 1, field 5) and labels remaining in the batch
// (string 2, field 9). Both at zero means the printer has nothing left of
// what it was sent, which cross-checks the PQ JOB COMPLETED count.
//
// Other bytes on the raw channel (getvar answers, ^HV output) pass through
// the same buffer and are skipped; the buffer is bounded so that a printer
// that talks without end costs a fixed amount of memory.

/** Tilde commands act as they arrive; no line end, so that nothing of the query lands in the print stream. */
export const HOST_STATUS_QUERY = '~HS';

export interface HostStatus {
  readonly formatsInBuffer: number;
  readonly labelsRemaining: number;
}

const STX = '\x02';
const ETX = '\x03';
const MAX_HELD = 4096;

export class HostStatusReader {
  private text = '';
  /** String 1 of an answer whose string 2 has not arrived yet. */
  private first: string[] | undefined;

  /** Feeds bytes from the raw channel; returns a status each time a whole ~HS answer has arrived. */
  push(bytes: Buffer): HostStatus[] {
    this.text += bytes.toString('latin1');
    if (this.text.length > MAX_HELD) this.text = this.text.slice(-MAX_HELD);
    const out: HostStatus[] = [];
    for (;;) {
      const start = this.text.indexOf(STX);
      if (start < 0) {
        this.text = '';
        return out;
      }
      const end = this.text.indexOf(ETX, start);
      if (end < 0) {
        this.text = this.text.slice(start);
        return out;
      }
      const fields = this.text.slice(start + 1, end).split(',');
      this.text = this.text.slice(end + 1);
      // The strings are told apart by their field count (12, 11, 2), so an
      // answer whose start was lost never pairs string 2 with a wrong string 1.
      if (fields.length === 12) {
        this.first = fields;
        continue;
      }
      if (fields.length !== 11 || this.first === undefined) continue;
      const formats = Number(this.first[4]);
      const labels = Number(fields[8]);
      this.first = undefined;
      if (Number.isInteger(formats) && Number.isInteger(labels)) out.push({ formatsInBuffer: formats, labelsRemaining: labels });
    }
  }
}

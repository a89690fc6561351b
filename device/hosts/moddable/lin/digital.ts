// `embedded:io/digital` for the SDK's Linux host, which has none: outputs
// print every level written (`pin 2 = 1`), so a test can watch the status
// LED blink; inputs read levels set through the control port
// (board-control.ts) and call onReadable on the edges they asked for, as
// the ESP32 driver does. Constants and argument checks follow the SDK's
// modules/io/digital.

// A bare name: this module is mapped to an SDK module name, so a relative import would resolve against that.
import { onControl } from 'lin-board-control';

interface DigitalOptions {
  readonly pin: number;
  readonly mode: number;
  readonly edge?: number;
  readonly onReadable?: () => void;
}

const levels = new Map<number, 0 | 1>();
const inputs = new Set<Digital>();
let listening = false;

export default class Digital {
  static readonly Input = 0;
  static readonly InputPullUp = 1;
  static readonly InputPullDown = 2;
  static readonly InputPullUpDown = 3;
  static readonly Output = 8;
  static readonly OutputOpenDrain = 9;
  static readonly Rising = 1;
  static readonly Falling = 2;

  private readonly pin: number;
  private readonly output: boolean;
  private readonly edge: number;
  private readonly onReadable: (() => void) | undefined;
  private closed = false;

  constructor(options: DigitalOptions) {
    const { pin, mode } = options;
    if (!Number.isInteger(pin) || pin < 0 || pin > 63) throw new RangeError('invalid pin');
    if (![0, 1, 2, 3, 8, 9].includes(mode)) throw new RangeError('invalid mode');
    this.pin = pin;
    this.output = mode >= Digital.Output;
    this.edge = options.edge ?? 0;
    this.onReadable = options.onReadable;
    if (this.output) return;
    if (this.edge !== 0 && this.onReadable === undefined) throw new Error('onReadable required with edge');
    // A pulled input idles at its pull level until the outside world says otherwise.
    if (!levels.has(pin)) levels.set(pin, mode === Digital.InputPullUp ? 1 : 0);
    inputs.add(this);
    if (!listening) {
      listening = true;
      onControl((words) => {
        if (words[0] !== 'pin' || words.length !== 3) return;
        setLevel(Number(words[1]), words[2] === '1' ? 1 : 0);
      });
    }
  }

  read(): 0 | 1 {
    if (this.closed) throw new Error('closed');
    return levels.get(this.pin) ?? 0;
  }

  write(value: number): void {
    if (this.closed) throw new Error('closed');
    if (!this.output) throw new Error('not an output');
    const level: 0 | 1 = Number(value) ? 1 : 0;
    levels.set(this.pin, level);
    trace(`pin ${this.pin} = ${level}\n`);
  }

  close(): void {
    this.closed = true;
    inputs.delete(this);
  }

  /** Called by setLevel for each change of this input's pin. */
  changed(rising: boolean): void {
    if (this.closed || this.onReadable === undefined) return;
    if ((rising && (this.edge & Digital.Rising) !== 0) || (!rising && (this.edge & Digital.Falling) !== 0)) this.onReadable();
  }

  get pinNumber(): number {
    return this.pin;
  }
}

function setLevel(pin: number, level: 0 | 1): void {
  if (!Number.isInteger(pin) || levels.get(pin) === level) return;
  levels.set(pin, level);
  for (const input of inputs) if (input.pinNumber === pin) input.changed(level === 1);
}

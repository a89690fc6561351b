// ECMA-419 serial as the SDK implements it on the boards and hosts we run
// on, declared in our own words: ESP32 takes a UART number and pins, the
// Linux host a tty path (`device`); both take a baud rate, format "buffer",
// and call onWritable with the room they have.

declare module 'embedded:io/serial' {
  export interface SerialOptions {
    readonly port?: number;
    readonly transmit?: number;
    readonly receive?: number;
    readonly device?: string;
    readonly baud: number;
    readonly format?: 'buffer' | 'number';
    readonly onReadable?: (count: number) => void;
    readonly onWritable?: (count: number) => void;
    readonly onError?: () => void;
  }
  export default class Serial {
    constructor(options: SerialOptions);
    read(count?: number): ArrayBuffer | undefined;
    /** Throws when the bytes do not fit (ESP32: the TX FIFO; Linux: a write still pending). */
    /** An ArrayBuffer: the Linux host throws on a view. */
    write(data: ArrayBuffer): void;
    close(): void;
  }
}

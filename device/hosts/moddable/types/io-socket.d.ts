// ECMA-419 stream sockets as the SDK implements them (modules/io/socket and
// examples/io/tcp/tlssocket), declared in our own words: the npm typings
// say write() returns nothing, but the SDK's returns the bytes still
// writable, and it throws ("would block") when a write does not fit.

declare module 'embedded:io/socket/tcp' {
  export interface StreamSocketOptions {
    /** An IP address in dotted form; the SDK's TCP socket does not resolve names. */
    readonly address: string;
    readonly port: number;
    readonly host?: string;
    readonly nodelay?: boolean;
    readonly format?: 'buffer' | 'number';
    readonly onReadable?: (count: number) => void;
    readonly onWritable?: (count: number) => void;
    readonly onError?: () => void;
    readonly [more: string]: unknown;
  }
  export interface StreamSocket {
    /** With format "buffer": up to `count` bytes (all available when omitted). */
    read(count?: number): ArrayBuffer | undefined;
    /** Returns the bytes still writable; throws when `data` does not fit. */
    write(data: ArrayBuffer | Uint8Array): number;
    close(): void;
    format: 'buffer' | 'number';
  }
  export interface StreamSocketClass {
    new (options: StreamSocketOptions): StreamSocket;
  }
  const TCP: StreamSocketClass;
  export default TCP;
}

declare module 'embedded:io/socket/tcp/tls' {
  import type { StreamSocketClass } from 'embedded:io/socket/tcp';
  /** Takes the TCP options plus `TCP: {io: TCP}` (the socket under it) and `secure` (TLS session options). */
  const TLSSocket: StreamSocketClass;
  export default TLSSocket;
}

declare module 'embedded:io/socket/udp' {
  export interface UdpOptions {
    /** Local port to bind. */
    readonly port?: number;
    readonly address?: string;
    readonly onReadable?: (count: number) => void;
  }
  export default class UDP {
    constructor(options: UdpOptions);
    /** One datagram, with the sender in `address` and `port`. */
    read(): (ArrayBuffer & { readonly address?: string; readonly port?: number }) | undefined;
    write(data: ArrayBuffer | Uint8Array, address: string, port: number): void;
    close(): void;
  }
}

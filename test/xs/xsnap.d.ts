// The slice of @agoric/xsnap's API the XS board uses (the package ships JS
// with JSDoc types that this project does not type-check).
declare module '@agoric/xsnap' {
  import type { spawn } from 'node:child_process';

  export interface MeterUsage {
    readonly currentHeapCount: number | null;
    readonly allocate: number | null;
    readonly compute: number | null;
  }

  export interface RunResult<T> {
    readonly reply: T;
    readonly meterUsage: MeterUsage;
  }

  export interface XSnap {
    evaluate(code: string): Promise<RunResult<Uint8Array>>;
    issueCommand(message: Uint8Array): Promise<RunResult<Uint8Array>>;
    close(): Promise<void>;
    terminate(): Promise<void>;
  }

  export function xsnap(options: {
    os: string;
    spawn: typeof spawn;
    fs: unknown;
    name?: string;
    handleCommand?: (request: Uint8Array) => Promise<Uint8Array>;
    stdout?: 'ignore' | 'inherit' | 'pipe';
    stderr?: 'ignore' | 'inherit' | 'pipe';
    meteringLimit?: number;
  }): Promise<XSnap>;
}

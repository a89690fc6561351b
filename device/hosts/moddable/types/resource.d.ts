// The SDK's read-only resource store (certificates are shipped as resources).
// Not in the npm typings under this name.
declare module 'Resource' {
  export default class Resource {
    constructor(path: string);
    static exists(path: string): boolean;
    readonly byteLength: number;
  }
}

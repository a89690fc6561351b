// The ECMA-419 Wi-Fi station interface, the only Wi-Fi API of SDK 8.2.x on
// ESP32 (modules/io/wifi/esp32), declared in our own words after reading it.
// `onChanged` hears "connection" whenever `connection` changes and "address"
// when an address arrives. A connect() while one is under way throws.

declare module 'embedded:network/interface/wifi' {
  export interface WiFiOptions {
    readonly onChanged?: (what: 'connection' | 'address') => void;
  }
  export default class WiFi {
    constructor(options: WiFiOptions);
    /** 200 disconnected, 300 connecting, 400 associated, 500 associated with an address. */
    readonly connection: 200 | 300 | 400 | 500;
    readonly address: string | undefined;
    readonly RSSI: number | undefined;
    readonly SSID: string | undefined;
    connect(options: { readonly SSID: string; readonly password?: string }): void;
    disconnect(): void;
    close(): void;
  }
}

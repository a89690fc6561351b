// The Node bridge host: run the device core against real sockets and ports.
export { runBridge, NODE_BRIDGE_FW, type Bridge, type BridgeOptions, type BridgePrinter, type BridgeSnapshot, type PrinterPortView } from './bridge.js';
export type { PrinterPort, PortOptions, PortLinkState } from './ports/printer-port.js';
export { DEFAULT_HIGH_WATER_MARK } from './ports/printer-port.js';
export { tcpPort } from './ports/tcp-port.js';
export { serialPort } from './ports/serial-port.js';
export { openPrinterPort, parsePrinterUri, type PrinterAddress } from './ports/uri.js';

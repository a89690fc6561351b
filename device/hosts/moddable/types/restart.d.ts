// "restart" is this project's own native module (native/restart.js +
// restart.c): a host function that resets the chip.
declare module 'restart' {
  /** Resets the microcontroller; never returns on the device. */
  export default function restart(): void;
}

// Bench only: `npm run bench -- --only device` builds the Linux-host firmware
// from this folder's manifest, which is manifests/lin plus this module as the
// entry point. No board manifest includes it. It starts the firmware's own
// main, then every `heapProbeInterval` ms collects garbage (the SDK's debug
// module) and traces what XS reports of its heaps, one line:
//
//   heap slots=<bytes> chunks=<bytes> gc=<collections> keys=<n> modules=<n>
//
// Figures come from the `instrumentation` module, which reports them only in
// an instrumented (`mcconfig -i`) build.

import config from "mc/config";
import Debug from "debug";
import Instrumentation from "instrumentation";
import Timer from "timer";
import firmware from "main";

const SLOTS = Instrumentation.map("XS Slot Heap Used");
const CHUNKS = Instrumentation.map("XS Chunk Heap Used");
const COLLECTIONS = Instrumentation.map("XS Garbage Collection Count");
const KEYS = Instrumentation.map("XS Keys Used");
const MODULES = Instrumentation.map("XS Modules Loaded");

export default function probe() {
	firmware();
	const every = Number(config.heapProbeInterval) > 0 ? Number(config.heapProbeInterval) : 500;
	Timer.repeat(() => {
		Debug.gc();
		const read = (index) => Instrumentation.get(index);
		trace(`heap slots=${read(SLOTS)} chunks=${read(CHUNKS)} gc=${read(COLLECTIONS)} keys=${read(KEYS)} modules=${read(MODULES)}\n`);
	}, every);
}

/*
 * Reset the chip from JavaScript, for the `restart` control message and the
 * offline watchdog. On the SDK's Linux host (tests, `npm run firmware:run`)
 * the process ends with status 75 instead, which the runner takes for a
 * reset and answers by starting the firmware again, as a chip reboots.
 */
#include "xsmc.h"
#if ESP32
	#include "esp_system.h"
#else
	#include <stdio.h>
	#include <stdlib.h>
#endif

void xs_printbridge_restart(xsMachine *the)
{
#if ESP32
	esp_restart();
#else
	fflush(stdout);
	exit(75);
#endif
}

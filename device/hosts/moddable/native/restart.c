/*
 * Reset the chip from JavaScript, for the `restart` control message and the
 * offline watchdog. On a build without an ESP-IDF reset call (the desktop
 * simulator) it throws, so a test host cannot be reset by accident.
 */
#include "xsmc.h"
#if ESP32
	#include "esp_system.h"
#endif

void xs_printbridge_restart(xsMachine *the)
{
#if ESP32
	esp_restart();
#else
	xsUnknownError("restart is not supported on this platform");
#endif
}

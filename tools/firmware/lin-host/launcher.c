/*
 * printbridge: headless host for Moddable SDK "lin" builds.
 *
 * `mcconfig -m -p lin` links an application into a shared library, mc.so,
 * which the SDK's GUI simulator normally loads. This program loads the same
 * library without any GUI or debugger:
 *
 *   launcher path/to/mc.so
 *
 * - It fills the host record that mc.so's fxScreenLaunch() expects (the
 *   layout mirrors struct sxScreen in $MODDABLE/build/simulators/modules/
 *   screen.h; keep the two in step when the SDK is upgraded), with a
 *   zero-sized screen and no-op display callbacks.
 * - It runs the GLib default main loop, on which the lin timer, socket,
 *   serial and promise-job sources are scheduled.
 * - trace() is printed by XS with printf() on this process' stdout
 *   (fxReport in xs/sources/xsDebug.c). stdout is made line buffered here so
 *   each completed line reaches a pipe at once.
 * - SIGINT, SIGTERM and SIGHUP stop the loop, the VM is shut down through
 *   mc.so's quit hook and the process exits with status 0.
 * - When the VM aborts (uncaught exception in a callback, out of memory,
 *   stack overflow, ...) mc.so calls the host's abort callback. The launcher
 *   then prints "launcher: XS abort: <reason> (status N)" on stderr and exits
 *   at once with status 100 + N.
 *
 * Other exit statuses: 2 = usage / loading error, 1 = the VM could not be
 * created.
 *
 * Build: gcc -Wall -O2 -o launcher launcher.c \
 *            $(pkg-config --cflags --libs glib-2.0) -ldl
 */

#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>

#define LAUNCHER_ABORT_EXIT_BASE 100

typedef struct LauncherScreen LauncherScreen;

/*
 * Binary-compatible with the SDK's txScreen (8.2.x): same member types in
 * the same order. Only the pointers mc.so calls are given real functions.
 */
struct LauncherScreen {
	void *machine;
	void *view;
	void *archive;
	void (*abort)(LauncherScreen *screen, int status);
	void (*bufferChanged)(LauncherScreen *screen);
	void (*buildFFI)(void *machine, void *api);
	void (*formatChanged)(LauncherScreen *screen);
	void (*idle)(LauncherScreen *screen);
	void (*invoke)(LauncherScreen *screen, char *buffer, int size);
	void (*key)(LauncherScreen *screen, int kind, char *string, int modifiers, double when);
	void (*post)(LauncherScreen *screen, char *buffer, int size);
	void (*quit)(LauncherScreen *screen);
	void (*start)(LauncherScreen *screen, double interval);
	void (*stop)(LauncherScreen *screen);
	void (*touch)(LauncherScreen *screen, int kind, int index, int x, int y, double when);
	void *firstWorker;
	GMutex workersMutex;
	GThread *mainThread;
	int flags;
	long instrumentTime;
	int pixelFormat;
	int rotation;
	int width;
	int height;
	uint16_t *clut;
	uint8_t palette[16 * 4];
	void *frameBuffer;
	uint32_t frameBufferLength;
	unsigned char *rowAddress;
	int rowCount;
	int rowDelta;
	int rowIndex;
	unsigned char buffer[16];	/* pixel storage: the screen is 0 x 0 */
};

typedef void (*LaunchFunction)(LauncherScreen *screen);
typedef char *(*AbortStringFunction)(int status);

static GMainLoop *gLoop = NULL;
static AbortStringFunction gAbortString = NULL;

/* Fallback names, in the order of the XS_*_EXIT codes of XS 8.2.x. */
static const char *const gAbortNames[] = {
	"debugger",
	"not enough memory",
	"JavaScript stack overflow",
	"fatal",
	"dead strip",
	"unhandled exception",
	"not enough keys",
	"too much computation",
	"unhandled rejection",
	"native stack overflow",
};

static const char *abortReason(int status)
{
	if (gAbortString) {
		const char *reason = gAbortString(status);
		if (reason)
			return reason;
	}
	if ((status >= 0) && (status < (int)(sizeof(gAbortNames) / sizeof(gAbortNames[0]))))
		return gAbortNames[status];
	return "unknown";
}

/*
 * Called by mc.so's fxAbort after it has logged "XS abort: ..." on stdout
 * (and after the optional JavaScript abort hook, see MODDEF_XS_ABORTHOOK).
 * The VM may be in any state here, so do not return into it: flush and
 * leave.
 */
static void onAbort(LauncherScreen *screen, int status)
{
	(void)screen;
	fflush(stdout);
	fprintf(stderr, "launcher: XS abort: %s (status %d)\n", abortReason(status), status);
	fflush(stderr);
	_exit(LAUNCHER_ABORT_EXIT_BASE + ((status >= 0 && status < 100) ? status : 99));
}

/* No display: the pixel and format callbacks have nothing to do. */
static void onBufferChanged(LauncherScreen *screen) { (void)screen; }
static void onFormatChanged(LauncherScreen *screen) { (void)screen; }

/*
 * mc.so asks the host to call screen->idle every `interval` ms once the main
 * module has run. Idle only drives Piu's onIdle and, in instrumented builds,
 * a once-per-second "instruments: ..." line on stdout; a headless app needs
 * neither, so the request is ignored.
 */
static void onStart(LauncherScreen *screen, double interval) { (void)screen; (void)interval; }
static void onStop(LauncherScreen *screen) { (void)screen; }

/* screen.postMessage() from JavaScript: nobody is listening. */
static void onPost(LauncherScreen *screen, char *buffer, int size)
{
	(void)screen; (void)buffer; (void)size;
}

static gboolean onSignal(gpointer data)
{
	(void)data;
	if (gLoop)
		g_main_loop_quit(gLoop);
	return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
	const char *path;
	void *library;
	LaunchFunction launch;
	LauncherScreen *screen;

	if ((argc != 2) || !argv[1][0] || (argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s path/to/mc.so\n", argv[0]);
		return 2;
	}
	path = argv[1];

	/* trace() goes through printf(): deliver it line by line. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* A peer closing a TCP socket must surface as a write error in the app,
	   not kill the process (the lin TCP module does not block SIGPIPE). */
	signal(SIGPIPE, SIG_IGN);

	library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!library) {
		fprintf(stderr, "launcher: cannot load %s: %s\n", path, dlerror());
		return 2;
	}
	launch = (LaunchFunction)dlsym(library, "fxScreenLaunch");
	if (!launch) {
		fprintf(stderr, "launcher: %s has no fxScreenLaunch (not a lin mc.so?)\n", path);
		return 2;
	}
	gAbortString = (AbortStringFunction)dlsym(library, "fxAbortString");

	gLoop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGINT, onSignal, NULL);
	g_unix_signal_add(SIGTERM, onSignal, NULL);
	g_unix_signal_add(SIGHUP, onSignal, NULL);

	screen = g_malloc0(sizeof(LauncherScreen));
	g_mutex_init(&screen->workersMutex);
	screen->abort = onAbort;
	screen->bufferChanged = onBufferChanged;
	screen->formatChanged = onFormatChanged;
	screen->start = onStart;
	screen->stop = onStop;
	screen->post = onPost;
	screen->width = 0;
	screen->height = 0;

	/* Creates the VM, runs setup/ modules and the main module. */
	launch(screen);
	if (!screen->machine) {
		fprintf(stderr, "launcher: the XS machine could not be created\n");
		return 1;
	}

	g_main_loop_run(gLoop);

	/* Normal stop: let mc.so call onQuit handlers and delete the VM. */
	if (screen->quit)
		screen->quit(screen);
	fflush(stdout);
	g_main_loop_unref(gLoop);
	return 0;
}

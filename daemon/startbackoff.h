#pragma once

#include <QString>

namespace uwpx {

// A growing wait between failed starts. The unit restarts a service that
// could not start (a database that is away, an address not up yet) after a
// fixed RestartSec=, and systemd 252 (Debian 12) has no way to make that
// grow: a database away for an hour would be tried every few seconds, each
// try a burst of log lines. So the daemon backs off itself: it counts the
// failed starts in a row in a file under $RUNTIME_DIRECTORY (systemd keeps
// that across restarts, RuntimeDirectoryPreserve=restart, and removes it
// when the service is stopped) and, after a failure, waits before it exits:
// nothing after the first, then 5 s, doubling up to 2 minutes. A start that
// succeeds clears the count. Outside systemd (no RUNTIME_DIRECTORY) it never
// waits.
class StartBackoff {
public:
    StartBackoff();

    // A start failed: records it and returns how long to wait before exiting (ms).
    int failed();
    // The server started: the next failure is a first one again.
    void succeeded();

private:
    QString m_file; // empty: not under systemd
};

} // namespace uwpx

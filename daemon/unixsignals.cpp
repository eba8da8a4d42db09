#include "unixsignals.h"

#include "logging.h"

#include <csignal>
#include <sys/socket.h>
#include <unistd.h>

namespace uwpx {

namespace {

int g_signalSockets[2] = {-1, -1};
bool g_busErrorToJournal = false;

void onSignal(int number) {
    const char byte = char(number);
    [[maybe_unused]] const ssize_t written = ::write(g_signalSockets[0], &byte, 1);
}

void onBusError(int number) {
    // "<2>": critical, for the journal (see logging.h).
    static const char kLine[] =
        "<2>uwpx-push-server: fatal: SIGBUS: a memory-mapped file lost its storage (usually the "
        "SQLite database's -shm file was truncated or its disk is full); stopping\n";
    const int skip = g_busErrorToJournal ? 0 : 3;
    [[maybe_unused]] const ssize_t written =
        ::write(STDERR_FILENO, kLine + skip, sizeof kLine - 1 - skip);
    // Ends the process with SIGBUS as if no handler had run: the pending
    // signal is delivered when this handler returns.
    ::signal(number, SIG_DFL);
    ::raise(number);
}

} // namespace

void explainBusErrors() {
    g_busErrorToJournal = logsToJournal();
    struct sigaction action = {};
    action.sa_handler = onBusError;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, nullptr);
}

UnixSignals::UnixSignals(QObject *parent)
    : QObject(parent) {
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalSockets) != 0)
        qFatal("cannot create the signal socket pair");
    m_notifier = std::make_unique<QSocketNotifier>(g_signalSockets[1], QSocketNotifier::Read);
    connect(m_notifier.get(), &QSocketNotifier::activated, this, [this] {
        char byte = 0;
        if (::read(g_signalSockets[1], &byte, 1) != 1)
            return;
        if (byte == SIGHUP)
            Q_EMIT hangup();
        else
            Q_EMIT terminateRequested(byte);
    });

    struct sigaction action = {};
    action.sa_handler = onSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (int number : {SIGINT, SIGTERM, SIGHUP})
        ::sigaction(number, &action, nullptr);
}

UnixSignals::~UnixSignals() {
    struct sigaction action = {};
    action.sa_handler = SIG_DFL;
    for (int number : {SIGINT, SIGTERM, SIGHUP})
        ::sigaction(number, &action, nullptr);
    m_notifier.reset();
    ::close(g_signalSockets[0]);
    ::close(g_signalSockets[1]);
}

} // namespace uwpx

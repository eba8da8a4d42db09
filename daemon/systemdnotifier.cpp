#include "systemdnotifier.h"

#include "logging.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <ctime>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace uwpx {

SystemdNotifier::SystemdNotifier(QObject *parent)
    : QObject(parent) {
    const QByteArray address = qgetenv("NOTIFY_SOCKET");
    sockaddr_un un = {};
    if (address.isEmpty() || size_t(address.size()) >= sizeof un.sun_path ||
        (address.front() != '/' && address.front() != '@'))
        return;
    m_address = address;
    if (m_address.front() == '@')
        m_address[0] = '\0';
    m_socket = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (m_socket < 0)
        qCWarning(lcServer).noquote()
            << "cannot create a socket to notify systemd:" << qt_error_string(errno);
    connect(&m_watchdog, &QTimer::timeout, this, [this] { send("WATCHDOG=1"); });
}

SystemdNotifier::~SystemdNotifier() {
    if (m_socket >= 0)
        ::close(m_socket);
}

void SystemdNotifier::send(const QByteArray &message) {
    if (m_socket < 0)
        return;
    sockaddr_un un = {};
    un.sun_family = AF_UNIX;
    std::copy(m_address.cbegin(), m_address.cend(), un.sun_path);
    const auto length = socklen_t(offsetof(sockaddr_un, sun_path) + size_t(m_address.size()));
    if (::sendto(m_socket, message.constData(), size_t(message.size()), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr *>(&un), length) < 0)
        qCWarning(lcServer).noquote() << "cannot notify systemd:" << qt_error_string(errno);
}

void SystemdNotifier::ready(const QString &status) {
    send("READY=1\nSTATUS=" + escapeForLog(status).toUtf8());
}

void SystemdNotifier::reloading() {
    // systemd >= 253 wants the reload's start on CLOCK_MONOTONIC, to tell
    // this reload's READY=1 from an earlier one's; older versions ignore it.
    timespec now = {};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const qint64 usec = qint64(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
    send("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" +
         QByteArray::number(usec));
}

void SystemdNotifier::status(const QString &text) {
    send("STATUS=" + escapeForLog(text).toUtf8());
}

void SystemdNotifier::stopping() {
    send("STOPPING=1\nSTATUS=shutting down");
}

void SystemdNotifier::startWatchdog() {
    if (m_socket < 0)
        return;
    const QByteArray pid = qgetenv("WATCHDOG_PID");
    if (!pid.isEmpty() && pid.toLongLong() != qint64(::getpid()))
        return; // meant for another process
    bool ok = false;
    const qint64 usec = qgetenv("WATCHDOG_USEC").toLongLong(&ok);
    if (!ok || usec <= 0)
        return;
    m_watchdog.start(std::chrono::milliseconds(std::max<qint64>(1, usec / 2000)));
    send("WATCHDOG=1");
}

} // namespace uwpx

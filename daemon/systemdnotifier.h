#pragma once

#include <QByteArray>
#include <QObject>
#include <QTimer>

namespace uwpx {

// Tells systemd how the service is doing (the unit is Type=notify): the
// sd_notify(3) protocol without libsystemd, which is one datagram per
// message to the AF_UNIX socket named by $NOTIFY_SOCKET ("@name" for the
// abstract namespace). Outside systemd (no NOTIFY_SOCKET) it does nothing.
//
// systemd counts the service started at READY=1, not when the process is
// there, so a unit ordered after it waits for a server that listens; it
// shows a reload as running from RELOADING=1 to the next READY=1; and with
// WatchdogSec= it expects WATCHDOG=1 at least that often. The pings come
// from a timer on the event loop, so a loop that stops turning (a hang, a
// deadlock) stops them, and systemd kills and restarts the service.
class SystemdNotifier : public QObject {
    Q_OBJECT
public:
    explicit SystemdNotifier(QObject *parent = nullptr);
    ~SystemdNotifier() override;

    // Start-up done, or a reload done; `status` is what `systemctl status` shows.
    void ready(const QString &status);
    // A reload begins (SIGHUP); ready() ends it.
    void reloading();
    // Shutting down (SIGTERM).
    void stopping();
    // What `systemctl status` shows, nothing else.
    void status(const QString &text);

    // Pings the watchdog at half the interval systemd asks for
    // (WATCHDOG_USEC, when WATCHDOG_PID is this process or unset).
    void startWatchdog();

    bool isActive() const { return m_socket >= 0; }

private:
    void send(const QByteArray &message);

    int m_socket = -1;
    QByteArray m_address; // the socket path, '\0'-prefixed for the abstract namespace
    QTimer m_watchdog;
};

} // namespace uwpx

#pragma once

#include <QObject>
#include <QSocketNotifier>

#include <memory>

namespace uwpx {

// Turns SIGINT, SIGTERM and SIGHUP into Qt signals on the event loop. A signal
// handler may only do async-signal-safe work, so it writes the signal number
// to a socket pair and the event loop picks it up.
class UnixSignals : public QObject {
    Q_OBJECT
public:
    explicit UnixSignals(QObject *parent = nullptr);
    ~UnixSignals() override;

Q_SIGNALS:
    void terminateRequested(int signal); // SIGINT, SIGTERM
    void hangup();                       // SIGHUP

private:
    std::unique_ptr<QSocketNotifier> m_notifier;
};

// SQLite maps its -shm file into memory; when that file is truncated under us
// or its disk fills, touching the mapping raises SIGBUS, which would end the
// process without a word. This installs a handler that writes one line saying
// so to stderr (the journal) and then lets SIGBUS end the process as before:
// nothing can be trusted once a mapping is gone, and the service manager
// restarts it. Call it after installLogHandler().
void explainBusErrors();

} // namespace uwpx

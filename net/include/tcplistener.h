#pragma once

#include <QHostAddress>
#include <QObject>
#include <QSocketNotifier>
#include <QTimer>

#include <functional>
#include <memory>

namespace uwpx {

// A listening TCP socket that never stops accepting. Used by the registration
// endpoint and the daemon's operator endpoint in place of QTcpServer, which in
// Qt 6.4 either stops accepting for good when accept() fails for want of file
// descriptors, or, once any accept() has come back empty (EAGAIN), mistakes
// every later failure for a temporary one and spins on the ready socket at
// full CPU.
//
// On such a failure this listener pauses for kPauseMs, says so once through
// paused(), and tries again. One wake-up takes at most kBatch connections, so
// a flood of them cannot hold the event loop.
class TcpListener : public QObject {
    Q_OBJECT
public:
    static constexpr int kPauseMs = 1000;
    static constexpr int kBatch = 32;

    // `take` receives each accepted descriptor (non-blocking, close-on-exec)
    // and owns it from then on.
    explicit TcpListener(std::function<void(qintptr descriptor)> take, QObject *parent = nullptr);
    ~TcpListener() override;

    // A Qt socket of type `Socket` (QTcpSocket, QSslSocket) on a descriptor
    // `take` received, owned by `parent`; nullptr, with the descriptor
    // closed, if Qt cannot take it.
    template<typename Socket> static Socket *adopt(qintptr descriptor, QObject *parent) {
        auto *socket = new Socket(parent);
        if (socket->setSocketDescriptor(descriptor))
            return socket;
        closeDescriptor(descriptor);
        delete socket;
        return nullptr;
    }

    // false with *error set if the address cannot be listened on: "ADDRESS:PORT:
    // why", for the caller to say what it was listening for.
    bool listen(const QHostAddress &address, quint16 port, QString *error);
    void close();
    bool isListening() const { return m_descriptor >= 0; }
    quint16 port() const { return m_port; }

Q_SIGNALS:
    // accept() failed with `reason`; accepting resumes in kPauseMs.
    void paused(const QString &reason);

private:
    static void closeDescriptor(qintptr descriptor);
    void acceptReady();

    std::function<void(qintptr)> m_take;
    int m_descriptor = -1;
    quint16 m_port = 0;
    std::unique_ptr<QSocketNotifier> m_notifier;
    QTimer m_resume;
};

} // namespace uwpx

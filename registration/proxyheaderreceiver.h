#pragma once

#include "proxyprotocol.h"
#include "refusalreason.h"

#include <QByteArray>
#include <QHostAddress>
#include <QObject>
#include <QSocketNotifier>
#include <QTimer>

namespace uwpx {

// Reads the PROXY protocol header of one accepted connection, on its raw
// descriptor, before TLS starts. It never reads a byte past the header: the
// TLS handshake behind it is left in the socket for QSslSocket. Line by line
// for version 1 (peeking for its end), by its length for version 2.
//
// From a trusted balancer (Mode::Required) a header must come; from anyone
// else (Mode::Forbidden) the first byte must not start one, so a client
// cannot name an address of its choosing: that connection is refused, not
// merely failed in the TLS handshake. Either way it ends within `timeoutMs`.
class ProxyHeaderReceiver : public QObject {
    Q_OBJECT
public:
    enum class Mode { Required, Forbidden };

    // Owns `descriptor` until received() hands it on; closes it otherwise.
    ProxyHeaderReceiver(qintptr descriptor, Mode mode, int timeoutMs, QObject *parent = nullptr);
    ~ProxyHeaderReceiver() override;

Q_SIGNALS:
    // The descriptor is the receiver's now, the header consumed. `header`
    // is empty (version 0) in Mode::Forbidden.
    void received(qintptr descriptor, const uwpx::proxy::Header &header);
    // The connection is closed: `reason` for the metrics (ProxyHeader:
    // missing, broken or too slow from a balancer; ProxyUntrusted: a header
    // from a peer not trusted; HandshakeTimeout: a peer not trusted gone or
    // silent before its first byte), `why` for the log.
    void failed(uwpx::RefusalReason reason, const QString &why);

private:
    void readable();
    // Why a connection that ended or timed out before its header was refused.
    RefusalReason missingHeader() const;
    void fail(RefusalReason reason, const QString &why);
    void finish();

    qintptr m_descriptor;
    const Mode m_mode;
    QByteArray m_header; // what was read of it so far
    QSocketNotifier m_notifier;
    QTimer m_deadline;
};

} // namespace uwpx

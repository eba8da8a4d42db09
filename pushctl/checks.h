#pragma once

#include "config.h"

#include <QList>
#include <QString>

namespace uwpx::pushctl {

// One line of `uwpx-pushctl check`.
struct CheckResult {
    enum Status { Ok, Warning, Failed } status = Ok;
    QString name; // configuration, store, xmpp, wns, certificate
    QString detail;
};

// What --check-config checks is done by the caller (Config::load); these are
// the rest: the deployment around the configuration. None changes anything.
CheckResult checkStore(const StorageSettings &settings);
// The component port accepts a connection and answers a stream header for
// the component's JID (no handshake: a second component connection would
// take publishes from the running daemon on ejabberd). Prosody refuses an
// unknown component name here (host-unknown); ejabberd would only at the
// handshake, so there a wrong name or secret is not found.
CheckResult checkXmpp(const XmppSettings &settings);
// The token endpoint issues a token for the configured credentials.
CheckResult checkWnsToken(const WnsSettings &settings);
// The registration certificate goes with its key (a TLS handshake on
// loopback with them, as clients would make) and is not expired; a
// warning within 14 days of its end.
CheckResult checkCertificate(const RegistrationSettings &settings);

} // namespace uwpx::pushctl

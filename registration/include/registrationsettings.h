#pragma once

#include <QHostAddress>
#include <QString>

namespace uwpx {

// The [registration] section (SPEC §2, §3).
struct RegistrationSettings {
    QHostAddress address = QHostAddress::AnyIPv4;
    quint16 port = 1997;
    QString certificate; // PEM file
    QString privateKey;  // PEM file
    int idleTimeoutMs = 60000;
    int maxConnections = 1000;
};

} // namespace uwpx

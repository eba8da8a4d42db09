#pragma once

#include <QMetaType>
#include <QString>

namespace uwpx {

// What this instance is to the XMPP server. Several instances may serve one
// component JID: Prosody admits one connection per component and refuses the
// others (`conflict`), which stand by; ejabberd admits them all.
enum class ComponentRole {
    Disconnected, // no link, and not because another instance holds it
    Standby,      // another instance holds the component JID: taking over when it goes
    Connected,    // the link is up
};

// "disconnected", "standby", "connected": as /health and the role metric
// name them (docs/operations.md), so each enumerator is spelled as printed.
QString componentRoleName(ComponentRole role);

} // namespace uwpx

Q_DECLARE_METATYPE(uwpx::ComponentRole)

#include "componentrole.h"

namespace uwpx {

QString componentRoleName(ComponentRole role) {
    switch (role) {
    case ComponentRole::Disconnected:
        return QStringLiteral("disconnected");
    case ComponentRole::Standby:
        return QStringLiteral("standby");
    case ComponentRole::Connected:
        return QStringLiteral("connected");
    }
    return QStringLiteral("disconnected");
}

} // namespace uwpx

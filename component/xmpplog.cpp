#include "xmpplog.h"

Q_LOGGING_CATEGORY(lcXmpp, "uwpx.xmpp")

#include "descriptorlimit.h"

#include "logging.h"
#include "operatorendpoint.h"

#include <sys/resource.h>

namespace uwpx {

namespace {

// WNS spreads channels over several hosts (db5, hk2, bn3, ...): a guess at
// how many are busy at once, each with its own connections.
constexpr int kBusyWnsHosts = 8;
// Log, signal socket pair, SQLite's files, the XMPP link, certificates read
// on reload, TLS trust stores.
constexpr int kMargin = 64;

} // namespace

int descriptorsNeeded(const Config &config) {
    return config.registration.maxConnections + OperatorEndpoint::kMaxConnections +
           kBusyWnsHosts * config.wns.connectionsPerHost + 3 * config.storage.connections + kMargin;
}

void raiseDescriptorLimit(int needed) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    if (limit.rlim_cur < rlim_t(needed))
        qCWarning(lcServer).noquote()
            << "the process may open" << qulonglong(limit.rlim_cur)
            << "file descriptors, but the configured limits may need" << needed
            << "(registration max_connections and more): raise LimitNOFILE in the service unit, "
               "or lower max_connections";
}

} // namespace uwpx

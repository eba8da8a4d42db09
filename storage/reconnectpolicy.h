#pragma once

#include <QRandomGenerator>

#include <chrono>

namespace uwpx {

// When a database connection that failed or was lost is tried again: the one
// rule for every connection of storage/ (the workers', the listener's, the
// instance lock's, StoreAdmin's). While the database is away, a connection is
// tried again every kDelay, give or take half of it (many connections must not
// return in step): a database that comes back is used again within about a
// second (docs/operations.md, "Bad days": the database is unreachable).
class ReconnectPolicy {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds kDelay{500};

    // kDelay, give or take half of it.
    static std::chrono::milliseconds jitteredDelay() {
        return kDelay / 2 + std::chrono::milliseconds(
                                QRandomGenerator::global()->bounded(qint64(kDelay.count())));
    }

    // Whether an attempt may be made now: at once at first and after a
    // success, a jittered delay after a failed one.
    bool mayTry() const { return Clock::now() >= m_notBefore; }
    void failed() { m_notBefore = Clock::now() + jitteredDelay(); }
    void succeeded() { m_notBefore = {}; }

private:
    Clock::time_point m_notBefore{};
};

} // namespace uwpx

#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QString>

namespace uwpx {

// A token bucket per key (a client address, a device): `rate` requests per
// second on average, `burst` at once. Memory stays bounded: keys whose
// bucket is full again are forgotten, and past `maxKeys` new keys are
// refused until some are, so a flood of keys cannot grow it.
class RateLimiter {
public:
    RateLimiter(double rate, double burst, int maxKeys = 100000);

    // Takes one token for `key`; false when there is none (too many requests).
    bool allow(const QString &key);

    // New limits (a configuration reload). Buckets are kept: a client that
    // used its burst does not get a fresh one, and one holding more than the
    // new burst is cut down to it at its next request.
    void setRate(double rate, double burst);

private:
    struct Bucket {
        double tokens = 0;
        qint64 atMs = 0;
    };
    void prune(qint64 nowMs);

    double m_rate;
    double m_burst;
    const int m_maxKeys;
    QElapsedTimer m_clock;
    QHash<QString, Bucket> m_buckets;
    qint64 m_nextPruneMs = 0;
};

} // namespace uwpx

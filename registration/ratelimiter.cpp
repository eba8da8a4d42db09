#include "ratelimiter.h"

#include <algorithm>

namespace uwpx {

RateLimiter::RateLimiter(double rate, double burst, int maxKeys)
    : m_rate(rate)
    , m_burst(std::max(1.0, burst))
    , m_maxKeys(maxKeys) {
    m_clock.start();
}

bool RateLimiter::allow(const QString &key) {
    const qint64 now = m_clock.elapsed();
    if (m_buckets.size() >= m_maxKeys)
        prune(now);
    auto it = m_buckets.find(key);
    if (it == m_buckets.end()) {
        if (m_buckets.size() >= m_maxKeys)
            return false;
        it = m_buckets.insert(key, Bucket{m_burst, now});
    }
    it->tokens = std::min(m_burst, it->tokens + (now - it->atMs) * m_rate / 1000.0);
    it->atMs = now;
    if (it->tokens < 1)
        return false;
    it->tokens -= 1;
    return true;
}

void RateLimiter::setRate(double rate, double burst) {
    m_rate = rate;
    m_burst = std::max(1.0, burst);
}

// A bucket that has filled up again says nothing a new one would not.
// Scanning costs O(keys), so it happens at most once a second.
void RateLimiter::prune(qint64 nowMs) {
    if (nowMs < m_nextPruneMs)
        return;
    m_nextPruneMs = nowMs + 1000;
    for (auto it = m_buckets.begin(); it != m_buckets.end();) {
        if (it->tokens + (nowMs - it->atMs) * m_rate / 1000.0 >= m_burst)
            it = m_buckets.erase(it);
        else
            ++it;
    }
}

} // namespace uwpx

#include "deadlinequeue.h"

#include <limits>

namespace uwpx {

DeadlineTimer::DeadlineTimer(int timeoutMs, std::function<void()> wake)
    : m_timeoutMs(std::max(0, timeoutMs)) {
    m_clock.start();
    m_timer.setSingleShot(true);
    QObject::connect(&m_timer, &QTimer::timeout, &m_timer, std::move(wake));
}

DeadlineTimer::~DeadlineTimer() = default;

qint64 DeadlineTimer::nowMs() const {
    return m_clock.elapsed();
}

void DeadlineTimer::startIfIdle() {
    if (!m_timer.isActive())
        m_timer.start(m_timeoutMs);
}

void DeadlineTimer::wakeIn(qint64 ms) {
    m_timer.start(int(std::clamp<qint64>(ms, 0, std::numeric_limits<int>::max())));
}

void DeadlineTimer::stop() {
    m_timer.stop();
}

} // namespace uwpx

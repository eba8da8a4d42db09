#include "connectioncounter.h"

namespace uwpx {

void ConnectionCounter::add(const QString &address) {
    ++m_total;
    if (!address.isEmpty())
        ++m_perAddress[address];
}

void ConnectionCounter::remove(const QString &address) {
    --m_total;
    if (!address.isEmpty() && --m_perAddress[address] <= 0)
        m_perAddress.remove(address);
}

} // namespace uwpx

#include "httpheaders.h"

namespace uwpx {

QByteArray headerValue(const HttpHeaders &headers, const QByteArray &name) {
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value.trimmed();
    }
    return {};
}

} // namespace uwpx

#include "startbackoff.h"

#include <QDir>
#include <QFile>

#include <algorithm>

namespace uwpx {

namespace {

constexpr int kFirstWaitMs = 5000;
constexpr int kMaxWaitMs = 120000; // well inside the unit's TimeoutStartSec

} // namespace

StartBackoff::StartBackoff() {
    // systemd separates several runtime directories with ':'; ours is the first.
    const QString directories = qEnvironmentVariable("RUNTIME_DIRECTORY");
    const QString directory = directories.section(QLatin1Char(':'), 0, 0);
    if (!directory.isEmpty() && QDir(directory).exists())
        m_file = QDir(directory).filePath(QStringLiteral("failed-starts"));
}

int StartBackoff::failed() {
    if (m_file.isEmpty())
        return 0;
    QFile file(m_file);
    int before = 0;
    if (file.open(QIODevice::ReadOnly))
        before = std::clamp(file.read(16).trimmed().toInt(), 0, 1000);
    file.close();
    if (file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        file.write(QByteArray::number(before + 1));
    if (before == 0)
        return 0;
    // 5 s, 10 s, 20 s, ... 2 min; the shift stops growing long before it overflows.
    return int(std::min<qint64>(kMaxWaitMs, qint64(kFirstWaitMs) << std::min(before - 1, 10)));
}

void StartBackoff::succeeded() {
    if (!m_file.isEmpty())
        QFile::remove(m_file);
}

} // namespace uwpx

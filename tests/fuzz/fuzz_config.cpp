// Fuzzes the configuration file: the input is written to a file and read by
// Config::load, as --check-config and the daemon's start-up do.
//
// QSettings keeps what it read per path and reads the file again only when
// its size or modification time (to the millisecond) changed: each input
// gets a modification time of its own, so none is answered from that cache.
// (A file name per input would do too, but the cache would then grow with
// every input, and libFuzzer runs a leak check after each input that keeps
// memory, which slows it down tenfold.)

#include "config.h"
#include "fuzzsupport.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>

using namespace uwpx;
using fuzz::check;

namespace {

// In memory where there is a tmpfs: rewriting a file on ext4 waits for the
// disk. Removed when the fuzzer exits normally.
QTemporaryDir &directory() {
    static QTemporaryDir dir(QFileInfo(QStringLiteral("/dev/shm")).isWritable()
                                 ? QStringLiteral("/dev/shm/uwpx-fuzz-config-XXXXXX")
                                 : QDir::tempPath() + QStringLiteral("/uwpx-fuzz-config-XXXXXX"));
    return dir;
}
quint64 counter = 0;

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz::initQt(argc, argv);
    check(directory().isValid(), "no temporary directory");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const QString path = directory().filePath(QStringLiteral("uwpx-push-server.ini"));
    {
        QFile::remove(path);
        QFile file(path);
        check(file.open(QIODevice::WriteOnly) &&
                  file.write(reinterpret_cast<const char *>(data), qint64(size)) == qint64(size) &&
                  file.setFileTime(QDateTime::fromSecsSinceEpoch(qint64(++counter), Qt::UTC),
                                   QFileDevice::FileModificationTime),
              "cannot write the configuration file");
    }
    Config config;
    QStringList errors, warnings;
    const bool ok = Config::load(path, &config, &errors, &warnings);
    check(ok == errors.isEmpty(), "a configuration is usable exactly when nothing is wrong with it",
          errors.join(QLatin1Char('\n')).toUtf8());
    for (const QString &line : errors + warnings)
        check(line.startsWith(path + QLatin1Char(':')), "every problem names the file",
              line.toUtf8());
    if (ok) {
        check(!config.xmpp.componentJid.isEmpty() && !config.xmpp.secret.isEmpty() &&
                  !config.wns.packageSid.isEmpty() && !config.wns.channelHosts.isEmpty(),
              "a usable configuration has what the server needs");
        check(config.storage.driver == QLatin1String("sqlite") ||
                  config.storage.driver == QLatin1String("postgresql"),
              "a usable configuration names a known driver");
    }
    return 0;
}

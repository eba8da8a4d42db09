#pragma once

// What every fuzz target shares: a quiet Qt, the way inputs are cut into
// pieces, and a failure that libFuzzer records as a crash.

#include <QByteArray>
#include <QCoreApplication>
#include <QList>
#include <QLoggingCategory>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace uwpx::fuzz {

// One QCoreApplication for the whole run, and no log output: the parsers log
// what they refuse, which would only slow the fuzzer down. qFatal still aborts.
inline void initQt(int *argc, char ***argv) {
    static QCoreApplication *app = new QCoreApplication(*argc, *argv);
    (void)app;
    QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
    qInstallMessageHandler([](QtMsgType, const QMessageLogContext &, const QString &) {});
}

// A broken expectation: printed and aborted, so libFuzzer keeps the input as
// a crash.
[[noreturn]] inline void fail(const char *what, const QByteArray &detail = {}) {
    std::fprintf(stderr, "fuzz check failed: %s\n%s\n", what, detail.left(4096).constData());
    std::abort();
}

inline void check(bool ok, const char *what, const QByteArray &detail = {}) {
    if (!ok)
        fail(what, detail);
}

// How a stream input is cut into the pieces a socket might deliver. The sizes
// come from the input's own hash: the same input is always cut the same way
// (a crash reproduces), and each mutation is cut differently. Single bytes,
// small and large pieces are mixed, so boundaries fall inside tokens, UTF-8
// sequences, line ends and tags.
inline QList<QByteArray> pieces(const QByteArray &bytes) {
    std::uint64_t state = 14695981039346656037ull; // FNV-1a
    for (const char c : bytes) {
        state ^= std::uint8_t(c);
        state *= 1099511628211ull;
    }
    state |= 1;
    const auto next = [&state] { // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    static constexpr std::uint64_t kLargest[] = {3, 16, 256, 2048};
    QList<QByteArray> out;
    for (qsizetype at = 0; at < bytes.size();) {
        const std::uint64_t r = next();
        const qsizetype size = qsizetype(1 + (r >> 8) % kLargest[r & 3]);
        out << bytes.mid(at, size);
        at += size;
    }
    return out;
}

} // namespace uwpx::fuzz

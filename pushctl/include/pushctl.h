#pragma once

#include <QStringList>
#include <QTextStream>

namespace uwpx::pushctl {

// Exit statuses of uwpx-pushctl (docs/uwpx-pushctl.8).
enum ExitStatus { Success = 0, Failure = 1, UsageError = 2 };

// Runs one command line (arguments without the program's name): results go
// to `out`, one line per problem to `err`. Needs a QCoreApplication.
int run(const QStringList &arguments, QTextStream &out, QTextStream &err);

} // namespace uwpx::pushctl

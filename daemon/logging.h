#pragma once

#include <QLoggingCategory>

namespace uwpx {

// One line per event on stderr: "<UTC time> <level> <category>: <message>".
// journald and docker logs keep stderr, so there is no log file to rotate.
void installLogHandler();

} // namespace uwpx

Q_DECLARE_LOGGING_CATEGORY(lcServer)

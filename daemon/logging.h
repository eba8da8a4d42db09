#pragma once

#include <QLoggingCategory>

namespace uwpx {

// One line per event on stderr: "<UTC time> <level> <category>: <message>".
// journald and docker logs keep stderr, so there is no log file to rotate.
// Every message is passed through escapeForLog(): values from outside (an
// action name, a stanza's from, a stream error's text) cannot start lines
// of their own.
void installLogHandler();

// Control characters (CR, LF, ESC, ...) and Unicode line separators as \xNN.
QString escapeForLog(const QString &text);

} // namespace uwpx

Q_DECLARE_LOGGING_CATEGORY(lcServer)

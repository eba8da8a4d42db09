#pragma once

#include "config.h"

#include <QLoggingCategory>

namespace uwpx {

// One line per event on stderr. journald and docker logs keep stderr, so
// there is no log file to rotate. Its shape depends on where stderr goes:
// - to the journal (systemd sets JOURNAL_STREAM to stderr's device:inode):
//   "<P><category>: <message>", where <P> is the sd-daemon priority prefix
//   (<3> error, <4> warning, <6> info, <7> debug; see sd-daemon(3)), so that
//   `journalctl -p warning` finds warnings, and no time: the journal has it;
// - anywhere else: "<UTC time> <level> <category>: <message>".
// Every message is passed through escapeForLog(): values from outside (an
// action name, a stanza's from, a stream error's text) cannot start lines
// of their own.
void installLogHandler();

// Whether lines go to the journal (see above); decided by installLogHandler().
bool logsToJournal();

// [log] level: messages less severe than `level` are not written. Takes
// effect at once (a reload); QT_LOGGING_RULES, when set, has the last word.
void setLogLevel(LogLevel level);

// A line that is no event of a category, such as a configuration problem of
// --check-config: as it is on a terminal, with its priority prefix for the
// journal.
void writeLogLine(QtMsgType type, const QString &line);

// Control characters (CR, LF, ESC, ...) and Unicode line separators as \xNN.
QString escapeForLog(const QString &text);

} // namespace uwpx

Q_DECLARE_LOGGING_CATEGORY(lcServer)

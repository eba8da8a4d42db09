#pragma once

#include <QHash>
#include <QString>
#include <QStringList>

namespace uwpx {

struct Dialect;

// The text of every statement one dialect runs (sql/README.md): the files of
// sql/common/ with the dialect's own files of sql/<dialect>/ in their place.
// Read from the resources once per process, for every dialect at once, and
// never changed after, so the connections of every thread read them without
// a lock.
class SqlStatements {
public:
    static const SqlStatements &of(const Dialect &dialect);

    // The statement named like its file, without ".sql" ("select_push_targets",
    // "upgrade/001"). A name no file has is a bug in this program: it stops.
    const QString &text(const QString &name) const;
    // The statements of a file that holds several, each ending with ';' at the
    // end of a line; '--' comment lines are dropped.
    QStringList script(const QString &name) const;

private:
    QHash<QString, QString> m_texts;

    friend struct SqlStatementsLoader;
};

} // namespace uwpx

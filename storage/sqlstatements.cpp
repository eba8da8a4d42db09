#include "sqlstatements.h"

#include "dialect.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>

#include <map>

namespace uwpx {

struct SqlStatementsLoader {
    // Every .sql file under `folder`, by its name relative to it without ".sql".
    static void read(const QString &folder, QHash<QString, QString> *texts) {
        QDirIterator files(folder, {QStringLiteral("*.sql")}, QDir::Files,
                           QDirIterator::Subdirectories);
        while (files.hasNext()) {
            const QString path = files.next();
            QFile file(path);
            if (!file.open(QIODevice::ReadOnly))
                qFatal("cannot read the SQL resource %s", qPrintable(path));
            QString name = path.mid(folder.size() + 1);
            name.chop(4);
            texts->insert(name, QString::fromUtf8(file.readAll()));
        }
    }

    // One entry per folder of sql/ other than common/: the dialects.
    static std::map<QString, SqlStatements> all() {
        QHash<QString, QString> common;
        read(QStringLiteral(":/sql/common"), &common);
        std::map<QString, SqlStatements> dialects;
        const QStringList names =
            QDir(QStringLiteral(":/sql")).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        for (const QString &name : names) {
            if (name == QLatin1String("common"))
                continue;
            SqlStatements &statements = dialects[name];
            statements.m_texts = common;
            read(QStringLiteral(":/sql/") + name, &statements.m_texts); // its own in their place
        }
        return dialects;
    }
};

const SqlStatements &SqlStatements::of(const Dialect &dialect) {
    // Built by the first caller; C++ makes the others wait for it, once.
    static const std::map<QString, SqlStatements> all = SqlStatementsLoader::all();
    static const SqlStatements common = [] {
        SqlStatements statements;
        SqlStatementsLoader::read(QStringLiteral(":/sql/common"), &statements.m_texts);
        return statements;
    }();
    const auto it = all.find(dialect.name);
    return it != all.end() ? it->second : common; // a dialect without overrides
}

const QString &SqlStatements::text(const QString &name) const {
    const auto it = m_texts.constFind(name);
    if (it == m_texts.constEnd())
        qFatal("missing SQL resource %s", qPrintable(name));
    return *it;
}

QStringList SqlStatements::script(const QString &name) const {
    QStringList statements;
    QString current;
    for (const QString &line : text(name).split(QLatin1Char('\n'))) {
        if (line.trimmed().startsWith(QLatin1String("--")))
            continue;
        current += line + QLatin1Char('\n');
        if (line.trimmed().endsWith(QLatin1Char(';'))) {
            statements << current.trimmed().chopped(1);
            current.clear();
        }
    }
    if (!current.trimmed().isEmpty())
        statements << current.trimmed();
    return statements;
}

} // namespace uwpx

#pragma once

#include <QMap>
#include <QString>

namespace uwpx::test {

class FakeWns;

// Writes a complete, valid configuration file into `directory` (a fresh TLS
// certificate, a SQLite file, loopback addresses) and returns its path.
// `overrides` replace or add keys ("section/key" -> value); an empty value
// removes the key. Returns an empty string on failure.
QString writeConfig(const QString &directory, const QMap<QString, QString> &overrides = {});

// Starts `wns` on the test certificate in `directory` (made by writeConfig(),
// which this calls first) with the credentials writeConfig() names; false
// with *error set on failure.
bool startFakeWns(FakeWns &wns, const QString &directory, QString *error);

} // namespace uwpx::test

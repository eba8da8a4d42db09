#pragma once

#include <QByteArray>
#include <QList>
#include <QMap>
#include <QString>

namespace uwpx {

// The operator's figures in Prometheus text format (version 0.0.4). Families
// are declared once with their help text; series are keyed by their label
// set, written as Prometheus writes it: action="set_accounts",outcome="success".
class Metrics {
public:
    enum class Type { Counter, Gauge, Histogram };

    void declare(const QString &name, Type type, const QString &help,
                 const QList<double> &buckets = {});

    void increment(const QString &name, const QString &labels = {}, double by = 1);
    void set(const QString &name, double value, const QString &labels = {});
    // Leaves the series out of render() (a figure that is unknown now).
    void remove(const QString &name, const QString &labels = {});
    void observe(const QString &name, double value);

    double value(const QString &name, const QString &labels = {}) const;
    QByteArray render() const;

private:
    struct Family {
        Type type = Type::Counter;
        QString help;
        QMap<QString, double> series; // by label set
        QList<double> buckets;        // histogram upper bounds, ascending
        QList<quint64> bucketCounts;  // cumulative counts are computed on render
        quint64 count = 0;
        double sum = 0;
    };
    QMap<QString, Family> m_families;
};

} // namespace uwpx

#include "metrics.h"

namespace uwpx {

namespace {

QByteArray number(double value) {
    if (value == qint64(value))
        return QByteArray::number(qint64(value));
    return QByteArray::number(value, 'g', 12);
}

QByteArray series(const QString &name, const QString &labels) {
    return labels.isEmpty() ? name.toUtf8()
                            : (name + QLatin1Char('{') + labels + QLatin1Char('}')).toUtf8();
}

} // namespace

void Metrics::declare(const QString &name, Type type, const QString &help,
                      const QList<double> &buckets) {
    Family &family = m_families[name];
    family.type = type;
    family.help = help;
    family.buckets = buckets;
    family.bucketCounts = QList<quint64>(buckets.size(), 0);
}

void Metrics::increment(const QString &name, const QString &labels, double by) {
    Q_ASSERT(m_families.contains(name));
    m_families[name].series[labels] += by;
}

void Metrics::set(const QString &name, double value, const QString &labels) {
    Q_ASSERT(m_families.contains(name));
    m_families[name].series[labels] = value;
}

void Metrics::remove(const QString &name, const QString &labels) {
    Q_ASSERT(m_families.contains(name));
    m_families[name].series.remove(labels);
}

void Metrics::observe(const QString &name, double value) {
    Q_ASSERT(m_families.contains(name));
    Family &family = m_families[name];
    for (qsizetype i = 0; i < family.buckets.size(); ++i) {
        if (value <= family.buckets[i]) {
            ++family.bucketCounts[i];
            break;
        }
    }
    ++family.count;
    family.sum += value;
}

double Metrics::value(const QString &name, const QString &labels) const {
    const auto family = m_families.constFind(name);
    if (family == m_families.constEnd())
        return 0;
    if (family->type == Type::Histogram)
        return double(family->count);
    return family->series.value(labels, 0);
}

QByteArray Metrics::render() const {
    QByteArray out;
    for (auto it = m_families.cbegin(); it != m_families.cend(); ++it) {
        const Family &family = *it;
        const QByteArray name = it.key().toUtf8();
        static const char *const types[] = {"counter", "gauge", "histogram"};
        out += "# HELP " + name + ' ' + family.help.toUtf8() + '\n';
        out += "# TYPE " + name + ' ' + types[int(family.type)] + '\n';
        if (family.type == Type::Histogram) {
            quint64 cumulative = 0;
            for (qsizetype i = 0; i < family.buckets.size(); ++i) {
                cumulative += family.bucketCounts[i];
                out += name + "_bucket{le=\"" + number(family.buckets[i]) + "\"} " +
                       QByteArray::number(cumulative) + '\n';
            }
            out += name + "_bucket{le=\"+Inf\"} " + QByteArray::number(family.count) + '\n';
            out += name + "_sum " + number(family.sum) + '\n';
            out += name + "_count " + QByteArray::number(family.count) + '\n';
            continue;
        }
        for (auto s = family.series.cbegin(); s != family.series.cend(); ++s)
            out += series(it.key(), s.key()) + ' ' + number(s.value()) + '\n';
    }
    return out;
}

} // namespace uwpx

#pragma once

#include <QString>

#include <utility>
#include <variant>

namespace uwpx {

// What every Storage operation returns: its value, "there is no such thing"
// (an unknown node, a device without a channel), or a failure. A failure has
// already been logged by Storage, once, where it happened; callers turn it
// into "try again later" (a status 0 answer, an XMPP `wait`), never into a
// wrong answer such as "Device id unknown.".
enum class StorageStatus { Ok, NotFound, Failed };

template<typename T = std::monostate> class StorageResult {
public:
    using Status = StorageStatus;

    static StorageResult ok(T value = T()) { return StorageResult(Status::Ok, std::move(value)); }
    static StorageResult notFound() { return StorageResult(Status::NotFound, T()); }
    static StorageResult failed(QString error) {
        StorageResult result(Status::Failed, T());
        result.m_error = std::move(error);
        return result;
    }

    Status status() const { return m_status; }
    bool isOk() const { return m_status == Status::Ok; }
    bool isNotFound() const { return m_status == Status::NotFound; }
    bool isFailed() const { return m_status == Status::Failed; }

    // Meaningful when isOk().
    const T &value() const { return m_value; }
    T &value() { return m_value; }
    const T *operator->() const { return &m_value; }
    // The database's reason, when isFailed().
    const QString &error() const { return m_error; }

private:
    StorageResult(Status status, T value)
        : m_status(status)
        , m_value(std::move(value)) {}

    Status m_status;
    T m_value;
    QString m_error;
};

} // namespace uwpx

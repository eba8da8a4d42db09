#pragma once

#include <QString>

namespace uwpx {

// Pubsub nodes and secrets handed to clients. Both come from the operating
// system's cryptographic random source and use only URL-safe characters, so
// they survive any XMPP server's form handling unchanged.
namespace credentials {

// 96 random bits (docs/protocol.md promises at least 72).
QString newNode();
// 192 random bits (docs/protocol.md promises at least 128).
QString newSecret();

// Compares without an early exit, so the time taken says nothing about how
// much of a guessed secret was right.
bool constantTimeEquals(const QString &a, const QString &b);

} // namespace credentials
} // namespace uwpx

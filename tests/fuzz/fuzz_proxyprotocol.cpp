// Fuzzes what a load balancer (or anyone pretending to be one) sends before
// the TLS handshake: the PROXY protocol header, read by proxy::parse. The
// input is cut into pieces as a socket delivers them and read the way
// ProxyHeaderReceiver reads it (peek, consume what is surely header, parse
// again); that must agree with parsing the whole input at once, never take
// more than kMaxHeaderBytes, and never take a byte past the header.

#include "fuzzsupport.h"
#include "proxyprotocol.h"

using namespace uwpx;
using fuzz::check;
using Status = proxy::ParseResult::Status;

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz::initQt(argc, argv);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    const proxy::ParseResult whole = proxy::parse(input);
    if (whole.status == Status::Complete) {
        check(whole.length > 0 && whole.length <= input.size() &&
                  whole.length <= proxy::kMaxHeaderBytes,
              "a header lies within the input and the bound", input);
        check(whole.header.version == 1 || whole.header.version == 2, "a header has a version",
              input);
        check(!whole.header.hasClient ||
                  whole.header.client.protocol() == QAbstractSocket::IPv4Protocol ||
                  whole.header.client.protocol() == QAbstractSocket::IPv6Protocol,
              "a client named is an IP address", input);
        // Whatever follows the header does not change it.
        const proxy::ParseResult alone = proxy::parse(input.first(whole.length));
        check(alone.status == Status::Complete && alone.length == whole.length &&
                  alone.header.client == whole.header.client &&
                  alone.header.clientPort == whole.header.clientPort,
              "the header alone reads the same", input);
    }
    if (whole.status == Status::Incomplete)
        check(input.size() < proxy::kMaxHeaderBytes, "incomplete within the bound only", input);

    // ProxyHeaderReceiver's loop over the pieces a socket might deliver.
    QByteArray taken, waiting;
    proxy::ParseResult stepwise;
    for (const QByteArray &piece : fuzz::pieces(input)) {
        waiting += piece;
        const QByteArray peeked = waiting.left(proxy::kMaxHeaderBytes - taken.size());
        stepwise = proxy::parse(taken + peeked);
        if (stepwise.status != Status::Incomplete)
            break;
        taken += peeked;
        waiting.remove(0, peeked.size());
        check(taken.size() < proxy::kMaxHeaderBytes, "an incomplete header stays in bounds", input);
    }
    if (whole.status == Status::Incomplete)
        return 0;
    check(stepwise.status == whole.status, "in pieces as whole: the same verdict", input);
    if (whole.status == Status::Complete)
        check(stepwise.length == whole.length && stepwise.header.client == whole.header.client,
              "in pieces as whole: the same header", input);
    return 0;
}

// Fuzzes what a WNS host (or whatever answers in its place) sends back on a
// keep-alive HTTP/1.1 connection. HttpResponseParser reads the input twice,
// whole and in pieces of varying sizes, taking response after response as a
// connection would, then sees the connection close; both readings must agree.
// Each response is then classified as WnsClient would (classifyWnsResponse),
// and every header value goes through parseRetryAfterMs.

#include "fuzzsupport.h"
#include "httpresponseparser.h"
#include "wnsresponse.h"

#include <QDateTime>

using namespace uwpx;
using fuzz::check;
using State = HttpResponseParser::State;

namespace {

// A fixed "now", so an input always gives the same answer.
const QDateTime kNow(QDate(2024, 5, 17), QTime(12, 0), Qt::UTC);
// parseRetryAfterMs caps a delay at a day, so that WnsClient's arithmetic on
// it cannot overflow.
constexpr qint64 kDayMs = qint64(24) * 3600 * 1000;

struct Response {
    int status;
    HttpHeaders headers;
    bool keepAlive;
    bool operator==(const Response &) const = default;
};

struct Reading {
    QList<Response> responses;
    QString error; // empty if the connection ended cleanly
    bool operator==(const Reading &) const = default;
};

QByteArray describe(const Reading &reading) {
    QByteArray out;
    for (const Response &r : reading.responses) {
        out += QByteArray::number(r.status) + (r.keepAlive ? " keep-alive\n" : " close\n");
        for (const auto &[name, value] : r.headers)
            out += "  " + name + ": " + value + '\n';
    }
    return out + "error: " + reading.error.toUtf8();
}

Reading read(const QList<QByteArray> &pieces) {
    Reading out;
    HttpResponseParser parser;
    QByteArray buffer;
    const auto take = [&out, &parser, &buffer] {
        for (;;) {
            const State state = parser.feed(buffer);
            if (state == State::Incomplete)
                return true;
            if (state == State::Error) {
                check(!parser.error().isEmpty(), "a parse error says why");
                out.error = parser.error();
                return false;
            }
            out.responses << Response{parser.status(), parser.headers(), parser.keepAlive()};
            parser.reset();
            if (buffer.isEmpty())
                return true;
        }
    };
    for (const QByteArray &piece : pieces) {
        buffer += piece;
        if (!take())
            return out;
    }
    switch (parser.finishAtClose()) {
    case State::Complete:
        out.responses << Response{parser.status(), parser.headers(), false};
        break;
    case State::Error:
        if (parser.hasStarted())
            out.error = parser.error();
        break;
    case State::Incomplete:
        fuzz::fail("finishAtClose() decides");
    }
    return out;
}

void classify(const Response &response) {
    check(response.status >= 200 && response.status <= 999, "a final status is 200 to 999");
    const WnsResponse r = classifyWnsResponse(response.status, response.headers, {}, kNow);
    using Kind = WnsResponse::Kind;
    check(r.httpStatus == response.status, "the status is kept");
    check(!r.reason.isEmpty(), "a verdict says why");
    check(!r.retryAfterMs || (*r.retryAfterMs >= 0 && *r.retryAfterMs <= kDayMs),
          "a retry delay is 0 to a day");
    if (response.status == 200)
        check(r.kind == Kind::Delivered || r.kind == Kind::Dropped ||
                  r.kind == Kind::ChannelThrottled,
              "200 is delivered, dropped or throttled");
    if (response.status == 404 || response.status == 410)
        check(r.kind == Kind::Gone, "404 and 410 mean gone");
    if (r.kind != Kind::Retry)
        check(!r.retryAfterMs, "only a retry has a delay");
    (void)r.diagnostics.toLogString();
    for (const auto &[name, value] : response.headers) {
        const std::optional<qint64> ms = parseRetryAfterMs(value, kNow);
        check(!ms || (*ms >= 0 && *ms <= kDayMs), "a retry delay is 0 to a day", value);
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz::initQt(argc, argv);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    const Reading whole = read({input});
    const Reading pieced = read(fuzz::pieces(input));
    check(whole == pieced, "reading in pieces gives what reading whole gives",
          describe(whole) + "\n---\n" + describe(pieced));
    for (const Response &response : whole.responses)
        classify(response);
    return 0;
}

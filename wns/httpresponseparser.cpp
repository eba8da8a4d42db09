#include "httpresponseparser.h"

namespace uwpx {

namespace {

constexpr qint64 kMaxHeaderBytes = 64 * 1024;
constexpr qint64 kMaxChunkLineBytes = 1024;

bool hasToken(const QByteArray &list, const QByteArray &token) {
    for (const QByteArray &item : list.split(','))
        if (item.trimmed().compare(token, Qt::CaseInsensitive) == 0)
            return true;
    return false;
}

} // namespace

void HttpResponseParser::reset() {
    *this = HttpResponseParser();
}

HttpResponseParser::State HttpResponseParser::fail(const QString &why) {
    m_error = why;
    m_keepAlive = false;
    return State::Error;
}

bool HttpResponseParser::takeLine(QByteArray &buffer, QByteArray *line) {
    const qsizetype end = buffer.indexOf('\n');
    if (end < 0)
        return false;
    *line = buffer.left(end);
    if (line->endsWith('\r'))
        line->chop(1);
    buffer.remove(0, end + 1);
    return true;
}

HttpResponseParser::State HttpResponseParser::feed(QByteArray &buffer) {
    if (!buffer.isEmpty())
        m_started = true;
    for (;;) {
        switch (m_step) {
        case Step::StatusLine:
        case Step::Headers:
        case Step::ChunkSize:
        case Step::ChunkEnd:
        case Step::Trailers: {
            // Chunk lines are bounded on their own: a long body has many.
            const bool chunkLine = m_step == Step::ChunkSize || m_step == Step::ChunkEnd;
            const qint64 room = chunkLine ? kMaxChunkLineBytes : kMaxHeaderBytes - m_headerBytes;
            QByteArray line;
            const bool whole = takeLine(buffer, &line);
            if ((whole ? line.size() + 2 : buffer.size()) > room)
                return fail(chunkLine ? QStringLiteral("chunk size line too long")
                                      : QStringLiteral("response header section over 64 KiB"));
            if (!whole)
                return State::Incomplete;
            if (!chunkLine)
                m_headerBytes += line.size() + 2;
            if (parseLine(line) == State::Error)
                return State::Error;
            break;
        }
        case Step::Body:
        case Step::ChunkData: {
            if (m_untilClose) {
                buffer.clear();
                return State::Incomplete;
            }
            const qint64 taken = std::min<qint64>(m_remaining, buffer.size());
            buffer.remove(0, taken);
            m_remaining -= taken;
            if (m_remaining > 0)
                return State::Incomplete;
            m_step = m_step == Step::Body ? Step::Done : Step::ChunkEnd;
            break;
        }
        case Step::Done:
            return State::Complete;
        }
    }
}

// One line of whatever the current step reads.
HttpResponseParser::State HttpResponseParser::parseLine(const QByteArray &line) {
    switch (m_step) {
    case Step::StatusLine:
        return parseStatusLine(line);
    case Step::Headers:
        return line.isEmpty() ? startBody() : parseHeaderLine(line);
    case Step::ChunkSize: {
        const qsizetype extensions = line.indexOf(';');
        const QByteArray size = (extensions < 0 ? line : line.left(extensions)).trimmed();
        bool ok = false;
        m_remaining = size.toLongLong(&ok, 16);
        if (!ok || size.isEmpty() || m_remaining < 0)
            return fail(QStringLiteral("bad chunk size"));
        m_step = m_remaining == 0 ? Step::Trailers : Step::ChunkData;
        return State::Incomplete;
    }
    case Step::ChunkEnd:
        if (!line.isEmpty())
            return fail(QStringLiteral("chunk not followed by CRLF"));
        m_step = Step::ChunkSize;
        return State::Incomplete;
    case Step::Trailers:
        if (line.isEmpty())
            m_step = Step::Done;
        return State::Incomplete;
    case Step::Body:
    case Step::ChunkData:
    case Step::Done:
        break;
    }
    return State::Incomplete;
}

HttpResponseParser::State HttpResponseParser::finishAtClose() {
    if (m_step == Step::Done)
        return State::Complete;
    if (m_step == Step::Body && m_untilClose) {
        m_step = Step::Done;
        return State::Complete;
    }
    return fail(m_started ? QStringLiteral("connection closed in the middle of the response")
                          : QStringLiteral("connection closed without a response"));
}

HttpResponseParser::State HttpResponseParser::parseStatusLine(const QByteArray &line) {
    // HTTP/1.1 200 OK
    if (!line.startsWith("HTTP/1.") || line.size() < 12 || line[8] != ' ')
        return fail(QStringLiteral("not an HTTP/1.x status line"));
    bool ok = false;
    m_status = line.mid(9, 3).toInt(&ok);
    if (!ok || m_status < 100 || m_status > 999 || (line.size() > 12 && line[12] != ' '))
        return fail(QStringLiteral("bad HTTP status code"));
    m_http10 = line[7] == '0';
    m_keepAlive = !m_http10;
    m_step = Step::Headers;
    return State::Incomplete;
}

HttpResponseParser::State HttpResponseParser::parseHeaderLine(const QByteArray &line) {
    if (line.startsWith(' ') || line.startsWith('\t'))
        return fail(QStringLiteral("obsolete line folding in a header field"));
    const qsizetype colon = line.indexOf(':');
    if (colon <= 0)
        return fail(QStringLiteral("header field without a name"));
    m_headers.append({line.left(colon), line.mid(colon + 1).trimmed()});
    return State::Incomplete;
}

HttpResponseParser::State HttpResponseParser::startBody() {
    if (m_status >= 100 && m_status < 200) {
        // Interim response (100 Continue, 103 Early Hints): the real one follows.
        m_step = Step::StatusLine;
        m_headers.clear();
        m_status = 0;
        return State::Incomplete;
    }
    QByteArray connection, transferEncoding, contentLength;
    int lengths = 0;
    for (const auto &[name, value] : std::as_const(m_headers)) {
        if (name.compare("Connection", Qt::CaseInsensitive) == 0)
            connection += value + ',';
        else if (name.compare("Transfer-Encoding", Qt::CaseInsensitive) == 0)
            transferEncoding += value + ',';
        else if (name.compare("Content-Length", Qt::CaseInsensitive) == 0) {
            if (lengths++ && value != contentLength)
                return fail(QStringLiteral("conflicting Content-Length fields"));
            contentLength = value;
        }
    }
    if (hasToken(connection, "close"))
        m_keepAlive = false;
    else if (m_http10 && hasToken(connection, "keep-alive"))
        m_keepAlive = true;

    if (m_status == 204 || m_status == 304) {
        m_step = Step::Done;
    } else if (!transferEncoding.isEmpty()) {
        // Chunked must come last; any other coding runs to the end of the connection.
        const QList<QByteArray> codings = transferEncoding.split(',');
        QByteArray last;
        for (const QByteArray &coding : codings)
            if (!coding.trimmed().isEmpty())
                last = coding.trimmed();
        if (last.compare("chunked", Qt::CaseInsensitive) == 0) {
            m_step = Step::ChunkSize;
        } else {
            m_untilClose = true;
            m_keepAlive = false;
            m_step = Step::Body;
        }
    } else if (lengths > 0) {
        bool ok = false;
        m_remaining = contentLength.toLongLong(&ok);
        if (!ok || m_remaining < 0)
            return fail(QStringLiteral("bad Content-Length"));
        m_step = m_remaining == 0 ? Step::Done : Step::Body;
    } else {
        m_untilClose = true;
        m_keepAlive = false;
        m_step = Step::Body;
    }
    return State::Incomplete;
}

} // namespace uwpx

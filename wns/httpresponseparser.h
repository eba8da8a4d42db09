#pragma once

#include "httpheaders.h"

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>

namespace uwpx {

// Reads one HTTP/1.1 response at a time from a connection's bytes (RFC 9112):
// status line, header fields, and a body framed by Content-Length, chunked
// transfer coding, or the end of the connection. Interim 1xx responses are
// skipped. The body is counted and dropped: WNS says all it has to say in
// the status and header fields.
//
// Limits: the status line and header section may take 64 KiB; obsolete line
// folding and a body length that cannot be told are errors, not guesses.
class HttpResponseParser {
public:
    enum class State { Incomplete, Complete, Error };

    // Consumes from the front of `buffer` what belongs to the current
    // response; on Complete, what is left belongs to the next one.
    State feed(QByteArray &buffer);
    // The peer closed the connection: completes a body that runs to the end
    // of the connection, and is an error anywhere else.
    State finishAtClose();
    // Ready for the next response on the same connection.
    void reset();

    // Whether any byte of a response has arrived since the last reset().
    bool hasStarted() const { return m_started; }
    int status() const { return m_status; }
    const HttpHeaders &headers() const { return m_headers; }
    // Whether the connection may carry another request after this response.
    bool keepAlive() const { return m_keepAlive; }
    QString error() const { return m_error; }

private:
    enum class Step { StatusLine, Headers, Body, ChunkSize, ChunkData, ChunkEnd, Trailers, Done };

    State fail(const QString &why);
    // Takes one line (without its CRLF or LF) off the buffer, if a whole one is there.
    bool takeLine(QByteArray &buffer, QByteArray *line);
    State parseLine(const QByteArray &line);
    State parseStatusLine(const QByteArray &line);
    State parseHeaderLine(const QByteArray &line);
    State startBody();

    Step m_step = Step::StatusLine;
    bool m_started = false;
    int m_status = 0;
    bool m_http10 = false;
    HttpHeaders m_headers;
    bool m_keepAlive = true;
    qint64 m_headerBytes = 0;
    qint64 m_remaining = 0;    // of the body or the current chunk
    bool m_untilClose = false; // body ends with the connection
    QString m_error;
};

} // namespace uwpx

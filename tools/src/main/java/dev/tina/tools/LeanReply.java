package dev.tina.tools;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * The benchmark's HTTP client for one completion request: a plain socket, HTTP/1.1 with
 * {@code Connection: close}, the response de-chunked in one buffer and scanned for the starts of
 * server-sent events ({@code data: {}) as bytes arrive; only the last few kilobytes are kept, as
 * text, for the usage and the {@code [DONE]} line. It counts and times events and nothing more,
 * so that clients sharing the cores with the server cost little.
 */
record LeanReply(int status, int events, long firstEvent, long lastEvent, String tail) {
    private static final byte[] EVENT = "data: {".getBytes(StandardCharsets.US_ASCII);
    private static final int TAIL = 8192;

    /** POSTs {@code body} (JSON) to {@code path} on the loopback address at {@code port} and reads the whole answer. */
    static LeanReply post(int port, String path, byte[] body) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setTcpNoDelay(true);
            OutputStream out = socket.getOutputStream();
            byte[] head = ("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            byte[] request = new byte[head.length + body.length];
            System.arraycopy(head, 0, request, 0, head.length);
            System.arraycopy(body, 0, request, head.length, body.length);
            out.write(request);
            out.flush();
            return new Reader(socket.getInputStream()).read();
        }
    }

    /** {@code usage.completion_tokens} of the answer (the last one in the tail). */
    long completionTokens() {
        String key = "\"completion_tokens\":";
        int at = tail.lastIndexOf(key);
        if (at < 0) throw new IllegalStateException("no completion_tokens in the answer: " + tail);
        int i = at + key.length();
        while (tail.charAt(i) == ' ') i++;
        int j = i;
        while (j < tail.length() && Character.isDigit(tail.charAt(j))) j++;
        return Long.parseLong(tail.substring(i, j));
    }

    private static final class Reader {
        private final InputStream in;
        private final byte[] buf = new byte[16384];
        private int pos, lim;
        private long readAt;
        private int match, events;
        private long first, last;
        private final ByteArrayOutputStream tail = new ByteArrayOutputStream();

        Reader(InputStream in) { this.in = in; }

        LeanReply read() throws IOException {
            String statusLine = line();
            int status = Integer.parseInt(statusLine.split(" ", 3)[1]);
            boolean chunked = false;
            long length = -1;
            for (String h; !(h = line()).isEmpty(); ) {
                int colon = h.indexOf(':');
                if (colon < 0) continue;
                String name = h.substring(0, colon).trim(), value = h.substring(colon + 1).trim();
                if (name.equalsIgnoreCase("Transfer-Encoding") && value.toLowerCase().contains("chunked")) chunked = true;
                if (name.equalsIgnoreCase("Content-Length")) length = Long.parseLong(value);
            }
            if (chunked) {
                while (true) {
                    String size = line();
                    int semi = size.indexOf(';');
                    long n = Long.parseLong((semi < 0 ? size : size.substring(0, semi)).trim(), 16);
                    if (n == 0) break; // trailers and the last CRLF are not needed: the connection closes
                    body(n);
                    line();
                }
            } else if (length >= 0) {
                body(length);
            } else {
                while (fill()) body(lim - pos);
            }
            return new LeanReply(status, events, first, last, tail.toString(StandardCharsets.UTF_8));
        }

        private boolean fill() throws IOException {
            if (pos < lim) return true;
            int got = in.read(buf, 0, buf.length);
            if (got <= 0) return false;
            readAt = System.nanoTime();
            pos = 0;
            lim = got;
            return true;
        }

        private String line() throws IOException {
            StringBuilder s = new StringBuilder();
            while (true) {
                if (!fill()) throw new EOFException("the connection closed inside a header or chunk size");
                byte b = buf[pos++];
                if (b == '\n') break;
                if (b != '\r') s.append((char) b);
            }
            return s.toString();
        }

        /** Consumes {@code n} body bytes: counts event starts (timed at the read that completed them) and keeps the tail. */
        private void body(long n) throws IOException {
            while (n > 0) {
                if (!fill()) throw new EOFException("the connection closed inside the body");
                int len = (int) Math.min(n, lim - pos);
                for (int i = pos; i < pos + len; i++) {
                    byte b = buf[i];
                    if (b == EVENT[match]) {
                        if (++match == EVENT.length) {
                            match = 0;
                            if (events++ == 0) first = readAt;
                            last = readAt;
                        }
                    } else {
                        match = b == EVENT[0] ? 1 : 0; // "data: {" has no proper prefix that is also a suffix
                    }
                }
                tail.write(buf, pos, len);
                if (tail.size() > 2 * TAIL) {
                    byte[] keep = tail.toByteArray();
                    tail.reset();
                    tail.write(keep, keep.length - TAIL, TAIL);
                }
                pos += len;
                n -= len;
            }
        }
    }
}

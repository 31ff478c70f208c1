package dev.tina.tools;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The benchmark's HTTP client: one plain connection per request (HTTP/1.1,
 * {@code Connection: close}), all of a measurement's requests read by one thread through one
 * selector, each response de-chunked as bytes arrive and scanned for the starts of server-sent
 * events ({@code data: {}); only the last few kilobytes are kept, as text, for the usage and the
 * {@code [DONE]} line. It counts and times events and nothing more, so that clients sharing the
 * cores with the server cost little: no thread per client to wake for every event.
 */
record LeanReply(int status, int events, long firstEvent, long lastEvent, String tail) {
    private static final byte[] EVENT = "data: {".getBytes(StandardCharsets.US_ASCII);
    private static final int TAIL = 8192;

    /**
     * POSTs each body (JSON) to {@code path} on the loopback address at {@code port}, all at once,
     * and reads every answer to its end; {@code sent[i]} gets the time request i was first written.
     */
    static List<LeanReply> postAll(int port, String path, List<byte[]> bodies, long[] sent) throws IOException {
        int n = bodies.size();
        List<LeanReply> out = new ArrayList<>(n);
        Parser[] parsers = new Parser[n];
        try (Selector selector = Selector.open()) {
            List<SocketChannel> channels = new ArrayList<>();
            try {
                for (int i = 0; i < n; i++) {
                    byte[] body = bodies.get(i);
                    byte[] head = ("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                            + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
                    ByteBuffer request = ByteBuffer.allocate(head.length + body.length).put(head).put(body).flip();
                    SocketChannel c = SocketChannel.open();
                    channels.add(c);
                    c.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    c.configureBlocking(false);
                    parsers[i] = new Parser(request);
                    sent[i] = System.nanoTime();
                    boolean connected = c.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
                    c.register(selector, connected ? SelectionKey.OP_WRITE : SelectionKey.OP_CONNECT, i);
                }
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 16);
                byte[] bytes = new byte[1 << 16];
                for (int open = n; open > 0; ) {
                    selector.select();
                    long now = System.nanoTime();
                    for (SelectionKey key : selector.selectedKeys()) {
                        int i = (Integer) key.attachment();
                        SocketChannel c = (SocketChannel) key.channel();
                        Parser p = parsers[i];
                        if (key.isConnectable()) {
                            c.finishConnect();
                            key.interestOps(SelectionKey.OP_WRITE);
                        } else if (key.isWritable()) {
                            c.write(p.request);
                            if (!p.request.hasRemaining()) key.interestOps(SelectionKey.OP_READ);
                        } else if (key.isReadable()) {
                            buf.clear();
                            int got = c.read(buf);
                            if (got > 0) {
                                buf.flip().get(bytes, 0, got);
                                p.feed(bytes, got, now);
                            }
                            if (got < 0 || p.done()) {
                                if (!p.done()) throw new IOException("request " + i + ": the connection closed before the end of the answer");
                                key.cancel();
                                c.close();
                                open--;
                            }
                        }
                    }
                    selector.selectedKeys().clear();
                }
            } finally {
                for (SocketChannel c : channels) c.close();
            }
        }
        for (Parser p : parsers) out.add(p.reply());
        return out;
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

    /** One response, fed as bytes arrive: status line and headers, then a chunked or sized body. */
    private static final class Parser {
        private enum State { HEAD, SIZE, DATA, DATA_END, DONE }

        final ByteBuffer request;
        private State state = State.HEAD;
        private final StringBuilder line = new StringBuilder();
        private int status = -1;
        private boolean chunked;
        private long length = -1, left;
        private int match, events;
        private long first, last;
        private final ByteArrayOutputStream tail = new ByteArrayOutputStream();

        Parser(ByteBuffer request) { this.request = request; }

        boolean done() { return state == State.DONE; }

        LeanReply reply() { return new LeanReply(status, events, first, last, tail.toString(StandardCharsets.UTF_8)); }

        void feed(byte[] b, int len, long now) throws IOException {
            for (int i = 0; i < len && state != State.DONE; ) {
                switch (state) {
                    case HEAD, SIZE, DATA_END -> {
                        byte x = b[i++];
                        if (x == '\r') continue;
                        if (x != '\n') {
                            line.append((char) x);
                            continue;
                        }
                        String l = line.toString();
                        line.setLength(0);
                        if (state == State.HEAD) header(l);
                        else if (state == State.DATA_END) state = State.SIZE;
                        else {
                            int semi = l.indexOf(';');
                            left = Long.parseLong((semi < 0 ? l : l.substring(0, semi)).trim(), 16);
                            state = left == 0 ? State.DONE : State.DATA; // trailers are not needed: the connection closes
                        }
                    }
                    case DATA -> {
                        int take = (int) Math.min(left, len - i);
                        body(b, i, take, now);
                        i += take;
                        left -= take;
                        if (left == 0) state = chunked ? State.DATA_END : State.DONE;
                    }
                    case DONE -> { }
                }
            }
        }

        private void header(String l) throws IOException {
            if (status < 0) {
                String[] parts = l.split(" ", 3);
                if (parts.length < 2) throw new IOException("bad status line: " + l);
                status = Integer.parseInt(parts[1]);
                return;
            }
            if (!l.isEmpty()) {
                int colon = l.indexOf(':');
                if (colon < 0) return;
                String name = l.substring(0, colon).trim(), value = l.substring(colon + 1).trim();
                if (name.equalsIgnoreCase("Transfer-Encoding") && value.toLowerCase().contains("chunked")) chunked = true;
                if (name.equalsIgnoreCase("Content-Length")) length = Long.parseLong(value);
                return;
            }
            // the end of the headers
            if (chunked) state = State.SIZE;
            else if (length > 0) {
                left = length;
                state = State.DATA;
            } else if (length == 0) state = State.DONE;
            else throw new IOException("a response with neither a length nor chunks");
        }

        /** Counts event starts (timed at the read that completed them) and keeps the tail. */
        private void body(byte[] b, int from, int len, long now) {
            for (int i = from; i < from + len; i++) {
                byte x = b[i];
                if (x == EVENT[match]) {
                    if (++match == EVENT.length) {
                        match = 0;
                        if (events++ == 0) first = now;
                        last = now;
                    }
                } else {
                    match = x == EVENT[0] ? 1 : 0; // "data: {" has no proper prefix that is also a suffix
                }
            }
            tail.write(b, from, len);
            if (tail.size() > 2 * TAIL) {
                byte[] keep = tail.toByteArray();
                tail.reset();
                tail.write(keep, keep.length - TAIL, TAIL);
            }
        }
    }
}

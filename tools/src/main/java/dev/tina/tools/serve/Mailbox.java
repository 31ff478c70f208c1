package dev.tina.tools.serve;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * Events from the batcher's threads to one request's exchange thread, which is woken only when a
 * sender says so: a non-streaming request needs no wake-up per token, a streaming one not for every
 * token when events are merged ({@code --stream-interval}). A blocking queue would wake its taker on
 * every event, one thread hand-over per token and stream.
 */
final class Mailbox<E> {
    private final ConcurrentLinkedQueue<E> queue = new ConcurrentLinkedQueue<>();
    private volatile Thread waiter;

    /** Adds {@code e}; with {@code wake}, wakes the receiver if it waits. */
    void add(E e, boolean wake) {
        queue.add(e);
        if (wake) {
            Thread w = waiter;
            if (w != null) LockSupport.unpark(w);
        }
    }

    /** The next event if there is one. */
    E poll() { return queue.poll(); }

    /**
     * The next event, waiting for a wake-up up to {@code nanos} ({@code <= 0}: without limit); null
     * when the time is up. Events added without a wake-up are taken at the next wake-up.
     */
    E take(long nanos) throws InterruptedException {
        E e = queue.poll();
        if (e != null) return e;
        long deadline = System.nanoTime() + nanos;
        waiter = Thread.currentThread();
        try {
            while ((e = queue.poll()) == null) {
                if (Thread.interrupted()) throw new InterruptedException();
                if (nanos <= 0) {
                    LockSupport.park(this);
                } else {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) return null;
                    LockSupport.parkNanos(this, left);
                }
            }
            return e;
        } finally {
            waiter = null;
        }
    }
}

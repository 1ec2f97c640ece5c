package io.trtllm.api;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.jspecify.annotations.Nullable;

/**
 * The updates of one streamed completion, read either way: as a {@link Flow.Publisher} (reactive
 * callers, Spring's {@code Flux}) or by blocking iteration, TensorRT-LLM's {@code streaming=True} loop:
 *
 * <pre>{@code
 * for (RequestOutput out : llm.generateStream("Once upon a time", params)) {
 *     System.out.print(out.output().textDiff());
 * }
 * }</pre>
 *
 * <p>Each update carries the text and token ids so far and their diffs; the last has
 * {@code finished() == true}. The request starts when it is subscribed to or iterated, once: a
 * stream has one reader. A loop that stops early should {@link #close()} the stream (or use
 * {@link #stream()} in try-with-resources), which aborts the request; otherwise it runs to its end.
 */
public final class RequestStream implements Flow.Publisher<RequestOutput>, Iterable<RequestOutput>, AutoCloseable {
    private final RequestPublisher publisher;
    private volatile Flow.@Nullable Subscription iterating;

    RequestStream(Function<Consumer<RequestOutput>, CompletableFuture<RequestOutput>> start) {
        this.publisher = new RequestPublisher(start);
    }

    @Override
    public void subscribe(Flow.Subscriber<? super RequestOutput> subscriber) {
        publisher.subscribe(subscriber);
    }

    /**
     * Starts the request and returns its updates; {@code hasNext} blocks until the next one (or the end)
     * arrives. A refused or failed request throws its error from {@code hasNext}.
     */
    @Override
    public Iterator<RequestOutput> iterator() {
        var blocking = new BlockingIterator();
        publisher.subscribe(blocking);
        return blocking;
    }

    /** The updates as a sequential {@link Stream}; closing it aborts the request if it is still running. */
    public Stream<RequestOutput> stream() {
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(iterator(), Spliterator.ORDERED | Spliterator.NONNULL),
                false).onClose(this::close);
    }

    /** Aborts the request if an iteration started it and it still runs (finish reason {@code cancelled}). */
    @Override
    public void close() {
        Flow.Subscription s = iterating;
        if (s != null) {
            s.cancel();
        }
    }

    /** A subscriber that takes everything (the publisher buffers at most one update per token) into a queue. */
    private final class BlockingIterator implements Iterator<RequestOutput>, Flow.Subscriber<RequestOutput> {
        private static final Object END = new Object();

        private record Failure(Throwable error) {
        }

        private final LinkedBlockingQueue<Object> items = new LinkedBlockingQueue<>();
        private @Nullable Object next;

        @Override
        public void onSubscribe(Flow.Subscription subscription) {
            iterating = subscription;
            subscription.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(RequestOutput item) {
            items.add(item);
        }

        @Override
        public void onError(Throwable throwable) {
            items.add(new Failure(throwable));
        }

        @Override
        public void onComplete() {
            items.add(END);
        }

        @Override
        public boolean hasNext() {
            if (next == null) {
                try {
                    next = items.take();
                } catch (InterruptedException e) {
                    close();
                    Thread.currentThread().interrupt();
                    throw new CancellationException("interrupted while waiting for the next update");
                }
            }
            if (next instanceof Failure(Throwable error)) {
                if (error instanceof RuntimeException r) {
                    throw r;
                }
                if (error instanceof Error err) {
                    throw err;
                }
                throw new java.util.concurrent.CompletionException(error);
            }
            return next != END;
        }

        @Override
        public RequestOutput next() {
            if (!hasNext()) {
                throw new NoSuchElementException("the stream has ended");
            }
            RequestOutput out = (RequestOutput) next;
            next = null;
            return out;
        }
    }
}

package io.trtllm.api;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A one-subscriber {@link Flow.Publisher} of a request's updates (Reactive Streams rules: signals
 * serialized, no more {@code onNext} than requested, cancel stops them and aborts the request).
 * The request starts at subscription; updates that arrive before they are requested are buffered
 * (at most one per generated token).
 */
final class RequestPublisher implements Flow.Publisher<RequestOutput> {
    private final Function<Consumer<RequestOutput>, CompletableFuture<RequestOutput>> start;
    private final AtomicBoolean subscribed = new AtomicBoolean();

    RequestPublisher(Function<Consumer<RequestOutput>, CompletableFuture<RequestOutput>> start) {
        this.start = start;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super RequestOutput> subscriber) {
        if (!subscribed.compareAndSet(false, true)) {
            subscriber.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {
                }

                @Override
                public void cancel() {
                }
            });
            subscriber.onError(new IllegalStateException("this generation stream allows one subscriber; call generateStream again"));
            return;
        }
        var subscription = new Subscription(subscriber);
        subscriber.onSubscribe(subscription);
        try {
            CompletableFuture<RequestOutput> future = start.apply(subscription::offer);
            subscription.started(future);
        } catch (RuntimeException e) {
            subscription.terminate(e);
        }
    }

    private static final class Subscription implements Flow.Subscription {
        private final Flow.Subscriber<? super RequestOutput> subscriber;
        private final ConcurrentLinkedQueue<RequestOutput> queue = new ConcurrentLinkedQueue<>();
        private final AtomicLong demand = new AtomicLong();
        private final AtomicInteger wip = new AtomicInteger();
        private volatile boolean cancelled;
        private volatile boolean done;
        private volatile @Nullable Throwable error;
        private volatile @Nullable CompletableFuture<RequestOutput> future;
        private boolean terminated;

        Subscription(Flow.Subscriber<? super RequestOutput> subscriber) {
            this.subscriber = subscriber;
        }

        void started(CompletableFuture<RequestOutput> f) {
            this.future = f;
            if (cancelled) {
                f.cancel(true);
                return;
            }
            f.whenComplete((r, e) -> terminate(e));
        }

        void offer(RequestOutput update) {
            queue.add(update);
            drain();
        }

        void terminate(@Nullable Throwable e) {
            if (e != null && !(e instanceof java.util.concurrent.CancellationException)) {
                error = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
            }
            done = true;
            drain();
        }

        @Override
        public void request(long n) {
            if (n <= 0) {
                // Rule 3.9, signalled through drain so that it is serialized with onNext and terminal once.
                error = new IllegalArgumentException("request(" + n + "): demand must be > 0 (rule 3.9)");
                done = true;
                queue.clear();
                CompletableFuture<RequestOutput> f = future;
                if (f != null) {
                    f.cancel(true);
                }
                drain();
                return;
            }
            demand.getAndUpdate(d -> d + n < 0 ? Long.MAX_VALUE : d + n);
            drain();
        }

        @Override
        public void cancel() {
            cancelled = true;
            CompletableFuture<RequestOutput> f = future;
            if (f != null) {
                f.cancel(true);
            }
        }

        private void drain() {
            if (wip.getAndIncrement() != 0) {
                return;
            }
            do {
                while (!cancelled && demand.get() > 0) {
                    RequestOutput next = queue.poll();
                    if (next == null) {
                        break;
                    }
                    demand.decrementAndGet();
                    try {
                        subscriber.onNext(next);
                    } catch (Throwable t) {
                        // Rule 2.13: a throwing subscriber is cancelled; nothing more is sent to it.
                        cancel();
                        break;
                    }
                }
                if (!cancelled && done && queue.isEmpty() && !terminated) {
                    terminated = true;
                    cancelled = true; // nothing may follow a terminal signal
                    Throwable e = error;
                    if (e != null) {
                        subscriber.onError(e);
                    } else {
                        subscriber.onComplete();
                    }
                }
            } while (wip.decrementAndGet() != 0);
        }
    }
}

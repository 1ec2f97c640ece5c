package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** generateAsync, batched generate and generateStream on stories15M, through the executor. */
class LlmAsyncAndStreamingIT {
    static LLM llm;
    static final List<String> PROMPTS = List.of("Once upon a time", "One day, a little dog", "The sun was hot",
            "Tom and Sue went to the park");

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").maxBeamWidth(4).build());
    }

    @AfterAll
    static void close() {
        llm.close();
    }

    /** Records every signal; requests one item at a time, after each onNext. */
    static class StepSubscriber implements Flow.Subscriber<RequestOutput> {
        final List<RequestOutput> items = new CopyOnWriteArrayList<>();
        final CountDownLatch done = new CountDownLatch(1);
        final AtomicReference<Throwable> error = new AtomicReference<>();
        volatile boolean completed;
        volatile Flow.Subscription subscription;
        final int cancelAfter;

        StepSubscriber(int cancelAfter) {
            this.cancelAfter = cancelAfter;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(1);
        }

        @Override
        public void onNext(RequestOutput item) {
            items.add(item);
            if (items.size() == cancelAfter) {
                subscription.cancel();
                done.countDown();
            } else {
                subscription.request(1);
            }
        }

        @Override
        public void onError(Throwable t) {
            error.set(t);
            done.countDown();
        }

        @Override
        public void onComplete() {
            completed = true;
            done.countDown();
        }
    }

    @Test
    void concurrentAsyncRequestsEqualSequentialGreedy() {
        List<int[]> sequential = new ArrayList<>();
        for (String p : PROMPTS) {
            sequential.add(llm.generate(p, SamplingParams.greedy(30)).output().tokenIds());
        }
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        for (String p : PROMPTS) {
            futures.add(llm.generateAsync(p, SamplingParams.greedy(30)));
        }
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertThat(futures.get(i).join().output().tokenIds()).as(PROMPTS.get(i)).containsExactly(sequential.get(i));
        }
        List<RequestOutput> batch = llm.generate(PROMPTS, SamplingParams.greedy(30));
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertThat(batch.get(i).prompt()).isEqualTo(PROMPTS.get(i));
            assertThat(batch.get(i).output().tokenIds()).containsExactly(sequential.get(i));
        }
    }

    @Test
    void streamDeliversDiffsThatAddUpToTheFinalOutput() throws InterruptedException {
        var sub = new StepSubscriber(-1);
        llm.generateStream("Once upon a time", SamplingParams.greedy(40)).subscribe(sub);
        assertThat(sub.done.await(60, TimeUnit.SECONDS)).isTrue();
        assertThat(sub.error.get()).isNull();
        assertThat(sub.completed).isTrue();
        List<RequestOutput> items = sub.items;
        assertThat(items.size()).isGreaterThan(5);
        RequestOutput last = items.getLast();
        assertThat(last.finished()).isTrue();
        assertThat(items.subList(0, items.size() - 1)).allMatch(o -> !o.finished());
        StringBuilder text = new StringBuilder();
        List<Integer> ids = new ArrayList<>();
        for (RequestOutput o : items) {
            text.append(o.output().textDiff());
            for (int id : o.output().tokenIdsDiff()) {
                ids.add(id);
            }
        }
        assertThat(text.toString()).isEqualTo(last.output().text());
        assertThat(ids).containsExactly(java.util.Arrays.stream(last.output().tokenIds()).boxed().toArray(Integer[]::new));
        assertThat(last.output().text()).isEqualTo(llm.generate("Once upon a time", SamplingParams.greedy(40)).output().text());
    }

    @Test
    void outputsReachCallersOnTheDeliveryThreadWhileABeamSearchWaitsOnItsSteps() throws InterruptedException {
        // A beam search blocks on its steps; it must not hold the thread that delivers them (nor the streams').
        var search = llm.generateAsync("Once upon a time", SamplingParams.builder().maxTokens(12).useBeamSearch(true)
                .bestOf(2).n(2).build());
        var threads = new CopyOnWriteArrayList<String>();
        var subs = new ArrayList<StepSubscriber>();
        for (String p : PROMPTS.subList(0, 2)) {
            var sub = new StepSubscriber(-1) {
                @Override
                public void onNext(RequestOutput item) {
                    threads.add(Thread.currentThread().getName());
                    super.onNext(item);
                }
            };
            subs.add(sub);
            llm.generateStream(p, SamplingParams.greedy(20)).subscribe(sub);
        }
        for (var sub : subs) {
            assertThat(sub.done.await(60, TimeUnit.SECONDS)).isTrue();
            assertThat(sub.completed).isTrue();
        }
        assertThat(threads).isNotEmpty().allMatch(name -> name.startsWith("trtllm-delivery-"));
        assertThat(search.orTimeout(60, TimeUnit.SECONDS).join().outputs()).hasSize(2);
    }

    @Test
    void cancellingAStreamOrAFutureAbortsTheRequest() throws Exception {
        var sub = new StepSubscriber(3);
        llm.generateStream("Once upon a time", SamplingParams.greedy(200)).subscribe(sub);
        assertThat(sub.done.await(60, TimeUnit.SECONDS)).isTrue();
        assertThat(sub.items).hasSize(3);
        awaitIdle();

        CompletableFuture<RequestOutput> f = llm.generateAsync("Once upon a time", SamplingParams.greedy(200));
        f.cancel(true);
        assertThat(f).isCancelled();
        awaitIdle();
    }

    @Test
    void timeoutsThrowingSubscribersAndCancelledBeamSearchesStopTheEngineWork() throws Exception {
        var timedOut = llm.generateAsync("Once upon a time", SamplingParams.greedy(200))
                .orTimeout(1, TimeUnit.MILLISECONDS);
        assertThatThrownBy(timedOut::join).hasCauseInstanceOf(java.util.concurrent.TimeoutException.class);
        awaitIdle();

        var throwing = new StepSubscriber(-1) {
            @Override
            public void onNext(RequestOutput item) {
                items.add(item);
                throw new IllegalStateException("subscriber bug");
            }
        };
        llm.generateStream("Once upon a time", SamplingParams.greedy(200)).subscribe(throwing);
        for (int i = 0; i < 1000 && throwing.items.isEmpty(); i++) {
            Thread.sleep(10);
        }
        awaitIdle();
        Thread.sleep(50);
        assertThat(throwing.items).hasSize(1);
        assertThat(throwing.completed).isFalse();

        var beams = llm.generateAsync("Once upon a time",
                SamplingParams.builder().maxTokens(200).temperature(0).useBeamSearch(true).n(1).bestOf(3).build());
        Thread.sleep(100);
        beams.cancel(true);
        awaitIdle();
    }

    @Test
    void nonStreamedOutputsCarryTheWholeTextAsTheirDiff() {
        CompletionOutput out = llm.generate("Once upon a time",
                SamplingParams.builder().maxTokens(30).temperature(0).stop(java.util.List.of("Lily")).build()).output();
        assertThat(out.textDiff()).isEqualTo(out.text()).isNotEmpty();
    }

    @Test
    void reactiveStreamsRulesAreKept() throws InterruptedException {
        var publisher = llm.generateStream("Once upon a time", SamplingParams.greedy(5));
        var first = new StepSubscriber(-1);
        publisher.subscribe(first);
        var second = new StepSubscriber(-1);
        publisher.subscribe(second);
        assertThat(second.done.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(second.error.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("one subscriber");
        assertThat(first.done.await(60, TimeUnit.SECONDS)).isTrue();
        assertThat(first.completed).isTrue();

        var zero = new StepSubscriber(-1) {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                subscription = s;
                s.request(0);
            }
        };
        llm.generateStream("Once upon a time", SamplingParams.greedy(5)).subscribe(zero);
        assertThat(zero.done.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(zero.error.get()).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3.9");
        awaitIdle();
    }

    @Test
    void metricsHaveTimesCountsAndPrefixCacheHits() {
        String longPrompt = "Once upon a time, there was a little girl named Lily. She loved to play outside. ".repeat(8);
        RequestOutput first = llm.generate(longPrompt, SamplingParams.greedy(8));
        RequestOutput second = llm.generate(longPrompt, SamplingParams.greedy(8));
        RequestMetrics m = second.metrics();
        assertThat(m.promptTokens()).isGreaterThan(64);
        assertThat(m.generatedTokens()).isEqualTo(8);
        assertThat(m.cachedPromptTokens()).isEqualTo((m.promptTokens() - 1) / 32 * 32).isGreaterThanOrEqualTo(4 * 32);
        assertThat(first.metrics().cachedPromptTokens()).isLessThan(m.cachedPromptTokens());
        assertThat(m.timeToFirstTokenNanos()).isPositive();
        assertThat(m.endToEndNanos()).isGreaterThanOrEqualTo(m.timeToFirstTokenNanos() + m.decodeNanos());
        assertThat(m.timePerOutputTokenNanos()).isPositive();
        assertThat(second.output().tokenIds()).containsExactly(first.output().tokenIds());
        var stats = llm.stats();
        assertThat(stats.alive()).isTrue();
        assertThat(llm.failure()).isNull();
        assertThat(stats.iterations()).isPositive();
        assertThat(stats.kvCache().reuseHitTokens()).isPositive();
    }

    @Test
    void badArgumentsFailBeforeAnythingIsQueued() {
        assertThatThrownBy(() -> llm.generateAsync("Once upon a time", SamplingParams.greedy(300)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max_seq_len 256");
        var sub = new StepSubscriber(-1);
        llm.generateStream("Once upon a time", SamplingParams.greedy(300)).subscribe(sub);
        assertThat(sub.error.get()).isInstanceOf(IllegalArgumentException.class);
    }

    /** Waits (at most 10 s, for a loaded machine) until nothing is queued, running or holding KV blocks. */
    static void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 1000 && (llm.stats().running() != 0 || llm.stats().waiting() != 0
                || llm.stats().kvCache().usedBlocks() != 0); i++) {
            Thread.sleep(10);
        }
        assertThat(llm.stats().waiting()).isZero();
        assertThat(llm.stats().running()).isZero();
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
    }
}
